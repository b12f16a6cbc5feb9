package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scaleRow is one endpoint count on one fleet: the medians of its rounds.
type scaleRow struct {
	size          int
	fleet         string
	probe, ceil   measurement // probe: -o jsonl --no-tls-required-test
	probes, ceils []measurement
	// full is the probe by default (with the TLS-required test), json the
	// probe with -o json; nil where not run.
	full, json *measurement
	// openssls is the openssl loop, once per round, where run.
	openssls []measurement
	load     string
}

// roundsAt is how many rounds an endpoint count gets: cfg.rounds at 1,000,
// fewer above (a 20,000-endpoint run is long enough to average itself), but
// at least two: one pair of runs a minute or more long moved by ±0.05x
// with what else the machine did meanwhile (0.82x and 0.89x at 100,000,
// two runs of the same code).
func roundsAt(cfg config, size int) int {
	return max(min(2, cfg.rounds), min(cfg.rounds, cfg.rounds*1000/size))
}

// scaleRound probes the first size endpoints of f with the probe and the
// ceiling, alternated round after round so that both see the same machine.
func scaleRound(cfg config, f *fleet, size int, dir, caFile string, first bool) (scaleRow, error) {
	row := scaleRow{size: size, fleet: f.name, load: loadAverage()}
	targets := filepath.Join(dir, fmt.Sprintf("%s-%d.txt", f.name, size))
	if err := f.writeTargets(targets, size); err != nil {
		return row, err
	}
	capKB := int64(cfg.rssCapMB) << 10
	base := []string{"-f", targets, "--concurrency", strconv.Itoa(cfg.concurrency),
		"--timeout", cfg.timeout.String(), "--ca-file", caFile}
	lean := append(slices.Clone(base), "-o", "jsonl", "--no-tls-required-test")
	var fulls []measurement
	sample := make([]string, 0, cfg.opensslSample)
	for i := range min(cfg.opensslSample, size) {
		sample = append(sample, f.endpoint(i*size/min(cfg.opensslSample, size)).String())
	}
	fmt.Printf("bench: %s, %d endpoints, %d rounds, load average %s, %s in\n", f.name, size, roundsAt(cfg, size), row.load, time.Since(cfg.start).Round(time.Second))
	for round := range roundsAt(cfg, size) {
		// Every other round the ceiling goes first, so that what the
		// machine does over a long round (its load, the servers' memory)
		// weighs on both alike.
		probeFirst := round%2 == 0
		var c measurement
		var err error
		if !probeFirst {
			if c, err = runCeiling(cfg, targets, caFile); err != nil {
				return row, err
			}
		}
		m, err := runProbe(cfg.binary, "starttls-probe -o jsonl --no-tls-required-test", lean, capKB)
		if err != nil {
			return row, err
		}
		row.probes = append(row.probes, m)
		if probeFirst {
			if c, err = runCeiling(cfg, targets, caFile); err != nil {
				return row, err
			}
		}
		row.ceils = append(row.ceils, c)
		if first && !cfg.scaleOnly {
			m, err := runProbe(cfg.binary, "starttls-probe -o jsonl (default, with the TLS-required test)", append(slices.Clone(base), "-o", "jsonl"), capKB)
			if err != nil {
				return row, err
			}
			fulls = append(fulls, m)
			row.openssls = append(row.openssls, opensslLoop(sample))
		}
	}
	row.probe, row.ceil = medianRound(row.probes), medianRound(row.ceils)
	if first && !cfg.scaleOnly {
		full := medianRound(fulls)
		row.full = &full
	}
	if slices.Contains(cfg.jsonSizes, size) {
		m, err := runProbe(cfg.binary, "starttls-probe -o json --no-tls-required-test", append(slices.Clone(base), "-o", "json", "--no-tls-required-test"), capKB)
		if err != nil {
			return row, err
		}
		row.json = &m
	}
	for _, m := range append(append([]measurement{row.probe, row.ceil}, row.openssls...), derefs(row.full, row.json)...) {
		if m.failures > 0 && !m.overCap {
			return row, fmt.Errorf("%s: %d of %d endpoints failed: the figures are not comparable", m.name, m.failures, m.endpoints)
		}
	}
	return row, nil
}

func derefs(ms ...*measurement) []measurement {
	var out []measurement
	for _, m := range ms {
		if m != nil {
			out = append(out, *m)
		}
	}
	return out
}

