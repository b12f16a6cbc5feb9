package reporttest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The diagnosis cases are hand-built results whose Dialogue lines come
// from probetest's Exchange personality (so they are what real Exchange
// says) and whose certificates are made here at test time, deterministically:
// Ed25519 keys from fixed seeds and fixed dates give the same DER, and so the
// same thumbprints in the golden files, on every run.

// DiagNow is the instant the diagnosis cases are judged at.
var DiagNow = time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)

const (
	DiagName   = "mail.contoso.test"
	DiagServer = "EXCH01"
	DiagDomain = "contoso.test"
)

// DiagPKI is the certificates of the diagnosis cases.
type DiagPKI struct {
	Root      *x509.Certificate
	Issuing   *x509.Certificate
	Good      []*x509.Certificate // mail.contoso.test, CA-issued, valid
	GoodOld   []*x509.Certificate // same name, older, still valid: a node not renewed
	WrongName []*x509.Certificate // legacy.contoso.test
	Expired   []*x509.Certificate // mail.contoso.test, expired 2030-01-01
	Renewed   []*x509.Certificate // same subject as expired, valid
	Default   []*x509.Certificate // Exchange's default self-signed certificate
	Auth      []*x509.Certificate // Microsoft Exchange Server Auth Certificate
	Hostile   []*x509.Certificate // valid for mail.contoso.test, quotes and control characters in its subject
}

type CertSpec struct {
	Seed     string
	Subject  pkix.Name
	DNSNames []string
	From, To time.Time
	CA       bool
}

// MakeCert signs spec with parent's key (self-signed when parent is nil).
func MakeCert(t testing.TB, spec CertSpec, parent *x509.Certificate, parentSeed string) *x509.Certificate {
	t.Helper()
	key := seededKey(spec.Seed)
	serial := sha256.Sum256([]byte("serial " + spec.Seed))
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial[:16]),
		Subject:               spec.Subject,
		DNSNames:              spec.DNSNames,
		NotBefore:             spec.From,
		NotAfter:              spec.To,
		BasicConstraintsValid: true,
	}
	if spec.CA {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	signer, issuer := key, tmpl
	if parent != nil {
		signer, issuer = seededKey(parentSeed), parent
	}
	// Ed25519 signatures are deterministic: rand is not read for them.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seededKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("key " + seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func NewDiagPKI(t testing.TB) DiagPKI {
	t.Helper()
	y := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
	var p DiagPKI
	p.Root = MakeCert(t, CertSpec{Seed: "root", CA: true, From: y(2025), To: y(2045),
		Subject: pkix.Name{CommonName: "Contoso Test Root CA", Organization: []string{"Contoso, Ltd"}, Country: []string{"US"}}}, nil, "")
	p.Issuing = MakeCert(t, CertSpec{Seed: "issuing", CA: true, From: y(2025), To: y(2040),
		Subject: pkix.Name{CommonName: "Contoso Issuing CA 1", Organization: []string{"Contoso, Ltd"}, Country: []string{"US"}}}, p.Root, "root")
	leaf := func(seed string, subject pkix.Name, names []string, from, to time.Time) []*x509.Certificate {
		return []*x509.Certificate{MakeCert(t, CertSpec{Seed: seed, Subject: subject, DNSNames: names, From: from, To: to}, p.Issuing, "issuing"), p.Issuing}
	}
	mailSubject := pkix.Name{CommonName: DiagName, OrganizationalUnit: []string{"IT"}, Organization: []string{"contoso"},
		Locality: []string{"Redmond"}, Province: []string{"WA"}, Country: []string{"US"}}
	p.Good = leaf("good", mailSubject, []string{DiagName, "autodiscover.contoso.test"}, y(2030), y(2031))
	p.GoodOld = leaf("good-old", mailSubject, []string{DiagName}, y(2029), time.Date(2030, 9, 1, 0, 0, 0, 0, time.UTC))
	p.WrongName = leaf("wrongname", pkix.Name{CommonName: "legacy.contoso.test"}, []string{"legacy.contoso.test"}, y(2029), y(2031))
	p.Expired = leaf("expired", mailSubject, []string{DiagName}, y(2028), y(2030))
	p.Renewed = leaf("renewed", mailSubject, []string{DiagName}, time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC), y(2031))
	p.Default = []*x509.Certificate{MakeCert(t, CertSpec{Seed: "default", Subject: pkix.Name{CommonName: DiagServer},
		DNSNames: []string{DiagServer, DiagServer + "." + DiagDomain}, From: y(2027), To: y(2032)}, nil, "")}
	p.Auth = []*x509.Certificate{MakeCert(t, CertSpec{Seed: "auth", Subject: pkix.Name{CommonName: "Microsoft Exchange Server Auth Certificate"},
		From: y(2027), To: y(2032)}, nil, "")}
	p.Hostile = leaf("hostile", pkix.Name{CommonName: DiagName + "\x1b]0;pwned\x07",
		Organization: []string{`O'Brien "Mail" Ltd`}}, []string{DiagName}, y(2029), y(2031))
	return p
}

// Roots trusts the PKI's root alone.
func (p DiagPKI) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root)
	return pool
}

// ReplyOf reads scripted reply lines ("250-...", "250 ...") into a Reply.
func ReplyOf(t testing.TB, lines []string) *probe.Reply {
	t.Helper()
	if len(lines) == 0 {
		return nil
	}
	code, err := strconv.Atoi(lines[0][:3])
	if err != nil {
		t.Fatalf("reply %q: %v", lines, err)
	}
	r := &probe.Reply{Code: code}
	for _, l := range lines {
		r.Lines = append(r.Lines, l[4:])
	}
	return r
}

