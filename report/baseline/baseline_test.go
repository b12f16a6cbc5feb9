package baseline

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

const testName = "mail.contoso.test"

// pki is a CA and two certificates for testName, as before and after a
// renewal.
type pki struct {
	ca           *probetest.CA
	before, next *probetest.Chain
}

func newPKI(t *testing.T) pki {
	t.Helper()
	root, err := probetest.NewRootCA("Contoso Test Root CA")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := root.NewIntermediate("Contoso Issuing CA 1")
	if err != nil {
		t.Fatal(err)
	}
	before, err := ca.Issue(probetest.Spec{CommonName: testName, DNSNames: []string{testName}, NotAfter: time.Now().Add(100 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	next, err := probetest.SelfSigned(probetest.Spec{CommonName: "EXCH01", DNSNames: []string{"EXCH01"}, NotAfter: time.Now().Add(1000 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return pki{ca: ca, before: before, next: next}
}

// run probes a loopback server configured by cfg and judges it as port 25
// of testName: every server listens on its own free port, so the results
// are given one identity, the way one endpoint looks across runs while its
// certificate or STARTTLS offer changes.
func run(t *testing.T, p pki, cfg probetest.Config) report.Summary {
	t.Helper()
	srv := probetest.NewServer(t, cfg)
	return probeAs(t, p, srv.IP(), srv.Port(), 25)
}

func probeAs(t *testing.T, p pki, ip string, port, asPort int) report.Summary {
	t.Helper()
	ep := probe.Endpoint{Target: testName, Host: testName, Address: ip, Port: port}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := probe.Run(ctx, []probe.Job{{Endpoint: ep}}, probe.Options{EHLOName: "probe.test", NoTLSRequiredTest: true}, nil)
	results[0].Endpoint.Port = asPort
	return report.Judge(results, report.Expect{Name: testName, Roots: p.ca.Pool()}, time.Now())
}

func baselineCheck(t *testing.T, s report.Summary) report.Check {
	t.Helper()
	if len(s.Endpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(s.Endpoints))
	}
	for _, c := range s.Endpoints[0].Checks {
		if c.ID == CheckID {
			return c
		}
	}
	t.Fatalf("no %s check among %+v", CheckID, s.Endpoints[0].Checks)
	return report.Check{}
}

func apply(t *testing.T, path string, s *report.Summary, opts Options) {
	t.Helper()
	// The deadline (generous for 2 loaded cores) makes a lock that is never
	// granted fail the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Apply(ctx, path, s, opts); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func readEntries(t *testing.T, path string) []Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := parse(path, data)
	if err != nil {
		t.Fatalf("the file written does not read back: %v", err)
	}
	return entries
}

func TestFirstRunRecords(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	s := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &s, Options{})

	c := baselineCheck(t, s)
	if c.Status != report.OK || !strings.HasPrefix(c.Message, "recorded as the baseline: certificate "+reporttest.SHA1(p.before.Leaf())) {
		t.Errorf("first run: %s %q", c.Status, c.Message)
	}
	if s.Status != report.OK {
		t.Errorf("run status %s, want OK", s.Status)
	}
	entries := readEntries(t, path)
	want := Entry{Host: testName, Address: s.Endpoints[0].Result.Address, Port: 25, STARTTLSOffered: true,
		SHA1: reporttest.SHA1(p.before.Leaf()), Subject: p.before.Leaf().Subject.String(), Issuer: p.before.Leaf().Issuer.String(),
		NotAfter: p.before.Leaf().NotAfter.UTC()}
	if len(entries) != 1 {
		t.Fatalf("entries %+v, want one", entries)
	}
	got := entries[0]
	got.RecordedAt = time.Time{}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("recorded\n %+v\nwant\n %+v", got, want)
	}
}

func TestUnchanged(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	first := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &first, Options{})
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	second := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &second, Options{})
	c := baselineCheck(t, second)
	if c.Status != report.OK || !strings.HasPrefix(c.Message, "unchanged since ") || !strings.Contains(c.Message, reporttest.SHA1(p.before.Leaf())) {
		t.Errorf("unchanged: %s %q", c.Status, c.Message)
	}
	if again, _ := os.ReadFile(path); string(again) != string(written) {
		t.Errorf("an unchanged run rewrote the baseline:\n%s\nwas\n%s", again, written)
	}
}

func TestCertificateChanged(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	first := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &first, Options{})

	changed := run(t, p, probetest.Config{Chain: p.next})
	statusBefore := changed.Status
	apply(t, path, &changed, Options{})
	c := baselineCheck(t, changed)
	oldSHA, newSHA := reporttest.SHA1(p.before.Leaf()), reporttest.SHA1(p.next.Leaf())
	if c.Status != report.Warning {
		t.Errorf("status %s, want WARNING", c.Status)
	}
	if want := "certificate changed on mail.contoso.test:25: " + oldSHA + " → " + newSHA; !strings.HasPrefix(c.Message, want) {
		t.Errorf("message %q\nwant prefix %q", c.Message, want)
	}
	for _, want := range []string{
		"subject: CN=mail.contoso.test → CN=EXCH01",
		"issuer: CN=Contoso Issuing CA 1,O=starttls-probe test → CN=EXCH01",
		"expires: " + p.before.Leaf().NotAfter.UTC().Format(time.DateOnly) + " → " + p.next.Leaf().NotAfter.UTC().Format(time.DateOnly),
	} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	if !strings.HasSuffix(c.Message, "; if the change is intended, run once with --update-baseline to accept it") {
		t.Errorf("message %q does not say how to accept the change", c.Message)
	}
	if strings.Contains(c.Message, "same ") {
		t.Errorf("message %q calls a changed field the same", c.Message)
	}
	if changed.Status != report.Worse(statusBefore, report.Warning) || changed.Endpoints[0].Status != changed.Status {
		t.Errorf("the warning did not reach the statuses: run %s, endpoint %s", changed.Status, changed.Endpoints[0].Status)
	}
	if got := readEntries(t, path)[0].SHA1; got != oldSHA {
		t.Errorf("a change was recorded without --update-baseline: %s", got)
	}

	// Still a warning on the next run, until accepted.
	again := run(t, p, probetest.Config{Chain: p.next})
	apply(t, path, &again, Options{})
	if c := baselineCheck(t, again); c.Status != report.Warning {
		t.Errorf("second run after the change: %s %q, want WARNING", c.Status, c.Message)
	}

	accepted := run(t, p, probetest.Config{Chain: p.next})
	apply(t, path, &accepted, Options{Update: true})
	if c := baselineCheck(t, accepted); c.Status != report.OK || !strings.Contains(c.Message, "accepted as the new baseline") {
		t.Errorf("--update-baseline: %s %q", c.Status, c.Message)
	}
	if got := readEntries(t, path)[0].SHA1; got != newSHA {
		t.Errorf("--update-baseline recorded %s, want %s", got, newSHA)
	}

	after := run(t, p, probetest.Config{Chain: p.next})
	apply(t, path, &after, Options{})
	if c := baselineCheck(t, after); c.Status != report.OK || !strings.HasPrefix(c.Message, "unchanged") {
		t.Errorf("after acceptance: %s %q", c.Status, c.Message)
	}
}

