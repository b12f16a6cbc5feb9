package report_test

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/report/dotnetname"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// Exchange's default certificate belongs on the back-end port 2525: there the
// name and trust checks pass, so a cron check of a healthy Exchange server
// stays quiet; the same certificate anywhere else, or another self-signed
// certificate on 2525, still warns.
func TestDefaultCertificateOnBackendPort(t *testing.T) {
	t.Parallel()
	now := time.Now()
	exchangeDefault := exchangeDefaultCertificate(t, now)
	otherSelfSigned, err := probetest.SelfSigned(probetest.Spec{CommonName: "mail.contoso.test", DNSNames: []string{"mail.contoso.test"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		port  int
		chain *probetest.Chain
		want  map[string]report.Status
	}{
		{"default certificate on 2525", 2525, exchangeDefault, map[string]report.Status{report.CheckName: report.OK, report.CheckTrust: report.OK}},
		{"default certificate on 25", 25, exchangeDefault, map[string]report.Status{report.CheckName: report.Warning, report.CheckTrust: report.Warning}},
		{"other self-signed on 2525", 2525, otherSelfSigned, map[string]report.Status{report.CheckName: report.OK, report.CheckTrust: report.Warning}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := probe.Result{
				Endpoint:        probe.Endpoint{Target: "mail.contoso.test", Host: "mail.contoso.test", Port: tc.port},
				Address:         "127.0.0.1",
				Mode:            probe.ModeSTARTTLS,
				Banner:          &probe.Reply{Code: 220, Lines: []string{"EXCH01.contoso.test Microsoft ESMTP MAIL Service ready"}},
				EHLO:            &probe.Reply{Code: 250, Lines: []string{"EXCH01.contoso.test Hello", "STARTTLS"}},
				STARTTLSOffered: true,
				STARTTLSReply:   &probe.Reply{Code: 220, Lines: []string{"2.0.0 SMTP server ready"}},
				TLS:             &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
				Chain:           tc.chain.Certs,
			}
			sum := report.Judge([]probe.Result{res}, report.Expect{}, now)
			// Look each wanted check up: a loop over the checks found
			// would pass when they vanish.
			for id, want := range tc.want {
				c, ok := checkWithID(sum.Endpoints[0].Checks, id)
				if !ok {
					t.Errorf("no %s check among %+v", id, sum.Endpoints[0].Checks)
				} else if c.Status != want {
					t.Errorf("%s: got %s (%s), want %s", id, c.Status, c.Message, want)
				}
			}
		})
	}
}

// A --thumbprint or --tls-certificate-name names the front-end certificate;
// Exchange's default certificate on 2525 is not held against it.
func TestFrontEndExpectationsSkipTheBackendDefault(t *testing.T) {
	t.Parallel()
	now := time.Now()
	exchangeDefault := exchangeDefaultCertificate(t, now)
	frontEnd, err := probetest.SelfSigned(probetest.Spec{CommonName: "mail.contoso.test", DNSNames: []string{"mail.contoso.test"}})
	if err != nil {
		t.Fatal(err)
	}
	thumbprint, err := report.ParseThumbprint(reporttest.SHA1(frontEnd.Leaf()))
	if err != nil {
		t.Fatal(err)
	}
	expect := report.Expect{Thumbprint: thumbprint, TLSCertificateName: dotnetname.TLSCertificateName(frontEnd.Leaf())}
	for _, tc := range []struct {
		port int
		want report.Status
	}{{2525, report.Skipped}, {25, report.Critical}} {
		res := probe.Result{
			Endpoint: probe.Endpoint{Host: "mail.contoso.test", Port: tc.port}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
			Banner: &probe.Reply{Code: 220, Lines: []string{"EXCH01.contoso.test Microsoft ESMTP MAIL Service ready"}}, EHLO: &probe.Reply{Code: 250, Lines: []string{"EXCH01", "STARTTLS"}},
			STARTTLSOffered: true, STARTTLSReply: &probe.Reply{Code: 220, Lines: []string{"2.0.0 SMTP server ready"}},
			TLS:   &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
			Chain: exchangeDefault.Certs,
		}
		checks := report.Judge([]probe.Result{res}, expect, now).Endpoints[0].Checks
		for _, id := range []string{report.CheckThumbprint, report.CheckTLSCertificateName} {
			c, ok := checkWithID(checks, id)
			if !ok {
				t.Errorf("port %d: no %s check among %+v", tc.port, id, checks)
			} else if c.Status != tc.want {
				t.Errorf("port %d: %s is %s (%s), want %s", tc.port, id, c.Status, c.Message, tc.want)
			}
		}
	}
	// No certificate at all: the thumbprint check has nothing to compare and
	// leaves the verdict to the check that says why.
	noTLS := probe.Result{
		Endpoint: probe.Endpoint{Host: "nosuch.test", Port: 25},
		Error:    &probe.Error{Phase: probe.PhaseDNS, Err: errors.New("no such host")},
	}
	sum := report.Judge([]probe.Result{noTLS}, expect, now)
	if sum.Status != report.Unknown {
		t.Errorf("unresolvable host with --thumbprint: status %s, want UNKNOWN", sum.Status)
	}
}

// Plaintext injected after "220 Ready to start TLS" fails the STARTTLS
// step: the check must name the injection, not the harmless 220.
func TestInjectedPlaintextIsNamed(t *testing.T) {
	t.Parallel()
	ready := &probe.Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}}
	res := probe.Result{
		Endpoint: probe.Endpoint{Host: "mx.test", Port: 25}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
		Banner: &probe.Reply{Code: 220, Lines: []string{"mx.test ESMTP"}}, EHLO: &probe.Reply{Code: 250, Lines: []string{"mx.test", "STARTTLS"}},
		STARTTLSOffered: true, STARTTLSReply: ready,
		Error: &probe.Error{Phase: probe.PhaseSTARTTLS, Err: errors.New("server sent 12 bytes of plaintext after its 220 reply, before the TLS handshake"), Reply: ready},
	}
	checks := report.Judge([]probe.Result{res}, report.Expect{}, time.Now()).Endpoints[0].Checks
	c, ok := checkWithID(checks, report.CheckSTARTTLS)
	if !ok || c.Status != report.Critical || !strings.Contains(c.Message, "plaintext") || strings.Contains(c.Message, "replied 220") {
		t.Errorf("starttls check: %v %s %q, want CRITICAL naming the plaintext", ok, c.Status, c.Message)
	}
}

