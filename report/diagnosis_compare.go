package report

import (
	cmp2 "cmp"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// certificateDiffers compares the certificates of the ports (and
// addresses) of one mail host: the connectors of one server should present
// the same certificate, and a port that presents another one is usually
// the connector that was forgotten at the last renewal. Port 2525 with
// Exchange's default certificate is left out: it differs by design.
func (d *diagContext) certificateDiffers() *Diagnosis {
	if !inComparison(d.ep) {
		return nil
	}
	cmp := d.host.comparison(d)
	mine := d.ep.Leaf()
	if cmp.reference == nil || mine.SHA1 == cmp.reference.SHA1 {
		return nil
	}
	why := "it was left out when the certificate was installed or renewed"
	if d.exchange() {
		why = "its connector was left out when the certificate was bound or renewed"
	}
	x := &Diagnosis{
		ID: DiagCertificateDiffers, Severity: SeverityWarning,
		Cause: fmt.Sprintf("%s presents another certificate (%s, SHA-1 %s) than %s (%s, SHA-1 %s): %s.",
			capitalize(d.place(d.ep)), describeCertificate(mine), mine.SHA1, cmp.referencePlaces, describeCertificate(cmp.reference), cmp.reference.SHA1, why),
		// Shared by every member that differs: the group's table, not a
		// copy per endpoint.
		Compare: cmp.rows,
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

// inComparison is an endpoint whose certificate takes part in the
// comparison.
func inComparison(e *Endpoint) bool {
	leaf := e.Result.Leaf()
	exchangeLike := e.Server.Software == SoftwareExchange || e.Server.Software == SoftwareUnknown
	return leaf != nil && !(e.ServicePort == 2525 && exchangeLike && isExchangeDefaultCertificate(leaf))
}

// hostGroup is the endpoints of one mail host (hostKey), with what the
// rules compute once for all of them rather than once per member: every
// member has the same name and instant, so these facts are the group's.
// A member's lookup of them is then constant, and a group of thousands
// (one --name over a batch) is judged in linear time.
type hostGroup struct {
	// name is the host as the report shows it.
	name    string
	members []*Endpoint
	// compared is the certificate comparison, nil until a member needs it.
	compared *certificateComparison
	// The facts below are worked out on first use; nil until then.
	severalAddresses *bool
	knownSoftware    *Software
	serverName       *string
	good             *struct{ cert *x509.Certificate }
}

// once returns *slot, working it out with find on the first call.
func (g *hostGroup) once(slot **string, find func() string) string {
	if *slot == nil {
		v := find()
		*slot = &v
	}
	return **slot
}

// multiAddress reports whether the host was reached at several addresses,
// so that a place must name the address as well as the port.
func (g *hostGroup) multiAddress() bool {
	if g.severalAddresses == nil {
		several := false
		for _, e := range g.members {
			if e.Result.Address != g.members[0].Result.Address {
				several = true
				break
			}
		}
		g.severalAddresses = &several
	}
	return *g.severalAddresses
}

// software is the first member's software that is known: what a member
// whose banner and EHLO did not tell borrows.
func (g *hostGroup) software() Software {
	if g.knownSoftware == nil {
		known := SoftwareUnknown
		for _, e := range g.members {
			if e.Server.Software != SoftwareUnknown {
				known = e.Server.Software
				break
			}
		}
		g.knownSoftware = &known
	}
	return *g.knownSoftware
}

// certificateComparison is the group's distinct comparable certificates,
// one row each, and the reference certificate the others are compared with
// (referenceLeaf).
type certificateComparison struct {
	rows         []CertificateRow
	reference    *Certificate
	referenceRaw *x509.Certificate
	// referencePlaces names where the reference is presented, for the
	// causes: "port 25, port 2525", bounded like the rows' places.
	referencePlaces string
}

// comparison is computed on the first call.
func (g *hostGroup) comparison(d *diagContext) *certificateComparison {
	if g.compared != nil {
		return g.compared
	}
	cmp := &certificateComparison{}
	g.compared = cmp
	var members []*Endpoint
	for _, e := range g.members {
		if inComparison(e) {
			members = append(members, e)
		}
	}
	ref := referenceLeaf(members, d.name, d.now)
	if ref == "" {
		return cmp
	}
	row := map[string]int{}
	for _, e := range members {
		leaf := e.Leaf()
		i, ok := row[leaf.SHA1]
		if !ok {
			i = len(cmp.rows)
			row[leaf.SHA1] = i
			cmp.rows = append(cmp.rows, CertificateRow{SHA1: leaf.SHA1, Subject: leaf.DotNetSubject, NotAfter: leaf.NotAfter, Differs: leaf.SHA1 != ref})
			if leaf.SHA1 == ref {
				cmp.reference, cmp.referenceRaw = leaf, e.Result.Leaf()
			}
		}
		r := &cmp.rows[i]
		r.Count++
		r.Places = lowestPlaces(r.Places, Place{Address: e.Result.Address, Port: e.Result.Endpoint.Port, ServicePort: e.ServicePort})
	}
	// Rows and places in an order of their own, not the report's: a merge
	// of shards reads the endpoints in another order than the run that
	// probed them all, and must name the same ones.
	slices.SortStableFunc(cmp.rows, func(a, b CertificateRow) int {
		return cmp2.Or(boolOrder(a.Differs, b.Differs), b.Count-a.Count, strings.Compare(a.SHA1, b.SHA1))
	})
	ri := slices.IndexFunc(cmp.rows, func(r CertificateRow) bool { return r.SHA1 == ref })
	var labels []string
	for _, p := range cmp.rows[ri].Places {
		labels = append(labels, d.placeOf(p))
	}
	cmp.referencePlaces = strings.Join(labels, ", ")
	if more := cmp.rows[ri].Count - len(labels); more > 0 {
		cmp.referencePlaces += fmt.Sprintf(" and %d more", more)
	}
	return cmp
}

// lowestPlaces adds p to places, keeping the MaxPlaces lowest (by address,
// then port): the same few whatever order the endpoints come in.
func lowestPlaces(places []Place, p Place) []Place {
	places = append(places, p)
	slices.SortFunc(places, func(a, b Place) int {
		aa, _ := netip.ParseAddr(a.Address)
		ba, _ := netip.ParseAddr(b.Address)
		return cmp2.Or(aa.Compare(ba), strings.Compare(a.Address, b.Address), a.Port-b.Port)
	})
	return places[:min(len(places), MaxPlaces)]
}

// boolOrder puts false before true.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
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
