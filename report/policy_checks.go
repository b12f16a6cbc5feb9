package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// judgePolicies decides every domain's policy once (Summary.Policies) and
// adds the mta-sts, dane and tls-rpt checks to each endpoint of a domain
// (probe.Endpoint.Domain). On port 25 the name and trust checks then follow
// the policy: a failure senders refuse under it is CRITICAL and says
// which policy makes them refuse.
func judgePolicies(sum *Summary, expect Expect, now time.Time) {
	if len(expect.Policies) == 0 {
		return
	}
	v := &verifier{roots: expect.roots(), cache: expect.Cache, now: now}
	observed := map[string]*probe.DomainPolicy{}
	decided := map[string]*DomainPolicy{}
	for i := range expect.Policies {
		p := &expect.Policies[i]
		sum.Policies = append(sum.Policies, judgeDomainPolicy(p, v))
		observed[p.Domain] = p
	}
	for i := range sum.Policies {
		decided[sum.Policies[i].Domain] = &sum.Policies[i]
	}
	for i := range sum.Endpoints {
		ep := &sum.Endpoints[i]
		domain := strings.ToLower(strings.TrimSuffix(ep.Result.Endpoint.Domain, "."))
		p, d := observed[domain], decided[domain]
		if p == nil || interrupted(&ep.Result) {
			continue
		}
		judgeEndpointPolicy(ep, p, d, expect, now)
	}
}

func judgeEndpointPolicy(ep *Endpoint, p *probe.DomainPolicy, d *DomainPolicy, expect Expect, now time.Time) {
	r := &ep.Result
	// DANE for SMTP is port 25's (RFC 7672); another port is judged only
	// when TLSA records were published for it.
	if a := tlsaAnswer(p, r.Endpoint); a != nil && (ep.ServicePort == 25 || len(a.Records) > 0) {
		ep.DANE = judgeDANE(a, p, r.Chain, now)
		c, f := checkDANE(ep.DANE, a, r.Leaf(), expect.WarnDays, now)
		ep.Checks = append(ep.Checks, c)
		if f != nil {
			ep.PolicyFindings = append(ep.PolicyFindings, *f)
		}
	}
	mtasts := checkMTASTS(ep, d)
	ep.Checks = append(ep.Checks, mtasts, checkTLSRPT(ep, d))
	if ep.ServicePort == 25 {
		followPolicy(ep, d)
	}
}

// tlsaAnswer is the TLSA answer for the endpoint's host and port.
func tlsaAnswer(p *probe.DomainPolicy, ep probe.Endpoint) *probe.TLSAAnswer {
	host := strings.ToLower(strings.TrimSuffix(ep.Host, "."))
	for i := range p.TLSA {
		if p.TLSA[i].Host == host && p.TLSA[i].Port == ep.ServicePort() {
			return &p.TLSA[i]
		}
	}
	return nil
}

// checkMTASTS judges the endpoint under its domain's MTA-STS policy: the
// domain's own findings, then whether the policy covers this MX host and
// whether its certificate passes (RFC 8461 4).
func checkMTASTS(ep *Endpoint, d *DomainPolicy) Check {
	c := Check{ID: CheckMTASTS}
	m := d.MTASTS
	var findings []PolicyFinding
	for _, f := range d.Findings {
		if f.Check == CheckMTASTS {
			findings = append(findings, f)
		}
	}
	switch {
	case ep.ServicePort != 25:
		c.Status, c.Message = Skipped, fmt.Sprintf("MTA-STS applies to port 25, between servers, not to port %d", ep.ServicePort)
		return c
	case d.LookupError != "":
		c.Status, c.Message = Skipped, d.Domain+"'s policy was "+d.LookupError
		return c
	}
	if m.Applies() {
		findings = append(findings, mxFindings(ep, d)...)
	}
	ep.PolicyFindings = append(ep.PolicyFindings, findings...)
	var problems []string
	c.Status = OK
	for _, f := range findings {
		c.Status = Worse(c.Status, f.Status)
		problems = append(problems, f.text())
	}
	switch {
	case len(problems) > 0:
		c.Message = strings.Join(problems, "; ")
	case m.Record == "":
		c.Status, c.Message = Skipped, fmt.Sprintf("%s publishes no MTA-STS record (_mta-sts.%s)", d.Domain, d.Domain)
	case m.Mode == ModeNone:
		c.Message = fmt.Sprintf("%s's MTA-STS policy is in mode none: senders apply no MTA-STS (RFC 8461 5)", d.Domain)
	default:
		c.Message = fmt.Sprintf("%s's MTA-STS policy (mode %s, id %s) covers %s, whose certificate is valid for it and trusted", d.Domain, m.Mode, m.ID, ep.Result.Endpoint.Host)
	}
	return c
}

