package report

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/starttls-probe/starttls-probe/probe"
)

// Check IDs of --tls-scan.
const (
	// CheckLegacyTLS: TLS 1.0 or 1.1 accepted.
	CheckLegacyTLS = "legacy-tls"
	// CheckHeldCertificates: every certificate the scan was presented,
	// each with its own name, trust and expiry checks.
	CheckHeldCertificates = "certificates"
	// DiagLegacyTLS names the fix for TLS 1.0/1.1 in the server's terms.
	DiagLegacyTLS = "legacy-tls"
)

// Version states beyond the probe's outcomes.
const (
	// NotTestable: SSL 2.0 and 3.0, which crypto/tls cannot speak; never
	// "refused", which nobody checked.
	NotTestable = "not testable"
)

// UntestableSuites are the suite classes crypto/tls cannot offer, so the
// scan cannot tell whether the server accepts them: named, not passed over.
var UntestableSuites = []string{
	"DHE (finite-field Diffie-Hellman)", "AES-CCM", "ARIA", "Camellia", "export-grade", "NULL and anonymous", "SSL 2.0 and 3.0 suites",
}

// TLS13SuitesNote says why TLS 1.3 shows one suite.
const TLS13SuitesNote = "TLS 1.3 suites are not configurable in crypto/tls: the one negotiated is shown, not every one accepted"

// Posture is the --tls-scan, judged: what each output shows of it.
type Posture struct {
	// Versions are SSL 2.0 and 3.0 (not testable), then TLS 1.0 to 1.3.
	Versions []VersionPosture
	// Order is "server" (a choice went against the client's order) or
	// "client" (every choice followed it: the client's order, or a
	// server's that agrees with crypto/tls's fixed one), read on
	// OrderVersion; "" when no version accepted two suites.
	Order        string
	OrderVersion string
	Groups       []GroupPosture
	// Untestable and TLS13Note say what the scan cannot tell.
	Untestable []string
	TLS13Note  string
	// Certificates are every certificate the scan was presented (an RSA
	// and an ECDSA one show up as two), each judged on its own.
	Certificates []HeldCertificate
	// WithoutSNI says what a handshake without SNI was presented, when
	// the probe sent SNI.
	WithoutSNI *SNIComparison
	Handshakes int
	Duration   time.Duration
	// Error is why the scan stopped before the end; what it did not
	// reach is "not tested".
	Error string
}

// VersionPosture is one protocol version.
type VersionPosture struct {
	Version string // "TLS 1.2"
	// State is "accepted", "refused", "not tested" or "not testable".
	State  string
	Reason string
	Suites []SuitePosture
	// Complete is false when the enumeration was cut short.
	Complete bool
	// CBCFirst: the server's first choice at this version is a CBC suite
	// although it accepts an AEAD one.
	CBCFirst bool
}

// SuitePosture is one accepted suite and what is weak about it.
type SuitePosture struct {
	Name string
	// Weak names what is weak: "CBC", "3DES", "RC4", "RSA key exchange".
	Weak []string
}

// GroupPosture is one key-exchange group offered alone.
type GroupPosture struct {
	Group   string
	State   string
	Version string // what the accepting handshake negotiated
}

// HeldCertificate is one certificate the server holds, judged on its own.
type HeldCertificate struct {
	Certificate *Certificate
	Chain       []*Certificate
	// Negotiated is the first handshake that showed it: "TLS 1.2,
	// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".
	Negotiated string
	// Checks are its name, trust and expiry checks.
	Checks []Check
	Status Status
	// MatchesThumbprint is whether it is the --thumbprint's certificate,
	// when one was given.
	MatchesThumbprint bool
	// Checked is true for the certificate the probe's own handshake got,
	// the one the endpoint's checks judged.
	Checked bool
	OCSP    OCSPStaple
}

