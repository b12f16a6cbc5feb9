package report

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
)

// The rules. Each reads the observations of one endpoint (and of the other
// endpoints of its host) and returns a diagnosis, or nil. Causes name the
// port, the connector and the certificate; fixes are in the server's own
// terms: Exchange Management Shell, Postfix's postconf, or none when the
// software is unknown and only the fact can be stated.

// maskedKeyword matches what Cisco ASA ESMTP inspection makes of STARTTLS
// and other extensions it does not allow: X's of the same length, the last
// character sometimes kept ("XXXXXXXA").
func maskedKeyword(kw string) bool {
	return len(kw) >= 4 && strings.Trim(kw[:len(kw)-1], "X") == ""
}

const asaFix = "policy-map global_policy\n class inspection_default\n  no inspect esmtp"

func (d *diagContext) smtpInspection() *Diagnosis {
	// Other extensions are masked too: prefer the mask that is STARTTLS's,
	// of its length and with its last letter kept.
	score := func(kw string) int {
		switch {
		case len(kw) != len("STARTTLS"):
			return 0
		case kw[len(kw)-1] != 'X':
			return 2
		}
		return 1
	}
	var masked string
	for _, kw := range d.plaintextEHLO().Keywords() {
		if maskedKeyword(kw) && (masked == "" || score(kw) > score(masked)) {
			masked = kw
		}
	}
	fix := []string{
		"# on the Cisco ASA, in configuration mode: stop ESMTP inspection (or give it a map with 'parameters' / 'allow-tls')",
	}
	fix = append(fix, strings.Split(asaFix, "\n")...)
	switch {
	case masked != "" && !d.ep.Result.STARTTLSOffered:
		return &Diagnosis{
			ID: DiagSMTPInspection, Severity: SeverityCritical,
			Cause: fmt.Sprintf("A firewall's SMTP inspection (Cisco ASA/PIX \"inspect esmtp\") rewrites the EHLO reply: %q stands where STARTTLS should be, so senders see no STARTTLS and deliver in plaintext or not at all.", masked),
			Fix:   fix,
		}
	case d.ep.Server.Masked:
		return &Diagnosis{
			ID: DiagBannerMasked, Severity: SeverityInfo,
			Cause: "The banner is all asterisks, as a firewall's SMTP inspection (Cisco ASA \"mask-banner\") leaves it: the server software cannot be told from it, and the same inspection strips STARTTLS unless it allows TLS.",
			Fix:   fix,
		}
	}
	return nil
}

