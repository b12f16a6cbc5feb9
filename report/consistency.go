package report

import (
	"fmt"
	"strings"
	"time"
)

// CheckConsistency is the ID of the check that compares the addresses of one
// name and port: "one node was not renewed" shows only there.
const CheckConsistency = "consistency"

// addressGroup is the endpoints of one host name and port that were reached
// at two or more addresses (several MX addresses, --all-addresses).
type addressGroup struct {
	host    string
	port    int
	members []int // indexes into Summary.Endpoints, in report order
	// leaf and starttls are each member's observation: the leaf's SHA-1
	// and "offered"/"not offered", "" where nothing was observed.
	leaf, starttls []string
	// leafOdd and starttlsOdd mark the members that differ from the rest.
	leafOdd, starttlsOdd []bool
}

func (g addressGroup) differs() bool {
	for i := range g.members {
		if g.leafOdd[i] || g.starttlsOdd[i] {
			return true
		}
	}
	return false
}

// addressGroups finds the groups of endpoints that share a host name and
// port and were dialed at different addresses.
func addressGroups(eps []Endpoint) []addressGroup {
	type key struct {
		host string
		port int
	}
	index := map[key]int{}
	var groups []addressGroup
	for i, ep := range eps {
		if ep.Endpoint.HostIsIP() || ep.Address == "" {
			continue
		}
		k := key{strings.ToLower(ep.Endpoint.Host), ep.Endpoint.Port}
		gi, ok := index[k]
		if !ok {
			gi = len(groups)
			index[k] = gi
			groups = append(groups, addressGroup{host: ep.Endpoint.Host, port: ep.Endpoint.Port})
		}
		g := &groups[gi]
		g.members = append(g.members, i)
		g.leaf = append(g.leaf, leafKey(ep))
		g.starttls = append(g.starttls, starttlsKey(ep))
	}
	var out []addressGroup
	for _, g := range groups {
		if distinctAddresses(eps, g.members) < 2 {
			continue
		}
		// On a tie (two addresses, two certificates) the one that expires
		// first is the odd one: the node that was not renewed. And a node
		// without STARTTLS is the broken one.
		notAfter := map[string]time.Time{}
		for _, i := range g.members {
			if leaf := eps[i].Leaf(); leaf != nil {
				notAfter[leafKey(eps[i])] = leaf.NotAfter
			}
		}
		g.leafOdd = oddOnesOut(g.leaf, func(a, b string) bool { return notAfter[a].After(notAfter[b]) })
		g.starttlsOdd = oddOnesOut(g.starttls, func(a, _ string) bool { return a == "offered" })
		out = append(out, g)
	}
	return out
}

func leafKey(ep Endpoint) string {
	if leaf := ep.Leaf(); leaf != nil {
		return SHA1(leaf)
	}
	return ""
}

func starttlsKey(ep Endpoint) string {
	r := ep.Result
	if !r.STARTTLSObserved() {
		return ""
	}
	if r.STARTTLSOffered {
		return "offered"
	}
	return "not offered"
}

func distinctAddresses(eps []Endpoint, members []int) int {
	seen := map[string]bool{}
	for _, i := range members {
		seen[eps[i].Address] = true
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

// judgeConsistency adds a warning to every endpoint of a group whose
// addresses present different leaf certificates or do not all offer
// STARTTLS.
func judgeConsistency(s *Summary) {
	for _, g := range addressGroups(s.Endpoints) {
		if !g.differs() {
			continue
		}
		var what []string
		if odd := g.addressesWhere(s.Endpoints, g.leafOdd); len(odd) == 1 {
			what = append(what, odd[0]+" presents another leaf certificate than the other addresses")
		} else if len(odd) > 1 {
			what = append(what, strings.Join(odd, ", ")+" present another leaf certificate than the other addresses")
		}
		if odd := g.addressesWhere(s.Endpoints, g.starttlsOdd); len(odd) > 0 {
			what = append(what, "STARTTLS is "+g.oddSTARTTLS()+" on "+strings.Join(odd, ", ")+" alone")
		}
		msg := fmt.Sprintf("the %d addresses of %s port %d differ: %s (see the consistency table)",
			len(g.members), g.host, g.port, strings.Join(what, "; "))
		for _, i := range g.members {
			ep := &s.Endpoints[i]
			ep.Checks = append(ep.Checks, Check{ID: CheckConsistency, Status: Warning, Message: msg})
			ep.Status = Worse(ep.Status, Warning)
			s.Status = Worse(s.Status, Warning)
		}
	}
}

// oddSTARTTLS is the STARTTLS observation of the members that differ.
func (g addressGroup) oddSTARTTLS() string {
	for j, odd := range g.starttlsOdd {
		if odd {
			return g.starttls[j]
		}
	}
	return ""
}

func (g addressGroup) addressesWhere(eps []Endpoint, odd []bool) []string {
	var addrs []string
	for j, i := range g.members {
		if odd[j] {
			addrs = append(addrs, eps[i].Address)
		}
	}
	return addrs
}
