package report

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// CheckConsistency is the ID of the check that compares the addresses of one
// name and port: "one node was not renewed" shows only there.
const CheckConsistency = "consistency"

// AddressGroup is the endpoints of one host name and port that were reached
// at two or more addresses (several MX addresses, --all-addresses), with
// what each presents and which of them differ, decided once for every
// output.
type AddressGroup struct {
	Host    string
	Port    int
	Members []GroupMember
	// Differs is true when a member differs from the others.
	Differs bool
	// ReferenceSHA1 is the leaf the others are compared with (see
	// referenceLeaf), "" when the members agree or present none.
	ReferenceSHA1 string
}

// GroupMember is one address of an AddressGroup.
type GroupMember struct {
	// Endpoint indexes Summary.Endpoints.
	Endpoint int
	Address  string
	// STARTTLS and LeafSHA1 are what was observed, "" where nothing was.
	STARTTLS STARTTLSOffer
	LeafSHA1 string
	// NotAfter is the leaf's, zero without one.
	NotAfter time.Time
	// CertificateDiffers and STARTTLSDiffers mark the member that differs
	// from the rest: the node not renewed, the node without STARTTLS.
	CertificateDiffers, STARTTLSDiffers bool
}

// addressGroups finds the groups of endpoints that share a host name and
// port and were dialed at different addresses.
func addressGroups(eps []Endpoint, now time.Time) []AddressGroup {
	type key struct {
		host string
		port int
	}
	index := map[key]int{}
	var groups []AddressGroup
	for i, ep := range eps {
		r := &ep.Result
		if r.Endpoint.HostIsIP() || r.Address == "" {
			continue
		}
		k := key{strings.ToLower(r.Endpoint.Host), r.Endpoint.Port}
		gi, ok := index[k]
		if !ok {
			gi = len(groups)
			index[k] = gi
			groups = append(groups, AddressGroup{Host: r.Endpoint.Host, Port: r.Endpoint.Port})
		}
		m := GroupMember{Endpoint: i, Address: r.Address, STARTTLS: ep.STARTTLS}
		if leaf := ep.Leaf(); leaf != nil {
			m.LeafSHA1, m.NotAfter = leaf.SHA1, leaf.NotAfter
		}
		groups[gi].Members = append(groups[gi].Members, m)
	}
	var out []AddressGroup
	for _, g := range groups {
		if distinctAddresses(g.Members) < 2 {
			continue
		}
		var leaves []*Endpoint
		for _, m := range g.Members {
			leaves = append(leaves, &eps[m.Endpoint])
		}
		g.ReferenceSHA1 = referenceLeaf(leaves, eps[g.Members[0].Endpoint].ExpectedName, now)
		starttls := make([]string, len(g.Members))
		for j, m := range g.Members {
			starttls[j] = string(m.STARTTLS)
		}
		// A node without STARTTLS is the broken one on a tie.
		starttlsOdd := oddOnesOut(starttls, func(a, _ string) bool { return a == string(STARTTLSOffered) })
		for j := range g.Members {
			m := &g.Members[j]
			m.CertificateDiffers = g.ReferenceSHA1 != "" && m.LeafSHA1 != "" && m.LeafSHA1 != g.ReferenceSHA1
			m.STARTTLSDiffers = starttlsOdd[j]
			g.Differs = g.Differs || m.CertificateDiffers || m.STARTTLSDiffers
		}
		out = append(out, g)
	}
	return out
}

// referenceLeaf is the SHA-1 of the leaf that the other endpoints' leaves
// are compared with, "" when they present fewer than two different ones.
// One rule for every comparison, so that the consistency check and the
// certificate-differs diagnosis never blame different endpoints:
//   - the certificate clients accept for the name (CA-issued, covering the
//     name, within its validity), the renewal if several (newer);
//   - else the one most endpoints present;
//   - on a tie, the one that expires last: the others are the nodes that
//     were not renewed.
func referenceLeaf(eps []*Endpoint, name string, now time.Time) string {
	type candidate struct {
		leaf  *x509.Certificate
		sha1  string
		count int
	}
	var cands []*candidate
	bySHA1 := map[string]*candidate{}
	for _, e := range eps {
		leaf := e.Leaf()
		if leaf == nil {
			continue
		}
		c := bySHA1[leaf.SHA1]
		if c == nil {
			c = &candidate{leaf: e.Result.Leaf(), sha1: leaf.SHA1}
			bySHA1[leaf.SHA1] = c
			cands = append(cands, c)
		}
		c.count++
	}
	if len(cands) < 2 {
		return ""
	}
	var best *candidate
	for _, c := range cands {
		if acceptedFor(c.leaf, name, now) && (best == nil || newer(c.leaf, best.leaf)) {
			best = c
		}
	}
	if best != nil {
		return best.sha1
	}
	best = cands[0]
	for _, c := range cands[1:] {
		if c.count > best.count || (c.count == best.count && c.leaf.NotAfter.After(best.leaf.NotAfter)) {
			best = c
		}
	}
	return best.sha1
}

