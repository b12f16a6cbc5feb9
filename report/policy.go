package report

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/starttls-probe/starttls-probe/probe"
)

// Check IDs of the published policies (policy_checks.go), stable: scripts
// match on them.
const (
	CheckMTASTS = "mta-sts"
	CheckDANE   = "dane"
	CheckTLSRPT = "tls-rpt"
)

// MTA-STS modes (RFC 8461 5).
const (
	ModeEnforce = "enforce"
	ModeTesting = "testing"
	ModeNone    = "none"
)

// maxMaxAge is the largest max_age RFC 8461 3.2 allows: about a year.
const maxMaxAge = 31557600

// DNSSEC statuses of an answer, from the AD bit of a resolver we trust.
const (
	DNSSECSecure   = "secure"
	DNSSECInsecure = "insecure"
	// DNSSECBogus: a validating resolver refused the answer (SERVFAIL,
	// served with CD).
	DNSSECBogus = "bogus"
	// DNSSECUnknown: the resolver does not validate, or is not one we
	// trust to (neither loopback nor --resolver).
	DNSSECUnknown = "unknown"
)

// DomainPolicy is what report decided about a mail domain's published
// policy, drawn by the renderers as one block per domain.
type DomainPolicy struct {
	Domain string
	MTASTS MTASTS
	TLSRPT TLSRPT
	// DNSSEC is the status of the domain's policy records (its _mta-sts
	// and _smtp._tls answers); Resolver is the server that vouched.
	DNSSEC   string
	Resolver string
	// LookupError, when set, is why nothing of the policy was looked up.
	LookupError string
	// Findings are the domain's own (record, fetch, policy syntax); each
	// endpoint of the domain carries them in its mta-sts and tls-rpt checks
	// too, with its own findings.
	Findings []PolicyFinding
}

// MTASTS is the domain's MTA-STS record and policy as a sender reads them.
type MTASTS struct {
	// Record is the v=STSv1 TXT record, "" when none.
	Record string
	ID     string
	// Mode is enforce, testing or none; "" when no valid policy applies
	// (Error says why).
	Mode   string
	MaxAge int
	MX     []string
	// PolicyURL is where the policy was fetched, "" when it was not.
	PolicyURL   string
	ContentType string
	// Error is why senders apply no MTA-STS policy, "" when they apply
	// one or none is published.
	Error string
}

// Applies reports whether senders apply the policy: a valid one in
// enforce or testing mode.
func (m MTASTS) Applies() bool { return m.Mode == ModeEnforce || m.Mode == ModeTesting }

// TLSRPT is the domain's TLS-RPT record (RFC 8460 3).
type TLSRPT struct {
	Record string
	RUA    []string
	Error  string
}

