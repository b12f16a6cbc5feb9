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
	cmp := d.host.comparison(d)
	mine := d.ep.Leaf()
	if cmp.reference == nil || mine.SHA1 == cmp.reference.SHA1 {
		return nil
	}
	label := d.place
	var rows []CertificateRow
	var same []string
	for _, m := range cmp.members {
		leaf := m.Leaf()
		differs := leaf.SHA1 != cmp.reference.SHA1
		rows = append(rows, CertificateRow{
			Address: m.Result.Address, Port: m.Result.Endpoint.Port, ServicePort: m.ServicePort, SHA1: leaf.SHA1,
			Subject: leaf.DotNetSubject, NotAfter: leaf.NotAfter, Differs: differs,
		})
		if !differs {
			same = append(same, label(m))
		}
	}
	why := "it was left out when the certificate was installed or renewed"
	if d.exchange() {
		why = "its connector was left out when the certificate was bound or renewed"
	}
	x := &Diagnosis{
		ID: DiagCertificateDiffers, Severity: SeverityWarning,
		Cause: fmt.Sprintf("%s presents another certificate (%s, SHA-1 %s) than %s (%s, SHA-1 %s): %s.",
			capitalize(label(d.ep)), describeCertificate(mine), mine.SHA1, strings.Join(same, ", "), describeCertificate(cmp.reference), cmp.reference.SHA1, why),
		Compare: rows,
	}
	// Where another rule explains this certificate, it gives the fix too.
	if d.certificateExplained() {
		return x
	}
	switch {
	case d.exchange():
		x.Fix = d.bindCertificate(cmp.referenceRaw, "")
	case d.postfix():
		x.Fix = []string{postfixSet(d.role, "smtpd_tls_chain_files", postfixChainFile(d.name)), "postfix reload"}
	default:
		x.Fix = d.certificateFilesFix(d.name)
	}
	return x
}

// comparable is an endpoint whose certificate takes part in the
// comparison.
func comparable(e *Endpoint) bool {
	leaf := e.Result.Leaf()
	exchangeLike := e.Server.Software == SoftwareExchange || e.Server.Software == SoftwareUnknown
	return leaf != nil && !(e.ServicePort == 2525 && exchangeLike && isExchangeDefaultCertificate(leaf))
}

// hostGroup is the endpoints of one mail host (hostKey), with what the
// rules compute once for all of them rather than once per member.
type hostGroup struct {
	members []*Endpoint
	// compared is the certificate comparison, nil until a member needs it.
	compared *certificateComparison
}

// certificateComparison is the group's comparable members and the
// reference certificate the others are compared with (referenceLeaf).
type certificateComparison struct {
	members      []*Endpoint
	reference    *Certificate
	referenceRaw *x509.Certificate
}

// comparison is computed on the first call; every member of a group has
// the same name and instant, so d's group facts are the group's.
func (g *hostGroup) comparison(d *diagContext) *certificateComparison {
	if g.compared != nil {
		return g.compared
	}
	cmp := &certificateComparison{}
	for _, e := range g.members {
		if comparable(e) {
			cmp.members = append(cmp.members, e)
		}
	}
	if ref := referenceLeaf(cmp.members, d.name, d.now); ref != "" {
		for _, e := range cmp.members {
			if e.Leaf().SHA1 == ref {
				cmp.reference, cmp.referenceRaw = e.Leaf(), e.Result.Leaf()
				break
			}
		}
	}
	g.compared = cmp
	return cmp
}

// certificateExplained reports whether another rule already names the cause
// of this endpoint's certificate.
func (d *diagContext) certificateExplained() bool {
	leaf := d.ep.Result.Leaf()
	return isExchangeDefaultCertificate(leaf) || isExchangeAuthCertificate(leaf) || d.now.After(leaf.NotAfter) ||
		(clientsValidate(d.role) && d.name != "" && leaf.VerifyHostname(d.name) != nil)
}

// describeCertificate is "CN=mail.contoso.com, valid until 2027-01-31".
func describeCertificate(c *Certificate) string {
	subject := "CN=" + c.SubjectCN
	if c.SubjectCN == "" {
		subject = c.DotNetSubject
	}
	return subject + ", valid until " + c.NotAfter.Format("2006-01-02")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
