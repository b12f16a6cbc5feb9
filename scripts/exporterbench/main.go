// Command exporterbench sets starttls-probe serve beside blackbox_exporter
// (Debian's prometheus-blackbox-exporter, its example smtp_starttls module)
// on the same loopback mail servers, and soaks starttls-probe serve:
//
//   - correctness: each exporter scrapes 16 server behaviours, and each
//     answer is scored against what the behaviour is (healthy or not);
//   - speed: scrapes of a healthy server from 50 workers, probes per second
//     and p99 latency, and each exporter's RSS;
//   - soak: a bounded number of probes of every behaviour through
//     starttls-probe serve, then its goroutines, open files and RSS against
//     what they were after a warm-up.
//
// scripts/exporter-bench.sh builds the binary and runs this; the figures go
// to README.md. It sends traffic to 127.0.0.1 only.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

func main() {
	os.Exit(run())
}

// behaviour is one mail server on loopback and whether it is healthy.
type behaviour struct {
	name    string
	healthy bool
	script  probetest.Script
	addr    string
}

// the EHLO replies of a healthy server: STARTTLS before TLS, AUTH after
// (blackbox's example module expects ^250-AUTH after STARTTLS).
var (
	ehlo         = []string{"250-mx.test", "250-PIPELINING", "250-STARTTLS", "250 8BITMIME"}
	ehloAfterTLS = []string{"250-mx.test", "250-AUTH PLAIN", "250 8BITMIME"}
)

func behaviours(good, expired, selfSigned, wrongName *probetest.Chain) []*behaviour {
	ok := func(s probetest.Script) probetest.Script {
		if s.Greeting == nil {
			s.Greeting = []string{"220 mx.test ESMTP ready"}
		}
		if s.EHLO == nil {
			s.EHLO = ehlo
		}
		if s.EHLOAfterTLS == nil {
			s.EHLOAfterTLS = ehloAfterTLS
		}
		if s.STARTTLS == nil {
			s.STARTTLS = []string{"220 2.0.0 Ready to start TLS"}
		}
		if s.Chain == nil {
			s.Chain = good
		}
		return s
	}
	return []*behaviour{
		{name: "healthy", healthy: true, script: ok(probetest.Script{})},
		{name: "220- multi-line greeting", healthy: true, script: ok(probetest.Script{Greeting: []string{"220-mx.test ESMTP", "220-no UCE", "220 mx.test ESMTP ready"}})},
		{name: "220 greeting with nothing after ESMTP (RFC 5321 allows it)", healthy: true, script: ok(probetest.Script{Greeting: []string{"220 mx.test ESMTP"}})},
		{name: "STARTTLS the last EHLO line", healthy: true, script: ok(probetest.Script{EHLO: []string{"250-mx.test", "250-PIPELINING", "250 STARTTLS"}})},
		{name: "421 greeting", script: ok(probetest.Script{Greeting: []string{"421 4.3.2 mx.test Service not available"}})},
		{name: "554 greeting", script: ok(probetest.Script{Greeting: []string{"554 5.3.2 mx.test No SMTP service here"}})},
		{name: "421 to EHLO", script: ok(probetest.Script{EHLO: []string{"421 4.7.0 mx.test Try again later"}})},
		{name: "550 to EHLO", script: ok(probetest.Script{EHLO: []string{"550 5.7.1 mx.test Go away"}})},
		{name: "454 to STARTTLS", script: ok(probetest.Script{STARTTLS: []string{"454 4.7.0 TLS not available due to temporary reason"}})},
		{name: "502 to STARTTLS", script: ok(probetest.Script{STARTTLS: []string{"502 5.5.1 Not implemented"}})},
		{name: "421 to EHLO after TLS", script: ok(probetest.Script{EHLOAfterTLS: []string{"421 4.7.0 mx.test Closing"}})},
		{name: "STARTTLS not offered", script: ok(probetest.Script{EHLO: []string{"250-mx.test", "250 8BITMIME"}})},
		{name: "expired certificate", script: ok(probetest.Script{Chain: expired})},
		{name: "self-signed certificate", script: ok(probetest.Script{Chain: selfSigned})},
		{name: "wrong-name certificate", script: ok(probetest.Script{Chain: wrongName})},
		{name: "hang-up after STARTTLS 220", script: ok(probetest.Script{AfterSTARTTLS: func(c net.Conn) { c.Close() }})},
	}
}

