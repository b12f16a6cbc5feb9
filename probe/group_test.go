package probe_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The key-exchange group is read from the one handshake every run makes:
// what the server picked among the groups crypto/tls offers.
func TestKeyExchangeGroupIsObserved(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		groups []tls.CurveID
		max    uint16
		want   tls.CurveID
	}{
		{name: "post-quantum hybrid, TLS 1.3", groups: []tls.CurveID{tls.X25519MLKEM768}, want: tls.X25519MLKEM768},
		{name: "P-384 only", groups: []tls.CurveID{tls.CurveP384}, want: tls.CurveP384},
		{name: "X25519 on TLS 1.2", groups: []tls.CurveID{tls.X25519}, max: tls.VersionTLS12, want: tls.X25519},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := probetest.NewServer(t, probetest.Config{Chain: newChain(t), MaxVersion: tc.max,
				ConfigureTLS: func(c *tls.Config) { c.CurvePreferences = tc.groups }})
			res := probe.Probe(context.Background(), endpointOf(s), options())
			if res.Error != nil {
				t.Fatalf("probe failed: %v", res.Error)
			}
			if res.TLS.CurveID != tc.want {
				t.Fatalf("CurveID = %v, want %v", res.TLS.CurveID, tc.want)
			}
		})
	}
}

// RSA key exchange has no group: nothing is made up.
func TestRSAKeyExchangeHasNoGroup(t *testing.T) {
	t.Parallel()
	chain, err := probetest.SelfSigned(probetest.Spec{CommonName: mailName, DNSNames: []string{mailName}, RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	s := probetest.NewServer(t, probetest.Config{Chain: chain, MaxVersion: tls.VersionTLS12,
		ConfigureTLS: func(c *tls.Config) { c.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256} }})
	res := probe.Probe(context.Background(), endpointOf(s), options())
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}
	if res.TLS.CipherSuite != tls.TLS_RSA_WITH_AES_128_GCM_SHA256 || res.TLS.CurveID != 0 {
		t.Fatalf("TLS = %+v, want RSA key exchange and no group", res.TLS)
	}
}
