package report

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
	"math/big"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The diagnosis tests judge hand-built results whose dialogue lines come
// from probetest's Exchange personality (so they are what real Exchange
// says) and whose certificates are made here at test time, deterministically:
// Ed25519 keys from fixed seeds and fixed dates give the same DER, and so the
// same thumbprints in the golden files, on every run.

// diagNow is the instant the diagnosis cases are judged at.
var diagNow = time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)

const (
	diagName   = "mail.contoso.test"
	diagServer = "EXCH01"
	diagDomain = "contoso.test"
)

// diagPKI is the certificates of the diagnosis cases.
type diagPKI struct {
	root      *x509.Certificate
	issuing   *x509.Certificate
	good      []*x509.Certificate // mail.contoso.test, CA-issued, valid
	goodOld   []*x509.Certificate // same name, older, still valid: a node not renewed
	wrongName []*x509.Certificate // legacy.contoso.test
	expired   []*x509.Certificate // mail.contoso.test, expired 2030-01-01
	renewed   []*x509.Certificate // same subject as expired, valid
	dflt      []*x509.Certificate // Exchange's default self-signed certificate
	auth      []*x509.Certificate // Microsoft Exchange Server Auth Certificate
	hostile   []*x509.Certificate // valid for mail.contoso.test, quotes and control characters in its subject
}

type certSpec struct {
	seed     string
	subject  pkix.Name
	dnsNames []string
	from, to time.Time
	ca       bool
}

// makeCert signs spec with parent's key (self-signed when parent is nil).
func makeCert(t testing.TB, spec certSpec, parent *x509.Certificate, parentSeed string) *x509.Certificate {
	t.Helper()
	key := seededKey(spec.seed)
	serial := sha256.Sum256([]byte("serial " + spec.seed))
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial[:16]),
		Subject:               spec.subject,
		DNSNames:              spec.dnsNames,
		NotBefore:             spec.from,
		NotAfter:              spec.to,
		BasicConstraintsValid: true,
	}
	if spec.ca {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	signer, issuer := key, tmpl
	if parent != nil {
		signer, issuer = seededKey(parentSeed), parent
	}
	// Ed25519 signatures are deterministic: rand is not read for them.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seededKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("key " + seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func newDiagPKI(t testing.TB) diagPKI {
	t.Helper()
	y := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
	var p diagPKI
	p.root = makeCert(t, certSpec{seed: "root", ca: true, from: y(2025), to: y(2045),
		subject: pkix.Name{CommonName: "Contoso Test Root CA", Organization: []string{"Contoso, Ltd"}, Country: []string{"US"}}}, nil, "")
	p.issuing = makeCert(t, certSpec{seed: "issuing", ca: true, from: y(2025), to: y(2040),
		subject: pkix.Name{CommonName: "Contoso Issuing CA 1", Organization: []string{"Contoso, Ltd"}, Country: []string{"US"}}}, p.root, "root")
	leaf := func(seed string, subject pkix.Name, names []string, from, to time.Time) []*x509.Certificate {
		return []*x509.Certificate{makeCert(t, certSpec{seed: seed, subject: subject, dnsNames: names, from: from, to: to}, p.issuing, "issuing"), p.issuing}
	}
	mailSubject := pkix.Name{CommonName: diagName, OrganizationalUnit: []string{"IT"}, Organization: []string{"contoso"},
		Locality: []string{"Redmond"}, Province: []string{"WA"}, Country: []string{"US"}}
	p.good = leaf("good", mailSubject, []string{diagName, "autodiscover.contoso.test"}, y(2030), y(2031))
	p.goodOld = leaf("good-old", mailSubject, []string{diagName}, y(2029), time.Date(2030, 9, 1, 0, 0, 0, 0, time.UTC))
	p.wrongName = leaf("wrongname", pkix.Name{CommonName: "legacy.contoso.test"}, []string{"legacy.contoso.test"}, y(2029), y(2031))
	p.expired = leaf("expired", mailSubject, []string{diagName}, y(2028), y(2030))
	p.renewed = leaf("renewed", mailSubject, []string{diagName}, time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC), y(2031))
	p.dflt = []*x509.Certificate{makeCert(t, certSpec{seed: "default", subject: pkix.Name{CommonName: diagServer},
		dnsNames: []string{diagServer, diagServer + "." + diagDomain}, from: y(2027), to: y(2032)}, nil, "")}
	p.auth = []*x509.Certificate{makeCert(t, certSpec{seed: "auth", subject: pkix.Name{CommonName: exchangeAuthCertificateCN},
		from: y(2027), to: y(2032)}, nil, "")}
	p.hostile = leaf("hostile", pkix.Name{CommonName: diagName + "\x1b]0;pwned\x07",
		Organization: []string{`O'Brien "Mail" Ltd`}}, []string{diagName}, y(2029), y(2031))
	return p
}

func (p diagPKI) expect() Expect {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return Expect{Name: diagName, Roots: pool}
}

// replyOf reads scripted reply lines ("250-...", "250 ...") into a Reply.
func replyOf(t testing.TB, lines []string) *probe.Reply {
	t.Helper()
	if len(lines) == 0 {
		return nil
	}
	code, err := strconv.Atoi(lines[0][:3])
	if err != nil {
		t.Fatalf("reply %q: %v", lines, err)
	}
	r := &probe.Reply{Code: code}
	for _, l := range lines {
		r.Lines = append(r.Lines, l[4:])
	}
	return r
}

