package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"time"
)

// portsCase times the binary on one host with three ports and with one,
// alternating runs so that both see the same machine state; medians.
// The pool fleet serves them: its ports listen on 127.0.0.1 too.
func portsCase(cfg config, f *fleet, caFile string) (one, three time.Duration, err error) {
	port := func(i int) string { return strconv.Itoa(f.ports[i%len(f.ports)]) }
	base := []string{"-o", "json", "--ca-file", caFile, "--name", benchName, "--timeout", cfg.timeout.String()}
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
