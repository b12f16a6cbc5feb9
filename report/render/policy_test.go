package render

import (
	"bytes"
	"crypto/sha256"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// policySummary is the MX of contoso.test under its published policy,
// built from fixed observations: an MTA-STS record whose policy server
// presents a certificate for another name (so no policy applies), a
// DNSSEC-secure TLSA 3 1 1 record matching the leaf, and a TLS-RPT record
// carrying a terminal escape.
func policySummary(t *testing.T) report.Summary {
	ep := endpoint(25)
	ep.Domain = "contoso.test"
	r := completeDialogue(t, ep, "good")
	spki := sha256.Sum256(r.Chain[0].RawSubjectPublicKeyInfo)
	resolver := &probe.DNSServer{Addr: netip.MustParseAddrPort("127.0.0.1:53")}
	answer := probe.DNSAnswer{Rcode: 0, AD: true, CheckingDisabledRcode: -1}
	policy := probe.DomainPolicy{
		Domain:   "contoso.test",
		Resolver: resolver,
		MTASTS:   probe.TXTAnswer{DNSAnswer: answer, Records: []string{"v=STSv1; id=20300601"}},
		Policy: &probe.PolicyFetch{URL: "https://mta-sts.contoso.test/.well-known/mta-sts.txt", Status: 200, ContentType: "text/plain",
			Body: []byte("version: STSv1\r\nmode: enforce\r\nmx: mail.contoso.test\r\nmax_age: 604800\r\n"), Chain: reporttest.Chain(t, "good")},
		TLSRPT: probe.TXTAnswer{DNSAnswer: answer, Records: []string{"v=TLSRPTv1; rua=mailto:tls\x1b[2J@contoso.test"}},
		TLSA: []probe.TLSAAnswer{{Host: "mail.contoso.test", Port: 25, DNSAnswer: probe.DNSAnswer{Name: "_25._tcp.mail.contoso.test", AD: true, CheckingDisabledRcode: -1},
			Records: []probe.TLSARecord{{Usage: 3, Selector: 1, MatchingType: 1, Data: spki[:]}}}},
	}
	expect := expectName(t, "mail.contoso.test")
	expect.Policies = []probe.DomainPolicy{policy}
	s := report.Judge([]probe.Result{r}, expect, goldenNow)
	s.Version = "v1.2.3-golden"
	return s
}

func TestPolicyGolden(t *testing.T) {
	s := policySummary(t)
	for _, format := range []struct {
		name   string
		render func(*bytes.Buffer) error
	}{
		{"text", func(b *bytes.Buffer) error { return Text(b, s, false) }},
		{"json", func(b *bytes.Buffer) error { return JSON(b, s) }},
		{"nagios", func(b *bytes.Buffer) error { return Nagios(b, s) }},
		{"prometheus", func(b *bytes.Buffer) error { return Prometheus(b, s) }},
	} {
		t.Run(format.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := format.render(&out); err != nil {
				t.Fatal(err)
			}
			if format.name != "json" {
				assertTerminalSafe(t, out.Bytes())
			}
			compareGolden(t, filepath.Join("testdata", format.name, "policy.golden"), out.Bytes())
		})
	}
	// What the goldens must show, so that -update cannot bless a wrong one.
	var text bytes.Buffer
	if err := Text(&text, s, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"contoso.test  (mail domain's published policy)", "sts-webpki-invalid", "DANE", "3 1 1 matches the leaf", "DNSSEC   secure, resolver 127.0.0.1:53 (system, loopback)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report does not say %q:\n%s", want, text.String())
		}
	}
}