// Dialogue describes one endpoint's observations.
type Dialogue struct {
	Role    int
	Address string // 127.0.0.1 unless set
	// script is the server's side; chain what it presents after STARTTLS.
	Script probetest.Script
	Chain  []*x509.Certificate
	// noTLSRequiredTest leaves Result.TLSRequired nil.
	NoTLSRequiredTest bool
	// handshakeErr, on implicit TLS, is the handshake's failure.
	HandshakeErr error
}

func ExchangeScript(connector probetest.ExchangeConnector, withCert, requireTLS, masked bool) probetest.Script {
	ex := probetest.Exchange{
		Server: DiagServer, Domain: DiagDomain, Connector: connector,
		RequireTLS: requireTLS, Masked: masked, Exchange2019: true,
		Now: time.Date(2030, 6, 15, 13, 59, 58, 0, time.FixedZone("", 2*3600)),
	}
	if withCert {
		// Only whether there is one matters to the script.
		ex.Chain = &probetest.Chain{}
	}
	return ex.Script()
}

func PostfixScript(ehlo, ehloAfterTLS []string, requireTLS bool) probetest.Script {
	sc := probetest.Script{
		Greeting:     []string{"220 mx.contoso.test ESMTP Postfix (Debian/GNU)"},
		EHLO:         append([]string{"250-mx.contoso.test"}, ehlo...),
		EHLOAfterTLS: append([]string{"250-mx.contoso.test"}, ehloAfterTLS...),
		STARTTLS:     []string{"220 2.0.0 Ready to start TLS"},
	}
	if requireTLS {
		sc.Mail = []string{"530 5.7.0 Must issue a STARTTLS command first"}
	}
	return sc
}

// result turns a Dialogue into the Result the probe would have recorded.
func (d Dialogue) Result(t testing.TB) probe.Result {
	t.Helper()
	addr := d.Address
	if addr == "" {
		addr = "127.0.0.1"
	}
	ep := probe.Endpoint{Target: DiagName, Host: DiagName, Port: d.Role, Address: addr}
	r := probe.Result{Endpoint: ep, Address: addr, Mode: probe.ModeSTARTTLS, Started: DiagNow.Add(-time.Second)}
	if d.Role == 465 {
		r.Mode = probe.ModeImplicit
		r.Endpoint.Implicit = true
	}
	if r.Mode == probe.ModeImplicit && d.HandshakeErr != nil {
		r.Error = &probe.Error{Phase: probe.PhaseHandshake, Err: d.HandshakeErr}
		return r
	}
	r.Banner = ReplyOf(t, d.Script.Greeting)
	mail := d.Script.Mail
	if mail == nil {
		mail = []string{"250 2.1.0 Sender OK"}
	}
	if r.Mode == probe.ModeImplicit {
		r.EHLO = ReplyOf(t, d.Script.EHLOAfterTLS)
	} else {
		r.EHLO = ReplyOf(t, d.Script.EHLO)
		r.STARTTLSOffered = r.EHLO.HasKeyword("STARTTLS")
		if !d.NoTLSRequiredTest {
			r.TLSRequired = &probe.TLSRequiredTest{Banner: r.Banner, EHLO: r.EHLO, Mail: ReplyOf(t, mail)}
		}
	}
	if r.Mode == probe.ModeImplicit || (r.STARTTLSOffered && d.Chain != nil) {
		if r.Mode == probe.ModeSTARTTLS {
			r.STARTTLSReply = ReplyOf(t, d.Script.STARTTLS)
			r.EHLOAfterTLS = ReplyOf(t, d.Script.EHLOAfterTLS)
		}
		r.TLS = &probe.TLSState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			ServerName: DiagName, HandshakeComplete: true}
		r.Chain = d.Chain
	}
	return r
}

// Exchange dialogues on the default ports, presenting cert (none when nil).
func Frontend(cert []*x509.Certificate) Dialogue {
	return Dialogue{Role: 25, Script: ExchangeScript(probetest.DefaultFrontend, cert != nil, false, false), Chain: cert}
}

func Client(cert []*x509.Certificate) Dialogue {
	return Dialogue{Role: 587, Script: ExchangeScript(probetest.ClientFrontend, cert != nil, false, false), Chain: cert}
}

func Hub(cert []*x509.Certificate) Dialogue {
	return Dialogue{Role: 2525, Script: ExchangeScript(probetest.HubTransport, cert != nil, false, false), Chain: cert}
}

// Scenarios are the named sets of dialogues that both the diagnosis rules
// (report) and the golden files (report/render) judge.
func (p DiagPKI) Scenarios() map[string][]Dialogue {
	kb := Dialogue{Role: 25, Script: ExchangeScript(probetest.DefaultFrontend, false, true, false)}
	masked := Dialogue{Role: 25, Script: ExchangeScript(probetest.DefaultFrontend, true, false, true), Chain: p.Good}
	postfixPlainAuth := Dialogue{Role: 587, Chain: p.Good, Script: PostfixScript(
		[]string{"250-PIPELINING", "250-STARTTLS", "250 AUTH PLAIN LOGIN"},
		[]string{"250-PIPELINING", "250 AUTH PLAIN LOGIN"}, false)}
	secondNode := Frontend(p.GoodOld)
	secondNode.Address = "127.0.0.2"
	return map[string][]Dialogue{
		"exchange-kb2989382":             {kb, Client(p.Good), Hub(p.Default)},
		"firewall-masks-starttls":        {masked},
		"exchange-expired-after-renewal": {Frontend(p.Expired), Client(p.Renewed)},
		"postfix-auth-before-tls":        {postfixPlainAuth},
		"two-nodes":                      {Frontend(p.Good), secondNode},
	}
}
