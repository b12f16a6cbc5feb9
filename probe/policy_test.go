package probe_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
)

// policyChain is a certificate for the mta-sts hosts of the test domains,
// issued by a throwaway CA.
func policyChain(t *testing.T, names ...string) *probetest.Chain {
	t.Helper()
	root, err := probetest.NewRootCA("Policy Test Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: names[0], DNSNames: names})
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func TestObservePolicies(t *testing.T) {
	t.Parallel()
	web := probetest.NewPolicyServer(t, policyChain(t, "mta-sts.enforce.test", "mta-sts.moved.test"))
	web.Set("enforce.test", probetest.PolicyResponse{ContentType: "text/plain", Body: "version: STSv1\r\nmode: enforce\r\nmx: mx.enforce.test\r\nmax_age: 86400\r\n"})
	web.Set("moved.test", probetest.PolicyResponse{Status: http.StatusMovedPermanently, Location: "https://elsewhere.test/mta-sts.txt"})
	web.Set("big.test", probetest.PolicyResponse{Body: strings.Repeat("x", probe.MaxPolicySize+10)})
	dns := dnstest.New(t,
		`_mta-sts.enforce.test. 300 IN TXT "v=STSv1; " "id=20240101"`,
		`_smtp._tls.enforce.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@enforce.test"`,
		"_25._tcp.mx.enforce.test. 300 IN TLSA 3 1 1 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		`_mta-sts.moved.test. 300 IN TXT "v=STSv1; id=1"`,
		`_mta-sts.missing.test. 300 IN TXT "v=STSv1; id=1"`,
		`_mta-sts.big.test. 300 IN TXT "v=STSv1; id=1"`,
		`_mta-sts.none.test. 300 IN TXT "something else"`,
	)
	dns.SetAuthenticData(true)
	var jobs []probe.Job
	for _, d := range []string{"enforce.test", "moved.test", "missing.test", "big.test", "none.test"} {
		jobs = append(jobs, probe.Job{Endpoint: probe.Endpoint{Host: "mx." + d, Port: 25, Domain: d}})
	}
	// A host without a domain has no policy looked up.
	jobs = append(jobs, probe.Job{Endpoint: probe.Endpoint{Host: "alone.test", Port: 25}})
	opts := probe.Options{ResolverAddr: dns.Addr(), Resolver: probe.NewResolver(dns.Addr()), PolicyHTTPSAddr: web.Addr(), Timeout: 10 * time.Second}
	got := probe.ObservePolicies(context.Background(), jobs, opts)
	if len(got) != 5 {
		t.Fatalf("got %d policies, want 5 (one per domain)", len(got))
	}
	byDomain := map[string]probe.DomainPolicy{}
	for _, p := range got {
		if p.Resolver == nil || p.Resolver.Addr != dns.Addr() || !p.Resolver.Named {
			t.Errorf("%s: resolver %+v, want the named %s", p.Domain, p.Resolver, dns.Addr())
		}
		byDomain[p.Domain] = p
	}
	e := byDomain["enforce.test"]
	if len(e.MTASTS.Records) != 1 || e.MTASTS.Records[0] != "v=STSv1; id=20240101" || !e.MTASTS.AD {
		t.Errorf("enforce.test TXT: %+v, want the two strings joined, with AD", e.MTASTS)
	}
	if e.Policy == nil || e.Policy.Status != 200 || !strings.Contains(string(e.Policy.Body), "mode: enforce") || e.Policy.ContentType != "text/plain" {
		t.Fatalf("enforce.test policy: %+v", e.Policy)
	}
	if len(e.Policy.Chain) == 0 || e.Policy.Chain[0].Subject.CommonName != "mta-sts.enforce.test" {
		t.Errorf("enforce.test policy chain not recorded: %v", e.Policy.Chain)
	}
	if !strings.HasPrefix(e.Policy.Addr, "127.0.0.1:") {
		t.Errorf("policy fetched from %q, want the loopback server", e.Policy.Addr)
	}
	if len(e.TLSRPT.Records) != 1 || !strings.HasPrefix(e.TLSRPT.Records[0], "v=TLSRPTv1") {
		t.Errorf("enforce.test TLS-RPT: %+v", e.TLSRPT)
	}
	if len(e.TLSA) != 1 || len(e.TLSA[0].Records) != 1 || e.TLSA[0].Records[0].Usage != 3 || len(e.TLSA[0].Records[0].Data) != 32 || !e.TLSA[0].AD {
		t.Errorf("enforce.test TLSA: %+v", e.TLSA)
	}
	if m := byDomain["moved.test"].Policy; m == nil || m.Status != http.StatusMovedPermanently || m.Location != "https://elsewhere.test/mta-sts.txt" || m.Body != nil {
		t.Errorf("moved.test: %+v, want the 301 recorded and not followed", m)
	}
	if web.Requests("elsewhere.test") != 0 {
		t.Errorf("the redirect was followed")
	}
	if m := byDomain["missing.test"].Policy; m == nil || m.Status != http.StatusNotFound {
		t.Errorf("missing.test: %+v, want 404", m)
	}
	if b := byDomain["big.test"].Policy; b == nil || !b.Oversize || len(b.Body) != probe.MaxPolicySize {
		t.Errorf("big.test: oversize %v, %d bytes kept", b != nil && b.Oversize, len(b.Body))
	}
	if n := byDomain["none.test"]; n.Policy != nil || web.Requests("none.test") != 0 {
		t.Errorf("none.test has no v=STSv1 record, yet its policy was fetched")
	}
}
