package dnstest

import (
	"crypto"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// SignedZones answers, on a loopback UDP port, for one DNSSEC-signed zone
// (signed when it starts, with a key made then) and any unsigned zones
// delegated from it, the way a validating resolver in front of it expects:
// RRSIGs on every signed RRset, NSEC proofs on negative answers (an
// unsigned delegation is a NODATA for its DS). It answers every question
// itself, so a resolver can forward to it. Names listed as bogus get a
// broken signature.
type SignedZones struct {
	addr netip.AddrPort
	srv  *dns.Server
	// Anchor is the zone's DNSKEY in zone-file syntax, the trust anchor a
	// validating resolver needs.
	Anchor string
	// DS is the zone's DS record, for a parent that would delegate to it.
	DS string

	signed   *zone
	unsigned []*zone
}

type zone struct {
	apex string
	// rrsets by owner name, then type.
	rrsets map[string]map[uint16][]dns.RR
	sigs   map[string]map[uint16]*dns.RRSIG
	// nsec by owner name, in a signed zone.
	nsec map[string]*dns.NSEC
	// names in canonical order.
	names []string
}

// SignedZoneConfig says what to serve.
type SignedZoneConfig struct {
	// Apex is the signed zone ("test.").
	Apex string
	// Records of the signed zone, in zone-file syntax; SOA, NS and DNSKEY
	// are added.
	Records []string
	// Unsigned maps an unsigned child zone's apex to its records; its NS
	// (not DS) is added to the parent, proving it insecure.
	Unsigned map[string][]string
	// Bogus are owner names whose signatures are corrupted.
	Bogus []string
}

// StartSignedZones signs cfg's zone at once and serves it on a free port
// of 127.0.0.1.
func StartSignedZones(cfg SignedZoneConfig) (*SignedZones, error) {
	apex := dns.Fqdn(strings.ToLower(cfg.Apex))
	key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := key.Generate(256)
	if err != nil {
		return nil, fmt.Errorf("dnstest: making the zone key: %w", err)
	}
	records := append([]string{
		apex + " 300 IN SOA ns." + apex + " hostmaster." + apex + " 1 3600 600 86400 300",
		apex + " 300 IN NS ns." + apex,
		"ns." + apex + " 300 IN A 127.0.0.1",
	}, cfg.Records...)
	s := &SignedZones{Anchor: key.String(), DS: key.ToDS(dns.SHA256).String()}
	for child, childRecords := range cfg.Unsigned {
		child = dns.Fqdn(strings.ToLower(child))
		records = append(records, child+" 300 IN NS ns."+apex)
		u, err := newZone(child, append([]string{child + " 300 IN SOA ns." + apex + " hostmaster." + apex + " 1 3600 600 86400 300"}, childRecords...))
		if err != nil {
			return nil, err
		}
		s.unsigned = append(s.unsigned, u)
	}
	z, err := newZone(apex, records)
	if err != nil {
		return nil, err
	}
	z.rrsets[apex][dns.TypeDNSKEY] = []dns.RR{key}
	if err := z.sign(key, priv.(crypto.Signer), cfg.Bogus); err != nil {
		return nil, err
	}
	s.signed = z

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dnstest: listen on loopback: %w", err)
	}
	s.addr = netip.MustParseAddrPort(pc.LocalAddr().String())
	srv, err := serve(pc, dns.HandlerFunc(s.serve))
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// NewSignedZones starts the server and stops it when the test ends.
func NewSignedZones(t TB, cfg SignedZoneConfig) *SignedZones {
	t.Helper()
	s, err := StartSignedZones(cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's address.
func (s *SignedZones) Addr() netip.AddrPort { return s.addr }

// Close stops the server.
func (s *SignedZones) Close() { s.srv.Shutdown() }

func newZone(apex string, records []string) (*zone, error) {
	z := &zone{apex: apex, rrsets: map[string]map[uint16][]dns.RR{}, sigs: map[string]map[uint16]*dns.RRSIG{}, nsec: map[string]*dns.NSEC{}}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return nil, fmt.Errorf("dnstest: record %q: %w", r, err)
		}
		name := strings.ToLower(rr.Header().Name)
		if z.rrsets[name] == nil {
			z.rrsets[name] = map[uint16][]dns.RR{}
		}
		z.rrsets[name][rr.Header().Rrtype] = append(z.rrsets[name][rr.Header().Rrtype], rr)
	}
	for name := range z.rrsets {
		z.names = append(z.names, name)
	}
	slices.SortFunc(z.names, canonicalCompare)
	return z, nil
}

// canonicalCompare orders names as RFC 4034 6.1 does: by labels from the
// right.
func canonicalCompare(a, b string) int {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	slices.Reverse(la)
	slices.Reverse(lb)
	for i := 0; i < len(la) && i < len(lb); i++ {
		if c := strings.Compare(strings.ToLower(la[i]), strings.ToLower(lb[i])); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// sign makes the NSEC chain and signs every authoritative RRset: not the
// NS of a delegation, nor glue (RFC 4035 2.2).
func (z *zone) sign(key *dns.DNSKEY, priv crypto.Signer, bogus []string) error {
	delegated := func(name string) bool {
		return name != z.apex && z.rrsets[name][dns.TypeNS] != nil
	}
	for i, name := range z.names {
		next := z.names[(i+1)%len(z.names)]
		types := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
		for t := range z.rrsets[name] {
			types = append(types, t)
		}
		if delegated(name) {
			types = []uint16{dns.TypeNS, dns.TypeNSEC, dns.TypeRRSIG}
		}
		slices.Sort(types)
		z.nsec[name] = &dns.NSEC{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300}, NextDomain: next, TypeBitMap: types}
	}
	now := time.Now()
	for _, name := range z.names {
		sets := map[uint16][]dns.RR{dns.TypeNSEC: {z.nsec[name]}}
		if !delegated(name) {
			for t, rrs := range z.rrsets[name] {
				sets[t] = rrs
			}
		}
		z.sigs[name] = map[uint16]*dns.RRSIG{}
		for t, rrs := range sets {
			sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
				Algorithm: key.Algorithm, SignerName: z.apex, KeyTag: key.KeyTag(),
				Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(24 * time.Hour).Unix())}
			if err := sig.Sign(priv, rrs); err != nil {
				return fmt.Errorf("dnstest: signing %s %s: %w", name, dns.TypeToString[t], err)
			}
			if slices.Contains(bogus, name) && t != dns.TypeNSEC {
				// Flip one bit of the signature: the data is served, but
				// a validating resolver must refuse it.
				sig.Signature = brokenSignature(sig.Signature)
			}
			z.sigs[name][t] = sig
		}
	}
	return nil
}

