// Command bench measures starttls-probe on loopback in one run (see
// scripts/bench.sh), for issue 14 (scale): at each endpoint count (-sizes,
// 1,000 and 20,000 by default), on two fleets of probetest servers (a
// "pool" presenting one chain everywhere, a "fleet" presenting a leaf per
// endpoint under one CA), the probe against the ceiling (a minimal Go
// STARTTLS client that verifies every chain, at the same concurrency), with
// the probe's peak RSS; at the smallest count, against what users do today
// (an openssl s_client loop, and posttls-finger when installed); one host
// with three ports against one port; with -closed-lines, a target file of
// that many closed ports. It prints a markdown table, draws it as an SVG
// (-plot) and says whether each target is met.
//
// It dials loopback only; its listeners serve loopback only (listen.go).
package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
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
	shardRounds  int
	scaleOnly    bool
	shardsOnly   bool
	shardsApart  bool
	binary       string
	sizes        []int
	jsonSizes    []int
	portsPerHost int
	// shards and shardSize: the sharded round (shards.go); 0 shards for
	// none.
	shards, shardSize int
	closedLines       int
	rssCapMB          int
	plot              string
	concurrency       int
	opensslSample     int
	fingerSample      int
	rounds            int
	repeats           int
	timeout           time.Duration
	// scan runs only the TLS scan comparison (scan.go): --tls-scan,
	// sslscan and testssl.sh against one server.
	scan                        bool
	scanRepeats, testsslRepeats int
	// ceilingOf, when set, makes this process the ceiling client over the
	// targets in that file: it runs in a process of its own, as the
	// binary does, so that neither shares a runtime with the servers.
	ceilingOf, ceilingCA string
	start                time.Time // of the whole bench, for its progress lines
}

func run() int {
	cfg := config{start: time.Now()}
	flag.StringVar(&cfg.binary, "binary", "", "starttls-probe binary to measure (required)")
	sizes := flag.String("sizes", "1000,20000", "endpoint counts, comma-separated (each a run per fleet; 100000 takes minutes)")
	jsonSizes := flag.String("json-sizes", "20000", "endpoint counts (among -sizes) also run with -o json")
	flag.IntVar(&cfg.shards, "shards", 4, "also probe -shard-size endpoints in this many --shard runs plus a merge, against one run, in CPU time (0: no)")
	flag.IntVar(&cfg.shardRounds, "shard-rounds", 5, "rounds of the sharded case (one run, side by side with the shards and the merge); the median round is kept")
	flag.IntVar(&cfg.shardSize, "shard-size", 20000, "endpoints of the sharded round (at most the largest of -sizes)")
	flag.IntVar(&cfg.portsPerHost, "ports-per-host", 3, "ports of each loopback host (127.20.0.1 up), listed one host after another; hosts = endpoints / ports")
	flag.IntVar(&cfg.closedLines, "closed-lines", 0, "also probe a target file of this many closed loopback ports (1000000: a few minutes)")
	flag.IntVar(&cfg.rssCapMB, "rss-cap-mb", 3072, "stop a probe run whose resident set passes this many MB, reporting it as over")
	flag.StringVar(&cfg.plot, "plot", "scripts/bench/scale.svg", "SVG to draw the scale rounds in (empty: none)")
	flag.IntVar(&cfg.concurrency, "concurrency", 64, "endpoints at once, for the probe and the ceiling alike")
	flag.IntVar(&cfg.opensslSample, "openssl-sample", 50, "endpoints probed by the openssl loop")
	flag.IntVar(&cfg.fingerSample, "finger-sample", 10, "endpoints probed by the posttls-finger loop (about 2 s each)")
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds of probe, ceiling and openssl runs at 1,000 endpoints, alternated (a round there lasts under a second, and this machine moves a round's ratio by ±0.04x); the median round is kept (fewer at larger counts: rounds×1000/endpoints, at least 2)")
	flag.IntVar(&cfg.repeats, "repeats", 15, "runs of the three-ports and one-port cases (the median is kept)")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "per-endpoint timeout")
	flag.BoolVar(&cfg.shardsApart, "shards-apart", false, "run each sharded round's single run before or after its shards (alternately), not side by side with them")
	flag.BoolVar(&cfg.shardsOnly, "shards-only", false, "run only the sharded round (-shards, -shard-size on the pool)")
	flag.BoolVar(&cfg.scaleOnly, "scale-only", false, "run only the scale rounds (and -o json at -json-sizes; no openssl loop, no ports case, no shards): for comparing one change")
	flag.BoolVar(&cfg.scan, "scan", false, "measure only --tls-scan against sslscan and testssl.sh (each when installed) on one server")
	flag.IntVar(&cfg.scanRepeats, "scan-repeats", 5, "with -scan, runs of --tls-scan and of sslscan (the median is kept)")
	flag.IntVar(&cfg.testsslRepeats, "testssl-repeats", 1, "with -scan, runs of testssl.sh (minutes each)")
	flag.StringVar(&cfg.ceilingOf, "ceiling-of", "", "internal: run only the ceiling client over the targets in this file and print its figures as JSON")
	flag.StringVar(&cfg.ceilingCA, "ceiling-ca", "", "internal: with -ceiling-of, the PEM root the ceiling verifies against")
	flag.Parse()
	var err error
	if cfg.sizes, err = parseSizes(*sizes); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -sizes:", err)
		return 2
	}
	if *jsonSizes != "" {
		if cfg.jsonSizes, err = parseSizes(*jsonSizes); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -json-sizes:", err)
			return 2
		}
	}
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

