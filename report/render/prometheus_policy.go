package render

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/starttls-probe/starttls-probe/report"
)

// Policy series follow the exposition conventions for enumerations: a
// state set, one series per possible value with 1 for the current one, so
// that a rule can alert on mode="enforce" without parsing text.
var (
	mtaSTSModes    = []string{report.ModeEnforce, report.ModeTesting, report.ModeNone, "invalid", "absent"}
	dnssecStatuses = []string{report.DNSSECSecure, report.DNSSECInsecure, report.DNSSECBogus, report.DNSSECUnknown}
)

// registerPolicyMetrics adds the published policies' series to reg: per
// domain the MTA-STS mode, TLS-RPT and the DNSSEC status of its records;
// per endpoint with TLSA records the DANE match and their DNSSEC status.
func registerPolicyMetrics(reg *prometheus.Registry, s report.Summary) error {
	if len(s.Policies) == 0 {
		return nil
	}
	mode := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricPrefix + "mta_sts_mode",
		Help: "The domain's MTA-STS mode as senders apply it, a state set: 1 for the current mode; invalid when a record is published but no valid policy applies, absent when none is published."}, []string{"domain", "mode"})
	tlsrpt := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricPrefix + "tls_rpt_valid",
		Help: "1 when the domain publishes one valid TLS-RPT record, else 0."}, []string{"domain"})
	domainDNSSEC := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricPrefix + "policy_dnssec_status",
		Help: "DNSSEC status of the domain's policy records, a state set: secure, insecure, bogus or unknown (the resolver does not validate, or is not trusted to)."}, []string{"domain", "status"})
	daneMatch := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricPrefix + "dane_match",
		Help: "1 when a DNSSEC-secure TLSA record matches the chain presented, 0 when none does; absent without secure TLSA records."}, append(append([]string(nil), endpointLabels...), "owner"))
	daneDNSSEC := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricPrefix + "dane_dnssec_status",
		Help: "DNSSEC status of the endpoint's TLSA answer, a state set: secure, insecure, bogus or unknown."}, append(append([]string(nil), endpointLabels...), "owner", "status"))
	for _, c := range []prometheus.Collector{mode, tlsrpt, domainDNSSEC, daneMatch, daneDNSSEC} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	for _, d := range s.Policies {
		current := d.MTASTS.Mode
		switch {
		case current == "" && d.MTASTS.Record == "" && d.MTASTS.Error == "":
			current = "absent"
		case current == "":
			current = "invalid"
		}
		for _, m := range mtaSTSModes {
			mode.WithLabelValues(d.Domain, m).Set(boolGauge(m == current))
		}
		tlsrpt.WithLabelValues(d.Domain).Set(boolGauge(d.TLSRPT.Record != "" && d.TLSRPT.Error == ""))
		for _, st := range dnssecStatuses {
			domainDNSSEC.WithLabelValues(d.Domain, st).Set(boolGauge(st == d.DNSSEC))
		}
	}
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		if ep.DANE == nil || len(ep.DANE.TLSA) == 0 {
			continue
		}
		r := &ep.Result
		labels := []string{strings.ToValidUTF8(r.Endpoint.Host, "\uFFFD"), r.Address, strconv.Itoa(r.Endpoint.Port), ep.DANE.Owner}
		for _, st := range dnssecStatuses {
			daneDNSSEC.WithLabelValues(append(labels, st)...).Set(boolGauge(st == ep.DANE.DNSSEC))
		}
		switch ep.DANE.Match {
		case report.DANEMatched:
			daneMatch.WithLabelValues(labels...).Set(1)
		case report.DANENoMatch, report.DANENoUsable:
			daneMatch.WithLabelValues(labels...).Set(0)
		}
	}
	return nil
}