func brokenSignature(b64 string) string {
	b := []byte(b64)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// zoneFor is the deepest zone holding name; a DS question belongs to the
// parent side of a cut.
func (s *SignedZones) zoneFor(name string, qtype uint16) *zone {
	for _, u := range s.unsigned {
		if dns.IsSubDomain(u.apex, name) && !(qtype == dns.TypeDS && name == u.apex) {
			return u
		}
	}
	if dns.IsSubDomain(s.signed.apex, name) {
		return s.signed
	}
	return nil
}

func (s *SignedZones) serve(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	if len(q.Question) == 0 {
		m.SetRcode(q, dns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	question := q.Question[0]
	name := strings.ToLower(question.Name)
	do := q.IsEdns0() != nil && q.IsEdns0().Do()
	if q.IsEdns0() != nil {
		m.SetEdns0(4096, do)
	}
	z := s.zoneFor(name, question.Qtype)
	if z == nil {
		m.Rcode = dns.RcodeRefused
		w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	withSig := func(section []dns.RR, owner string, t uint16) []dns.RR {
		if do && z.sigs[owner] != nil && z.sigs[owner][t] != nil {
			section = append(section, z.sigs[owner][t])
		}
		return section
	}
	rrs, exists := z.rrsets[name]
	switch {
	case rrs[question.Qtype] != nil && !(z == s.signed && name != z.apex && rrs[dns.TypeNS] != nil && question.Qtype != dns.TypeDS):
		m.Answer = withSig(append(m.Answer, rrs[question.Qtype]...), name, question.Qtype)
	case exists:
		m.Ns = withSig(append(m.Ns, z.rrsets[z.apex][dns.TypeSOA]...), z.apex, dns.TypeSOA)
		if do && z.nsec[name] != nil {
			m.Ns = withSig(append(m.Ns, z.nsec[name]), name, dns.TypeNSEC)
		}
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = withSig(append(m.Ns, z.rrsets[z.apex][dns.TypeSOA]...), z.apex, dns.TypeSOA)
		if do && len(z.nsec) > 0 {
			for _, owner := range []string{z.covering(name), z.apex} {
				m.Ns = withSig(append(m.Ns, z.nsec[owner]), owner, dns.TypeNSEC)
				if owner == z.apex {
					break
				}
			}
		}
	}
	w.WriteMsg(m)
}

// covering is the owner of the NSEC record whose span covers name.
func (z *zone) covering(name string) string {
	owner := z.names[len(z.names)-1]
	for _, n := range z.names {
		if canonicalCompare(n, name) < 0 {
			owner = n
		}
	}
	return owner
}
