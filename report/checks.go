package report

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
)

// Check IDs, stable: scripts match on them.
const (
	CheckConnect    = "connect"
	CheckSTARTTLS   = "starttls"
	CheckHandshake  = "handshake"
	CheckName       = "name"
	CheckThumbprint = "thumbprint"
	CheckTrust      = "trust"
	CheckExpiry     = "expiry"
	CheckProtocol   = "protocol"
	// CheckTLSCertificateName compares --tls-certificate-name with the leaf.
	CheckTLSCertificateName = "tls-certificate-name"
)

// clientsValidate reports whether clients on this endpoint's port validate
// the certificate: submission (587) and submissions (465) clients do, while
// server-to-server TLS on 25 (and Exchange's 2525) is opportunistic.
func clientsValidate(servicePort int) bool {
	return servicePort == 587 || servicePort == 465
}

func judgeEndpoint(ep *Endpoint, expect Expect, now time.Time) []Check {
	r := &ep.Result
	if interrupted(r) {
		return interruptedChecks(r)
	}
	leaf := r.Leaf()
	return []Check{
		checkConnect(r),
		checkSTARTTLS(r),
		checkHandshake(r),
		checkName(ep, leaf, ep.ExpectedName),
		checkThumbprint(ep, expect.Thumbprint),
		checkTLSCertificateName(ep, expect.TLSCertificateName),
		checkTrust(ep, &expect, now),
		checkExpiry(leaf, expect, now),
		checkProtocol(r),
	}
}

// interrupted reports whether the user stopped the run (Ctrl-C, SIGTERM)
// before this endpoint finished.
func interrupted(r *probe.Result) bool {
	return r.Error != nil && errors.Is(r.Error.Err, context.Canceled)
}

// interruptedChecks judge nothing: an endpoint cut short by the user, or
// never started, is UNKNOWN, not a CRITICAL that would page someone for a
// server nobody finished looking at.
func interruptedChecks(r *probe.Result) []Check {
	checks := []Check{{ID: CheckConnect, Status: Unknown, Message: fmt.Sprintf("interrupted in the %s phase, before the probe finished: not judged", r.Error.Phase)}}
	for _, id := range []string{CheckSTARTTLS, CheckHandshake, CheckName, CheckThumbprint, CheckTLSCertificateName, CheckTrust, CheckExpiry, CheckProtocol} {
		checks = append(checks, Check{ID: id, Status: Skipped, Message: "interrupted"})
	}
	return checks
}

// errorMessage is the failure with its phase: "starttls: server replied 454
// 4.7.0 ...".
func errorMessage(e *probe.Error) string {
	return fmt.Sprintf("%s: %s", e.Phase, errorText(e))
}

// errorText is the failure without its phase, for checks named after it. A
// refused reply says itself ("server replied 554 5.7.1 ...", a
// *probe.ReplyError); a 220 to STARTTLS followed by injected plaintext
// failed for the plaintext, not the reply.
func errorText(e *probe.Error) string { return e.Err.Error() }

func checkConnect(r *probe.Result) Check {
	c := Check{ID: CheckConnect}
	if e := r.Error; e != nil {
		switch e.Phase {
		case probe.PhaseDNS:
			c.Status, c.Message = Unknown, resolveFailure(r.Endpoint.Host, e.Err)
			return c
		case probe.PhaseConnect:
			if r.Endpoint.DefaultPort {
				// Keeping 587 or 2525 closed is how many servers are
				// meant to be; judgeSilentHosts raises it when no port
				// of the host answered at all.
				c.Status, c.Message = Skipped, fmt.Sprintf("port %d: %s, not asked for", r.Endpoint.Port, unanswered(e.Err))
				return c
			}
			c.Status, c.Message = Critical, errorMessage(e)
			return c
		case probe.PhaseBanner, probe.PhaseEHLO:
			c.Status, c.Message = Critical, errorMessage(e)
			return c
		case probe.PhaseHandshake:
			if r.Mode == probe.ModeImplicit {
				c.Status, c.Message = OK, "connected to "+r.Address
				return c
			}
		}
	}
	c.Status, c.Message = OK, "connected to "+r.Address
	if r.Banner != nil {
		c.Message += fmt.Sprintf(", greeted with %d", r.Banner.Code)
	}
	return c
}

// unanswered says how a port did not answer: "closed" when it refused the
// connection, "filtered" when nothing answered in time.
func unanswered(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "closed (connection refused)"
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("filtered (no answer within %s)", probe.DefaultPortConnectTimeout)
	}
	return "no connection (" + err.Error() + ")"
}

