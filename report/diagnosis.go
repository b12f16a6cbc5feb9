package report

import (
	"crypto/x509"
	"fmt"
	"iter"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// Severity says how much a diagnosis matters. Info explains and never
// changes the exit status; warnings and criticals count like checks.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

func (s Severity) status() Status {
	switch s {
	case SeverityCritical:
		return Critical
	case SeverityWarning:
		return Warning
	}
	return Skipped // the lowest: Worse never picks it over anything
}

// Diagnosis IDs, stable: scripts match on them.
const (
	DiagSTARTTLSMissingTLSRequired = "starttls-missing-tls-required"
	DiagSTARTTLSMissing            = "starttls-missing"
	DiagSMTPInspection             = "smtp-inspection"
	DiagBannerMasked               = "banner-masked"
	DiagNameMismatch               = "name-mismatch"
	DiagDefaultCertificate         = "default-certificate"
	DiagDefaultCertificateExpected = "default-certificate-expected"
	DiagAuthCertificate            = "auth-certificate"
	DiagExpiredCertificate         = "expired-certificate"
	DiagAuthBeforeTLS              = "auth-before-tls"
	DiagNoAuthAfterTLS             = "no-auth-after-tls"
	DiagCertificateDiffers         = "certificate-differs"
	DiagPlaintextOnImplicitPort    = "plaintext-on-implicit-port"
)

// Diagnosis is a cause named from the observations, and its fix.
type Diagnosis struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	// Cause is one sentence. It may quote server-sent text: renderers
	// escape it.
	Cause string `json:"cause"`
	// Fix is what to run, one command a line, with the probe's values
	// filled in; lines starting with "#" are comments. Empty when nothing
	// needs doing or the software is unknown.
	Fix []string `json:"fix"`
	// Compare puts the certificates of the endpoints side by side, for the
	// rules that compare endpoints.
	Compare []CertificateRow `json:"compare,omitempty"`
}