// dialogue describes one endpoint's observations.
type dialogue struct {
	role    int
	address string // 127.0.0.1 unless set
	// script is the server's side; chain what it presents after STARTTLS.
	script probetest.Script
	chain  []*x509.Certificate
	// noTLSRequiredTest leaves Result.TLSRequired nil.
	noTLSRequiredTest bool
	// handshakeErr, on implicit TLS, is the handshake's failure.
	handshakeErr error
}

func exchangeScript(connector probetest.ExchangeConnector, withCert, requireTLS, masked bool) probetest.Script {
	ex := probetest.Exchange{
		Server: diagServer, Domain: diagDomain, Connector: connector,
		RequireTLS: requireTLS, Masked: masked, Exchange2019: true,
		Now: time.Date(2030, 6, 15, 13, 59, 58, 0, time.FixedZone("", 2*3600)),
	}
	if withCert {
		// Only whether there is one matters to the script.
		ex.Chain = &probetest.Chain{}
	}
	return ex.Script()
}

func postfixScript(ehlo, ehloAfterTLS []string, requireTLS bool) probetest.Script {
	sc := probetest.Script{
		Greeting:     []string{"220 mx.contoso.test ESMTP Postfix (Debian/GNU)"},
		EHLO:         append([]string{"250-mx.contoso.test"}, ehlo...),
		EHLOAfterTLS: append([]string{"250-mx.contoso.test"}, ehloAfterTLS...),
		STARTTLS:     []string{"220 2.0.0 Ready to start TLS"},
	}
	if requireTLS {
		sc.Mail = []string{"530 5.7.0 Must issue a STARTTLS command first"}
	}
	return sc
}

// result turns a dialogue into the Result the probe would have recorded.
func (d dialogue) result(t testing.TB) probe.Result {
	t.Helper()
	addr := d.address
	if addr == "" {
		addr = "127.0.0.1"
	}
	ep := probe.Endpoint{Target: diagName, Host: diagName, Port: d.role, Address: addr}
	r := probe.Result{Endpoint: ep, Address: addr, Mode: probe.ModeSTARTTLS, Started: diagNow.Add(-time.Second)}
	if d.role == 465 {
		r.Mode = probe.ModeImplicit
		r.Endpoint.Implicit = true
	}
	if r.Mode == probe.ModeImplicit && d.handshakeErr != nil {
		r.Error = &probe.Error{Phase: probe.PhaseHandshake, Err: d.handshakeErr}
		return r
	}
	r.Banner = replyOf(t, d.script.Greeting)
	mail := d.script.Mail
	if mail == nil {
		mail = []string{"250 2.1.0 Sender OK"}
	}
	if r.Mode == probe.ModeImplicit {
		r.EHLO = replyOf(t, d.script.EHLOAfterTLS)
	} else {
		r.EHLO = replyOf(t, d.script.EHLO)
		r.STARTTLSOffered = r.EHLO.HasKeyword("STARTTLS")
		if !d.noTLSRequiredTest {
			r.TLSRequired = &probe.TLSRequiredTest{Banner: r.Banner, EHLO: r.EHLO, Mail: replyOf(t, mail)}
		}
	}
	if r.Mode == probe.ModeImplicit || (r.STARTTLSOffered && d.chain != nil) {
		if r.Mode == probe.ModeSTARTTLS {
			r.STARTTLSReply = replyOf(t, d.script.STARTTLS)
			r.EHLOAfterTLS = replyOf(t, d.script.EHLOAfterTLS)
		}
		r.TLS = &probe.TLSState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			ServerName: diagName, HandshakeComplete: true}
		r.Chain = d.chain
	}
	return r
}

func judgeDialogues(t testing.TB, p diagPKI, ds ...dialogue) Summary {
	t.Helper()
	var results []probe.Result
	for _, d := range ds {
		results = append(results, d.result(t))
	}
	return Judge(results, p.expect(), diagNow)
}

func diagnosisIDs(ep Endpoint) []string {
	var ids []string
	for _, d := range ep.Diagnoses {
		ids = append(ids, d.ID)
	}
	return ids
}

func findDiagnosis(ep Endpoint, id string) *Diagnosis {
	for i := range ep.Diagnoses {
		if ep.Diagnoses[i].ID == id {
			return &ep.Diagnoses[i]
		}
	}
	return nil
}

// ruleCase is one set of endpoints and, for the endpoint at index of, the
// diagnoses that must and must not be there.
type ruleCase struct {
	name      string
	dialogues []dialogue
	of        int
	want      []string
	notWant   []string
	// check looks at the wanted diagnoses more closely.
	check func(t *testing.T, p diagPKI, ep Endpoint)
}

