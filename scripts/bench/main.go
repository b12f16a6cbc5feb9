// Command bench measures starttls-probe on loopback in one run (see
// scripts/bench.sh): 1,000 STARTTLS endpoints served by probetest across
// several listeners, against the ceiling (a minimal Go STARTTLS client at the
// same concurrency), against what users do today (an openssl s_client loop,
// and posttls-finger when installed), and one host with three ports against
// one port. It prints the figures and whether each target is met.
//
// It listens and dials on 127.0.0.1 only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

func main() {
	os.Exit(run())
}

type config struct {
	binary        string
	endpoints     int
	listeners     int
	addresses     int
	concurrency   int
	opensslSample int
	fingerSample  int
	rounds        int
	repeats       int
	timeout       time.Duration
	// scan runs only the TLS scan comparison (scan.go): --tls-scan,
	// sslscan and testssl.sh against one server.
	scan                        bool
	scanRepeats, testsslRepeats int
	// ceilingOf, when set, makes this process the ceiling client over the
	// targets in that file: it runs in a process of its own, as the
	// binary does, so that neither shares a runtime with the servers.
	ceilingOf string
}

func run() int {
	var cfg config
	flag.StringVar(&cfg.binary, "binary", "", "starttls-probe binary to measure (required)")
	flag.IntVar(&cfg.endpoints, "endpoints", 1000, "endpoints per run")
	flag.IntVar(&cfg.listeners, "listeners", 1000, "loopback listeners serving them (each endpoint its own when equal)")
	flag.IntVar(&cfg.addresses, "addresses", 50, "loopback addresses the listeners are spread over (127.0.0.1 up)")
	flag.IntVar(&cfg.concurrency, "concurrency", 64, "endpoints at once, for the probe and the ceiling alike")
	flag.IntVar(&cfg.opensslSample, "openssl-sample", 50, "endpoints probed by the openssl loop")
	flag.IntVar(&cfg.fingerSample, "finger-sample", 10, "endpoints probed by the posttls-finger loop (about 2 s each)")
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds of probe, ceiling and openssl runs, alternated; the median round is kept")
	flag.IntVar(&cfg.repeats, "repeats", 15, "runs of the three-ports and one-port cases (the median is kept)")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "per-endpoint timeout")
	flag.BoolVar(&cfg.scan, "scan", false, "measure only --tls-scan against sslscan and testssl.sh (each when installed) on one server")
	flag.IntVar(&cfg.scanRepeats, "scan-repeats", 5, "with -scan, runs of --tls-scan and of sslscan (the median is kept)")
	flag.IntVar(&cfg.testsslRepeats, "testssl-repeats", 1, "with -scan, runs of testssl.sh (minutes each)")
	flag.StringVar(&cfg.ceilingOf, "ceiling-of", "", "internal: run only the ceiling client over the targets in this file and print its figures as JSON")
	flag.Parse()
	if cfg.ceilingOf != "" {
		return runCeilingClient(cfg)
	}
	if cfg.binary == "" {
		fmt.Fprintln(os.Stderr, "bench: -binary is required")
		return 2
	}
	if cfg.scan {
		if err := scanCase(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		return 0
	}
	if err := bench(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// fixture is the loopback servers and the files the binary is given.
type fixture struct {
	servers []*probetest.Server
	addrs   []string // one per endpoint, cycling over the servers
	dir     string
	caFile  string
	targets string
}

func setUp(cfg config) (*fixture, error) {
	root, err := probetest.NewRootCA("Bench Root")
	if err != nil {
		return nil, err
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "bench.test", DNSNames: []string{"bench.test"}})
	if err != nil {
		return nil, err
	}
	f := &fixture{}
	// Listeners spread over several loopback addresses, as a batch spreads
	// over many hosts; the first few share 127.0.0.1 for the ports case.
	perAddress := max(3, (cfg.listeners+cfg.addresses-1)/cfg.addresses)
	for i := range cfg.listeners {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 1+i/perAddress))
		if err != nil {
			f.close()
			return nil, fmt.Errorf("listen (Linux serves all of 127.0.0.0/8 on lo): %w", err)
		}
		f.servers = append(f.servers, probetest.Serve(l, probetest.Config{Chain: chain, Domain: "bench.test"}))
	}
	for i := range cfg.endpoints {
		f.addrs = append(f.addrs, f.servers[i%len(f.servers)].Addr())
	}
	if f.dir, err = os.MkdirTemp("", "starttls-probe-bench-"); err != nil {
		f.close()
		return nil, err
	}
	f.caFile = filepath.Join(f.dir, "root.pem")
	f.targets = filepath.Join(f.dir, "targets.txt")
	if err := os.WriteFile(f.caFile, root.RootPEM(), 0o644); err != nil {
		return f, err
	}
	return f, os.WriteFile(f.targets, []byte(strings.Join(f.addrs, "\n")+"\n"), 0o644)
}