func (d *diagContext) starttlsMissing() *Diagnosis {
	r := &d.ep.Result
	if d.ep.STARTTLS != STARTTLSNotOffered {
		return nil
	}
	for _, kw := range r.EHLO.Keywords() {
		if maskedKeyword(kw) {
			return nil // smtpInspection names the cause
		}
	}
	port := "Port " + strconv.Itoa(d.role)
	if d.ep.TLSRequired == TLSRequiredTrue {
		reply := r.TLSRequired.Mail
		quoted := fmt.Sprintf("%d %s", reply.Code, reply.Text())
		x := &Diagnosis{ID: DiagSTARTTLSMissingTLSRequired, Severity: SeverityCritical}
		switch {
		case d.exchange():
			x.Cause = fmt.Sprintf("%s requires TLS (%q) but offers no STARTTLS, so nothing can deliver: %s found no certificate matching its TlsCertificateName or FQDN (Event 12014); most often TlsCertificateName still names a certificate that was renewed and removed (KB 2989382).",
				port, quoted, d.connectorName())
			x.Fix = append(x.Fix, d.bindCertificateKB()...)
		case d.postfix():
			x.Cause = fmt.Sprintf("%s requires TLS (%q) but offers no STARTTLS: Postfix could not load the key or certificate of smtpd_tls_chain_files (or smtpd_tls_cert_file), so nothing can deliver.", port, quoted)
			x.Fix = []string{
				"postconf smtpd_tls_chain_files smtpd_tls_cert_file smtpd_tls_key_file",
				"# the key, then the certificate chain, in one file:",
				postfixSet(d.role, "smtpd_tls_chain_files", postfixChainFile(d.name)),
				"postfix reload",
			}
		default:
			x.Cause = fmt.Sprintf("%s requires TLS (%q) but offers no STARTTLS, so nothing can deliver.", port, quoted)
		}
		return x
	}
	x := &Diagnosis{ID: DiagSTARTTLSMissing, Severity: SeverityCritical}
	switch {
	case d.exchange():
		x.Cause = fmt.Sprintf("%s offers no STARTTLS: %s found no certificate enabled for SMTP that matches its FQDN or TlsCertificateName (Event 12014), or Tls is missing from its AuthMechanism.",
			port, d.connectorName())
		x.Fix = append([]string{
			"Get-ReceiveConnector " + d.connectorIdentity() + " | Format-List Fqdn,TlsCertificateName,AuthMechanism",
			"Get-ExchangeCertificate | Format-List Thumbprint,Services,CertificateDomains,NotAfter,Subject",
		}, d.bindCertificate(d.goodCertificate(), "")...)
		x.Fix = append(x.Fix,
			"# if Tls is missing from AuthMechanism, restore the connector's default:",
			"Set-ReceiveConnector "+d.connectorIdentity()+" -AuthMechanism "+defaultAuthMechanism(d.role))
	case d.postfix():
		x.Cause = fmt.Sprintf("%s offers no STARTTLS: Postfix has smtpd_tls_security_level = none (the default) or no certificate configured.", port)
		x.Fix = []string{
			postfixSet(d.role, "smtpd_tls_security_level", "may"),
			"# the key, then the certificate chain, in one file:",
			postfixSet(d.role, "smtpd_tls_chain_files", postfixChainFile(d.name)),
			"postfix reload",
		}
	default:
		x.Cause = port + " offers no STARTTLS: the server has no certificate configured or TLS turned off, and mail to it travels in plaintext."
	}
	return x
}

// bindCertificateKB is KB 2989382's resolution: enable the new certificate
// for SMTP, clear TlsCertificateName, re-run the Hybrid Configuration Wizard
// (or name the certificate directly).
func (d *diagContext) bindCertificateKB() []string {
	good := d.goodCertificate()
	identity := d.connectorIdentity()
	var fix []string
	if good != nil {
		fix = append(fix, overwritePrompt, "Enable-ExchangeCertificate -Thumbprint "+sha1Hex(good)+" -Services SMTP")
	} else {
		name := d.name
		if name == "" {
			name = "<FQDN clients use>"
		}
		fix = append(fix, selectCertificate(name), overwritePrompt, "Enable-ExchangeCertificate -Thumbprint $cert.Thumbprint -Services SMTP")
	}
	fix = append(fix,
		"Get-ReceiveConnector "+identity+" | Set-ReceiveConnector -TlsCertificateName $null",
		"# then re-run the Hybrid Configuration Wizard, which sets TlsCertificateName to the new certificate; or set it yourself:")
	if good != nil {
		return append(fix, "Set-ReceiveConnector "+identity+" -TlsCertificateName "+psQuote(dotnetname.TLSCertificateName(good)))
	}
	return append(fix, "Set-ReceiveConnector "+identity+` -TlsCertificateName "<I>$($cert.Issuer)<S>$($cert.Subject)"`)
}

// authMechanisms lists the mechanisms of the AUTH keyword (or the
// pre-RFC "AUTH=" form), upper-cased.
func authMechanisms(r *probe.Reply) []string {
	if r == nil || len(r.Lines) < 2 {
		return nil
	}
	var mechs []string
	for _, line := range r.Lines[1:] {
		f := strings.Fields(strings.ToUpper(line))
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "AUTH":
			mechs = append(mechs, f[1:]...)
		case strings.HasPrefix(f[0], "AUTH="):
			mechs = append(mechs, strings.TrimPrefix(f[0], "AUTH="))
			mechs = append(mechs, f[1:]...)
		}
	}
	return mechs
}

// cleartextMechanisms are the SASL mechanisms that send the password itself.
var cleartextMechanisms = []string{"PLAIN", "LOGIN"}

