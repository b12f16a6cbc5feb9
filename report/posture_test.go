package report_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
)

const postfixBanner = "220 " + mailName + " ESMTP Postfix (Debian/GNU)"

// staple is an OCSP response for chain's leaf, signed by its issuer, as
// a server staples it.
func staple(t *testing.T, ca *probetest.CA, chain *probetest.Chain, status int) []byte {
	t.Helper()
	now := time.Now()
	tmpl := ocsp.Response{Status: status, SerialNumber: chain.Leaf().SerialNumber, ThisUpdate: now.Add(-time.Hour),
		NextUpdate: now.Add(7 * 24 * time.Hour), ProducedAt: now.Add(-time.Hour)}
	if status == ocsp.Revoked {
		tmpl.RevokedAt, tmpl.RevocationReason = now.Add(-2*time.Hour), ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(ca.Cert, ca.Cert, tmpl, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// scanned probes ep with --tls-scan through probe.Run, as main does, and
// judges it.
func scanned(t *testing.T, ep probe.Endpoint, expect report.Expect) report.Endpoint {
	t.Helper()
	opts := probe.Options{EHLOName: "probe.contoso.test", Timeout: 20 * time.Second, NoTLSRequiredTest: true, TLSScan: true}
	results := probe.Run(context.Background(), []probe.Job{{Endpoint: ep}}, opts, nil)
	if results[0].Scan == nil {
		t.Fatalf("no scan: %v", results[0].Error)
	}
	s := report.Judge(results, expect, time.Now())
	return s.Endpoints[0]
}

func checkOf(t *testing.T, ep report.Endpoint, id string) report.Check {
	t.Helper()
	for _, c := range ep.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", id, ep.Checks)
	return report.Check{}
}

// The classic miss: the RSA certificate was renewed, the ECDSA one beside
// it expired. The probe's own handshake gets the RSA one and finds nothing
// wrong; the scan is presented both and judges each. The old server also
// accepts TLS 1.0 on port 25, which warns with Postfix's fix, and staples
// OCSP for the RSA certificate.
func TestScanJudgesEveryHeldCertificate(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	rsaChain := pki.issue(t, probetest.Spec{CommonName: mailName, DNSNames: []string{mailName}, RSABits: 2048})
	expiredSpec := forName(mailName)
	expiredSpec.NotBefore, expiredSpec.NotAfter = time.Now().AddDate(0, -4, 0), time.Now().AddDate(0, 0, -31)
	ecdsaChain := pki.issue(t, expiredSpec)
	rsaCert := rsaChain.TLSCertificate()
	rsaCert.OCSPStaple = staple(t, pki.issuing, rsaChain, ocsp.Good)
	ecdsaCert := ecdsaChain.TLSCertificate()
	ecdsaCert.OCSPStaple = staple(t, pki.issuing, ecdsaChain, ocsp.Revoked)
	s := probetest.NewServer(t, probetest.Config{Chain: rsaChain, Domain: mailName, Banner: postfixBanner, MinVersion: tls.VersionTLS10,
		ConfigureTLS: func(c *tls.Config) { c.Certificates = []tls.Certificate{rsaCert, ecdsaCert} }})

	ep := scanned(t, s.Endpoint(mailName, 25), pki.expect())
	if got := checkOf(t, ep, report.CheckExpiry); got.Status != report.OK {
		t.Fatalf("the probe's own certificate: expiry %s, want ok (the RSA one): the case tests nothing", got.Status)
	}
	held := checkOf(t, ep, report.CheckHeldCertificates)
	if held.Status != report.Critical || !strings.Contains(held.Message, "expired") || !strings.Contains(held.Message, "ECDSA") {
		t.Errorf("certificates check: %s %q, want critical naming the expired ECDSA certificate", held.Status, held.Message)
	}
	if ep.Status != report.Critical {
		t.Errorf("endpoint %s, want critical", ep.Status)
	}
	staples := map[string]string{}
	for _, h := range ep.Posture.Certificates {
		staples[strings.Fields(h.Certificate.Key)[0]] = h.OCSP.Status
	}
	if staples["RSA"] != "good" || staples["ECDSA"] != "revoked" {
		t.Errorf("OCSP staples %v, want RSA good and ECDSA revoked", staples)
	}

	legacy := checkOf(t, ep, report.CheckLegacyTLS)
	if legacy.Status != report.Warning || !strings.Contains(legacy.Message, "TLS 1.0 and TLS 1.1") {
		t.Errorf("legacy-tls: %s %q, want a warning naming TLS 1.0 and 1.1", legacy.Status, legacy.Message)
	}
	var fix []string
	for _, d := range ep.Diagnoses {
		if d.ID == report.DiagLegacyTLS {
			fix = d.Fix
		}
	}
	if !slices.ContainsFunc(fix, func(l string) bool { return strings.Contains(l, "smtpd_tls_protocols") }) {
		t.Errorf("legacy-tls fix %q, want Postfix's smtpd_tls_protocols", fix)
	}
	states := map[string]string{}
	for _, v := range ep.Posture.Versions {
		states[v.Version] = v.State
	}
	want := map[string]string{"SSL 2.0": report.NotTestable, "SSL 3.0": report.NotTestable, "TLS 1.0": "accepted", "TLS 1.1": "accepted",
		"TLS 1.2": "accepted", "TLS 1.3": "accepted"}
	for v, st := range want {
		if states[v] != st {
			t.Errorf("%s: %q, want %q", v, states[v], st)
		}
	}
}

// Only TLS 1.0: Exchange Online and most senders cannot use TLS with it.
func TestScanOfTLS10OnlyIsCritical(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	s := probetest.NewServer(t, probetest.Config{Chain: pki.issue(t, forName(mailName)), Domain: mailName,
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10})
	ep := scanned(t, s.Endpoint(mailName, 587), pki.expect())
	legacy := checkOf(t, ep, report.CheckLegacyTLS)
	if legacy.Status != report.Critical || !strings.Contains(legacy.Message, "only TLS 1.0") {
		t.Errorf("legacy-tls: %s %q, want critical, only TLS 1.0", legacy.Status, legacy.Message)
	}
}

// A modern server: no legacy version, no finding, nothing stapled.
func TestScanOfModernServerFindsNothing(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	s := serve(t, pki.issue(t, forName(mailName)))
	ep := scanned(t, s.Endpoint(mailName, 25), pki.expect())
	for _, id := range []string{report.CheckLegacyTLS, report.CheckHeldCertificates} {
		if c := checkOf(t, ep, id); c.Status != report.OK {
			t.Errorf("%s: %s %q, want ok", id, c.Status, c.Message)
		}
	}
	if len(ep.Posture.Certificates) != 1 || ep.Posture.Certificates[0].OCSP.Stapled || !ep.Posture.Certificates[0].Checked {
		t.Errorf("held certificates %+v, want the checked one alone, nothing stapled", ep.Posture.Certificates)
	}
	if w := ep.Posture.WithoutSNI; w == nil || w.Differs || w.State != "accepted" {
		t.Errorf("without SNI: %+v, want the same certificate", w)
	}
}

// scanResult is a STARTTLS dialogue with Postfix on port whose handshake
// got chain, with scan beside it, as --tls-scan leaves it: the scan's
// outcomes set by hand, so each case holds exactly the outcome it judges.
func scanResult(port int, chain []*x509.Certificate, scan *probe.Scan) probe.Result {
	return probe.Result{
		Endpoint: probe.Endpoint{Host: mailName, Port: port}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
		Banner:          &probe.Reply{Code: 220, Lines: []string{mailName + " ESMTP Postfix (Debian/GNU)"}},
		EHLO:            &probe.Reply{Code: 250, Lines: []string{mailName, "PIPELINING", "STARTTLS"}},
		STARTTLSOffered: true, STARTTLSReply: &probe.Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}},
		EHLOAfterTLS: &probe.Reply{Code: 250, Lines: []string{mailName, "PIPELINING"}},
		TLS: &probe.TLSState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			ServerName: mailName, HandshakeComplete: true, CurveID: tls.X25519},
		Chain: chain, Scan: scan,
	}
}

