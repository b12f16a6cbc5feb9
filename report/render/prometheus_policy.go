package render

import (
	"strconv"
	"strings"

	"github.com/starttls-probe/starttls-probe/report"
)

// Policy series follow the exposition conventions for enumerations: a
// state set, one series per possible value with 1 for the current one, so
// that a rule can alert on mode="enforce" without parsing text.
var (
	mtaSTSModes    = []string{report.ModeEnforce, report.ModeTesting, report.ModeNone, "invalid", "absent"}
	dnssecStatuses = []string{report.DNSSECSecure, report.DNSSECInsecure, report.DNSSECBogus, report.DNSSECUnknown}
)

// policyMetrics adds the published policies' series to e: per
// domain the MTA-STS mode, TLS-RPT and the DNSSEC status of its records;
// per endpoint with TLSA records the DANE match and their DNSSEC status.
func policyMetrics(e *exposition, s report.Summary) {
	if len(s.Policies) == 0 {
		return
	}
	mode := e.gauges(metricPrefix+"mta_sts_mode",
		"The domain's MTA-STS mode as senders apply it, a state set: 1 for the current mode; invalid when a record is published but no valid policy applies, absent when none is published.", "domain", "mode")
	tlsrpt := e.gauges(metricPrefix+"tls_rpt_valid",
		"1 when the domain publishes one valid TLS-RPT record, else 0.", "domain")
	domainDNSSEC := e.gauges(metricPrefix+"policy_dnssec_status",
		"DNSSEC status of the domain's policy records, a state set: secure, insecure, bogus or unknown (the resolver does not validate, or is not trusted to).", "domain", "status")
	daneMatch := endpointGauges(e, "dane_match",
		"1 when a DNSSEC-secure TLSA record matches the chain presented, 0 when none does; absent without secure TLSA records.", "owner")
	daneDNSSEC := endpointGauges(e, "dane_dnssec_status",
		"DNSSEC status of the endpoint's TLSA answer, a state set: secure, insecure, bogus or unknown.", "owner", "status")
	for _, d := range s.Policies {
		current := d.MTASTS.Mode
		switch {
		case current == "" && d.MTASTS.Record == "" && d.MTASTS.Error == "":
			current = "absent"
		case current == "":
			current = "invalid"
		}
		for _, m := range mtaSTSModes {
			mode.set(boolGauge(m == current), d.Domain, m)
		}
		tlsrpt.set(boolGauge(d.TLSRPT.Record != "" && d.TLSRPT.Error == ""), d.Domain)
		for _, st := range dnssecStatuses {
			domainDNSSEC.set(boolGauge(st == d.DNSSEC), d.Domain, st)
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
			daneDNSSEC.set(boolGauge(st == ep.DANE.DNSSEC), append(labels, st)...)
		}
		switch ep.DANE.Match {
		case report.DANEMatched:
			daneMatch.set(1, labels...)
		case report.DANENoMatch, report.DANENoUsable:
			daneMatch.set(0, labels...)
		}
	}
}
