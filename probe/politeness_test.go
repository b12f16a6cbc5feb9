package probe_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// connWatch sees the probe from the servers' side: how many connections
// are live at once across every listener that shares it, and how many
// there were in all.
type connWatch struct {
	mu                sync.Mutex
	live, most, total int
}

func (w *connWatch) opened() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.live++
	w.total++
	w.most = max(w.most, w.live)
}

func (w *connWatch) ended() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.live--
}

func (w *connWatch) counts() (most, total int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.most, w.total
}

// watchedListener counts a go-smtp test server's connections in watch and
// calls greet before each banner (to hold it back).
type watchedListener struct {
	net.Listener
	watch *connWatch
	greet func()
}

func (l *watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// Counted before the banner is written: before the probe can know
	// the connection exists.
	l.watch.opened()
	return &watchedConn{Conn: c, l: l}, nil
}

type watchedConn struct {
	net.Conn
	l       *watchedListener
	greeted bool // go-smtp writes from the connection's one goroutine
	end     sync.Once
}

func (c *watchedConn) Write(p []byte) (int, error) {
	if !c.greeted {
		c.greeted = true
		if c.l.greet != nil {
			c.l.greet()
		}
	}
	if bytes.HasPrefix(p, []byte("221 ")) {
		// The reply to QUIT: no longer live from here, counted down
		// before the probe can read it and move on to its next
		// connection, so that the count never lags behind the probe.
		c.end.Do(c.l.watch.ended)
	}
	return c.Conn.Write(p)
}

func (c *watchedConn) Close() error {
	c.end.Do(c.l.watch.ended)
	return c.Conn.Close()
}

// watchedServer starts a go-smtp server without TLS on ip (a loopback
// address) whose connections watch counts; the probe says EHLO and QUIT.
func watchedServer(t *testing.T, ip string, watch *connWatch, greet func()) *probetest.Server {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	s := probetest.Serve(&watchedListener{Listener: l, watch: watch, greet: greet}, probetest.Config{})
	t.Cleanup(func() { s.Close() })
	return s
}

// politeOptions probe without the TLS-required test: one connection per
// endpoint, banner, EHLO, QUIT.
func politeOptions() probe.Options {
	return probe.Options{EHLOName: ehloName, Timeout: 30 * time.Second, NoTLSRequiredTest: true}
}

// heldFor greets after d: each connection is live that long at least, so
// that connections run at once are seen at once.
func heldFor(d time.Duration) func() { return func() { time.Sleep(d) } }

func checkAllAnswered(t *testing.T, results []probe.Result) {
	t.Helper()
	for _, r := range results {
		if r.Error != nil || r.Banner == nil {
			t.Errorf("%s (%s): error %v, banner %v; want a complete dialogue", r.Endpoint.Target, r.Endpoint, r.Error, r.Banner)
		}
	}
}

// Forty endpoints of one address, on four ports, at a concurrency of 16:
// the server never sees more than DefaultAddressConcurrency (2) of them
// at once, and every one is probed.
func TestAddressConcurrencyBoundsOneAddress(t *testing.T) {
	t.Parallel()
	watch := &connWatch{}
	var jobs []probe.Job
	for range 4 {
		s := watchedServer(t, "127.0.0.1", watch, heldFor(30*time.Millisecond))
		for i := range 10 {
			ep := endpointOf(s)
			ep.Target = fmt.Sprintf("mx%d.test", i)
			jobs = append(jobs, probe.Job{Endpoint: ep})
		}
	}
	opts := politeOptions()
	opts.Concurrency = 16
	results := probe.Run(context.Background(), jobs, opts, nil)
	checkAllAnswered(t, results)
	most, total := watch.counts()
	if total != len(jobs) {
		t.Errorf("the servers saw %d connections, want %d (one per endpoint)", total, len(jobs))
	}
	if most != probe.DefaultAddressConcurrency {
		// More is the bound broken; fewer would be a scheduler that
		// serializes what it may run at once (16 workers, 30 ms each).
		t.Errorf("at most %d connections at once to one address, want exactly %d", most, probe.DefaultAddressConcurrency)
	}
}

