//go:build unix

package main

import (
	"syscall"
	"time"
)

// serverCPU is this process's user and system time so far: the servers',
// as nothing else here does real work while a run is measured.
func serverCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
