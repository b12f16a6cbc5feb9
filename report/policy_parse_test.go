package report

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/starttls-probe/starttls-probe/probe"
)

func TestParseSTSRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		record, id, err string
	}{
		{record: "v=STSv1; id=20160831085700Z;", id: "20160831085700Z"},
		{record: "v=STSv1;id=abc", id: "abc"},
		{record: "v=STSv1; id=" + strings.Repeat("a", 32), id: strings.Repeat("a", 32)},
		{record: "v=STSv1; id=" + strings.Repeat("a", 33), err: "not 1 to 32 letters and digits"},
		{record: "v=STSv1; id=2024-01", err: "not 1 to 32 letters and digits"},
		// The ends of each range: a, z, A, Z, 0, 9.
		{record: "v=STSv1; id=azAZ09", id: "azAZ09"},
		{record: "v=STSv1; id=z", id: "z"},
		{record: "v=STSv1; id=A", id: "A"},
		{record: "v=STSv1; id=9", id: "9"},
		{record: "v=STSv1; id=20240101T000000", id: "20240101T000000"},
		{record: "v=STSv1; id=", err: "not 1 to 32 letters and digits"},
		{record: "v=STSv1;", err: "no id field"},
		{record: "v=STSv1 id=1", err: `must start with "v=STSv1;"`},
		{record: "v=STSv1; id=first; id=second", id: "first"},
		{record: "v=STSv1; id=1; ext", err: "has no '='"},
	} {
		id, err := parseSTSRecord(tc.record)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one saying %q", tc.record, err, tc.err)
		case tc.err == "" && (err != nil || id != tc.id):
			t.Errorf("%q: id %q, error %v; want %q", tc.record, id, err, tc.id)
		}
	}
}

func TestParseSTSPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, err, mode string
		maxAge                int
		mx                    []string
	}{
		{name: "CRLF", body: "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n",
			mode: "enforce", maxAge: 86400, mx: []string{"mail.example.com", "*.example.net"}},
		{name: "LF and an extension", body: "version: STSv1\nmode: testing\nmx: MX.Example.COM.\nmax_age: 1\nfoo: bar\n", mode: "testing", maxAge: 1, mx: []string{"mx.example.com"}},
		{name: "mode none without mx", body: "version: STSv1\nmode: none\nmax_age: 1\n", mode: "none", maxAge: 1},
		{name: "first mode counts", body: "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n", mode: "testing", maxAge: 1, mx: []string{"a.example"}},
		{name: "enforce without mx", body: "version: STSv1\nmode: enforce\nmax_age: 1\n", err: "no mx field"},
		{name: "bad mode", body: "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", err: `mode "strict"`},
		{name: "bad version", body: "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", err: `version "STSv2"`},
		{name: "no max_age", body: "version: STSv1\nmode: enforce\nmx: a.example\n", err: "no max_age"},
		{name: "max_age 0", body: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 0\n", mode: "enforce", maxAge: 0, mx: []string{"a.example"}},
		{name: "max_age of 10 digits", body: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n", mode: "enforce", maxAge: 9999999999, mx: []string{"a.example"}},
		{name: "max_age of 11 digits", body: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n", err: `max_age "00000000001"`},
		{name: "max_age negative", body: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", err: `max_age "-1"`},
		// The value is quoted whole up to 20 characters, cut beyond.
		{name: "max_age of 20 characters", body: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901234567890\n", err: `max_age "12345678901234567890" is not`},
		{name: "max_age of 21 characters", body: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 123456789012345678901\n", err: `max_age "12345678901234567890..." is not`},
		{name: "max_age not a number", body: "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1d\n", err: `max_age "1d"`},
		{name: "not key: value", body: "<html>Not found</html>\n", err: "is not key: value"},
	} {
		p, err := parseSTSPolicy(tc.body)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err == "" && (p.mode != tc.mode || p.maxAge != tc.maxAge || strings.Join(p.mx, ",") != strings.Join(tc.mx, ",")):
			t.Errorf("%s: %+v, want mode %s max_age %d mx %v", tc.name, p, tc.mode, tc.maxAge, tc.mx)
		}
	}
}

func TestMXMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"mail.example.com", "mail.example.com", true},
		{"mail.example.com", "MAIL.example.com.", true},
		{"mail.example.com", "mail2.example.com", false},
		{"*.example.com", "mx1.example.com", true},
		{"*.example.com", "a.mx1.example.com", false},
		{"*.example.com", "example.com", false},
		{"*.example.com", "mx1.example.org", false},
	} {
		if got := mxMatches(tc.pattern, tc.host); got != tc.want {
			t.Errorf("mxMatches(%q, %q) = %v, want %v", tc.pattern, tc.host, got, tc.want)
		}
	}
}

func TestParseTLSRPT(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		record, err string
		rua         []string
	}{
		{record: "v=TLSRPTv1; rua=mailto:reports@example.com", rua: []string{"mailto:reports@example.com"}},
		{record: "v=TLSRPTv1;rua=mailto:a@example.com,https://reports.example.com/tls", rua: []string{"mailto:a@example.com", "https://reports.example.com/tls"}},
		{record: "v=TLSRPTv1; rua=reports@example.com", err: "neither mailto: nor https:"},
		{record: "v=TLSRPTv1;", err: "no rua field"},
		{record: "v=TLSRPTv2; rua=mailto:a@example.com", err: `must start with "v=TLSRPTv1;"`},
	} {
		rua, err := parseTLSRPT(tc.record)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one saying %q", tc.record, err, tc.err)
		case tc.err == "" && (err != nil || strings.Join(rua, " ") != strings.Join(tc.rua, " ")):
			t.Errorf("%q: %v, %v; want %v", tc.record, rua, err, tc.rua)
		}
	}
}

