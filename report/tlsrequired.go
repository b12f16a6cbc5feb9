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

// judgeTLSRequired reads the reply to MAIL FROM:<> sent before STARTTLS:
//   - 451 5.7.3 "STARTTLS is required to send mail" (Exchange's
//     RequireTLS), 530 5.7.0 "Must issue a STARTTLS command first"
//     (Postfix at smtpd_tls_security_level = encrypt), or any refusal that
//     names TLS: required;
//   - 250: plaintext mail is accepted;
//   - anything else, such as Exchange's 530 5.7.1 "Client was not
//     authenticated" on 587, or no reply at all: unknown, because the
//     server refused for another reason before TLS came up.
func judgeTLSRequired(t *probe.TLSRequiredTest) TLSRequired {
	if t == nil {
		return TLSRequiredNotTested
	}
	m := t.Mail
	switch {
	case m == nil:
		return TLSRequiredUnknown
	case m.Code == 250:
		return TLSRequiredFalse
	case m.Code >= 400 && strings.Contains(strings.ToUpper(m.Text()), "TLS"):
		return TLSRequiredTrue
	case m.Code == 451 && m.EnhancedCode() == "5.7.3":
		// Exchange's RequireTLS code, whatever language its text is in.
		// 530 5.7.0 alone is not enough: RFC 4954 uses it for
		// "Authentication required".
		return TLSRequiredTrue
	}
	return TLSRequiredUnknown
}