// mxFindings are an applied policy's demands on one MX (RFC 8461 4.1,
// 4.2): its name matches an mx pattern, and its certificate is valid for
// that name and trusted. Enforce makes each failure CRITICAL; testing
// makes it a warning, as senders only report it.
func mxFindings(ep *Endpoint, d *DomainPolicy) []PolicyFinding {
	m := d.MTASTS
	status, consequence := Critical, "MTA-STS senders (Gmail, Microsoft 365) will not deliver to it"
	if m.Mode == ModeTesting {
		status, consequence = Warning, "in testing mode senders report this by TLS-RPT but deliver"
	}
	host := ep.Result.Endpoint.Host
	var findings []PolicyFinding
	add := func(rfc, resultType, format string, args ...any) {
		findings = append(findings, PolicyFinding{Check: CheckMTASTS, Status: status, RFC: rfc, ResultType: resultType,
			Message: fmt.Sprintf(format, args...) + ": " + consequence})
	}
	covered := false
	for _, pattern := range m.MX {
		covered = covered || mxMatches(pattern, host)
	}
	if !covered {
		add("RFC 8461 4.1", "validation-failure", "the MX host %s matches no mx pattern of %s's MTA-STS policy (%s)", host, d.Domain, strings.Join(m.MX, ", "))
	}
	for _, c := range ep.Checks {
		if c.Status == OK || c.Status == Skipped {
			continue
		}
		switch c.ID {
		case CheckSTARTTLS:
			add("RFC 8461 4.2", "starttls-not-supported", "STARTTLS fails on %s", host)
		case CheckName:
			add("RFC 8461 4.2", "certificate-host-mismatch", "the certificate is not valid for the MX host %s", host)
		case CheckTrust:
			resultType := "certificate-not-trusted"
			if ep.Leaf() != nil && ep.Leaf().Validity != Valid {
				resultType = "certificate-expired"
			}
			add("RFC 8461 4.2", resultType, "the certificate of %s is not trusted under the Web PKI", host)
		}
	}
	return findings
}

// checkTLSRPT judges the domain's TLS-RPT record for this endpoint:
// malformed is a warning; absent, an info hint when the domain publishes
// MTA-STS or a DNSSEC-secure TLSA, since failures then go unreported.
func checkTLSRPT(ep *Endpoint, d *DomainPolicy) Check {
	c := Check{ID: CheckTLSRPT}
	if ep.ServicePort != 25 {
		c.Status, c.Message = Skipped, fmt.Sprintf("TLS-RPT reports on delivery to port 25, not on port %d", ep.ServicePort)
		return c
	}
	if d.LookupError != "" {
		c.Status, c.Message = Skipped, d.Domain+"'s TLS-RPT record was "+d.LookupError
		return c
	}
	for _, f := range d.Findings {
		if f.Check == CheckTLSRPT {
			ep.PolicyFindings = append(ep.PolicyFindings, f)
			c.Status, c.Message = f.Status, f.text()
			return c
		}
	}
	t := d.TLSRPT
	publishesPolicy := d.MTASTS.Record != "" || (ep.DANE != nil && ep.DANE.DNSSEC == DNSSECSecure && len(ep.DANE.TLSA) > 0)
	switch {
	case t.Record != "":
		c.Status, c.Message = OK, "failures are reported to "+strings.Join(t.RUA, ", ")
	case publishesPolicy:
		c.Status, c.Message = OK, fmt.Sprintf("no TLS-RPT record at _smtp._tls.%s; hint: publish one (\"v=TLSRPTv1; rua=mailto:tls-reports@%s\") so that senders report the TLS failures your MTA-STS or DANE policy makes them refuse (RFC 8460 3)", d.Domain, d.Domain)
	default:
		c.Status, c.Message = Skipped, fmt.Sprintf("no TLS-RPT record at _smtp._tls.%s", d.Domain)
	}
	return c
}

// followPolicy sets the severity of port 25's name and trust failures by
// the domain's policy. Without one they stay warnings: TLS between servers
// is opportunistic. Under MTA-STS enforce, or a DNSSEC-secure TLSA RRset
// the chain does not match, senders refuse: CRITICAL, naming the policy.
// MTA-STS testing keeps the warning and names the mode.
func followPolicy(ep *Endpoint, d *DomainPolicy) {
	var status Status
	var note string
	daneRefuses := ep.DANE != nil && ep.DANE.DNSSEC == DNSSECSecure && ep.DANE.Match == DANENoMatch
	switch {
	case d.MTASTS.Mode == ModeEnforce:
		status, note = Critical, fmt.Sprintf(" (critical on port 25: %s publishes an MTA-STS policy in enforce mode, so MTA-STS senders such as Gmail and Microsoft 365 will not deliver)", d.Domain)
	case daneRefuses:
		status, note = Critical, fmt.Sprintf(" (critical on port 25: %s has DNSSEC-secure TLSA records that the chain does not match, so DANE senders such as Postfix and Exchange Online will not deliver)", ep.DANE.Owner)
	case d.MTASTS.Mode == ModeTesting:
		status, note = Warning, fmt.Sprintf(" (a warning on port 25: %s's MTA-STS policy is in testing mode, so senders report the failure by TLS-RPT but deliver; in enforce mode they would not)", d.Domain)
	default:
		return
	}
	opportunistic := opportunisticNote(ep)
	for i := range ep.Checks {
		c := &ep.Checks[i]
		if (c.ID != CheckName && c.ID != CheckTrust) || c.Status != Warning || !strings.HasSuffix(c.Message, opportunistic) {
			continue
		}
		c.Status, c.Message = status, strings.TrimSuffix(c.Message, opportunistic)+note
	}
}
