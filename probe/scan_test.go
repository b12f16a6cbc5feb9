package probe_test

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// twoKeyChains issues an ECDSA and an RSA leaf for mail.contoso.test from
// one CA; expiredECDSA makes the ECDSA one expired a month ago, the classic
// miss of a server whose RSA certificate alone was renewed.
func twoKeyChains(t *testing.T, expiredECDSA bool) (ecdsaChain, rsaChain *probetest.Chain, ca *probetest.CA) {
	t.Helper()
	root, err := probetest.NewRootCA("Scan Test Root")
	if err != nil {
		t.Fatal(err)
	}
	ca, err = root.NewIntermediate("Scan Test Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	spec := probetest.Spec{CommonName: mailName, DNSNames: []string{mailName}}
	if expiredECDSA {
		spec.NotBefore, spec.NotAfter = time.Now().AddDate(0, -4, 0), time.Now().AddDate(0, -1, 0)
	}
	if ecdsaChain, err = ca.Issue(spec); err != nil {
		t.Fatal(err)
	}
	if rsaChain, err = ca.Issue(probetest.Spec{CommonName: mailName, DNSNames: []string{mailName}, RSABits: 2048}); err != nil {
		t.Fatal(err)
	}
	return ecdsaChain, rsaChain, ca
}

func probeAndScan(t *testing.T, s *probetest.Server, implicit bool) (probe.Result, *probe.Scan) {
	t.Helper()
	ep := endpointOf(s)
	ep.Implicit = implicit
	opts := options()
	opts.NoTLSRequiredTest = true
	res := probe.Probe(context.Background(), ep, opts)
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}
	scan := probe.ScanTLS(context.Background(), &res, opts)
	if scan == nil {
		t.Fatal("no scan of an endpoint that completed a handshake")
	}
	if scan.Error != nil {
		t.Fatalf("scan stopped: %v", scan.Error)
	}
	// The bound the issue sets: versions + suites accepted below TLS 1.3
	// + groups + 2; the scan needs 1 of the 2, for the handshake without
	// SNI.
	bound := len(probe.ScanVersions()) + len(probe.ScanGroups()) + 1
	for _, v := range scan.Versions {
		if v.Version != tls.VersionTLS13 {
			bound += len(v.Suites)
		}
	}
	if scan.Handshakes > bound {
		t.Errorf("%d handshakes, more than the bound %d", scan.Handshakes, bound)
	}
	return res, scan
}

func outcomes(scan *probe.Scan) map[uint16]probe.Outcome {
	m := map[uint16]probe.Outcome{}
	for _, v := range scan.Versions {
		m[v.Version] = v.Outcome
	}
	return m
}

func versionScan(t *testing.T, scan *probe.Scan, v uint16) probe.VersionScan {
	t.Helper()
	for _, vs := range scan.Versions {
		if vs.Version == v {
			return vs
		}
	}
	t.Fatalf("no outcome for %s", tls.VersionName(v))
	return probe.VersionScan{}
}

// An old server: TLS 1.0 to 1.2, a CBC suite, 3DES and RSA key exchange,
// P-384 alone. The scan finds every suite at each version, in the server's
// order, and the one group; TLS 1.3 and the other groups are refused.
func TestScanFindsVersionsSuitesAndGroups(t *testing.T) {
	t.Parallel()
	_, rsaChain, _ := twoKeyChains(t, false)
	suites := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
	s := probetest.NewServer(t, probetest.Config{Chain: rsaChain, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12,
		ConfigureTLS: func(c *tls.Config) {
			c.CipherSuites = suites
			c.CurvePreferences = []tls.CurveID{tls.CurveP384}
		}})
	_, scan := probeAndScan(t, s, false)

	want := map[uint16]probe.Outcome{tls.VersionTLS10: probe.Accepted, tls.VersionTLS11: probe.Accepted,
		tls.VersionTLS12: probe.Accepted, tls.VersionTLS13: probe.Refused}
	if got := outcomes(scan); !mapsEqual(got, want) {
		t.Errorf("versions %v, want %v", got, want)
	}
	tls12 := versionScan(t, scan, tls.VersionTLS12)
	if !tls12.Complete || !sameSet(tls12.Suites, suites) {
		t.Errorf("TLS 1.2 suites %v (complete %v), want every one of %v", names(tls12.Suites), tls12.Complete, names(suites))
	}
	// GCM and SHA-384 suites do not exist before TLS 1.2.
	tls10 := versionScan(t, scan, tls.VersionTLS10)
	if !sameSet(tls10.Suites, suites[:2]) {
		t.Errorf("TLS 1.0 suites %v, want %v", names(tls10.Suites), names(suites[:2]))
	}
	// A crypto/tls server picks by the same preference order a crypto/tls
	// client offers in: every choice follows the client's order, which is
	// what the scan can say (Postfix with tls_preempt_cipherlist shows
	// server order, scripts/interop).
	if scan.Order != probe.ClientOrder || scan.OrderVersion != tls.VersionTLS12 {
		t.Errorf("order %q on %s, want client on TLS 1.2", scan.Order, tls.VersionName(scan.OrderVersion))
	}
	for _, g := range scan.Groups {
		want := probe.Refused
		if g.Group == tls.CurveP384 {
			want = probe.Accepted
		}
		if g.Outcome != want {
			t.Errorf("group %v: %s (%v), want %s", g.Group, g.Outcome, g.Err, want)
		}
	}
	if len(scan.Chains) != 1 || !scan.Chains[0].Chain[0].Equal(rsaChain.Leaf()) {
		t.Errorf("%d chains presented, want the RSA one alone", len(scan.Chains))
	}
}

