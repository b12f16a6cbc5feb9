package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is the starttls-probe built by TestMain, shared read-only by every
// test: building it once keeps the suite fast.
var binary string

// moduleRoot is the directory of go.mod, where the binary is built from.
var moduleRoot string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "starttls-probe-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		fmt.Fprintln(os.Stderr, "e2e: cannot find go.mod:", err)
		return 1
	}
	moduleRoot = filepath.Dir(strings.TrimSpace(string(gomod)))
	binary = filepath.Join(dir, "starttls-probe")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// run is one finished run of the binary.
type run struct {
	stdout, stderr string
	code           int
}

// runLimit bounds any single run, so that a hang fails the test instead of
// stalling the suite.
const runLimit = 60 * time.Second

// runBinary runs the binary with args and the environment env (see
// environ) and waits for it.
func runBinary(t *testing.T, env []string, args ...string) run {
	t.Helper()
	return runCommand(t, env, binary, args...)
}

func runCommand(t *testing.T, env []string, name string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %q did not finish within %s", name, args, runLimit)
	case errors.As(err, &exitErr):
	case err != nil:
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return run{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// environ is this process's environment without NO_COLOR, plus extra
// (KEY=value): colour tests decide NO_COLOR themselves.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func (r run) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}
