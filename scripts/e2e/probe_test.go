package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

func TestRefusedPortIsCritical(t *testing.T) {
	t.Parallel()
	// A port that was free a moment ago: nothing listens, the kernel
	// refuses.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := runBinary(t, environ(), "--timeout", "5s", addr)
	if r.code != 2 {
		t.Fatalf("refused port: want exit 2, got %s", r)
	}
	if !strings.Contains(r.stdout, "refused") || !strings.Contains(r.stdout, "CRITICAL") {
		t.Errorf("refused port: the report should say so:\n%s", r)
	}
}

func TestUnknownHostIsUnknown(t *testing.T) {
	t.Parallel()
	// The lookup goes to an empty zone on loopback: tests send nothing to
	// the system's resolver.
	resolver := serveZone(t)
	r := runBinary(t, environ(), "--timeout", "5s", "--resolver", resolver, "-p", "25", "nosuch.invalid")
	if r.code != 3 {
		t.Fatalf("unknown host: want exit 3, got %s", r)
	}
	if !strings.Contains(r.stdout, "nosuch.invalid") || !strings.Contains(r.stdout, "UNKNOWN") {
		t.Errorf("unknown host: the report should name it:\n%s", r)
	}
}

// TestInterruptPrintsWhatFinished sends SIGINT while one endpoint waits for
// a banner that never comes (its timeout is 30s): the binary must stop at
// once and still print both endpoints, the interrupted one with its phase.
func TestInterruptPrintsWhatFinished(t *testing.T) {
	t.Parallel()
	// No sooner than 300ms in, as a person pressing Ctrl-C would.
	i := interruptOnceProbed(t, os.Interrupt, 300*time.Millisecond)
	r := i.run
	// The interrupted endpoint was not judged: UNKNOWN, never OK, and never
	// a CRITICAL that would page someone for a server nobody finished
	// looking at. The run's status is the worst of that and the healthy
	// endpoint's.
	if r.code == 0 || r.code == 2 {
		t.Errorf("want exit 1 or 3 (the silent endpoint is unknown), got %s", r)
	}
	silentBlock, healthyBlock := endpointBlock(r.stdout, i.silent), endpointBlock(r.stdout, i.healthy)
	if !strings.Contains(silentBlock, "interrupted") || !strings.Contains(silentBlock, "banner") || !strings.Contains(silentBlock, "UNKNOWN") {
		t.Errorf("the silent endpoint's block should say it was interrupted in the banner phase, UNKNOWN:\n%s", r)
	}
	if !strings.Contains(healthyBlock, reporttest.SHA1(i.chain.Leaf())) {
		t.Errorf("the healthy endpoint's block should show its leaf:\n%s", r)
	}
	if !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("stderr should say the run was interrupted:\n%s", r)
	}
}