func (d *diagContext) authBeforeTLS() *Diagnosis {
	var clear []string
	for _, m := range authMechanisms(d.plaintextEHLO()) {
		for _, c := range cleartextMechanisms {
			if m == c {
				clear = append(clear, m)
			}
		}
	}
	if len(clear) == 0 {
		return nil
	}
	mechs := strings.Join(clear, " ")
	x := &Diagnosis{ID: DiagAuthBeforeTLS, Severity: SeverityWarning}
	switch {
	case d.exchange() && d.role == 2525:
		x.Severity = SeverityInfo
		x.Cause = fmt.Sprintf("Port 2525 offers AUTH %s before STARTTLS, as %s does by default (no BasicAuthRequireTLS): only Exchange's own front end should reach it, so keep port 2525 closed to everything else.", mechs, d.connectorName())
	case d.exchange():
		x.Cause = fmt.Sprintf("Port %d offers AUTH %s before STARTTLS, so a client can send its password in the clear: %s lacks BasicAuthRequireTLS.", d.role, mechs, d.connectorName())
		x.Fix = []string{"Set-ReceiveConnector " + d.connectorIdentity() + " -AuthMechanism " + defaultAuthMechanism(d.role)}
	case d.postfix():
		x.Cause = fmt.Sprintf("Port %d offers AUTH %s before STARTTLS, so a client can send its password in the clear: Postfix has smtpd_tls_auth_only = no.", d.role, mechs)
		x.Fix = []string{postfixSet(d.role, "smtpd_tls_auth_only", "yes"), "postfix reload"}
	default:
		x.Cause = fmt.Sprintf("Port %d offers AUTH %s before STARTTLS, so a client can send its password in the clear.", d.role, mechs)
	}
	return x
}

func (d *diagContext) noAuthAfterTLS() *Diagnosis {
	after := d.ep.Result.EHLOAfterTLS
	if d.role != 587 || after == nil || after.Code != 250 || after.HasKeyword("AUTH") {
		return nil
	}
	x := &Diagnosis{ID: DiagNoAuthAfterTLS, Severity: SeverityWarning}
	switch {
	case d.exchange():
		x.Cause = fmt.Sprintf("Port 587 offers no AUTH after STARTTLS: mail clients fail with \"does not support the selected authentication method\" until %s accepts basic authentication over TLS again.", d.connectorName())
		x.Fix = []string{"Set-ReceiveConnector " + d.connectorIdentity() + " -AuthMechanism " + defaultAuthMechanism(587) + " -PermissionGroups ExchangeUsers"}
	case d.postfix():
		x.Cause = "Port 587 offers no AUTH after STARTTLS: mail clients fail with \"does not support the selected authentication method\"; the submission service lacks smtpd_sasl_auth_enable = yes."
		x.Fix = []string{postfixSet(587, "smtpd_sasl_auth_enable", "yes"), "postfix reload"}
	default:
		x.Cause = "Port 587 offers no AUTH after STARTTLS: mail clients fail with \"does not support the selected authentication method\"."
	}
	return x
}

// plaintextOnImplicitPort: the port greeted in plain SMTP where the probe
// started TLS at once. The TLS client read the greeting as a record header.
func (d *diagContext) plaintextOnImplicitPort() *Diagnosis {
	r := &d.ep.Result
	var header tls.RecordHeaderError
	if r.Mode != probe.ModeImplicit || r.Error == nil || r.Error.Phase != probe.PhaseHandshake ||
		!errors.As(r.Error.Err, &header) || !bytes.HasPrefix(header.RecordHeader[:], []byte("220")) {
		return nil
	}
	x := &Diagnosis{ID: DiagPlaintextOnImplicitPort, Severity: SeverityCritical}
	if d.exchange() && d.role == 465 {
		x.Cause = fmt.Sprintf("Port 465 answers with a plaintext SMTP greeting, not TLS: on Exchange it is %s, which takes the submissions the Client Frontend proxies and is not for clients, so clients set to SSL/TLS on 465 fail and belong on port 587 with STARTTLS.",
			d.connectorName())
		return x
	}
	x.Cause = fmt.Sprintf("Port %d answers with a plaintext SMTP greeting, not TLS: it speaks STARTTLS, so clients set to SSL/TLS (implicit TLS) on this port fail.", d.role)
	return x
}
