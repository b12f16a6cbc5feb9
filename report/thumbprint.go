package report

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// Thumbprint is an expected certificate fingerprint: SHA-1 (what Exchange's
// Get-ExchangeCertificate shows) or SHA-256, told apart by length.
type Thumbprint struct {
	hex string // upper-case, no separators; "" when none is expected
}

// ParseThumbprint accepts 40 (SHA-1) or 64 (SHA-256) hex digits in any case,
// with or without colons, spaces or dashes between them.
func ParseThumbprint(s string) (Thumbprint, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ':', ' ', '-', '\t':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	clean = strings.ToUpper(clean)
	if strings.Trim(clean, "0123456789ABCDEF") != "" {
		return Thumbprint{}, fmt.Errorf("thumbprint %q: not hexadecimal", s)
	}
	if len(clean) != 40 && len(clean) != 64 {
		return Thumbprint{}, fmt.Errorf("thumbprint %q: want 40 hex digits (SHA-1) or 64 (SHA-256), got %d", s, len(clean))
	}
	return Thumbprint{hex: clean}, nil
}

// isZero reports whether no thumbprint is expected.
func (t Thumbprint) isZero() bool { return t.hex == "" }

// kind is "SHA-1" or "SHA-256".
func (t Thumbprint) kind() string {
	if len(t.hex) == 64 {
		return "SHA-256"
	}
	return "SHA-1"
}

// of is c's thumbprint of the same kind.
func (t Thumbprint) of(c *x509.Certificate) string {
	if len(t.hex) == 64 {
		return sha256Hex(c)
	}
	return sha1Hex(c)
}

// matches reports whether c has this thumbprint.
func (t Thumbprint) matches(c *x509.Certificate) bool { return t.of(c) == t.hex }

func (t Thumbprint) String() string { return t.hex }
