package report

import (
	"slices"
	"strings"

	"github.com/starttls-probe/starttls-probe/probe"
)

// Software is the mail server software, as far as the dialogue tells.
type Software string

const (
	SoftwareUnknown  Software = "unknown"
	SoftwareExchange Software = "exchange"
	// SoftwareExchangeOnline is Microsoft's hosted Exchange (Exchange Online
	// Protection, the MX of Microsoft 365): its banner is on-premises
	// Exchange's word for word, but it has no receive connectors an admin
	// names, and no Exchange cmdlet fixes its certificate.
	SoftwareExchangeOnline Software = "exchange-online"
	SoftwarePostfix        Software = "postfix"
	SoftwareExim           Software = "exim"
	SoftwareSendmail       Software = "sendmail"
	SoftwareOpenSMTPD      Software = "opensmtpd"
	SoftwareHaraka         Software = "haraka"
	SoftwareDovecot        Software = "dovecot"
	SoftwareMailpit        Software = "mailpit"
	SoftwareAiosmtpd       Software = "aiosmtpd"
	SoftwareChasquid       Software = "chasquid"
	SoftwareCourier        Software = "courier"
	SoftwareGoogle         Software = "google"
	SoftwareProofpoint     Software = "proofpoint"
	SoftwareMimecast       Software = "mimecast"
	SoftwareCisco          Software = "cisco-secure-email"
	SoftwareBarracuda      Software = "barracuda"
	SoftwareMaddy          Software = "maddy"
)

// Not recognised, on purpose:
//   - Barracuda's own appliance (Email Security Gateway, on premises): no
//     public banner or EHLO reply of it was found; its hosted service is
//     recognised by its hosts' domain below.

// Server is what the banner and EHLO reply say about the server.
type Server struct {
	Software Software `json:"software"`
	// Evidence lists what gave the software away ("banner", "banner host",
	// "X-EXPS", ...).
	Evidence []string `json:"evidence,omitempty"`
	// FQDN is the name in the banner, "" when there is none to read.
	FQDN string `json:"fqdn,omitempty"`
	// Masked is true when the banner was rewritten to asterisks, as a
	// firewall's SMTP inspection does: the software cannot be told from it.
	Masked bool `json:"masked,omitempty"`
}

// exchangeExtensions are EHLO keywords only Exchange advertises, as in
// Microsoft's own telnet transcript of Exchange 2016's EHLO reply
// (X-ANONYMOUSTLS, X-EXPS: https://gist.github.com/mrzcn/a399b7fdbda85209419e6dd01eff660b)
// and Exchange 2003's (XEXCH50, X-LINK2STATE: https://pastebin.com/z74qCAdQ).
var exchangeExtensions = []string{"X-ANONYMOUSTLS", "X-EXPS", "XEXCH50", "X-LINK2STATE"}

