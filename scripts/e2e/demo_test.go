package e2e

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	r := runBinary(t, environ(), "demo")
	// The demo's 587 listener presents another name: critical.
	if r.code != 2 {
		t.Fatalf("demo: want exit 2, got %s", r)
	}
	for _, role := range []string{"(as port 25)", "(as port 587)", "(as port 2525)"} {
		if !strings.Contains(r.stdout, role) {
			t.Errorf("demo output lacks the listener %s:\n%s", role, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "LEAF SHA-1") {
		t.Errorf("demo output lacks the summary table:\n%s", r.stdout)
	}
	// The demo's domain publishes MTA-STS in enforce mode, a TLSA record
	// and TLS-RPT, all of which port 25 passes.
	for _, want := range []string{"contoso.test  (mail domain's published policy)", "mode enforce", "OK       dane", "OK       mta-sts", "OK       tls-rpt"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestDemoJSON(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"demo", "-o", "json"}, {"-o", "json", "demo"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) { testDemoJSON(t, args) })
	}
}

func testDemoJSON(t *testing.T, args []string) {
	r := runBinary(t, environ(), args...)
	if r.code != 2 {
		t.Fatalf("demo -o json: want exit 2, got %s", r)
	}
	var doc struct {
		Tool    string `json:"tool"`
		Status  string `json:"status"`
		Results []struct {
			ServicePort int    `json:"service_port"`
			Status      string `json:"status"`
			Chain       []struct {
				SHA1 string `json:"sha1"`
			} `json:"chain"`
		} `json:"results"`
		Policies []struct {
			Domain string `json:"domain"`
			MTASTS struct {
				Mode string `json:"mode"`
			} `json:"mta_sts"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("demo -o json is not one JSON document: %v\n%s", err, r.stdout)
	}
	if doc.Tool != "starttls-probe" || doc.Status != "critical" {
		t.Errorf("tool %q status %q, want starttls-probe critical", doc.Tool, doc.Status)
	}
	var roles []int
	for _, res := range doc.Results {
		roles = append(roles, res.ServicePort)
		if len(res.Chain) == 0 || len(res.Chain[0].SHA1) != 40 {
			t.Errorf("port %d: want a chain with a 40-digit SHA-1, got %+v", res.ServicePort, res.Chain)
		}
	}
	if !slices.Equal(roles, []int{25, 587, 2525}) {
		t.Errorf("results for ports %v, want [25 587 2525]", roles)
	}
	if len(doc.Policies) != 1 || doc.Policies[0].Domain != "contoso.test" || doc.Policies[0].MTASTS.Mode != "enforce" {
		t.Errorf("policies %+v, want contoso.test's in enforce mode", doc.Policies)
	}
}

// TestDemoColor checks colour as a person sees it: on in a terminal, off in
// a pipe, off with NO_COLOR, TERM=dumb or --no-color even in a terminal. The terminal
// is a pty made by util-linux script(1).
func TestDemoColor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		pty       bool
		env       []string
		args      []string
		wantColor bool
	}{
		{name: "terminal", pty: true, wantColor: true},
		{name: "pipe"},
		{name: "terminal NO_COLOR", pty: true, env: []string{"NO_COLOR=1"}},
		{name: "terminal --no-color", pty: true, args: []string{"--no-color"}},
		{name: "terminal TERM=dumb", pty: true, env: []string{"TERM=dumb"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"demo"}, tc.args...)
			var r run
			if tc.pty {
				r = runInTerminal(t, environ(tc.env...), args...)
			} else {
				r = runBinary(t, environ(tc.env...), args...)
			}
			if r.code != 2 {
				t.Fatalf("want exit 2, got %s", r)
			}
			out := r.stdout + r.stderr
			if got := strings.Contains(out, "\x1b["); got != tc.wantColor {
				t.Errorf("ANSI escapes: %v, want %v:\n%q", got, tc.wantColor, out)
			}
			// The status words carry the meaning with or without colour.
			for _, word := range []string{"OK", "WARNING", "CRITICAL"} {
				if !strings.Contains(out, word) {
					t.Errorf("status word %s missing:\n%s", word, out)
				}
			}
		})
	}
}

// runInTerminal runs the binary with its stdout and stderr on a pty, via
// util-linux script(1): -q no banner, -e its exit status is the binary's, -f
// flush at once, -c the command. The pty merges stdout and stderr.
func runInTerminal(t *testing.T, env []string, args ...string) run {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("SKIPPED LOUDLY: util-linux script(1) not found, so colour in a terminal is NOT tested")
	}
	if v, err := exec.Command(script, "--version").Output(); err != nil || !strings.Contains(string(v), "util-linux") {
		t.Skipf("SKIPPED LOUDLY: %s is not util-linux script(1) (%q), so colour in a terminal is NOT tested", script, v)
	}
	quoted := []string{shellQuote(binary)}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	return runCommand(t, env, script, "-qefc", strings.Join(quoted, " "), "/dev/null")
}

// shellQuote quotes s for sh -c, which script(1) runs its command with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
