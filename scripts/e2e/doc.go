// Package e2e tests the built starttls-probe binary as a user runs it: it
// builds the binary once, runs it with os/exec against loopback probetest
// servers or its own demo, and checks exit codes, stdout and stderr. It holds
// no code besides its tests.
package e2e
