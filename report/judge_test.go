package report_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// The problems are what an alert lists: every check that is not OK, worst
// first, and a diagnosis only when it raised its endpoint above what the
// checks said (otherwise a check already says why).
func TestProblemsListWhatRaisedTheStatus(t *testing.T) {
	t.Parallel()
	check := func(id string, st report.Status) report.Check {
		return report.Check{ID: id, Status: st, Message: id + " says so"}
	}
	diagnosis := func(id string, sev report.Severity) report.Diagnosis {
		return report.Diagnosis{ID: id, Severity: sev, Cause: id + " is the cause."}
	}
	cases := []struct {
		name      string
		endpoints []report.Endpoint
		status    report.Status
		problems  []report.Problem
	}{
		{name: "a diagnosis above the checks is a problem of its own",
			endpoints: []report.Endpoint{{Checks: []report.Check{check("starttls", report.OK)},
				Diagnoses: []report.Diagnosis{diagnosis(report.DiagAuthBeforeTLS, report.SeverityWarning)}}},
			status: report.Warning,
			problems: []report.Problem{{Endpoint: 0, Status: report.Warning, ID: report.DiagAuthBeforeTLS,
				Message: report.DiagAuthBeforeTLS + " is the cause.", Diagnosis: true}}},
		{name: "a diagnosis as bad as a check is not repeated",
			endpoints: []report.Endpoint{{Checks: []report.Check{check("expiry", report.Warning)},
				Diagnoses: []report.Diagnosis{diagnosis(report.DiagCertificateDiffers, report.SeverityWarning)}}},
			status:   report.Warning,
			problems: []report.Problem{{Endpoint: 0, Status: report.Warning, ID: "expiry", Message: "expiry says so"}}},
		{name: "a diagnosis below a check is not repeated",
			endpoints: []report.Endpoint{{Checks: []report.Check{check("name", report.Critical)},
				Diagnoses: []report.Diagnosis{diagnosis(report.DiagCertificateDiffers, report.SeverityWarning)}}},
			status:   report.Critical,
			problems: []report.Problem{{Endpoint: 0, Status: report.Critical, ID: "name", Message: "name says so"}}},
		{name: "an info diagnosis raises nothing",
			endpoints: []report.Endpoint{{Checks: []report.Check{check("tls", report.Skipped)},
				Diagnoses: []report.Diagnosis{diagnosis(report.DiagDefaultCertificateExpected, report.SeverityInfo)}}},
			status: report.Unknown},
		{name: "worst first, then in report order",
			endpoints: []report.Endpoint{
				{Checks: []report.Check{check("expiry", report.Warning), check("protocol", report.Warning)}},
				{Checks: []report.Check{check("connect", report.Unknown)}},
				{Checks: []report.Check{check("name", report.Critical), check("starttls", report.OK)}},
				{Checks: []report.Check{check("thumbprint", report.Critical)}},
			},
			status: report.Critical,
			problems: []report.Problem{
				{Endpoint: 2, Status: report.Critical, ID: "name", Message: "name says so"},
				{Endpoint: 3, Status: report.Critical, ID: "thumbprint", Message: "thumbprint says so"},
				{Endpoint: 0, Status: report.Warning, ID: "expiry", Message: "expiry says so"},
				{Endpoint: 0, Status: report.Warning, ID: "protocol", Message: "protocol says so"},
				{Endpoint: 1, Status: report.Unknown, ID: "connect", Message: "connect says so"},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := report.Summary{Endpoints: tc.endpoints}
			s.Restate()
			if s.Status != tc.status {
				t.Errorf("status %s, want %s", s.Status, tc.status)
			}
			if !slices.Equal(s.Problems, tc.problems) {
				t.Errorf("problems\n got %+v\nwant %+v", s.Problems, tc.problems)
			}
		})
	}
}

// A port that answered, even if its handshake then failed, shows that the
// host is up: its closed default ports stay "not asked for" and do not
// make the host "no SMTP port answered".
func TestAPortWithAFailedHandshakeAnswered(t *testing.T) {
	t.Parallel()
	failedHandshake := probe.Result{
		Endpoint: probe.Endpoint{Target: "mx.test", Host: "mx.test", Port: 587, DefaultPort: true},
		Address:  "127.0.0.1", Mode: probe.ModeSTARTTLS,
		Banner:          &probe.Reply{Code: 220, Lines: []string{"mx.test ESMTP Postfix"}},
		EHLO:            &probe.Reply{Code: 250, Lines: []string{"mx.test", "STARTTLS"}},
		STARTTLSOffered: true,
		STARTTLSReply:   &probe.Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}},
		Error:           &probe.Error{Phase: probe.PhaseHandshake, Err: fmt.Errorf("handshake: remote error: tls: handshake failure")},
	}
	s := report.Judge([]probe.Result{unanswered(25, true, false), failedHandshake}, report.Expect{}, time.Now())
	c := judgedCheckOf(t, s.Endpoints[0], report.CheckConnect)
	if c.Status != report.Skipped || c.Message != "port 25: closed (connection refused), not asked for" {
		t.Errorf("closed 25 beside a 587 that answered: %s %q", c.Status, c.Message)
	}
}

// judgedCheckOf is the check with id of ep.
func judgedCheckOf(t *testing.T, ep report.Endpoint, id string) report.Check {
	t.Helper()
	for _, c := range ep.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no %q check among %+v", id, ep.Checks)
	return report.Check{}
}