// judgeSilentHosts makes a host none of whose ports answered CRITICAL: a
// closed default port is no problem while another port of the host takes
// mail, but a host that takes none on any port is down or unreachable. A
// host is its name at one address (each node of a pool on its own).
func judgeSilentHosts(s *Summary) {
	type host struct{ name, address string }
	silent := map[host][]int{}
	answered := map[host]bool{}
	var order []host
	for i := range s.Endpoints {
		r := &s.Endpoints[i].Result
		h := host{strings.ToLower(r.Endpoint.Host), r.Address}
		if _, seen := silent[h]; !seen && !answered[h] {
			order = append(order, h)
		}
		if r.Error != nil && (r.Error.Phase == probe.PhaseConnect || r.Error.Phase == probe.PhaseDNS) {
			silent[h] = append(silent[h], i)
		} else {
			answered[h] = true
		}
	}
	for _, h := range order {
		if answered[h] {
			continue
		}
		var ports []string
		for _, i := range silent[h] {
			r := &s.Endpoints[i].Result
			if r.Error.Phase == probe.PhaseConnect {
				ports = append(ports, fmt.Sprintf("%d %s", r.Endpoint.Port, strings.SplitN(unanswered(r.Error.Err), " (", 2)[0]))
			}
		}
		for _, i := range silent[h] {
			ep := &s.Endpoints[i]
			for j := range ep.Checks {
				if c := &ep.Checks[j]; c.ID == CheckConnect && c.Status == Skipped && ep.Result.Endpoint.DefaultPort {
					c.Status = Critical
					c.Message = fmt.Sprintf("no SMTP port of %s answered (%s)", ep.Result.Endpoint.Host, strings.Join(ports, ", "))
				}
			}
		}
	}
}

// resolveFailure says why a host did not resolve without repeating its name
// the way net.DNSError's text does ("lookup X on Y: no such host").
func resolveFailure(host string, err error) string {
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		return fmt.Sprintf("cannot resolve %s: %v", host, err)
	}
	// dnsErr.Server is left out: with --resolver it names the system's
	// server, not the one asked.
	return fmt.Sprintf("cannot resolve %s: %s", host, dnsErr.Err)
}

func checkSTARTTLS(r *probe.Result) Check {
	c := Check{ID: CheckSTARTTLS}
	switch {
	case r.Mode == probe.ModeImplicit:
		c.Status, c.Message = Skipped, "implicit TLS: TLS starts at connect"
	case !r.STARTTLSObserved():
		c.Status, c.Message = Skipped, "no EHLO reply to read"
	case !r.STARTTLSOffered:
		c.Status, c.Message = Critical, "STARTTLS not offered in the EHLO reply: senders that require TLS fail with \"451 5.7.3 STARTTLS is required to send mail\""
	case r.STARTTLSReply == nil && r.Error != nil:
		c.Status, c.Message = Critical, "offered, but "+errorText(r.Error)
	case r.STARTTLSReply == nil:
		c.Status, c.Message = Critical, "offered, but no reply to STARTTLS was recorded"
	case r.STARTTLSReply.Code != 220:
		c.Status, c.Message = Critical, fmt.Sprintf("offered, but refused: %d %s", r.STARTTLSReply.Code, r.STARTTLSReply.Text())
	case r.Error != nil && r.Error.Phase == probe.PhaseSTARTTLS:
		c.Status, c.Message = Critical, "accepted, but "+errorText(r.Error)
	default:
		c.Status, c.Message = OK, "offered and accepted"
	}
	return c
}

func checkHandshake(r *probe.Result) Check {
	c := Check{ID: CheckHandshake}
	switch {
	case r.Error != nil && r.Error.Phase == probe.PhaseHandshake && len(r.Chain) > 0:
		c.Status, c.Message = Critical, "TLS handshake failed after the server sent its certificate: "+describeTLSError(r.Error.Err)+"; no session was established, so no mail can go over TLS"
	case r.Error != nil && r.Error.Phase == probe.PhaseHandshake:
		c.Status, c.Message = Critical, "TLS handshake failed: "+describeTLSError(r.Error.Err)
	case r.TLS == nil || !r.TLS.HandshakeComplete:
		c.Status, c.Message = Skipped, "no TLS handshake was attempted"
	case r.Error != nil && r.Error.Phase == probe.PhasePostTLS:
		// A server that drops the session right after the handshake takes
		// no mail over TLS, however good its certificate.
		c.Status, c.Message = Critical, "TLS handshake completed, but the session failed after it: "+errorText(r.Error)
	default:
		c.Status, c.Message = OK, fmt.Sprintf("%s, %s", tlsVersionName(r.TLS.Version), cipherSuiteName(r.TLS.CipherSuite))
	}
	return c
}

