package report

import (
	"slices"
	"strings"

	"github.com/starttls-probe/starttls-probe/probe"
)

// Software is the mail server software, as far as the dialogue tells.
type Software string

const (
	SoftwareUnknown   Software = "unknown"
	SoftwareExchange  Software = "exchange"
	SoftwarePostfix   Software = "postfix"
	SoftwareExim      Software = "exim"
	SoftwareSendmail  Software = "sendmail"
	SoftwareOpenSMTPD Software = "opensmtpd"
)

// Server is what the banner and EHLO reply say about the server.
type Server struct {
	Software Software `json:"software"`
	// Evidence lists what gave the software away ("banner", "X-EXPS", ...).
	Evidence []string `json:"evidence,omitempty"`
	// FQDN is the name in the banner, "" when there is none to read.
	FQDN string `json:"fqdn,omitempty"`
	// Masked is true when the banner was rewritten to asterisks, as a
	// firewall's SMTP inspection does: the software cannot be told from it.
	Masked bool `json:"masked,omitempty"`
}

// exchangeExtensions are EHLO keywords only Exchange advertises.
var exchangeExtensions = []string{"X-ANONYMOUSTLS", "X-EXPS", "XEXCH50", "X-LINK2STATE"}

// recognizeServer reads the software from the banner and EHLO replies of the
// main probe and of the TLS-required test.
func recognizeServer(r *probe.Result) Server {
	banner := r.Banner
	if banner == nil && r.TLSRequired != nil {
		banner = r.TLSRequired.Banner
	}
	var s Server
	if banner != nil && len(banner.Lines) > 0 {
		s.FQDN, _, _ = strings.Cut(banner.Lines[0], " ")
		s.Masked = isMaskedBanner(banner)
		if s.Masked {
			s.FQDN = ""
		}
		text := strings.ToLower(banner.Text())
		switch {
		case strings.Contains(text, "microsoft esmtp mail service"):
			s.Software, s.Evidence = SoftwareExchange, []string{"banner"}
		case strings.Contains(text, "esmtp postfix"):
			s.Software, s.Evidence = SoftwarePostfix, []string{"banner"}
		case strings.Contains(text, "esmtp exim"):
			s.Software, s.Evidence = SoftwareExim, []string{"banner"}
		case strings.Contains(text, "sendmail"):
			s.Software, s.Evidence = SoftwareSendmail, []string{"banner"}
		}
	}
	for _, ehlo := range []*probe.Reply{r.EHLO, r.EHLOAfterTLS} {
		for _, kw := range exchangeExtensions {
			if ehlo.HasKeyword(kw) && !slices.Contains(s.Evidence, kw) {
				s.Software = SoftwareExchange
				s.Evidence = append(s.Evidence, kw)
			}
		}
	}
	if s.Software == "" {
		s.Software = SoftwareUnknown
	}
	return s
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
