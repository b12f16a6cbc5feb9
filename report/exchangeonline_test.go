package report_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
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

// Banners, after the host name, that tell the server's software.
const (
	exoExchangeBanner = "Microsoft ESMTP MAIL Service ready at Mon, 1 Dec 2026 10:00:00 +0000"
	exoPostfixBanner  = "ESMTP Postfix (Debian/GNU)"
	exoNeutralBanner  = "ESMTP ready"
)

// exoSeen is what the probe records at port 25 of mailName when all goes
// well: banner, STARTTLS offered and accepted, a TLS 1.2 handshake that
// presented chain, and a scan that found TLS 1.2 accepted with suites.
// The cases below spoil one thing at a time.
func exoSeen(banner string, chain *probetest.Chain, suites ...uint16) probe.Result {
	if suites == nil {
		suites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	}
	return probe.Result{
		Endpoint:        probe.Endpoint{Target: mailName, Host: mailName, Port: 25, Address: "127.0.0.1"},
		Address:         "127.0.0.1",
		Mode:            probe.ModeSTARTTLS,
		Banner:          &probe.Reply{Code: 220, Lines: []string{mailName + " " + banner}},
		EHLO:            &probe.Reply{Code: 250, Lines: []string{mailName, "PIPELINING", "STARTTLS"}},
		STARTTLSOffered: true,
		STARTTLSReply:   &probe.Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}},
		EHLOAfterTLS:    &probe.Reply{Code: 250, Lines: []string{mailName, "PIPELINING"}},
		TLS:             &probe.TLSState{Version: tls.VersionTLS12, CipherSuite: suites[0], ServerName: mailName, HandshakeComplete: true},
		Chain:           chain.Certs,
		Scan: &probe.Scan{Versions: []probe.VersionScan{
			{Version: tls.VersionTLS12, Outcome: probe.Accepted, Suites: suites, Complete: true},
		}},
	}
}

// judgeExchangeOnline judges r alone and returns its endpoint.
func judgeExchangeOnline(t *testing.T, r probe.Result, expect report.Expect) report.Endpoint {
	t.Helper()
	s := report.Judge([]probe.Result{r}, expect, time.Now())
	if len(s.Endpoints) != 1 || s.Endpoints[0].ExchangeOnline == nil {
		t.Fatalf("no Exchange Online view in %+v", s.Endpoints)
	}
	return s.Endpoints[0]
}

// requirementNames are the names of the view's requirements, in order.
func requirementNames(ep report.Endpoint) []string {
	var names []string
	for _, req := range ep.ExchangeOnline.Requirements {
		names = append(names, req.Name)
	}
	return names
}

