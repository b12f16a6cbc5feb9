package report

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/starttls-probe/starttls-probe/probe"
)

// DANE is what the MX host's TLSA RRset says of the chain presented (RFC
// 7672, 6698, 7671).
type DANE struct {
	// Owner is the TLSA name asked, _25._tcp.HOST.
	Owner string
	// DNSSEC is secure, insecure, bogus or unknown; Resolver the server
	// that vouched for it.
	DNSSEC   string
	Resolver string
	TLSA     []TLSA
	// Match is "matched", "no match", "no usable records", or "" when
	// there is nothing to match (no TLSA records, no certificate, or
	// records senders ignore).
	Match string
}

// DANE match outcomes.
const (
	DANEMatched    = "matched"
	DANENoMatch    = "no match"
	DANENoUsable   = "no usable records"
	daneUsageTA    = 2
	daneUsageEE    = 3
	selectorCert   = 0
	selectorSPKI   = 1
	matchingExact  = 0
	matchingSHA256 = 1
	matchingSHA512 = 2
)

// TLSA is one record and what it matched.
type TLSA struct {
	Usage        uint8  `json:"usage"`
	Selector     uint8  `json:"selector"`
	MatchingType uint8  `json:"matching_type"`
	Data         string `json:"data"`
	// Matched names what the record matched ("the leaf", "certificate 2
	// of the chain"), "" when nothing; Unusable says why senders skip it.
	Matched  string `json:"matched,omitempty"`
	Unusable string `json:"unusable,omitempty"`
}

// String is the record as a zone file has it: "3 1 1 ab12...".
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, t.Data)
}

// judgeDANE matches the TLSA answer against the chain the server sent.
// DANE-EE (3) matches the leaf and ignores its names and dates; DANE-TA
// (2) matches a CA certificate the server sent, and the leaf must then
// chain to it and carry the MX host name (RFC 7672 3.1). PKIX usages 0
// and 1 are unusable in SMTP (RFC 7672 3.1.3).
func judgeDANE(a *probe.TLSAAnswer, p *probe.DomainPolicy, chain []*x509.Certificate, now time.Time) *DANE {
	d := &DANE{Owner: a.Name, DNSSEC: dnssecStatus(a.DNSAnswer, a.ValidatingAncestor, p.Resolver), Resolver: resolverName(p)}
	for _, r := range a.Records {
		t := TLSA{Usage: r.Usage, Selector: r.Selector, MatchingType: r.MatchingType, Data: hex.EncodeToString(r.Data)}
		switch {
		case r.Usage != daneUsageTA && r.Usage != daneUsageEE:
			t.Unusable = fmt.Sprintf("usage %d (PKIX) is unusable in SMTP (RFC 7672 3.1.3)", r.Usage)
		case r.Selector > selectorSPKI:
			t.Unusable = fmt.Sprintf("unknown selector %d", r.Selector)
		case r.MatchingType > matchingSHA512:
			t.Unusable = fmt.Sprintf("unknown matching type %d", r.MatchingType)
		case r.Usage == daneUsageEE && len(chain) > 0 && tlsaMatches(r, chain[0]):
			t.Matched = "the leaf"
		case r.Usage == daneUsageTA:
			for i := 1; i < len(chain); i++ {
				if tlsaMatches(r, chain[i]) && chainsTo(chain, i, a.Host, now) {
					t.Matched = fmt.Sprintf("certificate %d of the chain (%s)", i+1, chain[i].Subject.CommonName)
					break
				}
			}
		}
		d.TLSA = append(d.TLSA, t)
	}
	if len(d.TLSA) == 0 || len(chain) == 0 || d.DNSSEC != DNSSECSecure {
		return d
	}
	d.Match = DANENoUsable
	for _, t := range d.TLSA {
		switch {
		case t.Matched != "":
			d.Match = DANEMatched
		case t.Unusable == "" && d.Match == DANENoUsable:
			d.Match = DANENoMatch
		}
	}
	return d
}

// tlsaMatches compares one record's association data with cert.
func tlsaMatches(r probe.TLSARecord, cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == selectorSPKI {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case matchingExact:
		return bytes.Equal(data, r.Data)
	case matchingSHA256:
		sum := sha256.Sum256(data)
		return bytes.Equal(sum[:], r.Data)
	case matchingSHA512:
		sum := sha512.Sum512(data)
		return bytes.Equal(sum[:], r.Data)
	}
	return false
}

