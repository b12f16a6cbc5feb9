package probe_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The servers run in the benchmark's own process, beside the probe and the
// ceiling alike, so that both sides face the same servers sharing the CPU
// the same way (scripts/bench runs both as processes of their own, against
// servers in a third). To see where the time goes:
//
//	go test ./probe -run '^$' -bench . -benchtime 2000x -cpuprofile cpu.prof \
//	    -blockprofile block.prof -mutexprofile mutex.prof -o probe.test
//	go tool pprof -top -cum probe.test cpu.prof
//
// On two CPUs the probe's own work beyond the ceiling's (EHLO after TLS,
// MAIL FROM:<> and RSET, the transcript) costs little throughput here: both
// are bound by the TLS handshakes, client and server. The block profile
// shows workers waiting only for the next job; the mutex profile shows no
// contention.

// benchListeners is how many loopback listeners serve the benchmark's
// endpoints: several, as a batch of real hosts would be.
const benchListeners = 8

func benchServers(b *testing.B) []string {
	b.Helper()
	root, err := probetest.NewRootCA("Bench Root")
	if err != nil {
		b.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "bench.test", DNSNames: []string{"bench.test"}})
	if err != nil {
		b.Fatal(err)
	}
	var addrs []string
	for range benchListeners {
		addrs = append(addrs, probetest.NewServer(b, probetest.Config{Chain: chain, Domain: "bench.test"}).Addr())
	}
	return addrs
}

// benchJobs are n endpoints spread over addrs, as targets on the command
// line become them.
func benchJobs(b *testing.B, addrs []string, n int) []probe.Job {
	b.Helper()
	targets := make([]string, n)
	for i := range targets {
		targets[i] = addrs[i%len(addrs)]
	}
	eps, err := probe.Endpoints(targets, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	jobs := make([]probe.Job, len(eps))
	for i, ep := range eps {
		jobs[i] = probe.Job{Endpoint: ep}
	}
	return jobs
}

// BenchmarkRun probes b.N loopback STARTTLS endpoints at the default
// concurrency, as a batch does; compare with BenchmarkCeiling.
func BenchmarkRun(b *testing.B) {
	for _, tlsRequiredTest := range []bool{true, false} {
		name := "with-tls-required-test"
		if !tlsRequiredTest {
			name = "without-tls-required-test"
		}
		b.Run(name, func(b *testing.B) {
			jobs := benchJobs(b, benchServers(b), b.N)
			opts := probe.Options{EHLOName: "bench.test", NoTLSRequiredTest: !tlsRequiredTest}
			b.ResetTimer()
			results := probe.Run(context.Background(), jobs, opts, nil)
			b.StopTimer()
			for _, r := range results {
				if r.Error != nil {
					b.Fatalf("%s: %v", r.Endpoint, r.Error)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "endpoints/s")
		})
	}
}

// BenchmarkCeiling is the least a STARTTLS probe can do against the same
// servers at the same concurrency: connect, banner, EHLO, STARTTLS,
// handshake, QUIT, nothing recorded.
func BenchmarkCeiling(b *testing.B) {
	jobs := benchJobs(b, benchServers(b), b.N)
	next := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan error, b.N)
	b.ResetTimer()
	for range probe.DefaultConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for addr := range next {
				if err := minimalSTARTTLS(addr); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, job := range jobs {
		next <- job.Endpoint.String()
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "endpoints/s")
}

func minimalSTARTTLS(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	step := func(w io.Writer, r *bufio.Reader, cmd, code string) error {
		if cmd != "" {
			if _, err := io.WriteString(w, cmd+"\r\n"); err != nil {
				return err
			}
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if !strings.HasPrefix(line, code) {
				return &net.AddrError{Err: "unexpected reply " + line, Addr: addr}
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	if err := step(c, r, "", "220"); err != nil {
		return err
	}
	if err := step(c, r, "EHLO bench.test", "250"); err != nil {
		return err
	}
	if err := step(c, r, "STARTTLS", "220"); err != nil {
		return err
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "bench.test"})
	if err := tc.Handshake(); err != nil {
		return err
	}
	return step(tc, bufio.NewReader(tc), "QUIT", "221")
}
