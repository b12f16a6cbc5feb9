package exporter

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
	"github.com/starttls-probe/starttls-probe/report"
)

// testPrepare maps the options these tests use (ports, name, mx, resolver,
// timeout) to a probe and a judgement, as main's prepareModule does for
// all of them (main_test.go tests that one). roots is the CA the test
// servers' certificates come from.
func testPrepare(roots *x509.CertPool) Prepare {
	return func(name string, m Module) (Prober, error) {
		var ports []int
		for _, p := range m.Ports {
			n, err := probe.ParsePort(p)
			if err != nil {
				return nil, err
			}
			ports = append(ports, n)
		}
		opts := probe.Options{EHLOName: "probe.test", Timeout: m.Timeout, Concurrency: 8}
		if m.Resolver != "" {
			addr, err := netip.ParseAddrPort(m.Resolver)
			if err != nil {
				return nil, err
			}
			opts.Resolver, opts.ResolverAddr = probe.NewResolver(addr), addr
		}
		return func(ctx context.Context, target string) (report.Summary, error) {
			endpoints, err := probe.Endpoints([]string{target}, ports, false)
			if err != nil {
				return report.Summary{}, err
			}
			opts := opts
			if d, ok := ctx.Deadline(); ok {
				opts.Timeout = min(opts.Timeout, time.Until(d))
			}
			results := probe.Run(ctx, probe.Discover(ctx, endpoints, probe.Discovery{MX: m.MX}, opts), opts, nil)
			return report.Judge(results, report.Expect{Name: m.Name, Roots: roots}, time.Now()), nil
		}, nil
	}
}

// fixture is an exporter on httptest with a good loopback mail server.
type fixture struct {
	exp     *Exporter
	web     *httptest.Server
	config  string
	mail    *probetest.Server
	ca      *probetest.CA
	prepare Prepare
}

func newFixture(t *testing.T, config string, maxConcurrent int) *fixture {
	t.Helper()
	ca, err := probetest.NewRootCA("Exporter Test Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ca: ca, mail: probetest.NewServer(t, probetest.Config{Chain: chain, Domain: "mx.test"})}
	f.config = filepath.Join(t.TempDir(), "starttls-probe.yml")
	f.write(t, config)
	f.prepare = testPrepare(ca.Pool())
	f.exp, err = New(Options{ConfigFile: f.config, Prepare: f.prepare, MaxConcurrent: maxConcurrent})
	if err != nil {
		t.Fatal(err)
	}
	f.web = httptest.NewServer(f.exp.Handler())
	t.Cleanup(f.web.Close)
	return f
}

func (f *fixture) write(t *testing.T, config string) {
	t.Helper()
	config = strings.ReplaceAll(config, "MAILPORT", strconv.Itoa(f.mail.Port()))
	if err := os.WriteFile(f.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// get fetches path with the headers given as name, value pairs.
func (f *fixture) get(t *testing.T, path string, headers ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.web.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func probePath(module, target string, extra ...string) string {
	v := url.Values{"module": {module}, "target": {target}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return "/probe?" + v.Encode()
}

func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not the text exposition format: %v\n%s", err, body)
	}
	return families
}

// value is the value of name's first series whose labels include want.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// promtoolCheck lints an exposition with 'promtool check metrics'; it
// skips loudly without promtool, except under CI=true.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no promtool: scripts/examples/prometheus.sh ensure")
		}
		t.Log("SKIP: no promtool, the metric names are not linted: apt-get install prometheus")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

const goodConfig = `
modules:
  smtp:
    ports: [MAILPORT]
    name: mx.test
    timeout: 20s
`

func TestProbeAnswersTheExposition(t *testing.T) {
	f := newFixture(t, goodConfig, 0)
	code, body, h := f.get(t, probePath("smtp", "127.0.0.1"))
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q, want the text exposition format's", ct)
	}
	fam := parse(t, body)
	id := map[string]string{"address": "127.0.0.1", "port": strconv.Itoa(f.mail.Port())}
	if v, ok := value(fam, "starttls_probe_success", id); !ok || v != 1 {
		t.Errorf("success %v (present %v), want 1:\n%s", v, ok, body)
	}
	if v, ok := value(fam, "starttls_probe_cert_expiry_seconds", id); !ok || v < 86400 {
		t.Errorf("cert_expiry_seconds %v (present %v), want the test certificate's days ahead", v, ok)
	}
	promtoolCheck(t, body)

	code, metrics, _ := f.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	own := parse(t, metrics)
	if v, _ := value(own, "starttls_probe_exporter_probes_total", map[string]string{"module": "smtp", "result": "success"}); v != 1 {
		t.Errorf("probes_total{smtp,success} %v, want 1", v)
	}
	if v, _ := value(own, "starttls_probe_exporter_probe_duration_seconds", map[string]string{"module": "smtp"}); v != 1 {
		t.Errorf("probe_duration_seconds count %v, want 1", v)
	}
	if v, _ := value(own, "starttls_probe_exporter_config_last_reload_successful", nil); v != 1 {
		t.Errorf("config_last_reload_successful %v, want 1", v)
	}
	if _, ok := value(own, "go_goroutines", nil); !ok {
		t.Error("no Go runtime metrics on /metrics")
	}
	promtoolCheck(t, metrics)
}

func TestProbeRefusesBadRequests(t *testing.T) {
	f := newFixture(t, goodConfig+`
allowed_targets: ["127.0.0.0/8", "*.mx.test"]
`, 0)
	for _, tc := range []struct {
		name, path string
		headers    []string
		want       int
		says       string
	}{
		{"no target", "/probe?module=smtp", nil, 400, "target parameter is missing"},
		{"no module", "/probe?target=127.0.0.1", nil, 400, "modules: smtp"},
		{"unknown module", probePath("smpt", "127.0.0.1"), nil, 400, `unknown module "smpt"; modules: smtp`},
		{"bad target", probePath("smtp", "mail.contoso.test/x"), nil, 403, "is not a host"},
		{"address outside the prefixes", probePath("smtp", "[::1]:25"), nil, 403, "address ::1 is in none of allowed_targets' prefixes"},
		{"name outside the globs", probePath("smtp", "mail.contoso.test"), nil, 403, "host mail.contoso.test matches none of allowed_targets' names"},
		{"bad timeout header", probePath("smtp", "127.0.0.1"), []string{"X-Prometheus-Scrape-Timeout-Seconds", "soon"}, 400, "not a positive number of seconds"},
		{"reload by GET", "/-/reload", nil, 405, "reload with POST"},
		{"debug of a probe long gone", "/debug?id=99", nil, 404, "no such probe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := f.get(t, tc.path, tc.headers...)
			if code != tc.want || !strings.Contains(body, tc.says) {
				t.Errorf("%s: %d %q, want %d saying %q", tc.path, code, body, tc.want, tc.says)
			}
		})
	}
	code, metrics, _ := f.get(t, "/metrics")
	if v, _ := value(parse(t, metrics), "starttls_probe_exporter_targets_refused_total", nil); code != 200 || v != 3 {
		t.Errorf("targets_refused_total %v, want 3", v)
	}
}

