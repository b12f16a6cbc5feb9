package report

import (
	"testing"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// With --rcpt-test the reply to RCPT TO decides where MAIL FROM did not:
// Exim (in its RCPT ACL) and maddy accept MAIL in plaintext and refuse at
// RCPT. A recipient accepted in plaintext means TLS is not required,
// whatever the software; a refusal that is not for TLS leaves it unknown.
func TestTLSRequiredAtRCPT(t *testing.T) {
	t.Parallel()
	mailOK := []string{"250 OK"}
	tests := []struct {
		name       string
		mail, rcpt []string
		software   Software
		want       TLSRequired
		reason     string
	}{
		{"Exim refusing at RCPT for TLS", mailOK, []string{"550 Encryption required (STARTTLS)"}, SoftwareExim, TLSRequiredTrue, ""},
		{"Exchange's 451 5.7.3 at RCPT, in another language", mailOK, []string{"451 5.7.3 Verschlüsselung erforderlich"}, SoftwareUnknown, TLSRequiredTrue, ""},
		{"a recipient accepted in plaintext", mailOK, []string{"250 Accepted"}, SoftwareExim, TLSRequiredFalse, ""},
		{"a recipient accepted, unknown software", mailOK, []string{"250 2.1.5 Ok"}, SoftwareUnknown, TLSRequiredFalse, ""},
		{"the recipient refused for another reason", mailOK, []string{"550 5.1.1 <postmaster@contoso.test>: Recipient address rejected: User unknown"}, SoftwareExim, TLSRequiredUnknown, reasonRCPTRefused},
		{"the recipient refused, on software that decides at MAIL", []string{"250 2.1.0 Ok"}, []string{"554 5.7.1 Relay access denied"}, SoftwarePostfix, TLSRequiredUnknown, reasonRCPTRefused},
		{"MAIL refused for TLS, RCPT not read", []string{"530 5.7.0 Must issue a STARTTLS command first"}, []string{"250 Accepted"}, SoftwarePostfix, TLSRequiredTrue, ""},
		{"MAIL refused for another reason", []string{"530 5.7.1 Client was not authenticated"}, []string{"250 Accepted"}, SoftwareExchange, TLSRequiredUnknown, reasonOtherRefusal},
		// Below 400 nothing refuses, whatever the text says.
		{"a 250 naming TLS", mailOK, []string{"250 2.1.5 Ok, TLS would be nice"}, SoftwareExim, TLSRequiredFalse, ""},
		{"a 4xx naming TLS", mailOK, []string{"400 4.7.0 TLS first"}, SoftwareExim, TLSRequiredTrue, ""},
		// 5.7.3 counts only with Exchange's 451.
		{"550 5.7.3 without TLS in its text", mailOK, []string{"550 5.7.3 Denied"}, SoftwareExim, TLSRequiredUnknown, reasonRCPTRefused},
	}
	for _, tc := range tests {
		test := &probe.TLSRequiredTest{Mail: reporttest.ReplyOf(t, tc.mail), RCPT: reporttest.ReplyOf(t, tc.rcpt)}
		if got, reason := judgeTLSRequired(test, tc.software); got != tc.want || reason != tc.reason {
			t.Errorf("%s: %q (%q), want %q (%q)", tc.name, got, reason, tc.want, tc.reason)
		}
	}
}