// TestDomainDNSSEC reads the domain's DNSSEC status from what a loopback
// resolver answered for _mta-sts and _smtp._tls: a SERVFAIL is bogus only
// when the data is there without validation (asked again with CD) or the
// resolver names a DNSSEC error; a secure TLS-RPT answer shows the zone is
// signed when the MTA-STS answer alone does not.
func TestDomainDNSSEC(t *testing.T) {
	t.Parallel()
	loopback := &probe.DNSServer{Addr: netip.MustParseAddrPort("127.0.0.1:53")}
	elsewhere := &probe.DNSServer{Addr: netip.MustParseAddrPort("192.0.2.53:53")}
	answer := func(rcode, cdRcode int, ad bool, ede ...uint16) probe.TXTAnswer {
		return probe.TXTAnswer{DNSAnswer: probe.DNSAnswer{Rcode: rcode, AD: ad, CheckingDisabledRcode: cdRcode, ExtendedErrors: ede}}
	}
	nx := answer(dns.RcodeNameError, -1, false)
	for _, tc := range []struct {
		name             string
		resolver         *probe.DNSServer
		mtasts, tlsrpt   probe.TXTAnswer
		validatingParent string
		want             string
	}{
		{"SERVFAIL, found with CD", loopback, answer(dns.RcodeServerFailure, dns.RcodeSuccess, false), nx, "", DNSSECBogus},
		{"SERVFAIL, NXDOMAIN with CD", loopback, answer(dns.RcodeServerFailure, dns.RcodeNameError, false), nx, "", DNSSECBogus},
		{"SERVFAIL with and without CD", loopback, answer(dns.RcodeServerFailure, dns.RcodeServerFailure, false), nx, "", DNSSECUnknown},
		{"SERVFAIL naming DNSSEC Bogus", loopback, answer(dns.RcodeServerFailure, -1, false, dns.ExtendedErrorCodeDNSBogus), nx, "", DNSSECBogus},
		{"SERVFAIL naming another error", loopback, answer(dns.RcodeServerFailure, -1, false, dns.ExtendedErrorCodeNetworkError), nx, "", DNSSECUnknown},
		// RFC 8914's DNSSEC codes run from 6 (DNSSEC Bogus) to 12 (NSEC
		// Missing); 5 (DNSSEC Indeterminate) and 13 (Cached Error) are not
		// a validation failure.
		{"SERVFAIL naming NSEC Missing", loopback, answer(dns.RcodeServerFailure, -1, false, dns.ExtendedErrorCodeNSECMissing), nx, "", DNSSECBogus},
		{"SERVFAIL naming DNSSEC Indeterminate", loopback, answer(dns.RcodeServerFailure, -1, false, dns.ExtendedErrorCodeDNSSECIndeterminate), nx, "", DNSSECUnknown},
		{"SERVFAIL naming Cached Error", loopback, answer(dns.RcodeServerFailure, -1, false, dns.ExtendedErrorCodeCachedError), nx, "", DNSSECUnknown},
		{"no MTA-STS record, securely", loopback, answer(dns.RcodeNameError, -1, true), nx, "", DNSSECSecure},
		{"no MTA-STS record, TLS-RPT secure", loopback, nx, answer(dns.RcodeSuccess, -1, true), "", DNSSECSecure},
		{"neither secure, under a validated parent", loopback, nx, nx, "test", DNSSECInsecure},
		{"TLS-RPT secure by a resolver across the network", elsewhere, nx, answer(dns.RcodeSuccess, -1, true), "", DNSSECUnknown},
	} {
		r := probe.Result{Endpoint: probe.Endpoint{Host: "mx.example.test", Port: 25, Domain: "example.test"}, Address: "192.0.2.1", Mode: probe.ModeSTARTTLS}
		expect := Expect{Policies: []probe.DomainPolicy{{Domain: "example.test", Resolver: tc.resolver, MTASTS: tc.mtasts, TLSRPT: tc.tlsrpt,
			ValidatingAncestor: tc.validatingParent}}}
		sum := Judge([]probe.Result{r}, expect, time.Now())
		if len(sum.Policies) != 1 || sum.Policies[0].DNSSEC != tc.want {
			t.Errorf("%s: %+v, want DNSSEC %s", tc.name, sum.Policies, tc.want)
		}
	}
}

// TestPolicyWithoutResolver: with no DNS server to ask (no resolv.conf, as
// on Windows) the policy checks are skipped and say why; the run is not
// made unknown for it.
func TestPolicyWithoutResolver(t *testing.T) {
	t.Parallel()
	r := probe.Result{Endpoint: probe.Endpoint{Host: "mx.example.test", Port: 25, Domain: "example.test"}, Address: "192.0.2.1", Mode: probe.ModeSTARTTLS}
	expect := Expect{Policies: []probe.DomainPolicy{{Domain: "example.test", ResolverErr: errors.New("no nameserver in /etc/resolv.conf")}}}
	sum := Judge([]probe.Result{r}, expect, time.Now())
	if len(sum.Policies) != 1 || !strings.Contains(sum.Policies[0].MTASTS.Error, "give --resolver") {
		t.Fatalf("policies %+v, want one saying why nothing was looked up", sum.Policies)
	}
	for _, c := range sum.Endpoints[0].Checks {
		switch c.ID {
		case CheckMTASTS, CheckTLSRPT:
			if c.Status != Skipped || !strings.Contains(c.Message, "no nameserver in /etc/resolv.conf") {
				t.Errorf("%s: %v %q, want skipped saying why", c.ID, c.Status, c.Message)
			}
		case CheckDANE:
			t.Errorf("a dane check without a TLSA lookup: %+v", c)
		}
	}
}
