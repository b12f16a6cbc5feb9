package probe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Discovery says how targets become endpoints before anything is dialed.
type Discovery struct {
	// MX treats each target as a mail domain: its MX hosts, by preference,
	// and every address of each are probed.
	MX bool
	// AllAddresses probes every address of a host target instead of the
	// first (a load-balanced SMTP namespace).
	AllAddresses bool
}

// Job is one endpoint to probe, or the reason discovery left nothing to
// probe for a target and port: a null MX, a domain that does not resolve, no
// address of the wanted family. A failed job is reported, never dialed.
type Job struct {
	Endpoint Endpoint
	Err      error
	// DNS is how long the lookups behind this job took (MX, then
	// addresses), each paid once however many jobs share it; the
	// result's Timings.DNS.
	DNS time.Duration
	// Duplicate says that Plan already gave a job with the same Key: this
	// one is never dialed, and the consumer attributes that job's result
	// to this one's Endpoint (its own Target and Domain), so that a mail
	// host serving many domains is handshaken once and reported for each.
	// A failed job is never a duplicate: it costs nothing to report.
	Duplicate bool
	// serverName is the SNI that Options send to this endpoint, worked
	// out by Plan and Discover for Key; sniKnown says it was.
	serverName string
	sniKnown   bool
	// literal says the target is an address literal: Plan drops a repeat
	// of it after discovery rather than before.
	literal bool
	// Place is where the job stands in the order of the input, which Plan,
	// looking targets up at once, does not send jobs in: a report in input
	// order sorts by it. Zero from Discover, whose jobs come in order.
	Place Place
}

// Place orders jobs as their targets were read: the target's place among
// the targets, then the job's among that target's jobs (as Discover lists
// them).
type Place struct{ Target, Job int }

// Compare orders p before q when p's target was read first, or p came first
// of one target's jobs.
func (p Place) Compare(q Place) int {
	if c := cmp.Compare(p.Target, q.Target); c != 0 {
		return c
	}
	return cmp.Compare(p.Job, q.Job)
}

// NullMXError says a domain publishes a null MX (RFC 7505): it states that
// it accepts no mail, so there is no mail server to probe.
type NullMXError struct{ Domain string }

func (e *NullMXError) Error() string {
	return e.Domain + " publishes a null MX (RFC 7505): it accepts no mail"
}

// NoAddressError says a host has no address of the family asked for (-4 or
// -6), or none at all.
type NoAddressError struct {
	Host    string
	Network string
}

func (e *NoAddressError) Error() string {
	switch e.Network {
	case "ip4":
		return "no IPv4 address for " + e.Host
	case "ip6":
		return "no IPv6 address for " + e.Host
	}
	return "no address for " + e.Host
}

// NewResolver returns a resolver that asks only the DNS server at server
// (ADDR:PORT), over UDP and, for truncated answers, TCP. The Go resolver is
// used so that the system's stub resolver cannot answer from elsewhere.
func NewResolver(server netip.AddrPort) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server.String())
		},
	}
}

// Discover expands endpoints (as Endpoints made them) into the jobs to run,
// in a stable order: targets as given; for MX, hosts by preference then
// name; addresses IPv4 first, in numeric order; ports as given. The ports of
// one target (consecutive endpoints with the same Target) share one address
// lookup; the addresses of MX hosts, which many domains share, are cached
// for the call (up to maxCachedHosts names); all of one job's lookups take
// at most opts.Timeout. Without MX or AllAddresses a name is probed at its
// first address in that order. Host names are resolved with opts.Resolver
// and filtered to opts.Network, at most opts.Concurrency lookups at a time:
// a batch of domains must not wait for each domain's DNS in turn.
//
// Discover holds every job in memory and marks none Duplicate: for a batch
// that may be large, Plan streams, dedupes and shards instead.
func Discover(ctx context.Context, endpoints []Endpoint, d Discovery, opts Options) []Job {
	r := newDiscoverer(ctx, opts)
	var groups [][]Endpoint
	for i := 0; i < len(endpoints); {
		n := 1
		for i+n < len(endpoints) && sameTarget(endpoints[i+n-1], endpoints[i+n]) {
			n++
		}
		groups = append(groups, endpoints[i:i+n])
		i += n
	}
	expanded := make([][]Job, len(groups))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.concurrency(), len(groups)) {
		wg.Go(func() {
			for i := range next {
				expanded[i] = r.expand(groups[i], d)
			}
		})
	}
	for i := range groups {
		next <- i
	}
	close(next)
	wg.Wait()
	var jobs []Job
	for _, js := range expanded {
		jobs = append(jobs, js...)
	}
	return jobs
}