func (f *fixture) close() {
	for _, s := range f.servers {
		s.Close()
	}
	if f.dir != "" {
		os.RemoveAll(f.dir)
	}
}

// measurement is one way of probing the endpoints.
type measurement struct {
	name      string
	endpoints int
	failures  int
	took      time.Duration
	latencies []time.Duration
	peakRSSKB int64 // 0 when not measured
	// cpu is the measured process's user and system time; serverCPU the
	// bench process's own over the same run, which is the servers'. Both 0
	// when not measured.
	cpu, serverCPU time.Duration
}

func (m measurement) perSecond() float64 { return float64(m.endpoints) / m.took.Seconds() }

func (m measurement) percentile(p int) time.Duration {
	if len(m.latencies) == 0 {
		return 0
	}
	s := slices.Clone(m.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func bench(cfg config) error {
	f, err := setUp(cfg)
	if err != nil {
		return err
	}
	defer f.close()
	ctx := context.Background()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("bench: %d STARTTLS endpoints on %d loopback listeners over %d addresses, concurrency %d, %d CPUs, median of %d rounds, load average %s\n\n",
		cfg.endpoints, cfg.listeners, min(cfg.addresses, cfg.listeners), cfg.concurrency, numCPU(), cfg.rounds, strings.Join(strings.Fields(string(load))[:3], " "))

	// Warm up the servers and the page cache once, unmeasured.
	ceiling(ctx, f.addrs[:min(100, len(f.addrs))], cfg.concurrency, cfg.timeout)

	// No --name: a batch is many hosts, each its own name (here each an
	// address, so the name check is skipped for all alike).
	probeArgs := []string{"-f", f.targets, "--concurrency", strconv.Itoa(cfg.concurrency), "-o", "jsonl",
		"--timeout", cfg.timeout.String(), "--ca-file", f.caFile}
	// The probe and the ceiling alternate, round after round, so that both
	// see the same machine; each keeps its median round.
	lean := hasFlag(cfg.binary, "--no-tls-required-test")
	// The openssl sample is spread over the endpoints (every listener
	// address alike), and looped in every round, so that each ratio below
	// compares runs made under the same load.
	sample := spread(f.addrs, cfg.opensslSample)
	var fulls, leans, ceils, openssls []measurement
	for range cfg.rounds {
		m, err := runProbe(cfg.binary, "starttls-probe (default, with the TLS-required test)", probeArgs)
		if err != nil {
			return err
		}
		fulls = append(fulls, m)
		if lean {
			m, err := runProbe(cfg.binary, "starttls-probe --no-tls-required-test", append(probeArgs, "--no-tls-required-test"))
			if err != nil {
				return err
			}
			leans = append(leans, m)
		}
		c, err := runCeiling(cfg, f.targets)
		if err != nil {
			return err
		}
		ceils = append(ceils, c)
		openssls = append(openssls, opensslLoop(sample))
	}
	full, ceil, openssl := medianRound(fulls), medianRound(ceils), medianRound(openssls)
	all := []measurement{full}
	best, bests := full, fulls
	if lean {
		best, bests = medianRound(leans), leans
		all = append(all, best)
	}
	all = append(all, ceil, openssl)
	if pf, ok := postTLSFingerLoop(spread(f.addrs, cfg.fingerSample)); ok {
		all = append(all, pf)
	}

	fmt.Printf("%-48s %9s %9s %10s %10s %9s %8s %8s %10s\n", "what", "endpoints", "failures", "endpoints/s", "p50", "p99", "peak RSS", "CPU", "server CPU")
	for _, m := range all {
		rss, cpu, serverCPU := "-", "-", "-"
		if m.peakRSSKB > 0 {
			rss = fmt.Sprintf("%.1f MB", float64(m.peakRSSKB)/1024)
		}
		if m.cpu > 0 {
			cpu, serverCPU = m.cpu.Round(10*time.Millisecond).String(), m.serverCPU.Round(10*time.Millisecond).String()
		}
		fmt.Printf("%-48s %9d %9d %10.0f %10s %9s %8s %8s %10s\n", m.name, m.endpoints, m.failures, m.perSecond(),
			m.percentile(50).Round(10*time.Microsecond), m.percentile(99).Round(10*time.Microsecond), rss, cpu, serverCPU)
	}

	one, three, err := portsCase(cfg, f)
	if err != nil {
		return err
	}
	fmt.Printf("\none host, one port:    median %s over %d runs\n", one.Round(100*time.Microsecond), cfg.repeats)
	fmt.Printf("one host, three ports: median %s over %d runs\n\n", three.Round(100*time.Microsecond), cfg.repeats)

	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	fmt.Printf("targets\n")
	// Each ratio is the median of the rounds' own ratios: both sides of
	// one ratio ran back to back, under the same load.
	vsCeilFull, vsCeilLean := medianRatio(fulls, ceils), medianRatio(bests, ceils)
	vsOpensslFull, vsOpensslLean := medianRatio(fulls, openssls), medianRatio(bests, openssls)
	fmt.Printf("  (ratios: median over the %d rounds of each round's own ratio)\n", cfg.rounds)
	// The default run is what users run: the TLS-required test's MAIL
	// FROM:<> and RSET share the main connection, one round trip more than
	// the ceiling. --no-tls-required-test does the ceiling's dialogue plus
	// the EHLO after TLS.
	fmt.Printf("  throughput vs ceiling  %.2fx default (target >= 0.8x): %s\n", vsCeilFull, verdict(vsCeilFull >= 0.8))
	fmt.Printf("                         %.2fx --no-tls-required-test: %s\n", vsCeilLean, verdict(vsCeilLean >= 0.8))
	fmt.Printf("  throughput vs openssl  %.0fx default (target >= 40x): %s\n", vsOpensslFull, verdict(vsOpensslFull >= 40))
	fmt.Printf("                         %.0fx --no-tls-required-test: %s\n", vsOpensslLean, verdict(vsOpensslLean >= 40))
	fmt.Printf("  peak RSS               %.1f MB at %d endpoints (target < 100 MB): %s\n", float64(full.peakRSSKB)/1024, full.endpoints, verdict(full.peakRSSKB < 100*1024))
	fmt.Printf("  three ports vs one     %.2fx (target <= 1.3x): %s\n", float64(three)/float64(one), verdict(float64(three) <= 1.3*float64(one)))
	if full.failures > 0 || ceil.failures > 0 || openssl.failures > 0 {
		return fmt.Errorf("%d probe, %d ceiling and %d openssl endpoints failed: the figures are not comparable", full.failures, ceil.failures, openssl.failures)
	}
	return nil
}

// medianRatio is the median over rounds of a's throughput over b's in the
// same round.
func medianRatio(a, b []measurement) float64 {
	var ratios []float64
	for i := range min(len(a), len(b)) {
		ratios = append(ratios, a[i].perSecond()/b[i].perSecond())
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2]
}

// spread picks n addresses evenly over addrs, so that a sample covers every
// listener address, not only the first.
func spread(addrs []string, n int) []string {
	n = min(n, len(addrs))
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, addrs[i*len(addrs)/n])
	}
	return out
}

