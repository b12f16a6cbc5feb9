package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
)

// examples is scripts/examples, whose exporter files these tests run.
func examples() string { return filepath.Join(moduleRoot, "scripts", "examples") }

// requireTool finds a program from Debian's packages (prometheus,
// promtool, chromium). Without it the test skips saying so, except under
// CI=true, where it must run (scripts/examples/prometheus.sh ensure).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no %s: run scripts/examples/prometheus.sh ensure", name)
		}
		t.Skipf("SKIP: no %s here (scripts/examples/prometheus.sh ensure installs it)", name)
	}
	return path
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProcess starts a long-running program, stopped when the test ends;
// its output is in the returned buffer.
func startProcess(t *testing.T, name string, args ...string) *bytes.Buffer {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-waited
		}
	})
	return &out
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitHTTP waits for url to answer 200.
func waitHTTP(t *testing.T, url string, log *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if code, _, err := httpGet(url); err == nil && code == 200 {
			return
		}
	}
	t.Fatalf("%s never answered 200; log:\n%s", url, log.String())
}

// exporterSetup is a served exporter in front of two loopback mail hosts
// (good: mx.test with a trusted certificate; plain: 454 to STARTTLS) and a
// mail domain contoso.test whose MX is the good one.
type exporterSetup struct {
	addr, good, plain, configFile string
	log                           *bytes.Buffer
}

func startExporter(t *testing.T) exporterSetup {
	t.Helper()
	ca, err := probetest.NewRootCA("E2E Exporter Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	good := probetest.NewServer(t, probetest.Config{Chain: chain, Domain: "mx.test"})
	// Offers STARTTLS, then refuses it: a failure at a step, with a reply.
	plain := probetest.NewScript(t, probetest.Script{
		Greeting: []string{"220 mx.test ESMTP"},
		EHLO:     []string{"250-mx.test", "250 STARTTLS"},
		STARTTLS: []string{"454 4.7.0 TLS not available due to temporary reason"},
	})
	dns := dnstest.New(t, "contoso.test. 300 IN MX 10 mx.test.", "mx.test. 300 IN A 127.0.0.1")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	// The example's module names, with the test's CA, name and DNS.
	config := fmt.Sprintf(`modules:
  smtp_starttls:
    name: mx.test
    ca_file: %[1]s
    tls_required_test: false
    timeout: 9s
  domain:
    mx: true
    ports: [%[2]d]
    ca_file: %[1]s
    resolver: %[3]s
    tls_required_test: false
    timeout: 9s
allowed_targets: ["127.0.0.0/8", "contoso.test"]
`, caFile, good.Port(), dns.Addr())
	configFile := filepath.Join(dir, "starttls-probe.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	log := startProcess(t, binary, "serve", "--web.listen-address", addr, "--config.file", configFile)
	waitHTTP(t, "http://"+addr+"/-/ready", log)
	return exporterSetup{addr: addr, good: good.Addr(), plain: plain.Addr(), configFile: configFile, log: log}
}

// TestExampleExporterConfigChecks: the shipped module file passes
// --config.check as written.
func TestExampleExporterConfigChecks(t *testing.T) {
	r := runBinary(t, environ(), "serve", "--config.check", "--config.file", filepath.Join(examples(), "starttls-probe.yml"))
	if r.code != 0 || !strings.Contains(r.stdout, "modules domain, smtp_starttls, submission") {
		t.Errorf("%s", r)
	}
}

// TestExamplePrometheusRulesAndDashboard: promtool accepts the scrape
// config and the rules as shipped, and the rules' unit tests pass.
func TestExamplePrometheusRulesAndDashboard(t *testing.T) {
	promtool := requireTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "config", filepath.Join(examples(), "prometheus.yml")},
		{"check", "rules", filepath.Join(examples(), "starttls-probe.rules.yml")},
		{"test", "rules", filepath.Join(examples(), "starttls-probe.rules.test.yml")},
	} {
		if r := runCommand(t, environ(), promtool, args...); r.code != 0 {
			t.Errorf("promtool %s: %s", strings.Join(args, " "), r)
		}
	}
}