// needsLookup says whether discovery must ask DNS for ep.
func needsLookup(ep Endpoint) bool { return ep.Address == "" && !ep.HostIsIP() }

// sameTarget says whether b is another port of a's target, to be expanded
// with a on one address lookup.
func sameTarget(a, b Endpoint) bool {
	return a.Target == b.Target && a.Host == b.Host && needsLookup(a) && needsLookup(b)
}

// expand makes the jobs of one target's endpoints, in the order Discover
// documents. One lookup per name, shared by its ports: with round-robin DNS
// each port resolving on its own could land on another node, and the
// report would compare different servers' certificates as one host's.
func (r *discoverer) expand(group []Endpoint, d Discovery) []Job {
	var jobs []Job
	switch first := group[0]; {
	case !needsLookup(first):
		for _, ep := range group {
			if ep.Address != "" {
				jobs = append(jobs, Job{Endpoint: ep})
				continue
			}
			job := r.literal(ep)
			job.literal = true
			jobs = append(jobs, job)
		}
	case d.MX:
		jobs = r.viaMX(group)
	case d.AllAddresses:
		ans := r.timedAddrs(first.Host, r.timeout)
		for _, ep := range group {
			jobs = append(jobs, ans.jobs(ep)...)
		}
	default:
		ans := r.timedAddrs(first.Host, r.timeout)
		for _, ep := range group {
			if ans.err != nil {
				jobs = append(jobs, Job{Endpoint: ep, Err: ans.err, DNS: ans.took})
				continue
			}
			ep.Address = ans.addrs[0].String()
			jobs = append(jobs, Job{Endpoint: ep, DNS: ans.took})
		}
	}
	for i := range jobs {
		jobs[i].serverName, jobs[i].sniKnown = wireServerName(jobs[i].Endpoint.Host, r.opts), true
	}
	return jobs
}

type mxAnswer struct {
	hosts []string // by preference; nil with err
	err   error
	took  time.Duration
}

type addrAnswer struct {
	addrs []netip.Addr
	err   error
	took  time.Duration
}

// jobs makes one job per address for ep, or one failed job.
func (a addrAnswer) jobs(ep Endpoint) []Job {
	if a.err != nil {
		return []Job{{Endpoint: ep, Err: a.err, DNS: a.took}}
	}
	jobs := make([]Job, 0, len(a.addrs))
	for _, addr := range a.addrs {
		addrEP := ep
		addrEP.Address = addr.String()
		jobs = append(jobs, Job{Endpoint: addrEP, DNS: a.took})
	}
	return jobs
}

// discoverer holds what one Discover or Plan call shares between its
// lookups. It keeps nothing per target, so that a run over a million
// targets stays flat in memory: a target's ports are expanded together
// instead, and only MX hosts' addresses, which many domains share, are
// remembered, a bounded number of them.
type discoverer struct {
	ctx context.Context
	// timeout is Options.Timeout: the lookups behind one job take at most
	// that together (an MX lookup, then what it left for the address
	// lookup), and Run gives the probe what they left of it.
	timeout time.Duration
	// opts names the resolver in lookup errors (namingResolver) and
	// gives the SNI for Job.Key.
	opts     Options
	resolver *net.Resolver
	network  string
	mxHosts  *hostCache
}

func newDiscoverer(ctx context.Context, opts Options) *discoverer {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &discoverer{ctx: ctx, timeout: timeout, opts: opts, resolver: opts.resolver(), network: opts.network(),
		mxHosts: newHostCache(maxCachedHosts)}
}

func (o Options) concurrency() int {
	if o.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return o.Concurrency
}

func (r *discoverer) literal(ep Endpoint) Job {
	a, _ := netip.ParseAddr(ep.Host)
	if (r.network == "ip4" && !a.Unmap().Is4()) || (r.network == "ip6" && a.Unmap().Is4()) {
		return Job{Endpoint: ep, Err: &NoAddressError{Host: ep.Host, Network: r.network}}
	}
	ep.Address = a.Unmap().String()
	return Job{Endpoint: ep}
}

