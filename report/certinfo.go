package report

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math"
	"time"
)

// SHA1 is the certificate's SHA-1 thumbprint as Exchange writes it: 40
// upper-case hex digits, no separators, ready for
// Enable-ExchangeCertificate -Thumbprint.
func SHA1(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return fmt.Sprintf("%X", sum[:])
}

// SHA256 is the SHA-256 thumbprint in the same style.
func SHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%X", sum[:])
}

// Serial is the serial number in upper-case hex, from its DER bytes so that
// a leading zero byte survives, as Windows shows it.
func Serial(c *x509.Certificate) string {
	var tbs struct {
		Version int `asn1:"optional,explicit,default:0,tag:0"`
		Serial  asn1.RawValue
	}
	if _, err := asn1.UnmarshalWithParams(c.RawTBSCertificate, &tbs, ""); err == nil && len(tbs.Serial.Bytes) > 0 {
		return fmt.Sprintf("%X", tbs.Serial.Bytes)
	}
	return fmt.Sprintf("%X", c.SerialNumber.Bytes())
}

// KeyDescription is "RSA 2048", "ECDSA P-256" or "Ed25519".
func KeyDescription(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

// SANs lists the subject alternative names as "DNS:name" and "IP:address".
func SANs(c *x509.Certificate) []string {
	var out []string
	for _, n := range c.DNSNames {
		out = append(out, "DNS:"+n)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+e)
	}
	for _, u := range c.URIs {
		out = append(out, "URI:"+u.String())
	}
	return out
}

// IsSelfSigned reports whether the certificate names itself as issuer and
// carries a signature its own key made.
func IsSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	// CheckSignatureFrom would refuse a non-CA parent; a self-signed leaf
	// (Exchange's default certificate) is not a CA.
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// DaysLeft is the number of whole days from now to NotAfter; negative once
// expired.
func DaysLeft(c *x509.Certificate, now time.Time) int {
	return int(math.Floor(c.NotAfter.Sub(now).Hours() / 24))
}