func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	return slices.Compact(sizes), nil
}

func bench(cfg config) error {
	root, err := probetest.NewRootCA("Bench Root")
	if err != nil {
		return err
	}
	shared, err := root.Issue(probetest.Spec{CommonName: benchName, DNSNames: []string{benchName}})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "starttls-probe-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(caFile, root.RootPEM(), 0o644); err != nil {
		return err
	}
	largest := cfg.sizes[len(cfg.sizes)-1]
	pool, err := newFleet("pool", false, root, shared, largest, cfg.portsPerHost)
	if err != nil {
		return err
	}
	defer pool.close()
	distinct, err := newFleet("fleet", true, root, shared, largest, cfg.portsPerHost)
	if err != nil {
		return err
	}
	defer distinct.close()
	fmt.Printf("bench: endpoints %v as loopback hosts of %d ports each, concurrency %d, %d CPUs, load average %s\n\n",
		cfg.sizes, len(pool.ports), cfg.concurrency, numCPU(), loadAverage())
	if !hasFlag(cfg.binary, "--no-tls-required-test") {
		return fmt.Errorf("%s has no --no-tls-required-test", cfg.binary)
	}
	warmUp(cfg, pool)
	warmUp(cfg, distinct)
	if cfg.shardsOnly {
		r, err := shardsRounds(cfg, pool, min(cfg.shardSize, largest), cfg.shards, dir, caFile)
		if err != nil {
			return err
		}
		printShards(r)
		return nil
	}

	// No --name: a batch is many hosts, each its own name (here each an
	// address, so the name check is skipped for all alike, and no name
	// groups the endpoints for the cross-endpoint checks).
	var rows []scaleRow
	for _, size := range cfg.sizes {
		for _, f := range []*fleet{pool, distinct} {
			row, err := scaleRound(cfg, f, size, dir, caFile, size == cfg.sizes[0])
			if err != nil {
				return err
			}
			rows = append(rows, row)
			// Each row as it comes, so that a run stopped early still tells.
			fmt.Printf("bench: %s %d: probe %.0f/s, ceiling %.0f/s (%.2fx), probe RSS %s, -o json %s, ceiling RSS %s; CPU per endpoint: probe %s + servers %s, ceiling %s + servers %s\n",
				f.name, size, row.probe.perSecond(), row.ceil.perSecond(), medianRatio(row.probes, row.ceils),
				rssText(row.probe), jsonRSSText(row), rssText(row.ceil),
				perEndpoint(row.probe.cpu, row.probe), perEndpoint(row.probe.serverCPU, row.probe),
				perEndpoint(row.ceil.cpu, row.ceil), perEndpoint(row.ceil.serverCPU, row.ceil))
		}
	}
	fmt.Println()
	printScaleTable(rows)
	if cfg.scaleOnly {
		return nil
	}

	// Today's tools, at the smallest count on the pool.
	first := rows[0]
	sample := make([]string, 0, cfg.opensslSample)
	for i := range min(cfg.opensslSample, first.size) {
		sample = append(sample, pool.endpoint(i*first.size/min(cfg.opensslSample, first.size)).String())
	}
	serial, err := serialProbe(cfg, sample, dir, caFile)
	if err != nil {
		return err
	}
	openssl := medianRound(first.openssls)
	fmt.Printf("\nper-endpoint latency (%s endpoints, pool)\n", thousands(float64(first.size)))
	fmt.Println("| what | endpoints/s | p50 | p99 |")
	fmt.Println("|---|---:|---:|---:|")
	latencyRow := func(m measurement) {
		fmt.Printf("| %s | %s | %s | %s |\n", m.name, thousands(m.perSecond()), msText(m.percentile(50)), msText(m.percentile(99)))
	}
	latencyRow(first.probe)
	latencyRow(*first.full)
	latencyRow(serial)
	latencyRow(openssl)
	if pf, ok := postTLSFingerLoop(spread(sample, cfg.fingerSample)); ok {
		latencyRow(pf)
	}

	one, three, err := portsCase(cfg, pool, caFile)
	if err != nil {
		return err
	}
	fmt.Printf("\none host, one port:    median %s over %d runs\n", one.Round(100*time.Microsecond), cfg.repeats)
	fmt.Printf("one host, three ports: median %s over %d runs\n", three.Round(100*time.Microsecond), cfg.repeats)

	var closed *measurement
	if cfg.closedLines > 0 {
		m, err := closedLinesRound(cfg, cfg.closedLines, dir)
		if err != nil {
			return err
		}
		closed = &m
		fmt.Printf("%s: %s results in %s, first line after %s, peak RSS %s, CPU %s\n", m.name, thousands(float64(m.endpoints)),
			m.took.Round(100*time.Millisecond), m.firstLine.Round(time.Millisecond), rssText(m), m.cpu.Round(100*time.Millisecond))
	}

	var sharded *shardsResult
	if cfg.shards > 0 {
		r, err := shardsRounds(cfg, pool, min(cfg.shardSize, largest), cfg.shards, dir, caFile)
		if err != nil {
			return err
		}
		sharded = &r
		printShards(r)
	}

	if cfg.plot != "" {
		lo, hi := loadRange(rows)
		caption := fmt.Sprintf("scripts/bench.sh -sizes %s: loopback, concurrency %d, %d CPUs, %s, 1-minute load average %s–%s",
			joinInts(cfg.sizes), cfg.concurrency, numCPU(), time.Now().UTC().Format(time.DateOnly), lo, hi)
		if err := scalePlot(cfg.plot, caption, rows); err != nil {
			return err
		}
		fmt.Printf("\nplot: %s\n", cfg.plot)
	}

	printTargets(cfg, rows, openssl, one, three, closed)
	if sharded != nil {
		met := "met"
		if float64(sharded.total()) > 1.1*float64(sharded.single) {
			met = "NOT MET"
		}
		fmt.Printf("  %d shards + merge: %.2fx the single run's CPU (target <= 1.1x): %s\n", sharded.shards, float64(sharded.total())/float64(sharded.single), met)
	}
	fmt.Printf("\nbench: done in %s, load average %s\n", time.Since(cfg.start).Round(time.Second), loadAverage())
	return nil
}

