// Package reporttest gives the tests of report and report/render the same
// fixed inputs: certificate chains made once and kept in testdata/certs
// (fixed keys, serials and thumbprints, for golden files), and the
// deterministic PKI and scripted dialogues of the diagnosis cases. It must
// not import report, whose own tests use it.
package reporttest

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
)

// HostileCN is the hostile fixture's common name. It carries a clear-screen
// sequence and an OSC "set window title" sequence: printed raw they would
// wipe and retitle the admin's terminal.
const HostileCN = "mail.contoso.test\x1b[2J\x1b]0;pwned\x07"

//go:embed testdata/certs/*.pem
var certFiles embed.FS

// Chain reads testdata/certs/<name>.pem, leaf first: root, intermediate,
// good, wrongname, expired, selfsigned or hostile.
func Chain(t testing.TB, name string) []*x509.Certificate {
	t.Helper()
	data, err := certFiles.ReadFile("testdata/certs/" + name + ".pem")
	if err != nil {
		t.Fatalf("%v (make the fixtures with: go test ./report/reporttest -run TestGenerateFixtures -generate)", err)
	}
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("%s.pem: %v", name, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		t.Fatalf("%s.pem: no certificate", name)
	}
	return chain
}

// Roots trusts the fixtures' root only, never the system's, so that the
// trust check gives the same answer on every machine.
func Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range Chain(t, "root") {
		pool.AddCert(c)
	}
	return pool
}

// SHA1 is c's thumbprint as Exchange writes it, worked out here rather
// than by the code under test.
func SHA1(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// SHA256 is c's SHA-256 thumbprint in the same style.
func SHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
