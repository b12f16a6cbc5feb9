//go:build !unix

package main

import "time"

// serverCPU is 0 where getrusage does not exist (Windows): the benchmark is
// run on Linux, and this file only keeps `GOOS=windows go vet ./...` (run
// by scripts/test.sh) building the whole module.
func serverCPU() time.Duration { return 0 }