// viaMX makes one job per (port, MX host, address) for one domain's
// endpoints, on one MX lookup. The endpoint's Host becomes the MX host, so
// the name the certificate is checked against is the MX host's unless
// --name says otherwise.
func (r *discoverer) viaMX(group []Endpoint) []Job {
	domain := group[0].Host
	start := time.Now()
	mx := r.resolveMX(domain)
	mx.took = time.Since(start)
	var jobs []Job
	if mx.err != nil {
		for _, ep := range group {
			jobs = append(jobs, Job{Endpoint: ep, Err: mx.err, DNS: mx.took})
		}
		return jobs
	}
	// The address lookups get what the MX lookup left of the timeout:
	// --timeout bounds an endpoint from its first lookup to QUIT.
	left := r.timeout - mx.took
	answers := make([]addrAnswer, len(mx.hosts))
	for i, host := range mx.hosts {
		answers[i] = r.mxHosts.lookup(host, func() addrAnswer { return r.timedAddrs(host, left) })
	}
	for _, ep := range group {
		for i, host := range mx.hosts {
			mxEP := ep
			mxEP.Host = host
			// The domain's policy covers its MX hosts.
			mxEP.Domain = strings.TrimSuffix(domain, ".")
			for _, job := range answers[i].jobs(mxEP) {
				job.DNS += mx.took
				jobs = append(jobs, job)
			}
		}
	}
	return jobs
}

// resolveMX returns the mail hosts of domain by preference. Without MX
// records the domain is its own mail host (RFC 5321 section 5.1, the
// implicit MX); a single MX of "." is a null MX (RFC 7505).
func (r *discoverer) resolveMX(domain string) mxAnswer {
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	records, err := r.resolver.LookupMX(ctx, domain)
	err = r.opts.namingResolver(err)
	var dnsErr *net.DNSError
	if err != nil && errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		// NXDOMAIN and "no MX records" look alike here; the address lookup
		// of the implicit MX tells them apart.
		return mxAnswer{hosts: []string{domain}}
	}
	if err != nil {
		return mxAnswer{err: fmt.Errorf("MX lookup: %w", err)}
	}
	// Sort again: the resolver shuffles hosts of equal preference, and the
	// report must come out in the same order on every run.
	slices.SortStableFunc(records, func(a, b *net.MX) int {
		return cmp.Or(cmp.Compare(a.Pref, b.Pref), strings.Compare(strings.ToLower(a.Host), strings.ToLower(b.Host)))
	})
	var hosts []string
	seen := map[string]bool{}
	for _, mx := range records {
		host := strings.TrimSuffix(mx.Host, ".")
		if host == "" {
			// RFC 7505: a single MX with an empty (root) target. A "."
			// among other MX records is invalid and is skipped.
			if len(records) == 1 {
				return mxAnswer{err: &NullMXError{Domain: domain}}
			}
			continue
		}
		if !seen[strings.ToLower(host)] {
			seen[strings.ToLower(host)] = true
			hosts = append(hosts, host)
		}
	}
	if len(hosts) == 0 {
		return mxAnswer{err: &NullMXError{Domain: domain}}
	}
	return mxAnswer{hosts: hosts}
}

// timedAddrs returns every address of host of the wanted family, IPv4
// first, each in numeric order, looked up within budget, and how long that
// took.
func (r *discoverer) timedAddrs(host string, budget time.Duration) addrAnswer {
	start := time.Now()
	ans := r.resolveAddrs(host, budget)
	ans.took = time.Since(start)
	return ans
}

func (r *discoverer) resolveAddrs(host string, budget time.Duration) addrAnswer {
	var ans addrAnswer
	ctx, cancel := context.WithTimeout(r.ctx, budget)
	defer cancel()
	addrs, err := r.resolver.LookupNetIP(ctx, r.network, host)
	switch {
	case err != nil:
		ans.err = r.opts.namingResolver(err)
	default:
		for _, a := range addrs {
			ans.addrs = append(ans.addrs, a.Unmap())
		}
		slices.SortFunc(ans.addrs, netip.Addr.Compare)
		ans.addrs = slices.Compact(ans.addrs)
		if len(ans.addrs) == 0 {
			ans.err = &NoAddressError{Host: host, Network: r.network}
		}
	}
	return ans
}

// namingResolver makes a lookup error name the DNS server asked,
// Options.ResolverAddr, when one was given.
func (o Options) namingResolver(err error) error {
	var dnsErr *net.DNSError
	if !o.ResolverAddr.IsValid() || !errors.As(err, &dnsErr) {
		return err
	}
	named := *dnsErr
	named.Server = o.ResolverAddr.String()
	return &named
}

func (o Options) resolver() *net.Resolver {
	if o.Resolver != nil {
		return o.Resolver
	}
	return net.DefaultResolver
}

func (o Options) network() string {
	if o.Network == "" {
		return "ip"
	}
	return o.Network
}

// failedResult is the report of a job discovery could not turn into an
// endpoint: nothing was dialed.
func failedResult(job Job) Result {
	r := Result{Endpoint: job.Endpoint, Mode: ModeSTARTTLS, Started: time.Now()}
	if job.Endpoint.Implicit {
		r.Mode = ModeImplicit
	}
	r.Error = &Error{Phase: PhaseDNS, Err: job.Err}
	r.Timings.DNS = job.DNS
	return r
}
