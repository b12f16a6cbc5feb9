package render

import (
	"bytes"
	"context"
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The Prometheus goldens share the golden cases, the -update flag and
// compareGolden with the other renderers (render_test.go):
//
//	go test ./report -update
//	git diff report/testdata/prometheus

func TestPrometheusGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.summary()
			var out bytes.Buffer
			if err := Prometheus(&out, s); err != nil {
				t.Fatal(err)
			}
			assertPrometheusMatches(t, out.Bytes(), s)
			compareGolden(t, filepath.Join("testdata", "prometheus", tc.name+".golden"), out.Bytes())
		})
	}
}

// parseExposition parses the output back with the client library's own
// parser, as node_exporter's textfile collector does.
func parseExposition(t *testing.T, out []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("the output does not parse as the text exposition format: %v\n%s", err, out)
	}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			if m.TimestampMs != nil {
				t.Errorf("%s carries a timestamp, which the textfile collector refuses", name)
			}
		}
	}
	return families
}

// series finds the value of name's series whose labels include want.
func series(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// assertPrometheusMatches parses the output back and checks it against the
// summary it came from: every endpoint's status and checks, and the
// certificate metrics wherever a certificate was presented, verified or not.
func assertPrometheusMatches(t *testing.T, out []byte, s report.Summary) {
	t.Helper()
	families := parseExposition(t, out)
	if v, ok := series(families, "starttls_probe_last_run_timestamp_seconds", nil); !ok || v != float64(s.Now.Unix()) {
		t.Errorf("last run %v (present %v), want %d", v, ok, s.Now.Unix())
	}
	for _, ep := range s.Endpoints {
		r := ep.Result
		id := map[string]string{"host": r.Endpoint.Host, "address": r.Address, "port": strconv.Itoa(r.Endpoint.Port)}
		if v, ok := series(families, "starttls_probe_status", id); !ok || v != float64(ep.Status.ExitCode()) {
			t.Errorf("%s: status %v (present %v), want %d", r.Endpoint, v, ok, ep.Status.ExitCode())
		}
		wantSuccess := 0.0
		if ep.Status == report.OK || ep.Status == report.Warning {
			wantSuccess = 1
		}
		if v, ok := series(families, "starttls_probe_success", id); !ok || v != wantSuccess {
			t.Errorf("%s: success %v (present %v), want %v", r.Endpoint, v, ok, wantSuccess)
		}
		for _, c := range ep.Checks {
			for _, st := range checkStatuses {
				want := 0.0
				if c.Status == st {
					want = 1
				}
				labels := map[string]string{"check": c.ID, "status": st.String()}
				labels["status"] = map[report.Status]string{report.OK: "ok", report.Warning: "warning", report.Critical: "critical", report.Unknown: "unknown", report.Skipped: "skipped"}[st]
				for k, v := range id {
					labels[k] = v
				}
				if v, ok := series(families, "starttls_probe_check", labels); !ok || v != want {
					t.Errorf("%s: check %s status %s = %v (present %v), want %v", r.Endpoint, c.ID, labels["status"], v, ok, want)
				}
			}
		}
		tlsRequired, hasTLSRequired := series(families, "starttls_probe_tls_required", id)
		switch want := ep.TLSRequired; {
		case want == report.TLSRequiredTrue && (!hasTLSRequired || tlsRequired != 1),
			want == report.TLSRequiredFalse && (!hasTLSRequired || tlsRequired != 0),
			(want == report.TLSRequiredNotTested || want == report.TLSRequiredUnknown) && hasTLSRequired:
			t.Errorf("%s: tls_required %v (present %v), judged %q", r.Endpoint, tlsRequired, hasTLSRequired, want)
		}
		for _, p := range phases {
			want := 0.0
			if r.Error != nil && r.Error.Phase == p {
				want = 1
			}
			labels := map[string]string{"phase": string(p)}
			for k, v := range id {
				labels[k] = v
			}
			if v, ok := series(families, "starttls_probe_failed_phase", labels); !ok || v != want {
				t.Errorf("%s: failed_phase{phase=%q} = %v (present %v), want %v", r.Endpoint, p, v, ok, want)
			}
		}
		code, hasCode := series(families, "starttls_probe_reply_code", id)
		if r.Error != nil && r.Error.Reply != nil {
			if !hasCode || code != float64(r.Error.Reply.Code) {
				t.Errorf("%s: reply_code %v (present %v), want %d", r.Endpoint, code, hasCode, r.Error.Reply.Code)
			}
		} else if hasCode {
			t.Errorf("%s: reply_code %v although no reply ended the dialogue", r.Endpoint, code)
		}
		leaf := r.Leaf()
		_, hasExpiry := series(families, "starttls_probe_cert_not_after_timestamp_seconds", id)
		if hasExpiry != (leaf != nil) {
			t.Errorf("%s: certificate metrics present %v, certificate presented %v", r.Endpoint, hasExpiry, leaf != nil)
		}
		if leaf == nil {
			continue
		}
		if v, _ := series(families, "starttls_probe_cert_not_after_timestamp_seconds", id); v != float64(leaf.NotAfter.Unix()) {
			t.Errorf("%s: not after %v, want %d", r.Endpoint, v, leaf.NotAfter.Unix())
		}
		if v, _ := series(families, "starttls_probe_cert_expiry_seconds", id); v != math.Floor(leaf.NotAfter.Sub(s.Now).Seconds()) {
			t.Errorf("%s: expiry in %v s, want %v", r.Endpoint, v, leaf.NotAfter.Sub(s.Now).Seconds())
		}
		// Whole days from the seconds agree with the text and JSON's days left.
		if v, _ := series(families, "starttls_probe_cert_expiry_seconds", id); int(math.Floor(v/86400)) != ep.Leaf().DaysLeft {
			t.Errorf("%s: expiry in %v s is %d days, want the report's %d", r.Endpoint, v, int(math.Floor(v/86400)), ep.Leaf().DaysLeft)
		}
		info := map[string]string{"sha1": reporttest.SHA1(leaf), "subject": escapeName(leaf.Subject.String()), "issuer": escapeName(leaf.Issuer.String())}
		for k, v := range id {
			info[k] = v
		}
		if v, ok := series(families, "starttls_probe_cert_info", info); !ok || v != 1 {
			t.Errorf("%s: no cert_info series with labels %v", r.Endpoint, info)
		}
	}
}

// TestPrometheusKeepsCertificateMetricsWhenVerificationFails: a
// self-signed or expired certificate still has its expiry, days left and
// thumbprint in the output.
func TestPrometheusKeepsCertificateMetricsWhenVerificationFails(t *testing.T) {
	for _, name := range []string{"self-signed-2525", "expired"} {
		t.Run(name, func(t *testing.T) {
			s := findCase(t, name).summary()
			if s.Status == report.OK {
				t.Fatalf("case %s should fail verification", name)
			}
			var out bytes.Buffer
			if err := Prometheus(&out, s); err != nil {
				t.Fatal(err)
			}
			families := parseExposition(t, out.Bytes())
			for _, metric := range []string{"starttls_probe_cert_not_after_timestamp_seconds", "starttls_probe_cert_expiry_seconds", "starttls_probe_cert_info"} {
				if _, ok := series(families, metric, nil); !ok {
					t.Errorf("%s missing although a certificate was presented", metric)
				}
			}
		})
	}
}

func TestPrometheusHostileSubjectRoundTrips(t *testing.T) {
	s := findCase(t, "hostile").summary()
	var out bytes.Buffer
	if err := Prometheus(&out, s); err != nil {
		t.Fatal(err)
	}
	assertTerminalSafe(t, out.Bytes())
	families := parseExposition(t, out.Bytes())
	leaf := s.Endpoints[0].Leaf()
	if _, ok := series(families, "starttls_probe_cert_info", map[string]string{"subject": escapeName(leaf.Subject)}); !ok {
		t.Errorf("the subject label does not parse back to %q:\n%s", escapeName(leaf.Subject), out.String())
	}
}

// TestPrometheusOnProbedServer renders a real probe of a loopback server
// whose self-signed certificate does not verify.
func TestPrometheusOnProbedServer(t *testing.T) {
	chain, err := probetest.SelfSigned(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	// It requires TLS as Postfix does: 530 5.7.0 to MAIL FROM in plaintext.
	srv := probetest.NewServer(t, probetest.Config{Chain: chain, RequireTLS: true})
	ep := srv.Endpoint("", 587)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := probe.Run(ctx, []probe.Job{{Endpoint: ep}}, probe.Options{EHLOName: "probe.test"}, nil)
	s := report.Judge(results, report.Expect{Name: "mx.test"}, time.Now())
	var out bytes.Buffer
	if err := Prometheus(&out, s); err != nil {
		t.Fatal(err)
	}
	assertPrometheusMatches(t, out.Bytes(), s)
	families := parseExposition(t, out.Bytes())
	id := map[string]string{"host": srv.IP(), "port": strconv.Itoa(srv.Port())}
	if v, ok := series(families, "starttls_probe_success", id); !ok || v != 0 {
		t.Errorf("success %v (present %v), want 0: a self-signed certificate on 587 is critical", v, ok)
	}
	if v, ok := series(families, "starttls_probe_starttls_offered", id); !ok || v != 1 {
		t.Errorf("starttls_offered %v (present %v), want 1", v, ok)
	}
	if v, ok := series(families, "starttls_probe_tls_required", id); !ok || v != 1 {
		t.Errorf("tls_required %v (present %v), want 1", v, ok)
	}
	if _, ok := series(families, "starttls_probe_handshake_duration_seconds", id); !ok {
		t.Errorf("no handshake duration")
	}
	if _, ok := series(families, "starttls_probe_cert_info", map[string]string{"sha1": reporttest.SHA1(chain.Leaf())}); !ok {
		t.Errorf("no cert_info for the served certificate %s", reporttest.SHA1(chain.Leaf()))
	}
}

// TestPrometheusTLSNotRequired: a server known to decide at MAIL FROM
// (Postfix, by its banner) that takes MAIL FROM in plaintext is
// tls_required 0.
func TestPrometheusTLSNotRequired(t *testing.T) {
	chain, err := probetest.SelfSigned(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := probetest.NewServer(t, probetest.Config{Chain: chain, Banner: "220 mx.test ESMTP Postfix (Debian/GNU)"})
	ep := srv.Endpoint("", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := report.Judge(probe.Run(ctx, []probe.Job{{Endpoint: ep}}, probe.Options{EHLOName: "probe.test"}, nil), report.Expect{Name: "mx.test"}, time.Now())
	var out bytes.Buffer
	if err := Prometheus(&out, s); err != nil {
		t.Fatal(err)
	}
	assertPrometheusMatches(t, out.Bytes(), s)
	if v, ok := series(parseExposition(t, out.Bytes()), "starttls_probe_tls_required", nil); !ok || v != 0 {
		t.Errorf("tls_required %v (present %v), want 0", v, ok)
	}
}

// TestPrometheusFailedStepAndReplyCode: a 454 to STARTTLS is named by its
// step and its code, which blackbox_exporter cannot say (its issue 1528).
func TestPrometheusFailedStepAndReplyCode(t *testing.T) {
	srv := probetest.NewScript(t, probetest.Script{
		Greeting: []string{"220 mx.test ESMTP"},
		EHLO:     []string{"250-mx.test", "250 STARTTLS"},
		STARTTLS: []string{"454 4.7.0 TLS not available due to temporary reason"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := probe.Run(ctx, []probe.Job{{Endpoint: srv.Endpoint("", 25)}}, probe.Options{EHLOName: "probe.test"}, nil)
	s := report.Judge(results, report.Expect{Name: "mx.test"}, time.Now())
	var out bytes.Buffer
	if err := Prometheus(&out, s); err != nil {
		t.Fatal(err)
	}
	assertPrometheusMatches(t, out.Bytes(), s)
	families := parseExposition(t, out.Bytes())
	if v, ok := series(families, "starttls_probe_reply_code", map[string]string{"phase": "starttls"}); !ok || v != 454 {
		t.Errorf("reply_code{phase=starttls} %v (present %v), want 454:\n%s", v, ok, out.String())
	}
	if v, ok := series(families, "starttls_probe_failed_phase", map[string]string{"phase": "starttls"}); !ok || v != 1 {
		t.Errorf("failed_phase{phase=starttls} %v (present %v), want 1", v, ok)
	}
	checkMetricsWithPromtool(t, out.Bytes())
}

// TestPrometheusNamesPassPromtool runs Prometheus' own linter over every
// golden case: names, units and help follow the conventions.
func TestPrometheusNamesPassPromtool(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Prometheus(&out, tc.summary()); err != nil {
				t.Fatal(err)
			}
			checkMetricsWithPromtool(t, out.Bytes())
		})
	}
}

// TestPrometheusAddressesConsistent: a name and port reached at two
// addresses gets one addresses_consistent series, 0 when one node presents
// another certificate, 1 when both present the same.
func TestPrometheusAddressesConsistent(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	for _, tc := range []struct {
		name string
		want float64
		old  bool
	}{{"same certificate", 1, false}, {"one node not renewed", 0, true}} {
		first, second := reporttest.Frontend(p.Good), reporttest.Frontend(p.Good)
		if tc.old {
			second = reporttest.Frontend(p.GoodOld)
		}
		first.Address, second.Address = "127.0.0.10", "127.0.0.11"
		s := judgeDialogues(t, p, first, second)
		var out bytes.Buffer
		if err := Prometheus(&out, s); err != nil {
			t.Fatal(err)
		}
		families := parseExposition(t, out.Bytes())
		if n := len(families["starttls_probe_addresses_consistent"].GetMetric()); n != 1 {
			t.Errorf("%s: %d addresses_consistent series, want 1 for the name and port:\n%s", tc.name, n, out.String())
		}
		if v, ok := series(families, "starttls_probe_addresses_consistent", map[string]string{"port": "25"}); !ok || v != tc.want {
			t.Errorf("%s: addresses_consistent %v (present %v), want %v:\n%s", tc.name, v, ok, tc.want, out.String())
		}
		checkMetricsWithPromtool(t, out.Bytes())
	}
}

// TestPrometheusPolicyNamesPassPromtool lints the policy series (MTA-STS,
// DANE, TLS-RPT) as the golden cases' are.
func TestPrometheusPolicyNamesPassPromtool(t *testing.T) {
	var out bytes.Buffer
	if err := Prometheus(&out, policySummary(t)); err != nil {
		t.Fatal(err)
	}
	checkMetricsWithPromtool(t, out.Bytes())
}

// BenchmarkPrometheus renders every golden case's summary, about what an
// exporter scrape renders per probe (issue 15: the exposition was a sixth
// of a scrape's CPU).
func BenchmarkPrometheus(b *testing.B) {
	var summaries []report.Summary
	for _, tc := range goldenCases(b) {
		summaries = append(summaries, tc.summary())
	}
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range summaries {
			out.Reset()
			if err := Prometheus(&out, s); err != nil {
				b.Fatal(err)
			}
		}
	}
}