// versionsScan is a scan that found each version in the given state,
// presented chain alone.
func versionsScan(chain []*x509.Certificate, outcomes map[uint16]probe.Outcome) *probe.Scan {
	scan := &probe.Scan{Chains: []probe.PresentedChain{{Chain: chain, Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		vs := probe.VersionScan{Version: v, Outcome: outcomes[v], Complete: true}
		switch vs.Outcome {
		case probe.Accepted:
			vs.Suites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
		case probe.Refused:
			vs.Err = &probe.Error{Phase: probe.PhaseHandshake, Err: tls.AlertError(70)}
		case probe.NotTested:
			vs.Err = &probe.Error{Phase: probe.PhaseHandshake, Err: context.DeadlineExceeded}
		}
		scan.Versions = append(scan.Versions, vs)
	}
	return scan
}

func judgeOne(t *testing.T, r probe.Result, expect report.Expect) report.Endpoint {
	t.Helper()
	s := report.Judge([]probe.Result{r}, expect, time.Now())
	if len(s.Endpoints) != 1 || s.Endpoints[0].Posture == nil {
		t.Fatalf("judged %+v, want one endpoint with its posture", s.Endpoints)
	}
	return s.Endpoints[0]
}

// The legacy-tls message says what the scan did not reach, and only that:
// a complete scan adds nothing, an incomplete one names the versions left,
// once, whether the check judged or skipped.
func TestLegacyTLSNamesWhatTheScanDidNotReach(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	chain := pki.issue(t, forName(mailName)).Certs
	const (
		acc = probe.Accepted
		ref = probe.Refused
		nt  = probe.NotTested
	)
	tests := []struct {
		name        string
		port        int
		outcomes    map[uint16]probe.Outcome
		status      report.Status
		message     string
		diagnosis   bool
		severity    report.Severity
		causePrefix string
	}{
		{"modern, all tested", 25, map[uint16]probe.Outcome{tls.VersionTLS10: ref, tls.VersionTLS11: ref, tls.VersionTLS12: acc, tls.VersionTLS13: acc},
			report.OK, "TLS 1.0 and 1.1 refused", false, "", ""},
		{"modern, TLS 1.3 not reached", 25, map[uint16]probe.Outcome{tls.VersionTLS10: ref, tls.VersionTLS11: ref, tls.VersionTLS12: acc, tls.VersionTLS13: nt},
			report.OK, "TLS 1.0 and 1.1 refused; not tested: TLS 1.3", false, "", ""},
		{"nothing modern reached", 25, map[uint16]probe.Outcome{tls.VersionTLS10: ref, tls.VersionTLS11: ref, tls.VersionTLS12: nt, tls.VersionTLS13: nt},
			report.Skipped, "not tested: TLS 1.2, TLS 1.3 not reached by the scan", false, "", ""},
		{"TLS 1.0 beside TLS 1.2 on 587, TLS 1.3 not reached", 587, map[uint16]probe.Outcome{tls.VersionTLS10: acc, tls.VersionTLS11: ref, tls.VersionTLS12: acc, tls.VersionTLS13: nt},
			report.Warning, "accepts TLS 1.0 beside TLS 1.2 or newer; RFC 8996 deprecates them, and no sender that needs them should be left; not tested: TLS 1.3",
			true, report.SeverityWarning, "Port 587 accepts TLS 1.0."},
		{"only TLS 1.0 and 1.1 on 587", 587, map[uint16]probe.Outcome{tls.VersionTLS10: acc, tls.VersionTLS11: acc, tls.VersionTLS12: ref, tls.VersionTLS13: ref},
			report.Critical, "accepts only TLS 1.0 and TLS 1.1: Exchange Online (which refuses TLS 1.0 and 1.1 since January 2021) and most senders cannot use TLS with it",
			true, report.SeverityCritical, "Port 587 accepts TLS 1.0 and TLS 1.1."},
		{"TLS 1.0 beside TLS 1.2 on 2525", 2525, map[uint16]probe.Outcome{tls.VersionTLS10: acc, tls.VersionTLS11: ref, tls.VersionTLS12: acc, tls.VersionTLS13: acc},
			report.OK, "accepts TLS 1.0 beside TLS 1.2 or newer (only judged on ports 25 and 587)", false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ep := judgeOne(t, scanResult(tc.port, chain, versionsScan(chain, tc.outcomes)), pki.expect())
			if c := checkOf(t, ep, report.CheckLegacyTLS); c.Status != tc.status || c.Message != tc.message {
				t.Errorf("legacy-tls: %s %q, want %s %q", c.Status, c.Message, tc.status, tc.message)
			}
			var diag *report.Diagnosis
			for i := range ep.Diagnoses {
				if ep.Diagnoses[i].ID == report.DiagLegacyTLS {
					diag = &ep.Diagnoses[i]
				}
			}
			switch {
			case !tc.diagnosis && diag != nil:
				t.Errorf("legacy-tls diagnosis %+v on port %d, want none", *diag, tc.port)
			case tc.diagnosis && diag == nil:
				t.Errorf("no legacy-tls diagnosis on port %d", tc.port)
			case tc.diagnosis && (diag.Severity != tc.severity || !strings.HasPrefix(diag.Cause, tc.causePrefix)):
				t.Errorf("legacy-tls diagnosis: %s %q, want %s starting %q", diag.Severity, diag.Cause, tc.severity, tc.causePrefix)
			}
		})
	}
}

// A refused version shows why; an accepted one has no reason to show.
func TestScanShowsWhyAVersionWasRefused(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	chain := pki.issue(t, forName(mailName)).Certs
	scan := versionsScan(chain, map[uint16]probe.Outcome{tls.VersionTLS10: probe.Refused, tls.VersionTLS11: probe.Refused,
		tls.VersionTLS12: probe.Accepted, tls.VersionTLS13: probe.Accepted})
	// An accepted version whose enumeration was cut short keeps the error
	// that cut it; the version is still accepted, with no reason against it.
	scan.Versions[2].Complete, scan.Versions[2].Err = false, &probe.Error{Phase: probe.PhaseHandshake, Err: context.DeadlineExceeded}
	ep := judgeOne(t, scanResult(25, chain, scan), pki.expect())
	reasons := map[string]string{}
	for _, v := range ep.Posture.Versions {
		reasons[v.Version] = v.Reason
	}
	refusedBy := scan.Versions[0].Err.Error()
	want := map[string]string{"TLS 1.0": refusedBy, "TLS 1.1": refusedBy, "TLS 1.2": "", "TLS 1.3": ""}
	for v, reason := range want {
		if reasons[v] != reason {
			t.Errorf("%s: reason %q, want %q", v, reasons[v], reason)
		}
	}
}

// Without SNI the server may present another certificate: the posture
// names it; a handshake without SNI that got no certificate names none and
// differs from nothing.
func TestScanComparesTheCertificateWithoutSNI(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	chain := pki.issue(t, forName(mailName)).Certs
	other := pki.issue(t, forName("default.contoso.test")).Certs
	tests := []struct {
		name    string
		attempt *probe.Attempt
		differs bool
		leaf    *x509.Certificate
	}{
		{"the same certificate", &probe.Attempt{Outcome: probe.Accepted, Chain: chain}, false, chain[0]},
		{"another certificate", &probe.Attempt{Outcome: probe.Accepted, Chain: other}, true, other[0]},
		{"refused before any certificate", &probe.Attempt{Outcome: probe.Refused, Err: &probe.Error{Phase: probe.PhaseHandshake, Err: tls.AlertError(112)}}, false, nil},
	}
	for _, tc := range tests {
		scan := versionsScan(chain, map[uint16]probe.Outcome{tls.VersionTLS10: probe.Refused, tls.VersionTLS11: probe.Refused,
			tls.VersionTLS12: probe.Accepted, tls.VersionTLS13: probe.Accepted})
		scan.WithoutSNI = tc.attempt
		w := judgeOne(t, scanResult(25, chain, scan), pki.expect()).Posture.WithoutSNI
		if w == nil {
			t.Errorf("%s: no comparison without SNI", tc.name)
			continue
		}
		if w.State != string(tc.attempt.Outcome) || w.Differs != tc.differs {
			t.Errorf("%s: %s, differs %v, want %s, differs %v", tc.name, w.State, w.Differs, tc.attempt.Outcome, tc.differs)
		}
		switch {
		case tc.leaf == nil && w.Leaf != nil:
			t.Errorf("%s: leaf %s, want none", tc.name, w.Leaf.Subject)
		case tc.leaf != nil && (w.Leaf == nil || !bytes.Equal(w.Leaf.DER, tc.leaf.Raw)):
			t.Errorf("%s: leaf %+v, want %s", tc.name, w.Leaf, tc.leaf.Subject)
		}
	}
}

// A staple is read against the issuer the server sent: one signed by
// another CA is unreadable; with the leaf alone there is no issuer to check
// it against, and its status is read as it stands. A revoked staple says
// when.
func TestScanReadsStaplesAgainstTheSentIssuer(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	stranger := newTestPKI(t)
	issued := pki.issue(t, forName(mailName))
	tests := []struct {
		name    string
		chain   []*x509.Certificate
		der     []byte
		status  string
		revoked bool
	}{
		{"good, with its issuer", issued.Certs, staple(t, pki.issuing, issued, ocsp.Good), "good", false},
		{"revoked, with its issuer", issued.Certs, staple(t, pki.issuing, issued, ocsp.Revoked), "revoked", true},
		{"signed by another CA", issued.Certs, staple(t, stranger.issuing, issued, ocsp.Good), "unreadable", false},
		{"leaf sent alone", issued.LeafOnly().Certs, staple(t, pki.issuing, issued, ocsp.Good), "good", false},
	}
	for _, tc := range tests {
		scan := versionsScan(tc.chain, map[uint16]probe.Outcome{tls.VersionTLS10: probe.Refused, tls.VersionTLS11: probe.Refused,
			tls.VersionTLS12: probe.Accepted, tls.VersionTLS13: probe.Accepted})
		scan.Chains[0].OCSPResponse = tc.der
		ep := judgeOne(t, scanResult(25, tc.chain, scan), pki.expect())
		if len(ep.Posture.Certificates) != 1 {
			t.Fatalf("%s: held %+v, want one", tc.name, ep.Posture.Certificates)
		}
		st := ep.Posture.Certificates[0].OCSP
		if !st.Stapled || st.Status != tc.status || st.RevokedAt.IsZero() == tc.revoked {
			t.Errorf("%s: staple %+v, want stapled, %s, revocation time given: %v", tc.name, st, tc.status, tc.revoked)
		}
	}
}

// A held certificate in trouble that the probe's handshake did not get
// counts in the certificates check, with a word on why it matters; one
// that is fine gets no such word.
func TestHeldCertificatesWarnOnlyWhenOneIsInTrouble(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	chain := pki.issue(t, forName(mailName)).Certs
	expiredSpec := forName(mailName)
	expiredSpec.NotBefore, expiredSpec.NotAfter = time.Now().AddDate(0, -4, 0), time.Now().AddDate(0, 0, -31)
	expired := pki.issue(t, expiredSpec).Certs
	const why = "senders whose offer selects that certificate get it, so it needs the same care as the one checked above"
	for _, tc := range []struct {
		name   string
		held   [][]*x509.Certificate
		status report.Status
	}{
		{"one good certificate", [][]*x509.Certificate{chain}, report.OK},
		{"an expired one beside it", [][]*x509.Certificate{chain, expired}, report.Critical},
	} {
		scan := versionsScan(chain, map[uint16]probe.Outcome{tls.VersionTLS10: probe.Refused, tls.VersionTLS11: probe.Refused,
			tls.VersionTLS12: probe.Accepted, tls.VersionTLS13: probe.Accepted})
		scan.Chains = nil
		for _, c := range tc.held {
			scan.Chains = append(scan.Chains, probe.PresentedChain{Chain: c, Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256})
		}
		c := checkOf(t, judgeOne(t, scanResult(25, chain, scan), pki.expect()), report.CheckHeldCertificates)
		if c.Status != tc.status || strings.HasSuffix(c.Message, "; "+why) != (tc.status != report.OK) {
			t.Errorf("%s: %s %q, want %s, with %q only when not ok", tc.name, c.Status, c.Message, tc.status, why)
		}
	}
}