// A connection that never reached SMTP (no address, port closed, no
// banner) is one failed requirement: the connector would not get as far as
// STARTTLS, so the view says nothing about it. A failed handshake got past
// the connection, which the view says is fine.
func TestExchangeOnlineStopsWhereTheConnectionFailed(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	good := pki.issue(t, forName(mailName))
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

	failedAt := func(phase probe.Phase, err error) probe.Result {
		r := exoSeen(exoNeutralBanner, good)
		r.Error = &probe.Error{Phase: phase, Err: err}
		switch phase {
		case probe.PhaseDNS, probe.PhaseConnect, probe.PhaseBanner:
			r.Banner, r.EHLO, r.STARTTLSOffered, r.STARTTLSReply, r.EHLOAfterTLS, r.TLS, r.Chain, r.Scan = nil, nil, false, nil, nil, nil, nil, nil
		case probe.PhaseHandshake:
			r.EHLOAfterTLS, r.TLS, r.Chain, r.Scan = nil, nil, nil, nil
		}
		return r
	}
	cases := []struct {
		name      string
		result    probe.Result
		want      []string // requirement names
		connect   report.Status
		deferrals []string
		starttls  string // the STARTTLS requirement's message, when there is one
	}{
		{name: "name does not resolve", result: failedAt(probe.PhaseDNS, &net.DNSError{Err: "no such host", Name: mailName, IsNotFound: true}),
			want: []string{"connect"}, connect: report.Critical},
		{name: "port closed", result: failedAt(probe.PhaseConnect, fmt.Errorf("connect: %w", refused)),
			want: []string{"connect"}, connect: report.Critical, deferrals: []string{report.DeferralConnectionRefused}},
		{name: "no banner", result: failedAt(probe.PhaseBanner, errors.New("banner: i/o timeout")),
			want: []string{"connect"}, connect: report.Critical},
		{name: "handshake failed", result: failedAt(probe.PhaseHandshake, errors.New("handshake: remote error: tls: handshake failure")),
			want: []string{"connect", "STARTTLS offered"}, connect: report.OK,
			starttls: "no TLS session: the handshake failed: handshake: remote error: tls: handshake failure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ep := judgeExchangeOnline(t, tc.result, exoExpect(pki, mailName))
			if got := requirementNames(ep); !slices.Equal(got, tc.want) {
				t.Fatalf("requirements %q, want %q", got, tc.want)
			}
			connect := requirement(t, ep, "connect")
			if connect.Status != tc.connect || !slices.Equal(connect.Deferrals, tc.deferrals) {
				t.Errorf("connect: %s %q deferrals %q, want %s deferrals %q", connect.Status, connect.Message, connect.Deferrals, tc.connect, tc.deferrals)
			}
			if tc.connect == report.Critical && (len(connect.Fix) == 0 || !strings.Contains(connect.Message, string(tc.result.Error.Phase))) {
				t.Errorf("connect: message %q fix %q, want the phase and a fix", connect.Message, connect.Fix)
			}
			if tc.starttls != "" {
				if st := requirement(t, ep, "STARTTLS"); st.Status != report.Critical || st.Message != tc.starttls {
					t.Errorf("STARTTLS: %s %q, want CRITICAL %q", st.Status, st.Message, tc.starttls)
				}
			}
			if ep.ExchangeOnline.Status != report.Critical {
				t.Errorf("view %s, want CRITICAL", ep.ExchangeOnline.Status)
			}
		})
	}
}

// The check's message is the verdict a mail admin reads: which TlsSettings
// the connector uses, whether it would deliver, and if not, exactly the
// requirements that fail. A requirement that could not be tested (no scan)
// fails nothing.
func TestExchangeOnlineVerdict(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	good := pki.issue(t, forName(mailName))
	other := pki.issue(t, forName("legacy.contoso.test"))
	noScan := exoSeen(exoNeutralBanner, good)
	noScan.Scan = nil

	cases := []struct {
		name      string
		result    probe.Result
		tlsDomain string
		settings  string
		status    report.Status
		message   string
	}{
		{name: "CertificateValidation delivers", result: exoSeen(exoNeutralBanner, good),
			settings: "CertificateValidation", status: report.OK,
			message: "an outbound connector with CertificateValidation would deliver here"},
		{name: "DomainValidation delivers", result: exoSeen(exoNeutralBanner, good), tlsDomain: mailName,
			settings: "DomainValidation", status: report.OK,
			message: "an outbound connector with DomainValidation would deliver here (TlsDomain mail.contoso.test)"},
		{name: "untested requirements fail nothing", result: noScan,
			settings: "CertificateValidation", status: report.OK,
			message: "an outbound connector with CertificateValidation would deliver here"},
		{name: "DomainValidation defers on another name", result: exoSeen(exoNeutralBanner, other), tlsDomain: mailName,
			settings: "DomainValidation", status: report.Critical,
			message: "an outbound connector with DomainValidation would defer mail here: certificate matches TlsDomain mail.contoso.test (deferrals and fixes below)"},
		{name: "CertificateValidation does not look at the name", result: exoSeen(exoNeutralBanner, other),
			settings: "CertificateValidation", status: report.OK,
			message: "an outbound connector with CertificateValidation would deliver here"},
		{name: "two failures are both named", result: exoSeen(exoNeutralBanner, other, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256), tlsDomain: mailName,
			settings: "DomainValidation", status: report.Critical,
			message: "an outbound connector with DomainValidation would defer mail here: a suite Exchange Online supports, certificate matches TlsDomain mail.contoso.test (deferrals and fixes below)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ep := judgeExchangeOnline(t, tc.result, exoExpect(pki, tc.tlsDomain))
			if v := ep.ExchangeOnline; v.TLSSettings != tc.settings || v.TLSDomain != tc.tlsDomain || v.Status != tc.status {
				t.Errorf("view %s TlsDomain %q %s, want %s %q %s", v.TLSSettings, v.TLSDomain, v.Status, tc.settings, tc.tlsDomain, tc.status)
			}
			c := checkOf(t, ep, report.CheckExchangeOnline)
			if c.Status != tc.status || c.Message != tc.message {
				t.Errorf("check %s %q\nwant %s %q", c.Status, c.Message, tc.status, tc.message)
			}
		})
	}
}