// A busy address does not stall the others: the first jobs, of address A,
// get banners only once every job of address B has finished. A scheduler
// that made its workers wait for A's slots would leave none for B.
func TestBusyAddressDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	const perAddress = 6
	var (
		bDone    atomic.Int32
		released = make(chan struct{})
		release  sync.Once
	)
	t.Cleanup(func() { release.Do(func() { close(released) }) })
	waitForB := func() {
		// Not forever: a broken scheduler must fail the test, not hang
		// it. Long enough never to be what lets A go when B can finish.
		select {
		case <-released:
		case <-time.After(20 * time.Second):
		}
	}
	var jobs []probe.Job
	for range 3 {
		s := watchedServer(t, "127.0.0.1", &connWatch{}, waitForB)
		for range perAddress / 3 {
			jobs = append(jobs, probe.Job{Endpoint: endpointOf(s)})
		}
	}
	b := watchedServer(t, "127.0.0.2", &connWatch{}, nil)
	for i := range perAddress {
		ep := endpointOf(b)
		ep.Target, ep.Host = fmt.Sprintf("b%d.test", i), fmt.Sprintf("b%d.test", i)
		jobs = append(jobs, probe.Job{Endpoint: ep})
	}
	opts := politeOptions()
	opts.Concurrency = 4
	var order []string
	results := probe.Run(context.Background(), jobs, opts, func(i int, r probe.Result) {
		order = append(order, r.Address)
		if r.Address == "127.0.0.2" && bDone.Add(1) == perAddress {
			release.Do(func() { close(released) })
		}
	})
	checkAllAnswered(t, results)
	for i, address := range order[:perAddress] {
		if address != "127.0.0.2" {
			t.Errorf("result %d to finish was of %s, want every one of 127.0.0.2 before any of the busy 127.0.0.1 (order %v)", i+1, address, order)
			break
		}
	}
}

// ConnectRate spaces new connections: eleven at 20 a second take at least
// the ten intervals between them, 500 ms. Only a lower bound is asserted:
// a loaded machine makes a run slower, never faster, so the bound holds on
// two busy cores where an upper one would flake.
func TestConnectRateSpacesConnections(t *testing.T) {
	t.Parallel()
	watch := &connWatch{}
	s := watchedServer(t, "127.0.0.1", watch, nil)
	jobs := make([]probe.Job, 11)
	for i := range jobs {
		jobs[i] = probe.Job{Endpoint: endpointOf(s)}
	}
	opts := politeOptions()
	opts.Concurrency, opts.AddressConcurrency = len(jobs), len(jobs)
	opts.ConnectRate = 20
	start := time.Now()
	results := probe.Run(context.Background(), jobs, opts, nil)
	took := time.Since(start)
	checkAllAnswered(t, results)
	// 450 ms, not 500: the limiter's first token is there at once and
	// timers may fire a little early against time.Now.
	if took < 450*time.Millisecond {
		t.Errorf("11 connections at 20 a second took %s, want at least 450 ms", took)
	}
	if _, total := watch.counts(); total != len(jobs) {
		t.Errorf("the server saw %d connections, want %d", total, len(jobs))
	}
}

// Waiting for the rate limit does not count against the timeout: five
// endpoints at 2 connections a second wait up to 2 s for their turn, twice
// their 1 s timeout, and every one still finishes its dialogue.
func TestConnectRateWaitIsNotTimeout(t *testing.T) {
	t.Parallel()
	s := watchedServer(t, "127.0.0.1", &connWatch{}, nil)
	jobs := make([]probe.Job, 5)
	for i := range jobs {
		jobs[i] = probe.Job{Endpoint: endpointOf(s)}
	}
	opts := politeOptions()
	opts.Timeout = time.Second
	opts.Concurrency, opts.AddressConcurrency = len(jobs), len(jobs)
	opts.ConnectRate = 2
	start := time.Now()
	results := probe.Run(context.Background(), jobs, opts, nil)
	checkAllAnswered(t, results)
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("5 connections at 2 a second took %s, want at least 1.5 s: the limit was not applied, so the test proves nothing", took)
	}
}

// The scan's connections wait for the rate too, and that wait does not
// count against the scan's timeout: a TLS 1.3-only server costs the probe
// 1 connection and the scan 12 (four versions, seven groups, one without
// SNI); at 8 a second they take 1.5 s, beyond the 1 s timeout, and the
// scan still runs through with every version tested.
func TestConnectRateWaitIsNotScanTimeout(t *testing.T) {
	t.Parallel()
	chain, _, _ := twoKeyChains(t, false)
	s := probetest.NewServer(t, probetest.Config{Chain: chain, MinVersion: tls.VersionTLS13})
	opts := politeOptions()
	opts.Timeout = time.Second
	opts.TLSScan = true
	opts.ConnectRate = 8
	start := time.Now()
	r := probe.Run(context.Background(), []probe.Job{{Endpoint: endpointOf(s)}}, opts, nil)[0]
	took := time.Since(start)
	if r.Error != nil || r.Scan == nil {
		t.Fatalf("probe: error %v, scan %v; want a probe and a scan", r.Error, r.Scan)
	}
	if r.Scan.Error != nil {
		t.Errorf("scan stopped: %v; waiting for the rate must not use up its time", r.Scan.Error)
	}
	for _, v := range r.Scan.Versions {
		if v.Outcome == probe.NotTested {
			t.Errorf("%s not tested: %v", tls.VersionName(v.Version), v.Err)
		}
	}
	// A lower bound only (load slows a run, never speeds it up): 1 + the
	// scan's handshakes at 8 a second, less an interval of slack.
	if want := time.Duration(r.Scan.Handshakes-1) * time.Second / 8; took < want {
		t.Errorf("%d connections at 8 a second took %s, want at least %s: the rate was not applied to the scan", 1+r.Scan.Handshakes, took, want)
	}
}
