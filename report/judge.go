// Package report judges probe results against what the user expects. It
// decides everything once, into a Summary: every check, every fact across
// endpoints, every diagnosis and fix, and the facts of each certificate.
// Rendering is report/render's, which reads nothing but the Summary. report
// never dials: everything it knows comes from probe.Result.
package report

import (
	"crypto/x509"
	"slices"
	"strings"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// Status is the verdict of a check, an endpoint or a whole run. The exit
// status follows the monitoring-plugins convention (ExitCode).
type Status int

const (
	OK Status = iota
	Warning
	Critical
	Unknown
	// Skipped is for checks that could not or need not run.
	Skipped
)

var statusNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN", "SKIPPED"}

func (s Status) String() string { return statusNames[s] }

// MarshalText writes the status in lower case, as the JSON schema has it.
func (s Status) MarshalText() ([]byte, error) { return []byte(strings.ToLower(s.String())), nil }

// ExitCode is 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
func (s Status) ExitCode() int {
	if s == Skipped {
		return 0
	}
	return int(s)
}

// Passes reports whether nothing is critical or unknown: warnings pass, as
// monitoring's "success" has it.
func (s Status) Passes() bool { return s == OK || s == Warning || s == Skipped }

// severity orders statuses for "worst of": an unknown endpoint must not hide
// a critical one, and must not pass as OK either.
func (s Status) severity() int {
	return [...]int{OK: 1, Warning: 3, Critical: 4, Unknown: 2, Skipped: 0}[s]
}

// Worse returns the worse of two statuses.
func Worse(a, b Status) Status {
	if b.severity() > a.severity() {
		return b
	}
	return a
}

// Expect is what the user expects of the endpoints.
type Expect struct {
	// Name is the FQDN every endpoint's certificate must cover; when empty
	// each endpoint's host is expected, unless it is an IP address.
	Name string
	// Thumbprint, when set, is the leaf every endpoint must present.
	Thumbprint Thumbprint
	// Roots are the trusted roots; nil means the system's.
	Roots *x509.CertPool
	// LoadRoots, when set, gives Roots at their first use instead: loading
	// the system's pool costs a process about 25 ms of CPU, which a run of
	// chains that all verify to FirstRoots never needs to spend.
	LoadRoots func() *x509.CertPool
	// FirstRoots, when set, are roots that Roots hold too (--ca-file's): a
	// chain is verified against them first, and against Roots only when
	// they do not do. A chain that verifies to them verifies to Roots, so
	// the verdict is the same; only the cost differs.
	FirstRoots *x509.CertPool
	// WarnDays and CritDays are the expiry thresholds in days.
	WarnDays, CritDays int
	// TLSCertificateName, when set, is the receive connector's
	// -TlsCertificateName ("<I>issuer<S>subject") the leaf must match.
	TLSCertificateName string
	// AsExchangeOnline judges each endpoint also as Exchange Online's
	// outbound connector to on-premises would (--as exchange-online,
	// exchangeonline.go); TLSDomain is the connector's TlsDomain for
	// DomainValidation, "" for CertificateValidation; PublicRoots are the
	// roots it trusts, nil for the system's (never --ca-file's).
	AsExchangeOnline bool
	TLSDomain        string
	PublicRoots      *x509.CertPool
	// Cache, when set, remembers chain verifications and certificate facts
	// across endpoints and judgements (a JSONL run judges each endpoint
	// twice: for its line and in the whole run); nil works everything out
	// every time.
	Cache *Cache
	// Policies are the published policies (MTA-STS, DANE, TLS-RPT) of the
	// mail domains the results name (probe.Endpoint.Domain), as
	// probe.ObservePolicies saw them; senders hold the endpoints to them
	// (policy_checks.go).
	Policies []probe.DomainPolicy
}

// Default expiry thresholds, in days.
const (
	DefaultWarnDays = 30
	DefaultCritDays = 7
)

// Check is one judgement about one endpoint.
type Check struct {
	ID      string `json:"id"`
	Status  Status `json:"status"`
	Message string `json:"message"`
}

// Endpoint is one probed endpoint with everything decided about it. Its
// fields are what the outputs show; Result is the raw observation, for the
// dialogue itself (banner, EHLO, replies, transcript, timings).
type Endpoint struct {
	Result probe.Result
	// ServicePort is the port's role: 587 for submission whatever port it
	// was reached on (probe.Endpoint.Role).
	ServicePort int
	// ExpectedName is the name the certificate was checked against, "" when
	// there was none to check.
	ExpectedName string
	Status       Status
	Checks       []Check
	// STARTTLS is whether EHLO offered STARTTLS, when that was observed.
	STARTTLS STARTTLSOffer
	// Failure is the error that ended the probe early, in words.
	Failure *Failure
	// TLS is what the handshake negotiated, nil when none was attempted.
	TLS *Negotiated
	// Chain is the certificate chain as sent, leaf first.
	Chain []*Certificate
	// Server is the software the banner and EHLO reveal (server.go).
	Server Server
	// TLSRequired is the verdict on the plaintext MAIL FROM test
	// (tlsrequired.go), TLSRequiredReason why it is unknown, when it is,
	// and TLSRequiredFailure why the test could not finish, when it could
	// not.
	TLSRequired        TLSRequired
	TLSRequiredReason  string
	TLSRequiredFailure *Failure
	// Connector is the Exchange receive connector this endpoint belongs
	// to ("Client Frontend EXCH01"), "" when the server is not Exchange or
	// its name is unknown. The text report and the fixes name the same one.
	Connector string
	// Diagnoses name causes and fixes (diagnosis.go).
	Diagnoses []Diagnosis
	// DANE is what the host's TLSA records say of the chain, nil when the
	// endpoint has no domain policy looked up (policy_checks.go).
	DANE *DANE
	// PolicyFindings are the endpoint's findings under its domain's
	// policies, each with its RFC clause and TLS-RPT result type.
	PolicyFindings []PolicyFinding
	// Posture is the --tls-scan judged (posture.go), nil without it.
	Posture *Posture
	// ExchangeOnline is the endpoint as Exchange Online would see it
	// (exchangeonline.go), nil without --as exchange-online.
	ExchangeOnline *ExchangeOnlineView
}

// Leaf is the server's certificate, nil when none was presented.
func (e *Endpoint) Leaf() *Certificate {
	if len(e.Chain) == 0 {
		return nil
	}
	return e.Chain[0]
}

// Name is "host:port", as the endpoint was given.
func (e *Endpoint) Name() string { return e.Result.Endpoint.String() }

// STARTTLSOffer is what EHLO said of STARTTLS.
type STARTTLSOffer string

const (
	// STARTTLSNotObserved: implicit TLS, or no EHLO reply to read.
	STARTTLSNotObserved STARTTLSOffer = ""
	STARTTLSOffered     STARTTLSOffer = "offered"
	STARTTLSNotOffered  STARTTLSOffer = "not offered"
)

func starttlsOffer(r *probe.Result) STARTTLSOffer {
	switch {
	case !r.STARTTLSObserved():
		return STARTTLSNotObserved
	case r.STARTTLSOffered:
		return STARTTLSOffered
	}
	return STARTTLSNotOffered
}

// Failure is a failed phase of the dialogue and what went wrong there, in
// the same words in every output.
type Failure struct {
	Phase probe.Phase `json:"phase"`
	// Message may quote server-sent text: renderers escape it.
	Message string `json:"message"`
}

func failure(e *probe.Error) *Failure {
	if e == nil {
		return nil
	}
	return &Failure{Phase: e.Phase, Message: errorText(e)}
}

// Problem is a check or a diagnosis that keeps an endpoint from OK: what an
// alert must name.
type Problem struct {
	// Endpoint indexes Summary.Endpoints.
	Endpoint int
	Status   Status
	// ID is the check's or the diagnosis's.
	ID string
	// Message is the check's message, or the diagnosis's cause.
	Message string
	// Diagnosis is true when a diagnosis, not a check, raised the status.
	Diagnosis bool
}

// Summary is the verdict on a whole run; every renderer draws from it alone.
type Summary struct {
	Tool    string
	Version string
	// Now is the instant validity and days left were computed at.
	Now       time.Time
	Endpoints []Endpoint
	Status    Status
	// Consistency compares the addresses of each name and port reached at
	// two or more of them (consistency.go).
	Consistency []AddressGroup
	// CertificateGroups compare the certificates of each mail host whose
	// endpoints present two or more (the certificate-differs table), one
	// row per certificate.
	CertificateGroups []CertificateGroup
	// Policies are the mail domains' published policies, one per domain
	// (policy.go).
	Policies []DomainPolicy
	// Problems are every warning, critical and unknown, worst first, then
	// in report order. A finding about several endpoints at once (a host
	// that answers on no port, addresses that differ) is one problem, at
	// its first endpoint.
	Problems []Problem
	// Shared are the endpoints that were probed once for another target
	// and count for this one too (report.Shared).
	Shared []SharedEndpoint
	// Verbose asks renderers for the SMTP transcript too.
	Verbose bool
	// WarnDays and CritDays are the expiry thresholds the run was judged
	// with, for renderers that print them (Nagios perfdata).
	WarnDays, CritDays int
}

// Judge checks each result against expect at now.
func Judge(results []probe.Result, expect Expect, now time.Time) Summary {
	if expect.WarnDays == 0 && expect.CritDays == 0 {
		expect.WarnDays, expect.CritDays = DefaultWarnDays, DefaultCritDays
	}
	sum := Summary{Tool: "starttls-probe", Now: now, Status: Skipped, WarnDays: expect.WarnDays, CritDays: expect.CritDays}
	views := certificateViews{now: now, cache: expect.Cache}
	for _, r := range results {
		ep := Endpoint{Result: r, ServicePort: r.Endpoint.ServicePort(), ExpectedName: expectedName(r.Endpoint, expect), Status: Skipped,
			STARTTLS: starttlsOffer(&r), Failure: failure(r.Error), TLS: negotiated(r.TLS), Chain: views.chain(r.Chain),
			Server: recognizeServer(&r)}
		ep.TLSRequired, ep.TLSRequiredReason = judgeTLSRequired(r.TLSRequired, ep.Server.Software)
		if r.TLSRequired != nil {
			ep.TLSRequiredFailure = failure(r.TLSRequired.Error)
		}
		ep.Checks = judgeEndpoint(&ep, expect, now)
		ep.Checks = append(ep.Checks, judgePosture(&ep, expect, &views, now)...)
		ep.Checks = append(ep.Checks, judgeExchangeOnline(&ep, expect, now)...)
		for _, c := range ep.Checks {
			ep.Status = Worse(ep.Status, c.Status)
		}
		sum.Endpoints = append(sum.Endpoints, ep)
	}
	judgeSilentHosts(&sum)
	judgePolicies(&sum, expect, now)
	judgeConsistency(&sum)
	diagnose(&sum, now)
	sum.Restate()
	return sum
}

// Restate works out the statuses and problems again from the checks and
// diagnoses: for a step that adds checks after Judge (the baseline).
func (s *Summary) Restate() {
	s.Status = Skipped
	s.Problems = nil
	type said struct{ id, message string }
	seen := map[said]bool{}
	add := func(p Problem) {
		if k := (said{p.ID, p.Message}); !seen[k] {
			seen[k] = true
			s.Problems = append(s.Problems, p)
		}
	}
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		ep.Status = Skipped
		worstCheck := Skipped
		for _, c := range ep.Checks {
			ep.Status = Worse(ep.Status, c.Status)
			worstCheck = Worse(worstCheck, c.Status)
			if c.Status != OK && c.Status != Skipped {
				add(Problem{Endpoint: i, Status: c.Status, ID: c.ID, Message: c.Message})
			}
		}
		for _, d := range ep.Diagnoses {
			st := d.Severity.status()
			ep.Status = Worse(ep.Status, st)
			// A diagnosis that raised the endpoint above its checks (AUTH
			// before TLS, another certificate than the other ports) is a
			// problem of its own, or an alert would not say why.
			if st.severity() > worstCheck.severity() {
				add(Problem{Endpoint: i, Status: st, ID: d.ID, Message: d.Cause, Diagnosis: true})
			}
		}
		s.Status = Worse(s.Status, ep.Status)
	}
	slices.SortStableFunc(s.Problems, func(a, b Problem) int { return b.Status.severity() - a.Status.severity() })
	if s.Status == Skipped {
		s.Status = Unknown
	}
}

// roots are the trusted roots, loaded now if they are loaded on demand.
func (e *Expect) roots() *x509.CertPool {
	if e.LoadRoots != nil {
		return e.LoadRoots()
	}
	return e.Roots
}

// verifyChain verifies chain against the trusted roots (Expect.FirstRoots
// first, when given), remembering the verdict in e.Cache.
func (e *Expect) verifyChain(chain []*x509.Certificate, now time.Time) chainVerdict {
	if e.FirstRoots != nil {
		if v := e.Cache.verifyChain(chain, e.FirstRoots, now); v.reason == "" {
			return v
		}
	}
	return e.Cache.verifyChain(chain, e.roots(), now)
}

func expectedName(ep probe.Endpoint, expect Expect) string {
	if expect.Name != "" {
		return strings.TrimSuffix(expect.Name, ".")
	}
	if ep.HostIsIP() {
		return ""
	}
	return ep.Host
}

// ExitCode is the run's exit status.
func (s Summary) ExitCode() int { return s.Status.ExitCode() }