// A fix names the server's own commands only where the server is
// recognised as that software; elsewhere it says what to do in neutral
// words, or nothing where there is no general advice.
func TestExchangeOnlineFixFitsTheServer(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	good := pki.issue(t, forName(mailName))
	untrusted := newTestPKI(t).issue(t, forName(mailName))
	noSTARTTLS := func(banner string) probe.Result {
		r := exoSeen(banner, good)
		r.EHLO = &probe.Reply{Code: 250, Lines: []string{mailName, "PIPELINING"}}
		r.STARTTLSOffered, r.STARTTLSReply, r.EHLOAfterTLS, r.TLS, r.Chain, r.Scan = false, nil, nil, nil, nil, nil
		return r
	}
	chacha := tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	enable := "Enable-ExchangeCertificate -Thumbprint <THUMBPRINT> -Services SMTP"

	cases := []struct {
		name        string
		result      probe.Result
		requirement string
		fix         []string
	}{
		{name: "no STARTTLS on Exchange", result: noSTARTTLS(exoExchangeBanner), requirement: "STARTTLS",
			fix: []string{"# bind a valid certificate to SMTP on the receiving server; STARTTLS comes back once one is (KB 2989382)",
				"Get-ExchangeCertificate | Format-List Thumbprint,Services,Subject,NotAfter", enable}},
		{name: "no STARTTLS elsewhere", result: noSTARTTLS(exoPostfixBanner), requirement: "STARTTLS",
			fix: []string{"# offer STARTTLS on port 25 with a certificate for the name the connector uses"}},
		{name: "private CA on Exchange", result: exoSeen(exoExchangeBanner, untrusted), requirement: "publicly trusted chain",
			fix: []string{"# install a certificate from a public CA (Microsoft Trusted Root Program) and send its intermediates; a private CA is not trusted by Exchange Online", enable}},
		{name: "private CA elsewhere", result: exoSeen(exoPostfixBanner, untrusted), requirement: "publicly trusted chain",
			fix: []string{"# install a certificate from a public CA (Microsoft Trusted Root Program) and send its intermediates; a private CA is not trusted by Exchange Online"}},
		{name: "no supported suite on Postfix", result: exoSeen(exoPostfixBanner, good, chacha), requirement: "a suite",
			fix: []string{"postconf -e 'smtpd_tls_ciphers = medium'", "postconf -e 'smtpd_tls_exclude_ciphers ='", "postfix reload"}},
		{name: "no supported suite elsewhere", result: exoSeen(exoExchangeBanner, good, chacha), requirement: "a suite"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ep := judgeExchangeOnline(t, tc.result, exoExpect(pki, ""))
			req := requirement(t, ep, tc.requirement)
			if req.Status != report.Critical {
				t.Errorf("%s: %s %q, want CRITICAL", req.Name, req.Status, req.Message)
			}
			if !slices.Equal(req.Fix, tc.fix) {
				t.Errorf("fix (server %s)\n got %q\nwant %q", ep.Server.Software, req.Fix, tc.fix)
			}
		})
	}
}