// TLS 1.3 alone: every older version is refused, and the suite reported is
// the one negotiated (Go cannot offer TLS 1.3 suites one by one).
func TestScanOfTLS13Only(t *testing.T) {
	t.Parallel()
	s := probetest.NewServer(t, probetest.Config{Chain: newChain(t), MinVersion: tls.VersionTLS13})
	_, scan := probeAndScan(t, s, false)
	want := map[uint16]probe.Outcome{tls.VersionTLS10: probe.Refused, tls.VersionTLS11: probe.Refused,
		tls.VersionTLS12: probe.Refused, tls.VersionTLS13: probe.Accepted}
	if got := outcomes(scan); !mapsEqual(got, want) {
		t.Errorf("versions %v, want %v", got, want)
	}
	if v := versionScan(t, scan, tls.VersionTLS13); len(v.Suites) != 1 {
		t.Errorf("TLS 1.3 suites %v, want the one negotiated", names(v.Suites))
	}
	if scan.Order != "" {
		t.Errorf("order %q from no version with two suites", scan.Order)
	}
	accepted := map[tls.CurveID]bool{}
	for _, g := range scan.Groups {
		accepted[g.Group] = g.Outcome == probe.Accepted
	}
	// crypto/tls serves the hybrids and the curves by default.
	for _, g := range []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521} {
		if !accepted[g] {
			t.Errorf("group %v not accepted by a default crypto/tls server", g)
		}
	}
}

// An ECDSA and an RSA certificate on one server: the scan is presented
// both, the expired ECDSA one included, on implicit TLS too.
func TestScanFindsEveryCertificate(t *testing.T) {
	t.Parallel()
	for _, implicit := range []bool{false, true} {
		t.Run(map[bool]string{false: "STARTTLS", true: "implicit TLS"}[implicit], func(t *testing.T) {
			t.Parallel()
			ecdsaChain, rsaChain, _ := twoKeyChains(t, true)
			s := probetest.NewServer(t, probetest.Config{Chain: rsaChain, Implicit: implicit, MaxVersion: tls.VersionTLS12,
				ConfigureTLS: func(c *tls.Config) {
					// ECDSA first: crypto/tls serves the first certificate
					// the client's offer allows.
					c.Certificates = []tls.Certificate{ecdsaChain.TLSCertificate(), rsaChain.TLSCertificate()}
				}})
			res, scan := probeAndScan(t, s, implicit)
			if !res.Leaf().Equal(ecdsaChain.Leaf()) {
				t.Fatal("the probe's own handshake did not get the ECDSA certificate: the case tests nothing")
			}
			var leaves []string
			for _, c := range scan.Chains {
				leaves = append(leaves, c.Chain[0].PublicKeyAlgorithm.String())
			}
			slices.Sort(leaves)
			if !slices.Equal(leaves, []string{"ECDSA", "RSA"}) {
				t.Errorf("chains presented: %v, want an ECDSA and an RSA one", leaves)
			}
		})
	}
}

// The scan's connections say EHLO, STARTTLS and QUIT, nothing else, and
// each passes the probe's guard.
func TestScanSendsOnlyEHLOSTARTTLSAndQUIT(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	script := starttlsScript(chain)
	script.TLSConfig = &tls.Config{Certificates: []tls.Certificate{chain.TLSCertificate()}, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}
	s := probetest.NewScript(t, script)
	opts := options()
	opts.NoTLSRequiredTest = true
	// Even with an RCPT address in the options, the scan sends none.
	opts.RCPTAddress = "postmaster@contoso.test"
	res := probe.Probe(context.Background(), endpointOf(s), opts)
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}
	scan := probe.ScanTLS(context.Background(), &res, opts)
	s.Close()
	cmds := s.Commands()
	counts := map[string]int{}
	for _, cmd := range cmds {
		if err := probe.CheckCommand(cmd, ""); err != nil {
			t.Errorf("sent %q: %v", cmd, err)
		}
		counts[cmd]++
	}
	if len(counts) != 3 || counts["STARTTLS"] != scan.Handshakes+1 {
		t.Errorf("commands %v, want EHLO, STARTTLS (one per connection: %d) and QUIT only", counts, scan.Handshakes+1)
	}
}

// Every connection slot is given back, and a scan that runs out of time
// says so instead of calling what it did not reach refused.
func TestScanOutOfTimeIsNotTested(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	s := probetest.NewServer(t, probetest.Config{Chain: chain})
	opts := options()
	opts.NoTLSRequiredTest = true
	res := probe.Probe(context.Background(), endpointOf(s), opts)
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	scan := probe.ScanTLS(ctx, &res, opts)
	if scan.Error == nil {
		t.Error("an interrupted scan has no error")
	}
	for _, v := range scan.Versions {
		if v.Outcome != probe.NotTested {
			t.Errorf("%s: %s, want not tested", tls.VersionName(v.Version), v.Outcome)
		}
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameSet(a, b []uint16) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func names(ids []uint16) []string {
	var out []string
	for _, id := range ids {
		out = append(out, tls.CipherSuiteName(id))
	}
	return out
}
