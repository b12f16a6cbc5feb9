package report

import (
	"crypto/x509"
	"fmt"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
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
	members, reference := cmp.members, cmp.reference
	mine := d.ep.Leaf()
	if reference == nil || SHA1(mine) == cmp.referenceSHA1 {
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
	for i, m := range members {
		leaf := m.Leaf()
		differs := cmp.sha1[i] != cmp.referenceSHA1
		rows = append(rows, CertificateRow{
			Address: m.Address, Port: m.Endpoint.Port, ServicePort: m.Endpoint.Role(), SHA1: cmp.sha1[i],
			Subject: dotnetname.Format(leaf.RawSubject), NotAfter: leaf.NotAfter.UTC(), Differs: differs,
		})
		if !differs {
			same = append(same, label(m))
		}
	}
	x := &Diagnosis{
		ID: DiagCertificateDiffers, Severity: SeverityWarning,
		Cause: fmt.Sprintf("%s presents another certificate (%s, SHA-1 %s) than %s (%s, SHA-1 %s): its connector was left out when the certificate was bound or renewed.",
			capitalize(label(d.ep)), describeCertificate(mine), SHA1(mine), strings.Join(same, ", "), describeCertificate(reference), cmp.referenceSHA1),
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

// hostGroup is the endpoints of one mail host (hostKey), with what the
// rules compute once for all of them rather than once per member.
type hostGroup struct {
	members []*Endpoint
	// compared is the certificate comparison, nil until a member needs it.
	compared *certificateComparison
}

// certificateComparison is the group's comparable members, each one's leaf
// thumbprint (hashed once per member, not once per pair) and the reference
// certificate the others are compared with.
type certificateComparison struct {
	members       []*Endpoint
	sha1          []string // of members' leaves, in the same order
	reference     *x509.Certificate
	referenceSHA1 string
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
			cmp.sha1 = append(cmp.sha1, SHA1(e.Leaf()))
		}
	}
	cmp.reference, cmp.referenceSHA1 = d.referenceCertificate(cmp.members, cmp.sha1)
	g.compared = cmp
	return cmp
}

// referenceCertificate is the certificate the others are compared with: the
// one clients accept for the name if there is one, else the one most
// endpoints present (the first seen on a tie). thumbprints are the members'
// leaves' SHA-1, in order.
func (d *diagContext) referenceCertificate(members []*Endpoint, thumbprints []string) (*x509.Certificate, string) {
	count := map[string]int{}
	var distinct []int // index in members of each thumbprint's first
	for i, tp := range thumbprints {
		if count[tp] == 0 {
			distinct = append(distinct, i)
		}
		count[tp]++
	}
	if len(distinct) < 2 {
		return nil, ""
	}
	if good := d.goodCertificate(); good != nil {
		return good, SHA1(good)
	}
	best := distinct[0]
	for _, i := range distinct[1:] {
		if count[thumbprints[i]] > count[thumbprints[best]] {
			best = i
		}
	}
	return members[best].Leaf(), thumbprints[best]
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
		subject = dotnetname.Format(c.RawSubject)
	}
	return subject + ", valid until " + c.NotAfter.UTC().Format("2006-01-02")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