// localScrapeConfig is the example scrape config for this test: every
// second, the test's targets, the test's exporter, rules beside it.
func localScrapeConfig(t *testing.T, dir string, e exporterSetup) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(examples(), "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	config := strings.NewReplacer(
		"scrape_interval: 5m", "scrape_interval: 1s",
		"scrape_timeout: 30s", "scrape_timeout: 1s",
		"127.0.0.1:10025", e.addr,
		"- mail.contoso.com\n", "- "+e.good+"\n",
		"- mail2.contoso.com\n", "- "+e.plain+"\n",
		"- contoso.com\n", "- contoso.test\n",
	).Replace(string(raw))
	for _, want := range []string{e.addr, e.good, e.plain, "contoso.test", "scrape_interval: 1s"} {
		if !strings.Contains(config, want) {
			t.Fatalf("the example scrape config changed shape: %q not swapped in:\n%s", want, config)
		}
	}
	rules, err := os.ReadFile(filepath.Join(examples(), "starttls-probe.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "starttls-probe.rules.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// promQuery is one instant query's vector result.
type promQuery struct {
	Status    string `json:"status"`
	Error     string `json:"error"`
	ErrorType string `json:"errorType"`
	Data      struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

func query(t *testing.T, prom, q string) promQuery {
	t.Helper()
	code, body, err := httpGet("http://" + prom + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var r promQuery
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("query %q: %d %s", q, code, body)
	}
	return r
}

// TestRealPrometheusScrapesTheExporter runs Debian's Prometheus with the
// example scrape config (every second) against the exporter on loopback,
// lets it scrape a few times and asks its API for starttls_probe_success
// per target; the dashboard's queries must run there too.
func TestRealPrometheusScrapesTheExporter(t *testing.T) {
	prometheus := requireTool(t, "prometheus")
	e := startExporter(t)
	dir := t.TempDir()
	config := localScrapeConfig(t, dir, e)
	prom := freeAddr(t)
	log := startProcess(t, prometheus, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+prom, "--log.level=warn")
	waitHTTP(t, "http://"+prom+"/-/ready", log)

	// Three scrapes of each target, at one a second; the margin is for 2
	// loaded cores.
	var ready promQuery
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		ready = query(t, prom, `count_over_time(up{job=~"starttls-.*"}[1m]) >= 3`)
		if len(ready.Data.Result) == 4 {
			break
		}
	}
	if len(ready.Data.Result) != 4 {
		t.Fatalf("Prometheus did not scrape every target three times: %+v\nPrometheus:\n%s\nexporter:\n%s", ready, log, e.log)
	}
	up := query(t, prom, `up{job=~"starttls-.*"}`)
	for _, s := range up.Data.Result {
		if s.Value[1] != "1" {
			t.Errorf("up %v for %v", s.Value[1], s.Metric)
		}
	}
	success := map[string]string{}
	for _, s := range query(t, prom, "starttls_probe_success").Data.Result {
		success[s.Metric["target"]+" "+s.Metric["host"]] = s.Value[1].(string)
	}
	goodHost, _, _ := net.SplitHostPort(e.good)
	for key, want := range map[string]string{
		e.good + " " + goodHost:  "1",
		e.plain + " " + goodHost: "0",
		"contoso.test mx.test":   "1",
	} {
		if got := success[key]; got != want {
			t.Errorf("starttls_probe_success for target and host %q: %q, want %s (all: %v)", key, got, want, success)
		}
	}
	if r := query(t, prom, `starttls_probe_reply_code{phase="starttls",target="`+e.plain+`"}`); len(r.Data.Result) != 1 || r.Data.Result[0].Value[1] != "454" {
		t.Errorf("reply_code for the host that refuses STARTTLS: %+v", r)
	}
	if r := query(t, prom, `starttls_probe_exporter_probes_total{module="smtp_starttls"}`); len(r.Data.Result) == 0 {
		t.Errorf("the exporter's own metrics were not scraped: %+v", r)
	}

	// Every query of the dashboard runs on this Prometheus, with $host
	// as "all".
	raw, err := os.ReadFile(filepath.Join(examples(), "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dashboard.Panels) == 0 {
		t.Fatal("grafana-dashboard.json has no panels")
	}
	variable := regexp.MustCompile(`\$host\b`)
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			q := variable.ReplaceAllString(target.Expr, ".*")
			r := query(t, prom, q)
			if r.Status != "success" {
				t.Errorf("panel %q: %s: %s %s", p.Title, q, r.ErrorType, r.Error)
			} else if len(r.Data.Result) == 0 {
				t.Errorf("panel %q: %s: no data from the scraped exporter", p.Title, q)
			}
		}
	}
}

// TestREADMEExporterConfigChecks: the README's config example, every key
// in it, passes --config.check (its ca_file swapped for a real PEM file).
func TestREADMEExporterConfigChecks(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(moduleRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "The config file maps module names")
	if !ok {
		t.Fatal("README.md: no exporter config example")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	block, _, _ := strings.Cut(rest, "```")
	ca, err := probetest.NewRootCA("README Root")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	block = strings.Replace(block, "/etc/ssl/private-ca.pem", caFile, 1)
	file := filepath.Join(t.TempDir(), "starttls-probe.yml")
	if err := os.WriteFile(file, []byte(block), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runBinary(t, environ(), "serve", "--config.check", "--config.file", file); r.code != 0 {
		t.Errorf("the README's config:\n%s\n%s", block, r)
	}
}
