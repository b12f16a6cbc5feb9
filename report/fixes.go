package report

import (
	"crypto/x509"
	"strings"

	"github.com/starttls-probe/starttls-probe/report/dotnetname"
)

// Fixes are commands an admin pastes. Values from the server (certificate
// names, the server name in the banner) go into them quoted so that no
// character of theirs can end the quoting: PowerShell values in single
// quotes, where only the single-quote characters need doubling, and
// Postfix values only when they come from the user's own --name.

// psQuote is s as a PowerShell single-quoted string. PowerShell also ends
// such a string on the typographic single quotes, so they are doubled too.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

const overwritePrompt = "# answer No when asked to overwrite the default SMTP certificate: the back-end connector needs it"

// selectCertificate picks, on the Exchange server, the newest CA-issued
// certificate for name into $cert, for when the probe did not see it.
func selectCertificate(name string) string {
	return "$cert = Get-ExchangeCertificate | Where-Object { $_.CertificateDomains -contains " + psQuote(name) +
		" -and -not $_.IsSelfSigned -and $_.NotAfter -gt (Get-Date) } | Sort-Object NotBefore -Descending | Select-Object -First 1"
}

// bindCertificate enables the certificate for SMTP and names it on the
// connector: with its literal thumbprint and TlsCertificateName when the
// probe saw it on this host, else selected on the server by name.
func (d *diagContext) bindCertificate(cert *x509.Certificate, extra string) []string {
	identity := d.connectorIdentity()
	if cert != nil {
		return []string{
			overwritePrompt,
			"Enable-ExchangeCertificate -Thumbprint " + sha1Hex(cert) + " -Services SMTP",
			"Set-ReceiveConnector " + identity + extra + " -TlsCertificateName " + psQuote(dotnetname.TLSCertificateName(cert)),
		}
	}
	name := d.name
	if name == "" {
		name = "<FQDN clients use>"
	}
	return []string{
		selectCertificate(name),
		overwritePrompt,
		"Enable-ExchangeCertificate -Thumbprint $cert.Thumbprint -Services SMTP",
		"Set-ReceiveConnector " + identity + extra + ` -TlsCertificateName "<I>$($cert.Issuer)<S>$($cert.Subject)"`,
	}
}

// defaultAuthMechanism is each default connector's AuthMechanism as setup
// creates it (Microsoft Learn, "Receive connectors").
func defaultAuthMechanism(role int) string {
	switch role {
	case 587:
		return "Tls,Integrated,BasicAuth,BasicAuthRequireTLS"
	case 2525:
		return "Tls,Integrated,BasicAuth,ExchangeServer"
	}
	return "Tls,Integrated,BasicAuth,BasicAuthRequireTLS,ExchangeServer"
}

// postfixService is the master.cf service that listens on a role's port.
func postfixService(role int) string {
	switch role {
	case 587:
		return "submission/inet"
	case 465:
		return "submissions/inet"
	}
	return "smtp/inet"
}

// postfixChainFile is where the fixes suggest the key and chain for name:
// smtpd_tls_chain_files takes the key and then the chain in one file.
func postfixChainFile(name string) string {
	if name == "" {
		name = "mail"
	}
	return "/etc/postfix/" + name + ".pem"
}

// postfixSet sets a parameter for the service on role's port: in main.cf
// for port 25, as a master.cf override for submission ports.
func postfixSet(role int, param, value string) string {
	if role == 587 || role == 465 {
		return "postconf -P '" + postfixService(role) + "/" + param + "=" + value + "'"
	}
	return "postconf -e '" + param + " = " + value + "'"
}

// certificateFilesFix points the recognised software other than Exchange
// and Postfix at the certificate for name, and makes it read the files
// again; nil when the software is unknown. Each line is a command or a
// "#" comment, from the software's own documentation:
//   - Exim: tls_certificate and tls_privatekey in the main configuration
//     (Exim spec, chapter "Encrypted SMTP connections using TLS/SSL"),
//     Debian's split configuration in conf.d/main;
//   - OpenSMTPD: a "pki" block and "listen ... tls pki" in smtpd.conf
//     (smtpd.conf(5));
//   - Sendmail: confSERVER_CERT and confSERVER_KEY in sendmail.mc
//     (cf/README, "STARTTLS").
func (d *diagContext) certificateFilesFix(name string) []string {
	if name == "" {
		name = "<FQDN clients use>"
	}
	switch d.server.Software {
	case SoftwareExim:
		return []string{
			"# in Exim's main configuration (Debian: /etc/exim4/conf.d/main/03_exim4-config_tlsoptions), the chain and key for " + name + ":",
			"#   tls_certificate = /etc/exim4/" + name + ".crt",
			"#   tls_privatekey = /etc/exim4/" + name + ".key",
			"exim -bP tls_certificate tls_privatekey",
			"systemctl restart exim4",
		}
	case SoftwareOpenSMTPD:
		return []string{
			"# in /etc/smtpd.conf, the chain and key for " + name + ", and the listener using them:",
			"#   pki " + name + " cert \"/etc/ssl/" + name + ".crt\"",
			"#   pki " + name + " key \"/etc/ssl/private/" + name + ".key\"",
			"#   listen on egress tls pki " + name,
			"smtpd -n",
			"rcctl restart smtpd || systemctl restart opensmtpd",
		}
	case SoftwareSendmail:
		return []string{
			"# in sendmail.mc, the chain and key for " + name + ":",
			"#   define(`confSERVER_CERT', `/etc/mail/tls/" + name + ".crt')dnl",
			"#   define(`confSERVER_KEY', `/etc/mail/tls/" + name + ".key')dnl",
			"make -C /etc/mail && systemctl restart sendmail",
		}
	}
	return nil
}
