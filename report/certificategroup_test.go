package report

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// oneNameOverCertificates is n endpoints given one --name, at n addresses,
// presenting certs round-robin: a pool whose nodes were renewed at
// different times.
func oneNameOverCertificates(tb testing.TB, n int, certs [][]*x509.Certificate) []probe.Result {
	banner := &probe.Reply{Code: 220, Lines: []string{"mail.contoso.test ESMTP"}}
	ehlo := &probe.Reply{Code: 250, Lines: []string{"mail.contoso.test", "STARTTLS"}}
	results := make([]probe.Result, n)
	for i := range results {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		results[i] = probe.Result{
			Endpoint: probe.Endpoint{Host: addr, Port: 25}, Address: addr,
			Mode: probe.ModeSTARTTLS, Banner: banner, EHLO: ehlo, STARTTLSOffered: true,
			STARTTLSReply: &probe.Reply{Code: 220}, EHLOAfterTLS: ehlo, Chain: certs[i%len(certs)],
			TLS: &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
		}
	}
	return results
}

// tenRenewals are ten certificates for the name, each valid a month longer
// than the one before: the last is the renewal the others should present.
func tenRenewals(tb testing.TB, p reporttest.DiagPKI) [][]*x509.Certificate {
	var certs [][]*x509.Certificate
	for i := range 10 {
		leaf := reporttest.MakeCert(tb, reporttest.CertSpec{Seed: fmt.Sprintf("renewal-%d", i), Subject: pkix.Name{CommonName: reporttest.DiagName},
			DNSNames: []string{reporttest.DiagName}, From: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
			To: time.Date(2031, 1+time.Month(i), 1, 0, 0, 0, 0, time.UTC)}, p.Issuing, "issuing")
		certs = append(certs, []*x509.Certificate{leaf, p.Issuing})
	}
	return certs
}

// TestCertificateDiffersIsOneRowPerCertificate: 1,000 endpoints of one
// name over ten certificates compare as ten rows, each with its count and
// a few example addresses, not as 1,000 rows in each of 900 diagnoses
// (which reached 19 GB at 20,000 endpoints, issue 14).
func TestCertificateDiffersIsOneRowPerCertificate(t *testing.T) {
	p := reporttest.NewDiagPKI(t)
	certs := tenRenewals(t, p)
	const n = 1000
	s := Judge(oneNameOverCertificates(t, n, certs), Expect{Name: reporttest.DiagName, Roots: p.Roots(), Cache: NewCache()}, reporttest.DiagNow)

	if len(s.CertificateGroups) != 1 {
		t.Fatalf("certificate groups = %d, want 1 (one name)", len(s.CertificateGroups))
	}
	g := s.CertificateGroups[0]
	newest := reporttest.SHA1(certs[9][0])
	if g.Name != reporttest.DiagName || g.ReferenceSHA1 != newest || len(g.Rows) != 10 {
		t.Fatalf("group %s: reference %s (want the newest, %s), %d rows (want 10)", g.Name, g.ReferenceSHA1, newest, len(g.Rows))
	}
	// The reference first, then the others by how many present them, then
	// by thumbprint: an order of the rows' own, so that a merge of shards,
	// which reads the endpoints in another order, names the same.
	if g.Rows[0].SHA1 != newest || g.Rows[0].Differs {
		t.Errorf("first row %s (differs %v), want the reference %s", g.Rows[0].SHA1, g.Rows[0].Differs, newest)
	}
	for i := 2; i < len(g.Rows); i++ {
		if g.Rows[i-1].SHA1 > g.Rows[i].SHA1 {
			t.Errorf("rows %d and %d out of thumbprint order: %s, %s", i-1, i, g.Rows[i-1].SHA1, g.Rows[i].SHA1)
		}
	}
	bySHA1 := map[string]CertificateRow{}
	total := 0
	for _, row := range g.Rows {
		bySHA1[row.SHA1] = row
		total += row.Count
		if row.Differs != (row.SHA1 != newest) {
			t.Errorf("row %s: differs = %v", row.SHA1, row.Differs)
		}
	}
	for i := range certs {
		row, ok := bySHA1[reporttest.SHA1(certs[i][0])]
		if !ok || row.Count != n/10 || len(row.Places) != MaxPlaces {
			t.Errorf("certificate %d: row %+v, want %d endpoints with %d places", i, row, n/10, MaxPlaces)
			continue
		}
		// Places are the lowest addresses that present it.
		if want := fmt.Sprintf("10.0.0.%d", i); row.Places[0].Address != want {
			t.Errorf("certificate %d: first place %s, want %s", i, row.Places[0].Address, want)
		}
	}
	if total != n {
		t.Errorf("rows count %d endpoints, want %d", total, n)
	}
	differing := 0
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		var d *Diagnosis
		for j := range ep.Diagnoses {
			if ep.Diagnoses[j].ID == DiagCertificateDiffers {
				d = &ep.Diagnoses[j]
			}
		}
		if (d != nil) != (i%10 != 9) {
			t.Fatalf("endpoint %d: certificate-differs = %v", i, d != nil)
		}
		if d == nil {
			continue
		}
		differing++
		// The cause names a few endpoints with the renewal and how many
		// more, never all 100 of them.
		want := fmt.Sprintf("than 10.0.0.9 port 25, 10.0.0.19 port 25, 10.0.0.29 port 25, 10.0.0.39 port 25, 10.0.0.49 port 25 and %d more (", n/10-MaxPlaces)
		if !strings.Contains(d.Cause, want) || len(d.Cause) > 500 {
			t.Fatalf("endpoint %d: cause (%d bytes) = %q, want it to contain %q", i, len(d.Cause), d.Cause, want)
		}
		if len(d.Compare) != 10 {
			t.Fatalf("endpoint %d: %d compare rows, want 10", i, len(d.Compare))
		}
	}
	if differing != n-n/10 {
		t.Errorf("%d endpoints diagnosed, want %d", differing, n-n/10)
	}
}

