package probetest

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// ExchangeConnector is one of Exchange's default receive connectors, named
// by the port it listens on.
type ExchangeConnector int

// The default receive connectors (Microsoft Learn, "Receive connectors").
const (
	DefaultFrontend       ExchangeConnector = 25
	ClientFrontend        ExchangeConnector = 587
	HubTransport          ExchangeConnector = 2525 // "Default <server>"
	ClientProxy           ExchangeConnector = 465
	OutboundProxyFrontend ExchangeConnector = 717
)

// Exchange is a scripted Exchange 2016/2019 receive connector, saying on the
// wire what /work/shared/exchange-facts.md records real servers say.
type Exchange struct {
	// Server is the server's NetBIOS name ("EXCH01"); Domain its DNS
	// domain ("contoso.test"). The banner and EHLO carry Server.Domain.
	Server, Domain string
	Connector      ExchangeConnector
	// Chain is the certificate the connector selected. nil is Event 12014:
	// no certificate matches TlsCertificateName, so STARTTLS is not
	// advertised.
	Chain *Chain
	// RequireTLS answers MAIL FROM before STARTTLS with 451 5.7.3, as a
	// connector with RequireTLS does.
	RequireTLS bool
	// DropsAfterRequireTLS hangs up after that 451 5.7.3, as one of
	// Exchange's code paths (MailCommandHelpers.ValidateSecureState) does.
	DropsAfterRequireTLS bool
	// Exchange2019 adds SMTPUTF8, as Exchange 2019 advertises.
	Exchange2019 bool
	// Masked is the dialogue as seen through a Cisco ASA with ESMTP
	// inspection: banner in asterisks, STARTTLS shown as XXXXXXXA.
	Masked bool
	// Now dates the banner; zero means time.Now().
	Now time.Time
}

// FQDN is the name in the banner and EHLO greeting.
func (e Exchange) FQDN() string { return e.Server + "." + e.Domain }

// Banner is "220 <FQDN> Microsoft ESMTP MAIL Service ready at <date>", the
// date in RFC 822 form with an unpadded day and a numeric zone.
func (e Exchange) Banner() string {
	now := e.Now
	if now.IsZero() {
		now = time.Now()
	}
	return "220 " + e.FQDN() + " Microsoft ESMTP MAIL Service ready at " + now.Format("Mon, 2 Jan 2006 15:04:05 -0700")
}

// keywords are the EHLO keywords, in the order Exchange's code writes them
// (EhloOptions.CreateSmtpResponse). Default Frontend's lists are the
// observed ones of an Exchange 2016 protocol log; the others follow from the
// connector's AuthMechanism defaults: Client Frontend has no ExchangeServer
// (no X-ANONYMOUSTLS, X-EXPS, XRDST), the 2525 hub connector has no
// BasicAuthRequireTLS (AUTH LOGIN before TLS) and advertises the shadow
// redundancy extensions.
func (e Exchange) keywords(secure bool) []string {
	kw := []string{"SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES"}
	if !secure && e.Chain != nil {
		kw = append(kw, "STARTTLS")
	}
	exchangeServer := e.Connector != ClientFrontend
	if !secure && exchangeServer {
		kw = append(kw, "X-ANONYMOUSTLS")
	}
	// BasicAuthRequireTLS keeps LOGIN back until the session is secure,
	// except on the hub connector, which lacks it.
	if secure || e.Connector == HubTransport {
		kw = append(kw, "AUTH NTLM LOGIN")
	} else {
		kw = append(kw, "AUTH NTLM")
	}
	if exchangeServer {
		kw = append(kw, "X-EXPS GSSAPI NTLM")
	}
	kw = append(kw, "8BITMIME", "BINARYMIME", "CHUNKING")
	if e.Connector == HubTransport {
		kw = append(kw, "XEXCH50")
	}
	if e.Exchange2019 {
		kw = append(kw, "SMTPUTF8")
	}
	if exchangeServer {
		kw = append(kw, "XRDST")
	}
	if e.Connector == HubTransport {
		kw = append(kw, "XSHADOWREQUEST")
	}
	return kw
}