// TestInterruptedShardIsRefused: a --shard run stopped by SIGTERM, as
// Kubernetes stops a pod, writes what finished and a summary line that
// says it was interrupted, exits 130 (not 0, which would make its file
// look whole, nor 3, which the example Job fails at once without a
// retry), and merge refuses its file rather than judge part of a run.
func TestInterruptedShardIsRefused(t *testing.T) {
	t.Parallel()
	r := interruptOnceProbed(t, syscall.SIGTERM, 0, "-o", "jsonl", "--shard", "0/1", "--no-tls-required-test").run
	if r.code != 130 {
		t.Errorf("interrupted shard: want exit 130, got %s", r)
	}
	if !strings.Contains(r.stderr, "interrupted: shard 0/1 is not whole") {
		t.Errorf("stderr should say the shard is not whole:\n%s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var last struct {
		Type        string
		Shard       string
		Observed    int
		Interrupted bool
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last line: %v\n%s", err, r)
	}
	// Both endpoints are written: the healthy one done, after its
	// certificate's line, the silent one stopped in its banner phase.
	if last.Type != "summary" || last.Shard != "0/1" || !last.Interrupted || last.Observed != 2 || len(lines) != 4 {
		t.Errorf("last line %+v of %d lines, want the summary of shard 0/1, interrupted, with 2 observations:\n%s", last, len(lines), r)
	}
	file := filepath.Join(t.TempDir(), "shard-0.jsonl")
	if err := os.WriteFile(file, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	merged := runBinary(t, environ(), "merge", file)
	if merged.code != 3 || !strings.Contains(merged.stderr, "shard 0/1 was interrupted, its file is not whole") || merged.stdout != "" {
		t.Errorf("merge of an interrupted shard: want exit 3, nothing on stdout and the reason, got %s", merged)
	}
}

// interrupted is a run interruptOnceProbed stopped: what it wrote, and the
// addresses of its two endpoints.
type interrupted struct {
	run
	silent, healthy string
	chain           *probetest.Chain
}

// interruptOnceProbed runs the binary with args (and a 30s --timeout) on
// two endpoints, one that never greets and a healthy one, and sends sig
// once the healthy one was probed to QUIT, and no sooner than after. The
// binary must then stop within 10s, not wait out its timeout.
func interruptOnceProbed(t *testing.T, sig os.Signal, after time.Duration, args ...string) interrupted {
	t.Helper()
	silent := probetest.NewScript(t, probetest.Script{}) // never greets
	chain := testChain(t)
	healthy := probetest.NewScript(t, probetest.Script{
		Greeting:     []string{"220 mx.test ESMTP"},
		EHLO:         []string{"250-mx.test", "250 STARTTLS"},
		EHLOAfterTLS: []string{"250 mx.test"},
		Chain:        chain,
	})
	cmd := exec.Command(binary, append(args, "--timeout", "30s", silent.Addr(), healthy.Addr())...)
	cmd.Env = environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for !slices.Contains(healthy.Commands(), "QUIT") {
		if time.Since(started) > 20*time.Second {
			cmd.Process.Kill()
			t.Fatalf("the healthy endpoint was never probed to QUIT; commands %q", healthy.Commands())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Until(started.Add(after)))
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	// A deadline assertion, not a speed one: an interrupt must not wait
	// out the 30s timeout. A third of it leaves room for a loaded machine
	// (2 cores under -race with CPU hogs beside the run) and still tells
	// "stopped at once" from "waited for the timeout".
	const limit = 10 * time.Second
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %s after %v\nstdout:\n%s\nstderr:\n%s", limit, sig, stdout.String(), stderr.String())
	}
	t.Logf("exited %s after %v", time.Since(signalled).Round(time.Millisecond), sig)
	return interrupted{run: run{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()},
		silent: silent.Addr(), healthy: healthy.Addr(), chain: chain}
}

// endpointBlock is the text report's block for the endpoint at addr: from
// its title line to the next blank line.
func endpointBlock(text, addr string) string {
	for _, block := range strings.Split(text, "\n\n") {
		if strings.HasPrefix(block, addr+" ") {
			return block
		}
	}
	return ""
}

func testChain(t *testing.T) *probetest.Chain {
	t.Helper()
	root, err := probetest.NewRootCA("e2e Test Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// TestFlagsAfterTargets: admins write "starttls-probe HOST -p 587"; the
// flags after the target apply as if they came first.
func TestFlagsAfterTargets(t *testing.T) {
	t.Parallel()
	server := probetest.NewScript(t, probetest.Script{
		Greeting: []string{"220 mx.test ESMTP"},
		EHLO:     []string{"250-mx.test", "250 SIZE 1000"},
	})
	host, port, err := net.SplitHostPort(server.Addr())
	if err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, environ(), host, "-p", port, "--timeout=5s", "-o", "json", "--no-tls-required-test")
	if r.code != 2 {
		t.Fatalf("want exit 2 (STARTTLS not offered), got %s", r)
	}
	var doc struct {
		Results []struct {
			Port            int  `json:"port"`
			STARTTLSOffered bool `json:"starttls_offered"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("-o after the target was not applied: %v\n%s", err, r)
	}
	if len(doc.Results) != 1 || fmt.Sprint(doc.Results[0].Port) != port {
		t.Errorf("-p after the target was not applied: %+v", doc.Results)
	}
	for _, cmd := range server.Commands() {
		if strings.HasPrefix(cmd, "MAIL") {
			t.Errorf("--no-tls-required-test after the target was not applied: the server got %q", cmd)
		}
	}
}