// An endpoint whose address changed (DNS moved to another node) is compared
// with what the old address presented: a new node with another certificate
// warns instead of being recorded silently.
func TestCertificateChangedWithTheAddress(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	first := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &first, Options{})
	recorded := first.Endpoints[0].Result.Address

	moved := run(t, p, probetest.Config{Chain: p.next})
	// The same host and port, answered from another address: only the
	// recorded value changes, nothing is dialed there.
	moved.Endpoints[0].Result.Address = "192.0.2.99"
	apply(t, path, &moved, Options{})
	c := baselineCheck(t, moved)
	if c.Status != report.Warning || !strings.Contains(c.Message, "certificate changed") || !strings.Contains(c.Message, "the address is now 192.0.2.99") || !strings.Contains(c.Message, recorded) {
		t.Errorf("moved and changed: %s %q, want a WARNING naming both addresses", c.Status, c.Message)
	}

	same := run(t, p, probetest.Config{Chain: p.before})
	same.Endpoints[0].Result.Address = "192.0.2.99"
	apply(t, path, &same, Options{})
	if c := baselineCheck(t, same); c.Status != report.OK {
		t.Errorf("moved, same certificate: %s %q, want OK", c.Status, c.Message)
	}
}

// Accepting a run's state forgets the addresses of its hosts and ports it
// no longer sees; without --update-baseline they stay, and other ports
// always stay.
func TestUpdateForgetsUnseenAddresses(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	srv := probetest.NewServer(t, probetest.Config{Chain: p.before})
	first := probeAs(t, p, srv.IP(), srv.Port(), 25)
	apply(t, path, &first, Options{})
	on587 := probeAs(t, p, srv.IP(), srv.Port(), 587)
	apply(t, path, &on587, Options{})
	old := first.Endpoints[0].Result.Address

	movedTo := func() report.Summary {
		s := probeAs(t, p, srv.IP(), srv.Port(), 25)
		s.Endpoints[0].Result.Address = "192.0.2.99"
		return s
	}
	addresses := func() []string {
		var out []string
		for _, e := range readEntries(t, path) {
			out = append(out, fmt.Sprintf("%s:%d", e.Address, e.Port))
		}
		slices.Sort(out)
		return out
	}

	moved := movedTo()
	apply(t, path, &moved, Options{})
	if got, want := addresses(), []string{old + ":25", old + ":587"}; !slices.Equal(got, want) {
		t.Errorf("after a run from a new address: entries %q, want the old ones kept", got)
	}
	moved = movedTo()
	apply(t, path, &moved, Options{Update: true})
	if got, want := addresses(), []string{"192.0.2.99:25", old + ":587"}; !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("after --update-baseline: entries %q, want port 25 at its new address only, 587 kept", got)
	}
}