// OCSPStaple is what the server stapled with a certificate.
type OCSPStaple struct {
	Stapled bool `json:"stapled"`
	// Status is "good", "revoked" or "unknown" as the responder says;
	// "unreadable" when the staple does not parse or is not for this
	// certificate.
	Status     string    `json:"status,omitempty"`
	ProducedAt time.Time `json:"produced_at,omitzero"`
	NextUpdate time.Time `json:"next_update,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	// Stale: NextUpdate has passed.
	Stale bool   `json:"stale"`
	Error string `json:"error,omitempty"`
}

// SNIComparison is the handshake without SNI beside the probe's.
type SNIComparison struct {
	State string
	// Differs: a certificate other than the one presented with SNI.
	Differs bool
	Leaf    *Certificate
}

// judgePosture turns the scan into the endpoint's Posture and adds its
// checks; nothing when the scan did not run.
func judgePosture(ep *Endpoint, expect Expect, views *certificateViews, now time.Time) []Check {
	scan := ep.Result.Scan
	if scan == nil {
		return nil
	}
	p := &Posture{Untestable: UntestableSuites, TLS13Note: TLS13SuitesNote, Handshakes: scan.Handshakes, Duration: scan.Duration}
	if scan.Error != nil {
		p.Error = scan.Error.Error()
	}
	p.Versions = append(p.Versions,
		VersionPosture{Version: "SSL 2.0", State: NotTestable, Reason: "crypto/tls cannot speak it"},
		VersionPosture{Version: "SSL 3.0", State: NotTestable, Reason: "crypto/tls cannot speak it"})
	for _, v := range scan.Versions {
		vp := VersionPosture{Version: tlsVersionName(v.Version), State: string(v.Outcome), Complete: v.Complete}
		if v.Err != nil && v.Outcome != probe.Accepted {
			vp.Reason = v.Err.Error()
		}
		for _, id := range v.Suites {
			vp.Suites = append(vp.Suites, SuitePosture{Name: cipherSuiteName(id), Weak: suiteWeaknesses(id)})
		}
		if len(v.Suites) > 1 && slices.Contains(suiteWeaknesses(v.Suites[0]), "CBC") &&
			slices.ContainsFunc(v.Suites, func(id uint16) bool { return !slices.Contains(suiteWeaknesses(id), "CBC") }) {
			vp.CBCFirst = scan.Order == probe.ServerOrder
		}
		p.Versions = append(p.Versions, vp)
	}
	p.Order = string(scan.Order)
	p.OrderVersion = tlsVersionName(scan.OrderVersion)
	for _, g := range scan.Groups {
		p.Groups = append(p.Groups, GroupPosture{Group: GroupName(g.Group), State: string(g.Outcome), Version: tlsVersionName(g.Version)})
	}
	leaf := ep.Result.Leaf()
	for _, pc := range scan.Chains {
		p.Certificates = append(p.Certificates, judgeHeld(ep, pc, leaf, expect, views, now))
	}
	if w := scan.WithoutSNI; w != nil {
		cmp := &SNIComparison{State: string(w.Outcome)}
		if len(w.Chain) > 0 {
			cmp.Leaf = views.of(w.Chain[0])
			cmp.Differs = leaf != nil && !w.Chain[0].Equal(leaf)
		}
		p.WithoutSNI = cmp
	}
	ep.Posture = p
	return []Check{checkLegacyTLS(ep, scan), checkHeldCertificates(ep)}
}

// judgeHeld judges one presented chain as if it were the endpoint's: the
// same name, trust and expiry rules, on the same port.
func judgeHeld(ep *Endpoint, pc probe.PresentedChain, checkedLeaf *x509.Certificate, expect Expect, views *certificateViews, now time.Time) HeldCertificate {
	shadow := *ep
	shadow.Result.Chain = pc.Chain
	leaf := pc.Chain[0]
	h := HeldCertificate{Certificate: views.of(leaf), Chain: views.chain(pc.Chain),
		Negotiated: tlsVersionName(pc.Version) + ", " + cipherSuiteName(pc.CipherSuite),
		Checked:    checkedLeaf != nil && leaf.Equal(checkedLeaf), Status: OK}
	h.Checks = []Check{
		checkName(&shadow, leaf, ep.ExpectedName),
		checkTrust(&shadow, &expect, now),
		checkExpiry(leaf, expect, now),
	}
	for _, c := range h.Checks {
		h.Status = Worse(h.Status, c.Status)
	}
	if !expect.Thumbprint.isZero() {
		h.MatchesThumbprint = expect.Thumbprint.matches(leaf)
	}
	h.OCSP = readStaple(pc.OCSPResponse, pc.Chain, now)
	return h
}

// readStaple reads a stapled OCSP response for chain's leaf with
// golang.org/x/crypto/ocsp, checking the responder's signature against
// the issuer the server sent.
func readStaple(der []byte, chain []*x509.Certificate, now time.Time) OCSPStaple {
	if len(der) == 0 {
		return OCSPStaple{}
	}
	st := OCSPStaple{Stapled: true}
	var issuer *x509.Certificate
	if len(chain) > 1 {
		issuer = chain[1]
	}
	resp, err := ocsp.ParseResponseForCert(der, chain[0], issuer)
	if err != nil {
		st.Status, st.Error = "unreadable", err.Error()
		return st
	}
	st.Status = map[int]string{ocsp.Good: "good", ocsp.Revoked: "revoked", ocsp.Unknown: "unknown"}[resp.Status]
	st.ProducedAt, st.NextUpdate = resp.ProducedAt.UTC(), resp.NextUpdate.UTC()
	if resp.Status == ocsp.Revoked {
		st.RevokedAt = resp.RevokedAt.UTC()
	}
	st.Stale = !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate)
	return st
}

// suiteWeaknesses names what is weak in a suite below TLS 1.3.
func suiteWeaknesses(id uint16) []string {
	name := cipherSuiteName(id)
	var weak []string
	if strings.Contains(name, "_CBC_") {
		weak = append(weak, "CBC")
	}
	if strings.Contains(name, "3DES") {
		weak = append(weak, "3DES")
	}
	if strings.Contains(name, "RC4") {
		weak = append(weak, "RC4")
	}
	if strings.HasPrefix(name, "TLS_RSA_") {
		weak = append(weak, "RSA key exchange")
	}
	return weak
}

// legacyVersions are the versions RFC 8996 deprecates that the scan found
// accepted, and whether any newer one was.
func legacyVersions(scan *probe.Scan) (legacy []string, modern bool) {
	for _, v := range scan.Versions {
		if v.Outcome != probe.Accepted {
			continue
		}
		if v.Version < tls.VersionTLS12 {
			legacy = append(legacy, tlsVersionName(v.Version))
		} else {
			modern = true
		}
	}
	return legacy, modern
}

func checkLegacyTLS(ep *Endpoint, scan *probe.Scan) Check {
	c := Check{ID: CheckLegacyTLS}
	legacy, modern := legacyVersions(scan)
	var untested []string
	for _, v := range scan.Versions {
		if v.Outcome == probe.NotTested {
			untested = append(untested, tlsVersionName(v.Version))
		}
	}
	switch {
	case len(legacy) > 0 && !modern && len(untested) == 0:
		c.Status, c.Message = Critical, fmt.Sprintf("accepts only %s: Exchange Online (which refuses TLS 1.0 and 1.1 since January 2021) and most senders cannot use TLS with it", strings.Join(legacy, " and "))
	case len(legacy) > 0 && (ep.ServicePort == 25 || ep.ServicePort == 587):
		c.Status, c.Message = Warning, fmt.Sprintf("accepts %s beside TLS 1.2 or newer; RFC 8996 deprecates them, and no sender that needs them should be left", strings.Join(legacy, " and "))
	case len(legacy) > 0:
		c.Status, c.Message = OK, fmt.Sprintf("accepts %s beside TLS 1.2 or newer (only judged on ports 25 and 587)", strings.Join(legacy, " and "))
	case !modern && len(untested) > 0:
		c.Status, c.Message = Skipped, "not tested: "+strings.Join(untested, ", ")+" not reached by the scan"
	default:
		c.Status, c.Message = OK, "TLS 1.0 and 1.1 refused"
	}
	if len(untested) > 0 && c.Status != Skipped {
		c.Message += "; not tested: " + strings.Join(untested, ", ")
	}
	return c
}

func checkHeldCertificates(ep *Endpoint) Check {
	c := Check{ID: CheckHeldCertificates, Status: OK}
	held := ep.Posture.Certificates
	if len(held) == 0 {
		c.Status, c.Message = Skipped, "no certificate presented to the scan"
		return c
	}
	var parts []string
	for _, h := range held {
		var bad []string
		for _, ch := range h.Checks {
			if ch.Status != OK && ch.Status != Skipped {
				bad = append(bad, ch.ID+" "+strings.ToLower(ch.Status.String())+": "+ch.Message)
			}
		}
		desc := h.Certificate.Key + " " + h.Certificate.SHA1[:8] + "…"
		if len(bad) == 0 {
			parts = append(parts, desc+" ok")
			continue
		}
		parts = append(parts, desc+" ("+strings.Join(bad, "; ")+")")
		if !h.Checked {
			// The checked one counts in the endpoint's own checks
			// already; another certificate counts here, since some
			// senders get it.
			c.Status = Worse(c.Status, h.Status)
		}
	}
	c.Message = fmt.Sprintf("%d held: %s", len(held), strings.Join(parts, "; "))
	if c.Status != OK {
		c.Message += "; senders whose offer selects that certificate get it, so it needs the same care as the one checked above"
	}
	return c
}

// legacyTLS names the fix for TLS 1.0/1.1 in the recognised software's
// own terms.
func (d *diagContext) legacyTLS() *Diagnosis {
	if d.ep.Result.Scan == nil {
		return nil
	}
	legacy, _ := legacyVersions(d.ep.Result.Scan)
	if len(legacy) == 0 || (d.role != 25 && d.role != 587) {
		return nil
	}
	sev := SeverityWarning
	if st := checkStatus(d.ep, CheckLegacyTLS); st == Critical {
		sev = SeverityCritical
	}
	x := &Diagnosis{ID: DiagLegacyTLS, Severity: sev,
		Cause: fmt.Sprintf("Port %d accepts %s. Exchange Online has refused TLS 1.0 and 1.1 for mail flow since 2021-01-11, and RFC 8996 deprecates them.", d.role, strings.Join(legacy, " and "))}
	switch d.server.Software {
	case SoftwareExchange:
		// Exchange Server TLS configuration best practices
		// (learn.microsoft.com/exchange/exchange-tls-configuration):
		// SCHANNEL's server side, per version, then a restart.
		x.Fix = []string{"# Exchange Server TLS guidance: turn " + strings.Join(legacy, " and ") + " off in SCHANNEL on every Exchange server (check first that no client or partner still needs it), then restart the server"}
		for _, v := range legacy {
			key := `HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\` + v + `\Server`
			x.Fix = append(x.Fix,
				"New-Item -Path '"+key+"' -Force",
				"New-ItemProperty -Path '"+key+"' -Name Enabled -Value 0 -PropertyType DWord -Force",
				"New-ItemProperty -Path '"+key+"' -Name DisabledByDefault -Value 1 -PropertyType DWord -Force")
		}
		x.Fix = append(x.Fix, "Restart-Computer")
	case SoftwarePostfix:
		x.Fix = []string{
			// The exclusion form: ">=TLSv1.2" needs Postfix 3.6.
			postfixSet(d.role, "smtpd_tls_protocols", "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"),
			postfixSet(d.role, "smtpd_tls_mandatory_protocols", "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"),
			"postfix reload",
		}
	}
	return x
}

// checkStatus is the status of the endpoint's check id, Skipped when absent.
func checkStatus(ep *Endpoint, id string) Status {
	for _, c := range ep.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return Skipped
}