// PolicyFinding is one judgement under a published policy, with the RFC
// clause it rests on and, for failures, the TLS-RPT result type a sender
// would report (RFC 8460 4.3).
type PolicyFinding struct {
	Check   string `json:"check"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	RFC     string `json:"rfc"`
	// ResultType is the TLS-RPT result type, "" for none.
	ResultType string `json:"result_type,omitempty"`
}

// text is the finding as a check's message shows it.
func (f PolicyFinding) text() string {
	cite := f.RFC
	if f.ResultType != "" {
		cite += "; TLS-RPT: " + f.ResultType
	}
	return f.Message + " (" + cite + ")"
}

// resolverVouches reports whether the AD bit of server is to be believed:
// a loopback resolver (a validating one on this machine) or the one the
// user named with --resolver. Any other resolver's AD crossed a network
// that could have set it.
func resolverVouches(server *probe.DNSServer) bool {
	return server != nil && (server.Named || server.Addr.Addr().IsLoopback())
}

// dnssecStatus is the DNSSEC status of an answer.
func dnssecStatus(a probe.DNSAnswer, validatingAncestor string, server *probe.DNSServer) string {
	bogus := a.Rcode == dns.RcodeServerFailure &&
		(a.CheckingDisabledRcode == dns.RcodeSuccess || a.CheckingDisabledRcode == dns.RcodeNameError || hasDNSSECError(a.ExtendedErrors))
	switch {
	case a.Err != nil || !resolverVouches(server):
		return DNSSECUnknown
	case bogus:
		return DNSSECBogus
	case a.AD:
		return DNSSECSecure
	case validatingAncestor != "":
		return DNSSECInsecure
	}
	return DNSSECUnknown
}

// hasDNSSECError reports an RFC 8914 extended error of DNSSEC validation
// (6 DNSSEC Bogus through 12 NSEC Missing).
func hasDNSSECError(codes []uint16) bool {
	for _, c := range codes {
		if c >= dns.ExtendedErrorCodeDNSBogus && c <= dns.ExtendedErrorCodeNSECMissing {
			return true
		}
	}
	return false
}

func resolverName(p *probe.DomainPolicy) string {
	if p.Resolver == nil {
		return ""
	}
	name := p.Resolver.Addr.String()
	switch {
	case p.Resolver.Named:
		name += " (--resolver)"
	case p.Resolver.Addr.Addr().IsLoopback():
		name += " (system, loopback)"
	default:
		name += " (system, not loopback: its AD bit is not trusted)"
	}
	return name
}

// judgeDomainPolicy reads what a domain publishes, against roots at now.
func judgeDomainPolicy(p *probe.DomainPolicy, roots *verifier) DomainPolicy {
	d := DomainPolicy{Domain: p.Domain, Resolver: resolverName(p)}
	if p.ResolverErr != nil {
		// No DNS server to ask (no /etc/resolv.conf, as on Windows): the
		// policy checks are skipped, saying so, rather than making every
		// --mx run unknown.
		d.DNSSEC = DNSSECUnknown
		d.LookupError = "not looked up: " + p.ResolverErr.Error() + "; give --resolver ADDR:PORT"
		d.MTASTS.Error, d.TLSRPT.Error = d.LookupError, d.LookupError
		return d
	}
	d.DNSSEC = dnssecStatus(p.MTASTS.DNSAnswer, p.ValidatingAncestor, p.Resolver)
	if d.DNSSEC != DNSSECSecure && p.TLSRPT.AD && resolverVouches(p.Resolver) {
		d.DNSSEC = DNSSECSecure
	}
	d.Findings = append(d.Findings, judgeMTASTS(p, &d.MTASTS, roots)...)
	d.Findings = append(d.Findings, judgeTLSRPT(p.TLSRPT, &d.TLSRPT)...)
	return d
}

// judgeMTASTS reads the record and the policy into m; the findings are
// the problems a sender would meet.
func judgeMTASTS(p *probe.DomainPolicy, m *MTASTS, roots *verifier) []PolicyFinding {
	finding := func(st Status, rfc, resultType, format string, args ...any) []PolicyFinding {
		return []PolicyFinding{{Check: CheckMTASTS, Status: st, Message: fmt.Sprintf(format, args...), RFC: rfc, ResultType: resultType}}
	}
	// Whatever goes wrong after a record is found, senders without a
	// cached policy deliver as if none were published; those holding one
	// keep applying it until its max_age runs out (RFC 8461 5.1).
	const noPolicy = "senders apply no MTA-STS policy, or keep a cached one until its max_age runs out"
	txt := p.MTASTS
	switch {
	case txt.Err != nil:
		m.Error = txt.Err.Error()
		return finding(Warning, "RFC 8461 3.1", "", "cannot look up _mta-sts.%s: %v", p.Domain, txt.Err)
	case txt.Rcode == dns.RcodeNameError || (txt.Rcode == dns.RcodeSuccess && !hasSTSv1(txt.Records)):
		return nil
	case txt.Rcode != dns.RcodeSuccess:
		m.Error = "lookup answered " + dns.RcodeToString[txt.Rcode]
		return finding(Warning, "RFC 8461 3.1", "", "_mta-sts.%s: the resolver answered %s", p.Domain, dns.RcodeToString[txt.Rcode])
	}
	var records []string
	for _, r := range txt.Records {
		if strings.HasPrefix(r, "v=STSv1") {
			records = append(records, r)
		}
	}
	m.Record = records[0]
	if len(records) > 1 {
		m.Error = fmt.Sprintf("%d v=STSv1 records", len(records))
		return finding(Warning, "RFC 8461 3.1", "sts-policy-invalid", "_mta-sts.%s holds %d v=STSv1 records, where exactly one is allowed: %s", p.Domain, len(records), noPolicy)
	}
	id, err := parseSTSRecord(m.Record)
	if err != nil {
		m.Error = err.Error()
		return finding(Warning, "RFC 8461 3.1", "sts-policy-invalid", "the record at _mta-sts.%s is invalid (%v): %s", p.Domain, err, noPolicy)
	}
	m.ID = id
	f := p.Policy
	if f == nil {
		return nil
	}
	m.PolicyURL, m.ContentType = f.URL, f.ContentType
	switch {
	case f.Err != nil && f.Status == 0:
		m.Error = "fetch failed"
		return finding(Warning, "RFC 8461 3.3", "sts-policy-fetch-error", "cannot fetch the policy %s: %v: %s", f.URL, f.Err, noPolicy)
	case f.Status >= 300 && f.Status < 400:
		m.Error = fmt.Sprintf("HTTP %d redirect", f.Status)
		return finding(Warning, "RFC 8461 3.3", "sts-policy-fetch-error", "the policy %s answers %d %s, a redirect to %q, which senders must not follow: %s", f.URL, f.Status, http.StatusText(f.Status), f.Location, noPolicy)
	case f.Status != http.StatusOK:
		m.Error = fmt.Sprintf("HTTP %d", f.Status)
		return finding(Warning, "RFC 8461 3.3", "sts-policy-fetch-error", "the policy %s answers %d %s, where only 200 counts: %s", f.URL, f.Status, http.StatusText(f.Status), noPolicy)
	}
	if problem := roots.webPKI(f.Chain, "mta-sts."+p.Domain); problem != "" {
		m.Error = "HTTPS certificate not valid"
		return finding(Warning, "RFC 8461 3.3", "sts-webpki-invalid", "the policy server's certificate is not valid for mta-sts.%s: %s: %s", p.Domain, problem, noPolicy)
	}
	if f.Oversize {
		m.Error = "policy larger than 64 KiB"
		return finding(Warning, "RFC 8461 3.3", "sts-policy-invalid", "the policy %s is larger than %d KiB, which senders refuse: %s", f.URL, probe.MaxPolicySize>>10, noPolicy)
	}
	pol, err := parseSTSPolicy(string(f.Body))
	if err != nil {
		m.Error = err.Error()
		return finding(Warning, "RFC 8461 3.2", "sts-policy-invalid", "the policy %s is invalid (%v): %s", f.URL, err, noPolicy)
	}
	m.Mode, m.MaxAge, m.MX = pol.mode, pol.maxAge, pol.mx
	var findings []PolicyFinding
	if mt := mediaType(f.ContentType); mt != "text/plain" {
		findings = append(findings, finding(Warning, "RFC 8461 3.2", "sts-policy-invalid",
			"the policy is served as %q, not text/plain: senders that check, such as go-mtasts (maddy), refuse it, while mox and others read it anyway", f.ContentType)...)
	}
	if pol.maxAge > maxMaxAge {
		findings = append(findings, finding(Warning, "RFC 8461 3.2", "",
			"max_age %d is above the %d seconds (a year) the RFC allows; senders cap it", pol.maxAge, maxMaxAge)...)
	}
	return findings
}

func mediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func hasSTSv1(records []string) bool {
	for _, r := range records {
		if strings.HasPrefix(r, "v=STSv1") {
			return true
		}
	}
	return false
}

// parseSTSRecord reads "v=STSv1; id=...;" (RFC 8461 3.1) and returns its
// id: 1 to 32 letters and digits. Other fields are extensions and ignored.
func parseSTSRecord(record string) (string, error) {
	fields := strings.Split(record, ";")
	if strings.TrimRight(fields[0], " \t") != "v=STSv1" {
		return "", errors.New(`it must start with "v=STSv1;"`)
	}
	id, seen := "", false
	for _, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		key, value, ok := strings.Cut(f, "=")
		if !ok {
			return "", fmt.Errorf("field %q has no '='", f)
		}
		if key == "id" && !seen {
			id, seen = value, true
		}
	}
	switch {
	case !seen:
		return "", errors.New("no id field")
	case len(id) == 0 || len(id) > 32 || strings.IndexFunc(id, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') }) >= 0:
		return "", fmt.Errorf("id %q is not 1 to 32 letters and digits", id)
	}
	return id, nil
}

type stsPolicy struct {
	mode   string
	maxAge int
	mx     []string
}

// parseSTSPolicy reads the policy's "key: value" lines (RFC 8461 3.2). Lines
// end in CRLF by the RFC, but senders also read LF, so both are accepted.
// Of a repeated key other than mx only the first counts; unknown keys are
// extensions and ignored.
func parseSTSPolicy(body string) (stsPolicy, error) {
	var p stsPolicy
	seen := map[string]bool{}
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return p, fmt.Errorf("line %q is not key: value", truncate(line, 40))
		}
		key, value = strings.TrimSpace(key), strings.Trim(value, " \t")
		if key != "mx" && seen[key] {
			continue
		}
		seen[key] = true
		switch key {
		case "version":
			if value != "STSv1" {
				return p, fmt.Errorf("version %q, not STSv1", truncate(value, 20))
			}
		case "mode":
			if value != ModeEnforce && value != ModeTesting && value != ModeNone {
				return p, fmt.Errorf("mode %q is not enforce, testing or none", truncate(value, 20))
			}
			p.mode = value
		case "max_age":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 || len(value) > 10 {
				return p, fmt.Errorf("max_age %q is not a number of seconds", truncate(value, 20))
			}
			p.maxAge = n
		case "mx":
			p.mx = append(p.mx, strings.ToLower(strings.TrimSuffix(value, ".")))
		}
	}
	for _, key := range []string{"version", "mode", "max_age"} {
		if !seen[key] {
			return p, fmt.Errorf("no %s field", key)
		}
	}
	if p.mode != ModeNone && len(p.mx) == 0 {
		return p, errors.New("no mx field, which modes enforce and testing need")
	}
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// mxMatches reports whether an MX host matches a policy's mx pattern (RFC
// 8461 4.1): exactly, or by a wildcard "*.example.com" standing for exactly
// one label.
func mxMatches(pattern, host string) bool {
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, parent, ok := strings.Cut(host, ".")
		return ok && label != "" && parent == rest
	}
	return pattern == host
}

// judgeTLSRPT reads the TLS-RPT record (RFC 8460 3) into t.
func judgeTLSRPT(a probe.TXTAnswer, t *TLSRPT) []PolicyFinding {
	finding := func(format string, args ...any) []PolicyFinding {
		return []PolicyFinding{{Check: CheckTLSRPT, Status: Warning, Message: fmt.Sprintf(format, args...), RFC: "RFC 8460 3"}}
	}
	if a.Err != nil || (a.Rcode != dns.RcodeSuccess && a.Rcode != dns.RcodeNameError) {
		t.Error = "lookup failed"
		if a.Err != nil {
			return finding("cannot look up the TLS-RPT record: %v", a.Err)
		}
		return finding("cannot look up the TLS-RPT record: the resolver answered %s", dns.RcodeToString[a.Rcode])
	}
	var records []string
	for _, r := range a.Records {
		if strings.HasPrefix(r, "v=TLSRPTv1") {
			records = append(records, r)
		}
	}
	switch len(records) {
	case 0:
		return nil
	case 1:
	default:
		t.Record = records[0]
		t.Error = fmt.Sprintf("%d v=TLSRPTv1 records", len(records))
		return finding("%d v=TLSRPTv1 records, where exactly one is allowed: senders send no reports", len(records))
	}
	t.Record = records[0]
	rua, err := parseTLSRPT(t.Record)
	if err != nil {
		t.Error = err.Error()
		return finding("the TLS-RPT record is malformed (%v): senders send no reports", err)
	}
	t.RUA = rua
	return nil
}

// parseTLSRPT reads "v=TLSRPTv1; rua=mailto:a@b,https://c/" and returns
// the report addresses.
func parseTLSRPT(record string) ([]string, error) {
	fields := strings.Split(record, ";")
	if strings.TrimSpace(fields[0]) != "v=TLSRPTv1" {
		return nil, errors.New(`it must start with "v=TLSRPTv1;"`)
	}
	var rua []string
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		key, value, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("field %q has no '='", truncate(f, 40))
		}
		if strings.TrimSpace(key) != "rua" || rua != nil {
			continue
		}
		for _, u := range strings.Split(value, ",") {
			u = strings.TrimSpace(u)
			if !strings.HasPrefix(u, "mailto:") && !strings.HasPrefix(u, "https:") {
				return nil, fmt.Errorf("rua %q is neither mailto: nor https:", truncate(u, 60))
			}
			rua = append(rua, u)
		}
	}
	if rua == nil {
		return nil, errors.New("no rua field")
	}
	return rua, nil
}

// verifier checks Web PKI chains against the run's roots at its instant.
type verifier struct {
	roots *x509.CertPool
	cache *Cache
	now   time.Time
}

// webPKI says why chain is not valid for name under the Web PKI, "" when
// it is.
func (v *verifier) webPKI(chain []*x509.Certificate, name string) string {
	if len(chain) == 0 {
		return "no certificate presented"
	}
	if err := chain[0].VerifyHostname(name); err != nil {
		covers := strings.Join(subjectAltNames(chain[0]), ", ")
		if covers == "" {
			covers = "no subject alternative names"
		}
		return "it covers " + covers
	}
	return v.cache.verifyChain(chain, v.roots, v.now).reason
}