// describeTLSError names the alert when the server sent one.
func describeTLSError(err error) string {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return fmt.Sprintf("server sent TLS alert %q (%d)", alert.Error(), uint8(alert))
	}
	// Over TCP, crypto/tls reports a received alert as a *net.OpError
	// "remote error" around its unexported alert type, not as AlertError
	// (that is for QUIC); %d prints the alert's number.
	var remote *net.OpError
	if errors.As(err, &remote) && remote.Op == "remote error" {
		return fmt.Sprintf("server sent TLS alert %q (%d)", remote.Err.Error(), remote.Err)
	}
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) {
		return "the server did not answer with TLS (first bytes " + fmt.Sprintf("%q", rhe.RecordHeader[:]) + ")"
	}
	return err.Error()
}

// severityForClients is Critical where clients validate certificates and
// Warning where TLS is opportunistic.
func severityForClients(ep probe.Endpoint) Status {
	if clientsValidate(ep.ServicePort()) {
		return Critical
	}
	return Warning
}

// opportunisticNote says why a name or trust failure has the severity it
// has on this port. Exchange's roles are named only where the server is
// recognised as Exchange.
func opportunisticNote(ep *Endpoint) string {
	switch role := ep.ServicePort; {
	case clientsValidate(role):
		return fmt.Sprintf(" (port %d: mail clients validate certificates and will refuse or warn)", role)
	case role == 2525 && ep.Server.Software == SoftwareExchange:
		return " (a warning on port 2525: Exchange's back-end transport, reached only by Exchange's own front end, which accepts it)"
	default:
		return fmt.Sprintf(" (a warning on port %d: TLS between servers is opportunistic and most senders deliver anyway; senders that validate, such as MTA-STS or DANE senders and TLS-enforcing connectors, will refuse)", role)
	}
}

func checkName(ep *Endpoint, leaf *x509.Certificate, name string) Check {
	r := &ep.Result
	c := Check{ID: CheckName}
	switch {
	case leaf == nil:
		c.Status, c.Message = Skipped, "no certificate presented"
		return c
	case name == "":
		c.Status, c.Message = Skipped, "target is an IP address and no --name was given"
		return c
	}
	err := leaf.VerifyHostname(name)
	if err == nil {
		c.Status, c.Message = OK, "certificate is valid for "+name
		return c
	}
	if defaultCertificateOnBackend(ep) {
		c.Status, c.Message = OK, fmt.Sprintf("not valid for %s, but this is Exchange's default certificate (%s) on the back-end port 2525, where it belongs", name, leaf.Subject.CommonName)
		return c
	}
	c.Status = severityForClients(r.Endpoint)
	covers := strings.Join(subjectAltNames(leaf), ", ")
	if covers == "" {
		covers = "no subject alternative names"
	}
	if strings.EqualFold(leaf.Subject.CommonName, name) {
		c.Message = fmt.Sprintf("only the subject CN matches %s; clients ignore the CN and read the SANs (%s)", name, covers) + opportunisticNote(ep)
		return c
	}
	c.Message = fmt.Sprintf("certificate is not valid for %s: it covers %s", name, covers) + opportunisticNote(ep)
	return c
}

// backendExemption is why an expectation about the front-end certificate
// does not apply to Exchange's back-end port 2525.
const backendExemption = "Exchange's default certificate on the back-end port 2525, where it belongs; the expectation names the front-end certificate"

func checkThumbprint(ep *Endpoint, want Thumbprint) Check {
	c := Check{ID: CheckThumbprint}
	leaf := ep.Result.Leaf()
	switch {
	case want.isZero():
		c.Status, c.Message = Skipped, "no --thumbprint given"
	case leaf == nil:
		// The starttls, handshake or connect check says why.
		c.Status, c.Message = Skipped, "no certificate presented"
	case defaultCertificateOnBackend(ep) && !want.matches(leaf):
		c.Status, c.Message = Skipped, backendExemption
	case want.matches(leaf):
		c.Status, c.Message = OK, want.kind()+" matches "+want.String()
	default:
		c.Status, c.Message = Critical, fmt.Sprintf("leaf %s %s differs from the expected %s", want.kind(), want.of(leaf), want.String())
	}
	return c
}

