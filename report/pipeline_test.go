package report_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// These tests run the whole pipeline a user runs: loopback servers from
// probetest, probe.Run, report.Judge, and the exit status. Every endpoint
// carries Address, so names such as mail.contoso.test are never looked up.

const mailName = "mail.contoso.test"

// testPKI is a private CA hierarchy shared, read-only, by the cases.
type testPKI struct {
	root    *probetest.CA
	issuing *probetest.CA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	root, err := probetest.NewRootCA("Contoso Test Root CA")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := root.NewIntermediate("Contoso Issuing CA 1")
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{root: root, issuing: issuing}
}

// issue makes a leaf signed by the issuing CA; the chain holds the
// intermediate, as a well-configured server sends it.
func (p *testPKI) issue(t *testing.T, spec probetest.Spec) *probetest.Chain {
	t.Helper()
	chain, err := p.issuing.Issue(spec)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func (p *testPKI) expect() report.Expect { return report.Expect{Roots: p.issuing.Pool()} }

func selfSigned(t *testing.T, spec probetest.Spec) *probetest.Chain {
	t.Helper()
	chain, err := probetest.SelfSigned(spec)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// forName is a spec for a CA-issued leaf for names, valid for another 200
// days (the hour keeps "200 days" whole while the test runs).
func forName(names ...string) probetest.Spec {
	return probetest.Spec{
		CommonName: names[0],
		DNSNames:   names,
		NotAfter:   time.Now().Add(200*24*time.Hour + time.Hour),
	}
}

// authMechanisms are offered after TLS, as a well-configured submission
// server does: without them a healthy 587 is not healthy.
var authMechanisms = []string{"PLAIN", "LOGIN"}

// serve starts a go-smtp server offering STARTTLS with chain.
func serve(t *testing.T, chain *probetest.Chain) *probetest.Server {
	return probetest.NewServer(t, probetest.Config{Chain: chain, Domain: mailName, AuthMechanisms: authMechanisms})
}

// serveImplicit starts a go-smtp server that starts TLS on accept.
func serveImplicit(t *testing.T, chain *probetest.Chain) *probetest.Server {
	return probetest.NewServer(t, probetest.Config{Chain: chain, Domain: mailName, AuthMechanisms: authMechanisms, Implicit: true})
}

// refusedPort is a loopback port nothing listens on: listened on, then
// closed.
func refusedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// nxdomainResolver resolves through a DNS server on loopback that answers
// NXDOMAIN to everything, so that "unknown host" never asks the real DNS.
func nxdomainResolver(t *testing.T) *net.Resolver {
	t.Helper()
	return probe.NewResolver(dnstest.New(t).Addr())
}

// colonHex writes a thumbprint the way certutil or a browser shows it:
// lower case, bytes separated by colons.
func colonHex(hex string) string {
	var parts []string
	for i := 0; i < len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.ToLower(strings.Join(parts, ":"))
}

func thumbprint(t *testing.T, s string) report.Thumbprint {
	t.Helper()
	tp, err := report.ParseThumbprint(s)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// scenario is what a case's setup returns: the endpoints to probe, in order,
// and what the user expects of them.
type scenario struct {
	endpoints []probe.Endpoint
	expect    report.Expect
	opts      probe.Options
}

// wantCheck is a check's status and text the message must contain.
// "{leaf.sha1}", "{leaf.sha256}" and "{expected}" in has stand for the
// presented leaf's thumbprints and the expected thumbprint.
type wantCheck struct {
	status report.Status
	has    []string
}

type wantEndpoint struct {
	status report.Status
	// phase is where the probe stopped; "" when it ran to the end.
	phase  probe.Phase
	checks map[string]wantCheck
	// inspect makes assertions beyond the checks, on what was observed.
	inspect func(t *testing.T, ep report.Endpoint)
}

type pipelineCase struct {
	name  string
	setup func(t *testing.T, pki *testPKI) scenario
	want  []wantEndpoint
	// status and exit are the whole run's.
	status report.Status
	exit   int
}

// okChecks are the checks of an endpoint where everything is right,
// whatever its port.
var okChecks = map[string]wantCheck{
	report.CheckConnect:    {report.OK, []string{"connected to 127.0.0.1, greeted with 220"}},
	report.CheckSTARTTLS:   {report.OK, []string{"offered and accepted"}},
	report.CheckHandshake:  {report.OK, []string{"TLS 1.3, TLS_"}},
	report.CheckName:       {report.OK, []string{"certificate is valid for " + mailName}},
	report.CheckThumbprint: {report.Skipped, []string{"no --thumbprint given"}},
	report.CheckTrust:      {report.OK, []string{"chain verifies to a trusted root"}},
	report.CheckExpiry:     {report.OK, []string{"in 200 days"}},
	report.CheckProtocol:   {report.OK, []string{"TLS 1.3"}},
}

// noCertChecks are the checks that need a certificate, when none came.
var noCertChecks = map[string]wantCheck{
	report.CheckHandshake: {report.Skipped, []string{"no TLS handshake was attempted"}},
	report.CheckName:      {report.Skipped, []string{"no certificate presented"}},
	report.CheckTrust:     {report.Skipped, []string{"no certificate presented"}},
	report.CheckExpiry:    {report.Skipped, []string{"no certificate presented"}},
	report.CheckProtocol:  {report.Skipped, []string{"no TLS session"}},
}

// with returns base with some checks replaced.
func with(base map[string]wantCheck, changes map[string]wantCheck) map[string]wantCheck {
	out := make(map[string]wantCheck, len(base)+len(changes))
	for id, c := range base {
		out[id] = c
	}
	for id, c := range changes {
		out[id] = c
	}
	return out
}

// Role notes the trust and name checks append.
const (
	noteClients = "mail clients validate certificates"
	notePort25  = "a warning on port 25: TLS between servers is opportunistic"
	// Exchange's back-end transport is named only on a server recognised
	// as Exchange; these go-smtp servers are not.
	notePort2525 = "a warning on port 2525: TLS between servers is opportunistic"
)

func TestPipeline(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)

	cases := []pipelineCase{
		{
			name: "good chain",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, pki.issue(t, forName(mailName, "autodiscover.contoso.test")))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 587)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.OK,
				checks: okChecks,
				inspect: func(t *testing.T, ep report.Endpoint) {
					if len(ep.Result.Chain) != 2 || ep.Result.Chain[1].Subject.CommonName != "Contoso Issuing CA 1" {
						t.Errorf("chain = %v, want the leaf and Contoso Issuing CA 1", subjects(ep.Result.Chain))
					}
					if ep.Result.TLS == nil || ep.Result.TLS.ServerName != mailName || !ep.Result.TLS.HandshakeComplete {
						t.Errorf("TLS = %+v, want a complete handshake with SNI %s", ep.Result.TLS, mailName)
					}
					if !ep.Result.STARTTLSOffered || ep.Result.EHLOAfterTLS == nil || ep.Result.EHLOAfterTLS.Code != 250 {
						t.Errorf("STARTTLSOffered = %v, EHLOAfterTLS = %+v; want STARTTLS and a 250 EHLO under TLS", ep.Result.STARTTLSOffered, ep.Result.EHLOAfterTLS)
					}
					if ep.Result.Mode != probe.ModeSTARTTLS {
						t.Errorf("Mode = %q, want starttls", ep.Result.Mode)
					}
				},
			}},
			status: report.OK, exit: 0,
		},
		{
			name: "STARTTLS not offered",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := probetest.NewServer(t, probetest.Config{Chain: pki.issue(t, forName(mailName)), NoSTARTTLS: true})
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 25)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(noCertChecks, map[string]wantCheck{
					report.CheckConnect:  {report.OK, []string{"greeted with 220"}},
					report.CheckSTARTTLS: {report.Critical, []string{"STARTTLS not offered in the EHLO reply", `"451 5.7.3 STARTTLS is required to send mail"`}},
				}),
				inspect: func(t *testing.T, ep report.Endpoint) {
					if ep.Result.STARTTLSOffered || ep.Result.EHLO == nil || ep.Result.EHLO.Code != 250 {
						t.Errorf("STARTTLSOffered = %v, EHLO = %+v; want the EHLO reply kept, without STARTTLS", ep.Result.STARTTLSOffered, ep.Result.EHLO)
					}
				},
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "STARTTLS refused with 454",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := probetest.NewScript(t, probetest.Script{
					Greeting: []string{"220 " + mailName + " Microsoft ESMTP MAIL Service ready"},
					EHLO:     []string{"250-" + mailName + " Hello", "250-PIPELINING", "250 STARTTLS"},
					STARTTLS: []string{"454 4.7.0 Temporary authentication failure"},
				})
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 25)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				phase:  probe.PhaseSTARTTLS,
				checks: with(noCertChecks, map[string]wantCheck{
					report.CheckSTARTTLS: {report.Critical, []string{"offered, but refused: 454 4.7.0 Temporary authentication failure"}},
				}),
				inspect: func(t *testing.T, ep report.Endpoint) {
					var replyErr *probe.ReplyError
					if !errors.As(ep.Result.Error, &replyErr) || replyErr.Code != 454 || replyErr.EnhancedCode != "4.7.0" {
						t.Errorf("Error = %v, want a *probe.ReplyError 454 4.7.0", ep.Result.Error)
					}
				},
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "handshake failure: plain text after 220",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := probetest.NewScript(t, probetest.Script{
					Greeting: []string{"220 " + mailName + " ESMTP"},
					EHLO:     []string{"250-" + mailName, "250 STARTTLS"},
					// Answer the ClientHello, once it has come, in SMTP.
					AfterSTARTTLS: func(c net.Conn) {
						buf := make([]byte, 512)
						if _, err := c.Read(buf); err == nil {
							io.WriteString(c, "500 5.5.1 Unrecognized command\r\n")
						}
					},
				})
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 587)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				phase:  probe.PhaseHandshake,
				checks: with(noCertChecks, map[string]wantCheck{
					report.CheckSTARTTLS:  {report.OK, []string{"offered and accepted"}},
					report.CheckHandshake: {report.Critical, []string{"TLS handshake failed: the server did not answer with TLS", `"500 5"`}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "handshake failure: TLS alert",
			setup: func(t *testing.T, pki *testPKI) scenario {
				// A TLS server without a certificate answers the
				// ClientHello with an unrecognized_name alert.
				s := probetest.NewScript(t, probetest.Script{
					Greeting:  []string{"220 " + mailName + " ESMTP"},
					EHLO:      []string{"250-" + mailName, "250 STARTTLS"},
					TLSConfig: &tls.Config{},
				})
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 25)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				phase:  probe.PhaseHandshake,
				checks: with(noCertChecks, map[string]wantCheck{
					report.CheckHandshake: {report.Critical, []string{"TLS handshake failed: server sent TLS alert", "unrecognized name", "(112)"}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "expired",
			setup: func(t *testing.T, pki *testPKI) scenario {
				spec := forName(mailName)
				spec.NotBefore = time.Now().Add(-200 * 24 * time.Hour)
				// Expired nine days and 23 hours ago: days_left,
				// counted down to NotAfter, is -10, and every output
				// says "10 days ago" with it (they used to disagree).
				spec.NotAfter = time.Now().Add(-10*24*time.Hour + time.Hour)
				s := serve(t, pki.issue(t, spec))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 25)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckExpiry: {report.Critical, []string{"expired on", "(10 days ago)"}},
					report.CheckTrust:  {report.Warning, []string{"issued by a trusted CA, but the leaf is outside its validity period", "; see the expiry check"}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "not yet valid",
			setup: func(t *testing.T, pki *testPKI) scenario {
				spec := forName(mailName)
				spec.NotBefore = time.Now().Add(10 * 24 * time.Hour)
				spec.NotAfter = time.Now().Add(100 * 24 * time.Hour)
				s := serve(t, pki.issue(t, spec))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 587)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckExpiry: {report.Critical, []string{"not yet valid: valid from"}},
					report.CheckTrust:  {report.Critical, []string{"issued by a trusted CA, but the leaf is outside its validity period", "; see the expiry check"}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "wildcard covers one label",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, pki.issue(t, forName("*.contoso.test")))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 587)}, expect: pki.expect()}
			},
			want:   []wantEndpoint{{status: report.OK, checks: okChecks}},
			status: report.OK, exit: 0,
		},
		{
			name: "wildcard does not cover two labels",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, pki.issue(t, forName("*.contoso.test")))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint("a.b.contoso.test", 587)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckName: {report.Critical, []string{"certificate is not valid for a.b.contoso.test: it covers DNS:*.contoso.test", noteClients}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "wildcard does not cover the parent domain",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, pki.issue(t, forName("*.contoso.test")))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint("contoso.test", 25)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Warning,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckName: {report.Warning, []string{"certificate is not valid for contoso.test: it covers DNS:*.contoso.test", notePort25}},
				}),
			}},
			status: report.Warning, exit: 1,
		},
		{
			name: "wrong name, expected name given for an IP target",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, pki.issue(t, forName("legacy.contoso.test")))
				ep := s.Endpoint(s.IP(), 587)
				expect := pki.expect()
				expect.Name = mailName + "."
				return scenario{endpoints: []probe.Endpoint{ep}, expect: expect}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckName: {report.Critical, []string{"certificate is not valid for " + mailName + ": it covers DNS:legacy.contoso.test", noteClients}},
				}),
				inspect: func(t *testing.T, ep report.Endpoint) {
					if ep.ExpectedName != mailName {
						t.Errorf("ExpectedName = %q, want %q", ep.ExpectedName, mailName)
					}
					if ep.Result.TLS == nil || ep.Result.TLS.ServerName != "" {
						t.Errorf("TLS = %+v, want no SNI for an IP target", ep.Result.TLS)
					}
				},
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "IP target without a name skips the name check",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, pki.issue(t, forName(mailName)))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(s.IP(), 25)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.OK,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckName: {report.Skipped, []string{"target is an IP address and no --name was given"}},
				}),
			}},
			status: report.OK, exit: 0,
		},
		{
			name: "only the CN matches",
			setup: func(t *testing.T, pki *testPKI) scenario {
				spec := forName("EXCH01", "EXCH01.contoso.test")
				spec.CommonName = mailName
				s := serve(t, pki.issue(t, spec))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 587)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckName: {report.Critical, []string{"only the subject CN matches " + mailName, "clients ignore the CN and read the SANs (DNS:EXCH01, DNS:EXCH01.contoso.test)", noteClients}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "only the CN matches, no SANs at all",
			setup: func(t *testing.T, pki *testPKI) scenario {
				spec := forName(mailName)
				spec.DNSNames = nil
				s := serve(t, pki.issue(t, spec))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 25)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Warning,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckName: {report.Warning, []string{"only the subject CN matches " + mailName, "(no subject alternative names)", notePort25}},
				}),
			}},
			status: report.Warning, exit: 1,
		},
		{
			name: "self-signed, judged by the role of each port",
			setup: func(t *testing.T, pki *testPKI) scenario {
				// Exchange's default certificate.
				chain := selfSigned(t, probetest.Spec{
					CommonName: "EXCH01",
					DNSNames:   []string{"EXCH01", "EXCH01.contoso.test"},
					NotAfter:   time.Now().Add(200*24*time.Hour + time.Hour),
				})
				var eps []probe.Endpoint
				for _, role := range []int{25, 2525, 587} {
					eps = append(eps, serve(t, chain).Endpoint("EXCH01.contoso.test", role))
				}
				implicit := serveImplicit(t, chain)
				ep := implicit.Endpoint("EXCH01.contoso.test", 465)
				ep.Implicit = true
				eps = append(eps, ep)
				return scenario{endpoints: eps, expect: pki.expect()}
			},
			want: []wantEndpoint{
				{status: report.Warning, checks: map[string]wantCheck{
					report.CheckName:  {report.OK, []string{"certificate is valid for EXCH01.contoso.test"}},
					report.CheckTrust: {report.Warning, []string{"self-signed certificate: no client trusts it unless told to", notePort25}},
				}},
				{status: report.Warning, checks: map[string]wantCheck{
					report.CheckTrust: {report.Warning, []string{"self-signed certificate", notePort2525}},
				}},
				{status: report.Critical, checks: map[string]wantCheck{
					report.CheckTrust: {report.Critical, []string{"self-signed certificate", "port 587: " + noteClients}},
				}},
				{status: report.Critical, checks: map[string]wantCheck{
					report.CheckSTARTTLS: {report.Skipped, []string{"implicit TLS"}},
					report.CheckTrust:    {report.Critical, []string{"self-signed certificate", "port 465: " + noteClients}},
				}},
			},
			status: report.Critical, exit: 2,
		},
		{
			name: "self-signed on server-to-server ports only is a warning",
			setup: func(t *testing.T, pki *testPKI) scenario {
				chain := selfSigned(t, forName(mailName))
				return scenario{
					endpoints: []probe.Endpoint{serve(t, chain).Endpoint(mailName, 25), serve(t, chain).Endpoint(mailName, 2525)},
					expect:    pki.expect(),
				}
			},
			want: []wantEndpoint{
				{status: report.Warning, checks: with(okChecks, map[string]wantCheck{
					report.CheckTrust: {report.Warning, []string{"self-signed certificate", notePort25}},
				})},
				{status: report.Warning, checks: with(okChecks, map[string]wantCheck{
					report.CheckTrust: {report.Warning, []string{"self-signed certificate", notePort2525}},
				})},
			},
			status: report.Warning, exit: 1,
		},
		{
			name: "missing intermediate",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, pki.issue(t, forName(mailName)).LeafOnly())
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 587)}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckTrust: {report.Critical, []string{
						"incomplete chain: the server did not send the certificate of CN=Contoso Issuing CA 1,O=starttls-probe test",
						"the issuer of CN=" + mailName, "(a missing intermediate)", noteClients,
					}},
				}),
				inspect: func(t *testing.T, ep report.Endpoint) {
					if len(ep.Result.Chain) != 1 {
						t.Errorf("chain = %v, want the leaf alone", subjects(ep.Result.Chain))
					}
				},
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "untrusted private root",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, pki.issue(t, forName(mailName)))
				expect := pki.expect()
				expect.Roots = x509.NewCertPool() // as if --ca-file were forgotten
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 587)}, expect: expect}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckTrust: {report.Critical, []string{"incomplete chain", "CN=Contoso Test Root CA,O=starttls-probe test", noteClients}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "thumbprint match, SHA-1 in lower case with colons",
			setup: func(t *testing.T, pki *testPKI) scenario {
				chain := pki.issue(t, forName(mailName))
				expect := pki.expect()
				expect.Thumbprint = thumbprint(t, colonHex(reporttest.SHA1(chain.Leaf())))
				return scenario{endpoints: []probe.Endpoint{serve(t, chain).Endpoint(mailName, 25)}, expect: expect}
			},
			want: []wantEndpoint{{
				status: report.OK,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckThumbprint: {report.OK, []string{"SHA-1 matches {leaf.sha1}"}},
				}),
			}},
			status: report.OK, exit: 0,
		},
		{
			name: "thumbprint match, SHA-256 in lower case with colons",
			setup: func(t *testing.T, pki *testPKI) scenario {
				chain := pki.issue(t, forName(mailName))
				expect := pki.expect()
				expect.Thumbprint = thumbprint(t, colonHex(reporttest.SHA256(chain.Leaf())))
				return scenario{endpoints: []probe.Endpoint{serve(t, chain).Endpoint(mailName, 587)}, expect: expect}
			},
			want: []wantEndpoint{{
				status: report.OK,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckThumbprint: {report.OK, []string{"SHA-256 matches {leaf.sha256}"}},
				}),
			}},
			status: report.OK, exit: 0,
		},
		{
			name: "thumbprint mismatch, SHA-1",
			setup: func(t *testing.T, pki *testPKI) scenario {
				renewed := pki.issue(t, forName(mailName))
				expect := pki.expect()
				expect.Thumbprint = thumbprint(t, colonHex(reporttest.SHA1(renewed.Leaf())))
				// The server still presents the old certificate.
				s := serve(t, pki.issue(t, forName(mailName)))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 25)}, expect: expect}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckThumbprint: {report.Critical, []string{"leaf SHA-1 {leaf.sha1} differs from the expected {expected}"}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "thumbprint mismatch, SHA-256",
			setup: func(t *testing.T, pki *testPKI) scenario {
				renewed := pki.issue(t, forName(mailName))
				expect := pki.expect()
				expect.Thumbprint = thumbprint(t, " "+colonHex(reporttest.SHA256(renewed.Leaf()))+"\n")
				s := serve(t, pki.issue(t, forName(mailName)))
				return scenario{endpoints: []probe.Endpoint{s.Endpoint(mailName, 587)}, expect: expect}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckThumbprint: {report.Critical, []string{"leaf SHA-256 {leaf.sha256} differs from the expected {expected}"}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
		{
			name: "implicit TLS",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serveImplicit(t, pki.issue(t, forName(mailName)))
				ep := s.Endpoint(mailName, 465)
				ep.Implicit = true
				return scenario{endpoints: []probe.Endpoint{ep}, expect: pki.expect()}
			},
			want: []wantEndpoint{{
				status: report.OK,
				checks: with(okChecks, map[string]wantCheck{
					report.CheckSTARTTLS: {report.Skipped, []string{"implicit TLS: TLS starts at connect"}},
				}),
				inspect: func(t *testing.T, ep report.Endpoint) {
					if ep.Result.Mode != probe.ModeImplicit || ep.Result.STARTTLSReply != nil {
						t.Errorf("Mode = %q, STARTTLSReply = %+v; want implicit TLS without STARTTLS", ep.Result.Mode, ep.Result.STARTTLSReply)
					}
					if ep.Result.Banner == nil || ep.Result.Banner.Code != 220 || ep.Result.EHLO == nil || ep.Result.EHLO.Code != 250 {
						t.Errorf("Banner = %+v, EHLO = %+v; want both read under TLS", ep.Result.Banner, ep.Result.EHLO)
					}
				},
			}},
			status: report.OK, exit: 0,
		},
		{
			name: "three ports at once with different certificates",
			setup: func(t *testing.T, pki *testPKI) scenario {
				expiring := forName(mailName)
				expiring.NotAfter = time.Now().Add(20*24*time.Hour + time.Hour)
				return scenario{
					endpoints: []probe.Endpoint{
						serve(t, pki.issue(t, forName(mailName))).Endpoint(mailName, 25),
						serve(t, pki.issue(t, forName("legacy.contoso.test"))).Endpoint(mailName, 587),
						serve(t, pki.issue(t, expiring)).Endpoint(mailName, 2525),
					},
					expect: pki.expect(),
				}
			},
			want: []wantEndpoint{
				{status: report.OK, checks: okChecks, inspect: leafCN(mailName)},
				{status: report.Critical, checks: with(okChecks, map[string]wantCheck{
					report.CheckName: {report.Critical, []string{"not valid for " + mailName + ": it covers DNS:legacy.contoso.test"}},
				}), inspect: leafCN("legacy.contoso.test")},
				{status: report.Warning, checks: with(okChecks, map[string]wantCheck{
					report.CheckExpiry: {report.Warning, []string{"in 20 days (warning below 30)"}},
				}), inspect: leafCN(mailName)},
			},
			status: report.Critical, exit: 2,
		},
		{
			name: "unknown host",
			setup: func(t *testing.T, pki *testPKI) scenario {
				return scenario{
					endpoints: []probe.Endpoint{{Target: "nonexistent.invalid", Host: "nonexistent.invalid", Port: 25}},
					expect:    pki.expect(),
					opts:      probe.Options{Resolver: nxdomainResolver(t)},
				}
			},
			want: []wantEndpoint{{
				status: report.Unknown,
				phase:  probe.PhaseDNS,
				checks: with(noCertChecks, map[string]wantCheck{
					report.CheckConnect:  {report.Unknown, []string{"cannot resolve nonexistent.invalid", "no such host"}},
					report.CheckSTARTTLS: {report.Skipped, []string{"no EHLO reply"}},
				}),
				inspect: func(t *testing.T, ep report.Endpoint) {
					if ep.Result.Address != "" {
						t.Errorf("Address = %q for a name that does not resolve", ep.Result.Address)
					}
				},
			}},
			status: report.Unknown, exit: 3,
		},
		{
			name: "unknown host does not hide a critical endpoint",
			setup: func(t *testing.T, pki *testPKI) scenario {
				s := serve(t, selfSigned(t, forName(mailName)))
				return scenario{
					endpoints: []probe.Endpoint{
						{Target: "nonexistent.invalid", Host: "nonexistent.invalid", Port: 587},
						s.Endpoint(mailName, 587),
					},
					expect: pki.expect(),
					opts:   probe.Options{Resolver: nxdomainResolver(t)},
				}
			},
			want: []wantEndpoint{
				{status: report.Unknown, phase: probe.PhaseDNS},
				{status: report.Critical},
			},
			status: report.Critical, exit: 2,
		},
		{
			name: "refused port",
			setup: func(t *testing.T, pki *testPKI) scenario {
				port := refusedPort(t)
				return scenario{
					endpoints: []probe.Endpoint{{Target: "127.0.0.1", Host: "127.0.0.1", Port: port}},
					expect:    pki.expect(),
				}
			},
			want: []wantEndpoint{{
				status: report.Critical,
				phase:  probe.PhaseConnect,
				checks: with(noCertChecks, map[string]wantCheck{
					report.CheckConnect: {report.Critical, []string{"connect: dial tcp 127.0.0.1:", "connection refused"}},
				}),
			}},
			status: report.Critical, exit: 2,
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := tc.setup(t, pki)
			opts := sc.opts
			opts.EHLOName = "probe.contoso.test"
			opts.Timeout = 10 * time.Second
			jobs := make([]probe.Job, len(sc.endpoints))
			for i, ep := range sc.endpoints {
				jobs[i] = probe.Job{Endpoint: ep}
			}
			results := probe.Run(context.Background(), jobs, opts, nil)
			sum := report.Judge(results, sc.expect, time.Now())

			if len(sum.Endpoints) != len(tc.want) {
				t.Fatalf("%d endpoints judged, want %d", len(sum.Endpoints), len(tc.want))
			}
			for i, want := range tc.want {
				ep := sum.Endpoints[i]
				t.Run(ep.Result.Endpoint.String(), func(t *testing.T) {
					if ep.Result.Endpoint != sc.endpoints[i] {
						t.Fatalf("result %d is for %+v, want %+v: results out of order", i, ep.Result.Endpoint, sc.endpoints[i])
					}
					assertEndpoint(t, ep, want, sc.expect)
				})
			}
			if sum.Status != tc.status || sum.ExitCode() != tc.exit {
				t.Errorf("run status = %v, exit %d; want %v, exit %d", sum.Status, sum.ExitCode(), tc.status, tc.exit)
			}
		})
	}
}