func ruleCases(p diagPKI) []ruleCase {
	frontend := func(cert []*x509.Certificate) dialogue {
		return dialogue{role: 25, script: exchangeScript(probetest.DefaultFrontend, cert != nil, false, false), chain: cert}
	}
	client := func(cert []*x509.Certificate) dialogue {
		return dialogue{role: 587, script: exchangeScript(probetest.ClientFrontend, cert != nil, false, false), chain: cert}
	}
	hub := func(cert []*x509.Certificate) dialogue {
		return dialogue{role: 2525, script: exchangeScript(probetest.HubTransport, cert != nil, false, false), chain: cert}
	}
	kb := dialogue{role: 25, script: exchangeScript(probetest.DefaultFrontend, false, true, false)}
	masked := dialogue{role: 25, script: exchangeScript(probetest.DefaultFrontend, true, false, true), chain: p.good}
	bannerOnly := masked
	bannerOnly.script.EHLO = exchangeScript(probetest.DefaultFrontend, true, false, false).EHLO
	postfixPlainAuth := dialogue{role: 587, chain: p.good, script: postfixScript(
		[]string{"250-PIPELINING", "250-STARTTLS", "250 AUTH PLAIN LOGIN"},
		[]string{"250-PIPELINING", "250 AUTH PLAIN LOGIN"}, false)}
	postfixNoAuth := dialogue{role: 587, chain: p.good, script: postfixScript(
		[]string{"250-PIPELINING", "250 STARTTLS"}, []string{"250 PIPELINING"}, true)}
	unknownNoTLS := dialogue{role: 25, script: probetest.Script{
		Greeting: []string{"220 mx.contoso.test ESMTP ready"}, EHLO: []string{"250-mx.contoso.test", "250 PIPELINING"}}}
	plaintext465 := dialogue{role: 465, handshakeErr: fmt.Errorf("handshake: %w", tls.RecordHeaderError{
		Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{'2', '2', '0', ' ', 'E'}})}
	tls465 := dialogue{role: 465, script: exchangeScript(probetest.ClientProxy, true, false, false), chain: p.good}
	secondNode := frontend(p.goodOld)
	secondNode.address = "127.0.0.2"

	return []ruleCase{
		{
			name: "KB 2989382: no STARTTLS and TLS required", dialogues: []dialogue{kb, client(p.good), hub(p.dflt)},
			want: []string{DiagSTARTTLSMissingTLSRequired}, notWant: []string{DiagSTARTTLSMissing, DiagSMTPInspection},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				d := findDiagnosis(ep, DiagSTARTTLSMissingTLSRequired)
				fix := strings.Join(d.Fix, "\n")
				for _, want := range []string{
					"Enable-ExchangeCertificate -Thumbprint " + SHA1(p.good[0]) + " -Services SMTP",
					`Get-ReceiveConnector 'EXCH01\Default Frontend EXCH01' | Set-ReceiveConnector -TlsCertificateName $null`,
					"-TlsCertificateName '" + dotnetname.TLSCertificateName(p.good[0]) + "'",
				} {
					if !strings.Contains(fix, want) {
						t.Errorf("fix lacks %q:\n%s", want, fix)
					}
				}
				if !strings.Contains(d.Cause, "451 5.7.3 STARTTLS is required to send mail") || !strings.Contains(d.Cause, "KB 2989382") {
					t.Errorf("cause = %q", d.Cause)
				}
			},
		},
		{
			name: "no STARTTLS, not required", dialogues: []dialogue{frontend(nil)},
			want: []string{DiagSTARTTLSMissing}, notWant: []string{DiagSTARTTLSMissingTLSRequired},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				// No good certificate seen: the fix selects it on the server.
				fix := strings.Join(ep.Diagnoses[0].Fix, "\n")
				if !strings.Contains(fix, "$_.CertificateDomains -contains 'mail.contoso.test'") || !strings.Contains(fix, "-AuthMechanism Tls,Integrated,BasicAuth,BasicAuthRequireTLS,ExchangeServer") {
					t.Errorf("fix:\n%s", fix)
				}
			},
		},
		{
			name: "no STARTTLS on an unknown server: the fact, no fix", dialogues: []dialogue{unknownNoTLS},
			want: []string{DiagSTARTTLSMissing},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				if ep.Server.Software != SoftwareUnknown || len(ep.Diagnoses[0].Fix) != 0 {
					t.Errorf("server %+v, fix %q: want unknown and no fix", ep.Server, ep.Diagnoses[0].Fix)
				}
			},
		},
		{
			name: "STARTTLS offered", dialogues: []dialogue{frontend(p.good), client(p.good), hub(p.dflt)},
			notWant: []string{DiagSTARTTLSMissing, DiagSTARTTLSMissingTLSRequired, DiagSMTPInspection, DiagBannerMasked,
				DiagNameMismatch, DiagDefaultCertificate, DiagAuthCertificate, DiagExpiredCertificate, DiagAuthBeforeTLS,
				DiagNoAuthAfterTLS, DiagCertificateDiffers, DiagPlaintextOnImplicitPort},
		},
		{
			name: "firewall masks STARTTLS", dialogues: []dialogue{masked},
			want: []string{DiagSMTPInspection}, notWant: []string{DiagSTARTTLSMissing, DiagSTARTTLSMissingTLSRequired, DiagBannerMasked},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				// The inspection masks X-ANONYMOUSTLS and X-EXPS too:
				// nothing tells Exchange.
				if !ep.Server.Masked || ep.Server.Software != SoftwareUnknown || !strings.Contains(ep.Diagnoses[0].Cause, `"XXXXXXXA"`) {
					t.Errorf("server %+v, cause %q", ep.Server, ep.Diagnoses[0].Cause)
				}
				if !slices.Contains(ep.Diagnoses[0].Fix, "  no inspect esmtp") {
					t.Errorf("fix = %q", ep.Diagnoses[0].Fix)
				}
			},
		},
		{
			name: "firewall masks the banner only", dialogues: []dialogue{bannerOnly},
			want: []string{DiagBannerMasked}, notWant: []string{DiagSMTPInspection, DiagSTARTTLSMissing},
		},
		{
			name: "name mismatch on 587", dialogues: []dialogue{frontend(p.good), client(p.wrongName)}, of: 1,
			want: []string{DiagNameMismatch, DiagCertificateDiffers},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				fix := strings.Join(findDiagnosis(ep, DiagNameMismatch).Fix, "\n")
				want := `Set-ReceiveConnector 'EXCH01\Client Frontend EXCH01' -Fqdn mail.contoso.test -TlsCertificateName '` + dotnetname.TLSCertificateName(p.good[0]) + "'"
				if !strings.Contains(fix, want) {
					t.Errorf("fix lacks %q:\n%s", want, fix)
				}
				// The mismatch rule gives the fix; the comparison adds the table.
				if differs := findDiagnosis(ep, DiagCertificateDiffers); len(differs.Fix) != 0 || len(differs.Compare) != 2 {
					t.Errorf("certificate-differs = %+v", differs)
				}
			},
		},
		{
			name: "another name on 25 is no client matter", dialogues: []dialogue{frontend(p.wrongName)},
			notWant: []string{DiagNameMismatch},
		},
		{
			name: "default certificate on 587", dialogues: []dialogue{client(p.dflt)},
			want: []string{DiagDefaultCertificate}, notWant: []string{DiagNameMismatch, DiagDefaultCertificateExpected},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				d := ep.Diagnoses[0]
				if d.Severity != SeverityCritical || !strings.Contains(d.Cause, "CN=EXCH01") || !strings.Contains(d.Cause, `"Client Frontend EXCH01"`) {
					t.Errorf("diagnosis = %+v", d)
				}
			},
		},
		{
			name: "default certificate on 25", dialogues: []dialogue{frontend(p.dflt)},
			want: []string{DiagDefaultCertificate},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				if d := ep.Diagnoses[0]; d.Severity != SeverityWarning {
					t.Errorf("severity = %s on port 25, want warning", d.Severity)
				}
			},
		},
		{
			name: "default certificate on 2525 is expected", dialogues: []dialogue{frontend(p.good), hub(p.dflt)}, of: 1,
			want: []string{DiagDefaultCertificateExpected}, notWant: []string{DiagDefaultCertificate, DiagCertificateDiffers},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				if d := findDiagnosis(ep, DiagDefaultCertificateExpected); d.Severity != SeverityInfo || len(d.Fix) != 0 {
					t.Errorf("diagnosis = %+v, want info with nothing to run", d)
				}
			},
		},
		{
			name: "Auth certificate on 587", dialogues: []dialogue{client(p.auth)},
			want: []string{DiagAuthCertificate}, notWant: []string{DiagNameMismatch, DiagDefaultCertificate},
		},
		{
			name: "expired certificate still bound after renewal", dialogues: []dialogue{frontend(p.expired), client(p.renewed)},
			want: []string{DiagExpiredCertificate, DiagCertificateDiffers},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				d := findDiagnosis(ep, DiagExpiredCertificate)
				if !strings.Contains(d.Cause, SHA1(p.renewed[0])) || !strings.Contains(d.Cause, "port 587") {
					t.Errorf("cause %q does not point at the renewal", d.Cause)
				}
				fix := strings.Join(d.Fix, "\n")
				if !strings.Contains(fix, "Enable-ExchangeCertificate -Thumbprint "+SHA1(p.renewed[0])) ||
					!strings.Contains(fix, "Remove-ExchangeCertificate -Thumbprint "+SHA1(p.expired[0])) {
					t.Errorf("fix:\n%s", fix)
				}
			},
		},
		{
			name: "renewal in use", dialogues: []dialogue{frontend(p.renewed)},
			notWant: []string{DiagExpiredCertificate},
		},
		{
			name: "AUTH LOGIN before TLS on Postfix 587", dialogues: []dialogue{postfixPlainAuth},
			want: []string{DiagAuthBeforeTLS}, notWant: []string{DiagNoAuthAfterTLS},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				d := ep.Diagnoses[0]
				if d.Severity != SeverityWarning || !slices.Contains(d.Fix, "postconf -P 'submission/inet/smtpd_tls_auth_only=yes'") {
					t.Errorf("diagnosis = %+v", d)
				}
				if ep.Status != Warning {
					t.Errorf("endpoint status = %s, want the warning to count", ep.Status)
				}
			},
		},
		{
			name: "AUTH LOGIN before TLS on Exchange 2525 is its default", dialogues: []dialogue{hub(p.dflt)},
			want: []string{DiagAuthBeforeTLS},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				if d := findDiagnosis(ep, DiagAuthBeforeTLS); d.Severity != SeverityInfo {
					t.Errorf("severity = %s, want info", d.Severity)
				}
			},
		},
		{
			name: "AUTH NTLM before TLS sends no password", dialogues: []dialogue{frontend(p.good)},
			notWant: []string{DiagAuthBeforeTLS},
		},
		{
			name: "no AUTH after TLS on 587", dialogues: []dialogue{postfixNoAuth},
			want: []string{DiagNoAuthAfterTLS}, notWant: []string{DiagAuthBeforeTLS},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				if ep.RequiresTLS != TLSRequiredTrue || ep.Server.Software != SoftwarePostfix {
					t.Errorf("TLS required %q, server %+v", ep.RequiresTLS, ep.Server)
				}
			},
		},
		{
			name: "AUTH after TLS on 587", dialogues: []dialogue{client(p.good)},
			notWant: []string{DiagNoAuthAfterTLS},
		},
		{
			name: "same port, another address, older certificate", dialogues: []dialogue{frontend(p.good), secondNode}, of: 1,
			want: []string{DiagCertificateDiffers},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				d := findDiagnosis(ep, DiagCertificateDiffers)
				if !strings.HasPrefix(d.Cause, "127.0.0.2 port 25 presents another certificate") || !strings.Contains(d.Cause, "than 127.0.0.1 port 25") {
					t.Errorf("cause = %q", d.Cause)
				}
				if len(d.Compare) != 2 || d.Compare[0].Differs || !d.Compare[1].Differs {
					t.Errorf("compare = %+v", d.Compare)
				}
				if !strings.Contains(strings.Join(d.Fix, "\n"), SHA1(p.good[0])) {
					t.Errorf("fix = %q, want the newer certificate bound", d.Fix)
				}
			},
		},
		{
			name: "Exchange's 465 speaks plain SMTP", dialogues: []dialogue{frontend(p.good), plaintext465}, of: 1,
			want: []string{DiagPlaintextOnImplicitPort},
			check: func(t *testing.T, p diagPKI, ep Endpoint) {
				if d := ep.Diagnoses[0]; !strings.Contains(d.Cause, `"Client Proxy EXCH01"`) || !strings.Contains(d.Cause, "587") {
					t.Errorf("cause = %q", d.Cause)
				}
			},
		},
		{
			name: "465 with implicit TLS", dialogues: []dialogue{frontend(p.good), tls465}, of: 1,
			notWant: []string{DiagPlaintextOnImplicitPort},
		},
		{
			name: "the reference endpoint does not differ", dialogues: []dialogue{frontend(p.good), secondNode}, of: 0,
			notWant: []string{DiagCertificateDiffers},
		},
	}
}

