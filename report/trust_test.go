package report_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
)

// TestFirstRootsSpareTheSystemPool: with --ca-file's roots given first
// (Expect.FirstRoots), a chain that verifies to them is judged without
// loading the system's pool (Expect.LoadRoots is never called), and a chain
// that does not is judged against the whole pool, with the verdict a
// judgement against the whole pool alone gives (issue 14: 25 ms of CPU per
// process).
func TestFirstRootsSpareTheSystemPool(t *testing.T) {
	private, err := probetest.NewRootCA("Private Root")
	if err != nil {
		t.Fatal(err)
	}
	public, err := probetest.NewRootCA("Public Root")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	chain := func(ca *probetest.CA) []*x509.Certificate {
		c, err := ca.Issue(probetest.Spec{CommonName: "mx.contoso.test", DNSNames: []string{"mx.contoso.test"}})
		if err != nil {
			t.Fatal(err)
		}
		return c.Certs
	}
	selfSigned, err := probetest.SelfSigned(probetest.Spec{CommonName: "mx.contoso.test", DNSNames: []string{"mx.contoso.test"}})
	if err != nil {
		t.Fatal(err)
	}
	// The whole pool: the "system's" roots with the private one.
	whole := public.Pool()
	whole.AddCert(private.Cert)
	result := func(c []*x509.Certificate) probe.Result {
		return probe.Result{Endpoint: probe.Endpoint{Target: "mx.contoso.test", Host: "mx.contoso.test", Port: 25}, Address: "127.0.0.1",
			Mode: probe.ModeSTARTTLS, STARTTLSOffered: true, Chain: c,
			TLS: &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true}}
	}
	trust := func(s report.Summary) report.Check {
		for _, c := range s.Endpoints[0].Checks {
			if c.ID == report.CheckTrust {
				return c
			}
		}
		t.Fatal("no trust check")
		return report.Check{}
	}
	for _, tc := range []struct {
		name      string
		chain     []*x509.Certificate
		wantLoads int
	}{
		{"issued by the --ca-file root", chain(private), 0},
		{"issued by a system root", chain(public), 1},
		{"self-signed", selfSigned.Certs, 1},
	} {
		loads := 0
		lazy := report.Expect{FirstRoots: private.Pool(), LoadRoots: func() *x509.CertPool { loads++; return whole }}
		got := trust(report.Judge([]probe.Result{result(tc.chain)}, lazy, now))
		want := trust(report.Judge([]probe.Result{result(tc.chain)}, report.Expect{Roots: whole}, now))
		if got != want {
			t.Errorf("%s: %+v, want %+v as against the whole pool", tc.name, got, want)
		}
		if loads != tc.wantLoads {
			t.Errorf("%s: the system's pool loaded %d times, want %d", tc.name, loads, tc.wantLoads)
		}
	}
}
