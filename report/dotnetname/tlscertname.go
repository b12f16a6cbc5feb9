package dotnetname

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// A -TlsCertificateName value is compared with the presented certificate
// after both are read into the same canonical form. The comparison tolerates
// what does not change which certificate is named, because Exchange reads
// the value back into an X500DistinguishedName: white space around "=", ","
// ";" and "+" and around unquoted values; the case of labels and their
// CertStrToName aliases (ST for S, Email for E, OID.2.5.4.3 for CN); quotes
// around a value that needs none. Values themselves, and the order of RDNs
// and attributes, must match exactly.

// TLSName is a -TlsCertificateName value in canonical form.
type TLSName struct {
	Issuer, Subject string
}

// String is the value as Set-ReceiveConnector takes it.
func (n TLSName) String() string { return "<I>" + n.Issuer + "<S>" + n.Subject }

// ParseTLSCertificateName reads a -TlsCertificateName value, "<I>issuer<S>subject"
// with both names in .NET's form, into canonical form.
func ParseTLSCertificateName(s string) (TLSName, error) {
	s = strings.TrimFunc(s, isQuotableSpace)
	if len(s) < 3 || !strings.EqualFold(s[:3], "<I>") {
		return TLSName{}, errors.New(`it must start with "<I>" (the issuer), then "<S>" and the subject`)
	}
	rest := s[3:]
	at := indexOutsideQuotes(rest, "<S>")
	if at < 0 {
		return TLSName{}, errors.New(`no "<S>" before the subject`)
	}
	issuer, err := canonicalDisplayName(rest[:at])
	if err != nil {
		return TLSName{}, fmt.Errorf("issuer: %w", err)
	}
	subject, err := canonicalDisplayName(rest[at+3:])
	if err != nil {
		return TLSName{}, fmt.Errorf("subject: %w", err)
	}
	return TLSName{Issuer: issuer, Subject: subject}, nil
}

// PresentedTLSName is the canonical -TlsCertificateName of a certificate.
func PresentedTLSName(c *x509.Certificate) TLSName {
	// DotNetName's output is canonical already, so no parse is needed.
	return TLSName{Issuer: Format(c.RawIssuer), Subject: Format(c.RawSubject)}
}

// indexOutsideQuotes finds marker (case-insensitively) outside a quoted
// value: a value may contain "<S>" only in quotes, since '<' forces quoting.
// As in CertStrToName, a quote opens a quoted value only right after '='.
func indexOutsideQuotes(s, marker string) int {
	quoted := false
	var last byte // the last byte outside quotes that is not white space
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '"' && i+1 < len(s) && s[i+1] == '"':
			i++
		case quoted && c == '"':
			quoted = false
			last = c
		case quoted:
		case c == '"' && last == '=':
			quoted = true
		case i+len(marker) <= len(s) && strings.EqualFold(s[i:i+len(marker)], marker):
			return i
		case !isQuotableSpace(rune(c)):
			last = c
		}
	}
	return -1
}

// canonicalDisplayName reads a name written most specific RDN first, as
// .NET prints it, and prints it again in .NET's form.
func canonicalDisplayName(s string) (string, error) {
	rdns, err := parseDisplayName(s)
	if err != nil {
		return "", err
	}
	// parseDisplayName keeps the written order; String prints last first.
	for i, j := 0, len(rdns)-1; i < j; i, j = i+1, j-1 {
		rdns[i], rdns[j] = rdns[j], rdns[i]
	}
	return rdns.String(), nil
}

// displayNameReader walks a name string the way CertStrToName does: ","
// or ";" between RDNs, "+" inside one, quoted values with "" for a quote.
type displayNameReader struct {
	s   string
	pos int
}

func (r *displayNameReader) skipSpace() {
	for r.pos < len(r.s) && isQuotableSpace(rune(r.s[r.pos])) {
		r.pos++
	}
}

func (r *displayNameReader) done() bool { return r.pos >= len(r.s) }