// chainsTo reports whether the leaf verifies up to chain[anchor], taken as
// the trust anchor, for host: DANE-TA keeps the name check (RFC 7672
// 3.2.3) with the MX host as the reference identifier.
func chainsTo(chain []*x509.Certificate, anchor int, host string, now time.Time) bool {
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[anchor])
	for _, c := range chain[1:anchor] {
		intermediates.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, DNSName: host, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// checkDANE judges an endpoint's DANE and the finding behind it.
func checkDANE(d *DANE, a *probe.TLSAAnswer, leaf *x509.Certificate, warnDays int, now time.Time) (Check, *PolicyFinding) {
	c := Check{ID: CheckDANE}
	fail := func(st Status, rfc, resultType, format string, args ...any) (Check, *PolicyFinding) {
		f := &PolicyFinding{Check: CheckDANE, Status: st, Message: fmt.Sprintf(format, args...), RFC: rfc, ResultType: resultType}
		c.Status, c.Message = st, f.text()
		return c, f
	}
	switch {
	case a.Err != nil:
		return fail(Warning, "RFC 7672 2.2", "", "cannot look up TLSA at %s: %v", d.Owner, a.Err)
	case d.DNSSEC == DNSSECBogus:
		return fail(Critical, "RFC 7672 2.2", "dnssec-invalid", "the TLSA answer at %s is bogus: the resolver %s refuses it as failing DNSSEC validation, and DANE senders defer mail to this MX", d.Owner, d.Resolver)
	case a.Rcode == dns.RcodeServerFailure:
		return fail(Warning, "RFC 7672 2.2", "", "the TLSA lookup at %s failed (SERVFAIL): DANE senders defer mail to an MX whose TLSA lookup fails", d.Owner)
	case len(d.TLSA) == 0:
		c.Status, c.Message = Skipped, "no TLSA records at "+d.Owner
		return c, nil
	case d.DNSSEC == DNSSECInsecure:
		c.Status, c.Message = OK, fmt.Sprintf("%d TLSA record(s) at %s, but in an insecure (unsigned) zone: senders ignore them (RFC 7672 2.2)", len(d.TLSA), d.Owner)
		return c, nil
	case d.DNSSEC == DNSSECUnknown:
		return fail(Warning, "RFC 7672 2.2", "", "%d TLSA record(s) at %s, but the resolver %s did not say whether they are DNSSEC-secure: give --resolver a validating resolver", len(d.TLSA), d.Owner, d.Resolver)
	case leaf == nil:
		c.Status, c.Message = Skipped, "DNSSEC-secure TLSA records, but no certificate presented to match"
		return c, nil
	case d.Match == DANENoUsable:
		return fail(Warning, "RFC 7672 2.2", "tlsa-invalid", "no TLSA record at %s is usable (%s): DANE senders require TLS but authenticate nothing", d.Owner, d.TLSA[0].Unusable)
	case d.Match == DANENoMatch:
		return fail(Critical, "RFC 7672 2.2", "tlsa-invalid", "no DNSSEC-secure TLSA record at %s matches the chain presented: DANE senders (Postfix, Exchange Online) will not deliver", d.Owner)
	}
	var matched []string
	leafOnly := true
	for _, t := range d.TLSA {
		if t.Matched != "" {
			matched = append(matched, fmt.Sprintf("%d %d %d matches %s", t.Usage, t.Selector, t.MatchingType, t.Matched))
			leafOnly = leafOnly && t.Usage == daneUsageEE && t.Selector == selectorCert
		}
	}
	if days := daysLeft(leaf, now); leafOnly && days < warnDays {
		return fail(Warning, "RFC 7672 3.1.1", "", "only a 3 0 x record matches, which pins this very certificate, and it expires in %d days: a renewed certificate will not match, so publish its TLSA record first (or a 3 1 1 record, which survives a renewal with the same key)", days)
	}
	c.Status, c.Message = OK, strings.Join(matched, "; ")+" (DNSSEC-secure)"
	return c, nil
}
