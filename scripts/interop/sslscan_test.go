package interop

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sslscanXML is the part of sslscan --xml=- the comparison reads.
type sslscanXML struct {
	Protocols []struct {
		Type    string `xml:"type,attr"`
		Version string `xml:"version,attr"`
		Enabled string `xml:"enabled,attr"`
	} `xml:"ssltest>protocol"`
	Ciphers []struct {
		Status  string `xml:"status,attr"`
		Version string `xml:"sslversion,attr"`
		ID      string `xml:"id,attr"`
		Name    string `xml:"cipher,attr"`
	} `xml:"ssltest>cipher"`
	Groups []struct {
		Version string `xml:"sslversion,attr"`
		ID      string `xml:"id,attr"`
	} `xml:"ssltest>group"`
}

// runSSLScan runs sslscan --starttls-smtp on addr. Under CI=true sslscan
// must be there (.ci/run installs it); elsewhere its absence skips.
func runSSLScan(t *testing.T, addr string) sslscanXML {
	t.Helper()
	bin, err := exec.LookPath("sslscan")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sslscan is not installed: under CI=true the comparison must run (.ci/run installs it)")
		}
		t.Skip("SKIP: sslscan not installed (apt-get install sslscan): the comparison with it is not run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--starttls-smtp", "--xml=-", "--no-colour", "--no-heartbleed", "--no-renegotiation",
		"--no-compression", "--no-fallback", "--no-check-certificate", "--no-cipher-details", addr).Output()
	if err != nil {
		t.Fatalf("sslscan: %v", err)
	}
	// Its XML comes after its text on stdout.
	start := strings.Index(string(out), "<?xml")
	if start < 0 {
		t.Fatalf("no XML in sslscan's output:\n%s", out)
	}
	var doc sslscanXML
	if err := xml.Unmarshal(out[start:], &doc); err != nil {
		t.Fatalf("sslscan's XML: %v", err)
	}
	return doc
}

// sslscanVersion maps sslscan's "TLSv1.2" and its protocol elements to our
// "TLS 1.2".
func sslscanVersion(s string) string {
	return strings.Replace(strings.Replace(s, "TLSv", "TLS ", 1), "SSLv", "SSL ", 1)
}

// goSuites are the suites crypto/tls can offer, by ID.
func goSuites() map[uint16]string {
	m := map[uint16]string{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		m[cs.ID] = cs.Name
	}
	return m
}

// Differences the comparison expects, each documented in README.md's TLS
// scan section:
//   - SSL 2.0 and 3.0: sslscan says not enabled, the scan "not testable";
//   - suites crypto/tls cannot offer (DHE, ECDHE-RSA-AES256-SHA384,
//     AES256-SHA256, CCM, ARIA, Camellia...): sslscan lists them, the
//     scan names their classes as not testable;
//   - TLS 1.3: sslscan lists the three suites, the scan the negotiated
//     one, which must be among them;
//   - groups: x448 (sslscan) and the ML-KEM hybrids (the scan; sslscan on
//     OpenSSL 3.0 does not offer them) are each one tool's alone.
func compareWithSSLScan(t *testing.T, f *postureFixture, listener string) {
	rep := f.scan(t, f.addr[listener])
	ours := rep.Results[0].TLSScan
	theirs := runSSLScan(t, f.addr[listener])

	enabled := map[string]bool{}
	for _, p := range theirs.Protocols {
		enabled[sslscanVersion(strings.ToUpper(p.Type)+"v"+p.Version)] = p.Enabled == "1"
	}
	testable := goSuites()
	for _, v := range ours.Versions {
		if strings.HasPrefix(v.Version, "SSL") {
			if v.State != "not testable" {
				t.Errorf("%s: %q, want not testable", v.Version, v.State)
			}
			continue
		}
		if (v.State == "accepted") != enabled[v.Version] {
			t.Errorf("%s: the scan says %s, sslscan enabled=%v", v.Version, v.State, enabled[v.Version])
		}
		var mine, sslscan []string
		for _, s := range v.Suites {
			mine = append(mine, s.Name)
		}
		var preferred string
		for _, c := range theirs.Ciphers {
			if sslscanVersion(c.Version) != v.Version {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimPrefix(c.ID, "0x"), 16, 16)
			if err != nil {
				t.Fatalf("sslscan cipher id %q", c.ID)
			}
			name, ok := testable[uint16(id)]
			if v.Version == "TLS 1.3" {
				name, ok = tls.CipherSuiteName(uint16(id)), true
			}
			if !ok {
				t.Logf("%s: %s (%s) accepted, a suite crypto/tls cannot offer", v.Version, c.Name, c.ID)
				continue
			}
			sslscan = append(sslscan, name)
			if c.Status == "preferred" {
				preferred = name
			}
		}
		if v.Version == "TLS 1.3" {
			if len(mine) > 0 && !slices.Contains(sslscan, mine[0]) {
				t.Errorf("TLS 1.3: the scan negotiated %s, which sslscan does not list (%v)", mine[0], sslscan)
			}
			continue
		}
		slices.Sort(mine)
		slices.Sort(sslscan)
		if !slices.Equal(mine, sslscan) {
			t.Errorf("%s suites crypto/tls can offer:\n scan    %v\n sslscan %v", v.Version, mine, sslscan)
		}
		// Under server order, the server's first choice is the same
		// whoever offers.
		if ours.Order == "server" && len(v.Suites) > 0 && v.Suites[0].Name != preferred {
			t.Errorf("%s: the scan's first choice %s, sslscan's preferred %s, under server order", v.Version, v.Suites[0].Name, preferred)
		}
	}
	groupIDs := map[string]uint16{"X25519": 0x1d, "P-256": 0x17, "P-384": 0x18, "P-521": 0x19}
	theirGroups := map[uint16]bool{}
	for _, g := range theirs.Groups {
		id, _ := strconv.ParseUint(strings.TrimPrefix(g.ID, "0x"), 16, 16)
		theirGroups[uint16(id)] = true
	}
	for _, g := range ours.Groups {
		id, both := groupIDs[g.Group]
		if !both {
			continue
		}
		if (g.State == "accepted") != theirGroups[id] {
			t.Errorf("group %s: the scan says %s, sslscan lists it: %v", g.Group, g.State, theirGroups[id])
		}
	}
}