func TestDiagnosisRules(t *testing.T) {
	t.Parallel()
	p := newDiagPKI(t)
	for _, tc := range ruleCases(p) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sum := judgeDialogues(t, p, tc.dialogues...)
			ep := sum.Endpoints[tc.of]
			ids := diagnosisIDs(ep)
			for _, id := range tc.want {
				if !slices.Contains(ids, id) {
					t.Errorf("diagnoses %q lack %q", ids, id)
				}
			}
			for _, id := range tc.notWant {
				if slices.Contains(ids, id) {
					t.Errorf("diagnoses %q include %q", ids, id)
				}
			}
			for _, d := range ep.Diagnoses {
				if d.Cause == "" || strings.Count(strings.TrimSuffix(d.Cause, "."), ". ") > 0 && !strings.Contains(d.Cause, "KB") {
					t.Errorf("%s: cause %q is not one sentence", d.ID, d.Cause)
				}
				if d.Severity.status() != Skipped && Worse(ep.Status, d.Severity.status()) != ep.Status {
					t.Errorf("%s (%s) does not count in the endpoint status %s", d.ID, d.Severity, ep.Status)
				}
			}
			if tc.check != nil && !t.Failed() {
				tc.check(t, p, ep)
			}
		})
	}
}

func TestJudgeTLSRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reply []string
		err   bool
		want  TLSRequired
	}{
		{reply: []string{"451 5.7.3 STARTTLS is required to send mail"}, want: TLSRequiredTrue},
		{reply: []string{"530 5.7.0 Must issue a STARTTLS command first"}, want: TLSRequiredTrue},
		{reply: []string{"451 5.7.3 Must issue a STARTTLS command first"}, want: TLSRequiredTrue},
		// RFC 4954's "Authentication required" shares 530 5.7.0 with
		// Postfix's STARTTLS refusal: only the text tells them apart.
		{reply: []string{"530 5.7.0 Authentication required"}, want: TLSRequiredUnknown},
		{reply: []string{"250 2.1.0 Sender OK"}, want: TLSRequiredFalse},
		{reply: []string{"530 5.7.1 Client was not authenticated"}, want: TLSRequiredUnknown},
		{reply: []string{"530 5.7.57 Client not authenticated to send mail."}, want: TLSRequiredUnknown},
		{reply: []string{"421 4.7.0 Too many errors on this connection, closing transmission channel"}, want: TLSRequiredUnknown},
		{err: true, want: TLSRequiredUnknown},
	}
	for _, tc := range tests {
		test := &probe.TLSRequiredTest{Mail: replyOf(t, tc.reply)}
		if tc.err {
			test.Error = &probe.Error{Phase: probe.PhaseEHLO, Err: context.DeadlineExceeded}
		}
		if got := JudgeTLSRequired(test); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.reply, got, tc.want)
		}
	}
	if got := JudgeTLSRequired(nil); got != TLSRequiredNotTested {
		t.Errorf("not tested: %q", got)
	}
}

