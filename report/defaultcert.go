package report

import (
	"crypto/x509"
	"strings"
	"time"
)

// exchangeAuthCertificateCN is the subject CN of the certificate Exchange
// setup makes for OAuth (server-to-server and hybrid authentication).
const exchangeAuthCertificateCN = "Microsoft Exchange Server Auth Certificate"

// isExchangeDefaultCertificate reports whether c looks like the self-signed
// certificate Exchange setup creates: self-signed, CN one label (the
// server's NetBIOS name), SANs exactly that label and an FQDN under it,
// valid for about five years.
func isExchangeDefaultCertificate(c *x509.Certificate) bool {
	if c == nil || !isSelfSigned(c) {
		return false
	}
	cn := c.Subject.CommonName
	if cn == "" || strings.Contains(cn, ".") || len(c.DNSNames) != 2 {
		return false
	}
	var hasLabel, hasFQDN bool
	for _, n := range c.DNSNames {
		switch {
		case strings.EqualFold(n, cn):
			hasLabel = true
		case len(n) > len(cn)+1 && strings.EqualFold(n[:len(cn)+1], cn+"."):
			hasFQDN = true
		}
	}
	return hasLabel && hasFQDN && aboutFiveYears(c)
}

// isExchangeAuthCertificate reports whether c is the "Microsoft Exchange
// Server Auth Certificate", made for OAuth and wrong on an SMTP connector.
func isExchangeAuthCertificate(c *x509.Certificate) bool {
	return c != nil && c.Subject.CommonName == exchangeAuthCertificateCN
}

// aboutFiveYears allows for leap days and for the few hours Exchange backs
// NotBefore off.
func aboutFiveYears(c *x509.Certificate) bool {
	lifetime := c.NotAfter.Sub(c.NotBefore)
	const year = 365 * 24 * time.Hour
	return lifetime > 5*year-30*24*time.Hour && lifetime < 5*year+30*24*time.Hour
}