// hostedDomains are services whose banners name a host under their own
// domain, and say nothing else that tells them apart. The banner host must
// be under the domain: a name that merely contains it (pphosted.com.example.net,
// notmimecast.com) is not.
var hostedDomains = []struct {
	domain   string
	software Software
}{
	// "220 BL2NAM06FT004.mail.protection.outlook.com Microsoft ESMTP MAIL
	// Service ready at ...", the EHLO reply without Exchange's X-
	// extensions (https://pastebin.com/3vRvw0vH); customers' MX hosts are
	// <domain>.mail.protection.outlook.com (Microsoft Learn, "How to set up a
	// multifunction device or application to send email using Microsoft 365
	// or Office 365", option 3).
	{"mail.protection.outlook.com", SoftwareExchangeOnline},
	// Exchange Online's submission front end: "220
	// DB4PR01CA006.outlook.office365.com Microsoft ESMTP MAIL Service ready
	// at ..." (https://pastebin.com/b5iHTeFd).
	{"outlook.office365.com", SoftwareExchangeOnline},
	// "220 mx0b-00000d03.pphosted.com ESMTP mfa-m0214089" (Stanford CS144
	// lab handout check0, telnet to Stanford's MX).
	{"pphosted.com", SoftwareProofpoint},
	// "220 [region]-smtp-outbound-1.mimecast.com ESMTP; Sat, 27 Jul 2024
	// 09:26:38 +0100" (https://github.com/mimecast-scott/stunnel-mimecast
	// README.md); inbound hosts are [region]-smtp-inbound-1.mimecast.com.
	{"mimecast.com", SoftwareMimecast},
	// Cisco Secure Email (IronPort) greets with its host name and "ESMTP"
	// alone: "220 C680.lab.test ESMTP" (Cisco, "ESMTP Commands Supported by
	// the ESA and CES",
	// https://www.cisco.com/c/en/us/support/docs/security/email-security-appliance/214630-esmtp-commands-supported-by-the-esa-ces.html).
	// Its cloud gateways are named under iphmx.com, as they say in EHLO
	// ("Received: from esa1.hgst.iphmx.com ... EHLO esa1.hgst.iphmx.com",
	// headers of mail to vger.kernel.org lists on lore.kernel.org).
	{"iphmx.com", SoftwareCisco},
	// Barracuda Email Gateway Defense (formerly Essentials, "ESS"): its
	// receiving servers name themselves under ess.aws.cudaops.com ("Received:
	// from NAM12-BN8-obe.outbound.protection.outlook.com (...) by
	// mx11.us-east-2b.ess.aws.cudaops.com (version=TLSv1.2 ...)", and "by
	// mx-inbound22-18.eu-west-2b.ess.aws.cudaops.com", headers of mail to
	// vger.kernel.org and lists.linux.dev lists on lore.kernel.org, beside
	// its X-BESS-* headers); its sending servers under ess.barracuda.com
	// ("EHLO outbound-ip23b.ess.barracuda.com", the same headers); and
	// customers' MX hosts are <id>.ess.barracudanetworks.com
	// (https://www.captaindns.com/en/blog/barracuda-secure-email-gateway).
	{"ess.aws.cudaops.com", SoftwareBarracuda},
	{"ess.barracuda.com", SoftwareBarracuda},
	{"ess.barracudanetworks.com", SoftwareBarracuda},
}

