package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// shardsResult is the CPU a run costs whole, and split into shards then
// merged (issue 14's target: the shards and the merge within 1.1× the single
// run's CPU in total).
type shardsResult struct {
	endpoints, shards int
	single, merge     time.Duration
	shardCPU          []time.Duration
	// singleKB, shardKB and mergeKB are peak RSS: the single run's, the
	// largest shard's, and the merge's, which holds only the hosts whose
	// endpoints it has not all read yet.
	singleKB, shardKB, mergeKB int64
	load                       string
	// rounds is how many rounds this one is the median of, ratios every
	// round's ratio in order, and apart whether the single runs ran apart
	// from the shards (-shards-apart).
	rounds int
	ratios []float64
	apart  bool
}

func (r shardsResult) total() time.Duration {
	t := r.merge
	for _, c := range r.shardCPU {
		t += c
	}
	return t
}

// shardsRounds runs shardsRound cfg.shardRounds times and keeps the round
// whose ratio is the median: the rounds' CPU times move by a fifth on a
// shared machine from one minute to the next.
func shardsRounds(cfg config, f *fleet, size, n int, dir, caFile string) (shardsResult, error) {
	var rounds []shardsResult
	for round := range max(1, cfg.shardRounds) {
		// Apart, every other round the shards go first, as in the scale
		// rounds (scale.go), so that the machine's drift weighs on both
		// sides.
		order := singleFirst
		switch {
		case !cfg.shardsApart:
			order = sideBySide
		case round%2 == 1:
			order = singleLast
		}
		r, err := shardsRound(cfg, f, size, n, dir, caFile, order)
		if err != nil {
			return r, err
		}
		fmt.Printf("bench: shards round: %.2fx (one run %s CPU, shards and merge %s)\n", r.ratio(), r.single.Round(time.Millisecond), r.total().Round(time.Millisecond))
		rounds = append(rounds, r)
	}
	slices.SortFunc(rounds, func(a, b shardsResult) int { return cmp.Compare(a.ratio(), b.ratio()) })
	median := rounds[len(rounds)/2]
	median.rounds = len(rounds)
	for _, r := range rounds {
		median.ratios = append(median.ratios, r.ratio())
	}
	median.apart = cfg.shardsApart
	return median, nil
}

func (r shardsResult) ratio() float64 { return float64(r.total()) / float64(r.single) }

// roundOrder is when a shards round runs its single run.
type roundOrder int

const (
	// sideBySide runs the single run while the shards and the merge run
	// one after another: both sides meet the machine as it is in the same
	// minute. CPU time, not wall time, is compared, and the machine's
	// speed drifts by up to a half between minutes (one run took 11.9 s of
	// CPU, the next 18.5 s): one after the other, rounds of one build
	// ranged over 0.97-1.16x; side by side, over 1.08-1.12x, and two
	// single runs of one build side by side differ by at most 1.1%.
	sideBySide roundOrder = iota
	singleFirst
	singleLast
)

// shardsRound probes size endpoints of f once whole and once as n shards,
// then merges the shards, and checks that the merge reports every
// endpoint; order says when the single run goes.
func shardsRound(cfg config, f *fleet, size, n int, dir, caFile string, order roundOrder) (shardsResult, error) {
	res := shardsResult{endpoints: size, shards: n, load: loadAverage()}
	targets := filepath.Join(dir, fmt.Sprintf("shards-%d.txt", size))
	if err := f.writeTargets(targets, size); err != nil {
		return res, err
	}
	// The shards take how to probe, the single run and the merge also
	// what to judge against.
	probing := []string{"-o", "jsonl", "--no-tls-required-test", "-f", targets, "--concurrency", strconv.Itoa(cfg.concurrency),
		"--timeout", cfg.timeout.String()}
	args := slices.Concat(probing, []string{"--ca-file", caFile})
	fmt.Printf("bench: %d endpoints whole and in %d shards, then merged, load average %s\n", size, n, res.load)
	single := func() (err error) {
		res.single, res.singleKB, err = runToFile(cfg.binary, args, os.DevNull)
		return err
	}
	merged := filepath.Join(dir, "merged.jsonl")
	sharded := func() error {
		var files []string
		for k := range n {
			file := filepath.Join(dir, fmt.Sprintf("shard-%d.jsonl", k))
			cpu, peak, err := runToFile(cfg.binary, append([]string{"--shard", fmt.Sprintf("%d/%d", k, n)}, probing...), file)
			if err != nil {
				return err
			}
			res.shardCPU = append(res.shardCPU, cpu)
			res.shardKB = max(res.shardKB, peak)
			files = append(files, file)
		}
		// The merge writes what the single run writes, JSONL, so that the
		// two sides render the same.
		cpu, peak, err := runToFile(cfg.binary, append([]string{"merge", "-o", "jsonl", "--ca-file", caFile}, files...), merged)
		res.merge, res.mergeKB = cpu, peak
		return err
	}
	var err error
	switch order {
	case sideBySide:
		// Both finish before the round returns, whichever fails.
		singleDone := make(chan error, 1)
		go func() { singleDone <- single() }()
		err = cmp.Or(sharded(), <-singleDone)
	case singleFirst:
		if err = single(); err == nil {
			err = sharded()
		}
	case singleLast:
		if err = sharded(); err == nil {
			err = single()
		}
	}
	if err != nil {
		return res, err
	}
	out, err := os.Open(merged)
	if err != nil {
		return res, err
	}
	defer out.Close()
	var m measurement
	if err := readResults(out, true, time.Now(), &m); err != nil {
		return res, fmt.Errorf("merge: %w", err)
	}
	if m.endpoints != size {
		return res, fmt.Errorf("merge reported %d endpoints of %d", m.endpoints, size)
	}
	return res, nil
}

// runToFile runs the binary with stdout to path and returns its user and
// system CPU time and peak RSS; exit statuses 1 and 2 are findings, not
// failures.
func runToFile(binary string, args []string, path string) (cpu time.Duration, peakKB int64, err error) {
	out, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()
	cmd := exec.Command(binary, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	peakKB, _, err = runMeasured(cmd, 0)
	if _, isExit := err.(*exec.ExitError); err != nil && (!isExit || cmd.ProcessState.ExitCode() > 2) {
		return 0, 0, fmt.Errorf("%s %v: %v: %s", binary, args, err, stderr.String())
	}
	return processCPU(cmd), peakKB, nil
}

func printShards(r shardsResult) {
	how := "side by side"
	if r.apart {
		how = "apart"
	}
	var ratios []string
	for _, x := range r.ratios {
		ratios = append(ratios, fmt.Sprintf("%.2fx", x))
	}
	fmt.Printf("\n%d endpoints (pool), the median of %d rounds (%s), single run %s: one run %s CPU; %d shards %v + merge %s = %s CPU, %.2fx (target <= 1.1x), load average %s\n",
		r.endpoints, r.rounds, strings.Join(ratios, " "), how, r.single.Round(time.Millisecond), r.shards, roundAll(r.shardCPU), r.merge.Round(time.Millisecond),
		r.total().Round(time.Millisecond), r.ratio(), r.load)
	fmt.Printf("peak RSS: one run %d MB, the largest shard %d MB, merge -o jsonl %d MB\n", r.singleKB>>10, r.shardKB>>10, r.mergeKB>>10)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
