package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The test starts and stops Postfix itself, through scripts/postfix/postfix.sh,
// rather than reading ports from an instance test.sh started: the test owns
// the certificates it asserts on, `go test ./...` alone is enough, and
// t.Cleanup stops the instance whichever way the test ends. The script is
// also handed this process's pid: should the process die first (go test's
// -timeout kills it without running Cleanup), the script stops the instance
// and removes its run directory itself.
const postfixScript = "../postfix/postfix.sh"

// listener is one smtpd service of the instance.
type listener struct {
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Settings are main.cf overrides for this listener, name=value without
	// spaces.
	Settings []string
}

// requirePostfix fails the test under CI=true and skips it loudly elsewhere
// when no Postfix instance can run here. Installing it is the job of
// `postfix.sh ensure`, which scripts/test.sh runs first.
func requirePostfix(t *testing.T) {
	t.Helper()
	var missing string
	if _, err := exec.LookPath("postfix"); err != nil {
		if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
			missing = "postfix is not installed"
		}
	}
	if missing == "" && os.Geteuid() != 0 {
		missing = "only root can start a Postfix instance"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: under CI=true the Postfix interop tests must run (.ci/run installs Postfix as root)", missing)
	}
	t.Skipf("SKIP: real-Postfix interop tests not run: %s (run scripts/test.sh as root: it installs Postfix when missing)", missing)
}

// freeLoopbackPorts returns n distinct ports free on 127.0.0.1, holding
// them all open until every one is chosen. Another process may still take
// one before Postfix binds it: start-up then fails, and the maillog says why.
func freeLoopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// startPostfix runs a throwaway Postfix with the listeners until the test
// ends. It returns once every listener has greeted with 220.
func startPostfix(t *testing.T, listeners []listener) {
	t.Helper()
	// Not t.TempDir: its parent is 0700, and the postfix user must traverse
	// every directory on the way to the queue.
	run, err := os.MkdirTemp("", "starttls-probe-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(run, 0o755); err != nil {
		t.Fatal(err)
	}
	var spec strings.Builder
	for _, l := range listeners {
		fmt.Fprintln(&spec, l.Addr, strings.Join(l.Settings, " "))
	}
	if err := os.WriteFile(filepath.Join(run, "listeners"), []byte(spec.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := postfixCommand("stop", run).CombinedOutput(); err != nil {
			t.Errorf("stopping postfix: %v\n%s", err, out)
		}
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(run, "maillog")); err == nil {
				t.Logf("postfix log:\n%s", log)
			}
		}
		os.RemoveAll(run)
	})
	out, err := postfixCommand("start", run, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		t.Fatalf("starting postfix: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

func postfixCommand(args ...string) *exec.Cmd {
	// No deadline here: the script bounds itself (30s for the greetings,
	// 10s for the master to exit).
	return exec.Command(postfixScript, args...)
}
