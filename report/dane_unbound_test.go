package report_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
	"github.com/starttls-probe/starttls-probe/report"
)

// TestDANEWithAValidatingResolver judges DANE with DNSSEC validated for
// real: a zone signed at test start, served on loopback, with Unbound in
// front of it holding the zone's key as its trust anchor. The probe reads
// Unbound's AD bit and SERVFAIL, as it would a real resolver's.
func TestDANEWithAValidatingResolver(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	type daneCase struct {
		name, host string
		tlsa       func(*probetest.Chain) string
		wantDNSSEC string
		wantMatch  string
		want       report.Status
		wantIn     string
	}
	cases := []daneCase{
		{name: "DANE-EE matching", host: "ee.test", tlsa: func(c *probetest.Chain) string { return "3 1 1 " + spkiSHA256(c, 0) },
			wantDNSSEC: report.DNSSECSecure, wantMatch: report.DANEMatched, want: report.OK, wantIn: "3 1 1 matches the leaf"},
		{name: "DANE-EE not matching", host: "ee-wrong.test", tlsa: func(c *probetest.Chain) string { return "3 1 1 " + spkiSHA256(c, 1) },
			wantDNSSEC: report.DNSSECSecure, wantMatch: report.DANENoMatch, want: report.Critical, wantIn: "tlsa-invalid"},
		{name: "DANE-TA matching", host: "ta.test", tlsa: func(c *probetest.Chain) string { return "2 0 1 " + certSHA256(c, 1) },
			wantDNSSEC: report.DNSSECSecure, wantMatch: report.DANEMatched, want: report.OK, wantIn: "certificate 2 of the chain"},
		{name: "DANE-TA not matching", host: "ta-wrong.test", tlsa: func(c *probetest.Chain) string { return "2 0 1 " + certSHA256(c, 0) },
			wantDNSSEC: report.DNSSECSecure, wantMatch: report.DANENoMatch, want: report.Critical, wantIn: "will not deliver"},
		{name: "bogus signature", host: "bogus.test", tlsa: func(c *probetest.Chain) string { return "3 1 1 " + spkiSHA256(c, 0) },
			wantDNSSEC: report.DNSSECBogus, want: report.Critical, wantIn: "dnssec-invalid"},
		{name: "TLSA in an insecure zone", host: "mx.insecure.test", tlsa: func(c *probetest.Chain) string { return "3 1 1 " + spkiSHA256(c, 1) },
			wantDNSSEC: report.DNSSECInsecure, want: report.OK, wantIn: "senders ignore them"},
	}
	chains := map[string]*probetest.Chain{}
	cfg := dnstest.SignedZoneConfig{Apex: "test.", Unsigned: map[string][]string{}}
	for _, tc := range cases {
		chain := pki.issue(t, forName(tc.host))
		chains[tc.host] = chain
		record := "_25._tcp." + tc.host + ". 300 IN TLSA " + tc.tlsa(chain)
		if strings.HasSuffix(tc.host, ".insecure.test") {
			cfg.Unsigned["insecure.test."] = append(cfg.Unsigned["insecure.test."], record)
			continue
		}
		cfg.Records = append(cfg.Records, record, tc.host+". 300 IN A 127.0.0.1")
		if tc.wantDNSSEC == report.DNSSECBogus {
			cfg.Bogus = append(cfg.Bogus, "_25._tcp."+tc.host+".")
		}
	}
	zones := dnstest.NewSignedZones(t, cfg)
	resolver := dnstest.StartUnbound(t, zones.Addr(), zones.Anchor)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := probetest.NewServer(t, probetest.Config{Chain: chains[tc.host], Domain: tc.host})
			ep := srv.Endpoint(tc.host, 25)
			ep.Domain = "test"
			opts := probe.Options{ResolverAddr: resolver, Resolver: probe.NewResolver(resolver), Timeout: 10 * time.Second, NoTLSRequiredTest: true}
			expect := pki.expect()
			expect.Policies = probe.ObservePolicies(context.Background(), []probe.Job{{Endpoint: ep}}, opts)
			sum := report.Judge([]probe.Result{probe.Probe(context.Background(), ep, opts)}, expect, time.Now())
			got := sum.Endpoints[0]
			if got.DANE == nil {
				t.Fatalf("no DANE verdict")
			}
			if got.DANE.DNSSEC != tc.wantDNSSEC || got.DANE.Match != tc.wantMatch {
				t.Errorf("DNSSEC %q, match %q; want %q, %q", got.DANE.DNSSEC, got.DANE.Match, tc.wantDNSSEC, tc.wantMatch)
			}
			for _, c := range got.Checks {
				if c.ID != report.CheckDANE {
					continue
				}
				if c.Status != tc.want || !strings.Contains(c.Message, tc.wantIn) {
					t.Errorf("dane: %v %q; want %v saying %q", c.Status, c.Message, tc.want, tc.wantIn)
				}
			}
			if !strings.Contains(got.DANE.Resolver, resolver.String()+" (--resolver)") {
				t.Errorf("resolver %q, want Unbound's %s named as vouching", got.DANE.Resolver, resolver)
			}
		})
	}
}
