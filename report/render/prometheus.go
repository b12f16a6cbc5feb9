package render

import (
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// Prometheus output is the text exposition format, for node_exporter's
// textfile collector: a cron job or systemd timer writes it with
// --output-file (atomically) and node_exporter serves it. The client
// library's data model and encoder format it, so label escaping is
// theirs; there are no timestamps, which the textfile collector refuses.
//
// Unlike blackbox_exporter, the certificate metrics are there whenever a
// certificate was presented, verified or not: an untrusted or expired
// certificate is exactly when its expiry and thumbprint matter.

const metricPrefix = "starttls_probe_"

// endpointLabels identify an endpoint in every series.
var endpointLabels = []string{"host", "address", "port"}

// promMetrics are the gauges of one run.
type promMetrics struct {
	success, status, starttlsOffered, tlsRequired, handshake, duration *gauges
	notAfter, expiry, certInfo, check                                  *gauges
	failedPhase, replyCode, consistent, lastRun                        *gauges
}

// endpointGauges is a family of starttls_probe_name labelled by endpoint
// (endpointLabels), then by extraLabels.
func endpointGauges(e *exposition, name, help string, extraLabels ...string) *gauges {
	return e.gauges(metricPrefix+name, help, append(append([]string(nil), endpointLabels...), extraLabels...)...)
}

func newPromMetrics(e *exposition) promMetrics {
	gauge := func(name, help string, extraLabels ...string) *gauges {
		return endpointGauges(e, name, help, extraLabels...)
	}
	return promMetrics{
		success: gauge("success", "1 when nothing on the endpoint is critical or unknown (warnings count as success), else 0."),
		status:  gauge("status", "The endpoint's status as a plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."),
		starttlsOffered: gauge("starttls_offered",
			"1 when the EHLO reply offered STARTTLS, 0 when it did not; absent for implicit TLS or when no EHLO reply was read."),
		tlsRequired: gauge("tls_required",
			"1 when the endpoint refused MAIL FROM before STARTTLS for want of TLS, 0 when it accepted plaintext mail; absent when not tested or when the refusal was for another reason."),
		handshake: gauge("handshake_duration_seconds", "Duration of the TLS handshake."),
		duration:  gauge("duration_seconds", "Duration of the whole probe of the endpoint, from name resolution to QUIT."),
		notAfter: gauge("cert_not_after_timestamp_seconds",
			"NotAfter of the leaf certificate as a Unix time; present whether or not the certificate verifies."),
		// Seconds, not days: Prometheus' base unit (promtool check
		// metrics). It was cert_days_left before the first release.
		expiry: gauge("cert_expiry_seconds",
			"Seconds from the run until the leaf certificate expires, negative once expired; present whether or not it verifies."),
		certInfo: gauge("cert_info", "The leaf certificate presented, always 1: SHA-1 thumbprint (as Exchange shows it), subject and issuer as labels.",
			"sha1", "subject", "issuer"),
		check: gauge("check", "One series per check and status: 1 for the check's status, 0 for the others.",
			"check", "status"),
		failedPhase: gauge("failed_phase",
			"One series per step of the dialogue: 1 for the step at which the probe failed, 0 for the others; all 0 when it did not fail.",
			"phase"),
		replyCode: gauge("reply_code",
			"The SMTP reply code that ended the dialogue (a 421 banner, a 454 to STARTTLS), labelled with its step; absent when no reply ended it.",
			"phase"),
		consistent: e.gauges(metricPrefix+"addresses_consistent",
			"For a name and port reached at two or more addresses: 1 when they all present the same certificate and STARTTLS offer, 0 when one differs.",
			"host", "port"),
		lastRun: e.gauges(metricPrefix+"last_run_timestamp_seconds",
			"When the run judged the endpoints, as a Unix time: alert when it grows old and the job stopped."),
	}
}

// phases are the values of the failed_phase series' phase label, in the
// order of the dialogue.
var phases = []probe.Phase{probe.PhaseDNS, probe.PhaseConnect, probe.PhaseBanner, probe.PhaseEHLO,
	probe.PhaseSTARTTLS, probe.PhaseHandshake, probe.PhasePostTLS}

// checkStatuses are the values of the check series' status label.
var checkStatuses = []report.Status{report.OK, report.Warning, report.Critical, report.Unknown, report.Skipped}

// Prometheus writes the summary in the Prometheus text exposition format.
func Prometheus(w io.Writer, s report.Summary) error {
	var e exposition
	m := newPromMetrics(&e)
	m.lastRun.set(float64(s.Now.Unix()))
	for i := range s.Endpoints {
		m.observe(&s.Endpoints[i], s.Now)
	}
	for _, g := range s.Consistency {
		m.consistent.set(boolGauge(!g.Differs), strings.ToValidUTF8(g.Host, "\uFFFD"), strconv.Itoa(g.Port))
	}
	policyMetrics(&e, s)
	return e.write(w)
}

func (m promMetrics) observe(ep *report.Endpoint, now time.Time) {
	r := &ep.Result
	// Label values: host, address, port, then the family's own.
	host, port := strings.ToValidUTF8(r.Endpoint.Host, "\uFFFD"), strconv.Itoa(r.Endpoint.Port)
	with := func(extra ...string) []string {
		return append([]string{host, r.Address, port}, extra...)
	}
	labels := with()

	m.success.set(boolGauge(ep.Status.Passes()), labels...)
	m.status.set(float64(ep.Status.ExitCode()), labels...)
	if ep.STARTTLS != report.STARTTLSNotObserved {
		m.starttlsOffered.set(boolGauge(ep.STARTTLS == report.STARTTLSOffered), labels...)
	}
	switch ep.TLSRequired {
	case report.TLSRequiredTrue:
		m.tlsRequired.set(1, labels...)
	case report.TLSRequiredFalse:
		m.tlsRequired.set(0, labels...)
	}
	if r.Timings.Handshake > 0 && ep.TLS != nil && ep.TLS.Complete {
		m.handshake.set(r.Timings.Handshake.Seconds(), labels...)
	}
	if r.Timings.Total > 0 {
		m.duration.set(r.Timings.Total.Seconds(), labels...)
	}
	if leaf := ep.Leaf(); leaf != nil {
		m.notAfter.set(float64(leaf.NotAfter.Unix()), labels...)
		m.expiry.set(math.Floor(leaf.NotAfter.Sub(now).Seconds()), labels...)
		// Escape, as in the text report: the labels end up in files and
		// dashboards that a terminal may print. The exposition format
		// escapes what it must on top (backslash, quote, newline).
		// Labels: sha1, subject, issuer.
		m.certInfo.set(1, with(leaf.SHA1, escapeName(leaf.Subject), escapeName(leaf.Issuer))...)
	}
	var failed probe.Phase
	if ep.Failure != nil {
		failed = ep.Failure.Phase
	}
	for _, p := range phases {
		m.failedPhase.set(boolGauge(p == failed), with(string(p))...)
	}
	if e := r.Error; e != nil && e.Reply != nil {
		m.replyCode.set(float64(e.Reply.Code), with(string(e.Phase))...)
	}
	for _, c := range ep.Checks {
		for _, st := range checkStatuses {
			// Labels: check, status.
			m.check.set(boolGauge(c.Status == st), with(c.ID, strings.ToLower(st.String()))...)
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
