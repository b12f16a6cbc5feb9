package report

import (
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// TestRecognizeSoftware runs recognizeServer on banners and EHLO replies as
// the real servers send them; the comments next to the patterns in server.go
// say where each was read.
func TestRecognizeSoftware(t *testing.T) {
	t.Parallel()
	ehlo := func(kws ...string) *probe.Reply {
		return &probe.Reply{Code: 250, Lines: append([]string{"mx Hello"}, kws...)}
	}
	tests := []struct {
		name     string
		banner   []string
		ehlo     *probe.Reply
		software Software
		evidence string
	}{
		{"OpenSMTPD", []string{"mail.interop.test ESMTP OpenSMTPD"}, nil, SoftwareOpenSMTPD, "banner"},
		{"Haraka with its version", []string{"mx.contoso.test ESMTP Haraka/3.3.4 ready"}, nil, SoftwareHaraka, "banner"},
		{"Haraka without", []string{"redcross ESMTP Haraka ready"}, nil, SoftwareHaraka, "banner"},
		{"Haraka 2.8", []string{"redcross ESMTP Haraka 2.8.8 ready"}, nil, SoftwareHaraka, "banner"},
		{"Dovecot submission on Debian", []string{"mail.contoso.test Dovecot (Debian) ready."}, nil, SoftwareDovecot, "banner"},
		{"Dovecot submission upstream", []string{"mail.contoso.test Dovecot ready."}, nil, SoftwareDovecot, "banner"},
		{"Mailpit", []string{"mailpit Mailpit ESMTP Service ready"}, nil, SoftwareMailpit, "banner"},
		{"Mailpit with a label", []string{"mailpit.contoso.test Mailpit (staging) ESMTP Service ready"}, nil, SoftwareMailpit, "banner"},
		{"aiosmtpd", []string{"vm.contoso.test Python SMTP 1.4.3"}, nil, SoftwareAiosmtpd, "banner"},
		{"aiosmtpd, a version from 0", []string{"vm.contoso.test Python SMTP 0.9"}, nil, SoftwareAiosmtpd, "banner"},
		{"aiosmtpd, a version from 9", []string{"vm.contoso.test Python SMTP 9.0"}, nil, SoftwareAiosmtpd, "banner"},
		{"chasquid", []string{"mail.contoso.test ESMTP chasquid"}, nil, SoftwareChasquid, "banner"},
		{"Exchange by its EHLO keywords", []string{"mail.contoso.test ESMTP ready"}, ehlo("X-ANONYMOUSTLS", "X-EXPS GSSAPI NTLM", "STARTTLS"), SoftwareExchange, "X-ANONYMOUSTLS"},
		{"Courier by XVERP", []string{"mail.contoso.test ESMTP"}, ehlo("XVERP=Courier", "XEXDATA", "PIPELINING", "STARTTLS"), SoftwareCourier, "XVERP=Courier"},
		{"Google", []string{"mx.google.com ESMTP 38308e7fff4ca-2fb247434a1si5559721fa.352 - gsmtp"}, ehlo("SIZE 157286400", "8BITMIME", "STARTTLS"), SoftwareGoogle, "banner"},
		{"Exchange Online Protection", []string{"BL2NAM06FT004.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Thu, 26 Sep 2019 10:51:20 +0000"}, ehlo("SIZE 49283072", "PIPELINING", "STARTTLS"), SoftwareExchangeOnline, "banner host"},
		{"Exchange Online submission", []string{"DB4PR01CA006.outlook.office365.com Microsoft ESMTP MAIL Service ready at Fri, 16 May 2014 07:54:36 +0000"}, nil, SoftwareExchangeOnline, "banner host"},
		{"Proofpoint", []string{"mx0b-00000d03.pphosted.com ESMTP mfa-m0214089"}, nil, SoftwareProofpoint, "banner host"},
		{"Mimecast", []string{"eu-smtp-inbound-1.mimecast.com ESMTP; Sat, 27 Jul 2024 09:26:38 +0100"}, nil, SoftwareMimecast, "banner host"},
		{"Cisco Secure Email", []string{"esa1.hgst.iphmx.com ESMTP"}, nil, SoftwareCisco, "banner host"},
		{"Barracuda's receiving server", []string{"mx11.us-east-2b.ess.aws.cudaops.com ESMTP"}, nil, SoftwareBarracuda, "banner host"},
		{"Barracuda's MX name", []string{"d123456a.ess.barracudanetworks.com ESMTP"}, nil, SoftwareBarracuda, "banner host"},
		{"Barracuda's sending server", []string{"outbound-ip23b.ess.barracuda.com ESMTP"}, nil, SoftwareBarracuda, "banner host"},
		{"host name with a trailing dot", []string{"esa1.hgst.iphmx.com. ESMTP"}, nil, SoftwareCisco, "banner host"},
		{"multi-line banner", []string{"mail.contoso.test", "ESMTP Postfix (Debian/GNU)"}, nil, SoftwarePostfix, "banner"},

		// A product's name in the host name is not the product.
		{"Postfix on a host named sendmail", []string{"sendmail.example.net ESMTP Postfix"}, nil, SoftwarePostfix, "banner"},
		{"Sendmail on a host named postfix", []string{"postfix.example.net ESMTP Sendmail 8.17.1/8.17.1; Sat, 15 Jun 2030 12:00:00 GMT"}, nil, SoftwareSendmail, "banner"},
		{"host named exim", []string{"exim.example.net ESMTP ready"}, nil, SoftwareUnknown, ""},
		{"host named haraka", []string{"haraka.example.net ESMTP ready"}, nil, SoftwareUnknown, ""},
		{"host named chasquid, Exim", []string{"chasquid.example.net ESMTP Exim 4.96 Sat, 15 Jun 2030 12:00:00 +0000"}, nil, SoftwareExim, "banner"},
		{"host named dovecot", []string{"dovecot.example.net ESMTP Postfix"}, nil, SoftwarePostfix, "banner"},
		{"host named mimecast", []string{"mimecast.example.net ESMTP"}, nil, SoftwareUnknown, ""},
		{"a gateway's domain inside another", []string{"mx.pphosted.com.example.net ESMTP"}, nil, SoftwareUnknown, ""},
		{"a gateway's domain as a suffix of a label", []string{"mx.notmimecast.com ESMTP"}, nil, SoftwareUnknown, ""},
		{"the gateway's bare domain", []string{"iphmx.com ESMTP"}, nil, SoftwareUnknown, ""},
		{"Barracuda's ops domain outside its email service", []string{"vpn.cudaops.com ESMTP"}, nil, SoftwareUnknown, ""},
		{"host named barracuda", []string{"barracuda.example.net ESMTP"}, nil, SoftwareUnknown, ""},
		{"a gateway's domain after the host", []string{"mx.contoso.test ESMTP relay for mx0a.pphosted.com"}, nil, SoftwareUnknown, ""},
		{"Google's name on another server", []string{"mx.google.com.example.net ESMTP Postfix"}, nil, SoftwarePostfix, "banner"},
		{"gsmtp in a host name", []string{"gsmtp.example.net ESMTP"}, nil, SoftwareUnknown, ""},
		{"Exchange's words on Microsoft's domain only by its host", []string{"mail.protection.outlook.com.example.net Microsoft ESMTP MAIL Service ready"}, nil, SoftwareExchange, "banner"},
		{"Python's old smtpd is not aiosmtpd", []string{"vm Python SMTP proxy version 0.3"}, nil, SoftwareUnknown, ""},
		{"sendmail inside another word", []string{"mx.contoso.test ESMTP notsendmail ready"}, nil, SoftwareUnknown, ""},

		// Every go-smtp server, this project's probetest servers among
		// them, greets alike: unknown, unless it advertises maddy's
		// defaults, as maddy 0.8.1 does (its EHLO reply, word for word).
		{"go-smtp", []string{"mx.contoso.test ESMTP Service Ready"}, &probe.Reply{Code: 250, Lines: []string{"Hello mx.contoso.test", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS", "SMTPUTF8"}}, SoftwareUnknown, ""},
		{"maddy with its defaults", []string{"mx.contoso.test ESMTP Service Ready"}, maddyEHLO("SIZE 33554432", "LIMITS RCPTMAX=20000"), SoftwareMaddy, "go-smtp greeting"},
		{"maddy with max_recipients changed", []string{"mx.contoso.test ESMTP Service Ready"}, maddyEHLO("SIZE 33554432", "LIMITS RCPTMAX=500"), SoftwareUnknown, ""},
		{"maddy with max_message_size changed", []string{"mx.contoso.test ESMTP Service Ready"}, maddyEHLO("SIZE 52428800", "LIMITS RCPTMAX=20000"), SoftwareUnknown, ""},
		{"maddy's limits behind another greeting", []string{"mx.contoso.test ESMTP ready"}, maddyEHLO("SIZE 33554432", "LIMITS RCPTMAX=20000"), SoftwareUnknown, ""},
		{"Postfix with maddy's limits", []string{"mx.contoso.test ESMTP Postfix"}, maddyEHLO("SIZE 33554432", "LIMITS RCPTMAX=20000"), SoftwarePostfix, "banner"},
		// The banner's word stands over Courier's EHLO keyword.
		{"Exim's banner beside XVERP=Courier", []string{"mail.contoso.test ESMTP Exim 4.96"}, ehlo("XVERP=Courier", "STARTTLS"), SoftwareExim, "banner"},
		// XVERP without Courier's value is Postfix's extension.
		{"Postfix's XVERP", []string{"mx.contoso.test ESMTP"}, ehlo("XVERP"), SoftwareUnknown, ""},
	}
	for _, tc := range tests {
		r := probe.Result{Banner: &probe.Reply{Code: 220, Lines: tc.banner}, EHLO: tc.ehlo}
		s := returnsWithin(t, 5*time.Second, func() Server { return recognizeServer(&r) })
		evidence := ""
		if len(s.Evidence) > 0 {
			evidence = s.Evidence[0]
		}
		if s.Software != tc.software || evidence != tc.evidence {
			t.Errorf("%s: %+v, want %s from %q", tc.name, s, tc.software, tc.evidence)
		}
	}
}

// TestBannerWordsMatchWholeWordsOnly checks the banner patterns against text
// where the product's name first appears inside a longer word or host name:
// the matcher must look past that occurrence, to the next one or to the end.
func TestBannerWordsMatchWholeWordsOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		phrase, text string
		want         bool
	}{
		{"sendmail", "esmtp notsendmail ready", false},
		{"sendmail", "esmtp sendmailer ready", false},
		{"sendmail", "xsendmail esmtp sendmail 8.17.1", true},
		{"sendmail", "sendmail.example.net esmtp sendmail", true},
		{"sendmail", "sendmail.example.net esmtp sendmail-ng", false},
		{"esmtp postfix", "esmtp postfixes esmtp postfix", true},
		{"esmtp postfix", "esmtp postfix_2 esmtp postfix-3", false},
		{"esmtp postfix", "esmtp postfix", true},
		{"esmtp postfix", "esmtp post", false},
		{"esmtp exim", "(esmtp exim)", true},
		// Letters and digits, the ends of each range among them, join a
		// word; other punctuation does not.
		{"sendmail", "esmtp asendmail", false},
		{"sendmail", "esmtp zsendmail", false},
		{"sendmail", "esmtp 0sendmail", false},
		{"sendmail", "esmtp 9sendmail", false},
		{"sendmail", "esmtp sendmaila", false},
		{"sendmail", "esmtp sendmailz", false},
		{"sendmail", "esmtp sendmail0", false},
		{"sendmail", "esmtp sendmail9", false},
		{"sendmail", "esmtp /sendmail:", true},
		{"sendmail", "esmtp @sendmail{", true},
	}
	for _, tc := range tests {
		got := returnsWithin(t, 5*time.Second, func() bool { return containsWords(tc.phrase)(tc.text) })
		if got != tc.want {
			t.Errorf("%q in %q: %v, want %v", tc.phrase, tc.text, got, tc.want)
		}
	}
}

// TestRecognizeServerWithoutABanner reads the TLS-required test's banner
// when the main probe got none, and makes nothing of a banner with no text
// or of none at all. A banner of asterisks, as Cisco's mask-banner leaves
// it, hides the host name too; a few asterisks in a banner do not make it
// masked.
func TestRecognizeServerWithoutABanner(t *testing.T) {
	t.Parallel()
	postfix := &probe.Reply{Code: 220, Lines: []string{"mail.contoso.test ESMTP Postfix"}}
	tests := []struct {
		name     string
		result   probe.Result
		software Software
		fqdn     string
		masked   bool
	}{
		{"banner from the TLS-required test", probe.Result{TLSRequired: &probe.TLSRequiredTest{Banner: postfix}}, SoftwarePostfix, "mail.contoso.test", false},
		{"no banner anywhere", probe.Result{}, SoftwareUnknown, "", false},
		{"no banner, a TLS-required test without one", probe.Result{TLSRequired: &probe.TLSRequiredTest{}}, SoftwareUnknown, "", false},
		{"a banner without text", probe.Result{Banner: &probe.Reply{Code: 220}}, SoftwareUnknown, "", false},
		{"masked, eight asterisks", probe.Result{Banner: &probe.Reply{Code: 220, Lines: []string{"****2**0**"}}}, SoftwareUnknown, "", true},
		{"masked, long", probe.Result{Banner: &probe.Reply{Code: 220, Lines: []string{"******************************0*0*2******"}}}, SoftwareUnknown, "", true},
		{"seven asterisks", probe.Result{Banner: &probe.Reply{Code: 220, Lines: []string{"***2**0**"}}}, SoftwareUnknown, "***2**0**", false},
	}
	for _, tc := range tests {
		s := returnsWithin(t, 5*time.Second, func() Server { return recognizeServer(&tc.result) })
		if s.Software != tc.software || s.FQDN != tc.fqdn || s.Masked != tc.masked {
			t.Errorf("%s: %+v, want %s, FQDN %q, masked %v", tc.name, s, tc.software, tc.fqdn, tc.masked)
		}
	}
}

// returnsWithin runs f and fails the test when it has not returned within
// d. A matcher whose search stops advancing spins forever, and the test
// binary would wait for it until go test's timeout; failing here ends the
// test while the stuck goroutine is left behind. The callers give 5 s for
// microseconds of work: room for a loaded machine, and still far short of
// gremlins' timeout.
func returnsWithin[T any](t *testing.T, d time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("still running after %s", d)
		var zero T
		return zero
	}
}

// TestExchangeOnlineIsNotOnPremises judges a port 25 without STARTTLS behind
// Exchange's banner on-premises and at Exchange Online Protection: only the
// first gets a receive connector and Exchange Management Shell fixes, as
// Microsoft's hosted service has neither for its customers to run.
func TestExchangeOnlineIsNotOnPremises(t *testing.T) {
	t.Parallel()
	judge := func(banner string) Endpoint {
		r := probe.Result{
			Endpoint: probe.Endpoint{Target: "mx.contoso.test:25", Host: "mx.contoso.test", Port: 25},
			Address:  "127.0.0.1",
			Mode:     probe.ModeSTARTTLS,
			Banner:   &probe.Reply{Code: 220, Lines: []string{banner}},
			EHLO:     &probe.Reply{Code: 250, Lines: []string{"mx Hello", "SIZE 49283072", "PIPELINING"}},
		}
		sum := Judge([]probe.Result{r}, Expect{}, time.Now())
		if len(sum.Endpoints) != 1 {
			t.Fatalf("%d endpoints", len(sum.Endpoints))
		}
		return sum.Endpoints[0]
	}
	cmdlets := func(ep Endpoint) []string {
		var lines []string
		for _, d := range ep.Diagnoses {
			for _, l := range d.Fix {
				if strings.Contains(l, "ReceiveConnector") || strings.Contains(l, "ExchangeCertificate") {
					lines = append(lines, l)
				}
			}
		}
		return lines
	}

	onPrem := judge("EXCH01.contoso.test Microsoft ESMTP MAIL Service ready at Thu, 26 Sep 2030 10:51:20 +0000")
	if onPrem.Server.Software != SoftwareExchange || onPrem.Connector != "Default Frontend EXCH01" || len(cmdlets(onPrem)) == 0 {
		t.Errorf("on-premises: %s, connector %q, cmdlets %q; want exchange, Default Frontend EXCH01 and cmdlets", onPrem.Server.Software, onPrem.Connector, cmdlets(onPrem))
	}
	online := judge("BL2NAM06FT004.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Thu, 26 Sep 2030 10:51:20 +0000")
	if online.Server.Software != SoftwareExchangeOnline || online.Connector != "" || len(cmdlets(online)) != 0 {
		t.Errorf("Exchange Online: %s, connector %q, cmdlets %q; want exchange-online, none and none", online.Server.Software, online.Connector, cmdlets(online))
	}
}

// maddyEHLO is maddy 0.8.1's EHLO reply (scripts/interop TestMaddy) with its
// size and limits lines as given.
func maddyEHLO(size, limits string) *probe.Reply {
	return &probe.Reply{Code: 250, Lines: []string{"Hello probe.test", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS", "SMTPUTF8", size, limits}}
}
