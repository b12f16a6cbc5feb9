package report_test

import (
	"context"
	"crypto/tls"
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
