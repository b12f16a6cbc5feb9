// Package report judges probe results against what the user expects and
// renders the verdict as text or JSON. It never dials: everything it knows
// comes from probe.Result.
package report

import (
	"crypto/x509"
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
	// WarnDays and CritDays are the expiry thresholds in days.
	WarnDays, CritDays int
	// TLSCertificateName, when set, is the receive connector's
	// -TlsCertificateName ("<I>issuer<S>subject") the leaf must match.
	TLSCertificateName string
	// Verified, when set, remembers chain verifications across endpoints
	// and judgements (a batch judges each endpoint twice: its JSONL line
	// and the whole run); nil verifies every chain every time.
	Verified *VerifyCache
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

// Endpoint is one probe result with the checks judged on it.
type Endpoint struct {
	probe.Result
	// ExpectedName is the name the certificate was checked against, "" when
	// there was none to check.
	ExpectedName string
	Checks       []Check
	Status       Status
	// Server is the software the banner and EHLO reveal (server.go).
	Server Server
	// RequiresTLS is the verdict on the plaintext MAIL FROM test
	// (tlsrequired.go).
	RequiresTLS TLSRequired
	// Connector is the Exchange receive connector this endpoint belongs
	// to ("Client Frontend EXCH01"), "" when the server is not Exchange or
	// its name is unknown. The text report and the fixes name the same one.
	Connector string
	// Diagnoses name causes and fixes (diagnosis.go).
	Diagnoses []Diagnosis
}

// Summary is the verdict on a whole run; every renderer draws from it alone.
type Summary struct {
	Tool    string
	Version string
	// Now is the instant validity and days left were computed at.
	Now       time.Time
	Endpoints []Endpoint
	Status    Status
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
	for _, r := range results {
		ep := Endpoint{Result: r, ExpectedName: expectedName(r.Endpoint, expect), Status: Skipped,
			Server: RecognizeServer(&r), RequiresTLS: JudgeTLSRequired(r.TLSRequired)}
		ep.Checks = judgeEndpoint(&ep, expect, now)
		for _, c := range ep.Checks {
			ep.Status = Worse(ep.Status, c.Status)
		}
		sum.Endpoints = append(sum.Endpoints, ep)
		sum.Status = Worse(sum.Status, ep.Status)
	}
	judgeConsistency(&sum)
	diagnose(&sum, now)
	if sum.Status == Skipped {
		sum.Status = Unknown
	}
	return sum
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
