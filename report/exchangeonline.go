package report

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// CheckExchangeOnline: with --as exchange-online, would Exchange Online's
// outbound connector to on-premises deliver here?
const CheckExchangeOnline = "exchange-online"

// The deferrals Exchange Online logs, exactly as exchange-facts.md §11
// quotes them from its sources.
const (
	// S40, blog.rmilne.ca.
	DeferralConnectionRefused = "450 4.4.316 Connection refused [Message=Socket error code 10061]"
	// S37, ex-shell.com; and the front-end proxy form of KB 2989382.
	DeferralSTARTTLSRequired      = "450 4.4.317 Cannot connect to remote server [Message=451 5.7.3 STARTTLS is required to send mail]"
	DeferralSTARTTLSRequiredProxy = `450 4.4.101 Proxy session setup failed on Frontend with '451 4.4.0 Primary target IP address responded with: "451 5.7.3 STARTTLS is required to send mail."'`
	// S38, the Exchange "challenge accepted" blog: DomainValidation
	// against TlsDomain.
	DeferralSubjectMismatch = "450 4.7.320 Certificate validation failed [Message=SubjectMismatch]"
	// The same code for a chain Exchange Online does not trust; the
	// bracketed reason for that case is not in the sources.
	DeferralCertificateValidation = "450 4.7.320 Certificate validation failed"
)

// exchangeOnlineSuites are the TLS 1.2 suites Microsoft 365 lists for
// mail flow (S33, "technical reference details about encryption") that
// crypto/tls can offer; its DHE suites cannot be tested.
var exchangeOnlineSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
}

// ExchangeOnlineView is the endpoint as Exchange Online's outbound
// connector to on-premises would see it (TlsSettings CertificateValidation,
// or DomainValidation with TlsDomain).
type ExchangeOnlineView struct {
	// TLSSettings is "CertificateValidation" or "DomainValidation".
	TLSSettings string
	TLSDomain   string
	// Requirements are every rule, in the order the connector meets them.
	Requirements []ExchangeOnlineRequirement
	Status       Status
}