// The connector the text report names and the one the fixes name are the
// same: the server's NetBIOS name from its default certificate, not the
// first label of a banner that shows the public name.
func TestConnectorNamedOnce(t *testing.T) {
	t.Parallel()
	now := time.Now()
	exchangeDefault := exchangeDefaultCertificate(t, now)
	banner := &probe.Reply{Code: 220, Lines: []string{"mail.contoso.test Microsoft ESMTP MAIL Service ready at Tue, 24 Nov 2026 02:17:12 +0000"}}
	result := func(port int) probe.Result {
		return probe.Result{
			Endpoint: probe.Endpoint{Host: "mail.contoso.test", Port: port}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
			Banner: banner, EHLO: &probe.Reply{Code: 250, Lines: []string{"mail.contoso.test Hello", "STARTTLS"}},
			STARTTLSOffered: true, STARTTLSReply: &probe.Reply{Code: 220, Lines: []string{"2.0.0 SMTP server ready"}},
			TLS:   &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
			Chain: exchangeDefault.Certs,
		}
	}
	sum := report.Judge([]probe.Result{result(587), result(2525)}, report.Expect{}, now)
	if got := sum.Endpoints[0].Connector; got != "Client Frontend EXCH01" {
		t.Errorf("587's connector = %q, want Client Frontend EXCH01", got)
	}
	for _, ep := range sum.Endpoints {
		if strings.Contains(ep.Connector, "MAIL") {
			t.Errorf("port %d: connector %q is named after the banner's public name", ep.ServicePort, ep.Connector)
		}
	}
	for _, d := range sum.Endpoints[0].Diagnoses {
		for _, line := range d.Fix {
			if strings.Contains(line, "Set-ReceiveConnector") && !strings.Contains(line, `EXCH01\Client Frontend EXCH01`) {
				t.Errorf("fix names another connector: %s", line)
			}
		}
	}
}

// exchangeDefaultCertificate is Exchange's default certificate for EXCH01,
// made a day before now.
func exchangeDefaultCertificate(t *testing.T, now time.Time) *probetest.Chain {
	t.Helper()
	chain, err := probetest.ExchangeDefaultCertificate("EXCH01", "contoso.test", now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// Port 2525 is Exchange's back end only on Exchange: a Sendmail server
// there gets neither the exemption nor Exchange's words, even with a
// certificate shaped like Exchange's default one.
func TestPort2525IsOrdinaryOffExchange(t *testing.T) {
	t.Parallel()
	now := time.Now()
	res := probe.Result{
		Endpoint: probe.Endpoint{Host: "mail.contoso.test", Port: 2525}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
		Banner: &probe.Reply{Code: 220, Lines: []string{"mail.contoso.test ESMTP Sendmail 8.17.1.9/8.17.1.9; Sat, 5 Dec 2026 10:00:00 GMT"}},
		EHLO:   &probe.Reply{Code: 250, Lines: []string{"mail.contoso.test Hello", "STARTTLS"}}, STARTTLSOffered: true,
		STARTTLSReply: &probe.Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}},
		TLS:           &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
		Chain:         exchangeDefaultCertificate(t, now).Certs,
	}
	sum := report.Judge([]probe.Result{res}, report.Expect{Name: "mail.contoso.test", Roots: x509.NewCertPool()}, now)
	ep := sum.Endpoints[0]
	for _, c := range ep.Checks {
		if strings.Contains(c.Message, "Exchange") {
			t.Errorf("%s check speaks of Exchange on Sendmail: %s", c.ID, c.Message)
		}
		if (c.ID == report.CheckTrust || c.ID == report.CheckName) && c.Status != report.Warning {
			t.Errorf("%s check is %s, want a warning (port 2525 is opportunistic, not exempt): %s", c.ID, c.Status, c.Message)
		}
	}
	for _, d := range ep.Diagnoses {
		if strings.Contains(d.Cause, "Exchange") || strings.Contains(d.Cause, "connector") {
			t.Errorf("diagnosis %s speaks of Exchange on Sendmail: %s", d.ID, d.Cause)
		}
	}
}

// checkWithID is the check with id among checks.
func checkWithID(checks []report.Check, id string) (report.Check, bool) {
	for _, c := range checks {
		if c.ID == id {
			return c, true
		}
	}
	return report.Check{}, false
}
