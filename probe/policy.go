package probe

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DomainPolicy is what a mail domain publishes about TLS to its MX hosts,
// as observed: the MTA-STS record and policy (RFC 8461), the TLS-RPT
// record (RFC 8460) and the TLSA records of each MX host probed (RFC
// 7672). Nothing in it says whether any of it is right: report judges.
type DomainPolicy struct {
	Domain string
	// Resolver is the DNS server asked, whose AD bits the answers carry;
	// nil when none could be found (ResolverErr says why).
	Resolver    *DNSServer
	ResolverErr error
	// MTASTS is the TXT answer at _mta-sts.DOMAIN.
	MTASTS TXTAnswer
	// Policy is the fetch of https://mta-sts.DOMAIN/.well-known/mta-sts.txt,
	// nil when no TXT record starts with "v=STSv1" (then senders do not
	// fetch it either).
	Policy *PolicyFetch
	// TLSRPT is the TXT answer at _smtp._tls.DOMAIN.
	TLSRPT TXTAnswer
	// ValidatingAncestor is the closest ancestor of _mta-sts.DOMAIN whose
	// DS answer the resolver validated, looked for when the MTA-STS answer
	// was not: it tells an unsigned domain (insecure) from a resolver that
	// does not validate (unknown).
	ValidatingAncestor string
	// TLSA is the TLSA answer of each MX host and port probed, at the
	// port's role (Endpoint.ServicePort): _25._tcp for an MX.
	TLSA []TLSAAnswer
}

// TXTAnswer is a TXT lookup: each record's strings joined.
type TXTAnswer struct {
	DNSAnswer
	Records []string
}

// PolicyFetch is one HTTPS GET of an MTA-STS policy.
type PolicyFetch struct {
	URL string
	// Addr is the address connected to.
	Addr string
	// Status is the HTTP status code, 0 when no response came.
	Status int
	// Location is the redirect target of a 3xx, which is not followed
	// (RFC 8461 3.3).
	Location    string
	ContentType string
	// Body is the policy text, at most MaxPolicySize bytes; Oversize is
	// true when the server sent more.
	Body     []byte
	Oversize bool
	// Chain is the certificate chain the HTTPS server sent, leaf first,
	// kept whatever its validity: report verifies it against the system
	// roots and --ca-file for mta-sts.DOMAIN.
	Chain []*x509.Certificate
	Err   error
	Took  time.Duration
}

// TLSAAnswer is the TLSA RRset of one MX host's port, at _PORT._tcp.HOST.
type TLSAAnswer struct {
	Host string
	Port int
	DNSAnswer
	Records []TLSARecord
	// ValidatingAncestor is the closest ancestor of the TLSA owner whose DS
	// answer the resolver validated, looked for when the TLSA answer was
	// not: it proves the resolver validates, so the TLSA answer is
	// insecure rather than unknown. "" when not looked for or not found.
	ValidatingAncestor string
}

// TLSARecord is one TLSA record (RFC 6698 2.1).
type TLSARecord struct {
	Usage, Selector, MatchingType uint8
	// Data is the certificate association data.
	Data []byte
}

// ObservePolicies looks up the published policy of every domain the jobs
// name (Endpoint.Domain), each domain and each MX host's TLSA at once,
// within opts.Timeout. Jobs without a domain have no policy looked up.
func ObservePolicies(ctx context.Context, jobs []Job, opts Options) []DomainPolicy {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type hostPort struct {
		host string
		port int
	}
	var domains []string
	endpoints := map[string][]hostPort{}
	for _, j := range jobs {
		d := strings.ToLower(strings.TrimSuffix(j.Endpoint.Domain, "."))
		if d == "" {
			continue
		}
		if _, seen := endpoints[d]; !seen {
			domains = append(domains, d)
			endpoints[d] = nil
		}
		hp := hostPort{strings.ToLower(strings.TrimSuffix(j.Endpoint.Host, ".")), j.Endpoint.ServicePort()}
		if j.Endpoint.HostIsIP() || slices.Contains(endpoints[d], hp) {
			continue
		}
		endpoints[d] = append(endpoints[d], hp)
	}
	if len(domains) == 0 {
		return nil
	}
	policies := make([]DomainPolicy, len(domains))
	res, resErr := newPolicyResolver(opts)
	var wg sync.WaitGroup
	for i, d := range domains {
		policies[i] = DomainPolicy{Domain: d, ResolverErr: resErr}
		if res == nil {
			continue
		}
		p := &policies[i]
		p.Resolver = &res.server
		p.TLSA = make([]TLSAAnswer, len(endpoints[d]))
		wg.Go(func() {
			p.MTASTS = res.txt(ctx, "_mta-sts."+d)
			if a := p.MTASTS.DNSAnswer; a.Err == nil && !a.AD && a.Rcode != dns.RcodeServerFailure {
				p.ValidatingAncestor = res.validatingAncestor(ctx, "_mta-sts."+d)
			}
			if hasSTSv1(p.MTASTS.Records) {
				p.Policy = fetchPolicy(ctx, d, opts)
			}
		})
		wg.Go(func() { p.TLSRPT = res.txt(ctx, "_smtp._tls."+d) })
		for k, hp := range endpoints[d] {
			wg.Go(func() { p.TLSA[k] = res.tlsa(ctx, hp.host, hp.port) })
		}
	}
	wg.Wait()
	return policies
}

// hasSTSv1 reports whether a TXT record claims to be MTA-STS: senders
// fetch the policy when one does (RFC 8461 3.1: records not starting with
// "v=STSv1;" are discarded).
func hasSTSv1(records []string) bool {
	return slices.ContainsFunc(records, func(r string) bool { return strings.HasPrefix(r, "v=STSv1") })
}

func (r *policyResolver) tlsa(ctx context.Context, host string, port int) TLSAAnswer {
	owner := "_" + strconv.Itoa(port) + "._tcp." + host
	ans, rrs := r.query(ctx, owner, dns.TypeTLSA)
	t := TLSAAnswer{Host: host, Port: port, DNSAnswer: ans}
	for _, rr := range rrs {
		tlsa := rr.(*dns.TLSA)
		data, err := hex.DecodeString(tlsa.Certificate)
		if err != nil {
			continue
		}
		t.Records = append(t.Records, TLSARecord{Usage: tlsa.Usage, Selector: tlsa.Selector, MatchingType: tlsa.MatchingType, Data: data})
	}
	if ans.Err == nil && !ans.AD && ans.Rcode != dns.RcodeServerFailure {
		t.ValidatingAncestor = r.validatingAncestor(ctx, owner)
	}
	return t
}