// ExchangeOnlineRequirement is one rule and, when it fails, what Exchange
// Online logs and the fix.
type ExchangeOnlineRequirement struct {
	Name    string `json:"requirement"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	// Deferrals are what Exchange Online logs for this failure, as its
	// sources quote them; empty when no source gives the text.
	Deferrals []string `json:"deferrals"`
	Fix       []string `json:"fix"`
}

// judgeExchangeOnline makes the view and its check; nothing unless
// --as exchange-online.
func judgeExchangeOnline(ep *Endpoint, expect Expect, now time.Time) []Check {
	if !expect.AsExchangeOnline {
		return nil
	}
	v := &ExchangeOnlineView{TLSSettings: "CertificateValidation", TLSDomain: expect.TLSDomain, Status: OK}
	if expect.TLSDomain != "" {
		v.TLSSettings = "DomainValidation"
	}
	ep.ExchangeOnline = v
	c := Check{ID: CheckExchangeOnline}
	if ep.ServicePort != 25 {
		c.Status, c.Message = Skipped, fmt.Sprintf("Exchange Online delivers to port 25 only, not %d", ep.ServicePort)
		v.Status = Skipped
		return []Check{c}
	}
	r := &ep.Result
	add := func(req ExchangeOnlineRequirement) {
		v.Requirements = append(v.Requirements, req)
		v.Status = Worse(v.Status, req.Status)
	}

	add(exoConnect(r))
	if r.Error != nil && (r.Error.Phase == probe.PhaseDNS || r.Error.Phase == probe.PhaseConnect || r.Error.Phase == probe.PhaseBanner) {
		return []Check{exoCheck(v)}
	}
	starttls := exoSTARTTLS(ep)
	add(starttls)
	if starttls.Status != OK {
		return []Check{exoCheck(v)}
	}
	add(exoTLS12(ep))
	add(exoSuites(ep))
	add(exoTrust(ep, expect, now))
	if expect.TLSDomain != "" {
		add(exoDomain(ep, expect.TLSDomain))
	}
	if req, ok := exoWithoutSNI(ep, expect, now); ok {
		add(req)
	}
	return []Check{exoCheck(v)}
}

func exoCheck(v *ExchangeOnlineView) Check {
	c := Check{ID: CheckExchangeOnline, Status: v.Status}
	var failed []string
	for _, req := range v.Requirements {
		if req.Status != OK && req.Status != Skipped {
			failed = append(failed, req.Name)
		}
	}
	if len(failed) == 0 {
		c.Message = "an outbound connector with " + v.TLSSettings + " would deliver here"
		if v.TLSDomain != "" {
			c.Message += " (TlsDomain " + v.TLSDomain + ")"
		}
		return c
	}
	c.Message = "an outbound connector with " + v.TLSSettings + " would defer mail here: " + strings.Join(failed, ", ") + " (deferrals and fixes below)"
	return c
}

func exoConnect(r *probe.Result) ExchangeOnlineRequirement {
	req := ExchangeOnlineRequirement{Name: "connect", Status: OK, Message: "port 25 answered"}
	if r.Error == nil || (r.Error.Phase != probe.PhaseConnect && r.Error.Phase != probe.PhaseDNS && r.Error.Phase != probe.PhaseBanner) {
		return req
	}
	req.Status, req.Message = Critical, errorMessage(r.Error)
	if errors.Is(r.Error.Err, syscall.ECONNREFUSED) {
		req.Deferrals = []string{DeferralConnectionRefused}
	}
	req.Fix = []string{"# open port 25 from Exchange Online's addresses (the EOP ranges in Microsoft's 'Office 365 URLs and IP address ranges') to this server, in the firewall and the receive connector's RemoteIPRanges"}
	return req
}

func exoSTARTTLS(ep *Endpoint) ExchangeOnlineRequirement {
	r := &ep.Result
	req := ExchangeOnlineRequirement{Name: "STARTTLS offered", Status: OK, Message: "offered and accepted"}
	switch {
	case ep.STARTTLS == STARTTLSNotOffered:
		req.Status, req.Message = Critical, "STARTTLS not offered: a TLS-enforcing connector will not send in plaintext"
	case r.Error != nil && r.Error.Phase == probe.PhaseSTARTTLS:
		req.Status, req.Message = Critical, "STARTTLS failed: "+errorText(r.Error)
	case r.TLS == nil || !r.TLS.HandshakeComplete:
		req.Status, req.Message = Critical, "no TLS session: the handshake failed"
		if r.Error != nil {
			req.Message += ": " + errorText(r.Error)
		}
		return req
	default:
		return req
	}
	req.Deferrals = []string{DeferralSTARTTLSRequired, DeferralSTARTTLSRequiredProxy}
	if ep.Server.Software == SoftwareExchange {
		req.Fix = []string{"# bind a valid certificate to SMTP on the receiving server; STARTTLS comes back once one is (KB 2989382)",
			"Get-ExchangeCertificate | Format-List Thumbprint,Services,Subject,NotAfter",
			"Enable-ExchangeCertificate -Thumbprint <THUMBPRINT> -Services SMTP"}
	} else {
		req.Fix = []string{"# offer STARTTLS on port 25 with a certificate for the name the connector uses"}
	}
	return req
}

// exoTLS12 needs the scan: the probe's own handshake says only the
// newest version both sides speak, and Exchange Online uses TLS 1.2.
func exoTLS12(ep *Endpoint) ExchangeOnlineRequirement {
	req := ExchangeOnlineRequirement{Name: "TLS 1.2"}
	scan := ep.Result.Scan
	if scan == nil {
		req.Status, req.Message = Skipped, "not tested: needs the TLS scan"
		return req
	}
	for _, v := range scan.Versions {
		if v.Version != tls.VersionTLS12 {
			continue
		}
		switch v.Outcome {
		case probe.Accepted:
			req.Status, req.Message = OK, "accepted"
		case probe.NotTested:
			req.Status, req.Message = Unknown, "not tested: "+fmt.Sprint(v.Err)
		default:
			req.Status = Critical
			req.Message = "refused: Exchange Online uses TLS 1.2 for mail flow and never TLS 1.0 or 1.1 (since 2021-01-11); Microsoft documents no deferral text for a failed negotiation, so none is quoted"
			switch ep.Server.Software {
			case SoftwareExchange:
				req.Fix = []string{"# Exchange Server TLS guidance: enable TLS 1.2 in SCHANNEL and for .NET, then restart",
					`New-Item -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server' -Force`,
					`New-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server' -Name Enabled -Value 1 -PropertyType DWord -Force`,
					`New-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server' -Name DisabledByDefault -Value 0 -PropertyType DWord -Force`,
					"Restart-Computer"}
			case SoftwarePostfix:
				req.Fix = []string{"postconf smtpd_tls_protocols smtpd_tls_mandatory_protocols tls_high_cipherlist",
					"postconf -e 'smtpd_tls_protocols = !SSLv2, !SSLv3'", "postfix reload"}
			}
		}
	}
	return req
}

