package render

import (
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// TestServerLineNamesTheSoftware judges a probe that read only a banner and
// an EHLO reply, and checks the text report's "server" line names the
// software by its own name, and stays out of the way when it is unknown.
func TestServerLineNamesTheSoftware(t *testing.T) {
	t.Parallel()
	tests := []struct {
		banner string
		ehlo   []string
		want   string
	}{
		{"mail.contoso.test ESMTP OpenSMTPD", nil, "OpenSMTPD (from banner)"},
		{"mx.contoso.test ESMTP Haraka/3.3.4 ready", nil, "Haraka (from banner)"},
		{"mail.contoso.test Dovecot (Debian) ready.", nil, "Dovecot submission (from banner)"},
		{"mailpit Mailpit ESMTP Service ready", nil, "Mailpit (from banner)"},
		{"vm.contoso.test Python SMTP 1.4.3", nil, "aiosmtpd (from banner)"},
		{"mail.contoso.test ESMTP chasquid", nil, "chasquid (from banner)"},
		{"mail.contoso.test ESMTP", []string{"XVERP=Courier"}, "Courier (from XVERP=Courier)"},
		{"mx.google.com ESMTP a1si123 - gsmtp", nil, "Google (Gmail, Google Workspace) (from banner)"},
		{"BL2NAM06FT004.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready at Thu, 26 Sep 2019 10:51:20 +0000", nil, "Microsoft Exchange Online (Microsoft 365) (from banner host)"},
		{"mx0b-00000d03.pphosted.com ESMTP mfa-m0214089", nil, "Proofpoint (from banner host)"},
		{"eu-smtp-inbound-1.mimecast.com ESMTP", nil, "Mimecast (from banner host)"},
		{"esa1.hgst.iphmx.com ESMTP", nil, "Cisco Secure Email (from banner host)"},
		{"mx-inbound22-18.eu-west-2b.ess.aws.cudaops.com ESMTP", nil, "Barracuda Email Gateway Defense (from banner host)"},
		{"sendmail.example.net ESMTP Postfix", nil, "Postfix (from banner)"},
		{"mx.contoso.test ESMTP Service Ready", nil, ""},
	}
	for _, tc := range tests {
		res := probe.Result{
			Endpoint: probe.Endpoint{Target: "mx.contoso.test:2500", Host: "mx.contoso.test", Port: 2500},
			Banner:   &probe.Reply{Code: 220, Lines: []string{tc.banner}},
			EHLO:     &probe.Reply{Code: 250, Lines: append([]string{"mx Hello"}, tc.ehlo...)},
		}
		sum := report.Judge([]probe.Result{res}, report.Expect{}, time.Now())
		if len(sum.Endpoints) != 1 {
			t.Fatalf("%d endpoints", len(sum.Endpoints))
		}
		if got := serverField(&sum.Endpoints[0]); got != tc.want {
			t.Errorf("%s: server line %q, want %q", tc.banner, got, tc.want)
		}
	}
}
