package render

import "github.com/starttls-probe/starttls-probe/report"

// The JSON of published policies (README.md, "Policies"): a top-level
// policies[] and per result dane and policy_findings, all left out when no
// policy was looked up (no --mx or --domain, or --no-policy).
type (
	jsonPolicy struct {
		Domain   string                 `json:"domain"`
		MTASTS   jsonMTASTS             `json:"mta_sts"`
		TLSRPT   jsonTLSRPT             `json:"tls_rpt"`
		DNSSEC   string                 `json:"dnssec"`
		Resolver string                 `json:"resolver"`
		Findings []report.PolicyFinding `json:"findings"`
	}
	jsonMTASTS struct {
		Record      string   `json:"record"`
		ID          string   `json:"id"`
		Mode        string   `json:"mode"`
		MaxAge      int      `json:"max_age"`
		MX          []string `json:"mx"`
		PolicyURL   string   `json:"policy_url"`
		ContentType string   `json:"content_type"`
		Error       string   `json:"error"`
	}
	jsonTLSRPT struct {
		Record string   `json:"record"`
		RUA    []string `json:"rua"`
		Error  string   `json:"error"`
	}
	jsonDANE struct {
		Owner    string        `json:"owner"`
		DNSSEC   string        `json:"dnssec"`
		Resolver string        `json:"resolver"`
		TLSA     []report.TLSA `json:"tlsa"`
		Match    string        `json:"match"`
	}
)

func toJSONPolicies(policies []report.DomainPolicy) []jsonPolicy {
	var out []jsonPolicy
	for _, p := range policies {
		m, t := p.MTASTS, p.TLSRPT
		jp := jsonPolicy{Domain: p.Domain, DNSSEC: p.DNSSEC, Resolver: p.Resolver, Findings: p.Findings,
			MTASTS: jsonMTASTS{Record: m.Record, ID: m.ID, Mode: m.Mode, MaxAge: m.MaxAge, MX: m.MX, PolicyURL: m.PolicyURL, ContentType: m.ContentType, Error: m.Error},
			TLSRPT: jsonTLSRPT{Record: t.Record, RUA: t.RUA, Error: t.Error}}
		if jp.Findings == nil {
			jp.Findings = []report.PolicyFinding{}
		}
		if jp.MTASTS.MX == nil {
			jp.MTASTS.MX = []string{}
		}
		if jp.TLSRPT.RUA == nil {
			jp.TLSRPT.RUA = []string{}
		}
		out = append(out, jp)
	}
	return out
}

func toJSONDANE(d *report.DANE) *jsonDANE {
	if d == nil {
		return nil
	}
	j := &jsonDANE{Owner: d.Owner, DNSSEC: d.DNSSEC, Resolver: d.Resolver, TLSA: d.TLSA, Match: d.Match}
	if j.TLSA == nil {
		j.TLSA = []report.TLSA{}
	}
	return j
}