// TestProbeBadTargetWithoutFilter: with no allowed_targets the target is
// still parsed before anything is dialled.
func TestProbeBadTargetWithoutFilter(t *testing.T) {
	f := newFixture(t, goodConfig, 0)
	code, body, _ := f.get(t, probePath("smtp", "mail..test"))
	if code != http.StatusBadRequest || !strings.Contains(body, "bad target") {
		t.Errorf("%d %q, want 400 bad target", code, body)
	}
}

func TestProbeDebugShowsDialogueVerdictAndMetrics(t *testing.T) {
	f := newFixture(t, goodConfig, 0)
	code, body, h := f.get(t, probePath("smtp", "127.0.0.1", "debug", "true"))
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", code, h.Get("Content-Type"))
	}
	for _, want := range []string{
		"Probe of 127.0.0.1 with module smtp",
		"EHLO probe.test", // the transcript
		"STARTTLS",
		"mx.test",
		"Metrics that would have been returned:",
		"starttls_probe_success{",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("debug output lacks %q:\n%s", want, body)
		}
	}
	// The landing page's link to this probe's debug output serves it.
	_, landing, _ := f.get(t, "/")
	i := strings.Index(landing, `href="/debug?id=`)
	if i < 0 {
		t.Fatalf("no debug link on the landing page:\n%s", landing)
	}
	link := landing[i+len(`href="`):]
	link = link[:strings.Index(link, `"`)]
	code, kept, _ := f.get(t, strings.ReplaceAll(link, "&amp;", "&"))
	if code != 200 || !strings.Contains(kept, "Metrics that would have been returned:") {
		t.Errorf("%s: %d\n%s", link, code, kept)
	}
}

// stalled is a server that accepts and never greets: a probe of it lasts
// as long as its timeout allows.
func stalled(t *testing.T) *probetest.Server {
	return probetest.NewScript(t, probetest.Script{})
}

