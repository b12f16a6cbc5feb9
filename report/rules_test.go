package report_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
)

// These tests pin the judgement rules one at a time through report.Judge
// and the check IDs, so that deleting or loosening a rule fails a test
// (issue 18: each was a planted bug that no test caught).

const rulesHost = "mail.rules.test"

// rulesLeaf is a self-signed leaf valid for rulesHost from rulesFrom for a
// year; the tests judge it at instants chosen against its NotAfter.
var rulesFrom = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func rulesLeaf(t *testing.T) *probetest.Chain {
	t.Helper()
	chain, err := probetest.SelfSigned(probetest.Spec{CommonName: rulesHost, DNSNames: []string{rulesHost},
		NotBefore: rulesFrom, NotAfter: rulesFrom.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// rulesResult is what the probe records for a STARTTLS endpoint at addr
// whose handshake completed with version and presented chain (none when
// chain is nil).
func rulesResult(addr string, chain *probetest.Chain, version uint16) probe.Result {
	r := probe.Result{
		Endpoint:        probe.Endpoint{Target: rulesHost, Host: rulesHost, Port: 25, Address: addr},
		Address:         addr,
		Mode:            probe.ModeSTARTTLS,
		Banner:          &probe.Reply{Code: 220, Lines: []string{rulesHost + " ESMTP"}},
		EHLO:            &probe.Reply{Code: 250, Lines: []string{rulesHost, "STARTTLS"}},
		STARTTLSOffered: true,
		STARTTLSReply:   &probe.Reply{Code: 220, Lines: []string{"2.0.0 Ready to start TLS"}},
	}
	if chain != nil {
		r.Chain = chain.Certs
		r.TLS = &probe.TLSState{Version: version, CipherSuite: tls.TLS_AES_128_GCM_SHA256, ServerName: rulesHost, HandshakeComplete: true}
	}
	return r
}

// judgedCheck is the check with id of the only endpoint judged.
func judgedCheck(t *testing.T, s report.Summary, id string) report.Check {
	t.Helper()
	if len(s.Endpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(s.Endpoints))
	}
	for _, c := range s.Endpoints[0].Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no %q check among %+v", id, s.Endpoints[0].Checks)
	return report.Check{}
}

// TestTLSRequiredReplyInAnyLanguage: Exchange's RequireTLS answers MAIL
// with 451 5.7.3 in the server's language, so the code decides, not the
// word TLS. None of these texts says TLS.
func TestTLSRequiredReplyInAnyLanguage(t *testing.T) {
	cases := []struct {
		name  string
		reply probe.Reply
		want  report.TLSRequired
	}{
		{"German", probe.Reply{Code: 451, Lines: []string{"5.7.3 Verschlüsselung ist erforderlich, um E-Mails zu senden"}}, report.TLSRequiredTrue},
		{"French", probe.Reply{Code: 451, Lines: []string{"5.7.3 Le chiffrement est requis pour envoyer du courrier"}}, report.TLSRequiredTrue},
		{"451 with another enhanced code", probe.Reply{Code: 451, Lines: []string{"4.3.0 Vorübergehender Fehler"}}, report.TLSRequiredUnknown},
		{"451 without an enhanced code", probe.Reply{Code: 451, Lines: []string{"Verschlüsselung ist erforderlich"}}, report.TLSRequiredUnknown},
		{"5.7.3 with another code", probe.Reply{Code: 550, Lines: []string{"5.7.3 Verschlüsselung ist erforderlich"}}, report.TLSRequiredUnknown},
		// RFC 4954 uses 530 5.7.0 for "Authentication required".
		{"530 5.7.0 without TLS", probe.Reply{Code: 530, Lines: []string{"5.7.0 Authentication required"}}, report.TLSRequiredUnknown},
		{"530 naming TLS", probe.Reply{Code: 530, Lines: []string{"5.7.0 Must issue a STARTTLS command first"}}, report.TLSRequiredTrue},
		{"a refusal naming tls in lower case", probe.Reply{Code: 554, Lines: []string{"5.7.1 starttls first, please"}}, report.TLSRequiredTrue},
		// A 250 accepts, whatever its text says; it is "false" only from
		// software known to refuse at MAIL FROM, which this server is not.
		{"250 naming TLS", probe.Reply{Code: 250, Lines: []string{"2.1.0 Sender OK, TLS would be nice"}}, report.TLSRequiredUnknown},
		{"a 3xx naming TLS is no refusal", probe.Reply{Code: 354, Lines: []string{"TLS"}}, report.TLSRequiredUnknown},
		{"400 naming TLS", probe.Reply{Code: 400, Lines: []string{"TLS first"}}, report.TLSRequiredTrue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rulesResult("127.0.0.1", nil, 0)
			r.TLSRequired = &probe.TLSRequiredTest{Banner: r.Banner, EHLO: r.EHLO, Mail: &tc.reply}
			s := report.Judge([]probe.Result{r}, report.Expect{}, rulesFrom)
			if got := s.Endpoints[0].TLSRequired; got != tc.want {
				t.Errorf("MAIL answered %d %q: judged %q, want %q", tc.reply.Code, tc.reply.Text(), got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		test *probe.TLSRequiredTest
		want report.TLSRequired
	}{
		{"no reply to MAIL", &probe.TLSRequiredTest{}, report.TLSRequiredUnknown},
		{"not tested", nil, report.TLSRequiredNotTested},
	} {
		r := rulesResult("127.0.0.1", nil, 0)
		r.TLSRequired = tc.test
		if got := report.Judge([]probe.Result{r}, report.Expect{}, rulesFrom).Endpoints[0].TLSRequired; got != tc.want {
			t.Errorf("%s: judged %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestExpiryThresholds judges one leaf at instants a whole number of days
// and one hour before its NotAfter: "critical below N days" means N days
// left is no longer critical, and the thresholds come from Expect, not from
// the defaults.
func TestExpiryThresholds(t *testing.T) {
	chain := rulesLeaf(t)
	notAfter := chain.Leaf().NotAfter
	cases := []struct {
		daysLeft           int
		warnDays, critDays int
		want               report.Status
		message            string
	}{
		{daysLeft: 2, warnDays: 20, critDays: 10, want: report.Critical, message: "in 2 days (critical below 10)"},
		{daysLeft: 9, warnDays: 20, critDays: 10, want: report.Critical, message: "in 9 days (critical below 10)"},
		{daysLeft: 10, warnDays: 20, critDays: 10, want: report.Warning, message: "in 10 days (warning below 20)"},
		{daysLeft: 19, warnDays: 20, critDays: 10, want: report.Warning, message: "in 19 days (warning below 20)"},
		{daysLeft: 20, warnDays: 20, critDays: 10, want: report.OK, message: "in 20 days"},
		// The defaults, 30 and 7, apply when neither is given.
		{daysLeft: 6, want: report.Critical, message: "in 6 days (critical below 7)"},
		{daysLeft: 7, want: report.Warning, message: "in 7 days (warning below 30)"},
		{daysLeft: 30, want: report.OK, message: "in 30 days"},
	}
	for _, tc := range cases {
		now := notAfter.Add(-time.Duration(tc.daysLeft)*24*time.Hour - time.Hour)
		s := report.Judge([]probe.Result{rulesResult("127.0.0.1", chain, tls.VersionTLS13)},
			report.Expect{WarnDays: tc.warnDays, CritDays: tc.critDays}, now)
		c := judgedCheck(t, s, report.CheckExpiry)
		if c.Status != tc.want || !strings.HasSuffix(c.Message, tc.message) {
			t.Errorf("%d days left, warn %d, crit %d: %s %q, want %s ending %q", tc.daysLeft, tc.warnDays, tc.critDays, c.Status, c.Message, tc.want, tc.message)
		}
		// The self-signed leaf is untrusted, a warning on port 25: only a
		// critical expiry shows in the endpoint's status.
		if tc.want == report.Critical && s.Endpoints[0].Status != report.Critical {
			t.Errorf("%d days left: endpoint %s, want %s", tc.daysLeft, s.Endpoints[0].Status, tc.want)
		}
	}

	for _, tc := range []struct {
		name    string
		now     time.Time
		message string
	}{
		{"expired", notAfter.Add(time.Second), "expired on "},
		{"not yet valid", chain.Leaf().NotBefore.Add(-time.Second), "not yet valid"},
	} {
		s := report.Judge([]probe.Result{rulesResult("127.0.0.1", chain, tls.VersionTLS13)}, report.Expect{}, tc.now)
		if c := judgedCheck(t, s, report.CheckExpiry); c.Status != report.Critical || !strings.HasPrefix(c.Message, tc.message) {
			t.Errorf("%s: %s %q, want CRITICAL starting %q", tc.name, c.Status, c.Message, tc.message)
		}
	}
}

// TestProtocolBelowTLS12Warns: RFC 8996 deprecates TLS 1.0 and 1.1.
func TestProtocolBelowTLS12Warns(t *testing.T) {
	chain := rulesLeaf(t)
	now := rulesFrom.AddDate(0, 6, 0)
	for _, tc := range []struct {
		version uint16
		want    report.Status
	}{
		{tls.VersionTLS10, report.Warning},
		{tls.VersionTLS11, report.Warning},
		{tls.VersionTLS12, report.OK},
		{tls.VersionTLS13, report.OK},
	} {
		s := report.Judge([]probe.Result{rulesResult("127.0.0.1", chain, tc.version)}, report.Expect{}, now)
		c := judgedCheck(t, s, report.CheckProtocol)
		if c.Status != tc.want {
			t.Errorf("%s: %s %q, want %s", tls.VersionName(tc.version), c.Status, c.Message, tc.want)
		}
		if tc.want == report.Warning && !strings.Contains(c.Message, "below TLS 1.2") {
			t.Errorf("%s: message %q does not say it is below TLS 1.2", tls.VersionName(tc.version), c.Message)
		}
	}
}

// TestThumbprintForms: the forms Get-ExchangeCertificate, certutil and
// browsers print (colons, spaces, dashes, any case) are one thumbprint;
// only 40 (SHA-1) and 64 (SHA-256) hex digits are thumbprints at all. The
// expected values are computed here with crypto/sha1 and crypto/sha256, not
// with the functions under test.
func TestThumbprintForms(t *testing.T) {
	chain, another := rulesLeaf(t), rulesLeaf(t)
	leaf := chain.Leaf()
	sum1 := sha1.Sum(leaf.Raw)
	sum256 := sha256.Sum256(leaf.Raw)
	hex1, hex256 := hex.EncodeToString(sum1[:]), hex.EncodeToString(sum256[:])
	separated := func(h, sep string) string {
		var pairs []string
		for i := 0; i < len(h); i += 2 {
			pairs = append(pairs, h[i:i+2])
		}
		return strings.Join(pairs, sep)
	}
	now := rulesFrom.AddDate(0, 6, 0)
	for _, tc := range []struct{ input, kind string }{
		{hex1, "SHA-1"},
		{strings.ToUpper(hex1), "SHA-1"},
		{separated(hex1, ":"), "SHA-1"},
		{separated(hex1, "-"), "SHA-1"},
		{separated(strings.ToUpper(hex1), " "), "SHA-1"},
		{"  " + hex1 + "\t", "SHA-1"},
		{separated(hex256, "-"), "SHA-256"},
		{separated(hex256, ":"), "SHA-256"},
	} {
		tp, err := report.ParseThumbprint(tc.input)
		if err != nil {
			t.Errorf("ParseThumbprint(%q): %v", tc.input, err)
			continue
		}
		want := strings.ToUpper(hex1)
		if tc.kind == "SHA-256" {
			want = strings.ToUpper(hex256)
		}
		if tp.String() != want {
			t.Errorf("ParseThumbprint(%q) = %s, want %s", tc.input, tp, want)
		}
		s := report.Judge([]probe.Result{rulesResult("127.0.0.1", chain, tls.VersionTLS13)}, report.Expect{Thumbprint: tp}, now)
		if c := judgedCheck(t, s, report.CheckThumbprint); c.Status != report.OK || c.Message != tc.kind+" matches "+want {
			t.Errorf("thumbprint %q against its own leaf: %s %q, want OK %q", tc.input, c.Status, c.Message, tc.kind+" matches "+want)
		}
		other := report.Judge([]probe.Result{rulesResult("127.0.0.1", another, tls.VersionTLS13)}, report.Expect{Thumbprint: tp}, now)
		if c := judgedCheck(t, other, report.CheckThumbprint); c.Status != report.Critical || !strings.Contains(c.Message, "differs from the expected "+want) {
			t.Errorf("thumbprint %q against another leaf: %s %q, want CRITICAL naming %s", tc.input, c.Status, c.Message, want)
		}
	}

	digits := strings.Repeat("0123456789abcdef", 5) // 80 hex digits
	for n := 1; n <= len(digits); n++ {
		_, err := report.ParseThumbprint(digits[:n])
		if valid := n == 40 || n == 64; valid != (err == nil) {
			t.Errorf("ParseThumbprint of %d hex digits: error %v, want accepted only at 40 and 64", n, err)
		}
	}
	for _, bad := range []string{"", "not hex at all", strings.Repeat("g", 40), hex1[:38] + "x1", hex1 + "."} {
		if _, err := report.ParseThumbprint(bad); err == nil {
			t.Errorf("ParseThumbprint(%q) accepted", bad)
		}
	}
}

// TestUnobservedAddressNeverDiffers: an address where no certificate or no
// EHLO reply was observed (handshake failed, connection dropped) has
// nothing to compare; it must not be named as presenting another
// certificate, nor as the address where STARTTLS differs.
func TestUnobservedAddressNeverDiffers(t *testing.T) {
	shared, renewed := rulesLeaf(t), rulesLeaf(t)
	now := rulesFrom.AddDate(0, 6, 0)
	noCertificate := func(addr string) probe.Result {
		r := rulesResult(addr, nil, 0)
		r.Error = &probe.Error{Phase: probe.PhaseHandshake, Err: errors.New("remote error: tls: handshake failure")}
		return r
	}
	noEHLO := func(addr string) probe.Result {
		r := rulesResult(addr, nil, 0)
		r.EHLO, r.STARTTLSOffered, r.STARTTLSReply = nil, false, nil
		r.Error = &probe.Error{Phase: probe.PhaseEHLO, Err: errors.New("connection reset by peer")}
		return r
	}
	consistency := func(s report.Summary) []string {
		var msgs []string
		for _, ep := range s.Endpoints {
			for _, c := range ep.Checks {
				if c.ID == report.CheckConsistency {
					msgs = append(msgs, c.Message)
				}
			}
		}
		return msgs
	}

	for _, tc := range []struct {
		name    string
		results []probe.Result
	}{
		{"no certificate at one address", []probe.Result{
			rulesResult("127.0.0.2", shared, tls.VersionTLS13), noCertificate("127.0.0.3"), rulesResult("127.0.0.4", shared, tls.VersionTLS13)}},
		{"no EHLO reply at one address", []probe.Result{
			rulesResult("127.0.0.2", shared, tls.VersionTLS13), noEHLO("127.0.0.3"), rulesResult("127.0.0.4", shared, tls.VersionTLS13)}},
	} {
		if msgs := consistency(report.Judge(tc.results, report.Expect{}, now)); len(msgs) != 0 {
			t.Errorf("%s: consistency checks %q, want none: nothing observed there differs", tc.name, msgs)
		}
	}

	// One address presents an older certificate: only it is named, not the
	// address that presented nothing.
	older := rulesResult("127.0.0.2", shared, tls.VersionTLS13)
	s := report.Judge([]probe.Result{older, noCertificate("127.0.0.3"), rulesResult("127.0.0.4", renewed, tls.VersionTLS13), rulesResult("127.0.0.5", renewed, tls.VersionTLS13)}, report.Expect{}, now)
	msgs := consistency(s)
	want := "the 4 addresses of mail.rules.test port 25 differ: 127.0.0.2 presents another leaf certificate than the other addresses (see the consistency table)"
	if len(msgs) != 4 {
		t.Fatalf("consistency checks %q, want one on each of the 4 addresses", msgs)
	}
	for _, m := range msgs {
		if m != want {
			t.Errorf("consistency check %q, want %q", m, want)
		}
	}
}

// TestConsistencyReference: which address is named as differing. Without a
// certificate clients accept (these are self-signed), the one most
// addresses present is the reference, and on a tie the one that expires
// last; for STARTTLS the majority, and on a tie the address without it is
// the odd one, in whatever order the addresses come.
func TestConsistencyReference(t *testing.T) {
	until := func(notAfter time.Time) *probetest.Chain {
		chain, err := probetest.SelfSigned(probetest.Spec{CommonName: rulesHost, DNSNames: []string{rulesHost}, NotBefore: rulesFrom, NotAfter: notAfter})
		if err != nil {
			t.Fatal(err)
		}
		return chain
	}
	later, earlier := until(rulesFrom.AddDate(2, 0, 0)), until(rulesFrom.AddDate(1, 0, 0))
	shared := rulesLeaf(t)
	now := rulesFrom.AddDate(0, 6, 0)
	withTLS := func(addr string, chain *probetest.Chain) probe.Result {
		return rulesResult(addr, chain, tls.VersionTLS13)
	}
	withoutSTARTTLS := func(addr string) probe.Result {
		r := rulesResult(addr, nil, 0)
		r.EHLO = &probe.Reply{Code: 250, Lines: []string{rulesHost}}
		r.STARTTLSOffered, r.STARTTLSReply = false, nil
		return r
	}
	for _, tc := range []struct {
		name    string
		results []probe.Result
		differ  string
	}{
		{"a tie: the one that expires first differs", []probe.Result{withTLS("127.0.0.2", later), withTLS("127.0.0.3", earlier)},
			"127.0.0.3 presents another leaf certificate than the other addresses"},
		{"a tie in the other order", []probe.Result{withTLS("127.0.0.2", earlier), withTLS("127.0.0.3", later)},
			"127.0.0.2 presents another leaf certificate than the other addresses"},
		{"the majority wins over a later expiry", []probe.Result{withTLS("127.0.0.2", earlier), withTLS("127.0.0.3", earlier), withTLS("127.0.0.4", later)},
			"127.0.0.4 presents another leaf certificate than the other addresses"},
		{"two addresses differ from the majority", []probe.Result{withTLS("127.0.0.2", later), withTLS("127.0.0.3", earlier), withTLS("127.0.0.4", later), withTLS("127.0.0.5", shared)},
			"127.0.0.3, 127.0.0.5 present another leaf certificate than the other addresses"},
		{"a STARTTLS tie, offered first", []probe.Result{withTLS("127.0.0.2", shared), withoutSTARTTLS("127.0.0.3")},
			"STARTTLS is not offered on 127.0.0.3 alone"},
		{"the STARTTLS majority does without it", []probe.Result{withoutSTARTTLS("127.0.0.2"), withoutSTARTTLS("127.0.0.3"), withTLS("127.0.0.4", shared)},
			"STARTTLS is offered on 127.0.0.4 alone"},
	} {
		s := report.Judge(tc.results, report.Expect{}, now)
		want := fmt.Sprintf("the %d addresses of %s port 25 differ: %s (see the consistency table)", len(tc.results), rulesHost, tc.differ)
		for _, ep := range s.Endpoints {
			var got []string
			for _, c := range ep.Checks {
				if c.ID == report.CheckConsistency {
					got = append(got, c.Message)
				}
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s has consistency checks %q, want one: %q", tc.name, ep.Result.Address, got, want)
			}
		}
	}
}

// TestSerialKeepsItsLeadingZero: a serial whose first byte has the high
// bit set is encoded with a leading zero byte, and Windows shows it with
// that 00; math/big's bytes drop it.
func TestSerialKeepsItsLeadingZero(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := new(big.Int).SetString("80112233445566778899AABBCCDDEEFF", 16)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: rulesHost}, DNSNames: []string{rulesHost},
		NotBefore: rulesFrom, NotAfter: rulesFrom.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s := report.Judge([]probe.Result{rulesResult("127.0.0.1", &probetest.Chain{Certs: []*x509.Certificate{leaf}, Key: key}, tls.VersionTLS13)}, report.Expect{}, rulesFrom.AddDate(0, 6, 0))
	if got, want := s.Endpoints[0].Leaf().Serial, "0080112233445566778899AABBCCDDEEFF"; got != want {
		t.Errorf("serial %s, want %s", got, want)
	}
}

// TestExpiredDaysAgo: the first day after expiry is "1 day ago", then
// "2 days ago".
func TestExpiredDaysAgo(t *testing.T) {
	chain := rulesLeaf(t)
	notAfter := chain.Leaf().NotAfter
	for _, tc := range []struct {
		after time.Duration
		ago   string
	}{{time.Hour, "(1 day ago)"}, {25 * time.Hour, "(2 days ago)"}} {
		s := report.Judge([]probe.Result{rulesResult("127.0.0.1", chain, tls.VersionTLS13)}, report.Expect{}, notAfter.Add(tc.after))
		if c := judgedCheck(t, s, report.CheckExpiry); c.Status != report.Critical || !strings.HasSuffix(c.Message, tc.ago) {
			t.Errorf("%s after expiry: %s %q, want CRITICAL ending %q", tc.after, c.Status, c.Message, tc.ago)
		}
	}
}

// TestConnectCheckAfterAFailedHandshake: a failed handshake does not undo
// the connection, nor, on a STARTTLS port, the greeting before it.
func TestConnectCheckAfterAFailedHandshake(t *testing.T) {
	r := rulesResult("127.0.0.1", nil, 0)
	r.Error = &probe.Error{Phase: probe.PhaseHandshake, Err: errors.New("remote error: tls: handshake failure")}
	c := judgedCheck(t, report.Judge([]probe.Result{r}, report.Expect{}, rulesFrom), report.CheckConnect)
	if want := "connected to 127.0.0.1, greeted with 220"; c.Status != report.OK || c.Message != want {
		t.Errorf("connect check: %s %q, want OK %q", c.Status, c.Message, want)
	}
}