// newer reports whether a is the renewal of the two: it expires after b,
// or, expiring together, was issued after it. A renewal does both; when
// they disagree, the certificate that lasts wins, and the order never
// hangs on the second two test certificates were issued in.
func newer(a, b *x509.Certificate) bool {
	if !a.NotAfter.Equal(b.NotAfter) {
		return a.NotAfter.After(b.NotAfter)
	}
	return a.NotBefore.After(b.NotBefore)
}

// acceptedFor reports whether clients accept leaf for name at now, as far
// as the leaf alone tells: CA-issued, covering the name, within its
// validity.
func acceptedFor(leaf *x509.Certificate, name string, now time.Time) bool {
	return name != "" && leaf != nil && !isSelfSigned(leaf) && leaf.VerifyHostname(name) == nil &&
		!now.Before(leaf.NotBefore) && !now.After(leaf.NotAfter)
}

func distinctAddresses(members []GroupMember) int {
	seen := map[string]bool{}
	for _, m := range members {
		seen[m.Address] = true
	}
	return len(seen)
}

// oddOnesOut marks the values that differ from the most common one; on a
// tie, the common one is the value preferred over the others. "" is "not
// observed" and never differs.
func oddOnesOut(values []string, preferred func(a, b string) bool) []bool {
	count := map[string]int{}
	for _, v := range values {
		if v != "" {
			count[v]++
		}
	}
	common := ""
	for _, v := range values {
		if v == "" || v == common {
			continue
		}
		if common == "" || count[v] > count[common] || (count[v] == count[common] && preferred(v, common)) {
			common = v
		}
	}
	odd := make([]bool, len(values))
	for i, v := range values {
		odd[i] = v != "" && v != common
	}
	return odd
}

// judgeConsistency finds the address groups and adds a warning to every
// endpoint of a group whose addresses present different leaf certificates
// or do not all offer STARTTLS.
func judgeConsistency(s *Summary) {
	s.Consistency = addressGroups(s.Endpoints, s.Now)
	for _, g := range s.Consistency {
		if !g.Differs {
			continue
		}
		var what []string
		if odd := g.addressesWhere(func(m GroupMember) bool { return m.CertificateDiffers }); len(odd) == 1 {
			what = append(what, odd[0]+" presents another leaf certificate than the other addresses")
		} else if len(odd) > 1 {
			what = append(what, strings.Join(odd, ", ")+" present another leaf certificate than the other addresses")
		}
		if odd := g.addressesWhere(func(m GroupMember) bool { return m.STARTTLSDiffers }); len(odd) > 0 {
			what = append(what, "STARTTLS is "+string(g.oddSTARTTLS())+" on "+strings.Join(odd, ", ")+" alone")
		}
		msg := fmt.Sprintf("the %d addresses of %s port %d differ: %s (see the consistency table)",
			len(g.Members), g.Host, g.Port, strings.Join(what, "; "))
		for _, m := range g.Members {
			ep := &s.Endpoints[m.Endpoint]
			ep.Checks = append(ep.Checks, Check{ID: CheckConsistency, Status: Warning, Message: msg})
		}
	}
}

// oddSTARTTLS is the STARTTLS observation of the members that differ.
func (g AddressGroup) oddSTARTTLS() STARTTLSOffer {
	for _, m := range g.Members {
		if m.STARTTLSDiffers {
			return m.STARTTLS
		}
	}
	return ""
}

func (g AddressGroup) addressesWhere(differs func(GroupMember) bool) []string {
	var addrs []string
	for _, m := range g.Members {
		if differs(m) {
			addrs = append(addrs, m.Address)
		}
	}
	return addrs
}
