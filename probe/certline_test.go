package probe_test

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// handshakeRecord is the record of a STARTTLS handshake that presented
// chain.
func handshakeRecord(i int, chain []*x509.Certificate) probe.Record {
	host := fmt.Sprintf("127.0.0.%d", i%250+1)
	r := probe.Result{Endpoint: probe.Endpoint{Target: host, Host: host, Port: 25, Address: host}, Address: host, Mode: probe.ModeSTARTTLS,
		TLS: &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true}, Chain: chain}
	return probe.NewRecord(&r)
}

// issuingCA is an intermediate under a new root, and n leaves it issued.
func issuingCA(t *testing.T, n int) [][]*x509.Certificate {
	t.Helper()
	root, err := probetest.NewRootCA("Certificate Line Root")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := root.NewIntermediate("Certificate Line Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	chains := make([][]*x509.Certificate, n)
	for i := range chains {
		c, err := issuing.Issue(probetest.Spec{CommonName: fmt.Sprintf("mx%d.test", i), DNSNames: []string{fmt.Sprintf("mx%d.test", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Certs) != 2 {
			t.Fatalf("issued a chain of %d certificates, want the leaf and its intermediate", len(c.Certs))
		}
		chains[i] = c.Certs
	}
	return chains
}

// TestCertificatesAreGivenOncePerFile: a pool's chain, presented by every
// node, and an intermediate, sent by every host under it, are each given
// once, and read back as one parsed certificate that every record shares.
func TestCertificatesAreGivenOncePerFile(t *testing.T) {
	t.Parallel()
	chains := issuingCA(t, 2)
	pool, other := chains[0], chains[1]
	var index probe.CertificateIndex
	var certs probe.CertificateTable
	var given []string
	var back []probe.Result
	for i, chain := range [][]*x509.Certificate{pool, pool, other, pool, other} {
		rec := handshakeRecord(i, chain)
		rec.ReferCertificates(&index, func(c probe.CertificateRecord) {
			given = append(given, c.SHA256)
			if err := certs.Add(c); err != nil {
				t.Fatal(err)
			}
		})
		if rec.Chain != nil || len(rec.ChainSHA256) != 2 || rec.ChainSHA256[0] != sha256Hex(chain[0].Raw) {
			t.Fatalf("record %d: chain %d DER, references %q; want the chain's 2 SHA-256 only", i, len(rec.Chain), rec.ChainSHA256)
		}
		r, err := rec.ResultSharing(&certs)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		for k := range chain {
			if !r.Chain[k].Equal(chain[k]) {
				t.Errorf("record %d: certificate %d read back is another", i, k)
			}
		}
		back = append(back, r)
	}
	want := []string{sha256Hex(pool[0].Raw), sha256Hex(pool[1].Raw), sha256Hex(other[0].Raw)}
	if strings.Join(given, " ") != strings.Join(want, " ") {
		t.Errorf("given %q, want the pool's leaf, the intermediate, the other leaf: %q", given, want)
	}
	if back[0].Chain[0] != back[3].Chain[0] || back[0].Chain[1] != back[2].Chain[1] {
		t.Error("records naming one certificate read back copies of it, not the one parsed")
	}
}

// TestCertificateWindowIsBounded: past CertificateWindow certificates, a
// writer gives again the one it forgot, a reader holds no more than the
// window, and each still reads what the other wrote: a million distinct
// leaves stay flat on both sides.
func TestCertificateWindowIsBounded(t *testing.T) {
	t.Parallel()
	n := probe.CertificateWindow + 10
	chains := issuingCA(t, n)
	var index probe.CertificateIndex
	var certs probe.CertificateTable
	var lines []probe.CertificateRecord
	intermediate := sha256Hex(chains[0][1].Raw)
	givenIntermediate := 0
	for i, chain := range chains {
		rec := handshakeRecord(i, chain)
		rec.ReferCertificates(&index, func(c probe.CertificateRecord) {
			lines = append(lines, c)
			if c.SHA256 == intermediate {
				givenIntermediate++
			}
			if err := certs.Add(c); err != nil {
				t.Fatal(err)
			}
		})
		r, err := rec.ResultSharing(&certs)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !r.Chain[0].Equal(chain[0]) || !r.Chain[1].Equal(chain[1]) {
			t.Fatalf("record %d read back another chain", i)
		}
	}
	// Each leaf once; the intermediate at first, and again once the
	// window had moved past it.
	if len(lines) != n+2 || givenIntermediate != 2 {
		t.Errorf("%d certificate lines, the intermediate %d times; want %d and 2", len(lines), givenIntermediate, n+2)
	}
	if certs.Held() != probe.CertificateWindow {
		t.Errorf("the reader holds %d certificates, want the window's %d", certs.Held(), probe.CertificateWindow)
	}
	// A reference past the window is refused, not resolved: the first leaf.
	first := handshakeRecord(0, chains[0])
	first.ChainSHA256, first.Chain = []string{sha256Hex(chains[0][0].Raw), intermediate}, nil
	if _, err := first.ResultSharing(&certs); err == nil || !strings.Contains(err.Error(), "chain_sha256[0]: certificate "+sha256Hex(chains[0][0].Raw)+" is not among the last 1024") {
		t.Errorf("a reference to a forgotten certificate: %v", err)
	}
}

// TestCertificateLineRefused: a certificate line whose DER is not what its
// SHA-256 says, or does not parse, or whose SHA-256 is no SHA-256, is an
// error that says so.
func TestCertificateLineRefused(t *testing.T) {
	t.Parallel()
	chains := issuingCA(t, 2)
	leaf, other := chains[0][0].Raw, chains[1][0].Raw
	junk := []byte("junk")
	for _, tc := range []struct {
		name string
		line probe.CertificateRecord
		want string
	}{
		{"another certificate's DER", probe.CertificateRecord{SHA256: sha256Hex(leaf), DER: other}, "certificate " + sha256Hex(leaf) + ": its DER has another SHA-256"},
		{"DER that does not parse", probe.CertificateRecord{SHA256: sha256Hex(junk), DER: junk}, "certificate " + sha256Hex(junk) + ": x509:"},
		{"no SHA-256", probe.CertificateRecord{SHA256: "sha256:" + sha256Hex(leaf)[7:], DER: leaf}, "certificate reference"},
		{"not hex", probe.CertificateRecord{SHA256: strings.Repeat("z", 64), DER: leaf}, "invalid byte"},
	} {
		var certs probe.CertificateTable
		if err := certs.Add(tc.line); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Add = %v, want an error saying %q", tc.name, err, tc.want)
		}
		if certs.Held() != 0 {
			t.Errorf("%s: the refused certificate is held", tc.name)
		}
	}
}
