package report

import (
	"strings"

	"github.com/starttls-probe/starttls-probe/probe"
)

// TLSRequired is the verdict on whether an endpoint refuses mail in
// plaintext. It is judged here, not in probe, because the reply that means
// "required" differs between servers and a 530 "not authenticated" must not
// be read as one.
type TLSRequired string

const (
	// TLSRequiredNotTested: implicit TLS, or --no-tls-required-test.
	TLSRequiredNotTested TLSRequired = ""
	TLSRequiredTrue      TLSRequired = "true"
	TLSRequiredFalse     TLSRequired = "false"
	TLSRequiredUnknown   TLSRequired = "unknown"
)

// decidesAtMail is the software known to refuse plaintext mail at MAIL
// FROM when it requires TLS, so that a 250 there means it does not:
//   - Exchange: a connector with RequireTLS answers MAIL FROM with 451 5.7.3
//     (MailCommandHelpers.ValidateSecureState, shared/exchange-facts.md §5);
//   - Postfix: smtpd_tls_security_level = encrypt answers MAIL FROM with
//     530 5.7.0, shown by scripts/interop against a real Postfix. (A
//     reject_plaintext_session among the recipient restrictions would refuse
//     at RCPT instead; the interop test covers the documented setting.)
//
// Others, such as Exim with its deny in the RCPT ACL or maddy's
// require_tls, accept MAIL FROM and refuse at RCPT.
var decidesAtMail = map[Software]bool{SoftwareExchange: true, SoftwarePostfix: true}

// Reasons an answer is "unknown", in the words every output shows.
const (
	reasonNoReply      = "no reply to MAIL FROM:<> was read"
	reasonOtherRefusal = "refused for another reason than TLS, before TLS came up"
	reasonMaybeAtRCPT  = "not refused at MAIL FROM; a server that refuses plaintext mail only at RCPT is not tested (use --rcpt-test postmaster@DOMAIN)"
	reasonRCPTRefused  = "RCPT TO was refused for another reason than TLS (is the address one the server accepts mail for?)"
)

// judgeTLSRequired reads the replies to MAIL FROM:<> (and RCPT TO, with
// --rcpt-test, read like MAIL's) sent before STARTTLS, and says why when
// the answer is unknown:
//   - 451 5.7.3 "STARTTLS is required to send mail" (Exchange's
//     RequireTLS), 530 5.7.0 "Must issue a STARTTLS command first"
//     (Postfix at smtpd_tls_security_level = encrypt), or any refusal that
//     names TLS: required;
//   - 250: plaintext mail is accepted, where the software decides at MAIL
//     (decidesAtMail); elsewhere only when RCPT TO was accepted too;
//   - anything else, such as Exchange's 530 5.7.1 "Client was not
//     authenticated" on 587, or no reply at all: unknown, because the
//     server refused for another reason before TLS came up.
func judgeTLSRequired(t *probe.TLSRequiredTest, software Software) (TLSRequired, string) {
	if t == nil {
		return TLSRequiredNotTested, ""
	}
	m, rcpt := t.Mail, t.RCPT
	switch {
	case m == nil:
		return TLSRequiredUnknown, reasonNoReply
	case refusesForTLS(m):
		return TLSRequiredTrue, ""
	case m.Code != 250:
		return TLSRequiredUnknown, reasonOtherRefusal
	case rcpt != nil && refusesForTLS(rcpt):
		return TLSRequiredTrue, ""
	case rcpt != nil && rcpt.Code == 250:
		// A recipient accepted in plaintext: nothing refuses plaintext
		// mail before DATA, which no server refuses for TLS alone.
		return TLSRequiredFalse, ""
	case rcpt != nil:
		return TLSRequiredUnknown, reasonRCPTRefused
	case decidesAtMail[software]:
		return TLSRequiredFalse, ""
	}
	return TLSRequiredUnknown, reasonMaybeAtRCPT
}

// refusesForTLS reports whether a reply refuses for want of TLS.
func refusesForTLS(r *probe.Reply) bool {
	switch {
	case r.Code >= 400 && strings.Contains(strings.ToUpper(r.Text()), "TLS"):
		return true
	case r.Code == 451 && r.EnhancedCode() == "5.7.3":
		// Exchange's RequireTLS code, whatever language its text is in.
		// 530 5.7.0 alone is not enough: RFC 4954 uses it for
		// "Authentication required".
		return true
	}
	return false
}