// perEndpoint is d spread over m's endpoints, in microseconds.
func perEndpoint(d time.Duration, m measurement) string {
	if m.endpoints == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(m.endpoints))
}

// printTargets says whether each of issue 14's targets, and the earlier
// ones, is met.
func printTargets(cfg config, rows []scaleRow, openssl measurement, one, three time.Duration, closed *measurement) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	fmt.Printf("\ntargets (ratios: median over a count's rounds of each round's own ratio)\n")
	for _, r := range rows {
		ratio := medianRatio(r.probes, r.ceils)
		fmt.Printf("  %-7s %7s endpoints: throughput %.2fx the verifying ceiling (target >= 0.85x): %s\n", r.fleet, thousands(float64(r.size)), ratio, verdict(ratio >= 0.85))
	}
	for _, name := range []string{"pool", "fleet"} {
		var small, large *scaleRow
		for i := range rows {
			if rows[i].fleet == name {
				if small == nil {
					small = &rows[i]
				}
				large = &rows[i]
			}
		}
		if small != nil && large.size > small.size {
			g := large.probe.rssMB() / small.probe.rssMB()
			fmt.Printf("  %-7s -o jsonl peak RSS %s at %s endpoints, %.1fx its %s at %s (target <= 1.5x): %s\n", name, rssText(large.probe),
				thousands(float64(large.size)), g, rssText(small.probe), thousands(float64(small.size)), verdict(g <= 1.5 && !large.probe.overCap))
		}
		for _, r := range rows {
			if r.fleet == name && r.json != nil && r.size == 20000 {
				fmt.Printf("  %-7s -o json peak RSS %s at 20,000 endpoints (target < 150 MB): %s\n", name, rssText(*r.json), verdict(r.json.rssMB() < 150 && !r.json.overCap))
			}
		}
	}
	if closed != nil {
		fmt.Printf("  %s-line file of closed ports: peak RSS %s (target < 100 MB): %s\n", thousands(float64(cfg.closedLines)), rssText(*closed), verdict(closed.rssMB() < 100 && !closed.overCap))
	}
	first := rows[0]
	vsFull, vsLean := first.full.perSecond()/openssl.perSecond(), first.probe.perSecond()/openssl.perSecond()
	fmt.Printf("  64-way concurrency vs a serial openssl loop: %.0fx default, %.0fx --no-tls-required-test (target >= 40x): %s\n", vsFull, vsLean, verdict(vsFull >= 40))
	fmt.Printf("  three ports vs one     %.2fx (target <= 1.3x): %s\n", float64(three)/float64(one), verdict(float64(three) <= 1.3*float64(one)))
}

// loadRange is the lowest and highest 1-minute load average the rows
// began at.
func loadRange(rows []scaleRow) (lo, hi string) {
	var loads []float64
	for _, r := range rows {
		if f, err := strconv.ParseFloat(strings.Fields(r.load)[0], 64); err == nil {
			loads = append(loads, f)
		}
	}
	if len(loads) == 0 {
		return "?", "?"
	}
	return fmt.Sprint(slices.Min(loads)), fmt.Sprint(slices.Max(loads))
}

func joinInts(ns []int) string {
	var s []string
	for _, n := range ns {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ",")
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

func runCeilingClient(cfg config) int {
	data, err := os.ReadFile(cfg.ceilingOf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	pem, err := os.ReadFile(cfg.ceilingCA)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fmt.Fprintln(os.Stderr, "bench: no certificate in", cfg.ceilingCA)
		return 1
	}
	addrs := strings.Fields(string(data))
	lat, failures, firstErr, _ := ceiling(context.Background(), addrs, cfg.concurrency, cfg.timeout, roots)
	figs := ceilingFigures{Failures: failures, Latencies: lat}
	if firstErr != nil {
		figs.FirstError = firstErr.Error()
	}
	json.NewEncoder(os.Stdout).Encode(figs)
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
