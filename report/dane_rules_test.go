package report

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// policyDialogue is a complete STARTTLS dialogue with mail.contoso.test,
// an MX of contoso.test, on port, presenting chain.
func policyDialogue(port int, chain []*x509.Certificate) probe.Result {
	return probe.Result{
		Endpoint: probe.Endpoint{Host: "mail.contoso.test", Port: port, Domain: "contoso.test"}, Address: "192.0.2.10", Mode: probe.ModeSTARTTLS,
		Banner:          &probe.Reply{Code: 220, Lines: []string{"mail.contoso.test ESMTP Postfix"}},
		EHLO:            &probe.Reply{Code: 250, Lines: []string{"mail.contoso.test", "PIPELINING", "STARTTLS"}},
		STARTTLSOffered: true, STARTTLSReply: &probe.Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}},
		EHLOAfterTLS: &probe.Reply{Code: 250, Lines: []string{"mail.contoso.test", "PIPELINING"}},
		TLS: &probe.TLSState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, ServerName: "mail.contoso.test",
			HandshakeComplete: true, CurveID: tls.X25519},
		Chain: chain,
	}
}

// daneDomain is contoso.test as a loopback validating resolver answers it:
// no MTA-STS or TLS-RPT record, and tlsa, DNSSEC-secure, for its MX.
func daneDomain(tlsa ...probe.TLSAAnswer) probe.DomainPolicy {
	absent := func(name string) probe.TXTAnswer {
		return probe.TXTAnswer{DNSAnswer: probe.DNSAnswer{Name: name, Rcode: dns.RcodeNameError, AD: true, CheckingDisabledRcode: -1}}
	}
	return probe.DomainPolicy{Domain: "contoso.test", Resolver: &probe.DNSServer{Addr: netip.MustParseAddrPort("127.0.0.1:53")},
		MTASTS: absent("_mta-sts.contoso.test"), TLSRPT: absent("_smtp._tls.contoso.test"), TLSA: tlsa}
}

// secureTLSA is a DNSSEC-secure TLSA RRset at _PORT._tcp.mail.contoso.test.
func secureTLSA(port int, records ...probe.TLSARecord) probe.TLSAAnswer {
	rcode := dns.RcodeSuccess
	if len(records) == 0 {
		rcode = dns.RcodeNameError
	}
	return probe.TLSAAnswer{Host: "mail.contoso.test", Port: port, Records: records,
		DNSAnswer: probe.DNSAnswer{Name: "_" + strconv.Itoa(port) + "._tcp.mail.contoso.test", Rcode: rcode, AD: true, CheckingDisabledRcode: -1}}
}

// pin301 is a "3 0 1" record: the SHA-256 of the whole certificate.
func pin301(c *x509.Certificate) probe.TLSARecord {
	sum := sha256.Sum256(c.Raw)
	return probe.TLSARecord{Usage: 3, Selector: 0, MatchingType: 1, Data: sum[:]}
}