func TestProbeTimeoutFollowsTheScrapeHeader(t *testing.T) {
	f := newFixture(t, goodConfig, 0)
	silent := stalled(t)
	target := silent.Addr()
	start := time.Now()
	code, body, _ := f.get(t, probePath("smtp", target), "X-Prometheus-Scrape-Timeout-Seconds", "2")
	took := time.Since(start)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	// 2 s less the 0.5 s offset; the module's own 20 s would be far
	// longer. The upper margin is wide for 2 loaded cores.
	if took < 1400*time.Millisecond || took > 8*time.Second {
		t.Errorf("the probe took %s, want about 1.5 s (the header's 2 s less the offset)", took)
	}
	if v, ok := value(parse(t, body), "starttls_probe_failed_phase", map[string]string{"phase": "banner"}); !ok || v != 1 {
		t.Errorf("failed_phase{banner} %v (present %v), want 1:\n%s", v, ok, body)
	}
}

func TestProbeTimeoutCappedByTheModule(t *testing.T) {
	f := newFixture(t, `
modules:
  quick:
    timeout: 1s
`, 0)
	silent := stalled(t)
	start := time.Now()
	code, _, _ := f.get(t, probePath("quick", silent.Addr()), "X-Prometheus-Scrape-Timeout-Seconds", "30")
	if took := time.Since(start); code != 200 || took > 6*time.Second || took < 900*time.Millisecond {
		t.Errorf("%d after %s, want 200 after about the module's 1 s", code, took)
	}
}

func TestProbeTimeout(t *testing.T) {
	for _, tc := range []struct {
		header string
		module time.Duration
		want   time.Duration
	}{
		{"", 9 * time.Second, 9 * time.Second},
		{"10", 9 * time.Second, 9 * time.Second},
		{"5", 9 * time.Second, 4500 * time.Millisecond},
		{"0.7", 9 * time.Second, minTimeout},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		if got, err := probeTimeout(h, tc.module); err != nil || got != tc.want {
			t.Errorf("header %q, module %s: %s (%v), want %s", tc.header, tc.module, got, err, tc.want)
		}
	}
}

func TestScrapesInFlightShareOneProbe(t *testing.T) {
	f := newFixture(t, goodConfig, 0)
	silent := stalled(t)
	path := probePath("smtp", silent.Addr())
	var wg sync.WaitGroup
	bodies := make([]string, 3)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, bodies[i], _ = f.get(t, path, "X-Prometheus-Scrape-Timeout-Seconds", "3")
		}()
		if i == 0 {
			waitInFlight(t, f, 1)
		}
	}
	wg.Wait()
	_, metrics, _ := f.get(t, "/metrics")
	own := parse(t, metrics)
	if v, _ := value(own, "starttls_probe_exporter_probes_total", map[string]string{"module": "smtp"}); v != 1 {
		t.Errorf("%v probes for 3 scrapes in flight together, want 1", v)
	}
	if v, _ := value(own, "starttls_probe_exporter_scrapes_shared_total", nil); v != 3 {
		t.Errorf("scrapes_shared_total %v, want 3", v)
	}
	for i, b := range bodies {
		if b != bodies[0] {
			t.Errorf("scrape %d got another answer than scrape 0", i)
		}
	}
}

func waitInFlight(t *testing.T, f *fixture, n float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, metrics, _ := f.get(t, "/metrics")
		if v, _ := value(parse(t, metrics), "starttls_probe_exporter_probes_in_flight", nil); v == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("never %v probes in flight", n)
}

func TestConcurrentProbesAreBounded(t *testing.T) {
	f := newFixture(t, goodConfig, 1)
	first, second := stalled(t), stalled(t)
	done := make(chan int)
	go func() {
		code, _, _ := f.get(t, probePath("smtp", first.Addr()), "X-Prometheus-Scrape-Timeout-Seconds", "4")
		done <- code
	}()
	waitInFlight(t, f, 1)
	// The only slot is taken for about 3.5 s; this scrape gives up after
	// 1 s of waiting for it.
	code, body, _ := f.get(t, probePath("smtp", second.Addr()), "X-Prometheus-Scrape-Timeout-Seconds", "1.5")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "probe slot") {
		t.Errorf("second probe: %d %q, want 503 while the only slot is busy", code, body)
	}
	if code := <-done; code != 200 {
		t.Errorf("first probe: %d", code)
	}
}

