package render

import (
	"bytes"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPEMGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if err := PEM(&out, tc.summary()); err != nil {
				t.Fatal(err)
			}
			assertTerminalSafe(t, out.Bytes())
			compareGolden(t, filepath.Join("testdata", "pem", tc.name+".golden"), out.Bytes())
		})
	}
}

// The PEM output holds every certificate of every chain, byte for byte, in
// order, and nothing else a PEM reader would take: the comments cannot
// carry a block, even from the hostile subject.
func TestPEMHoldsExactlyTheChainsAsSent(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.summary()
			var out bytes.Buffer
			if err := PEM(&out, s); err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			for _, ep := range s.Endpoints {
				for _, c := range ep.Chain {
					want = append(want, c.DER)
				}
			}
			var got [][]byte
			for rest := out.Bytes(); ; {
				var block *pem.Block
				block, rest = pem.Decode(rest)
				if block == nil {
					break
				}
				if block.Type != "CERTIFICATE" || len(block.Headers) > 0 {
					t.Fatalf("block %q with headers %v", block.Type, block.Headers)
				}
				got = append(got, block.Bytes)
			}
			if len(got) != len(want) {
				t.Fatalf("%d certificates read back, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("certificate %d differs from the one sent", i)
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if line != "" && !strings.HasPrefix(line, "# ") && !strings.HasPrefix(line, "-----") && strings.ContainsAny(line, " #") {
					t.Errorf("line outside a comment or a block: %q", line)
				}
			}
		})
	}
}

// openssl reads the file as it is: what an admin does next with it.
func TestPEMReadByOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	tc := findCase(t, "good")
	var out bytes.Buffer
	if err := PEM(&out, tc.summary()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(openssl, "x509", "-noout", "-fingerprint", "-sha1")
	cmd.Stdin = &out
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl x509: %v", err)
	}
	want := tc.summary().Endpoints[0].Leaf().SHA1
	if !strings.Contains(strings.ReplaceAll(string(got), ":", ""), want) {
		t.Errorf("openssl read %q, want the leaf's SHA-1 %s", got, want)
	}
}
