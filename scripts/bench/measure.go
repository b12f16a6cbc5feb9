package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// measurement is one way of probing the endpoints.
type measurement struct {
	name      string
	endpoints int
	failures  int
	took      time.Duration
	latencies []time.Duration
	peakRSSKB int64 // 0 when not measured
	// overCap: the process was stopped when its resident set passed the
	// cap; peakRSSKB is then at least the cap, took the time until then.
	overCap bool
	// firstLine is how long the first result line took, 0 when not
	// measured.
	firstLine time.Duration
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

func (m measurement) rssMB() float64 { return float64(m.peakRSSKB) / 1024 }

// medianRound is the round of median duration.
func medianRound(rounds []measurement) measurement {
	s := slices.Clone(rounds)
	slices.SortFunc(s, func(a, b measurement) int { return int(a.took - b.took) })
	// Of an even count, the faster of the middle two, for the probe and
	// the ceiling alike.
	return s[(len(s)-1)/2]
}

// medianRatio is the median over rounds of a's throughput over b's in the
// same round.
func medianRatio(a, b []measurement) float64 {
	var ratios []float64
	for i := range min(len(a), len(b)) {
		ratios = append(ratios, a[i].perSecond()/b[i].perSecond())
	}
	slices.Sort(ratios)
	if n := len(ratios); n%2 == 0 {
		// Of an even count, the mean of the middle two: two rounds give
		// their mean, not the better of them.
		return (ratios[n/2-1] + ratios[n/2]) / 2
	}
	return ratios[len(ratios)/2]
}

// runMeasured runs cmd and returns its peak resident set in KB: the
// kernel's high-water mark (VmHWM in /proc/PID/status), read every 10 ms
// until the process exits, so a peak reached in its last 10 ms is missed.
// Not wait4's ru_maxrss: Go starts a child with vfork semantics, sharing
// the parent's memory until exec, and Linux keeps the larger of that
// memory's high-water mark and the child's own, so every child of a bench
// holding 100,000 certificates would report the bench's 1.5 GB (measured:
// /bin/true started by a Go process holding 300 MB reports 303 MB).
//
// The process is killed once its VmHWM passes capKB (0: no cap), so that
// a run whose memory grows with its input cannot take a shared machine's
// memory.
//
// Files in closeAfterStart are the child's: they are closed here once it
// has started, so that a reader of the other end sees it end with the child.
func runMeasured(cmd *exec.Cmd, capKB int64, closeAfterStart ...*os.File) (peakKB int64, overCap bool, err error) {
	err = cmd.Start()
	for _, f := range closeAfterStart {
		f.Close()
	}
	if err != nil {
		return 0, false, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if kb := vmHWM(status); kb > peakKB {
			peakKB = kb
		}
		if capKB > 0 && peakKB > capKB && !overCap {
			overCap = true
			cmd.Process.Kill()
		}
		select {
		case err := <-done:
			if overCap {
				err = nil
			}
			return peakKB, overCap, err
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

// processCPU is a finished process's user and system time.
func processCPU(cmd *exec.Cmd) time.Duration {
	if cmd.ProcessState == nil {
		return 0
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// probeLine is the part of a result (a JSONL line, or an element of -o
// json's results) the bench reads. Only "endpoint" lines are endpoints
// (JSONL's other types are groups, shared endpoints and the summary); a
// line without a type, from a binary older than the types, is one when it
// has timings.
type probeLine struct {
	Type      string                    `json:"type"`
	Error     *struct{ Message string } `json:"error"`
	TimingsMS *struct{ Total float64 }  `json:"timings_ms"`
}

// runProbe runs the binary once over every endpoint, reading its output as
// it comes (a 1,000,000-line run's output is not kept); latency per
// endpoint is the binary's own total for it, peak RSS the kernel's for the
// process. args must hold -o jsonl or -o json.
func runProbe(binary, name string, args []string, capKB int64) (measurement, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// A pipe of our own, not StdoutPipe: Wait closes that one when the
	// process exits, which can lose output not read yet.
	stdout, w, err := os.Pipe()
	if err != nil {
		return measurement{}, err
	}
	defer stdout.Close()
	cmd.Stdout = w
	m := measurement{name: name}
	parsed := make(chan error, 1)
	server0, start := serverCPU(), time.Now()
	go func() { parsed <- readResults(stdout, slices.Contains(args, "jsonl"), start, &m) }()
	peak, overCap, err := runMeasured(cmd, capKB, w)
	m.took = time.Since(start)
	perr := <-parsed
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		return m, fmt.Errorf("%s: %w", binary, err)
	}
	m.peakRSSKB, m.overCap, m.cpu, m.serverCPU = peak, overCap, processCPU(cmd), serverCPU()-server0
	if overCap {
		return m, nil
	}
	if perr != nil {
		return m, fmt.Errorf("%s: %w", name, perr)
	}
	if m.endpoints == 0 {
		return m, fmt.Errorf("%s: no results; stderr: %s", name, stderr.String())
	}
	return m, nil
}

// readResults counts results and their latencies from r: JSONL lines, or
// one JSON document's results.
func readResults(r io.Reader, jsonl bool, start time.Time, m *measurement) error {
	defer io.Copy(io.Discard, r)
	add := func(l probeLine) {
		if l.TimingsMS == nil || l.Type != "" && l.Type != "endpoint" {
			return
		}
		m.endpoints++
		if l.Error != nil {
			m.failures++
		}
		m.latencies = append(m.latencies, time.Duration(l.TimingsMS.Total*float64(time.Millisecond)))
	}
	if !jsonl {
		var doc struct{ Results []probeLine }
		if err := json.NewDecoder(r).Decode(&doc); err != nil {
			return fmt.Errorf("bad JSON document: %w", err)
		}
		for _, l := range doc.Results {
			add(l)
		}
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if m.firstLine == 0 {
			m.firstLine = time.Since(start)
		}
		var l probeLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("bad JSONL line: %w", err)
		}
		add(l)
	}
	return sc.Err()
}

// ceilingFigures is what the ceiling process reports.
type ceilingFigures struct {
	Failures   int
	FirstError string `json:",omitempty"`
	Latencies  []time.Duration
}

// runCeiling runs the ceiling client in a process of its own, timed and
// measured the same way as the binary.
func runCeiling(cfg config, targets, caFile string) (measurement, error) {
	self, err := os.Executable()
	if err != nil {
		return measurement{}, err
	}
	cmd := exec.Command(self, "-ceiling-of", targets, "-ceiling-ca", caFile,
		"-concurrency", strconv.Itoa(cfg.concurrency), "-timeout", cfg.timeout.String())
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	server0, start := serverCPU(), time.Now()
	peak, _, err := runMeasured(cmd, 0)
	if err != nil {
		return measurement{}, fmt.Errorf("ceiling client: %w", err)
	}
	m := measurement{name: "ceiling: minimal Go STARTTLS client, verifying", took: time.Since(start), peakRSSKB: peak,
		cpu: processCPU(cmd), serverCPU: serverCPU() - server0}
	var figs ceilingFigures
	if err := json.Unmarshal(stdout.Bytes(), &figs); err != nil {
		return m, fmt.Errorf("ceiling client: %w", err)
	}
	m.endpoints, m.failures, m.latencies = len(figs.Latencies), figs.Failures, figs.Latencies
	if figs.Failures > 0 {
		return m, fmt.Errorf("ceiling client: %d of %d endpoints failed, the first %s", figs.Failures, m.endpoints, figs.FirstError)
	}
	return m, nil
}