func assertEndpoint(t *testing.T, ep report.Endpoint, want wantEndpoint, expect report.Expect) {
	t.Helper()
	if ep.Status != want.status {
		t.Errorf("endpoint status = %v, want %v; checks:\n%s", ep.Status, want.status, describeChecks(ep.Checks))
	}
	var phase probe.Phase
	if ep.Result.Error != nil {
		phase = ep.Result.Error.Phase
	}
	if phase != want.phase {
		t.Errorf("failed phase = %q (%v), want %q", phase, ep.Result.Error, want.phase)
	}
	placeholders := []string{"{expected}", expect.Thumbprint.String()}
	if leaf := ep.Result.Leaf(); leaf != nil {
		placeholders = append(placeholders, "{leaf.sha1}", reporttest.SHA1(leaf), "{leaf.sha256}", reporttest.SHA256(leaf))
	}
	fill := strings.NewReplacer(placeholders...)
	for id, wc := range want.checks {
		c, ok := findCheck(ep.Checks, id)
		if !ok {
			t.Errorf("no %q check", id)
			continue
		}
		if c.Status != wc.status {
			t.Errorf("%s check = %v %q, want %v", id, c.Status, c.Message, wc.status)
		}
		for _, has := range wc.has {
			if has = fill.Replace(has); !strings.Contains(c.Message, has) {
				t.Errorf("%s check message = %q, want it to contain %q", id, c.Message, has)
			}
		}
	}
	if want.inspect != nil {
		want.inspect(t, ep)
	}
}

func findCheck(checks []report.Check, id string) (report.Check, bool) {
	for _, c := range checks {
		if c.ID == id {
			return c, true
		}
	}
	return report.Check{}, false
}

func describeChecks(checks []report.Check) string {
	var b strings.Builder
	for _, c := range checks {
		b.WriteString("  " + c.ID + " " + c.Status.String() + ": " + c.Message + "\n")
	}
	return b.String()
}

func subjects(chain []*x509.Certificate) []string {
	var out []string
	for _, c := range chain {
		out = append(out, c.Subject.String())
	}
	return out
}

func leafCN(cn string) func(t *testing.T, ep report.Endpoint) {
	return func(t *testing.T, ep report.Endpoint) {
		t.Helper()
		if leaf := ep.Result.Leaf(); leaf == nil || leaf.Subject.CommonName != cn {
			t.Errorf("leaf = %v, want CN=%s", subjects(ep.Result.Chain), cn)
		}
	}
}