func exoSuites(ep *Endpoint) ExchangeOnlineRequirement {
	req := ExchangeOnlineRequirement{Name: "a suite Exchange Online supports"}
	scan := ep.Result.Scan
	if scan == nil {
		req.Status, req.Message = Skipped, "not tested: needs the TLS scan"
		return req
	}
	for _, v := range scan.Versions {
		if v.Version != tls.VersionTLS12 || v.Outcome != probe.Accepted {
			continue
		}
		var common []string
		for _, id := range v.Suites {
			if slices.Contains(exchangeOnlineSuites, id) {
				common = append(common, cipherSuiteName(id))
			}
		}
		if len(common) > 0 {
			req.Status, req.Message = OK, "on TLS 1.2: "+strings.Join(common, ", ")
			return req
		}
		req.Status = Critical
		req.Message = "none of the TLS 1.2 suites accepted is one Microsoft lists for Exchange Online (ECDHE with AES-GCM or AES-CBC-SHA256; its DHE suites cannot be tested here); Microsoft documents no deferral text for it"
		if ep.Server.Software == SoftwarePostfix {
			req.Fix = []string{"postconf -e 'smtpd_tls_ciphers = medium'", "postconf -e 'smtpd_tls_exclude_ciphers ='", "postfix reload"}
		}
		return req
	}
	req.Status, req.Message = Skipped, "no TLS 1.2 to choose a suite on"
	return req
}

// exoTrust: CertificateValidation trusts public CAs only, whatever
// --ca-file adds for the other checks.
func exoTrust(ep *Endpoint, expect Expect, now time.Time) ExchangeOnlineRequirement {
	req := ExchangeOnlineRequirement{Name: "publicly trusted chain", Status: OK, Message: "the chain verifies to a public root"}
	verdict := expect.Cache.verifyChain(ep.Result.Chain, expect.PublicRoots, now)
	if verdict.reason == "" {
		return req
	}
	req.Status, req.Message = Critical, verdict.reason+"; the bracketed reason Exchange Online logs for an untrusted chain is not in Microsoft's sources"
	req.Deferrals = []string{DeferralCertificateValidation}
	req.Fix = []string{"# install a certificate from a public CA (Microsoft Trusted Root Program) and send its intermediates; a private CA is not trusted by Exchange Online"}
	if ep.Server.Software == SoftwareExchange {
		req.Fix = append(req.Fix, "Enable-ExchangeCertificate -Thumbprint <THUMBPRINT> -Services SMTP")
	}
	return req
}

