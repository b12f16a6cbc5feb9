package report

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// certificateDiffers compares the certificates of the ports (and
// addresses) of one mail host: the connectors of one server should present
// the same certificate, and a port that presents another one is usually
// the connector that was forgotten at the last renewal. Port 2525 with
// Exchange's default certificate is left out: it differs by design.
func (d *diagContext) certificateDiffers() *Diagnosis {
	if !comparable(d.ep) {
		return nil
	}
	var members []*Endpoint
	for _, e := range d.group {
		if comparable(e) {
			members = append(members, e)
		}
	}
	reference := d.referenceCertificate(members)
	mine := d.ep.Leaf()
	if reference == nil || SHA1(mine) == SHA1(reference) {
		return nil
	}
	addresses := map[string]bool{}
	for _, m := range members {
		addresses[m.Address] = true
	}
	label := func(e *Endpoint) string {
		if len(addresses) > 1 {
			return fmt.Sprintf("%s port %d", e.Address, e.Endpoint.Role())
		}
		return fmt.Sprintf("port %d", e.Endpoint.Role())
	}
	var rows []CertificateRow
	var same []string
	for _, m := range members {
		leaf := m.Leaf()
		differs := SHA1(leaf) != SHA1(reference)
		rows = append(rows, CertificateRow{
			Address: m.Address, Port: m.Endpoint.Port, ServicePort: m.Endpoint.Role(), SHA1: SHA1(leaf),
			Subject: DotNetName(leaf.RawSubject), NotAfter: leaf.NotAfter.UTC(), Differs: differs,
		})
		if !differs {
			same = append(same, label(m))
		}
	}
	x := &Diagnosis{
		ID: DiagCertificateDiffers, Severity: SeverityWarning,
		Cause: fmt.Sprintf("%s presents another certificate (%s, SHA-1 %s) than %s (%s, SHA-1 %s): its connector was left out when the certificate was bound or renewed.",
			capitalize(label(d.ep)), describeCertificate(mine), SHA1(mine), strings.Join(same, ", "), describeCertificate(reference), SHA1(reference)),
		Compare: rows,
	}
	// Where another rule explains this certificate, it gives the fix too.
	if d.certificateExplained() {
		return x
	}
	switch {
	case d.exchange():
		x.Fix = d.bindCertificate(reference, "")
	case d.postfix():
		x.Fix = []string{postfixSet(d.role, "smtpd_tls_chain_files", postfixChainFile(d.name)), "postfix reload"}
	}
	return x
}

// comparable is an endpoint whose certificate takes part in the
// comparison.
func comparable(e *Endpoint) bool {
	leaf := e.Leaf()
	return leaf != nil && !(e.Endpoint.Role() == 2525 && IsExchangeDefaultCertificate(leaf))
}

// referenceCertificate is the certificate the others are compared with: the
// one clients accept for the name if there is one, else the one most
// endpoints present (the first seen on a tie).
func (d *diagContext) referenceCertificate(members []*Endpoint) *x509.Certificate {
	count := map[string]int{}
	var distinct []*x509.Certificate
	for _, m := range members {
		leaf := m.Leaf()
		if count[SHA1(leaf)] == 0 {
			distinct = append(distinct, leaf)
		}
		count[SHA1(leaf)]++
	}
	if len(distinct) < 2 {
		return nil
	}
	if good := d.goodCertificate(); good != nil {
		return good
	}
	best := distinct[0]
	for _, c := range distinct[1:] {
		if count[SHA1(c)] > count[SHA1(best)] {
			best = c
		}
	}
	return best
}

// certificateExplained reports whether another rule already names the cause
// of this endpoint's certificate.
func (d *diagContext) certificateExplained() bool {
	leaf := d.ep.Leaf()
	return IsExchangeDefaultCertificate(leaf) || IsExchangeAuthCertificate(leaf) || d.now.After(leaf.NotAfter) ||
		(clientsValidate(d.ep.Endpoint) && d.name != "" && leaf.VerifyHostname(d.name) != nil)
}

// describeCertificate is "CN=mail.contoso.com, valid until 2027-01-31".
func describeCertificate(c *x509.Certificate) string {
	subject := "CN=" + c.Subject.CommonName
	if c.Subject.CommonName == "" {
		subject = DotNetName(c.RawSubject)
	}
	return subject + ", valid until " + c.NotAfter.UTC().Format("2006-01-02")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