// DomainValidation: the certificate must cover TlsDomain; a TlsDomain of
// "*.contoso.test" takes contoso.test and any name under it, and nothing
// else. A failure names what the certificate covers and a TlsDomain it
// would pass.
func TestExchangeOnlineTLSDomain(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cnOnly := probetest.Spec{CommonName: mailName, NotAfter: time.Now().Add(200 * 24 * time.Hour)}

	cases := []struct {
		name      string
		spec      probetest.Spec
		tlsDomain string
		status    report.Status
		message   string
		fix       string // the Set-OutboundConnector line
	}{
		{name: "a name under the wildcard", spec: forName(mailName), tlsDomain: "*.contoso.test", status: report.OK,
			message: "the certificate covers *.contoso.test"},
		{name: "the wildcard's own domain", spec: forName("contoso.test"), tlsDomain: "*.contoso.test", status: report.OK,
			message: "the certificate covers *.contoso.test"},
		{name: "a wildcard certificate", spec: forName("*.contoso.test"), tlsDomain: "*.contoso.test", status: report.OK,
			message: "the certificate covers *.contoso.test"},
		{name: "upper case is the same name", spec: forName("MAIL.Contoso.TEST"), tlsDomain: "*.contoso.test", status: report.OK,
			message: "the certificate covers *.contoso.test"},
		{name: "another domain under the wildcard's", spec: forName("mail.fabrikam.test", "mail.notcontoso.test"), tlsDomain: "*.contoso.test",
			status:  report.Critical,
			message: "the certificate covers DNS:mail.fabrikam.test, DNS:mail.notcontoso.test, not *.contoso.test",
			fix:     "Set-OutboundConnector -Identity '<connector>' -TlsSettings DomainValidation -TlsDomain mail.fabrikam.test"},
		{name: "another name", spec: forName("legacy.contoso.test"), tlsDomain: mailName, status: report.Critical,
			message: "the certificate covers DNS:legacy.contoso.test, not mail.contoso.test",
			fix:     "Set-OutboundConnector -Identity '<connector>' -TlsSettings DomainValidation -TlsDomain legacy.contoso.test"},
		// The common name alone does not count, as for any TLS client.
		{name: "no subject alternative names", spec: cnOnly, tlsDomain: mailName, status: report.Critical,
			message: "the certificate covers no subject alternative names, not mail.contoso.test",
			fix:     "Set-OutboundConnector -Identity '<connector>' -TlsSettings DomainValidation -TlsDomain mail.contoso.test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ep := judgeExchangeOnline(t, exoSeen(exoNeutralBanner, pki.issue(t, tc.spec)), exoExpect(pki, tc.tlsDomain))
			req := requirement(t, ep, "certificate matches TlsDomain "+tc.tlsDomain)
			if req.Status != tc.status || req.Message != tc.message {
				t.Errorf("%s %q\nwant %s %q", req.Status, req.Message, tc.status, tc.message)
			}
			if tc.status == report.OK {
				if len(req.Deferrals) != 0 || len(req.Fix) != 0 {
					t.Errorf("a pass with deferrals %q fix %q", req.Deferrals, req.Fix)
				}
				return
			}
			if !slices.Equal(req.Deferrals, []string{report.DeferralSubjectMismatch}) {
				t.Errorf("deferrals %q, want the SubjectMismatch one", req.Deferrals)
			}
			if len(req.Fix) != 2 || req.Fix[1] != tc.fix {
				t.Errorf("fix %q, want it to end with %q", req.Fix, tc.fix)
			}
		})
	}
}

// Whether Exchange Online sends SNI is not documented: the view looks at
// the certificate presented without it, and says whether it is the same
// one, another that passes too, or another that would fail.
func TestExchangeOnlineWithoutSNI(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	good := pki.issue(t, forName(mailName))
	alsoGood := pki.issue(t, probetest.Spec{CommonName: "EXCH01", DNSNames: []string{mailName}, NotAfter: time.Now().Add(200 * 24 * time.Hour)})
	selfSignedOther := selfSigned(t, forName("EXCH01"))
	withoutSNI := func(chain *probetest.Chain) probe.Result {
		r := exoSeen(exoNeutralBanner, good)
		r.Scan.WithoutSNI = &probe.Attempt{Outcome: probe.Accepted, Chain: chain.Certs}
		return r
	}

	cases := []struct {
		name    string
		result  probe.Result
		status  report.Status
		message string
	}{
		{name: "the same certificate", result: withoutSNI(good), status: report.OK,
			message: "the same certificate with and without SNI, so whether Exchange Online sends SNI (Microsoft does not document it) does not matter"},
		{name: "another that passes", result: withoutSNI(alsoGood), status: report.OK,
			message: "another certificate without SNI (CN=EXCH01), which passes too"},
		{name: "another that fails", result: withoutSNI(selfSignedOther), status: report.Warning,
			message: "without SNI the server presents another certificate (CN=EXCH01): "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ep := judgeExchangeOnline(t, tc.result, exoExpect(pki, mailName))
			req := requirement(t, ep, "without SNI")
			if req.Status != tc.status || !strings.HasPrefix(req.Message, tc.message) {
				t.Errorf("%s %q\nwant %s %q", req.Status, req.Message, tc.status, tc.message)
			}
		})
	}
}
