package render

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// Prometheus output is the text exposition format, for node_exporter's
// textfile collector: a cron job or systemd timer writes it with
// --output-file (atomically) and node_exporter serves it. The client
// library builds and formats it, so names, label escaping and ordering are
// its own; there are no timestamps, which the textfile collector refuses.
//
// Unlike blackbox_exporter, the certificate metrics are there whenever a
// certificate was presented, verified or not: an untrusted or expired
// certificate is exactly when its expiry and thumbprint matter.

const metricPrefix = "starttls_probe_"

// endpointLabels identify an endpoint in every series.
var endpointLabels = []string{"host", "address", "port"}

// promMetrics are the gauges of one run.
type promMetrics struct {
	success, status, starttlsOffered, tlsRequired, handshake, duration *prometheus.GaugeVec
	notAfter, expiry, certInfo, check                                  *prometheus.GaugeVec
	failedPhase, replyCode, consistent                                 *prometheus.GaugeVec
	lastRun                                                            prometheus.Gauge
}

func gaugeVec(name, help string, extraLabels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricPrefix + name, Help: help},
		append(append([]string(nil), endpointLabels...), extraLabels...))
}

func newPromMetrics() promMetrics {
	return promMetrics{
		success: gaugeVec("success", "1 when nothing on the endpoint is critical or unknown (warnings count as success), else 0."),
		status:  gaugeVec("status", "The endpoint's status as a plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."),
		starttlsOffered: gaugeVec("starttls_offered",
			"1 when the EHLO reply offered STARTTLS, 0 when it did not; absent for implicit TLS or when no EHLO reply was read."),
		tlsRequired: gaugeVec("tls_required",
			"1 when the endpoint refused MAIL FROM before STARTTLS for want of TLS, 0 when it accepted plaintext mail; absent when not tested or when the refusal was for another reason."),
		handshake: gaugeVec("handshake_duration_seconds", "Duration of the TLS handshake."),
		duration:  gaugeVec("duration_seconds", "Duration of the whole probe of the endpoint, from name resolution to QUIT."),
		notAfter: gaugeVec("cert_not_after_timestamp_seconds",
			"NotAfter of the leaf certificate as a Unix time; present whether or not the certificate verifies."),
		// Seconds, not days: Prometheus' base unit (promtool check
		// metrics). It was cert_days_left before the first release.
		expiry: gaugeVec("cert_expiry_seconds",
			"Seconds from the run until the leaf certificate expires, negative once expired; present whether or not it verifies."),
		certInfo: gaugeVec("cert_info", "The leaf certificate presented, always 1: SHA-1 thumbprint (as Exchange shows it), subject and issuer as labels.",
			"sha1", "subject", "issuer"),
		check: gaugeVec("check", "One series per check and status: 1 for the check's status, 0 for the others.",
			"check", "status"),
		failedPhase: gaugeVec("failed_phase",
			"One series per step of the dialogue: 1 for the step at which the probe failed, 0 for the others; all 0 when it did not fail.",
			"phase"),
		replyCode: gaugeVec("reply_code",
			"The SMTP reply code that ended the dialogue (a 421 banner, a 454 to STARTTLS), labelled with its step; absent when no reply ended it.",
			"phase"),
		consistent: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricPrefix + "addresses_consistent",
			Help: "For a name and port reached at two or more addresses: 1 when they all present the same certificate and STARTTLS offer, 0 when one differs."},
			[]string{"host", "port"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricPrefix + "last_run_timestamp_seconds",
			Help: "When the run judged the endpoints, as a Unix time: alert when it grows old and the job stopped."}),
	}
}

func (m promMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.success, m.status, m.starttlsOffered, m.tlsRequired, m.handshake, m.duration,
		m.notAfter, m.expiry, m.certInfo, m.check, m.failedPhase, m.replyCode, m.consistent, m.lastRun}
}

// phases are the values of the failed_phase series' phase label, in the
// order of the dialogue.
var phases = []probe.Phase{probe.PhaseDNS, probe.PhaseConnect, probe.PhaseBanner, probe.PhaseEHLO,
	probe.PhaseSTARTTLS, probe.PhaseHandshake, probe.PhasePostTLS}

