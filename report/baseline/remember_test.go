package baseline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// TestLostSTARTTLSStaysCriticalUntilAccepted runs the cron job several
// times in a row. A lost STARTTLS must page on every run until someone
// accepts it with --update-baseline: were a normal run to record the loss,
// the next cron run would say "unchanged" and the alert would vanish after
// firing once (issue 18).
func TestLostSTARTTLSStaysCriticalUntilAccepted(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")

	first := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &first, Options{})
	if e := readEntries(t, path); len(e) != 1 || !e[0].STARTTLSOffered {
		t.Fatalf("run 1 recorded %+v, want one entry with STARTTLS offered", e)
	}

	for n := 2; n <= 3; n++ {
		lost := run(t, p, probetest.Config{Chain: p.before, NoSTARTTLS: true})
		apply(t, path, &lost, Options{})
		if c := baselineCheck(t, lost); c.Status != report.Critical || !strings.HasPrefix(c.Message, "STARTTLS lost on ") ||
			!strings.Contains(c.Message, "(certificate "+reporttest.SHA1(p.before.Leaf())+")") {
			t.Errorf("run %d without --update-baseline: %s %q, want CRITICAL \"STARTTLS lost on ...\" naming the recorded certificate", n, c.Status, c.Message)
		}
		if lost.Status != report.Critical {
			t.Errorf("run %d: status %s, want CRITICAL", n, lost.Status)
		}
		if e := readEntries(t, path); len(e) != 1 || !e[0].STARTTLSOffered || e[0].SHA1 != reporttest.SHA1(p.before.Leaf()) {
			t.Errorf("after run %d the file holds %+v, want it to still remember STARTTLS offered with the old certificate", n, e)
		}
	}

	accepted := run(t, p, probetest.Config{Chain: p.before, NoSTARTTLS: true})
	apply(t, path, &accepted, Options{Update: true})
	if c := baselineCheck(t, accepted); c.Status != report.OK {
		t.Errorf("--update-baseline: %s %q, want OK", c.Status, c.Message)
	}
	if e := readEntries(t, path); len(e) != 1 || e[0].STARTTLSOffered {
		t.Errorf("--update-baseline recorded %+v, want STARTTLS not offered", e)
	}

	after := run(t, p, probetest.Config{Chain: p.before, NoSTARTTLS: true})
	apply(t, path, &after, Options{})
	if c := baselineCheck(t, after); c.Status != report.OK || !strings.HasPrefix(c.Message, "unchanged since ") {
		t.Errorf("the run after --update-baseline: %s %q, want OK \"unchanged since ...\"", c.Status, c.Message)
	}
}

// TestGainedSTARTTLSWithoutCertificateIsAcceptedOnlyWithUpdate: a server
// that starts offering STARTTLS but refuses it (454) presents no
// certificate, so a normal run keeps the old entry; --update-baseline
// records the offer, and from then on losing it again is CRITICAL.
func TestGainedSTARTTLSWithoutCertificateIsAcceptedOnlyWithUpdate(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	refusing := func() report.Summary {
		srv := probetest.NewScript(t, probetest.Script{
			Greeting: []string{"220 " + testName + " ESMTP"},
			EHLO:     []string{"250-" + testName, "250 STARTTLS"},
			STARTTLS: []string{"454 4.7.0 TLS not available due to local problem"},
		})
		return probeAs(t, p, srv.IP(), srv.Port(), 25)
	}

	first := run(t, p, probetest.Config{Chain: p.before, NoSTARTTLS: true})
	apply(t, path, &first, Options{})

	normal := refusing()
	apply(t, path, &normal, Options{})
	if e := readEntries(t, path); len(e) != 1 || e[0].STARTTLSOffered {
		t.Errorf("a normal run recorded %+v, want the entry without STARTTLS kept", e)
	}

	accepted := refusing()
	apply(t, path, &accepted, Options{Update: true})
	if e := readEntries(t, path); len(e) != 1 || !e[0].STARTTLSOffered {
		t.Errorf("--update-baseline recorded %+v, want STARTTLS offered", e)
	}

	lost := run(t, p, probetest.Config{Chain: p.before, NoSTARTTLS: true})
	apply(t, path, &lost, Options{})
	if c := baselineCheck(t, lost); c.Status != report.Critical {
		t.Errorf("STARTTLS lost after it was accepted: %s %q, want CRITICAL", c.Status, c.Message)
	}
}

// TestUpdateWithNothingNewLeavesTheFile: --update-baseline on a run that
// matches the baseline has nothing to accept; the file is not rewritten.
func TestUpdateWithNothingNewLeavesTheFile(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	first := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &first, Options{})
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	again := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &again, Options{Update: true})
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("--update-baseline with nothing new replaced the file")
	}
}

// TestPortRange: ports 1 and 65535 are ports; 0 and 65536 are not.
func TestPortRange(t *testing.T) {
	for _, tc := range []struct {
		port int
		ok   bool
	}{{0, false}, {1, true}, {65535, true}, {65536, false}} {
		doc := fmt.Sprintf(`{"format":%q,"version":%d,"endpoints":[{"host":"mx.test","address":"127.0.0.1","port":%d,"starttls_offered":true,"recorded_at":"2026-01-01T00:00:00Z"}]}`,
			formatName, formatVersion, tc.port)
		_, err := parse("baseline.json", []byte(doc))
		if (err == nil) != tc.ok {
			t.Errorf("port %d: error %v, want accepted: %v", tc.port, err, tc.ok)
		}
	}
}