func parseDisplayName(s string) (rdnSequence, error) {
	r := &displayNameReader{s: s}
	r.skipSpace()
	if r.done() {
		return nil, nil
	}
	var rdns rdnSequence
	var rdn []nameAttribute
	for {
		a, err := r.attribute()
		if err != nil {
			return nil, err
		}
		rdn = append(rdn, a)
		r.skipSpace()
		if r.done() {
			return append(rdns, rdn), nil
		}
		switch r.s[r.pos] {
		case '+':
		case ',', ';':
			rdns, rdn = append(rdns, rdn), nil
		default:
			return nil, fmt.Errorf("unexpected %q after the value of %s", r.s[r.pos], a.label)
		}
		r.pos++
	}
}

func (r *displayNameReader) attribute() (nameAttribute, error) {
	r.skipSpace()
	start := r.pos
	for !r.done() && !strings.ContainsRune("=,;+\"", rune(r.s[r.pos])) {
		r.pos++
	}
	label := strings.TrimFunc(r.s[start:r.pos], isQuotableSpace)
	if r.done() || r.s[r.pos] != '=' || label == "" {
		return nameAttribute{}, fmt.Errorf("expected LABEL=value at %q", r.s[start:])
	}
	canonical, err := canonicalLabel(label)
	if err != nil {
		return nameAttribute{}, err
	}
	r.pos++
	r.skipSpace()
	if !r.done() && r.s[r.pos] == '"' {
		v, err := r.quoted()
		return nameAttribute{label: canonical, value: v}, err
	}
	start = r.pos
	for !r.done() && !strings.ContainsRune(",;+", rune(r.s[r.pos])) {
		r.pos++
	}
	// Only the white space that .NET quotes is trimmed, so that every name
	// DotNetName prints reads back unchanged.
	v := strings.TrimRightFunc(r.s[start:r.pos], isQuotableSpace)
	if strings.HasPrefix(v, "#") {
		// CertStrToName ignores white space inside hex: "# AB CD" is "#ABCD".
		digits := strings.ToUpper(strings.Join(strings.Fields(v[1:]), ""))
		if _, err := hex.DecodeString(digits); err != nil {
			return nameAttribute{}, fmt.Errorf("%s=%s: a value starting with # must be hex digits; quote it if it is text", canonical, v)
		}
		return nameAttribute{label: canonical, value: "#" + digits, hex: true}, nil
	}
	return nameAttribute{label: canonical, value: v}, nil
}

// quoted reads a quoted value from its opening quote.
func (r *displayNameReader) quoted() (string, error) {
	var b strings.Builder
	for r.pos++; r.pos < len(r.s); r.pos++ {
		if r.s[r.pos] != '"' {
			b.WriteByte(r.s[r.pos])
			continue
		}
		if r.pos+1 < len(r.s) && r.s[r.pos+1] == '"' {
			b.WriteByte('"')
			r.pos++
			continue
		}
		r.pos++
		return b.String(), nil
	}
	return "", errors.New("a quoted value has no closing quote")
}

// canonicalLabel is the key .NET prints for a label the admin wrote.
func canonicalLabel(label string) (string, error) {
	oid := label
	if len(label) > 4 && strings.EqualFold(label[:4], "OID.") {
		oid = label[4:]
	}
	if oid != "" && oid[0] >= '0' && oid[0] <= '9' {
		parsed, err := x509.ParseOID(oid)
		if err != nil {
			return "", fmt.Errorf("%q is not an OID", label)
		}
		return labelForOID(parsed.String()), nil
	}
	// CertStrToName's aliases for the keys .NET prints.
	switch strings.ToUpper(label) {
	case "ST":
		return "S", nil
	case "EMAIL":
		return "E", nil
	case "TITLE":
		return "T", nil
	case "GIVENNAME", "GN":
		return "G", nil
	case "INITIALS":
		return "I", nil
	}
	for _, t := range nameAttributeTypes() {
		if strings.EqualFold(t[1], label) {
			return t[1], nil
		}
	}
	return "", fmt.Errorf("unknown attribute %q (write it as OID.x.y.z)", label)
}
