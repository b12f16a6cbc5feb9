package report

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// The leaf's SPKI SHA-256 is what a DANE "3 1 1" record holds. The value is
// openssl's, for the fixture:
//
//	openssl x509 -in report/reporttest/testdata/certs/good.pem -pubkey -noout |
//	  openssl pkey -pubin -outform DER | sha256sum
func TestSPKISHA256IsWhatDANE311Holds(t *testing.T) {
	const fromOpenSSL = "F98B6D1F50AFCABF44849C2ABA120B21DF2CF9951B73B348A031B18747671BD0"
	chain := reporttest.Chain(t, "good")
	s := Judge([]probe.Result{{Endpoint: probe.Endpoint{Host: "mail.contoso.test", Port: 25}, Chain: chain,
		TLS: &probe.TLSState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, HandshakeComplete: true, CurveID: tls.X25519MLKEM768}}},
		Expect{Roots: reporttest.Roots(t)}, time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC))
	ep := s.Endpoints[0]
	if got := ep.Leaf().SPKISHA256; got != fromOpenSSL {
		t.Errorf("SPKISHA256 = %s, want %s", got, fromOpenSSL)
	}
	if ep.Leaf().SPKISHA256 == ep.Leaf().SHA256 {
		t.Error("the SPKI hash equals the certificate's: it hashed the whole certificate")
	}
	if ep.TLS.KeyExchange != "X25519MLKEM768" {
		t.Errorf("KeyExchange = %q, want X25519MLKEM768 (openssl's Server Temp Key)", ep.TLS.KeyExchange)
	}
}

func TestGroupNames(t *testing.T) {
	for id, want := range map[tls.CurveID]string{0: "", tls.X25519: "X25519", tls.CurveP256: "P-256", tls.CurveP384: "P-384",
		tls.CurveP521: "P-521", tls.X25519MLKEM768: "X25519MLKEM768"} {
		if got := GroupName(id); got != want {
			t.Errorf("GroupName(%d) = %q, want %q", id, got, want)
		}
	}
}

// The judgement names a suite as crypto/tls does, for every identifier:
// the map is only a faster way to the same name.
func TestCipherSuiteNameIsCryptoTLSs(t *testing.T) {
	for id := range 1 << 16 {
		if got, want := cipherSuiteName(uint16(id)), tls.CipherSuiteName(uint16(id)); got != want {
			t.Fatalf("suite 0x%04X: %q, crypto/tls says %q", id, got, want)
		}
	}
}