// checkTLSCertificateName compares the connector's -TlsCertificateName with
// the leaf presented. Exchange picks the certificate for STARTTLS by that
// name; when it names another certificate (a renewal not bound, an old one
// deleted) Exchange logs Event 12014 and stops offering STARTTLS, or offers
// another certificate (KB 2989382).
func checkTLSCertificateName(ep *Endpoint, want string) Check {
	c := Check{ID: CheckTLSCertificateName}
	leaf := ep.Result.Leaf()
	if want == "" {
		c.Status, c.Message = Skipped, "no --tls-certificate-name given"
		return c
	}
	if leaf == nil {
		c.Status, c.Message = Skipped, "no certificate presented to compare with the connector's TlsCertificateName"
		return c
	}
	if defaultCertificateOnBackend(ep) {
		c.Status, c.Message = Skipped, backendExemption
		return c
	}
	wanted, err := dotnetname.ParseTLSCertificateName(want)
	if err != nil {
		c.Status, c.Message = Unknown, "cannot read --tls-certificate-name: "+err.Error()
		return c
	}
	got := dotnetname.PresentedTLSName(leaf)
	if wanted == got {
		c.Status, c.Message = OK, "the presented certificate is the one the connector names: "+got.String()
		return c
	}
	var differs string
	switch {
	case wanted.Issuer != got.Issuer && wanted.Subject != got.Subject:
		differs = "issuer and subject differ"
	case wanted.Issuer != got.Issuer:
		differs = "the issuer differs"
	default:
		differs = "the subject differs"
	}
	c.Status = Critical
	// The values are printed bare, not %q-quoted, so that an admin can paste
	// them: they hold quotes of their own (O="Contoso, Ltd").
	c.Message = fmt.Sprintf("the connector's TlsCertificateName names a certificate that is not the one presented (%s); "+
		"connector: %s ; presented: %s ; Exchange logs Event 12014 when the named certificate is missing "+
		"and stops offering STARTTLS (KB 2989382); if the presented certificate is the right one, set the connector's "+
		"-TlsCertificateName to the presented value", differs, strings.TrimSpace(want), got.String())
	return c
}

func checkTrust(ep *Endpoint, expect *Expect, now time.Time) Check {
	r := &ep.Result
	c := Check{ID: CheckTrust}
	if len(r.Chain) == 0 {
		c.Status, c.Message = Skipped, "no certificate presented"
		return c
	}
	verdict := expect.verifyChain(r.Chain, now)
	switch {
	case verdict.reason == "":
		c.Status, c.Message = OK, "chain verifies to a trusted root"
	case defaultCertificateOnBackend(ep):
		c.Status, c.Message = OK, verdict.reason+"; expected of Exchange's default certificate on the back-end port 2525, where only Exchange's own front end connects and accepts it"
	case verdict.leafOutOfDate:
		// The expiry check says how bad that is: "most senders deliver
		// anyway" here would play down its critical.
		c.Status, c.Message = severityForClients(r.Endpoint), verdict.reason+"; see the expiry check"
	default:
		c.Status, c.Message = severityForClients(r.Endpoint), verdict.reason+opportunisticNote(ep)
	}
	return c
}

// defaultCertificateOnBackend reports whether the endpoint is Exchange's
// back-end transport (2525) presenting Exchange's default self-signed
// certificate: that is how it should be, and a cron check of a healthy
// Exchange server must not warn about it forever. Only on a server
// recognised as Exchange: elsewhere 2525 is an ordinary port.
func defaultCertificateOnBackend(ep *Endpoint) bool {
	return ep.ServicePort == 2525 && ep.Server.Software == SoftwareExchange && isExchangeDefaultCertificate(ep.Result.Leaf())
}

func checkExpiry(leaf *x509.Certificate, expect Expect, now time.Time) Check {
	c := Check{ID: CheckExpiry}
	if leaf == nil {
		c.Status, c.Message = Skipped, "no certificate presented"
		return c
	}
	days := daysLeft(leaf, now)
	notAfter := leaf.NotAfter.UTC().Format(time.DateOnly)
	switch {
	case now.Before(leaf.NotBefore):
		c.Status, c.Message = Critical, "not yet valid: valid from "+leaf.NotBefore.UTC().Format(time.DateTime)+" UTC"
	case now.After(leaf.NotAfter):
		c.Status, c.Message = Critical, fmt.Sprintf("expired on %s (%s)", notAfter, ExpiredAgo(days))
	case days < expect.CritDays:
		c.Status, c.Message = Critical, fmt.Sprintf("expires on %s, in %d days (critical below %d)", notAfter, days, expect.CritDays)
	case days < expect.WarnDays:
		c.Status, c.Message = Warning, fmt.Sprintf("expires on %s, in %d days (warning below %d)", notAfter, days, expect.WarnDays)
	default:
		c.Status, c.Message = OK, fmt.Sprintf("expires on %s, in %d days", notAfter, days)
	}
	return c
}

func checkProtocol(r *probe.Result) Check {
	c := Check{ID: CheckProtocol}
	switch {
	case r.TLS == nil || !r.TLS.HandshakeComplete:
		c.Status, c.Message = Skipped, "no TLS session"
	case r.TLS.Version < tls.VersionTLS12:
		c.Status, c.Message = Warning, tlsVersionName(r.TLS.Version)+" is below TLS 1.2, which RFC 8996 deprecates"
	default:
		c.Status, c.Message = OK, tlsVersionName(r.TLS.Version)
	}
	return c
}
