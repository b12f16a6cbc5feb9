//go:build unix

package main

import (
	"os"
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

// childMaxRSSKB is a finished child's peak resident set in KB: wait4's
// ru_maxrss, which Linux gives in KB.
func childMaxRSSKB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}