func run() int {
	binary := flag.String("binary", "", "the starttls-probe binary to serve")
	blackbox := flag.String("blackbox", "prometheus-blackbox-exporter", "the blackbox_exporter binary")
	scrapes := flag.Int("scrapes", 3000, "scrapes of the healthy server per exporter and round, for speed")
	rounds := flag.Int("rounds", 3, "speed rounds, alternating the exporters; medians are reported")
	workers := flag.Int("concurrency", 50, "concurrent scrapes")
	soak := flag.Int("soak", 20000, "probes of the soak test, 0 for none")
	flag.Parse()
	if *binary == "" {
		fmt.Fprintln(os.Stderr, "exporterbench: -binary is required (scripts/exporter-bench.sh builds it)")
		return 3
	}
	dir, err := os.MkdirTemp("", "exporterbench-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)

	ca, err := probetest.NewRootCA("Exporter Bench Root")
	if err != nil {
		return fail(err)
	}
	good, err1 := ca.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	expired, err2 := ca.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"},
		NotBefore: time.Now().Add(-90 * 24 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	selfSigned, err3 := probetest.SelfSigned(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	wrongName, err4 := ca.Issue(probetest.Spec{CommonName: "other.test", DNSNames: []string{"other.test"}})
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return fail(err)
		}
	}
	cases := behaviours(good, expired, selfSigned, wrongName)
	for _, b := range cases {
		srv, err := probetest.StartScript(b.script)
		if err != nil {
			return fail(err)
		}
		defer srv.Close()
		b.addr = srv.Addr()
	}
	silent, err := probetest.StartScript(probetest.Script{})
	if err != nil {
		return fail(err)
	}
	defer silent.Close()

	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.RootPEM(), 0o600); err != nil {
		return fail(err)
	}
	ours := filepath.Join(dir, "starttls-probe.yml")
	// The full judgement, the TLS-required test included.
	if err := os.WriteFile(ours, []byte(fmt.Sprintf("modules:\n  smtp:\n    name: mx.test\n    ca_file: %[1]s\n    timeout: 5s\n"+
		"  smtp_no_tls_required_test:\n    name: mx.test\n    ca_file: %[1]s\n    timeout: 5s\n    tls_required_test: false\n", caFile)), 0o644); err != nil {
		return fail(err)
	}
	theirs := filepath.Join(dir, "blackbox.yml")
	// blackbox_exporter's example smtp_starttls module as Debian ships it
	// (examples/example.yml), with the trust and the name it needs to
	// verify the test certificate.
	if err := os.WriteFile(theirs, []byte(fmt.Sprintf(`modules:
  smtp_starttls:
    prober: tcp
    timeout: 5s
    tcp:
      tls_config:
        ca_file: %s
        server_name: mx.test
      query_response:
        - expect: "^220 ([^ ]+) ESMTP (.+)$"
        - send: "EHLO prober\r"
        - expect: "^250-STARTTLS"
        - send: "STARTTLS\r"
        - expect: "^220"
        - starttls: true
        - send: "EHLO prober\r"
        - expect: "^250-AUTH"
        - send: "QUIT\r"
`, caFile)), 0o644); err != nil {
		return fail(err)
	}

	us, err := start(*binary, "serve", "--config.file", ours, "--log.level", "warn")
	if err != nil {
		return fail(err)
	}
	defer us.stop()
	them, err := start(*blackbox, "--config.file", theirs, "--log.level", "warn")
	if err != nil {
		return fail(err)
	}
	defer them.stop()
	exporters := []*exporter{
		{name: "starttls-probe serve", proc: us, module: "smtp", success: ourSuccess, certSeries: "starttls_probe_cert_expiry_seconds"},
		{name: "blackbox_exporter 0.23", proc: them, module: "smtp_starttls", success: blackboxSuccess, certSeries: "probe_ssl_earliest_cert_expiry"},
	}
	// For speed only: the same probe without its plaintext MAIL FROM test,
	// which blackbox does not do either.
	quick := &exporter{name: "starttls-probe serve, tls_required_test: false", proc: us, module: "smtp_no_tls_required_test", success: ourSuccess}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}

	fmt.Println("## Correctness: 1 = the exporter's answer matches the behaviour")
	fmt.Printf("\n| behaviour | healthy | %s | %s |\n|---|---|---|---|\n", exporters[0].name, exporters[1].name)
	scores := make([]int, len(exporters))
	certKept := make([]int, len(exporters))
	for _, b := range cases {
		row := fmt.Sprintf("| %s | %v |", b.name, b.healthy)
		for i, e := range exporters {
			fams, err := e.scrape(client, b.addr, 0)
			if err != nil {
				return fail(err)
			}
			got := e.success(fams)
			right := got == b.healthy
			if right {
				scores[i]++
			}
			note := "success"
			if !got {
				note = "failure"
			}
			if strings.Contains(b.name, "certificate") {
				if _, ok := fams[e.certSeries]; ok {
					certKept[i]++
					note += ", expiry series kept"
				} else {
					note += ", no expiry series"
				}
			}
			row += fmt.Sprintf(" %s (%s) |", map[bool]string{true: "✔", false: "✘"}[right], note)
		}
		fmt.Println(row)
	}
	fmt.Printf("| **score** | | **%d/%d** | **%d/%d** |\n", scores[0], len(cases), scores[1], len(cases))

	fmt.Printf("\n## Speed: %d scrapes of the healthy server from %d workers, median of %d rounds\n\n", *scrapes, *workers, *rounds)
	fmt.Println("| exporter | probes/s | CPU per probe | p50 | p99 | RSS after | peak RSS |\n|---|---|---|---|---|---|---|")
	// One healthy server per worker: scrapes of one target in flight
	// together share a probe in starttls-probe serve, which would measure
	// the sharing rather than the probe.
	var healthy []string
	for range *workers {
		srv, err := probetest.StartScript(cases[0].script)
		if err != nil {
			return fail(err)
		}
		defer srv.Close()
		healthy = append(healthy, srv.Addr())
	}
	timed := []*exporter{exporters[0], quick, exporters[1]}
	perSecond := make([][]float64, len(timed))
	// CPU per probe, the exporter process's own: steadier than probes/s on
	// a machine whose other load moves, and what "as fast per probe" means
	// for whoever pays for the exporter's CPU.
	cpu := make([][]time.Duration, len(timed))
	p50 := make([][]time.Duration, len(timed))
	p99 := make([][]time.Duration, len(timed))
	for range *rounds {
		for i, e := range timed {
			before := e.proc.cpu()
			rate, lat, err := load(client, e, healthy, *scrapes)
			if err != nil {
				return fail(err)
			}
			cpu[i] = append(cpu[i], (e.proc.cpu()-before)/time.Duration(*scrapes))
			perSecond[i] = append(perSecond[i], rate)
			p50[i] = append(p50[i], lat[len(lat)/2])
			p99[i] = append(p99[i], lat[len(lat)*99/100])
		}
	}
	for i, e := range timed {
		rss, peak := e.proc.memory()
		fmt.Printf("| %s | %.0f | %s | %s | %s | %.1f MB | %.1f MB |\n", e.name, median(perSecond[i]), median(cpu[i]).Round(10*time.Microsecond),
			median(p50[i]).Round(100*time.Microsecond), median(p99[i]).Round(100*time.Microsecond), rss, peak)
	}

	if *soak > 0 {
		client.CloseIdleConnections()
		if !soakTest(client, exporters[0], cases, silent.Addr(), *soak, *workers) {
			return 1
		}
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "exporterbench:", err)
	return 1
}

