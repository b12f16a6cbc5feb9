package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
)

// planAll runs Plan over targets and collects every job, failing the test
// if the channel is not closed in time.
func planAll(t *testing.T, targets []string, ports []int, d Discovery, opts Options, shard Shard) []Job {
	t.Helper()
	eps, err := Endpoints(targets, ports, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var jobs []Job
	for j := range Plan(ctx, slices.Values(eps), d, opts, shard) {
		jobs = append(jobs, j)
	}
	if ctx.Err() != nil {
		t.Fatalf("Plan did not finish in 30 s: %d jobs", len(jobs))
	}
	return jobs
}

// With --mx over 200 domains that share 3 MX hosts, each (address, port,
// SNI) comes out once as a job to dial; every other domain's job of it
// comes out as a duplicate, with its own Target and Domain, after the one
// to dial. Each domain's MX and each host's address are asked once.
func TestPlanSharedMXHostsAreDialedOnce(t *testing.T) {
	t.Parallel()
	records := []string{
		"mx1.provider.test. 300 IN A 127.0.0.1",
		"mx2.provider.test. 300 IN A 127.0.0.2",
		"mx3.provider.test. 300 IN A 127.0.0.3",
	}
	var domains []string
	for i := range 200 {
		d := "customer" + strconv.Itoa(i) + ".test"
		domains = append(domains, d)
		for k := 1; k <= 3; k++ {
			// Upper case in some domains' records: names compare
			// without case.
			host := "mx" + strconv.Itoa(k) + ".provider.test."
			if i%2 == 1 {
				host = strings.ToUpper(host)
			}
			records = append(records, fmt.Sprintf("%s. 300 IN MX %d %s", d, 10*k, host))
		}
	}
	dns := dnstest.New(t, records...)
	ports := []int{25, 587}
	jobs := planAll(t, domains, ports, Discovery{MX: true}, Options{Resolver: NewResolver(dns.Addr()), Network: "ip4", Concurrency: 16}, Shard{})

	if want := 200 * 3 * len(ports); len(jobs) != want {
		t.Fatalf("got %d jobs, want %d: one per domain, MX host and port", len(jobs), want)
	}
	dialed := map[string]bool{}
	seen := map[string]bool{} // domain, MX host, port
	for _, j := range jobs {
		ep := j.Endpoint
		if j.Err != nil {
			t.Fatalf("job %+v failed: %v", ep, j.Err)
		}
		if ep.Domain != ep.Target || !slices.Contains(domains, ep.Target) {
			t.Errorf("job %+v: want its own domain as Target and Domain", ep)
		}
		id := ep.Target + " " + strings.ToLower(ep.Host) + " " + strconv.Itoa(ep.Port)
		if seen[id] {
			t.Errorf("%s came out twice", id)
		}
		seen[id] = true
		switch {
		case !j.Duplicate && dialed[j.Key()]:
			t.Errorf("%s: a second job to dial for %s", id, j.Key())
		case !j.Duplicate:
			dialed[j.Key()] = true
		case !dialed[j.Key()]:
			t.Errorf("%s: a duplicate of %s came out before the job to dial", id, j.Key())
		}
	}
	if want := 3 * len(ports); len(dialed) != want {
		t.Errorf("%d jobs to dial, want %d (3 hosts × %d ports): %v", len(dialed), want, len(ports), dialed)
	}
	for q, n := range dns.QueryCounts() {
		if n != 1 {
			t.Errorf("%s asked %d times, want once", q, n)
		}
	}
}

// The first target's jobs come out while the input is still being read:
// the iterator holds back everything after its first two targets until a
// job has come out. A host name's ports are expanded when the next target
// begins; an address literal's job goes out at once.
func TestPlanStreams(t *testing.T) {
	t.Parallel()
	dns := dnstest.New(t, "mx.first.test. 300 IN A 127.0.0.7")
	firstJob := make(chan struct{})
	heldBack := make(chan error, 1)
	endpoints := func(yield func(Endpoint) bool) {
		if !yield(Endpoint{Target: "mx.first.test", Host: "mx.first.test", Port: 25}) ||
			!yield(Endpoint{Target: "mx.first.test", Host: "mx.first.test", Port: 587}) ||
			!yield(Endpoint{Target: "127.0.0.9", Host: "127.0.0.9", Port: 25}) {
			return
		}
		select {
		case <-firstJob:
		case <-time.After(10 * time.Second):
			// Generous on 2 loaded cores: the jobs are ready in
			// milliseconds, unless Plan waits for the end of the input.
			heldBack <- errors.New("no job came out while the rest of the input was held back")
		}
		for i := range 100 {
			if !yield(Endpoint{Target: "127.0.1." + strconv.Itoa(i), Host: "127.0.1." + strconv.Itoa(i), Port: 25}) {
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for j := range Plan(ctx, endpoints, Discovery{}, Options{Resolver: NewResolver(dns.Addr()), Network: "ip4"}, Shard{}) {
		if len(got) == 0 {
			close(firstJob)
		}
		got = append(got, j.Endpoint.Address+":"+strconv.Itoa(j.Endpoint.Port))
	}
	select {
	case err := <-heldBack:
		t.Fatal(err)
	default:
	}
	if len(got) != 103 || !slices.Contains(got, "127.0.0.7:25") || !slices.Contains(got, "127.0.0.7:587") || !slices.Contains(got, "127.0.0.9:25") {
		t.Errorf("got %d jobs %v, want the first two targets' and 100 more", len(got), got[:min(len(got), 5)])
	}
}

// A target line given again, in another case or with a final dot, is
// dropped before it is looked up, even far from the first; a target's
// ports share one lookup; another port named in a line of its own is
// another target.
func TestPlanDropsRepeatedTargets(t *testing.T) {
	t.Parallel()
	dns := dnstest.New(t,
		"mail.contoso.test. 300 IN A 127.0.0.1",
		"mail.fabrikam.test. 300 IN A 127.0.0.2",
	)
	targets := []string{"mail.contoso.test", "mail.fabrikam.test", "MAIL.contoso.test.", "mail.contoso.test", "mail.contoso.test:2525", "127.0.0.5", "127.0.0.5"}
	// One lookup at a time: the Go resolver merges concurrent lookups of
	// one name, which would hide a second one from the count.
	jobs := planAll(t, targets, []int{25, 587}, Discovery{}, Options{Resolver: NewResolver(dns.Addr()), Network: "ip4", Concurrency: 1}, Shard{})
	var got []string
	for _, j := range jobs {
		if j.Duplicate || j.Err != nil {
			t.Errorf("job %+v: duplicate %v, err %v", j.Endpoint, j.Duplicate, j.Err)
		}
		got = append(got, j.Endpoint.Target+"@"+j.Endpoint.Address+":"+strconv.Itoa(j.Endpoint.Port))
	}
	slices.Sort(got)
	want := []string{
		"127.0.0.5@127.0.0.5:25", "127.0.0.5@127.0.0.5:587",
		"mail.contoso.test:2525@127.0.0.1:2525",
		"mail.contoso.test@127.0.0.1:25", "mail.contoso.test@127.0.0.1:587",
		"mail.fabrikam.test@127.0.0.2:25", "mail.fabrikam.test@127.0.0.2:587",
	}
	if !slices.Equal(got, want) {
		t.Errorf("jobs %q, want %q", got, want)
	}
	asked := dns.QueryCounts()
	if asked["mail.contoso.test. A"] != 2 || asked["mail.fabrikam.test. A"] != 1 {
		t.Errorf("asked %v: want mail.contoso.test once for its line given thrice (two ports), once for its :2525 line", asked)
	}
}

// An address literal given again, or spelled otherwise, is dropped; a host
// name at that address is another target, attributed the literal's result
// as a Duplicate, in whichever order discovery finishes them.
func TestPlanAddressLiteralGivenAgain(t *testing.T) {
	t.Parallel()
	dns := dnstest.New(t, "mx.test. 300 IN A 127.0.0.1")
	for range 20 {
		// No SNI, so the name and the literal make the same handshake.
		jobs := planAll(t, []string{"127.0.0.1", "mx.test", "127.0.0.1", "[::ffff:127.0.0.1]", "127.0.0.1"}, []int{25},
			Discovery{}, Options{Resolver: NewResolver(dns.Addr()), Network: "ip4", NoSNI: true, Concurrency: 4}, Shard{})
		var targets []string
		dial := 0
		for _, j := range jobs {
			// Either spelling of the literal may be expanded first.
			targets = append(targets, strings.Trim(strings.TrimPrefix(j.Endpoint.Target, "[::ffff:"), "]"))
			if !j.Duplicate {
				dial++
			}
		}
		slices.Sort(targets)
		if !slices.Equal(targets, []string{"127.0.0.1", "mx.test"}) || dial != 1 {
			t.Fatalf("jobs of %q, %d to dial; want one of 127.0.0.1 and one of mx.test, one to dial", targets, dial)
		}
	}
}

// The same, in both orders for certain: emitJobs fed by hand.
func TestEmitJobsDropsALiteralGivenAgain(t *testing.T) {
	t.Parallel()
	r := newDiscoverer(context.Background(), Options{NoSNI: true})
	expand := func(ep Endpoint) []Job { return r.expand([]Endpoint{ep}, Discovery{}) }
	literal := expand(Endpoint{Target: "127.0.0.1", Host: "127.0.0.1", Port: 25})
	mapped := expand(Endpoint{Target: "[::ffff:127.0.0.1]", Host: "::ffff:127.0.0.1", Port: 25})
	name := expand(Endpoint{Target: "mx.test", Host: "mx.test", Port: 25, Address: "127.0.0.1"})
	for _, order := range [][][]Job{{literal, name, literal, mapped}, {name, literal, mapped, literal}} {
		expanded := make(chan []Job, len(order))
		for _, jobs := range order {
			expanded <- jobs
		}
		close(expanded)
		out := make(chan Job, 10)
		emitJobs(context.Background(), expanded, Shard{}, out)
		close(out)
		var got []string
		for j := range out {
			got = append(got, j.Endpoint.Target+" duplicate="+strconv.FormatBool(j.Duplicate))
		}
		want := []string{"127.0.0.1 duplicate=false", "mx.test duplicate=true"}
		if order[0][0].Endpoint.Target == "mx.test" {
			want = []string{"mx.test duplicate=false", "127.0.0.1 duplicate=true"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// What is dialed is the address, port, TLS mode, service port and the SNI
// sent: two names of one address are one handshake when --sni or --no-sni
// sends the same name for both, two when each sends its own.
func TestPlanKeyIsWhatIsDialed(t *testing.T) {
	t.Parallel()
	at := func(host string, port int, implicit bool, asPort int) Endpoint {
		return Endpoint{Target: host, Host: host, Port: port, Implicit: implicit, AsPort: asPort, Address: "127.0.0.1"}
	}
	twoNames := []Endpoint{at("mx1.test", 25, false, 0), at("mx2.test", 25, false, 0)}
	cases := []struct {
		name      string
		endpoints []Endpoint
		opts      Options
		wantDial  int
		// wantJobs is how many jobs come out; 0 for one per endpoint.
		wantJobs int
	}{
		{"each name sends its own SNI", twoNames, Options{}, 2, 0},
		{"--sni sends one name", twoNames, Options{SNI: "mail.test"}, 1, 0},
		{"--sni of another case", twoNames, Options{SNI: "Mail.Test"}, 1, 0},
		{"--no-sni sends none", twoNames, Options{NoSNI: true}, 1, 0},
		{"an address as SNI sends none", twoNames, Options{SNI: "127.0.0.1"}, 1, 0},
		{"implicit TLS is another handshake", []Endpoint{at("mx.test", 25, false, 0), at("MX.test", 25, true, 0)}, Options{}, 2, 0},
		// Judged as its own port is what AsPort 0 says: the same line.
		{"the same port judged as another", []Endpoint{at("mx.test", 2525, false, 0), at("mx.test", 2525, false, 587), at("mx.test", 2525, false, 2525)}, Options{}, 2, 2},
		{"another port", []Endpoint{at("mx.test", 25, false, 0), at("mx.test", 587, false, 0)}, Options{}, 2, 0},
		{"the IPv4-mapped spelling is the same address", []Endpoint{at("mx1.test", 25, false, 0), {Target: "x", Host: "mx1.test", Port: 25, Address: "::ffff:127.0.0.1"}}, Options{}, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dial := 0
			n := 0
			for j := range Plan(context.Background(), slices.Values(tc.endpoints), Discovery{}, tc.opts, Shard{}) {
				n++
				if !j.Duplicate {
					dial++
				}
			}
			wantJobs := tc.wantJobs
			if wantJobs == 0 {
				wantJobs = len(tc.endpoints)
			}
			if n != wantJobs || dial != tc.wantDial {
				t.Errorf("%d jobs, %d to dial; want %d, %d", n, dial, wantJobs, tc.wantDial)
			}
		})
	}
}

// The shards of a run, together, give each of its jobs once, every job of
// one address in the same shard, and as many to dial as the whole run.
func TestPlanShardsSplitTheRun(t *testing.T) {
	t.Parallel()
	records := []string{
		"mx1.provider.test. 300 IN A 127.0.0.1",
		"mx1.provider.test. 300 IN A 127.0.0.2",
		"mx2.provider.test. 300 IN A 127.0.0.3",
		"own.test. 300 IN A 127.0.0.4",
		"nomail.test. 300 IN MX 0 .",
	}
	targets := []string{"own.test", "nomail.test", "absent.test", "127.0.0.1", "127.0.0.9:2525"}
	for i := range 30 {
		d := "d" + strconv.Itoa(i) + ".test"
		records = append(records, d+". 300 IN MX 10 mx"+strconv.Itoa(1+i%2)+".provider.test.")
		targets = append(targets, d)
	}
	opts := Options{Resolver: NewResolver(dnstest.New(t, records...).Addr()), Network: "ip4", Concurrency: 8}
	ports := []int{25, 587}
	id := func(j Job) string { return j.Endpoint.Target + " " + j.Key() }
	whole := planAll(t, targets, ports, Discovery{MX: true}, opts, Shard{})
	wantIDs := map[string]bool{}
	wantDial := 0
	for _, j := range whole {
		wantIDs[id(j)] = true
		if !j.Duplicate && j.Err == nil {
			wantDial++
		}
	}
	const n = 3
	gotIDs := map[string]int{}
	shardOf := map[string]int{} // destination
	gotDial := 0
	for k := range n {
		for _, j := range planAll(t, targets, ports, Discovery{MX: true}, opts, Shard{Index: k, Count: n}) {
			gotIDs[id(j)]++
			if !j.Duplicate && j.Err == nil {
				gotDial++
			}
			dest := destination(j.Endpoint)
			if s, ok := shardOf[dest]; ok && s != k {
				t.Errorf("%s is in shards %d and %d", dest, s, k)
			}
			shardOf[dest] = k
		}
	}
	for i := range wantIDs {
		if gotIDs[i] != 1 {
			t.Errorf("%s: in %d shards, want 1", i, gotIDs[i])
		}
	}
	if len(gotIDs) != len(wantIDs) || gotDial != wantDial {
		t.Errorf("shards gave %d jobs, %d to dial; the whole run %d, %d", len(gotIDs), gotDial, len(wantIDs), wantDial)
	}
	if len(shardOf) < n {
		t.Errorf("the jobs went to %d of %d shards: %v", len(shardOf), n, shardOf)
	}
}

// Lookups run opts.Concurrency at a time: 32 domains whose answers each
// take 300 ms are planned in about two answers' time (MX, then address),
// not 32 times that.
func TestPlanLooksUpInParallel(t *testing.T) {
	t.Parallel()
	var records, domains []string
	for i := range 32 {
		d := "d" + strconv.Itoa(i) + ".test"
		records = append(records, d+". 300 IN MX 10 mx."+d+".", "mx."+d+". 300 IN A 127.0.0.1")
		domains = append(domains, d)
	}
	dns := dnstest.New(t, records...)
	const delay = 300 * time.Millisecond
	dns.SetDelay(delay)
	start := time.Now()
	jobs := planAll(t, domains, []int{25}, Discovery{MX: true}, Options{Resolver: NewResolver(dns.Addr()), Network: "ip4", Concurrency: 32}, Shard{})
	took := time.Since(start)
	if len(jobs) != 32 {
		t.Fatalf("%d jobs, want 32", len(jobs))
	}
	// In turn it would take 64 delays (19 s); 16 leaves room for 2
	// loaded cores.
	if took > 16*delay {
		t.Errorf("took %s: the lookups did not run in parallel", took)
	}
}

// Cancelling the run closes the channel at once, and Plan stops reading
// the input: an endless one here.
func TestPlanStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	stopped := make(chan struct{})
	endless := func(yield func(Endpoint) bool) {
		defer close(stopped)
		for i := 0; ; i++ {
			host := "127.0." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256)
			if !yield(Endpoint{Target: host, Host: host, Port: 1 + i/65536}) {
				return
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	jobs := Plan(ctx, endless, Discovery{}, Options{}, Shard{})
	for range 100 {
		<-jobs
	}
	cancel()
	// Generous on 2 loaded cores: Plan stops in microseconds.
	timeout := time.After(10 * time.Second)
	for closed := false; !closed; {
		select {
		case _, ok := <-jobs:
			closed = !ok
		case <-timeout:
			t.Fatal("the channel was not closed 10 s after the cancel")
		}
	}
	select {
	case <-stopped:
	case <-timeout:
		t.Fatal("Plan still reads the input 10 s after the cancel")
	}
}

// Discover keeps its order with Plan's grouping: a name's ports share one
// lookup, and the ports of a target far from its first line are another
// target (and, without a cache per target, another lookup).
func TestDiscoverSharesALookupAmongATargetsPorts(t *testing.T) {
	t.Parallel()
	dns := dnstest.New(t, "pool.test. 300 IN A 127.0.0.2", "pool.test. 300 IN A 127.0.0.3")
	eps, err := Endpoints([]string{"pool.test"}, []int{25, 587, 2525}, false)
	if err != nil {
		t.Fatal(err)
	}
	// One lookup at a time: the Go resolver merges concurrent lookups of
	// one name, which would hide a second one from the count.
	jobs := Discover(context.Background(), eps, Discovery{}, Options{Resolver: NewResolver(dns.Addr()), Network: "ip4", Concurrency: 1})
	for i, j := range jobs {
		if j.Endpoint.Port != eps[i].Port || j.Endpoint.Address != "127.0.0.2" {
			t.Errorf("job %d: %+v, want port %d at 127.0.0.2", i, j.Endpoint, eps[i].Port)
		}
	}
	if n := dns.QueryCounts()["pool.test. A"]; n != 1 {
		t.Errorf("pool.test asked %d times for 3 ports, want once", n)
	}
}

// The MX-host cache is bounded: beyond its size the least recently used
// name is forgotten (and asked again if it comes back), while a host that
// keeps being asked stays. An answer that may differ on asking again (a
// timeout) is not kept; "no such host" is.
func TestHostCacheIsBounded(t *testing.T) {
	t.Parallel()
	c := newHostCache(2)
	asked := map[string]int{}
	answer := func(host string, err error) func() addrAnswer {
		return func() addrAnswer {
			asked[host]++
			return addrAnswer{err: err}
		}
	}
	for _, host := range []string{"shared", "a", "shared", "b", "shared", "c", "a"} {
		c.lookup(host, answer(host, nil))
		if c.len() > 2 {
			t.Fatalf("the cache holds %d names, more than its 2", c.len())
		}
	}
	if want := map[string]int{"shared": 1, "a": 2, "b": 1, "c": 1}; !maps.Equal(asked, want) {
		t.Errorf("asked %v, want %v", asked, want)
	}
	timeout := &net.DNSError{Err: "i/o timeout", Name: "slow", IsTimeout: true}
	notFound := &net.DNSError{Err: "no such host", Name: "gone", IsNotFound: true}
	for range 2 {
		c.lookup("slow", answer("slow", timeout))
		c.lookup("SLOW.", answer("slow", timeout))
		c.lookup("gone", answer("gone", notFound))
		c.lookup("Gone", answer("gone", notFound))
	}
	if asked["slow"] != 4 || asked["gone"] != 1 {
		t.Errorf("asked slow %d times (want 4: a timeout is not kept), gone %d (want 1)", asked["slow"], asked["gone"])
	}
}

// BenchmarkPlanMillionTargets reads a file of 1,000,000 target lines, as
// -f does, through ScanTargets and Plan, and reports the peak heap: the
// "million-line file read under 100 MB" figure of issue 14. The lines are
// address literals, so no DNS is asked and the figure is the planner's
// own, its seen-set of a million keys included: 90% distinct addresses,
// 5% lines given again and 5% the IPv4-mapped spelling of an earlier
// address, both dropped. It fails if the heap passes 100 MB. Run it once:
//
//	go test -run '^$' -bench PlanMillionTargets -benchtime 1x ./probe
func BenchmarkPlanMillionTargets(b *testing.B) {
	const lines = 1_000_000
	b.ReportAllocs()
	for b.Loop() {
		pr, pw := io.Pipe()
		go writeTargetLines(pw, lines)
		endpoints := func(yield func(Endpoint) bool) {
			defer pr.Close()
			err := ScanTargets(pr, func(target string) bool {
				eps, err := Endpoints([]string{target}, []int{25}, false)
				if err != nil {
					b.Error(err)
					return false
				}
				for _, ep := range eps {
					if !yield(ep) {
						return false
					}
				}
				return true
			}, func(e *LineError) { b.Error(e) })
			if err != nil {
				b.Error(err)
			}
		}
		runtime.GC()
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		peak, live := mem.HeapAlloc, mem.HeapAlloc
		jobs, duplicates := 0, 0
		for j := range Plan(context.Background(), endpoints, Discovery{}, Options{}, Shard{}) {
			jobs++
			if j.Duplicate {
				duplicates++
			}
			if jobs%10_000 == 0 {
				runtime.ReadMemStats(&mem)
				peak = max(peak, mem.HeapAlloc)
			}
			if jobs%100_000 == 0 {
				// What a collection leaves: the seen-sets and the
				// work in flight.
				runtime.GC()
				runtime.ReadMemStats(&mem)
				live = max(live, mem.HeapAlloc)
			}
		}
		runtime.ReadMemStats(&mem)
		if want := lines * 90 / 100; jobs != want || duplicates != 0 {
			b.Fatalf("%d jobs, %d duplicates; want %d and none", jobs, duplicates, want)
		}
		b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
		b.ReportMetric(float64(live)/1e6, "live-heap-MB")
		b.ReportMetric(float64(mem.Sys)/1e6, "sys-MB")
		if peak > 100e6 {
			b.Errorf("the heap reached %.0f MB reading %d lines: want under 100 MB", float64(peak)/1e6, lines)
		}
	}
}

// writeTargetLines writes n target lines to w (see
// BenchmarkPlanMillionTargets), then closes it.
func writeTargetLines(w *io.PipeWriter, n int) {
	bw := bufio.NewWriter(w)
	addr := func(k int) string {
		return "127." + strconv.Itoa(k>>16&255) + "." + strconv.Itoa(k>>8&255) + "." + strconv.Itoa(k&255)
	}
	k := 0
	for i := range n {
		switch i % 20 {
		case 18:
			bw.WriteString("[::ffff:" + addr(k-1) + "]:25\n")
		case 19:
			bw.WriteString(addr(k-2) + ":25\n")
		default:
			bw.WriteString(addr(k) + ":25\n")
			k++
		}
	}
	w.CloseWithError(bw.Flush())
}

// seenSet answers as a map of every key with its flag would, through many
// merges of its recent keys into the sorted ones: keys seen again, in and
// out of order, flagged before, after or never.
func TestSeenSetIsAMapOfKeys(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{1, 3, 64, seenBatch} {
		s := newSeenSet()
		s.batch = batch
		type state struct{ seen, flagged bool }
		model := map[string]state{}
		rng := rand.New(rand.NewPCG(1, uint64(batch)))
		for i := range 20000 {
			key := fmt.Sprintf("192.0.2.%d:%d", rng.IntN(60), rng.IntN(100))
			flag := rng.IntN(5) == 0
			again, flagged := s.see(key, flag)
			m := model[key]
			if again != m.seen || flagged != m.flagged {
				t.Fatalf("batch %d, step %d, key %s (flag %v): got again %v flagged %v, want %v %v", batch, i, key, flag, again, flagged, m.seen, m.flagged)
			}
			model[key] = state{seen: true, flagged: m.flagged || flag}
		}
		if batch < len(model) && len(s.sorted) == 0 {
			t.Errorf("batch %d: nothing was merged into the sorted hashes", batch)
		}
		if !slices.IsSorted(s.sorted) {
			t.Errorf("batch %d: the merged hashes are out of order", batch)
		}
	}
}