func TestRecognizeServer(t *testing.T) {
	t.Parallel()
	ehlo := func(kws ...string) *probe.Reply {
		return &probe.Reply{Code: 250, Lines: append([]string{"mx Hello"}, kws...)}
	}
	tests := []struct {
		name     string
		banner   string
		ehlo     *probe.Reply
		software Software
		server   string
		masked   bool
	}{
		{"Exchange banner", "EXCH01.contoso.test Microsoft ESMTP MAIL Service ready at Sat, 15 Jun 2030 13:59:58 +0200", nil, SoftwareExchange, "EXCH01", false},
		{"Exchange modern banner in capitals", "exch02.contoso.test MICROSOFT ESMTP MAIL SERVICE READY AT Sat, 15 Jun 2030 13:59:58 +0200", nil, SoftwareExchange, "EXCH02", false},
		{"Exchange by its extensions", "mail.contoso.test ready", ehlo("X-EXPS GSSAPI NTLM"), SoftwareExchange, "MAIL", false},
		{"Exchange 2010 XEXCH50", "hub ready", ehlo("XEXCH50"), SoftwareExchange, "HUB", false},
		{"Exchange X-LINK2STATE", "hub ready", ehlo("X-LINK2STATE"), SoftwareExchange, "HUB", false},
		{"masked banner", "*******************************0****2*****************", nil, SoftwareUnknown, "", true},
		{"masked banner, Exchange extensions", "************************************", ehlo("X-ANONYMOUSTLS"), SoftwareExchange, "", true},
		{"Postfix", "mx.contoso.test ESMTP Postfix (Debian/GNU)", nil, SoftwarePostfix, "MX", false},
		{"Exim", "mx.contoso.test ESMTP Exim 4.96 Sat, 15 Jun 2030 12:00:00 +0000", nil, SoftwareExim, "MX", false},
		{"Sendmail", "mx.contoso.test ESMTP Sendmail 8.17.1/8.17.1; Sat, 15 Jun 2030", nil, SoftwareSendmail, "MX", false},
		{"unknown", "mx.contoso.test ESMTP ready", ehlo("PIPELINING", "STARTTLS"), SoftwareUnknown, "MX", false},
	}
	for _, tc := range tests {
		r := probe.Result{Banner: &probe.Reply{Code: 220, Lines: []string{tc.banner}}, EHLO: tc.ehlo}
		s := RecognizeServer(&r)
		if s.Software != tc.software || s.ServerName() != tc.server || s.Masked != tc.masked {
			t.Errorf("%s: %+v (server %q), want %s, %q, masked %v", tc.name, s, s.ServerName(), tc.software, tc.server, tc.masked)
		}
	}
	if got := ExchangeConnector(717, "EXCH01"); got != "Outbound Proxy Frontend EXCH01" {
		t.Errorf("717: %q", got)
	}
	if got := ExchangeConnector(465, "EXCH01"); got != "Client Proxy EXCH01" {
		t.Errorf("465: %q", got)
	}
}

