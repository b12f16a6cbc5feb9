package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
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
	silent := probetest.NewScript(t, probetest.Script{}) // never greets
	chain := testChain(t)
	healthy := probetest.NewScript(t, probetest.Script{
		Greeting:     []string{"220 mx.test ESMTP"},
		EHLO:         []string{"250-mx.test", "250 STARTTLS"},
		EHLOAfterTLS: []string{"250 mx.test"},
		Chain:        chain,
	})

	cmd := exec.Command(binary, "--timeout", "30s", silent.Addr(), healthy.Addr())
	cmd.Env = environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Interrupt once the healthy endpoint is done (it said QUIT), and no
	// sooner than 300ms in, as a person pressing Ctrl-C would.
	for !slices.Contains(healthy.Commands(), "QUIT") {
		if time.Since(started) > 20*time.Second {
			cmd.Process.Kill()
			t.Fatalf("the healthy endpoint was never probed to QUIT; commands %q", healthy.Commands())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Until(started.Add(300 * time.Millisecond)))
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	interrupted := time.Now()

	// A deadline assertion, not a speed one: Ctrl-C must not wait out the
	// 30s timeout. A third of it leaves room for a loaded machine (2 cores
	// under -race with CPU hogs beside the run) and still tells "stopped
	// at once" from "waited for the timeout".
	const limit = 10 * time.Second
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %s after SIGINT\nstdout:\n%s\nstderr:\n%s", limit, stdout.String(), stderr.String())
	}
	t.Logf("exited %s after SIGINT", time.Since(interrupted).Round(time.Millisecond))

	r := run{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	// The interrupted endpoint was not judged: UNKNOWN, never OK, and never
	// a CRITICAL that would page someone for a server nobody finished
	// looking at. The run's status is the worst of that and the healthy
	// endpoint's.
	if r.code == 0 || r.code == 2 {
		t.Errorf("want exit 1 or 3 (the silent endpoint is unknown), got %s", r)
	}
	silentBlock, healthyBlock := endpointBlock(r.stdout, silent.Addr()), endpointBlock(r.stdout, healthy.Addr())
	if !strings.Contains(silentBlock, "interrupted") || !strings.Contains(silentBlock, "banner") || !strings.Contains(silentBlock, "UNKNOWN") {
		t.Errorf("the silent endpoint's block should say it was interrupted in the banner phase, UNKNOWN:\n%s", r)
	}
	if !strings.Contains(healthyBlock, reporttest.SHA1(chain.Leaf())) {
		t.Errorf("the healthy endpoint's block should show its leaf:\n%s", r)
	}
	if !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("stderr should say the run was interrupted:\n%s", r)
	}
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
