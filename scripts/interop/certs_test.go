package interop

import (
	"crypto/sha1"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// writeChainFile writes the chain as Postfix's smtpd_tls_chain_files wants
// it, the private key first and then the certificates, leaf first.
func writeChainFile(t *testing.T, dir, name string, chain *probetest.Chain) string {
	t.Helper()
	key, err := chain.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".pem")
	// smtpd reads its keys as root, before it drops privileges.
	if err := os.WriteFile(path, append(key, chain.PEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// leafSHA1 is the SHA-1 fingerprint of the first certificate in a PEM file,
// upper-case hex without separators, computed without the probe's code: by
// openssl when it is installed (CI installs it), else from the PEM in Go.
func leafSHA1(t *testing.T, path string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("openssl is not installed: under CI=true the fingerprint must come from it")
		}
		return pemLeafSHA1(t, path)
	}
	// openssl x509 skips the key block and reads the first certificate.
	out, err := exec.Command("openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", path).Output()
	if err != nil {
		t.Fatalf("openssl x509 -fingerprint: %v", err)
	}
	// "sha1 Fingerprint=AB:CD:..." (the prefix's case varies by version).
	_, fp, ok := strings.Cut(strings.TrimSpace(string(out)), "=")
	if !ok {
		t.Fatalf("openssl x509 -fingerprint printed %q", out)
	}
	return strings.ToUpper(strings.ReplaceAll(fp, ":", ""))
}

func pemLeafSHA1(t *testing.T, path string) string {
	t.Helper()
	rest, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			t.Fatalf("%s holds no certificate", path)
		}
		if block.Type == "CERTIFICATE" {
			return fmt.Sprintf("%X", sha1.Sum(block.Bytes))
		}
	}
}
