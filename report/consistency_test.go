package report_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// poolNode is one address of a load-balanced name: its own certificate,
// STARTTLS on or off.
type poolNode struct {
	addr       string
	leafName   string // "" shares the pool's first certificate
	noSTARTTLS bool
	// expiresIn, with leafName, is the own certificate's time left;
	// zero is probetest's default.
	expiresIn time.Duration
}

// startPool serves each node on its own loopback address, all on one port,
// as the nodes behind one name do, and returns the endpoints Discover would
// make for them.
func startPool(t *testing.T, nodes []poolNode) []probe.Endpoint {
	t.Helper()
	ca, err := probetest.NewRootCA("Pool Test Root")
	if err != nil {
		t.Fatal(err)
	}
	shared, err := ca.Issue(probetest.Spec{CommonName: "pool.test", DNSNames: []string{"pool.test"}})
	if err != nil {
		t.Fatal(err)
	}
	port := 0
	var eps []probe.Endpoint
	for _, n := range nodes {
		chain := shared
		if n.leafName != "" {
			spec := probetest.Spec{CommonName: n.leafName, DNSNames: []string{"pool.test"}}
			if n.expiresIn != 0 {
				spec.NotAfter = time.Now().Add(n.expiresIn)
			}
			if chain, err = ca.Issue(spec); err != nil {
				t.Fatal(err)
			}
		}
		l, err := net.Listen("tcp", net.JoinHostPort(n.addr, strconv.Itoa(port)))
		// Skip only where the address is not on this host (the whole
		// 127.0.0.0/8 is on Linux's lo, not on every system's); any other
		// error, such as the port being taken at this address, fails.
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("cannot listen on %s (needs the whole 127.0.0.0/8 on loopback, as Linux has): %v", n.addr, err)
		}
		if err != nil {
			t.Fatalf("listen on %s: %v", n.addr, err)
		}
		_, p, _ := net.SplitHostPort(l.Addr().String())
		port, _ = strconv.Atoi(p)
		srv := probetest.Serve(l, probetest.Config{Chain: chain, NoSTARTTLS: n.noSTARTTLS})
		t.Cleanup(func() { srv.Close() })
		eps = append(eps, probe.Endpoint{Target: "pool.test", Host: "pool.test", Port: port, AsPort: 25, Address: n.addr})
	}
	return eps
}

func consistencyChecks(ep report.Endpoint) []report.Check {
	var out []report.Check
	for _, c := range ep.Checks {
		if c.ID == report.CheckConsistency {
			out = append(out, c)
		}
	}
	return out
}

