package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
)

// batchResult is the part of a JSON result the batch tests read.
type batchResult struct {
	Type         string `json:"type"`
	Target       string `json:"target"`
	Host         string `json:"host"`
	Address      string `json:"address"`
	Port         int    `json:"port"`
	Status       string `json:"status"`
	ExpectedName string `json:"expected_name"`
	Error        *struct {
		Phase   string `json:"phase"`
		Message string `json:"message"`
	} `json:"error"`
	Checks []struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"checks"`
}

func writeTargets(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// parseJSONL returns the endpoint lines of a JSONL run, and checks that
// every line is one JSON object with a type and that the summary line
// comes last, when the run got that far.
func parseJSONL(t *testing.T, out string) []batchResult {
	t.Helper()
	var rs []batchResult
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, line := range lines {
		var r batchResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", line, err)
		}
		switch {
		case r.Type == "endpoint":
			rs = append(rs, r)
		case r.Type == "summary" && i != len(lines)-1:
			t.Errorf("the summary line is line %d of %d, not the last", i+1, len(lines))
		case r.Type == "":
			t.Errorf("line %q has no type", line)
		}
	}
	return rs
}

// TestBatchFileOrderAndBadLines: a file mixing good targets, comments and
// bad lines. Every bad line is reported with its number, every good one is
// probed, and the report keeps the file's order although the silent server
// finishes last.
func TestBatchFileOrderAndBadLines(t *testing.T) {
	t.Parallel()
	chain := testChain(t)
	fast1 := probetest.NewServer(t, probetest.Config{Chain: chain})
	silent := probetest.NewScript(t, probetest.Script{}) // never greets
	fast2 := probetest.NewServer(t, probetest.Config{Chain: chain})
	file := writeTargets(t,
		"# pool nodes",
		fast1.Addr(),
		"not a target",
		silent.Addr()+"   # the stuck node",
		"",
		fast2.Addr(),
		"mail.test:99999",
	)

	r := runBinary(t, environ(), "--timeout", "2s", "-o", "json", "-f", file)
	if r.code != 2 {
		t.Errorf("want exit 2 (the silent node is critical), got %s", r)
	}
	for _, want := range []string{file + ":3:", file + ":7:", "hint:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not report %q:\n%s", want, r.stderr)
		}
	}
	if n := strings.Count(r.stderr, "starttls-probe: error:"); n != 2 {
		t.Errorf("want 2 error lines, one per bad line, got %d:\n%s", n, r.stderr)
	}
	var doc struct{ Results []batchResult }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
	want := []string{fast1.Addr(), silent.Addr(), fast2.Addr()}
	if len(doc.Results) != len(want) {
		t.Fatalf("got %d results, want %d", len(doc.Results), len(want))
	}
	for i, w := range want {
		if doc.Results[i].Target != w {
			t.Errorf("result %d is %s, want %s (the file's order)", i, doc.Results[i].Target, w)
		}
	}

	// Text keeps the same order. The servers' root is not trusted here, a
	// warning: a bad line (UNKNOWN) must not hide it.
	r = runBinary(t, environ(), "--timeout", "2s", "-f", writeTargets(t, fast2.Addr(), "bad target!", fast1.Addr()))
	if r.code != 1 {
		t.Errorf("warned targets plus a bad line: want exit 1, got %s", r)
	}
	i1, i2 := strings.Index(r.stdout, fast2.Addr()+" "), strings.Index(r.stdout, fast1.Addr()+" ")
	if i1 < 0 || i2 < 0 || i1 > i2 {
		t.Errorf("text report is not in the file's order (%d, %d):\n%s", i1, i2, r.stdout)
	}
}

// TestBatchFromStdin: "-f -" reads the pipe. Both endpoints are fine (the
// root is trusted), so the one bad line alone makes the run UNKNOWN: not
// everything asked for was checked.
func TestBatchFromStdin(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("e2e Stdin Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(caFile, root.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	a := probetest.NewServer(t, probetest.Config{Chain: chain})
	b := probetest.NewServer(t, probetest.Config{Chain: chain})
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--timeout", "5s", "-o", "jsonl", "-f", "-", "--name", "mx.test", "--ca-file", caFile)
	cmd.Env = environ()
	cmd.Stdin = strings.NewReader("# from a pipe\n" + a.Addr() + "\n" + "bad target!\n" + b.Addr() + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(stderr.String(), "stdin:3:") {
		t.Errorf("want exit 3 and stdin:3 reported, got exit %d, stderr:\n%s", code, stderr.String())
	}
	rs := parseJSONL(t, stdout.String())
	if len(rs) != 2 {
		t.Fatalf("want 2 JSON lines, got %d:\n%s\n%s", len(rs), stdout.String(), stderr.String())
	}
	got := map[string]bool{rs[0].Target: true, rs[1].Target: true}
	if !got[a.Addr()] || !got[b.Addr()] {
		t.Errorf("targets %v, want %s and %s", got, a.Addr(), b.Addr())
	}
	for _, r := range rs {
		if r.Error != nil || r.ExpectedName != "mx.test" {
			t.Errorf("%s: error %+v, expected name %q", r.Target, r.Error, r.ExpectedName)
		}
	}
}

// TestJSONLStreams: the fast endpoint's line must arrive while the silent
// one is still waiting, long before the run ends. They are two hosts: the
// ports of one host are judged together, when its last one is done.
func TestJSONLStreams(t *testing.T) {
	t.Parallel()
	silent := silentListener(t, "127.0.0.2:0")
	fast := probetest.NewServer(t, probetest.Config{Chain: testChain(t)})
	const timeout = 4 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--timeout", timeout.String(), "-o", "jsonl", silent.Addr(), fast.Addr())
	cmd.Env = environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("no first line: %v", lines.Err())
	}
	firstAt := time.Since(started)
	first := parseJSONL(t, lines.Text())[0]
	if first.Target != fast.Addr() {
		t.Errorf("first line is %s, want the fast endpoint %s", first.Target, fast.Addr())
	}
	if firstAt >= timeout {
		t.Errorf("first line came after %s, not before the silent endpoint's %s timeout: not streamed", firstAt, timeout)
	}
	if !lines.Scan() {
		t.Fatalf("no second line: %v", lines.Err())
	}
	second := parseJSONL(t, lines.Text())[0]
	if second.Target != silent.Addr() || second.Error == nil || second.Error.Phase != "banner" {
		t.Errorf("second line = %+v, want the silent endpoint failing at banner", second)
	}
	cmd.Wait()
	if took := time.Since(started); took > timeout+5*time.Second {
		t.Errorf("run took %s, want within the %s timeout plus a margin", took, timeout)
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
}

// serveZone answers DNS from records on loopback until the test ends and
// returns its address for --resolver; unknown names get NXDOMAIN.
func serveZone(t *testing.T, records ...string) string {
	t.Helper()
	return dnstest.New(t, records...).Addr().String()
}

// TestMXWholeDomain: --mx through a loopback DNS server. The MX host has two
// addresses on one port, one node not renewed; a second domain has a null
// MX. The report names the MX host as the expected name, shows the null MX
// and the consistency table.
func TestMXWholeDomain(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("e2e MX Root")
	if err != nil {
		t.Fatal(err)
	}
	current, err := root.Issue(probetest.Spec{CommonName: "mx1.contoso.test", DNSNames: []string{"mx1.contoso.test"}})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := root.Issue(probetest.Spec{CommonName: "mx1.contoso.test", DNSNames: []string{"mx1.contoso.test"},
		NotBefore: time.Now().Add(-300 * 24 * time.Hour), NotAfter: time.Now().Add(20 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l1.Addr().(*net.TCPAddr).Port
	l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
	// Skip only where 127.0.0.2 is not on this host (Linux has all of
	// 127.0.0.0/8 on lo, not every system does); any other error, such as
	// the port being taken there, fails.
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		l1.Close()
		t.Skipf("cannot listen on 127.0.0.2 (Linux has all of 127.0.0.0/8 on lo): %v", err)
	}
	if err != nil {
		l1.Close()
		t.Fatalf("listen on 127.0.0.2:%d: %v", port, err)
	}
	for l, chain := range map[net.Listener]*probetest.Chain{l1: current, l2: stale} {
		srv := probetest.Serve(l, probetest.Config{Chain: chain})
		t.Cleanup(func() { srv.Close() })
	}
	resolver := serveZone(t,
		"contoso.test. 60 IN MX 10 mx1.contoso.test.",
		"mx1.contoso.test. 60 IN A 127.0.0.2",
		"mx1.contoso.test. 60 IN A 127.0.0.1",
		"nomail.test. 60 IN MX 0 .",
	)
	caFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(caFile, root.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--mx", "--resolver", resolver, "-4", "-p", strconv.Itoa(port), "--ca-file", caFile, "--timeout", "5s"}

	r := runBinary(t, environ(), append(args, "-o", "json", "contoso.test", "nomail.test")...)
	var doc struct{ Results []batchResult }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
	if len(doc.Results) != 3 {
		t.Fatalf("want 3 results (two addresses of mx1, the null MX), got %d\n%s", len(doc.Results), r)
	}
	for i, addr := range []string{"127.0.0.1", "127.0.0.2"} {
		got := doc.Results[i]
		if got.Target != "contoso.test" || got.Host != "mx1.contoso.test" || got.Address != addr || got.ExpectedName != "mx1.contoso.test" {
			t.Errorf("result %d = target %s host %s address %s expected %s; want contoso.test, mx1.contoso.test, %s, mx1.contoso.test",
				i, got.Target, got.Host, got.Address, got.ExpectedName, addr)
		}
		consistency := ""
		for _, c := range got.Checks {
			if c.ID == "consistency" {
				consistency = c.Status + ": " + c.Message
			}
		}
		if !strings.HasPrefix(consistency, "warning: ") || !strings.Contains(consistency, "127.0.0.2 presents another leaf") {
			t.Errorf("result %d consistency check = %q", i, consistency)
		}
	}
	if nm := doc.Results[2]; nm.Host != "nomail.test" || nm.Error == nil || !strings.Contains(nm.Error.Message, "null MX (RFC 7505)") || nm.Address != "" {
		t.Errorf("null MX result = %+v", nm)
	}

	r = runBinary(t, environ(), append(args, "contoso.test")...)
	if r.code != 1 {
		t.Errorf("one stale node: want exit 1 (warning), got %s", r)
	}
	_, table, ok := strings.Cut(r.stdout, "consistency mx1.contoso.test port "+strconv.Itoa(port))
	if !ok {
		t.Fatalf("no consistency table:\n%s", r)
	}
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if marked := strings.Contains(line, "<- differs"); marked != (f[0] == "127.0.0.2") && (f[0] == "127.0.0.1" || f[0] == "127.0.0.2") {
			t.Errorf("row %q: marked %v", line, marked)
		}
	}
}

// TestProgressBarOnTerminalOnly: 24 endpoints are a long run. On a terminal
// the bar shows on stderr; in a pipe stderr stays empty. Each endpoint is a
// server of its own: a target listed twice is probed once.
func TestProgressBarOnTerminalOnly(t *testing.T) {
	t.Parallel()
	chain := testChain(t)
	var targets []string
	for range 24 {
		targets = append(targets, probetest.NewServer(t, probetest.Config{Chain: chain}).Addr())
	}
	file := writeTargets(t, targets...)
	piped := runBinary(t, environ(), "--timeout", "5s", "-o", "json", "-f", file)
	if strings.Contains(piped.stderr, "probing") || strings.Contains(piped.stderr, "\r") {
		t.Errorf("progress written to a pipe:\n%q", piped.stderr)
	}
	// -o json reads the file as it probes (issue 14), so the bar counts
	// without a total: "probing (24/-)".
	tty := runInTerminal(t, environ("NO_COLOR=1"), "--timeout", "5s", "-o", "json", "-f", file)
	if !strings.Contains(tty.stdout, "probing (") || !regexp.MustCompile(`\((1?[0-9]|2[0-4])/-\)`).MatchString(tty.stdout) {
		t.Errorf("no progress bar on a terminal:\n%s", tty)
	}
}

// TestMXProbesPort25Alone: with --mx and no -p, each MX address is probed on
// 25 only, not on the submission ports (issue 12). Whether anything answers
// on 127.0.0.3:25 does not matter here: the ports probed do.
func TestMXProbesPort25Alone(t *testing.T) {
	t.Parallel()
	resolver := serveZone(t,
		"contoso.test. 60 IN MX 10 mx1.contoso.test.",
		"mx1.contoso.test. 60 IN A 127.0.0.3",
	)
	r := runBinary(t, environ(), "--mx", "--resolver", resolver, "-4", "--timeout", "5s", "-o", "json", "contoso.test")
	var doc struct{ Results []batchResult }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
	if len(doc.Results) != 1 || doc.Results[0].Port != 25 || doc.Results[0].Address != "127.0.0.3" {
		t.Errorf("want one result, 127.0.0.3 port 25; got %+v", doc.Results)
	}
}

// silentListener accepts connections on addr and never says anything.
func silentListener(t *testing.T, addr string) interface{ Addr() string } {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s (Linux answers on all of 127.0.0.0/8): %v", addr, err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return listenerAddr{ln.Addr().String()}
}

type listenerAddr struct{ addr string }

func (l listenerAddr) Addr() string { return l.addr }