func checkByID(ep Endpoint, id string) (Check, bool) {
	for _, c := range ep.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// A 3 0 x record pins the very certificate: the check warns once the leaf
// has fewer days left than --warn-days, so the new record can be published
// before the renewal; with exactly that many left it does not yet.
func TestDANEPinWarnsBelowWarnDays(t *testing.T) {
	t.Parallel()
	chain := reporttest.Chain(t, "good")
	for _, tc := range []struct {
		daysLeft int
		status   Status
	}{
		{31, OK},
		{30, OK},
		{29, Warning},
	} {
		// An hour more than the whole days, so the count is not on an edge
		// of the clock.
		now := chain[0].NotAfter.Add(-time.Duration(tc.daysLeft)*24*time.Hour - time.Hour)
		expect := Expect{Roots: reporttest.Roots(t), WarnDays: 30, CritDays: 14,
			Policies: []probe.DomainPolicy{daneDomain(secureTLSA(25, pin301(chain[0])))}}
		s := Judge([]probe.Result{policyDialogue(25, chain)}, expect, now)
		c, ok := checkByID(s.Endpoints[0], CheckDANE)
		if !ok || c.Status != tc.status {
			t.Errorf("%d days left, --warn-days 30: dane %s %q, want %s", tc.daysLeft, c.Status, c.Message, tc.status)
		}
		if tc.status == Warning && !strings.Contains(c.Message, "expires in 29 days") {
			t.Errorf("%d days left: %q does not say when it expires", tc.daysLeft, c.Message)
		}
	}
}

// DANE for SMTP is port 25's: on another port the dane check appears only
// when TLSA records were published for that port.
func TestDANEOnOtherPortsOnlyWithRecords(t *testing.T) {
	t.Parallel()
	chain := reporttest.Chain(t, "good")
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		port    int
		tlsa    probe.TLSAAnswer
		checked bool
		status  Status
	}{
		{"587 without records", 587, secureTLSA(587), false, 0},
		{"587 with a matching record", 587, secureTLSA(587, pin301(chain[0])), true, OK},
		{"25 without records", 25, secureTLSA(25), true, Skipped},
		{"25 with a matching record", 25, secureTLSA(25, pin301(chain[0])), true, OK},
	} {
		expect := Expect{Roots: reporttest.Roots(t), Policies: []probe.DomainPolicy{daneDomain(tc.tlsa)}}
		s := Judge([]probe.Result{policyDialogue(tc.port, chain)}, expect, now)
		c, ok := checkByID(s.Endpoints[0], CheckDANE)
		switch {
		case !tc.checked && ok:
			t.Errorf("%s: dane %s %q, want no dane check", tc.name, c.Status, c.Message)
		case tc.checked && (!ok || c.Status != tc.status):
			t.Errorf("%s: dane %s %q (present %v), want %s", tc.name, c.Status, c.Message, ok, tc.status)
		}
	}
}

// Without a TLS-RPT record the check hints at publishing one only when the
// domain has a policy whose failures would go unreported: a DNSSEC-secure
// answer that there are no TLSA records is no such policy.
func TestTLSRPTHintNeedsTLSARecords(t *testing.T) {
	t.Parallel()
	chain := reporttest.Chain(t, "good")
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		tlsa   probe.TLSAAnswer
		status Status
		hint   bool
	}{
		{"no TLSA records, securely", secureTLSA(25), Skipped, false},
		{"a secure TLSA record", secureTLSA(25, pin301(chain[0])), OK, true},
	} {
		expect := Expect{Roots: reporttest.Roots(t), Policies: []probe.DomainPolicy{daneDomain(tc.tlsa)}}
		s := Judge([]probe.Result{policyDialogue(25, chain)}, expect, now)
		c, _ := checkByID(s.Endpoints[0], CheckTLSRPT)
		if c.Status != tc.status || strings.Contains(c.Message, "hint: publish one") != tc.hint {
			t.Errorf("%s: tls-rpt %s %q, want %s, hint %v", tc.name, c.Status, c.Message, tc.status, tc.hint)
		}
	}
}

// Under a DNSSEC-secure TLSA RRset the chain does not match, DANE senders
// refuse an untrusted chain on port 25 as they refuse a wrong name: both
// checks turn critical and name the TLSA records.
func TestDANEMismatchMakesNameAndTrustFailuresCritical(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)
	other := reporttest.Chain(t, "wrongname")[0]
	for _, tc := range []struct {
		fixture string
		id      string
	}{
		{"selfsigned", CheckTrust},
		{"wrongname", CheckName},
	} {
		chain := reporttest.Chain(t, tc.fixture)
		for _, secure := range []bool{false, true} {
			var policies []probe.DomainPolicy
			if secure {
				pin := other
				if tc.fixture == "wrongname" {
					pin = reporttest.Chain(t, "good")[0]
				}
				policies = []probe.DomainPolicy{daneDomain(secureTLSA(25, pin301(pin)))}
			}
			s := Judge([]probe.Result{policyDialogue(25, chain)}, Expect{Roots: reporttest.Roots(t), Policies: policies}, now)
			c, _ := checkByID(s.Endpoints[0], tc.id)
			want, note := Warning, "opportunistic"
			if secure {
				want, note = Critical, "DNSSEC-secure TLSA records that the chain does not match"
			}
			if c.Status != want || !strings.Contains(c.Message, note) {
				t.Errorf("%s chain, TLSA published %v: %s %s %q, want %s saying %q", tc.fixture, secure, tc.id, c.Status, c.Message, want, note)
			}
		}
	}
}