func TestConsistency(t *testing.T) {
	cases := []struct {
		name     string
		nodes    []poolNode
		wantWarn bool
		// wantDiffer is what the warning says differs, the whole of it.
		wantDiffer string
		// wantMarked are the table rows (by address) marked as differing.
		wantMarked []string
	}{
		{
			name:  "same certificate everywhere",
			nodes: []poolNode{{addr: "127.0.0.1"}, {addr: "127.0.0.2"}},
		},
		{
			name:       "one node not renewed",
			nodes:      []poolNode{{addr: "127.0.0.1"}, {addr: "127.0.0.2", leafName: "stale node"}, {addr: "127.0.0.3"}},
			wantWarn:   true,
			wantDiffer: "127.0.0.2 presents another leaf certificate than the other addresses",
			wantMarked: []string{"127.0.0.2"},
		},
		{
			// Two addresses, two certificates: no majority, so the one
			// that expires first is the one not renewed, whatever the
			// order.
			name: "two nodes, the second renewed",
			nodes: []poolNode{{addr: "127.0.0.1", leafName: "old", expiresIn: 10 * 24 * time.Hour},
				{addr: "127.0.0.2", leafName: "renewed", expiresIn: 300 * 24 * time.Hour}},
			wantWarn:   true,
			wantDiffer: "127.0.0.1 presents another leaf certificate than the other addresses",
			wantMarked: []string{"127.0.0.1"},
		},
		{
			name: "two nodes, the first renewed",
			nodes: []poolNode{{addr: "127.0.0.1", leafName: "renewed", expiresIn: 300 * 24 * time.Hour},
				{addr: "127.0.0.2", leafName: "old", expiresIn: 10 * 24 * time.Hour}},
			wantWarn:   true,
			wantDiffer: "127.0.0.2 presents another leaf certificate than the other addresses",
			wantMarked: []string{"127.0.0.2"},
		},
		{
			name:       "two nodes, the first without STARTTLS",
			nodes:      []poolNode{{addr: "127.0.0.1", noSTARTTLS: true}, {addr: "127.0.0.2"}},
			wantWarn:   true,
			wantDiffer: "STARTTLS is not offered on 127.0.0.1 alone",
			wantMarked: []string{"127.0.0.1"},
		},
		{
			name:       "one node without STARTTLS",
			nodes:      []poolNode{{addr: "127.0.0.1"}, {addr: "127.0.0.2"}, {addr: "127.0.0.3", noSTARTTLS: true}},
			wantWarn:   true,
			wantDiffer: "STARTTLS is not offered on 127.0.0.3 alone",
			wantMarked: []string{"127.0.0.3"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var jobs []probe.Job
			for _, ep := range startPool(t, tc.nodes) {
				jobs = append(jobs, probe.Job{Endpoint: ep})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			results := probe.Run(ctx, jobs, probe.Options{EHLOName: "probe.test", Timeout: 10 * time.Second}, nil)
			for _, r := range results {
				if r.Error != nil {
					t.Fatalf("probe of %s failed: %v", r.Address, r.Error)
				}
			}
			s := report.Judge(results, report.Expect{Name: "pool.test"}, time.Now())
			for _, ep := range s.Endpoints {
				checks := consistencyChecks(ep)
				if !tc.wantWarn {
					if len(checks) != 0 {
						t.Errorf("%s: unexpected consistency check %+v", ep.Result.Address, checks)
					}
					continue
				}
				// The whole message, not a phrase of it: another address
				// named as well, or a STARTTLS difference that is not there,
				// must fail.
				want := fmt.Sprintf("the %d addresses of pool.test port %d differ: %s (see the consistency table)", len(tc.nodes), results[0].Endpoint.Port, tc.wantDiffer)
				if len(checks) != 1 || checks[0].Status != report.Warning || checks[0].Message != want {
					t.Errorf("%s: consistency checks = %+v, want one warning %q", ep.Result.Address, checks, want)
				}
				if report.Worse(ep.Status, report.Warning) != ep.Status {
					t.Errorf("%s: status %s is better than the consistency warning", ep.Result.Address, ep.Status)
				}
			}

			// The groups hold the table every output draws: the same
			// addresses marked as in the check's message.
			var groups []report.AddressGroup
			for _, g := range s.Consistency {
				if g.Host == "pool.test" {
					groups = append(groups, g)
				}
			}
			if len(groups) != 1 || groups[0].Differs != tc.wantWarn {
				t.Fatalf("consistency groups = %+v, want one for pool.test, differing: %v", s.Consistency, tc.wantWarn)
			}
			for _, m := range groups[0].Members {
				marked := m.CertificateDiffers || m.STARTTLSDiffers
				if want := slices.Contains(tc.wantMarked, m.Address); marked != want {
					t.Errorf("%s: marked as differing = %v, want %v", m.Address, marked, want)
				}
			}
		})
	}
}

// Names that are IP literals, or one address per name, are not groups.
func TestConsistencyNeedsSeveralAddressesOfOneName(t *testing.T) {
	t.Parallel()
	mk := func(host, addr string) probe.Result {
		r := probe.Result{Endpoint: probe.Endpoint{Host: host, Port: 25}, Address: addr, Mode: probe.ModeSTARTTLS,
			Banner: &probe.Reply{Code: 220, Lines: []string{"mx.test"}}, EHLO: &probe.Reply{Code: 250, Lines: []string{"mx.test"}}}
		if host == "a.test" {
			// Offered but refused: STARTTLS differs from b.test's.
			r.STARTTLSOffered = true
			r.STARTTLSReply = &probe.Reply{Code: 454, Lines: []string{"4.7.0 TLS not available"}}
		}
		return r
	}
	s := report.Judge([]probe.Result{mk("a.test", "127.0.0.1"), mk("b.test", "127.0.0.2"), mk("127.0.0.3", "127.0.0.3")}, report.Expect{}, time.Now())
	for _, ep := range s.Endpoints {
		if c := consistencyChecks(ep); len(c) != 0 {
			t.Errorf("%s: unexpected consistency check %+v", ep.Result.Endpoint.Host, c)
		}
	}
}

// Two addresses of one name on port 25: .10 presents the CA-issued
// certificate, .11 a self-signed one that expires later. The consistency
// check and the certificate-differs diagnosis used to blame different
// addresses (the later expiry against the CA-issued one); one rule now
// names .11 in both, and the summary's group marks it alone.
func TestConsistencyAndDiagnosisBlameTheSameAddress(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	caIssued := reporttest.Frontend(p.Good) // valid 2030 to 2031
	caIssued.Address = "127.0.0.10"
	selfSigned := reporttest.Frontend(p.Default) // self-signed, valid to 2032
	selfSigned.Address = "127.0.0.11"
	s := report.Judge([]probe.Result{caIssued.Result(t), selfSigned.Result(t)},
		report.Expect{Name: reporttest.DiagName, Roots: p.Roots()}, reporttest.DiagNow)

	if len(s.Consistency) != 1 {
		t.Fatalf("consistency groups = %+v, want one", s.Consistency)
	}
	for _, m := range s.Consistency[0].Members {
		if want := m.Address == "127.0.0.11"; m.CertificateDiffers != want {
			t.Errorf("group: %s marked as differing = %v, want %v", m.Address, m.CertificateDiffers, want)
		}
	}
	for _, ep := range s.Endpoints {
		checks := consistencyChecks(ep)
		if len(checks) != 1 || !strings.Contains(checks[0].Message, "127.0.0.11 presents another leaf certificate") ||
			strings.Contains(checks[0].Message, "127.0.0.10 present") {
			t.Errorf("%s: consistency checks %+v do not blame 127.0.0.11 alone", ep.Result.Address, checks)
		}
		var differs *report.Diagnosis
		for i := range ep.Diagnoses {
			if ep.Diagnoses[i].ID == report.DiagCertificateDiffers {
				differs = &ep.Diagnoses[i]
			}
		}
		if (differs != nil) != (ep.Result.Address == "127.0.0.11") {
			t.Errorf("%s: certificate-differs diagnosed = %v, want it on 127.0.0.11 alone", ep.Result.Address, differs != nil)
			continue
		}
		if differs == nil {
			continue
		}
		for _, row := range differs.Compare {
			for _, place := range row.Places {
				if want := place.Address == "127.0.0.11"; row.Differs != want {
					t.Errorf("certificate-differs row %s (presented on %s): differs = %v, want %v", row.SHA1, place.Address, row.Differs, want)
				}
			}
		}
	}
}
