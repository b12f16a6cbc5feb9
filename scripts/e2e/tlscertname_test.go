package e2e

import (
	"encoding/json"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
)

// tlsNameServer is a STARTTLS server presenting a leaf from a throwaway CA,
// with that CA's root written to a PEM file for --ca-file.
func tlsNameServer(t *testing.T) (addr, caFile, tlsName string) {
	t.Helper()
	root, err := probetest.NewRootCA("e2e Test Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := probetest.NewScript(t, probetest.Script{
		Greeting:     []string{"220 mx.test Microsoft ESMTP MAIL Service ready"},
		EHLO:         []string{"250-mx.test", "250 STARTTLS"},
		EHLOAfterTLS: []string{"250 mx.test"},
		Chain:        chain,
	})
	caFile = filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(caFile, root.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.Addr(), caFile, dotnetname.TLSCertificateName(chain.Leaf())
}

func TestTLSCertificateNameMatches(t *testing.T) {
	t.Parallel()
	addr, caFile, tlsName := tlsNameServer(t)
	const want = "<I>CN=e2e Test Root, O=starttls-probe test<S>CN=mx.test"
	if tlsName != want {
		t.Fatalf("TLSCertificateName = %q, want %q", tlsName, want)
	}
	// Other spacing and label case name the same certificate.
	flag := "<I>cn=e2e Test Root,o=starttls-probe test<S> CN = mx.test"
	r := runBinary(t, environ(), "--timeout", "10s", "-n", "mx.test", "--ca-file", caFile, "--tls-certificate-name", flag, addr)
	if !strings.Contains(r.stdout, "TlsCertificateName  "+want+"\n") {
		t.Errorf("the text report should print the leaf's TlsCertificateName line:\n%s", r)
	}
	if !strings.Contains(r.stdout, "OK       tls-certificate-name") {
		t.Errorf("the tls-certificate-name check should be OK:\n%s", r)
	}
	if strings.Contains(r.stdout, "CRITICAL tls-certificate-name") {
		t.Errorf("a match must not be critical:\n%s", r)
	}
}

func TestTLSCertificateNameDiffers(t *testing.T) {
	t.Parallel()
	addr, caFile, tlsName := tlsNameServer(t)
	// The connector still names the certificate before a renewal.
	old := "<I>CN=e2e Test Root, O=starttls-probe test<S>CN=mx.test, O=Old Certificate"
	r := runBinary(t, environ(), "--timeout", "10s", "-n", "mx.test", "--ca-file", caFile, "--tls-certificate-name", old, "-o", "json", addr)
	if r.code != 2 {
		t.Fatalf("want exit 2 for a connector naming another certificate, got %s", r)
	}
	var doc struct {
		Results []struct {
			Chain []struct {
				TLSCertificateName string `json:"tls_certificate_name"`
			} `json:"chain"`
			Checks []struct {
				ID      string `json:"id"`
				Status  string `json:"status"`
				Message string `json:"message"`
			} `json:"checks"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(doc.Results) != 1 || len(doc.Results[0].Chain) == 0 {
		t.Fatalf("want one result with a chain:\n%s", r)
	}
	if got := doc.Results[0].Chain[0].TLSCertificateName; got != tlsName {
		t.Errorf("chain[0].tls_certificate_name = %q, want %q", got, tlsName)
	}
	if !strings.Contains(r.stdout, `"tls_certificate_name": "<I>`) {
		t.Errorf("the JSON should keep < and > readable:\n%s", r)
	}
	var found bool
	for _, c := range doc.Results[0].Checks {
		if c.ID != report.CheckTLSCertificateName {
			continue
		}
		found = true
		if c.Status != "critical" || !strings.Contains(c.Message, "KB 2989382") ||
			!strings.Contains(c.Message, old) || !strings.Contains(c.Message, tlsName) {
			t.Errorf("the check should be critical and show both values: %+v", c)
		}
	}
	if !found {
		t.Errorf("no tls_certificate_name check:\n%s", r)
	}
}

func TestTLSCertificateNameFlagIsChecked(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"CN=mx.test", "<I>CN=root", `<I>CN=root<S>FOO=bar`} {
		r := runBinary(t, environ(), "--tls-certificate-name", bad, "127.0.0.1:1")
		if r.code != 3 || !strings.Contains(r.stderr, "--tls-certificate-name") || !strings.Contains(r.stderr, "hint:") {
			t.Errorf("--tls-certificate-name %q: want a usage error (exit 3) with a hint, got %s", bad, r)
		}
	}
}
