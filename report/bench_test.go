package report

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// BenchmarkJudgeOneName judges a batch of n nodes given one --name, as an
// admin checks every node of a load-balanced namespace: one host group of
// n members, one of which presents another certificate, so that the
// certificate comparison runs for every member. Its time per endpoint
// must stay flat as n grows (it was quadratic: every member's certificate
// hashed for every member). With Expect.Cache, as main sets it, the
// one chain is verified once, not n times.
func BenchmarkJudgeOneName(b *testing.B) {
	good, wrong := reporttest.Chain(b, "good"), reporttest.Chain(b, "wrongname")
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	banner := &probe.Reply{Code: 220, Lines: []string{"mail.contoso.test Microsoft ESMTP MAIL Service ready"}}
	ehlo := &probe.Reply{Code: 250, Lines: []string{"mail.contoso.test Hello", "STARTTLS", "X-ANONYMOUSTLS", "SIZE 37748736"}}
	startTLS := &probe.Reply{Code: 220, Lines: []string{"2.0.0 SMTP server ready"}}
	for _, n := range []int{100, 1000} {
		results := make([]probe.Result, n)
		for i := range results {
			chain := good
			if i == n/2 {
				chain = wrong
			}
			results[i] = probe.Result{
				Endpoint: probe.Endpoint{Host: fmt.Sprintf("192.0.2.%d", 1+i%250), Port: 25 + i/250},
				Address:  fmt.Sprintf("192.0.2.%d", 1+i%250),
				Mode:     probe.ModeSTARTTLS, Banner: banner, EHLO: ehlo, STARTTLSOffered: true, STARTTLSReply: startTLS,
				EHLOAfterTLS: ehlo, Chain: chain,
				TLS: &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
			}
		}
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			expect := Expect{Name: "mail.contoso.test", Roots: reporttest.Roots(b), Cache: NewCache()}
			for b.Loop() {
				s := Judge(results, expect, now)
				if len(s.Endpoints[n/2].Diagnoses) == 0 {
					b.Fatal("the node with another certificate was not diagnosed")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/endpoint")
		})
	}
}

// BenchmarkStreamFleet judges a batch as `-f targets -o jsonl` does
// (report.Stream, one group per address, no --name): n endpoints, three ports
// per address, each presenting a leaf of its own under one CA, as
// scripts/bench's "fleet" does. The cache cannot share a verification across
// endpoints, so this is the judgement's cost per distinct certificate, which
// the bench found well above the ceiling client's verification alone.
func BenchmarkStreamFleet(b *testing.B) {
	root, err := probetest.NewRootCA("Bench Root")
	if err != nil {
		b.Fatal(err)
	}
	const n = 600
	now := time.Now()
	banner := &probe.Reply{Code: 220, Lines: []string{"mx ESMTP Service Ready"}}
	ehlo := &probe.Reply{Code: 250, Lines: []string{"Hello bench.test", "PIPELINING", "8BITMIME", "STARTTLS"}}
	startTLS := &probe.Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}}
	results := make([]probe.Result, n)
	for i := range results {
		addr := fmt.Sprintf("127.20.%d.%d", i/3/250, 1+i/3%250)
		chain, err := root.Issue(probetest.Spec{CommonName: "bench.test", DNSNames: []string{"bench.test"}, IPs: []net.IP{net.ParseIP(addr)}})
		if err != nil {
			b.Fatal(err)
		}
		results[i] = probe.Result{
			Endpoint: probe.Endpoint{Target: addr, Host: addr, Port: 2500 + i%3},
			Address:  addr, Mode: probe.ModeSTARTTLS, Banner: banner, EHLO: ehlo, STARTTLSOffered: true, STARTTLSReply: startTLS,
			EHLOAfterTLS: ehlo, Chain: chain.Certs,
			TLS: &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
		}
	}
	roots := root.Pool()
	for b.Loop() {
		lines := 0
		s := NewStream(Expect{Roots: roots, WarnDays: DefaultWarnDays, CritDays: DefaultCritDays}, now, func(Summary) error { lines++; return nil })
		for _, r := range results {
			s.Expect(r.Endpoint)
		}
		for _, r := range results {
			if err := s.Add(r); err != nil {
				b.Fatal(err)
			}
		}
		if t, err := s.Close(); err != nil || t.Endpoints != n {
			b.Fatalf("%+v, %v", t, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/endpoint")
}