// checkStatuses are the values of the check series' status label.
var checkStatuses = []report.Status{report.OK, report.Warning, report.Critical, report.Unknown, report.Skipped}

// Prometheus writes the summary in the Prometheus text exposition format.
func Prometheus(w io.Writer, s report.Summary) error {
	m := newPromMetrics()
	reg := prometheus.NewRegistry()
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("prometheus metrics: %w", err)
		}
	}
	m.lastRun.Set(float64(s.Now.Unix()))
	for i := range s.Endpoints {
		m.observe(&s.Endpoints[i], s.Now)
	}
	for _, g := range s.Consistency {
		m.consistent.With(prometheus.Labels{"host": strings.ToValidUTF8(g.Host, "\uFFFD"), "port": strconv.Itoa(g.Port)}).Set(boolGauge(!g.Differs))
	}
	if err := registerPolicyMetrics(reg, s); err != nil {
		return fmt.Errorf("prometheus metrics: %w", err)
	}
	families, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("prometheus metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

func (m promMetrics) observe(ep *report.Endpoint, now time.Time) {
	r := &ep.Result
	// Label values by position (host, address, port, then the family's
	// own), not by map: about 70 series an endpoint, each a map to build
	// and hash, were a tenth of an exporter scrape's CPU.
	host, port := strings.ToValidUTF8(r.Endpoint.Host, "\uFFFD"), strconv.Itoa(r.Endpoint.Port)
	with := func(extra ...string) []string {
		return append([]string{host, r.Address, port}, extra...)
	}
	labels := with()

	m.success.WithLabelValues(labels...).Set(boolGauge(ep.Status.Passes()))
	m.status.WithLabelValues(labels...).Set(float64(ep.Status.ExitCode()))
	if ep.STARTTLS != report.STARTTLSNotObserved {
		m.starttlsOffered.WithLabelValues(labels...).Set(boolGauge(ep.STARTTLS == report.STARTTLSOffered))
	}
	switch ep.TLSRequired {
	case report.TLSRequiredTrue:
		m.tlsRequired.WithLabelValues(labels...).Set(1)
	case report.TLSRequiredFalse:
		m.tlsRequired.WithLabelValues(labels...).Set(0)
	}
	if r.Timings.Handshake > 0 && ep.TLS != nil && ep.TLS.Complete {
		m.handshake.WithLabelValues(labels...).Set(r.Timings.Handshake.Seconds())
	}
	if r.Timings.Total > 0 {
		m.duration.WithLabelValues(labels...).Set(r.Timings.Total.Seconds())
	}
	if leaf := ep.Leaf(); leaf != nil {
		m.notAfter.WithLabelValues(labels...).Set(float64(leaf.NotAfter.Unix()))
		m.expiry.WithLabelValues(labels...).Set(math.Floor(leaf.NotAfter.Sub(now).Seconds()))
		// Escape, as in the text report: the labels end up in files and
		// dashboards that a terminal may print. The exposition format
		// escapes what it must on top (backslash, quote, newline).
		// Labels: sha1, subject, issuer.
		m.certInfo.WithLabelValues(with(leaf.SHA1, escapeName(leaf.Subject), escapeName(leaf.Issuer))...).Set(1)
	}
	var failed probe.Phase
	if ep.Failure != nil {
		failed = ep.Failure.Phase
	}
	for _, p := range phases {
		m.failedPhase.WithLabelValues(with(string(p))...).Set(boolGauge(p == failed))
	}
	if e := r.Error; e != nil && e.Reply != nil {
		m.replyCode.WithLabelValues(with(string(e.Phase))...).Set(float64(e.Reply.Code))
	}
	for _, c := range ep.Checks {
		for _, st := range checkStatuses {
			// Labels: check, status.
			m.check.WithLabelValues(with(c.ID, strings.ToLower(st.String()))...).Set(boolGauge(c.Status == st))
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