// processCPU is a finished process's user and system time.
func processCPU(cmd *exec.Cmd) time.Duration {
	if cmd.ProcessState == nil {
		return 0
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// medianRound is the round of median duration.
func medianRound(rounds []measurement) measurement {
	s := slices.Clone(rounds)
	slices.SortFunc(s, func(a, b measurement) int { return int(a.took - b.took) })
	return s[len(s)/2]
}

// ceilingFigures is what the ceiling process reports.
type ceilingFigures struct {
	Failures  int
	Latencies []time.Duration
}

func runCeilingClient(cfg config) int {
	data, err := os.ReadFile(cfg.ceilingOf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	addrs := strings.Fields(string(data))
	lat, failures, _ := ceiling(context.Background(), addrs, cfg.concurrency, cfg.timeout)
	json.NewEncoder(os.Stdout).Encode(ceilingFigures{Failures: failures, Latencies: lat})
	return 0
}

// runCeiling runs the ceiling client in a process of its own, timed and
// measured the same way as the binary.
func runCeiling(cfg config, targets string) (measurement, error) {
	self, err := os.Executable()
	if err != nil {
		return measurement{}, err
	}
	cmd := exec.Command(self, "-ceiling-of", targets, "-concurrency", strconv.Itoa(cfg.concurrency), "-timeout", cfg.timeout.String())
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	server0, start := serverCPU(), time.Now()
	peak, err := runWatchingRSS(cmd)
	if err != nil {
		return measurement{}, fmt.Errorf("ceiling client: %w", err)
	}
	m := measurement{name: "ceiling: minimal Go STARTTLS client", took: time.Since(start), peakRSSKB: peak,
		cpu: processCPU(cmd), serverCPU: serverCPU() - server0}
	var figs ceilingFigures
	if err := json.Unmarshal(stdout.Bytes(), &figs); err != nil {
		return m, fmt.Errorf("ceiling client: %w", err)
	}
	m.endpoints, m.failures, m.latencies = len(figs.Latencies), figs.Failures, figs.Latencies
	return m, nil
}

// runWatchingRSS runs cmd and returns its peak resident set in KB: the
// kernel's high-water mark (VmHWM in /proc/PID/status), read until the
// process exits. wait4's ru_maxrss is not used: some sandboxes report the
// largest of all children there.
func runWatchingRSS(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peak int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if kb := vmHWM(status); kb > peak {
			peak = kb
		}
		select {
		case err := <-done:
			return peak, err
		case <-tick.C:
		}
	}
}

func vmHWM(statusFile string) int64 {
	data, err := os.ReadFile(statusFile)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

func numCPU() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func hasFlag(binary, flag string) bool {
	out, _ := exec.Command(binary, "--help").CombinedOutput()
	return bytes.Contains(out, []byte(flag))
}

// runProbe runs the binary once over every endpoint; latency per endpoint
// is the binary's own total for it, peak RSS the kernel's for the process.
func runProbe(binary, name string, args []string) (measurement, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	server0, start := serverCPU(), time.Now()
	peak, err := runWatchingRSS(cmd)
	took := time.Since(start)
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		return measurement{}, fmt.Errorf("%s: %w", binary, err)
	}
	m := measurement{name: name, took: took, peakRSSKB: peak, cpu: processCPU(cmd), serverCPU: serverCPU() - server0}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var r struct {
			Error     *struct{ Message string } `json:"error"`
			TimingsMS struct{ Total float64 }   `json:"timings_ms"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return m, fmt.Errorf("%s: bad JSONL line: %w", name, err)
		}
		m.endpoints++
		if r.Error != nil {
			m.failures++
		}
		m.latencies = append(m.latencies, time.Duration(r.TimingsMS.Total*float64(time.Millisecond)))
	}
	if m.endpoints == 0 {
		return m, fmt.Errorf("%s: no results; stderr: %s", name, stderr.String())
	}
	return m, nil
}

// opensslLoop is what an admin runs today: one s_client per endpoint, one
// after another. Its stdin is empty, so it hangs up right after the
// handshake.
func opensslLoop(addrs []string) measurement {
	m := measurement{name: "openssl s_client -starttls smtp loop", endpoints: len(addrs)}
	start := time.Now()
	for _, a := range addrs {
		t0 := time.Now()
		cmd := exec.Command("openssl", "s_client", "-starttls", "smtp", "-connect", a, "-servername", "bench.test")
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("BEGIN CERTIFICATE")) {
			m.failures++
		}
		m.latencies = append(m.latencies, time.Since(t0))
	}
	m.took = time.Since(start)
	return m
}

// postTLSFingerLoop runs Postfix's posttls-finger the same way, when it is
// installed. It needs a main.cf, even an empty one.
func postTLSFingerLoop(addrs []string) (measurement, bool) {
	path, err := exec.LookPath("posttls-finger")
	if err != nil {
		fmt.Println("posttls-finger: not installed, not measured")
		return measurement{}, false
	}
	conf, err := os.MkdirTemp("", "posttls-finger-")
	if err != nil {
		return measurement{}, false
	}
	defer os.RemoveAll(conf)
	if os.WriteFile(filepath.Join(conf, "main.cf"), nil, 0o644) != nil {
		return measurement{}, false
	}
	m := measurement{name: "posttls-finger loop", endpoints: len(addrs)}
	start := time.Now()
	for _, a := range addrs {
		host, port, _ := strings.Cut(a, ":")
		t0 := time.Now()
		cmd := exec.Command(path, "-c", "-l", "may", "["+host+"]:"+port)
		cmd.Env = append(os.Environ(), "MAIL_CONFIG="+conf)
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("TLS connection established")) {
			m.failures++
		}
		m.latencies = append(m.latencies, time.Since(t0))
	}
	m.took = time.Since(start)
	return m, true
}

// portsCase times the binary on one host with three ports and with one,
// alternating runs so that both see the same machine state; medians.
func portsCase(cfg config, f *fixture) (one, three time.Duration, err error) {
	port := func(i int) string { return strconv.Itoa(f.servers[i%len(f.servers)].Port()) }
	base := []string{"-o", "json", "--ca-file", f.caFile, "--name", "bench.test", "--timeout", cfg.timeout.String()}
	oneArgs := append(slices.Clone(base), "-p", port(0), "127.0.0.1")
	threeArgs := append(slices.Clone(base), "-p", port(0), "-p", port(1), "-p", port(2), "127.0.0.1")
	var ones, threes []time.Duration
	for range cfg.repeats {
		for _, c := range []struct {
			args []string
			into *[]time.Duration
		}{{oneArgs, &ones}, {threeArgs, &threes}} {
			start := time.Now()
			if out, err := exec.Command(cfg.binary, c.args...).CombinedOutput(); err != nil {
				if _, isExit := err.(*exec.ExitError); !isExit {
					return 0, 0, fmt.Errorf("%s: %w: %s", cfg.binary, err, out)
				}
			}
			*c.into = append(*c.into, time.Since(start))
		}
	}
	slices.Sort(ones)
	slices.Sort(threes)
	return ones[len(ones)/2], threes[len(threes)/2], nil
}