func TestReload(t *testing.T) {
	f := newFixture(t, goodConfig, 0)
	post := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.web.URL+"/-/reload", nil)
		code, body, _ := do(t, req)
		return code, body
	}
	// A bad file: the old config stays, and the metric says why.
	f.write(t, goodConfig+"    warn_day: 10\n")
	if code, body := post(); code != 500 || !strings.Contains(body, "warn_day") || !strings.Contains(body, "previous one stays") {
		t.Errorf("bad reload: %d %q", code, body)
	}
	if code, body, _ := f.get(t, probePath("smtp", "127.0.0.1")); code != 200 {
		t.Errorf("after a bad reload the old module should serve: %d %s", code, body)
	}
	_, metrics, _ := f.get(t, "/metrics")
	own := parse(t, metrics)
	if v, _ := value(own, "starttls_probe_exporter_config_last_reload_successful", nil); v != 0 {
		t.Errorf("config_last_reload_successful %v after a bad reload", v)
	}
	if mf := own["starttls_probe_exporter_config_last_reload_error_info"]; mf == nil || !strings.Contains(mf.String(), "warn_day") {
		t.Errorf("config_last_reload_error_info does not name the bad key: %v", mf)
	}
	promtoolCheck(t, metrics)

	// A good file with another module.
	f.write(t, goodConfig+"  domain:\n    mx: true\n    ports: [MAILPORT]\n")
	if code, body := post(); code != 200 {
		t.Fatalf("good reload: %d %q", code, body)
	}
	if code, body, _ := f.get(t, "/probe?target=x.test"); code != 400 || !strings.Contains(body, "domain, smtp") {
		t.Errorf("the reloaded module list: %d %q", code, body)
	}
	_, metrics, _ = f.get(t, "/metrics")
	own = parse(t, metrics)
	if v, _ := value(own, "starttls_probe_exporter_config_last_reload_successful", nil); v != 1 {
		t.Errorf("config_last_reload_successful %v after a good reload", v)
	}
	if _, ok := own["starttls_probe_exporter_config_last_reload_error_info"]; ok {
		t.Error("config_last_reload_error_info still there after a good reload")
	}
	if code, body, _ := f.get(t, "/config"); code != 200 || !strings.Contains(body, "domain:") {
		t.Errorf("/config: %d %q", code, body)
	}
}

// TestDomainModule: mx: true covers every MX host of the domain in one
// scrape.
func TestDomainModule(t *testing.T) {
	dns := dnstest.New(t,
		"contoso.test. 300 IN MX 10 mx1.contoso.test.",
		"contoso.test. 300 IN MX 20 mx2.contoso.test.",
		"mx1.contoso.test. 300 IN A 127.0.0.1",
		"mx2.contoso.test. 300 IN A 127.0.0.1",
	)
	f := newFixture(t, fmt.Sprintf(`
modules:
  domain:
    mx: true
    ports: [MAILPORT]
    resolver: %s
    timeout: 20s
`, dns.Addr()), 0)
	code, body, _ := f.get(t, probePath("domain", "contoso.test"))
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	fam := parse(t, body)
	for _, host := range []string{"mx1.contoso.test", "mx2.contoso.test"} {
		// The test certificate is for mx.test: each MX host is judged
		// against its own name, a warning on port 25 (senders do not
		// check names there), so still a success.
		if v, ok := value(fam, "starttls_probe_status", map[string]string{"host": host}); !ok || v != 1 {
			t.Errorf("%s: status %v (present %v), want 1 (the name mismatch):\n%s", host, v, ok, body)
		}
		if v, ok := value(fam, "starttls_probe_check", map[string]string{"host": host, "check": "name", "status": "ok"}); !ok || v != 0 {
			t.Errorf("%s: check{name,ok} %v (present %v), want 0", host, v, ok)
		}
		if _, ok := value(fam, "starttls_probe_cert_info", map[string]string{"host": host}); !ok {
			t.Errorf("%s: no cert_info although verification failed", host)
		}
	}
	promtoolCheck(t, body)
}

func TestHealthReadyAndLanding(t *testing.T) {
	f := newFixture(t, goodConfig, 0)
	for path, want := range map[string]string{"/-/healthy": "Healthy", "/-/ready": "Ready"} {
		if code, body, _ := f.get(t, path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	_, landing, _ := f.get(t, "/")
	if !strings.Contains(landing, "No probe yet") {
		t.Errorf("empty landing page:\n%s", landing)
	}
	f.get(t, probePath("smtp", "127.0.0.1"))
	_, landing, h := f.get(t, "/")
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("Content-Type %q", h.Get("Content-Type"))
	}
	if !strings.Contains(landing, `href="/config"`) || !strings.Contains(landing, "127.0.0.1") {
		t.Errorf("landing page lacks the config link or the probe:\n%s", landing)
	}
	if code, _, _ := f.get(t, "/nothing-here"); code != 404 {
		t.Errorf("/nothing-here: %d, want 404", code)
	}
}