func TestSTARTTLSLost(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	first := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &first, Options{})

	lost := run(t, p, probetest.Config{Chain: p.before, NoSTARTTLS: true})
	apply(t, path, &lost, Options{})
	c := baselineCheck(t, lost)
	if c.Status != report.Critical || !strings.HasPrefix(c.Message, "STARTTLS lost on mail.contoso.test:25: offered when the baseline was recorded on ") {
		t.Errorf("lost: %s %q", c.Status, c.Message)
	}
	if !strings.HasSuffix(c.Message, "run once with --update-baseline to accept it") {
		t.Errorf("lost: %q does not say how to accept the change", c.Message)
	}
	if lost.Status != report.Critical {
		t.Errorf("run status %s, want CRITICAL", lost.Status)
	}

	accepted := run(t, p, probetest.Config{Chain: p.before, NoSTARTTLS: true})
	apply(t, path, &accepted, Options{Update: true})
	if e := readEntries(t, path)[0]; e.STARTTLSOffered || e.SHA1 != "" {
		t.Errorf("--update-baseline recorded %+v, want STARTTLS not offered and no certificate", e)
	}

	// Gaining STARTTLS back is recorded without an alert.
	regained := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &regained, Options{})
	if c := baselineCheck(t, regained); c.Status != report.OK || !strings.HasPrefix(c.Message, "recorded as the baseline") {
		t.Errorf("regained: %s %q", c.Status, c.Message)
	}
	if e := readEntries(t, path)[0]; !e.STARTTLSOffered || e.SHA1 != reporttest.SHA1(p.before.Leaf()) {
		t.Errorf("regained STARTTLS not recorded: %+v", e)
	}
}

// TestUnreachedEndpointIsNotRecorded: a refused connection says nothing
// about the certificate, so nothing is recorded or compared.
func TestUnreachedEndpointIsNotRecorded(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	// A loopback port nothing listens on any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	s := probeAs(t, p, addr.IP.String(), addr.Port, 25)
	apply(t, path, &s, Options{})
	if c := baselineCheck(t, s); c.Status != report.Skipped {
		t.Errorf("refused: %s %q, want SKIPPED", c.Status, c.Message)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a baseline was written for an endpoint that was not reached: %v", err)
	}
}

