package render

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/report"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The Nagios goldens share the golden cases, the -update flag and
// compareGolden with the text and JSON renderers (render_test.go):
//
//	go test ./report -update
//	git diff report/testdata/nagios

// perfdatum is one 'label'=value[UOM];warn;crit;min;max as the guidelines
// define it; trailing empty fields may be left out.
var perfdatum = regexp.MustCompile(`^'(?:[^'=]|'')+'=-?[0-9]+(?:\.[0-9]+)?(?:s|%|B|KB|MB|TB|c)?(?:;[0-9.:~@-]*){0,4}$`)

// statusLine is "STARTTLS <STATUS> - <text>".
var statusLine = regexp.MustCompile(`^STARTTLS (OK|WARNING|CRITICAL|UNKNOWN) - \S`)

func TestNagiosGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.summary()
			var out bytes.Buffer
			if err := Nagios(&out, s); err != nil {
				t.Fatal(err)
			}
			assertPluginOutput(t, out.String(), s)
			compareGolden(t, filepath.Join("testdata", "nagios", tc.name+".golden"), out.Bytes())
		})
	}
}

// assertPluginOutput checks the shape the monitoring-plugins guidelines
// ask for, whatever the case: a status line whose word matches the exit
// status, at most one '|' (the perfdata separator) in the whole output,
// well-formed perfdata, and nothing a terminal or Nagios would act on.
func assertPluginOutput(t *testing.T, out string, s report.Summary) {
	t.Helper()
	assertTerminalSafe(t, []byte(out))
	first, _, _ := strings.Cut(out, "\n")
	m := statusLine.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("status line %q is not \"STARTTLS <STATUS> - text\"", first)
	}
	if want := [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}[s.ExitCode()]; m[1] != want {
		t.Errorf("status word %s, but the exit status %d means %s", m[1], s.ExitCode(), want)
	}
	if n := strings.Count(out, "|"); n > 1 {
		t.Errorf("%d '|' in the output: server text must not start perfdata:\n%s", n, out)
	}
	_, perf, found := strings.Cut(first, " | ")
	if !found {
		return
	}
	// Labels are quoted and hold spaces, so split on "' " boundaries.
	for _, d := range regexp.MustCompile(`'(?:[^']|'')+'=\S*`).FindAllString(perf, -1) {
		if !perfdatum.MatchString(d) {
			t.Errorf("perfdata %q is not 'label'=value[UOM];warn;crit;min;max", d)
		}
	}
}

func TestNagiosStatusLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first string
	}{
		{"good", "STARTTLS OK - mail.contoso.test:25 ok | 'mail.contoso.test:25 days_left'=5313;30:;7: 'mail.contoso.test:25 handshake'=0.012400s;;;0 'mail.contoso.test:25 total'=0.023500s;;;0"},
		{"starttls-not-offered", `STARTTLS CRITICAL - mail.contoso.test:25 STARTTLS not offered in the EHLO reply: senders that require TLS fail with "451 5.7.3 STARTTLS is required to send mail" | 'mail.contoso.test:25 total'=0.023500s;;;0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Nagios(&out, findCase(t, tc.name).summary()); err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(out.String(), "\n"); first != tc.first {
				t.Errorf("status line\n got: %s\nwant: %s", first, tc.first)
			}
		})
	}
}

// TestNagiosListsWorstFirst: the critical problem of one endpoint comes
// before the warning of another, whatever their order.
func TestNagiosListsWorstFirst(t *testing.T) {
	s := findCase(t, "three-endpoints").summary()
	var out bytes.Buffer
	if err := Nagios(&out, s); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	text, _, _ := strings.Cut(first, " | ")
	problems := strings.Split(strings.TrimPrefix(text, "STARTTLS CRITICAL - "), "; ")
	if len(problems) < 2 {
		t.Fatalf("want several problems on %q", first)
	}
	seenWarning := false
	for _, p := range problems {
		for _, ep := range s.Endpoints {
			for _, c := range ep.Checks {
				if !strings.HasPrefix(p, ep.Name()+" ") || !strings.Contains(c.Message, strings.TrimPrefix(p, ep.Name()+" ")) {
					continue
				}
				if c.Status == report.Warning {
					seenWarning = true
				}
				if c.Status == report.Critical && seenWarning {
					t.Errorf("critical %q listed after a warning in %q", p, first)
				}
			}
		}
	}
}

func TestNagiosEscapesServerText(t *testing.T) {
	tc := findCase(t, "hostile")
	// A STARTTLS refusal whose text would end the status line, start
	// perfdata and fake a second status line.
	r := tc.results[0]
	r.STARTTLSReply = &probe.Reply{Code: 454, Lines: []string{"4.7.0 no TLS | 'fake'=1", "STARTTLS OK - fine\r"}}
	r.TLS, r.Chain, r.EHLOAfterTLS = nil, r.Chain[:1], nil
	r.Error = &probe.Error{Phase: probe.PhaseSTARTTLS, Err: &probe.ReplyError{Code: 454, EnhancedCode: "4.7.0", Lines: r.STARTTLSReply.Lines}, Reply: r.STARTTLSReply}
	s := report.Judge([]probe.Result{r}, tc.expect, goldenNow)
	var out bytes.Buffer
	if err := Nagios(&out, s); err != nil {
		t.Fatal(err)
	}
	assertPluginOutput(t, out.String(), s)
	for _, want := range []string{
		`CN=mail.contoso.test\x1b[2J\x1b]0\\;pwned\x07`, // the subject, in the long output
		`4.7.0 no TLS \x7c 'fake'=1`,                    // the reply, on the status line
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks the escaped subject %s:\n%s", want, out.String())
		}
	}
	if got := nagiosText("a|b\nc"); got != `a\x7cb\x0ac` {
		t.Errorf("nagiosText(%q) = %q", "a|b\nc", got)
	}
}

// TestNagiosOnProbedServer renders what a real probe of a loopback server
// without STARTTLS saw.
func TestNagiosOnProbedServer(t *testing.T) {
	srv := probetest.NewServer(t, probetest.Config{NoSTARTTLS: true})
	ep := srv.Endpoint("", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := probe.Run(ctx, []probe.Job{{Endpoint: ep}}, probe.Options{EHLOName: "probe.test", NoTLSRequiredTest: true}, nil)
	s := report.Judge(results, report.Expect{}, time.Now())
	var out bytes.Buffer
	if err := Nagios(&out, s); err != nil {
		t.Fatal(err)
	}
	assertPluginOutput(t, out.String(), s)
	want := "STARTTLS CRITICAL - " + ep.String() + " STARTTLS not offered"
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("output does not start with %q:\n%s", want, out.String())
	}
	if s.ExitCode() != 2 {
		t.Errorf("exit status %d, want 2", s.ExitCode())
	}
}

func TestNagiosError(t *testing.T) {
	var out bytes.Buffer
	if err := NagiosError(&out, errors.New("baseline /x is empty |\nmove it")); err != nil {
		t.Fatal(err)
	}
	if want := "STARTTLS UNKNOWN - baseline /x is empty \\x7c move it\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