func loadAverage() string {
	load, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(load)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// printScaleTable prints the rounds as the README's markdown table.
func printScaleTable(rows []scaleRow) {
	fmt.Println("| endpoints | fleet | probe endpoints/s | ceiling endpoints/s | probe ÷ ceiling | probe peak RSS, `-o jsonl` | `-o json` | ceiling peak RSS | probe p50 / p99 | load average |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		json := jsonRSSText(r)
		fmt.Printf("| %s | %s | %s | %s | %.2f× | %s | %s | %s | %s / %s | %s |\n",
			thousands(float64(r.size)), r.fleet, thousands(r.probe.perSecond()), thousands(r.ceil.perSecond()),
			medianRatio(r.probes, r.ceils), rssText(r.probe), json, rssText(r.ceil),
			msText(r.probe.percentile(50)), msText(r.probe.percentile(99)), r.load)
	}
}

func jsonRSSText(r scaleRow) string {
	if r.json == nil {
		return "-"
	}
	return rssText(*r.json)
}

func rssText(m measurement) string {
	if m.overCap {
		return fmt.Sprintf("> %.0f MB (stopped)", m.rssMB())
	}
	return fmt.Sprintf("%.0f MB", m.rssMB())
}

func msText(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// scalePlot draws endpoints/s and peak RSS against endpoint count, probe
// and ceiling, pool and fleet.
func scalePlot(path, caption string, rows []scaleRow) error {
	colours := map[string]string{"probe": "#1f63c6", "ceiling": "#d9822b", "json": "#7a3db8"}
	find := func(name string, list []series) int {
		for i, s := range list {
			if s.label == name {
				return i
			}
		}
		return -1
	}
	var rate, rss []series
	add := func(list []series, label, colour string, dashed bool, p point) []series {
		i := find(label, list)
		if i < 0 {
			list = append(list, series{label: label, colour: colour, dashed: dashed})
			i = len(list) - 1
		}
		list[i].points = append(list[i].points, p)
		return list
	}
	for _, r := range rows {
		x, dashed := float64(r.size), r.fleet == "fleet"
		rate = add(rate, "probe, "+r.fleet, colours["probe"], dashed, point{x, r.probe.perSecond()})
		rate = add(rate, "ceiling, "+r.fleet, colours["ceiling"], dashed, point{x, r.ceil.perSecond()})
		rss = add(rss, "probe -o jsonl, "+r.fleet, colours["probe"], dashed, point{x, r.probe.rssMB()})
		rss = add(rss, "ceiling, "+r.fleet, colours["ceiling"], dashed, point{x, r.ceil.rssMB()})
		if r.json != nil {
			rss = add(rss, "probe -o json, "+r.fleet, colours["json"], dashed, point{x, r.json.rssMB()})
		}
	}
	return writePlot(path, caption, []panel{
		{title: "Throughput (concurrency 64)", unit: "endpoints/s", series: rate},
		{title: "Peak RSS", unit: "MB", series: rss},
	})
}

// closedLinesRound writes n target lines of loopback ports nothing listens
// on (each answers a connect with a reset at once) and measures the probe
// reading and probing them: peak RSS, wall time, and when its first line
// came out.
func closedLinesRound(cfg config, n int, dir string) (measurement, error) {
	ports, err := closedPorts(40)
	if err != nil {
		return measurement{}, err
	}
	addresses := (n + len(ports) - 1) / len(ports)
	if addresses > 250*256 {
		return measurement{}, fmt.Errorf("-closed-lines: at most %d", 250*256*len(ports))
	}
	path := filepath.Join(dir, "closed.txt")
	out, err := os.Create(path)
	if err != nil {
		return measurement{}, err
	}
	var b strings.Builder
	for i := range n {
		// One host's ports after another, as a batch lists them.
		host := i / len(ports)
		a := netip.AddrFrom4([4]byte{127, 30, byte(host / 250), byte(1 + host%250)})
		b.WriteString(netip.AddrPortFrom(a, uint16(ports[i%len(ports)])).String())
		b.WriteByte('\n')
		if b.Len() > 1<<20 {
			out.WriteString(b.String())
			b.Reset()
		}
	}
	out.WriteString(b.String())
	if err := out.Close(); err != nil {
		return measurement{}, err
	}
	fmt.Printf("bench: %s lines of closed loopback ports (%d ports × %d addresses), load average %s\n",
		thousands(float64(n)), len(ports), addresses, loadAverage())
	args := []string{"-f", path, "-o", "jsonl", "--no-tls-required-test", "--concurrency", strconv.Itoa(cfg.concurrency), "--timeout", "5s"}
	return runProbe(cfg.binary, fmt.Sprintf("starttls-probe -f (%s closed ports) -o jsonl", thousands(float64(n))), args, int64(cfg.rssCapMB)<<10)
}

// closedPorts finds n ports below the ephemeral range that nothing listens
// on, on any address (the bench's own listeners listen on every address):
// binding one on 127.30.0.1 succeeds only then.
func closedPorts(n int) ([]int, error) {
	var ports []int
	for p := 20000; p < 32000 && len(ports) < n; p += 7 {
		l, err := net.Listen("tcp4", "127.30.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found %d free ports, want %d", len(ports), n)
	}
	return ports, nil
}

// warmUp makes the servers' and the page cache's first connections
// unmeasured.
func warmUp(cfg config, f *fleet) {
	var addrs []string
	for i := range 100 {
		addrs = append(addrs, f.endpoint(i).String())
	}
	ceiling(context.Background(), addrs, cfg.concurrency, cfg.timeout, nil)
}
