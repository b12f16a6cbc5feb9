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
// name; addresses IPv4 first, in numeric order; ports as given. Lookups of
// the same name are made once, all of one job's within opts.Timeout; without MX or
// AllAddresses a name is probed at its first address in that order. Host names are resolved with opts.Resolver
// and filtered to opts.Network, at most opts.Concurrency lookups at a time:
// a batch of domains must not wait for each domain's DNS in turn.
func Discover(ctx context.Context, endpoints []Endpoint, d Discovery, opts Options) []Job {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	r := &discoverer{ctx: ctx, timeout: timeout, opts: opts, resolver: opts.resolver(), network: opts.network(),
		mx: map[string]*lookup[mxAnswer]{}, addrs: map[string]*lookup[addrAnswer]{}}
	expanded := make([][]Job, len(endpoints))
	limit := opts.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(limit, len(endpoints)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				expanded[i] = r.expand(endpoints[i], d)
			}
		}()
	}
	for i := range endpoints {
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

func (r *discoverer) expand(ep Endpoint, d Discovery) []Job {
	switch {
	case ep.Address != "":
		return []Job{{Endpoint: ep}}
	case ep.HostIsIP():
		return []Job{r.literal(ep)}
	case d.MX:
		return r.viaMX(ep)
	case d.AllAddresses:
		return r.everyAddress(ep, ep.Host, r.timeout)
	}
	// One lookup per name, shared by its ports: with round-robin DNS each
	// port resolving on its own could land on another node, and the
	// report would compare different servers' certificates as one host's.
	ans := r.lookupAddrs(ep.Host, r.timeout)
	if ans.err != nil {
		return []Job{{Endpoint: ep, Err: ans.err, DNS: ans.took}}
	}
	ep.Address = ans.addrs[0].String()
	return []Job{{Endpoint: ep, DNS: ans.took}}
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

// discoverer remembers answers for one Discover call: a domain is listed once
// per port, and its MX hosts are often shared by other domains in a batch.
type discoverer struct {
	ctx context.Context
	// timeout is Options.Timeout: the lookups behind one job take at most
	// that together (an MX lookup, then what it left for the address
	// lookup), and Run gives the probe what they left of it.
	timeout time.Duration
	// opts names the resolver in lookup errors (namingResolver).
	opts     Options
	resolver *net.Resolver
	network  string

	mu    sync.Mutex
	mx    map[string]*lookup[mxAnswer]
	addrs map[string]*lookup[addrAnswer]
}

// lookup is one answer, looked up once however many workers ask for it.
type lookup[T any] struct {
	once   sync.Once
	answer T
}

func cached[T any](r *discoverer, m map[string]*lookup[T], name string, resolve func() T) T {
	key := strings.ToLower(name)
	r.mu.Lock()
	l, ok := m[key]
	if !ok {
		l = &lookup[T]{}
		m[key] = l
	}
	r.mu.Unlock()
	l.once.Do(func() { l.answer = resolve() })
	return l.answer
}

func (r *discoverer) literal(ep Endpoint) Job {
	a, _ := netip.ParseAddr(ep.Host)
	if (r.network == "ip4" && !a.Unmap().Is4()) || (r.network == "ip6" && a.Unmap().Is4()) {
		return Job{Endpoint: ep, Err: &NoAddressError{Host: ep.Host, Network: r.network}}
	}
	ep.Address = a.Unmap().String()
	return Job{Endpoint: ep}
}

// viaMX makes one job per (MX host, address) for ep's port. The endpoint's
// Host becomes the MX host, so the name the certificate is checked against
// is the MX host's unless --name says otherwise.
func (r *discoverer) viaMX(ep Endpoint) []Job {
	ans := r.lookupMX(ep.Host)
	if ans.err != nil {
		return []Job{{Endpoint: ep, Err: ans.err, DNS: ans.took}}
	}
	// The address lookups get what the MX lookup left of the timeout:
	// --timeout bounds an endpoint from its first lookup to QUIT.
	left := r.timeout - ans.took
	var jobs []Job
	for _, host := range ans.hosts {
		mxEP := ep
		mxEP.Host = host
		// The domain's policy covers its MX hosts.
		mxEP.Domain = strings.TrimSuffix(ep.Host, ".")
		for _, job := range r.everyAddress(mxEP, host, left) {
			job.DNS += ans.took
			jobs = append(jobs, job)
		}
	}
	return jobs
}

// everyAddress makes one job per address of host, looked up within budget.
func (r *discoverer) everyAddress(ep Endpoint, host string, budget time.Duration) []Job {
	ans := r.lookupAddrs(host, budget)
	if ans.err != nil {
		return []Job{{Endpoint: ep, Err: ans.err, DNS: ans.took}}
	}
	jobs := make([]Job, 0, len(ans.addrs))
	for _, a := range ans.addrs {
		addrEP := ep
		addrEP.Address = a.String()
		jobs = append(jobs, Job{Endpoint: addrEP, DNS: ans.took})
	}
	return jobs
}

// lookupMX returns the mail hosts of domain by preference. Without MX
// records the domain is its own mail host (RFC 5321 section 5.1, the
// implicit MX); a single MX of "." is a null MX (RFC 7505).
func (r *discoverer) lookupMX(domain string) mxAnswer {
	return cached(r, r.mx, domain, func() mxAnswer {
		start := time.Now()
		ans := r.resolveMX(domain)
		ans.took = time.Since(start)
		return ans
	})
}

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

// lookupAddrs returns every address of host of the wanted family, IPv4
// first, each in numeric order. The lookup takes at most budget (that of
// whichever job asks first; the others share its answer).
func (r *discoverer) lookupAddrs(host string, budget time.Duration) addrAnswer {
	return cached(r, r.addrs, host, func() addrAnswer {
		start := time.Now()
		ans := r.resolveAddrs(host, budget)
		ans.took = time.Since(start)
		return ans
	})
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
