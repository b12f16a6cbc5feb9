package report_test

import (
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
)

// exoExpect is --as exchange-online with tlsDomain, trusting the test CA
// as if it were public (Exchange Online's roots are the public ones).
func exoExpect(pki *testPKI, tlsDomain string) report.Expect {
	e := pki.expect()
	e.AsExchangeOnline, e.TLSDomain, e.PublicRoots = true, tlsDomain, e.Roots
	return e
}

// requirement is the Exchange Online rule named name.
func requirement(t *testing.T, ep report.Endpoint, name string) report.ExchangeOnlineRequirement {
	t.Helper()
	if ep.ExchangeOnline == nil {
		t.Fatal("no Exchange Online view")
	}
	for _, req := range ep.ExchangeOnline.Requirements {
		if strings.HasPrefix(req.Name, name) {
			return req
		}
	}
	t.Fatalf("no requirement %q in %+v", name, ep.ExchangeOnline.Requirements)
	return report.ExchangeOnlineRequirement{}
}

// Each way Exchange Online's connector would fail, against a real server,
// with the deferral its sources quote (exchange-facts.md §11), or none
// where no source gives one.
func TestExchangeOnlineDeferrals(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	good := pki.issue(t, forName(mailName))
	otherPKI := newTestPKI(t)

	cases := []struct {
		name        string
		server      func(t *testing.T) probe.Endpoint
		expect      report.Expect
		requirement string
		status      report.Status
		deferrals   []string
	}{
		{name: "port closed", server: func(t *testing.T) probe.Endpoint {
			return probe.Endpoint{Target: mailName, Host: mailName, Address: "127.0.0.1", Port: refusedPort(t), AsPort: 25}
		}, expect: exoExpect(pki, mailName), requirement: "connect", status: report.Critical,
			deferrals: []string{report.DeferralConnectionRefused}},
		{name: "no STARTTLS", server: func(t *testing.T) probe.Endpoint {
			return probetest.NewServer(t, probetest.Config{Chain: good, NoSTARTTLS: true}).Endpoint(mailName, 25)
		}, expect: exoExpect(pki, mailName), requirement: "STARTTLS", status: report.Critical,
			deferrals: []string{report.DeferralSTARTTLSRequired, report.DeferralSTARTTLSRequiredProxy}},
		{name: "certificate for another name", server: func(t *testing.T) probe.Endpoint {
			return serve(t, pki.issue(t, forName("legacy.contoso.test"))).Endpoint(mailName, 25)
		}, expect: exoExpect(pki, mailName), requirement: "certificate matches TlsDomain", status: report.Critical,
			deferrals: []string{report.DeferralSubjectMismatch}},
		{name: "private CA", server: func(t *testing.T) probe.Endpoint {
			return serve(t, good).Endpoint(mailName, 25)
		}, expect: func() report.Expect {
			e := exoExpect(pki, mailName)
			// --ca-file trusts the private CA for the other checks;
			// Exchange Online does not.
			e.PublicRoots = otherPKI.expect().Roots
			return e
		}(), requirement: "publicly trusted chain", status: report.Critical,
			deferrals: []string{report.DeferralCertificateValidation}},
		{name: "TLS 1.3 only", server: func(t *testing.T) probe.Endpoint {
			return probetest.NewServer(t, probetest.Config{Chain: good, MinVersion: tls.VersionTLS13}).Endpoint(mailName, 25)
		}, expect: exoExpect(pki, mailName), requirement: "TLS 1.2", status: report.Critical},
		{name: "no suite Exchange Online supports", server: func(t *testing.T) probe.Endpoint {
			return probetest.NewServer(t, probetest.Config{Chain: good, MaxVersion: tls.VersionTLS12,
				ConfigureTLS: func(c *tls.Config) {
					c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
				}}).Endpoint(mailName, 25)
		}, expect: exoExpect(pki, mailName), requirement: "a suite", status: report.Critical},
		{name: "another certificate without SNI", server: func(t *testing.T) probe.Endpoint {
			fallback := selfSigned(t, forName("EXCH01"))
			return probetest.NewServer(t, probetest.Config{Chain: good, ConfigureTLS: func(c *tls.Config) {
				// crypto/tls asks GetCertificate without SNI only when
				// Certificates is empty.
				c.Certificates = nil
				c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
					cert := good.TLSCertificate()
					if hello.ServerName == "" {
						cert = fallback.TLSCertificate()
					}
					return &cert, nil
				}
			}}).Endpoint(mailName, 25)
		}, expect: exoExpect(pki, mailName), requirement: "without SNI", status: report.Warning,
			deferrals: []string{report.DeferralCertificateValidation, report.DeferralSubjectMismatch}},
		{name: "all good, wildcard TlsDomain", server: func(t *testing.T) probe.Endpoint {
			return serve(t, good).Endpoint(mailName, 25)
		}, expect: exoExpect(pki, "*.contoso.test"), requirement: "certificate matches TlsDomain", status: report.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := probe.Options{EHLOName: "probe.contoso.test", Timeout: 20 * time.Second, NoTLSRequiredTest: true, TLSScan: true}
			results := probe.Run(context.Background(), []probe.Job{{Endpoint: tc.server(t)}}, opts, nil)
			ep := report.Judge(results, tc.expect, time.Now()).Endpoints[0]
			req := requirement(t, ep, tc.requirement)
			if req.Status != tc.status {
				t.Errorf("%s: %s %q, want %s", req.Name, req.Status, req.Message, tc.status)
			}
			if !slices.Equal(req.Deferrals, tc.deferrals) {
				t.Errorf("deferrals %q, want %q", req.Deferrals, tc.deferrals)
			}
			if tc.status != report.OK && len(req.Fix) == 0 && len(req.Deferrals) > 0 {
				t.Errorf("a failure with no fix: %+v", req)
			}
			exo := checkOf(t, ep, report.CheckExchangeOnline)
			if want := report.Worse(report.OK, tc.status); exo.Status.ExitCode() < want.ExitCode() {
				t.Errorf("exchange-online check %s, below the requirement's %s", exo.Status, want)
			}
		})
	}
}

// The view applies to port 25 only: Exchange Online delivers nowhere else.
func TestExchangeOnlineOnlyOnPort25(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	s := serve(t, pki.issue(t, forName(mailName)))
	results := probe.Run(context.Background(), []probe.Job{{Endpoint: s.Endpoint(mailName, 587)}},
		probe.Options{EHLOName: "probe.contoso.test", Timeout: 20 * time.Second, NoTLSRequiredTest: true}, nil)
	ep := report.Judge(results, exoExpect(pki, mailName), time.Now()).Endpoints[0]
	if c := checkOf(t, ep, report.CheckExchangeOnline); c.Status != report.Skipped || !strings.Contains(c.Message, "port 25 only") {
		t.Errorf("exchange-online on 587: %s %q, want skipped", c.Status, c.Message)
	}
}