// bannerMarks are what software writes after the host name in its greeting,
// matched in lower case against that text alone, never the host name: "220
// sendmail.example.net ESMTP Postfix" is Postfix.
var bannerMarks = []struct {
	software Software
	match    func(rest string) bool
}{
	// "220 mail1.fabrikam.com Microsoft ESMTP MAIL Service ready at ..."
	// (https://gist.github.com/mrzcn/a399b7fdbda85209419e6dd01eff660b).
	{SoftwareExchange, containsWords("microsoft esmtp mail service")},
	// smtpd_banner = $myhostname ESMTP $mail_name (postconf(5)).
	{SoftwarePostfix, containsWords("esmtp postfix")},
	// smtp_banner = $smtp_active_hostname ESMTP Exim $version_number
	// $tod_full (Exim specification, main configuration options).
	{SoftwareExim, containsWords("esmtp exim")},
	// confSMTP_LOGIN_MSG = $j Sendmail $v/$Z; $b (sendmail cf/README), to
	// which sendmail adds "ESMTP" after the host name.
	{SoftwareSendmail, containsWords("sendmail")},
	// #define SMTPD_BANNER "220 %s ESMTP OpenSMTPD" (OpenSMTPD
	// usr.sbin/smtpd/smtpd.h).
	{SoftwareOpenSMTPD, containsWords("esmtp opensmtpd")},
	// `${this.local.host} ESMTP ${this.local.info} ready`, where info is
	// "Haraka", plus "/<version>" with headers.show_version (haraka/Haraka
	// connection.js, Connection constructor and the connect hook's default
	// greeting): "ESMTP Haraka/3.3.4 ready".
	{SoftwareHaraka, func(rest string) bool {
		return strings.HasPrefix(rest, "esmtp haraka ") || strings.HasPrefix(rest, "esmtp haraka/")
	}},
	// "220 %s %s" with the host name and login_greeting, whose default is
	// PACKAGE_NAME" ready." (dovecot/core src/lib-smtp/smtp-server.c,
	// smtp_server_init, and smtp-server-connection.c); Debian builds it as
	// "Dovecot (Debian) ready.".
	{SoftwareDovecot, func(rest string) bool {
		return (strings.HasPrefix(rest, "dovecot ready") || strings.HasPrefix(rest, "dovecot (")) && strings.HasSuffix(rest, " ready.")
	}},
	// "220 %s %s ESMTP Service ready" with the host name and AppName,
	// "Mailpit" or "Mailpit (<label>)" (axllent/mailpit
	// internal/smtpd/smtpd.go, session.serve; internal/smtpd/main.go).
	{SoftwareMailpit, func(rest string) bool {
		return (strings.HasPrefix(rest, "mailpit esmtp ") || strings.HasPrefix(rest, "mailpit (")) && strings.Contains(rest, "esmtp service ready")
	}},
	// __ident__ = 'Python SMTP {}'.format(__version__), greeted as "220 {}
	// {}".format(hostname, __ident__) (aio-libs/aiosmtpd aiosmtpd/smtp.py,
	// SMTP._handle_client). The version's digit keeps Python's old smtpd
	// module ("Python SMTP proxy version 0.3") out.
	{SoftwareAiosmtpd, func(rest string) bool {
		v, ok := strings.CutPrefix(rest, "python smtp ")
		return ok && v != "" && v[0] >= '0' && v[0] <= '9'
	}},
	// c.printfLine("220 %s ESMTP chasquid", c.hostname) (albertito/chasquid
	// internal/smtpsrv/conn.go, Conn.Handle).
	{SoftwareChasquid, containsWords("esmtp chasquid")},
	// Google ends its replies with "- gsmtp": "220 mx.google.com ESMTP
	// 38308e7fff4ca-2fb247434a1si5559721fa.352 - gsmtp"; the tag is Google's
	// own (https://tamingdns.com/bounce-decoder/gmail, "the [gsmtp] tag
	// confirms the rejection came from Gmail's servers").
	{SoftwareGoogle, func(rest string) bool {
		return strings.HasPrefix(rest, "esmtp ") && strings.HasSuffix(rest, " - gsmtp")
	}},
}

// containsWords matches when phrase appears in the text as whole words.
func containsWords(phrase string) func(string) bool {
	return func(rest string) bool {
		for i := 0; ; {
			j := strings.Index(rest[i:], phrase)
			if j < 0 {
				return false
			}
			start, end := i+j, i+j+len(phrase)
			if (start == 0 || !isWordByte(rest[start-1])) && (end == len(rest) || !isWordByte(rest[end])) {
				return true
			}
			i = start + 1
		}
	}
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_'
}

// courierVERP is Courier's EHLO keyword for its own VERP extension:
// EHLO_VERP_EXTENSION "250-XVERP=Courier\r\n" (svarshavchik/courier
// courier/courier/module.esmtp/configure.ac). Courier's banner names no
// software.
const courierVERP = "XVERP=COURIER"

// maddy answers with go-smtp's server, whose greeting is "<domain> ESMTP
// Service Ready" (emersion/go-smtp conn.go, Conn.greet), as every program
// built on go-smtp does, this project's probetest servers among them. What
// tells maddy apart is its defaults, which go-smtp advertises: max_message_size
// 32 MiB and max_recipients 20000 (foxcpp/maddy
// internal/endpoint/smtp/smtp.go, Endpoint.setConfig) become "SIZE 33554432"
// and "LIMITS RCPTMAX=20000" (go-smtp conn.go, Conn.handleGreet), as maddy
// 0.8.1 answers on loopback (scripts/interop TestMaddy). A maddy with either
// limit changed stays unknown: nothing else in its dialogue is its own.
const (
	goSMTPGreeting     = "esmtp service ready"
	maddyDefaultSize   = "SIZE 33554432"
	maddyDefaultLimits = "LIMITS RCPTMAX=20000"
)

