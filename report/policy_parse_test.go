package report

import (
	"errors"
	"strings"
	"testing"
	"time"

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