// process is an exporter running as a process of its own.
type process struct {
	cmd  *exec.Cmd
	addr string
}

func start(binary string, args ...string) (*process, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(binary, append(args, "--web.listen-address", addr)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, addr: addr}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/-/healthy"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
	}
	p.stop()
	return nil, fmt.Errorf("%s never became healthy on %s", binary, addr)
}

func (p *process) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// memory is the process's resident and peak resident set, in MB.
func (p *process) memory() (rss, peak float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// cpu is the process's user and system time so far, from /proc (clock
// ticks of 10 ms, the kernel's USER_HZ on Linux).
func (p *process) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is the first, utime the 12th, stime the 13th.
	_, rest, ok := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// exporter is one exporter under test and how to read its answer.
type exporter struct {
	name, module, certSeries string
	proc                     *process
	success                  func(map[string]*dto.MetricFamily) bool
}

func (e *exporter) scrape(client *http.Client, target string, timeout time.Duration) (map[string]*dto.MetricFamily, error) {
	u := "http://" + e.proc.addr + "/probe?" + url.Values{"module": {e.module}, "target": {target}}.Encode()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(timeout.Seconds(), 'f', 1, 64))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s: %s", e.name, resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(strings.NewReader(string(body)))
}

func gaugeValues(fams map[string]*dto.MetricFamily, name string) []float64 {
	var out []float64
	if mf, ok := fams[name]; ok {
		for _, m := range mf.GetMetric() {
			out = append(out, m.GetGauge().GetValue())
		}
	}
	return out
}