// CertificateRow is one distinct certificate in a side-by-side comparison:
// one row per certificate, not per endpoint, so that a name served by
// thousands of endpoints over a few certificates costs a few rows (issue 14:
// a row per endpoint in every endpoint's diagnosis was quadratic).
type CertificateRow struct {
	SHA1     string    `json:"sha1"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	// Count is how many of the compared endpoints present it.
	Count int `json:"count"`
	// Places are the MaxPlaces lowest of them, by address then port
	// (lowestPlaces): the same few whatever order the endpoints came in.
	Places []Place `json:"places"`
	// Differs marks the certificates that are not the one the others are
	// compared with (referenceLeaf).
	Differs bool `json:"differs"`
}

// Place is where an endpoint was reached.
type Place struct {
	Address     string `json:"address"`
	Port        int    `json:"port"`
	ServicePort int    `json:"service_port"`
}

// MaxPlaces bounds the example endpoints a CertificateRow names: enough to
// find the node, few enough that a pool of thousands stays readable.
const MaxPlaces = 5

// CertificateGroup is the comparison of the certificates that the endpoints
// of one mail host (one name: hostKey) present, when they present two or
// more: the table every certificate-differs diagnosis of the host shows.
type CertificateGroup struct {
	Name string           `json:"name"`
	Rows []CertificateRow `json:"certificates"`
	// ReferenceSHA1 is the certificate the others are compared with.
	ReferenceSHA1 string `json:"reference_sha1"`
}

// diagnose names the causes for every endpoint of s, and lets the warnings
// and criticals among them count in the statuses.
func diagnose(s *Summary, now time.Time) {
	// Grouped once for the run: finding each endpoint's group by scanning
	// every endpoint would be quadratic in a batch.
	groups := map[string]*hostGroup{}
	var order []*hostGroup
	for i := range s.Endpoints {
		key := hostKey(s.Endpoints[i])
		if groups[key] == nil {
			name := s.Endpoints[i].ExpectedName
			if name == "" {
				name = s.Endpoints[i].Result.Endpoint.Host
			}
			groups[key] = &hostGroup{name: name}
			order = append(order, groups[key])
		}
		groups[key].members = append(groups[key].members, &s.Endpoints[i])
	}
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		d := newDiagContext(ep, groups[hostKey(*ep)], now)
		if d.exchange() {
			// Named in every run, healthy or not; without the server's
			// name when nothing tells it ("Default Frontend").
			ep.Connector = strings.TrimSpace(exchangeConnector(d.role, d.serverName()))
		}
		ep.Diagnoses = d.rules()
	}
	for _, g := range order {
		if c := g.compared; c != nil && c.reference != nil {
			s.CertificateGroups = append(s.CertificateGroups, CertificateGroup{Name: g.name, Rows: c.rows, ReferenceSHA1: c.reference.SHA1})
		}
	}
}

// diagContext is what the rules read about one endpoint: its result, the
// other endpoints of the same mail host, and what they tell together.
type diagContext struct {
	ep    *Endpoint
	group []*Endpoint // all endpoints of the same name, this one included
	host  *hostGroup  // the same, with what is computed once for all of them
	now   time.Time
	role  int
	// server is this endpoint's software, or a peer's when this one's
	// banner and EHLO did not tell.
	server Server
	// name is the FQDN clients use, "" when unknown.
	name string
}

func newDiagContext(ep *Endpoint, host *hostGroup, now time.Time) *diagContext {
	d := &diagContext{ep: ep, group: host.members, host: host, now: now, role: ep.ServicePort, server: ep.Server, name: ep.ExpectedName}
	if d.server.Software == SoftwareUnknown {
		d.server.Software = host.software()
	}
	return d
}

// hostKey groups the endpoints of one mail host: the name clients use when
// there is one (so that nodes probed by address with --name group), else
// the host as given.
func hostKey(ep Endpoint) string { return groupKey(ep.ExpectedName, ep.Result.Endpoint.Host) }

func groupKey(expectedName, host string) string {
	if expectedName != "" {
		return strings.ToLower(expectedName)
	}
	return strings.ToLower(host)
}

// GroupKey is the mail host whose endpoints are judged together (their
// ports and addresses compared, a peer's software borrowed): the name
// clients use, else the host. Every cross-endpoint judgement (diagnoses,
// consistency, a host silent on every port) stays within one group, so a
// run that judges each group on its own, as -o jsonl does to keep its
// memory flat, decides what a judgement of the whole run decides.
func GroupKey(ep probe.Endpoint, expect Expect) string {
	return groupKey(expectedName(ep, expect), ep.Host)
}

// peers are the other endpoints of the same name, in report order: the
// group without this one, not copied (a copy per endpoint is quadratic when
// one --name covers a whole batch).
func (d *diagContext) peers() iter.Seq[*Endpoint] {
	return func(yield func(*Endpoint) bool) {
		for _, e := range d.group {
			if e != d.ep && !yield(e) {
				return
			}
		}
	}
}

// place names where an endpoint of the host is: "port 25", or
// "192.0.2.11 port 25" when the host was reached at several addresses.
func (d *diagContext) place(e *Endpoint) string {
	return d.placeOf(Place{Address: e.Result.Address, ServicePort: e.ServicePort})
}

func (d *diagContext) placeOf(p Place) string {
	if d.host.multiAddress() {
		return fmt.Sprintf("%s port %d", p.Address, p.ServicePort)
	}
	return fmt.Sprintf("port %d", p.ServicePort)
}

func (d *diagContext) exchange() bool { return d.server.Software == SoftwareExchange }

// exchangeLike is for the rules that a certificate made by Exchange setup
// gives away: Exchange, or a server that does not say what it is (a masked
// banner, an implicit-TLS port whose handshake failed). A server known to
// be something else gets neither Exchange's words nor its cmdlets.
func (d *diagContext) exchangeLike() bool {
	return d.exchange() || d.server.Software == SoftwareUnknown
}
func (d *diagContext) postfix() bool { return d.server.Software == SoftwarePostfix }

// netbiosName matches what Exchange server names can be.
var netbiosName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,14}$`)