// BenchmarkJudgeOneNameTenCertificates is the case that was quadratic:
// its time and memory per endpoint must stay flat as n grows.
func BenchmarkJudgeOneNameTenCertificates(b *testing.B) {
	p := reporttest.NewDiagPKI(b)
	certs := tenRenewals(b, p)
	for _, n := range []int{1000, 20000} {
		results := oneNameOverCertificates(b, n, certs)
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			expect := Expect{Name: reporttest.DiagName, Roots: p.Roots(), Cache: NewCache()}
			for b.Loop() {
				if s := Judge(results, expect, reporttest.DiagNow); len(s.CertificateGroups) != 1 {
					b.Fatal("no certificate group")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/endpoint")
		})
	}
}

// TestCertificateTableIgnoresReportOrder: the rows, their places and the
// causes name the same endpoints whatever order the results come in, as a
// merge of shards reads them in another order than the run that probed
// them all.
func TestCertificateTableIgnoresReportOrder(t *testing.T) {
	p := reporttest.NewDiagPKI(t)
	results := oneNameOverCertificates(t, 60, tenRenewals(t, p))
	expect := Expect{Name: reporttest.DiagName, Roots: p.Roots()}
	diagnoses := func(rs []probe.Result) map[string]string {
		out := map[string]string{}
		for _, ep := range Judge(rs, expect, reporttest.DiagNow).Endpoints {
			for _, d := range ep.Diagnoses {
				out[ep.Result.Address] += fmt.Sprintf("%s %+v\n", d.Cause, d.Compare)
			}
		}
		return out
	}
	want := diagnoses(results)
	reversed := slices.Clone(results)
	slices.Reverse(reversed)
	got := diagnoses(reversed)
	if len(want) != 54 {
		t.Fatalf("%d endpoints diagnosed, want 54", len(want))
	}
	for addr, w := range want {
		if got[addr] != w {
			t.Errorf("%s in reverse order:\n got %s\nwant %s", addr, got[addr], w)
		}
	}
}