// ourSuccess: every endpoint judged OK. A warning is a problem found (a
// certificate for another name), so it is not a healthy answer here.
func ourSuccess(fams map[string]*dto.MetricFamily) bool {
	statuses := gaugeValues(fams, "starttls_probe_status")
	return len(statuses) > 0 && !slices.ContainsFunc(statuses, func(v float64) bool { return v != 0 })
}

func blackboxSuccess(fams map[string]*dto.MetricFamily) bool {
	v := gaugeValues(fams, "probe_success")
	return len(v) == 1 && v[0] == 1
}

// load sends n scrapes from len(targets) workers, each scraping its own
// target; it returns the rate and the sorted latencies.
func load(client *http.Client, e *exporter, targets []string, n int) (float64, []time.Duration, error) {
	var next atomic.Int64
	latencies := make([]time.Duration, n)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for _, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				fams, err := e.scrape(client, target, 0)
				latencies[i] = time.Since(t)
				if err == nil && !e.success(fams) {
					err = fmt.Errorf("%s: a healthy probe failed under load", e.name)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	rate := float64(n) / time.Since(start).Seconds()
	slices.Sort(latencies)
	return rate, latencies, firstErr
}

func median[T int | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// resources are an exporter's own gauges of what it holds.
type resources struct{ goroutines, openFiles, rssMB float64 }

func readResources(client *http.Client, e *exporter) (resources, error) {
	resp, err := client.Get("http://" + e.proc.addr + "/metrics")
	if err != nil {
		return resources{}, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return resources{}, err
	}
	one := func(name string) float64 {
		if v := gaugeValues(fams, name); len(v) > 0 {
			return v[0]
		}
		return -1
	}
	return resources{one("go_goroutines"), one("process_open_fds"), one("process_resident_memory_bytes") / (1 << 20)}, nil
}

// soakTest sends n probes of every behaviour (a silent server too, each
// cut by a 1.5 s scrape timeout) and compares the exporter's goroutines,
// open files and RSS after them with after a warm-up.
func soakTest(client *http.Client, e *exporter, cases []*behaviour, silent string, n, workers int) bool {
	targets := []string{silent}
	for _, b := range cases {
		targets = append(targets, b.addr)
	}
	send := func(count int) (int, error) {
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= count {
						return
					}
					if _, err := e.scrape(client, targets[i%len(targets)], 1500*time.Millisecond); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return int(failed.Load()), nil
	}
	settle := func() (resources, error) {
		client.CloseIdleConnections()
		// Probes cut short finish their QUIT grace, idle connections
		// close, and the Go runtime returns what it freed.
		time.Sleep(5 * time.Second)
		return readResources(client, e)
	}
	warmup := min(1000, n/10)
	if _, err := send(warmup); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return false
	}
	before, err := settle()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return false
	}
	start := time.Now()
	failed, _ := send(n)
	took := time.Since(start)
	after, err := settle()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return false
	}
	_, peak := e.proc.memory()
	fmt.Printf("\n## Soak: %d probes of %d behaviours (a silent server among them) from %d workers in %s; %d scrapes failed\n\n",
		n, len(targets), workers, took.Round(time.Second), failed)
	fmt.Println("| after | goroutines | open files | RSS |\n|---|---|---|---|")
	fmt.Printf("| warm-up (%d probes) | %.0f | %.0f | %.1f MB |\n", warmup, before.goroutines, before.openFiles, before.rssMB)
	fmt.Printf("| soak | %.0f | %.0f | %.1f MB (peak %.1f MB) |\n", after.goroutines, after.openFiles, after.rssMB, peak)
	ok := true
	// Margins: a few goroutines and files come and go with the HTTP
	// server's own connections; RSS may grow by what the history keeps
	// (at most 230 probes' debug output, 64 KiB each) and the heap's slack.
	if after.goroutines > before.goroutines+5 {
		fmt.Printf("FAIL: goroutines grew from %.0f to %.0f\n", before.goroutines, after.goroutines)
		ok = false
	}
	if after.openFiles > before.openFiles+5 {
		fmt.Printf("FAIL: open files grew from %.0f to %.0f\n", before.openFiles, after.openFiles)
		ok = false
	}
	if after.rssMB > before.rssMB*1.5+16 {
		fmt.Printf("FAIL: RSS grew from %.1f MB to %.1f MB\n", before.rssMB, after.rssMB)
		ok = false
	}
	if failed > 0 {
		fmt.Printf("FAIL: %d scrapes failed\n", failed)
		ok = false
	}
	if ok {
		fmt.Println("\nok: goroutines, open files and RSS ended where they started, within the margins")
	}
	return ok
}