// serverName is the Exchange server's name for connector identities. The
// default certificate's CN is the surest source (it is the NetBIOS name
// even when a connector's FQDN was changed); then the first label of a
// banner, unless the banner shows the public name, which is a connector FQDN
// and not the server's. "" when nothing tells.
func (d *diagContext) serverName() string {
	// The same for every member: worked out once per group, since a
	// connector is named for every Exchange endpoint.
	return d.host.once(&d.host.serverName, d.findServerName)
}

func (d *diagContext) findServerName() string {
	for _, e := range d.group {
		if leaf := e.Result.Leaf(); isExchangeDefaultCertificate(leaf) && netbiosName.MatchString(leaf.Subject.CommonName) {
			return strings.ToUpper(leaf.Subject.CommonName)
		}
	}
	for _, e := range d.group {
		if e.Server.Software != SoftwareExchange || e.Server.FQDN == "" || strings.EqualFold(e.Server.FQDN, d.name) {
			continue
		}
		if n := e.Server.ServerName(); netbiosName.MatchString(n) {
			return n
		}
	}
	return ""
}

// connectorIdentity is the -Identity of the connector on this port, as a
// PowerShell string: 'EXCH01\Client Frontend EXCH01', or with
// $env:COMPUTERNAME when the server's name is unknown (run on the server).
func (d *diagContext) connectorIdentity() string {
	server := d.serverName()
	if server == "" {
		conn := exchangeConnector(d.role, "$env:COMPUTERNAME")
		if conn == "" {
			conn = "<connector on port " + strconv.Itoa(d.role) + ">"
		}
		return `"$env:COMPUTERNAME\` + conn + `"`
	}
	conn := exchangeConnector(d.role, server)
	if conn == "" {
		conn = "<connector on port " + strconv.Itoa(d.role) + ">"
	}
	return psQuote(server + `\` + conn)
}

// connectorName is the connector's display name for causes; off Exchange,
// the service on the port.
func (d *diagContext) connectorName() string {
	if !d.exchangeLike() {
		return "the service on port " + strconv.Itoa(d.role)
	}
	server := d.serverName()
	if server == "" {
		server = "<server>"
	}
	if c := exchangeConnector(d.role, server); c != "" {
		return `the "` + c + `" connector`
	}
	return "the receive connector on port " + strconv.Itoa(d.role)
}

// goodCertificate is a certificate seen on this host that clients accept for
// the name: CA-issued, covering the name, within its validity. The newest
// wins, as Exchange's own selection picks the newest.
func (d *diagContext) goodCertificate() *x509.Certificate {
	if d.host.good == nil {
		d.host.good = &struct{ cert *x509.Certificate }{d.findGoodCertificate()}
	}
	return d.host.good.cert
}

func (d *diagContext) findGoodCertificate() *x509.Certificate {
	var best *x509.Certificate
	for _, e := range d.group {
		leaf := e.Result.Leaf()
		if acceptedFor(leaf, d.name, d.now) && (best == nil || newer(leaf, best)) {
			best = leaf
		}
	}
	return best
}

// plaintextEHLO is the EHLO reply sent before TLS, nil on implicit TLS.
func (d *diagContext) plaintextEHLO() *probe.Reply {
	if d.ep.Result.Mode != probe.ModeSTARTTLS {
		return nil
	}
	return d.ep.Result.EHLO
}

// rules runs every rule in order; each returns nil when it does not apply.
func (d *diagContext) rules() []Diagnosis {
	var out []Diagnosis
	for _, rule := range []func() *Diagnosis{
		d.smtpInspection,
		d.starttlsMissing,
		d.authCertificate,
		d.defaultCertificate,
		d.expiredCertificate,
		d.nameMismatch,
		d.authBeforeTLS,
		d.noAuthAfterTLS,
		d.certificateDiffers,
		d.plaintextOnImplicitPort,
		d.legacyTLS,
	} {
		if x := rule(); x != nil {
			out = append(out, *x)
		}
	}
	return out
}

// severityForClients is critical where clients validate certificates (587,
// 465) and a warning where TLS is opportunistic.
func (d *diagContext) severityForClients() Severity {
	if clientsValidate(d.role) {
		return SeverityCritical
	}
	return SeverityWarning
}