func exoDomain(ep *Endpoint, domain string) ExchangeOnlineRequirement {
	req := ExchangeOnlineRequirement{Name: "certificate matches TlsDomain " + domain}
	leaf := ep.Result.Leaf()
	if matchesTLSDomain(leaf, domain) {
		req.Status, req.Message = OK, "the certificate covers "+domain
		return req
	}
	covers := strings.Join(subjectAltNames(leaf), ", ")
	if covers == "" {
		covers = "no subject alternative names"
	}
	req.Status, req.Message = Critical, "the certificate covers "+covers+", not "+domain
	req.Deferrals = []string{DeferralSubjectMismatch}
	req.Fix = []string{"# present a certificate that covers " + domain + ", or point the connector at a name the certificate covers (Exchange Online PowerShell):",
		"Set-OutboundConnector -Identity '<connector>' -TlsSettings DomainValidation -TlsDomain " + firstDNSName(leaf, domain)}
	return req
}

// matchesTLSDomain is DomainValidation: the certificate covers TlsDomain;
// a TlsDomain of "*.contoso.com" takes any name under contoso.com.
func matchesTLSDomain(leaf *x509.Certificate, domain string) bool {
	if leaf == nil {
		return false
	}
	if suffix, ok := strings.CutPrefix(domain, "*."); ok {
		for _, n := range leaf.DNSNames {
			n = strings.TrimPrefix(strings.ToLower(n), "*.")
			if strings.HasSuffix(n, "."+strings.ToLower(suffix)) || n == strings.ToLower(suffix) {
				return true
			}
		}
		return false
	}
	return leaf.VerifyHostname(domain) == nil
}

func firstDNSName(leaf *x509.Certificate, fallback string) string {
	if leaf != nil && len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0]
	}
	return fallback
}

// exoWithoutSNI: Microsoft does not document whether Exchange Online sends
// SNI. When the server presents another certificate without it, that one
// must pass too, or delivery depends on what Microsoft does.
func exoWithoutSNI(ep *Endpoint, expect Expect, now time.Time) (ExchangeOnlineRequirement, bool) {
	scan := ep.Result.Scan
	if scan == nil || scan.WithoutSNI == nil || scan.WithoutSNI.Outcome != probe.Accepted || len(scan.WithoutSNI.Chain) == 0 {
		return ExchangeOnlineRequirement{}, false
	}
	chain := scan.WithoutSNI.Chain
	req := ExchangeOnlineRequirement{Name: "without SNI"}
	if leaf := ep.Result.Leaf(); leaf != nil && chain[0].Equal(leaf) {
		req.Status, req.Message = OK, "the same certificate with and without SNI, so whether Exchange Online sends SNI (Microsoft does not document it) does not matter"
		return req, true
	}
	var bad, deferrals []string
	if v := expect.Cache.verifyChain(chain, expect.PublicRoots, now); v.reason != "" {
		bad, deferrals = append(bad, v.reason), append(deferrals, DeferralCertificateValidation)
	}
	if expect.TLSDomain != "" && !matchesTLSDomain(chain[0], expect.TLSDomain) {
		bad, deferrals = append(bad, "it does not cover "+expect.TLSDomain), append(deferrals, DeferralSubjectMismatch)
	}
	subject := chain[0].Subject.String()
	if len(bad) == 0 {
		req.Status, req.Message = OK, "another certificate without SNI ("+subject+"), which passes too"
		return req, true
	}
	// A warning, not a critical: whether Exchange Online is affected
	// rests on what Microsoft does not document.
	req.Status = Warning
	req.Message = "without SNI the server presents another certificate (" + subject + "): " + strings.Join(bad, "; ") +
		"; Microsoft does not document whether Exchange Online sends SNI, so if it does not, it gets this one"
	req.Deferrals = deferrals
	req.Fix = []string{"# make the certificate presented without SNI (the server's default) the right one too"}
	return req, true
}