// ehlo writes the keywords as a multi-line 250 reply.
func (e Exchange) ehlo(secure bool) []string {
	lines := []string{e.FQDN() + " Hello [127.0.0.1]"}
	for _, kw := range e.keywords(secure) {
		if e.Masked {
			kw = asaMask(kw)
		}
		lines = append(lines, kw)
	}
	return multiline(250, lines)
}

// asaKnownExtensions are the EHLO reply parameters Cisco ASA ESMTP
// inspection names ("match ehlo-reply-parameter"); the default policy masks
// the others.
var asaKnownExtensions = []string{"8BITMIME", "BINARYMIME", "CHECKPOINT", "DSN", "ENHANCEDSTATUSCODES", "ETRN", "PIPELINING", "SIZE", "VRFY", "AUTH"}

// asaMask is an EHLO line as the default ESMTP inspection passes it:
// STARTTLS becomes XXXXXXXA (no allow-tls), other unknown extensions X's of
// the same length.
func asaMask(line string) string {
	kw, _, _ := strings.Cut(line, " ")
	switch {
	case kw == "STARTTLS":
		return "XXXXXXXA"
	case slices.Contains(asaKnownExtensions, kw):
		return line
	}
	return strings.Repeat("X", len(line))
}

// maskedBanner is what ESMTP inspection's mask-banner leaves of a banner:
// every character but '2' and '0' becomes an asterisk.
func maskedBanner(banner string) string {
	code, text, _ := strings.Cut(banner, " ")
	masked := strings.Map(func(r rune) rune {
		if r == '2' || r == '0' {
			return r
		}
		return '*'
	}, text)
	return code + " " + masked
}

func multiline(code int, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		out[i] = strconv.Itoa(code) + sep + l
	}
	return out
}

// Script is the connector as a scripted server.
func (e Exchange) Script() Script {
	sc := Script{
		Greeting:     []string{e.Banner()},
		EHLO:         e.ehlo(false),
		EHLOAfterTLS: e.ehlo(true),
		STARTTLS:     []string{"220 2.0.0 SMTP server ready"},
		Chain:        e.Chain,
	}
	if e.Chain == nil {
		// Not advertised means not recognised (StartTlsSmtpCommandParser).
		sc.STARTTLS = []string{"500 5.3.3 Unrecognized command"}
	}
	if e.RequireTLS {
		sc.Mail = []string{"451 5.7.3 STARTTLS is required to send mail"}
		if e.DropsAfterRequireTLS {
			sc.AfterMail = HangUp
		}
	}
	if e.Masked {
		sc.Greeting = []string{maskedBanner(e.Banner())}
		// The inspection lets no STARTTLS through: it reaches Exchange as
		// X's, which Exchange does not recognise.
		sc.STARTTLS = []string{"500 5.3.3 Unrecognized command"}
	}
	return sc
}

// NewExchange starts the connector on loopback and stops it when the test
// ends.
func NewExchange(t TB, e Exchange) *Server {
	t.Helper()
	return NewScript(t, e.Script())
}

// ExchangeDefaultCertificate makes the certificate Exchange setup creates:
// self-signed, CN the server's NetBIOS name, SANs that name and its FQDN,
// five years from notBefore, RSA 2048.
func ExchangeDefaultCertificate(server, domain string, notBefore time.Time) (*Chain, error) {
	return SelfSigned(Spec{
		CommonName: server,
		DNSNames:   []string{server, server + "." + domain},
		NotBefore:  notBefore,
		NotAfter:   notBefore.AddDate(5, 0, 0),
		RSABits:    2048,
	})
}

// ExchangeAuthCertificate makes the "Microsoft Exchange Server Auth
// Certificate" (OAuth signing, self-signed, five years), which does not
// belong on an SMTP connector.
func ExchangeAuthCertificate(notBefore time.Time) (*Chain, error) {
	return SelfSigned(Spec{
		CommonName: "Microsoft Exchange Server Auth Certificate",
		NotBefore:  notBefore,
		NotAfter:   notBefore.AddDate(5, 0, 0),
	})
}