func TestDefaultCertificates(t *testing.T) {
	t.Parallel()
	p := newDiagPKI(t)
	y := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
	oneYear := makeCert(t, certSpec{seed: "one-year", subject: pkix.Name{CommonName: diagServer},
		dnsNames: []string{diagServer, diagServer + "." + diagDomain}, from: y(2030), to: y(2031)}, nil, "")
	fqdnCN := makeCert(t, certSpec{seed: "fqdn-cn", subject: pkix.Name{CommonName: "exch01.contoso.test"},
		dnsNames: []string{"exch01", "exch01.contoso.test"}, from: y(2027), to: y(2032)}, nil, "")
	otherSAN := makeCert(t, certSpec{seed: "other-san", subject: pkix.Name{CommonName: diagServer},
		dnsNames: []string{diagServer, "mail.contoso.test"}, from: y(2027), to: y(2032)}, nil, "")
	caIssued := makeCert(t, certSpec{seed: "ca-issued", subject: pkix.Name{CommonName: diagServer},
		dnsNames: []string{diagServer, diagServer + "." + diagDomain}, from: y(2027), to: y(2032)}, p.issuing, "issuing")
	tests := []struct {
		name        string
		cert        *x509.Certificate
		dflt, authC bool
	}{
		{"default", p.dflt[0], true, false},
		{"auth", p.auth[0], false, true},
		{"one year", oneYear, false, false},
		{"FQDN as CN", fqdnCN, false, false},
		{"SAN not under the CN", otherSAN, false, false},
		{"CA-issued", caIssued, false, false},
		{"good", p.good[0], false, false},
	}
	for _, tc := range tests {
		if got := IsExchangeDefaultCertificate(tc.cert); got != tc.dflt {
			t.Errorf("%s: IsExchangeDefaultCertificate = %v", tc.name, got)
		}
		if got := IsExchangeAuthCertificate(tc.cert); got != tc.authC {
			t.Errorf("%s: IsExchangeAuthCertificate = %v", tc.name, got)
		}
	}
	// The real thing, as probetest makes it: RSA 2048, five years.
	real, err := probetest.ExchangeDefaultCertificate(diagServer, diagDomain, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !IsExchangeDefaultCertificate(real.Leaf()) {
		t.Errorf("probetest's default certificate is not recognised")
	}
}

func TestPSQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`EXCH01\Client Frontend EXCH01`: `'EXCH01\Client Frontend EXCH01'`,
		`O'Brien`:                       `'O''Brien'`,
		"O\u2019Brien":                  "'O\u2019\u2019Brien'",
		`$(Remove-Item C:\)`:            `'$(Remove-Item C:\)'`,
		`"quoted"`:                      `'"quoted"'`,
	} {
		if got := psQuote(in); got != want {
			t.Errorf("psQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// The end-to-end case: the probe against live loopback Exchange
// personalities, judged and diagnosed.
func TestDiagnosisOfProbedExchange(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("Contoso Test Root CA")
	if err != nil {
		t.Fatal(err)
	}
	dflt, err := probetest.ExchangeDefaultCertificate(diagServer, diagDomain, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ex := func(c probetest.ExchangeConnector, chain *probetest.Chain, requireTLS bool) *probetest.Server {
		return probetest.NewExchange(t, probetest.Exchange{Server: diagServer, Domain: diagDomain, Connector: c, Chain: chain, RequireTLS: requireTLS})
	}
	servers := []struct {
		s    *probetest.Server
		role int
	}{
		{ex(probetest.DefaultFrontend, nil, true), 25},
		{ex(probetest.ClientFrontend, dflt, false), 587},
		{ex(probetest.HubTransport, dflt, false), 2525},
		{ex(probetest.ClientProxy, dflt, false), 465},
	}
	var eps []probe.Endpoint
	for _, sv := range servers {
		eps = append(eps, probe.Endpoint{Target: diagName, Host: diagName, Address: sv.s.IP(), Port: sv.s.Port(), ServicePort: sv.role,
			Implicit: sv.role == 465})
	}
	results := probe.Run(context.Background(), eps, probe.Options{EHLOName: "probe.contoso.test", Timeout: 10 * time.Second})
	sum := Judge(results, Expect{Name: diagName, Roots: root.Pool()}, time.Now())
	want := [][]string{
		{DiagSTARTTLSMissingTLSRequired},
		{DiagDefaultCertificate},
		{DiagAuthBeforeTLS, DiagDefaultCertificateExpected},
		{DiagPlaintextOnImplicitPort},
	}
	for i, ep := range sum.Endpoints {
		ids := diagnosisIDs(ep)
		for _, id := range want[i] {
			if !slices.Contains(ids, id) {
				t.Errorf("port %d: diagnoses %q lack %q", servers[i].role, ids, id)
			}
		}
		if servers[i].role != 465 && (ep.Server.Software != SoftwareExchange || ep.Server.ServerName() != diagServer) {
			t.Errorf("port %d: server %+v", servers[i].role, ep.Server)
		}
	}
	if sum.Endpoints[0].RequiresTLS != TLSRequiredTrue || sum.Endpoints[1].RequiresTLS != TLSRequiredFalse {
		t.Errorf("TLS required: %q, %q", sum.Endpoints[0].RequiresTLS, sum.Endpoints[1].RequiresTLS)
	}
	// With -v the test shows in the transcript of the connection it
	// shared; a connection of its own only when the server spoiled it.
	sum.Verbose = true
	var text bytes.Buffer
	if err := Text(&text, sum, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), " C MAIL FROM:<>\n") || strings.Contains(text.String(), "transcript of the TLS-required test") {
		t.Errorf("verbose text lacks MAIL FROM:<> in the transcript, or shows a connection of the test's own:\n%s", text.String())
	}
	// The default certificate's CN names the server in every fix.
	fix := strings.Join(findDiagnosis(sum.Endpoints[1], DiagDefaultCertificate).Fix, "\n")
	if !strings.Contains(fix, `'EXCH01\Client Frontend EXCH01' -Fqdn mail.contoso.test`) {
		t.Errorf("fix:\n%s", fix)
	}
}

// Exchange dropping the session after 451 5.7.3: the verdict stands, the
// certificate comes from a second connection, and -v shows the test's
// connection on its own.
func TestDiagnosisOfExchangeDroppingTheSession(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("Contoso Test Root CA")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: diagName, DNSNames: []string{diagName}})
	if err != nil {
		t.Fatal(err)
	}
	s := probetest.NewExchange(t, probetest.Exchange{Server: diagServer, Domain: diagDomain, Connector: probetest.DefaultFrontend,
		Chain: chain, RequireTLS: true, DropsAfterRequireTLS: true})
	ep := probe.Endpoint{Target: diagName, Host: diagName, Address: s.IP(), Port: s.Port(), ServicePort: 25}
	results := probe.Run(context.Background(), []probe.Endpoint{ep}, probe.Options{EHLOName: "probe.contoso.test", Timeout: 10 * time.Second})
	sum := Judge(results, Expect{Name: diagName, Roots: root.Pool()}, time.Now())
	sum.Verbose = true
	if got := sum.Endpoints[0]; got.RequiresTLS != TLSRequiredTrue || got.Status != OK {
		t.Errorf("TLS required %q, status %s, want true and OK", got.RequiresTLS, got.Status)
	}
	if field := tlsRequiredField(sum.Endpoints[0]); !strings.HasSuffix(field, "; the server ended the session, so STARTTLS was probed on a new connection") {
		t.Errorf("TLS required line %q does not say the session ended", field)
	}
	var text bytes.Buffer
	if err := Text(&text, sum, false); err != nil {
		t.Fatal(err)
	}
	_, test, found := strings.Cut(text.String(), "transcript of the TLS-required test")
	if !found || !strings.Contains(test, " C MAIL FROM:<>\n") || !strings.Contains(test, "451 5.7.3 STARTTLS is required") {
		t.Errorf("verbose text lacks the test's own connection after the main transcript:\n%s", text.String())
	}
	var doc bytes.Buffer
	if err := JSON(&doc, sum); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Results []struct {
			TLSRequired struct {
				SessionEnded bool                         `json:"session_ended"`
				Transcript   []struct{ Dir, Text string } `json:"transcript"`
			} `json:"tls_required"`
		} `json:"results"`
	}
	if err := json.Unmarshal(doc.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
	if lines := parsed.Results[0].TLSRequired.Transcript; len(lines) < 4 || !slices.ContainsFunc(lines, func(l struct{ Dir, Text string }) bool {
		return l.Dir == "C" && l.Text == "MAIL FROM:<>"
	}) {
		t.Errorf("JSON tls_required.transcript = %+v, want the test's own connection", lines)
	}
	if !parsed.Results[0].TLSRequired.SessionEnded {
		t.Error("JSON tls_required.session_ended is false")
	}
}

// Golden files: the diagnosis part of the text and JSON reports.

type diagGoldenCase struct {
	name      string
	dialogues []dialogue
}

func diagGoldenCases(p diagPKI) []diagGoldenCase {
	cases := ruleCases(p)
	byName := func(name string) []dialogue {
		for _, c := range cases {
			if c.name == name {
				return c.dialogues
			}
		}
		panic("no rule case " + name)
	}
	// The hostile certificate is the good one here, so its names go into
	// the fix for 587: quoted for PowerShell, escaped for the terminal.
	hostile := []dialogue{
		{role: 25, script: exchangeScript(probetest.DefaultFrontend, true, false, false), chain: p.hostile},
		{role: 587, script: exchangeScript(probetest.ClientFrontend, true, false, false), chain: p.wrongName},
	}
	return []diagGoldenCase{
		{"exchange-kb2989382", byName("KB 2989382: no STARTTLS and TLS required")},
		{"exchange-587-default-certificate", []dialogue{
			{role: 25, script: exchangeScript(probetest.DefaultFrontend, true, false, false), chain: p.good},
			{role: 587, script: exchangeScript(probetest.ClientFrontend, true, false, false), chain: p.dflt},
			{role: 2525, script: exchangeScript(probetest.HubTransport, true, false, false), chain: p.dflt},
		}},
		{"exchange-expired-after-renewal", byName("expired certificate still bound after renewal")},
		{"firewall-masks-starttls", byName("firewall masks STARTTLS")},
		{"postfix", []dialogue{
			{role: 25, script: postfixScript([]string{"250 PIPELINING"}, nil, false)},
			byName("AUTH LOGIN before TLS on Postfix 587")[0],
		}},
		{"two-nodes", byName("same port, another address, older certificate")},
		{"hostile-certificate", hostile},
	}
}

// diagnosisText is what the text report says about server, TLS required
// and diagnosis: each endpoint's title, those fields, and its diagnosis
// block, so that other parts of the report can change without touching
// these files.
func diagnosisText(t *testing.T, s Summary) []byte {
	t.Helper()
	var full bytes.Buffer
	if err := Text(&full, s, false); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	inBlock := false
	for _, line := range strings.Split(full.String(), "\n") {
		switch {
		case strings.HasPrefix(line, diagName+":"):
			out.WriteString(line + "\n")
			inBlock = false
		case line == "  diagnosis":
			inBlock = true
			out.WriteString(line + "\n")
		case inBlock && strings.HasPrefix(line, "    "):
			out.WriteString(line + "\n")
		case strings.HasPrefix(line, "  server ") || strings.HasPrefix(line, "  TLS required "):
			out.WriteString(line + "\n")
			inBlock = false
		default:
			inBlock = false
		}
	}
	return out.Bytes()
}

// diagnosisJSON is the server, tls_required and diagnosis members of each
// result of the JSON report.
func diagnosisJSON(t *testing.T, s Summary) []byte {
	t.Helper()
	var full bytes.Buffer
	if err := JSON(&full, s); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(full.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var parts []map[string]json.RawMessage
	for _, r := range doc.Results {
		part := map[string]json.RawMessage{}
		for _, k := range []string{"address", "port", "server", "tls_required", "diagnosis"} {
			v, ok := r[k]
			if !ok {
				t.Fatalf("result has no %q member", k)
			}
			part[k] = v
		}
		parts = append(parts, part)
	}
	out, err := json.MarshalIndent(parts, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestDiagnosisGolden(t *testing.T) {
	p := newDiagPKI(t)
	for _, tc := range diagGoldenCases(p) {
		t.Run(tc.name, func(t *testing.T) {
			sum := judgeDialogues(t, p, tc.dialogues...)
			text := diagnosisText(t, sum)
			if bytes.ContainsRune(text, 0x1b) || bytes.ContainsRune(text, 0x07) {
				t.Errorf("control characters reached the text report:\n%q", text)
			}
			compareGolden(t, filepath.Join("testdata", "diagnosis", tc.name+".text.golden"), text)
			compareGolden(t, filepath.Join("testdata", "diagnosis", tc.name+".json.golden"), diagnosisJSON(t, sum))
		})
	}
}
