package report

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// The certificate rules: which certificate a connector presents, and what
// that says about how it is bound.

func (d *diagContext) authCertificate() *Diagnosis {
	leaf := d.ep.Result.Leaf()
	if !isExchangeAuthCertificate(leaf) || !d.exchangeLike() {
		return nil
	}
	return &Diagnosis{
		ID: DiagAuthCertificate, Severity: d.severityForClients(),
		Cause: fmt.Sprintf("Port %d presents the %q, which Exchange made for OAuth: it was enabled for SMTP, and %s picked it instead of the CA-issued certificate; keep it for OAuth and hybrid, just stop it being chosen here.",
			d.role, exchangeAuthCertificateCN, d.connectorName()),
		Fix: d.bindCertificate(d.goodCertificate(), ""),
	}
}

func (d *diagContext) defaultCertificate() *Diagnosis {
	leaf := d.ep.Result.Leaf()
	if !isExchangeDefaultCertificate(leaf) || !d.exchangeLike() {
		return nil
	}
	cn := leaf.Subject.CommonName
	if d.role == 2525 {
		return &Diagnosis{
			ID: DiagDefaultCertificateExpected, Severity: SeverityInfo,
			Cause: fmt.Sprintf("Port 2525 presents Exchange's default self-signed certificate (CN=%s), as it should: %s is the back-end transport, reached only by Exchange's own front end, which accepts it; do not overwrite or remove this certificate.",
				cn, d.connectorName()),
		}
	}
	x := &Diagnosis{
		ID: DiagDefaultCertificate, Severity: d.severityForClients(),
		Cause: fmt.Sprintf("Port %d presents Exchange's default self-signed certificate (CN=%s, valid until %s): %s is not bound to the CA-issued certificate, so senders and clients that validate refuse it.",
			d.role, cn, leaf.NotAfter.UTC().Format(time.DateOnly), d.connectorName()),
	}
	extra := ""
	if clientsValidate(d.role) && d.name != "" {
		extra = " -Fqdn " + d.name
	}
	x.Fix = d.bindCertificate(d.goodCertificate(), extra)
	return x
}

// renewalOf finds a certificate on this host that replaces the expired
// leaf: same subject, valid now.
func (d *diagContext) renewalOf(leaf *x509.Certificate) (*x509.Certificate, *Endpoint) {
	for p := range d.peers() {
		c := p.Result.Leaf()
		if c != nil && c.Subject.String() == leaf.Subject.String() && !d.now.Before(c.NotBefore) && !d.now.After(c.NotAfter) {
			return c, p
		}
	}
	return nil, nil
}

func (d *diagContext) expiredCertificate() *Diagnosis {
	leaf := d.ep.Result.Leaf()
	if leaf == nil || !d.now.After(leaf.NotAfter) {
		return nil
	}
	expired := leaf.NotAfter.UTC().Format(time.DateOnly)
	renewal, where := d.renewalOf(leaf)
	seen := ""
	if renewal != nil {
		seen = fmt.Sprintf(" (the renewed certificate, SHA-1 %s, is presented on %s)", sha1Hex(renewal), d.place(where))
	}
	x := &Diagnosis{ID: DiagExpiredCertificate, Severity: SeverityCritical}
	switch {
	case d.exchange():
		x.Cause = fmt.Sprintf("Port %d presents a certificate that expired on %s: Exchange keeps using an expired certificate (Event 12016) until %s is bound to the renewed one%s.",
			d.role, expired, d.connectorName(), seen)
		if renewal == nil {
			renewal = d.goodCertificate()
		}
		x.Fix = append(d.bindCertificate(renewal, ""),
			"# once mail flows with the new certificate, remove the expired one:",
			"Remove-ExchangeCertificate -Thumbprint "+sha1Hex(leaf))
	case d.postfix():
		x.Cause = fmt.Sprintf("Port %d presents a certificate that expired on %s: Postfix reads its certificate files only at start and reload, so a renewed file is not in use until then%s.", d.role, expired, seen)
		x.Fix = []string{"postconf smtpd_tls_chain_files smtpd_tls_cert_file", "postfix reload"}
	default:
		x.Cause = fmt.Sprintf("Port %d presents a certificate that expired on %s%s.", d.role, expired, seen)
		x.Fix = d.certificateFilesFix(d.name)
	}
	return x
}

func (d *diagContext) nameMismatch() *Diagnosis {
	leaf := d.ep.Result.Leaf()
	if leaf == nil || d.name == "" || !clientsValidate(d.role) || leaf.VerifyHostname(d.name) == nil ||
		isExchangeDefaultCertificate(leaf) || isExchangeAuthCertificate(leaf) {
		return nil
	}
	covers := strings.Join(subjectAltNames(leaf), ", ")
	if covers == "" {
		covers = "no subject alternative name"
	}
	x := &Diagnosis{ID: DiagNameMismatch, Severity: SeverityCritical}
	switch {
	case d.exchange():
		x.Cause = fmt.Sprintf("Port %d presents a certificate for %s, not %s: mail clients will warn or refuse to send until %s has its FQDN and TlsCertificateName set to the certificate for %s.",
			d.role, covers, d.name, d.connectorName(), d.name)
		x.Fix = d.bindCertificate(d.goodCertificate(), " -Fqdn "+d.name)
	case d.postfix():
		x.Cause = fmt.Sprintf("Port %d presents a certificate for %s, not %s: mail clients will warn or refuse to send; Postfix's smtpd_tls_chain_files for this service points at the wrong certificate.", d.role, covers, d.name)
		x.Fix = []string{
			"# the key, then the certificate chain for " + d.name + ", in one file:",
			postfixSet(d.role, "smtpd_tls_chain_files", postfixChainFile(d.name)),
			"postfix reload",
		}
	default:
		x.Cause = fmt.Sprintf("Port %d presents a certificate for %s, not %s: mail clients will warn or refuse to send.", d.role, covers, d.name)
		x.Fix = d.certificateFilesFix(d.name)
	}
	return x
}
