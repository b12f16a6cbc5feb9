package interop

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// scanReport is the part of -o json --tls-scan the posture tests read,
// from the public schema (README.md).
type scanReport struct {
	Results []struct {
		Status string `json:"status"`
		Checks []struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"checks"`
		Diagnosis []struct {
			ID  string   `json:"id"`
			Fix []string `json:"fix"`
		} `json:"diagnosis"`
		TLSScan *struct {
			Versions []struct {
				Version string `json:"version"`
				State   string `json:"state"`
				Suites  []struct {
					Name string   `json:"name"`
					Weak []string `json:"weak"`
				} `json:"suites"`
				Complete bool `json:"complete"`
				CBCFirst bool `json:"cbc_first"`
			} `json:"versions"`
			Order        string `json:"order"`
			Certificates []struct {
				Certificate struct {
					Key  string `json:"key"`
					SHA1 string `json:"sha1"`
				} `json:"certificate"`
				Status  string `json:"status"`
				Checked bool   `json:"checked"`
			} `json:"certificates"`
			Groups []struct {
				Group string `json:"group"`
				State string `json:"state"`
			} `json:"groups"`
			Handshakes int     `json:"handshakes"`
			DurationMS float64 `json:"duration_ms"`
			Error      string  `json:"error"`
		} `json:"tls_scan"`
	} `json:"results"`
}

// postureFixture is a Postfix instance with a listener per TLS posture.
type postureFixture struct {
	fixture
	// sha1 of the RSA and the expired ECDSA leaf, computed by openssl.
	rsaSHA1, ecdsaSHA1 string
}

// Protocol lists for the posture listeners.
const (
	fromTLS10 = "!SSLv2,!SSLv3"
	onlyTLS13 = "!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.2"
)

// serverOrder is the cipher order the preempt listener imposes: a CBC
// suite first although it accepts AES-GCM, so that server order shows.
const serverOrder = "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"

func newPostureFixture(t *testing.T) *postureFixture {
	t.Helper()
	certs := t.TempDir()
	root, err := probetest.NewRootCA("Interop Posture Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Interop Posture Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	rsa, err := inter.Issue(probetest.Spec{CommonName: expectedName, DNSNames: []string{expectedName}, RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	// The classic miss: the ECDSA certificate beside the renewed RSA one
	// expired a month ago.
	ecdsa, err := inter.Issue(probetest.Spec{CommonName: expectedName, DNSNames: []string{expectedName},
		NotBefore: time.Now().AddDate(0, -4, 0), NotAfter: time.Now().AddDate(0, -1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	goodECDSA, err := inter.Issue(probetest.Spec{CommonName: expectedName, DNSNames: []string{expectedName}})
	if err != nil {
		t.Fatal(err)
	}
	f := &postureFixture{fixture: fixture{rootPEM: filepath.Join(certs, "root.pem"), addr: map[string]string{}, leafSHA1: map[string]string{}}}
	if err := os.WriteFile(f.rootPEM, root.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	rsaFile := writeChainFile(t, certs, "rsa", rsa)
	ecdsaFile := writeChainFile(t, certs, "ecdsa-expired", ecdsa)
	goodFile := writeChainFile(t, certs, "ecdsa-good", goodECDSA)
	f.rsaSHA1, f.ecdsaSHA1 = leafSHA1(t, rsaFile), leafSHA1(t, ecdsaFile)
	// smtpd_tls_cert_file and smtpd_tls_eccert_file, each with its key
	// in the same file, as the brief for the case asks.
	both := []string{"smtpd_tls_security_level=may", "smtpd_tls_cert_file=" + rsaFile, "smtpd_tls_key_file=" + rsaFile,
		"smtpd_tls_eccert_file=" + ecdsaFile, "smtpd_tls_eckey_file=" + ecdsaFile}
	settings := map[string][]string{
		"rsa-and-expired-ecdsa": both,
		// OpenSSL 3 refuses TLS 1.0 and 1.1 below security level 0,
		// whatever smtpd_tls_protocols says.
		"tls10": {"smtpd_tls_security_level=may", "smtpd_tls_chain_files=" + rsaFile,
			"smtpd_tls_protocols=" + fromTLS10, "smtpd_tls_mandatory_protocols=" + fromTLS10,
			"tls_medium_cipherlist=DEFAULT:@SECLEVEL=0"},
		"tls13-only": {"smtpd_tls_security_level=may", "smtpd_tls_chain_files=" + goodFile,
			"smtpd_tls_protocols=" + onlyTLS13, "smtpd_tls_mandatory_protocols=" + onlyTLS13},
		"server-order": {"smtpd_tls_security_level=may", "smtpd_tls_chain_files=" + goodFile + "," + rsaFile,
			"smtpd_tls_protocols=" + onlyTLS12, "smtpd_tls_mandatory_protocols=" + onlyTLS12,
			"smtpd_tls_ciphers=high", "tls_high_cipherlist=" + serverOrder, "tls_preempt_cipherlist=yes"},
		"client-order": {"smtpd_tls_security_level=may", "smtpd_tls_chain_files=" + goodFile + "," + rsaFile,
			"smtpd_tls_protocols=" + onlyTLS12, "smtpd_tls_mandatory_protocols=" + onlyTLS12,
			"smtpd_tls_ciphers=high", "tls_high_cipherlist=" + serverOrder, "tls_preempt_cipherlist=no"},
	}
	names := []string{"rsa-and-expired-ecdsa", "tls10", "tls13-only", "server-order", "client-order"}
	ports := freeLoopbackPorts(t, len(names))
	var listeners []listener
	for i, name := range names {
		f.addr[name] = fmt.Sprintf("127.0.0.1:%d", ports[i])
		if name == "tls10" && port25Free(t) {
			// Port 25 itself, on an address of its own in 127/8: the
			// legacy-tls warning is for 25 and 587, and a port in the
			// target names the role.
			f.addr[name] = legacyAddr
		}
		listeners = append(listeners, listener{Addr: f.addr[name], Settings: settings[name]})
	}
	f.binary = buildProbe(t)
	startPostfix(t, listeners)
	return f
}

func (f *postureFixture) scan(t *testing.T, args ...string) scanReport {
	t.Helper()
	var rep scanReport
	f.runJSON(t, &rep, append([]string{"--tls-scan", "--no-tls-required-test"}, args...)...)
	if len(rep.Results) != 1 || rep.Results[0].TLSScan == nil {
		t.Fatalf("want one result with tls_scan, got %+v", rep)
	}
	if e := rep.Results[0].TLSScan.Error; e != "" {
		t.Fatalf("the scan stopped: %s", e)
	}
	return rep
}

func versionStates(rep scanReport) map[string]string {
	m := map[string]string{}
	for _, v := range rep.Results[0].TLSScan.Versions {
		m[v.Version] = v.State
	}
	return m
}

func checkStatus(rep scanReport, id string) string {
	for _, c := range rep.Results[0].Checks {
		if c.ID == id {
			return c.Status + ": " + c.Message
		}
	}
	return ""
}

func TestPostfixPosture(t *testing.T) {
	requirePostfix(t)
	f := newPostureFixture(t)

	t.Run("RSA and expired ECDSA certificates", func(t *testing.T) {
		t.Parallel()
		rep := f.scan(t, f.addr["rsa-and-expired-ecdsa"])
		held := map[string]string{}
		for _, c := range rep.Results[0].TLSScan.Certificates {
			held[c.Certificate.SHA1] = c.Status
		}
		if held[f.rsaSHA1] != "ok" || held[f.ecdsaSHA1] != "critical" {
			t.Errorf("held certificates %v, want RSA %s ok and ECDSA %s critical", held, f.rsaSHA1, f.ecdsaSHA1)
		}
		if st := checkStatus(rep, "certificates"); !strings.HasPrefix(st, "critical") && !strings.Contains(checkStatus(rep, "expiry"), "critical") {
			t.Errorf("neither the certificates check (%s) nor expiry says the ECDSA certificate expired", st)
		}
		if rep.Results[0].Status != "critical" {
			t.Errorf("status %s, want critical", rep.Results[0].Status)
		}
	})

	t.Run("TLS 1.0 allowed", func(t *testing.T) {
		t.Parallel()
		rep := f.scan(t, f.addr["tls10"])
		states := versionStates(rep)
		for _, v := range []string{"TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"} {
			if states[v] != "accepted" {
				t.Errorf("%s %q, want accepted (all: %v)", v, states[v], states)
			}
		}
		st := checkStatus(rep, "legacy-tls")
		if f.addr["tls10"] != legacyAddr {
			// A high port: judged, but a warning only on 25 and 587.
			if !strings.HasPrefix(st, "ok: accepts TLS 1.0 and TLS 1.1") {
				t.Errorf("legacy-tls %q", st)
			}
			t.Logf("port 25 of %s was taken: the warning and its fix are not checked against Postfix", legacyAddr)
			return
		}
		if !strings.HasPrefix(st, "warning: accepts TLS 1.0 and TLS 1.1") {
			t.Errorf("legacy-tls %q, want a warning on port 25", st)
		}
		var fix []string
		for _, d := range rep.Results[0].Diagnosis {
			if d.ID == "legacy-tls" {
				fix = d.Fix
			}
		}
		if !slices.Contains(fix, "postconf -e 'smtpd_tls_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1'") {
			t.Errorf("fix %q, want Postfix's smtpd_tls_protocols (the banner says Postfix)", fix)
		}
	})

	t.Run("TLS 1.3 only", func(t *testing.T) {
		t.Parallel()
		rep := f.scan(t, f.addr["tls13-only"])
		want := map[string]string{"SSL 2.0": "not testable", "SSL 3.0": "not testable", "TLS 1.0": "refused", "TLS 1.1": "refused",
			"TLS 1.2": "refused", "TLS 1.3": "accepted"}
		if got := versionStates(rep); !mapsEqual(got, want) {
			t.Errorf("versions %v, want %v", got, want)
		}
		if st := checkStatus(rep, "legacy-tls"); !strings.HasPrefix(st, "ok") {
			t.Errorf("legacy-tls %q, want ok", st)
		}
	})

	// The same listeners through sslscan --starttls-smtp: what both can
	// test agrees; what they cannot both test is listed in
	// compareWithSSLScan and README.md.
	t.Run("sslscan agrees", func(t *testing.T) {
		for _, listener := range []string{"tls10", "tls13-only", "server-order", "rsa-and-expired-ecdsa"} {
			t.Run(listener, func(t *testing.T) {
				t.Parallel()
				compareWithSSLScan(t, f, listener)
			})
		}
	})

	t.Run("cipher order", func(t *testing.T) {
		for _, tc := range []struct {
			listener, order string
			cbcFirst        bool
		}{{"server-order", "server", true}, {"client-order", "client", false}} {
			t.Run(tc.listener, func(t *testing.T) {
				t.Parallel()
				rep := f.scan(t, f.addr[tc.listener])
				ts := rep.Results[0].TLSScan
				if ts.Order != tc.order {
					t.Errorf("order %q, want %q", ts.Order, tc.order)
				}
				for _, v := range ts.Versions {
					if v.Version != "TLS 1.2" {
						continue
					}
					var names []string
					for _, s := range v.Suites {
						names = append(names, s.Name)
					}
					slices.Sort(names)
					want := []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
						"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"}
					if !slices.Equal(names, want) {
						t.Errorf("TLS 1.2 suites %v, want exactly tls_high_cipherlist's %v", names, want)
					}
					if tc.order == "server" && (len(v.Suites) == 0 || v.Suites[0].Name != "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA") {
						t.Errorf("first choice %v, want the list's first, TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", v.Suites)
					}
					if v.CBCFirst != tc.cbcFirst {
						t.Errorf("cbc_first %v, want %v", v.CBCFirst, tc.cbcFirst)
					}
				}
			})
		}
	})
}

// legacyAddr is where the TLS 1.0 listener plays port 25.
const legacyAddr = "127.0.0.25:25"

// port25Free reports whether legacyAddr can be bound (root, nothing on it).
func port25Free(t *testing.T) bool {
	t.Helper()
	l, err := net.Listen("tcp", legacyAddr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
