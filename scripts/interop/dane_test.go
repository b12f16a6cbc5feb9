package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
)

// fingerResolver is the loopback address Unbound listens on at port 53 for
// posttls-finger, whose resolver (libc's, from resolv.conf) cannot be told
// another port. An address of 127/8 of its own, not 127.0.0.1 or
// 127.0.0.53, where a system resolver may already listen.
var fingerResolver = netip.MustParseAddrPort("127.83.72.1:53")

// TestDANEAgreesWithPosttlsFinger judges the same TLSA records, behind the
// same validating Unbound, with starttls-probe and with Postfix's
// posttls-finger -l dane: a chain DANE authenticates for one must be
// authenticated for the other. posttls-finger reads resolv.conf, so it
// runs in a mount namespace of its own (unshare -m) where resolv.conf names
// the test's Unbound, with trust-ad so that libc keeps the AD bit.
func TestDANEAgreesWithPosttlsFinger(t *testing.T) {
	requirePostfix(t)
	finger, err := exec.LookPath("posttls-finger")
	if err != nil {
		finger = "/usr/sbin/posttls-finger"
	}
	for _, tool := range []string{finger, "unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing: under CI=true the DANE comparison must run", tool)
			}
			t.Skipf("SKIP: DANE not compared with posttls-finger: %s is missing", tool)
		}
	}
	root, err := probetest.NewRootCA("DANE Interop Root")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := root.NewIntermediate("DANE Interop Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	type daneCase struct {
		host string
		tlsa func(*probetest.Chain) string
	}
	spki := func(c *probetest.Chain, i int) string {
		sum := sha256.Sum256(c.Certs[i].RawSubjectPublicKeyInfo)
		return hex.EncodeToString(sum[:])
	}
	cert := func(c *probetest.Chain, i int) string {
		sum := sha256.Sum256(c.Certs[i].Raw)
		return hex.EncodeToString(sum[:])
	}
	cases := []daneCase{
		{"ee.test", func(c *probetest.Chain) string { return "3 1 1 " + spki(c, 0) }},
		{"ee-wrong.test", func(c *probetest.Chain) string { return "3 1 1 " + spki(c, 1) }},
		{"ta.test", func(c *probetest.Chain) string { return "2 0 1 " + cert(c, 1) }},
		{"ta-wrong.test", func(c *probetest.Chain) string { return "2 0 1 " + cert(c, 0) }},
	}
	cfg := dnstest.SignedZoneConfig{Apex: "test."}
	ports := map[string]int{}
	for _, tc := range cases {
		chain, err := issuing.Issue(probetest.Spec{CommonName: tc.host, DNSNames: []string{tc.host}})
		if err != nil {
			t.Fatal(err)
		}
		srv := probetest.NewServer(t, probetest.Config{Chain: chain, Domain: tc.host})
		ports[tc.host] = srv.Port()
		cfg.Records = append(cfg.Records,
			fmt.Sprintf("_%d._tcp.%s. 300 IN TLSA %s", srv.Port(), tc.host, tc.tlsa(chain)),
			tc.host+". 300 IN A "+srv.IP())
	}
	zones := dnstest.NewSignedZones(t, cfg)
	resolver := dnstest.StartUnboundAt(t, fingerResolver, zones.Addr(), zones.Anchor)

	dir := t.TempDir()
	resolvConf := filepath.Join(dir, "resolv.conf")
	mainCF := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(resolvConf, []byte("nameserver "+resolver.Addr().String()+"\noptions trust-ad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mainCF, []byte("inet_protocols = ipv4\nsmtp_dns_support_level = dnssec\nsmtp_host_lookup = dns\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	binary := buildProbe(t)
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			ours := ourDANE(t, binary, resolver, tc.host, ports[tc.host])
			theirs := fingerVerified(t, finger, dir, tc.host, ports[tc.host])
			if ours != theirs {
				t.Errorf("starttls-probe says DANE authenticates %s: %v; posttls-finger -l dane: %v", tc.host, ours, theirs)
			}
			if want := !strings.Contains(tc.host, "wrong"); ours != want {
				t.Errorf("DANE authenticates %s: %v, want %v", tc.host, ours, want)
			}
		})
	}
}

// ourDANE runs starttls-probe under the test domain's policy and reports
// whether its dane check passed.
func ourDANE(t *testing.T, binary string, resolver netip.AddrPort, host string, port int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-o", "json", "--timeout", "20s", "--no-tls-required-test",
		"--resolver", resolver.String(), "--domain", "test", "-p", strconv.Itoa(port), host)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil && !errors.As(err, new(*exec.ExitError)) {
		t.Fatalf("running starttls-probe: %v", err)
	}
	var rep struct {
		Results []struct {
			Checks []struct{ ID, Status, Message string } `json:"checks"`
		} `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Results) != 1 {
		t.Fatalf("decoding the report: %v\n%s\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	for _, c := range rep.Results[0].Checks {
		if c.ID == "dane" {
			t.Logf("starttls-probe: dane %s: %s", c.Status, c.Message)
			return c.Status == "ok"
		}
	}
	t.Fatalf("no dane check in the report:\n%s", stdout.Bytes())
	return false
}

// fingerVerified runs posttls-finger -l dane against [host]:port with
// resolv.conf bound to the test's, and reports whether it verified the
// connection.
func fingerVerified(t *testing.T, finger, dir, host string, port int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := `mount --bind "$1/resolv.conf" /etc/resolv.conf && exec "$2" -c -l dane -t 10 -T 20 "[$3]:$4"`
	cmd := exec.CommandContext(ctx, "unshare", "-m", "sh", "-c", script, "sh", dir, finger, host, strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil && !errors.As(err, new(*exec.ExitError)) {
		t.Fatalf("running posttls-finger: %v\n%s", err, out)
	}
	t.Logf("posttls-finger:\n%s", out)
	return strings.Contains(string(out), "Verified TLS connection established")
}