// recognizeServer reads the software from the banner and EHLO replies of the
// main probe and of the TLS-required test.
func recognizeServer(r *probe.Result) Server {
	banner := r.Banner
	if banner == nil && r.TLSRequired != nil {
		banner = r.TLSRequired.Banner
	}
	var s Server
	if banner != nil && len(banner.Lines) > 0 {
		var rest string
		s.FQDN, rest, _ = strings.Cut(banner.Lines[0], " ")
		s.Masked = isMaskedBanner(banner)
		if s.Masked {
			s.FQDN = ""
		}
		// The text after the host name, on every line of the greeting.
		if len(banner.Lines) > 1 {
			rest += " " + strings.Join(banner.Lines[1:], " ")
		}
		rest = strings.ToLower(strings.TrimSpace(rest))
		host := strings.ToLower(strings.TrimSuffix(s.FQDN, "."))
		for _, h := range hostedDomains {
			if strings.HasSuffix(host, "."+h.domain) {
				s.Software, s.Evidence = h.software, []string{"banner host"}
				break
			}
		}
		for _, m := range bannerMarks {
			if s.Software == "" && !s.Masked && m.match(rest) {
				s.Software, s.Evidence = m.software, []string{"banner"}
			}
		}
	}
	goSMTP := s.Software == "" && !s.Masked && banner != nil && len(banner.Lines) == 1 && strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(banner.Lines[0], s.FQDN)), goSMTPGreeting)
	for _, ehlo := range []*probe.Reply{r.EHLO, r.EHLOAfterTLS} {
		if goSMTP && s.Software == "" && hasLine(ehlo, maddyDefaultSize) && hasLine(ehlo, maddyDefaultLimits) {
			s.Software, s.Evidence = SoftwareMaddy, []string{"go-smtp greeting", maddyDefaultSize, maddyDefaultLimits}
		}
		if s.Software == SoftwareExchangeOnline {
			break
		}
		for _, kw := range exchangeExtensions {
			if ehlo.HasKeyword(kw) && !slices.Contains(s.Evidence, kw) {
				s.Software = SoftwareExchange
				s.Evidence = append(s.Evidence, kw)
			}
		}
		if (s.Software == "" || s.Software == SoftwareCourier) && ehlo.HasKeyword(courierVERP) && !slices.Contains(s.Evidence, "XVERP=Courier") {
			s.Software = SoftwareCourier
			s.Evidence = append(s.Evidence, "XVERP=Courier")
		}
	}
	if s.Software == "" {
		s.Software = SoftwareUnknown
	}
	return s
}

// hasLine reports whether the EHLO reply has line among its extension lines,
// compared whole, ignoring case and surrounding space.
func hasLine(r *probe.Reply, line string) bool {
	if r == nil || len(r.Lines) < 2 {
		return false
	}
	for _, l := range r.Lines[1:] {
		if strings.EqualFold(strings.TrimSpace(l), line) {
			return true
		}
	}
	return false
}

// isMaskedBanner reports whether the banner's text is all asterisks but for
// the digits 2 and 0, which is what Cisco ASA/PIX ESMTP inspection
// ("mask-banner") leaves of it.
func isMaskedBanner(r *probe.Reply) bool {
	text := r.Text()
	if strings.Count(text, "*") < 8 {
		return false
	}
	return strings.Trim(text, "*20 ") == ""
}

// ServerName is the Exchange server's NetBIOS name as Exchange writes it in
// connector identities: the first label of the banner FQDN, upper-case. ""
// when the banner shows none.
func (s Server) ServerName() string {
	label, _, _ := strings.Cut(s.FQDN, ".")
	return strings.ToUpper(label)
}

// exchangeConnector names the default receive connector that listens on an
// Exchange port, for the server named server; "" for other ports.
func exchangeConnector(role int, server string) string {
	switch role {
	case 25:
		return "Default Frontend " + server
	case 587:
		return "Client Frontend " + server
	case 2525:
		return "Default " + server
	case 465:
		return "Client Proxy " + server
	case 717:
		return "Outbound Proxy Frontend " + server
	}
	return ""
}