// TestOtherEndpointsAreKept: a run that probes one port keeps what the
// baseline knows of the others.
func TestOtherEndpointsAreKept(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	srv := probetest.NewServer(t, probetest.Config{Chain: p.before})
	on587 := probeAs(t, p, srv.IP(), srv.Port(), 587)
	apply(t, path, &on587, Options{})
	on25 := probeAs(t, p, srv.IP(), srv.Port(), 25)
	apply(t, path, &on25, Options{Update: true})
	entries := readEntries(t, path)
	if len(entries) != 2 || entries[0].Port != 25 || entries[1].Port != 587 {
		t.Errorf("entries %+v, want ports 25 and 587", entries)
	}
}

func TestCorruptOrForeignFileIsLeftUntouched(t *testing.T) {
	p := newPKI(t)
	s := run(t, p, probetest.Config{Chain: p.before})
	for _, tc := range []struct{ name, content, want string }{
		{"empty", "", "is empty"},
		{"garbage", "\x00\x01 not json at all", "is not a starttls-probe baseline"},
		{"truncated", `{"format": "starttls-probe baseline", "version": 1, "endpoints": [`, "is not a starttls-probe baseline"},
		{"foreign json", `{"tool": "something else", "targets": ["a"]}`, "is not a starttls-probe baseline"},
		{"other format", `{"format": "check_ssl_cert state", "version": 1, "endpoints": []}`, `format "check_ssl_cert state"`},
		{"newer version", `{"format": "starttls-probe baseline", "version": 2, "endpoints": []}`, "has version 2"},
		{"duplicate", `{"format": "starttls-probe baseline", "version": 1, "endpoints": [{"host": "a", "address": "", "port": 25, "starttls_offered": true, "recorded_at": "2030-01-01T00:00:00Z"}, {"host": "a", "address": "", "port": 25, "starttls_offered": false, "recorded_at": "2030-01-01T00:00:00Z"}]}`, "twice"},
		{"trailing data", `{"format": "starttls-probe baseline", "version": 1, "endpoints": []} {}`, "has data after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "baseline.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			mtime := modTime(t, path)
			sum := s
			sum.Endpoints = append([]report.Endpoint(nil), s.Endpoints...)
			checks := len(sum.Endpoints[0].Checks)
			err := Apply(context.Background(), path, &sum, Options{Update: true})
			if err == nil {
				t.Fatal("Apply accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error %q, want one line with %q", err, tc.want)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tc.content || !modTime(t, path).Equal(mtime) {
				t.Errorf("the file was changed to %q", got)
			}
			if len(sum.Endpoints[0].Checks) != checks || sum.Status != s.Status {
				t.Errorf("the summary was changed although the baseline was refused")
			}
		})
	}
}

func modTime(t *testing.T, path string) time.Time {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.ModTime()
}

// TestConcurrentRunsLoseNothing: runs that overlap, each recording its own
// endpoint in the same new baseline, all end up in it. Without the lock,
// two runs would read the same old file and the last rename would drop
// the other's entry.
func TestConcurrentRunsLoseNothing(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	srv := probetest.NewServer(t, probetest.Config{Chain: p.before})
	const runs = 8
	summaries := make([]report.Summary, runs)
	for i := range summaries {
		summaries[i] = probeAs(t, p, srv.IP(), srv.Port(), 2500+i)
	}
	var wg sync.WaitGroup
	errs := make([]error, runs)
	for i := range summaries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Apply(context.Background(), path, &summaries[i], Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	entries := readEntries(t, path)
	if len(entries) != runs {
		t.Errorf("%d entries after %d overlapping runs, want all of them: %+v", len(entries), runs, entries)
	}
	tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".baseline.json.tmp-*"))
	if len(tmp) > 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
}

