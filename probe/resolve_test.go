package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
)

func TestDiscover(t *testing.T) {
	t.Parallel()
	dns := dnstest.New(t,
		// Two MX hosts of equal preference (the resolver shuffles them),
		// one lower-preference one, and a host with several addresses.
		"contoso.test. 300 IN MX 20 backup.contoso.test.",
		"contoso.test. 300 IN MX 10 mx2.contoso.test.",
		"contoso.test. 300 IN MX 10 mx1.contoso.test.",
		"mx1.contoso.test. 300 IN A 127.0.0.12",
		"mx1.contoso.test. 300 IN A 127.0.0.11",
		"mx1.contoso.test. 300 IN AAAA ::1",
		"mx2.contoso.test. 300 IN A 127.0.0.21",
		"backup.contoso.test. 300 IN AAAA ::1",
		// RFC 7505 null MX.
		"nomail.test. 300 IN MX 0 .",
		"nomail.test. 300 IN A 127.0.0.99",
		// No MX: the domain is its own mail host (RFC 5321 implicit MX).
		"implicit.test. 300 IN A 127.0.0.31",
		"implicit.test. 300 IN TXT \"v=spf1 -all\"",
		// An MX host with no address at all.
		"dangling.test. 300 IN MX 10 nowhere.dangling.test.",
		// A load-balanced namespace.
		"pool.test. 300 IN A 127.0.0.3",
		"pool.test. 300 IN A 127.0.0.2",
		"pool.test. 300 IN AAAA ::1",
	)
	resolver := NewResolver(dns.Addr())

	type want struct {
		host, addr string
		port       int
		err        string
	}
	cases := []struct {
		name    string
		targets []string
		ports   []int
		d       Discovery
		network string
		want    []want
	}{
		{
			name: "MX by preference then name, every address, v4 first", targets: []string{"contoso.test"}, ports: []int{25}, d: Discovery{MX: true},
			want: []want{
				{"mx1.contoso.test", "127.0.0.11", 25, ""},
				{"mx1.contoso.test", "127.0.0.12", 25, ""},
				{"mx1.contoso.test", "::1", 25, ""},
				{"mx2.contoso.test", "127.0.0.21", 25, ""},
				{"backup.contoso.test", "::1", 25, ""},
			},
		},
		{
			name: "MX with -4 drops IPv6 and hosts without IPv4", targets: []string{"contoso.test"}, ports: []int{25}, d: Discovery{MX: true}, network: "ip4",
			want: []want{
				{"mx1.contoso.test", "127.0.0.11", 25, ""},
				{"mx1.contoso.test", "127.0.0.12", 25, ""},
				{"mx2.contoso.test", "127.0.0.21", 25, ""},
				{"backup.contoso.test", "", 25, "backup.contoso.test"},
			},
		},
		{
			name: "MX with -6 keeps IPv6 only", targets: []string{"contoso.test"}, ports: []int{25}, d: Discovery{MX: true}, network: "ip6",
			want: []want{
				{"mx1.contoso.test", "::1", 25, ""},
				{"mx2.contoso.test", "", 25, "mx2.contoso.test"},
				{"backup.contoso.test", "::1", 25, ""},
			},
		},
		{
			name: "null MX is reported, its A record is not probed", targets: []string{"nomail.test"}, ports: []int{25, 587}, d: Discovery{MX: true},
			want: []want{
				{"nomail.test", "", 25, "null MX (RFC 7505)"},
				{"nomail.test", "", 587, "null MX (RFC 7505)"},
			},
		},
		{
			name: "no MX falls back to the domain's address", targets: []string{"implicit.test"}, ports: []int{25}, d: Discovery{MX: true},
			want: []want{{"implicit.test", "127.0.0.31", 25, ""}},
		},
		{
			name: "no such domain", targets: []string{"absent.test"}, ports: []int{25}, d: Discovery{MX: true},
			want: []want{{"absent.test", "", 25, "no such host"}},
		},
		{
			name: "MX host without an address", targets: []string{"dangling.test"}, ports: []int{25}, d: Discovery{MX: true},
			want: []want{{"nowhere.dangling.test", "", 25, "no such host"}},
		},
		{
			name: "all addresses of a host, ports kept together per address", targets: []string{"pool.test"}, ports: []int{25, 587}, d: Discovery{AllAddresses: true},
			want: []want{
				{"pool.test", "127.0.0.2", 25, ""}, {"pool.test", "127.0.0.3", 25, ""}, {"pool.test", "::1", 25, ""},
				{"pool.test", "127.0.0.2", 587, ""}, {"pool.test", "127.0.0.3", 587, ""}, {"pool.test", "::1", 587, ""},
			},
		},
		{
			// Looked up once for all its ports, so that they all reach
			// the same node: the first address, IPv4 first.
			name: "without discovery a name is probed at its first address", targets: []string{"pool.test"}, ports: []int{25, 587},
			want: []want{{"pool.test", "127.0.0.2", 25, ""}, {"pool.test", "127.0.0.2", 587, ""}},
		},
		{
			name: "an IPv6 literal with -4", targets: []string{"[::1]:25"}, network: "ip4", d: Discovery{MX: true},
			want: []want{{"::1", "", 25, "no IPv4 address"}},
		},
		{
			name: "an IP literal is not looked up as a domain", targets: []string{"127.0.0.5:25"}, d: Discovery{MX: true},
			want: []want{{"127.0.0.5", "127.0.0.5", 25, ""}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eps, err := Endpoints(tc.targets, tc.ports, false)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			jobs := Discover(ctx, eps, tc.d, Options{Resolver: resolver, Network: tc.network})
			var got []want
			for _, j := range jobs {
				w := want{host: j.Endpoint.Host, addr: j.Endpoint.Address, port: j.Endpoint.Port}
				if j.Err != nil {
					w.err = j.Err.Error()
				}
				if j.Endpoint.Target != tc.targets[0] {
					t.Errorf("Target = %q, want the target as written, %q", j.Endpoint.Target, tc.targets[0])
				}
				got = append(got, w)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d jobs, want %d:\n got  %+v\n want %+v", len(got), len(tc.want), got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				errOK := (w.err == "" && g.err == "") || (w.err != "" && strings.Contains(g.err, w.err))
				if g.host != w.host || g.addr != w.addr || g.port != w.port || !errOK {
					t.Errorf("job %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// A batch names the same domain on several ports and several domains share
// MX hosts: each name is asked once, however many workers need it.
func TestDiscoverAsksEachNameOnce(t *testing.T) {
	t.Parallel()
	records := []string{"mx.shared.test. 300 IN A 127.0.0.1"}
	var targets []string
	for i := range 20 {
		d := "d" + strconv.Itoa(i) + ".test"
		records = append(records, d+". 300 IN MX 10 mx.shared.test.")
		targets = append(targets, d)
	}
	dns := dnstest.New(t, records...)
	resolver := NewResolver(dns.Addr())
	eps, err := Endpoints(targets, []int{25, 587}, false)
	if err != nil {
		t.Fatal(err)
	}
	jobs := Discover(context.Background(), eps, Discovery{MX: true}, Options{Resolver: resolver, Network: "ip4", Concurrency: 8})
	if len(jobs) != 40 {
		t.Fatalf("got %d jobs, want 40", len(jobs))
	}
	for i, j := range jobs {
		if want := targets[i/2]; j.Endpoint.Target != want || j.Err != nil || j.Endpoint.Address != "127.0.0.1" {
			t.Errorf("job %d = %+v, want %s via mx.shared.test", i, j, want)
		}
	}
	asked := dns.QueryCounts()
	for q, n := range asked {
		if n != 1 {
			t.Errorf("%s asked %d times, want once", q, n)
		}
	}
	if asked["mx.shared.test. A"] != 1 || asked["d7.test. MX"] != 1 {
		t.Errorf("questions asked: %v", asked)
	}
}

func TestDiscoverNullMXIsTyped(t *testing.T) {
	t.Parallel()
	resolver := NewResolver(dnstest.New(t, "nomail.test. 300 IN MX 0 .").Addr())
	eps, _ := Endpoints([]string{"nomail.test"}, []int{25}, false)
	jobs := Discover(context.Background(), eps, Discovery{MX: true}, Options{Resolver: resolver})
	var nullMX *NullMXError
	if len(jobs) != 1 || !errors.As(jobs[0].Err, &nullMX) || nullMX.Domain != "nomail.test" {
		t.Fatalf("jobs = %+v, want one job failing with *NullMXError for nomail.test", jobs)
	}
	// A failed job is reported as a DNS failure and never dialed.
	results := Run(context.Background(), jobs, Options{}, nil)
	if e := results[0].Error; e == nil || e.Phase != PhaseDNS || !errors.As(e, &nullMX) || results[0].Address != "" {
		t.Fatalf("result = %+v, want a dns-phase NullMXError and no address", results[0])
	}
}

func TestProbeResolvesThroughGivenServerAndFamily(t *testing.T) {
	t.Parallel()
	dns := dnstest.New(t,
		"mail.test. 300 IN A 127.0.0.1",
		"mail.test. 300 IN AAAA ::1",
		"v6only.test. 300 IN AAAA ::1",
	)
	resolver := NewResolver(dns.Addr())
	cases := []struct {
		host, network, wantAddr string
		wantErr                 bool
	}{
		{"mail.test", "ip4", "127.0.0.1", false},
		{"mail.test", "ip6", "::1", false},
		{"v6only.test", "ip4", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.host+"/"+tc.network, func(t *testing.T) {
			t.Parallel()
			// Port 9 on loopback: nothing listens, so the probe stops at
			// connect, after the address was chosen.
			r := Probe(context.Background(), Endpoint{Host: tc.host, Port: 9}, Options{Resolver: resolver, Network: tc.network, Timeout: 5 * time.Second})
			if r.Address != tc.wantAddr {
				t.Errorf("Address = %q, want %q", r.Address, tc.wantAddr)
			}
			if gotDNSErr := r.Error != nil && r.Error.Phase == PhaseDNS; gotDNSErr != tc.wantErr {
				t.Errorf("Error = %v, want a dns error: %v", r.Error, tc.wantErr)
			}
		})
	}
}

// A resolver that never answers costs one timeout, not the resolver's own
// retries: discovery is bounded by Options.Timeout like the probe itself.
func TestDiscoverLookupsAreBoundedByTheTimeout(t *testing.T) {
	t.Parallel()
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	resolver := NewResolver(netip.MustParseAddrPort(silent.LocalAddr().String()))
	eps, err := Endpoints([]string{"contoso.test", "pool.test"}, []int{25}, false)
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	start := time.Now()
	jobs := Discover(context.Background(), eps, Discovery{MX: true}, Options{Resolver: resolver, Timeout: timeout})
	if took := time.Since(start); took > timeout+700*time.Millisecond {
		t.Errorf("Discover took %s with a %s timeout", took, timeout)
	}
	for _, j := range jobs {
		if j.Err == nil {
			t.Errorf("job %+v: want a lookup error", j.Endpoint)
		}
	}
}

// Each job carries how long its lookups took, and its result shows it as
// timings.dns; an address literal needs none.
func TestDiscoverTimesTheLookups(t *testing.T) {
	t.Parallel()
	dns := dnstest.New(t,
		"contoso.test. 300 IN MX 10 mx.contoso.test.",
		"mx.contoso.test. 300 IN A 127.0.0.1",
		"nomx.test. 300 IN A 127.0.0.1",
	)
	opts := Options{Resolver: NewResolver(dns.Addr()), Network: "ip4", Timeout: 5 * time.Second}
	eps, err := Endpoints([]string{"contoso.test", "nomx.test", "127.0.0.1", "missing.test"}, []int{1}, false)
	if err != nil {
		t.Fatal(err)
	}
	jobs := Discover(context.Background(), eps, Discovery{MX: true}, opts)
	if len(jobs) != 4 {
		t.Fatalf("got %d jobs: %+v", len(jobs), jobs)
	}
	for i, want := range []bool{true, true, false, true} {
		if got := jobs[i].DNS > 0; got != want {
			t.Errorf("job %d (%s): DNS %v, want it timed: %v", i, jobs[i].Endpoint.Target, jobs[i].DNS, want)
		}
	}
	results := Run(context.Background(), jobs, opts, nil)
	for i, r := range results {
		if r.Timings.DNS != jobs[i].DNS {
			t.Errorf("result %d: timings.dns %v, want the job's %v", i, r.Timings.DNS, jobs[i].DNS)
		}
	}
}

// --timeout bounds an endpoint from DNS to QUIT: with a resolver that takes
// 40% of the timeout for each answer (MX, then A) and a server that never
// greets, the whole run takes about one timeout. Before issue 12 each
// lookup and the probe had a full timeout of their own: 1.8 times it here.
func TestTimeoutBoundsDNSToQUIT(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	zone := dnstest.New(t,
		"contoso.test. 60 IN MX 10 mx1.contoso.test.",
		"mx1.contoso.test. 60 IN A 127.0.0.1",
	)
	// Below the Go resolver's own 5 s per-query timeout, so no retry.
	zone.SetDelay(timeout * 4 / 10)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			// Never greets.
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	eps, err := Endpoints([]string{"contoso.test"}, []int{silent.Addr().(*net.TCPAddr).Port}, false)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Resolver: NewResolver(zone.Addr()), Network: "ip4", Timeout: timeout, EHLOName: "probe.contoso.test"}
	start := time.Now()
	jobs := Discover(context.Background(), eps, Discovery{MX: true}, opts)
	results := Run(context.Background(), jobs, opts, nil)
	took := time.Since(start)
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	r := results[0]
	if r.Error == nil || r.Error.Phase != PhaseBanner || !errors.Is(r.Error, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the banner's timeout: the lookups must have left the probe time to connect", r.Error)
	}
	if r.Timings.DNS < timeout*8/10-100*time.Millisecond {
		t.Errorf("DNS took %s: the resolver did not hold its answers", r.Timings.DNS)
	}
	// 1 s over the timeout absorbs scheduling on 2 loaded cores; the old
	// budgets (a timeout each) took 1.8 times the timeout, 2.4 s over.
	if took > timeout+time.Second {
		t.Errorf("the run took %s with a %s timeout: --timeout must bound DNS to QUIT", took, timeout)
	}
}

// With --resolver, a lookup error names the server asked, not the system's
// resolver from /etc/resolv.conf that net.DNSError names (issue 12): in
// discovery (MX, addresses) and in a probe that resolves its own host.
func TestLookupErrorsNameTheResolverAsked(t *testing.T) {
	t.Parallel()
	zone := dnstest.New(t, "mx1.contoso.test. 60 IN A 127.0.0.1")
	opts := Options{Resolver: NewResolver(zone.Addr()), ResolverAddr: zone.Addr(), Network: "ip4", Timeout: 5 * time.Second}
	want := "lookup nothere.test on " + zone.Addr().String() + ": no such host"
	eps, err := Endpoints([]string{"nothere.test"}, []int{25}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Discovery{{}, {MX: true}, {AllAddresses: true}} {
		jobs := Discover(context.Background(), eps, d, opts)
		if len(jobs) != 1 || jobs[0].Err == nil || !strings.Contains(jobs[0].Err.Error(), want) {
			t.Errorf("Discover(%+v): %+v, want an error saying %q", d, jobs, want)
		}
	}
	res := Probe(context.Background(), eps[0], opts)
	if res.Error == nil || res.Error.Phase != PhaseDNS || !strings.Contains(res.Error.Error(), want) {
		t.Errorf("Probe: error %v, want one saying %q", res.Error, want)
	}
	var dnsErr *net.DNSError
	if !errors.As(res.Error, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("Probe: error %v, want a *net.DNSError that is not found", res.Error)
	}
}