// TestLockIsWaitedFor: while another run holds the lock, Apply waits; it
// gives up with a clear error when its context ends, and goes on once the
// lock is free.
func TestLockIsWaitedFor(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	s := run(t, p, probetest.Config{Chain: p.before})

	// A free lock is taken at once; the deadline (generous for 2 loaded
	// cores) turns a lock that is never granted into a failure, not a hang.
	free, cancelFree := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelFree()
	held, err := acquireLock(free, path+".lock")
	if err != nil {
		t.Fatalf("the free lock was not granted: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	blocked := s
	blocked.Endpoints = append([]report.Endpoint(nil), s.Endpoints...)
	err = Apply(ctx, path, &blocked, Options{})
	if err == nil || !strings.Contains(err.Error(), "another run holds it") {
		t.Errorf("Apply under a held lock: %v, want a lock error", err)
	}
	if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
		t.Errorf("a baseline was written without the lock")
	}

	done := make(chan error, 1)
	go func() { done <- Apply(context.Background(), path, &s, Options{}) }()
	held.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Apply did not go on once the lock was released")
	}
	if len(readEntries(t, path)) != 1 {
		t.Errorf("nothing recorded after the lock was released")
	}
}

// TestFileIsReadable: the file is indented JSON that names its format, for
// an admin who opens it.
func TestFileIsReadable(t *testing.T) {
	p := newPKI(t)
	path := filepath.Join(t.TempDir(), "baseline.json")
	s := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &s, Options{})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["format"] != formatName || doc["version"] != float64(formatVersion) || !strings.Contains(string(data), "\n  ") {
		t.Errorf("file:\n%s", data)
	}
}

// A renewal keeps subject and issuer: the warning names only the expiry as
// changed, and says the rest is the same instead of printing "A → A".
func TestCertificateRenewed(t *testing.T) {
	p := newPKI(t)
	renewed, err := p.ca.Issue(probetest.Spec{CommonName: testName, DNSNames: []string{testName}, NotAfter: time.Now().Add(400 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "baseline.json")
	first := run(t, p, probetest.Config{Chain: p.before})
	apply(t, path, &first, Options{})
	changed := run(t, p, probetest.Config{Chain: renewed})
	apply(t, path, &changed, Options{})
	c := baselineCheck(t, changed)
	want := fmt.Sprintf("certificate changed on mail.contoso.test:25: %s → %s (expires: %s → %s; same subject and issuer; baseline recorded on ",
		reporttest.SHA1(p.before.Leaf()), reporttest.SHA1(renewed.Leaf()),
		p.before.Leaf().NotAfter.UTC().Format(time.DateOnly), renewed.Leaf().NotAfter.UTC().Format(time.DateOnly))
	if c.Status != report.Warning || !strings.HasPrefix(c.Message, want) {
		t.Errorf("%s %q\nwant WARNING, prefix %q", c.Status, c.Message, want)
	}
	if strings.Contains(c.Message, testName+" → ") {
		t.Errorf("an unchanged field printed as A → A: %q", c.Message)
	}
}

// The README shows the file's first line; it once named another format than
// the one written, which a user checking a file by hand would be misled by.
func TestREADMENamesTheFileFormat(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"format": %q, "version": %d,`, formatName, formatVersion); !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not show the baseline file as it is written: %s", want)
	}
}

// TestSizeLimit pins the 16 MiB bound on both sides: a baseline of exactly
// maxFileSize bytes (a real document padded with the spaces JSON allows
// after it) is read whole, one byte more is refused as too large rather
// than read in part and misreported as not being JSON.
func TestSizeLimit(t *testing.T) {
	doc := `{"format": "starttls-probe baseline", "version": 1, "endpoints": [{"host": "a", "address": "", "port": 25, "starttls_offered": true, "recorded_at": "2030-01-01T00:00:00Z"}]}`
	for _, tc := range []struct {
		name string
		size int
		want string // "" when it must load
	}{
		{"at the limit", maxFileSize, ""},
		{"one byte over", maxFileSize + 1, "is larger than 16777216 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "baseline.json")
			data := doc + strings.Repeat(" ", tc.size-len(doc))
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			entries, err := load(path)
			if tc.want == "" {
				if err != nil || len(entries) != 1 || entries[0].Host != "a" {
					t.Fatalf("load of %d bytes: %v, %+v", tc.size, err, entries)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load of %d bytes: %v, want an error with %q", tc.size, err, tc.want)
			}
		})
	}
}
