package report

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
)

// sha1Hex is the certificate's SHA-1 thumbprint as Exchange writes it: 40
// upper-case hex digits, no separators, ready for
// Enable-ExchangeCertificate -Thumbprint.
func sha1Hex(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return fmt.Sprintf("%X", sum[:])
}

// sha256Hex is the SHA-256 thumbprint in the same style.
func sha256Hex(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%X", sum[:])
}

// spkiSHA256Hex is the SHA-256 of the certificate's public key
// (SubjectPublicKeyInfo), as DANE's selector 1, matching type 1 takes it.
func spkiSHA256Hex(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return fmt.Sprintf("%X", sum[:])
}

// serialHex is the serial number in upper-case hex, from its DER bytes so that
// a leading zero byte survives, as Windows shows it.
func serialHex(c *x509.Certificate) string {
	var tbs struct {
		Version int `asn1:"optional,explicit,default:0,tag:0"`
		Serial  asn1.RawValue
	}
	if _, err := asn1.UnmarshalWithParams(c.RawTBSCertificate, &tbs, ""); err == nil && len(tbs.Serial.Bytes) > 0 {
		return fmt.Sprintf("%X", tbs.Serial.Bytes)
	}
	return fmt.Sprintf("%X", c.SerialNumber.Bytes())
}

// keyDescription is "RSA 2048", "ECDSA P-256" or "Ed25519".
func keyDescription(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

// subjectAltNames lists the subject alternative names as "DNS:name" and "IP:address".
func subjectAltNames(c *x509.Certificate) []string {
	var out []string
	for _, n := range c.DNSNames {
		out = append(out, "DNS:"+n)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+e)
	}
	for _, u := range c.URIs {
		out = append(out, "URI:"+u.String())
	}
	return out
}

// isSelfSigned reports whether the certificate names itself as issuer and
// carries a signature its own key made.
func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	// CheckSignatureFrom would refuse a non-CA parent; a self-signed leaf
	// (Exchange's default certificate) is not a CA.
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// daysLeft is the number of whole days from now to NotAfter; negative once
// expired.
func daysLeft(c *x509.Certificate, now time.Time) int {
	return int(math.Floor(c.NotAfter.Sub(now).Hours() / 24))
}

// Certificate is what every output shows of one certificate, worked out
// once per run (Summary.Certificates) so that no two formats can disagree
// on a fact, and no renderer needs crypto/x509 to find one.
type Certificate struct {
	// DER is the certificate as sent, for outputs that hand it over.
	DER []byte
	// Subject and Issuer are RFC 2253 strings, as Go prints names; they
	// hold server-sent text, unescaped.
	Subject, Issuer string
	// SubjectCN is the subject's common name, "" when it has none.
	SubjectCN string
	// DotNetSubject is the subject as Windows .NET prints it.
	DotNetSubject string
	// TLSCertificateName is the value for Set-ReceiveConnector
	// -TlsCertificateName: "<I>" + issuer + "<S>" + subject, as .NET
	// prints names.
	TLSCertificateName string
	// SANs are "DNS:name", "IP:address", "email:..." and "URI:...".
	SANs         []string
	Serial       string
	NotBefore    time.Time
	NotAfter     time.Time
	SHA1, SHA256 string
	// SPKISHA256 is the SHA-256 of the leaf's SubjectPublicKeyInfo, in
	// the same style: what a DANE "3 1 1" TLSA record and key pinning
	// hold, and what survives a renewal that keeps the key.
	SPKISHA256         string
	Key                string
	SignatureAlgorithm string
	SelfSigned         bool
	// Validity is the certificate's state at Summary.Now; DaysLeft the
	// whole days from then to NotAfter, rounded down: -1 on the first day
	// after expiry, so the text's "expired 1 day ago" and every format's
	// days left say the same.
	Validity Validity
	DaysLeft int
}

// Validity is a certificate's state at the instant of the judgement.
type Validity string

const (
	Valid       Validity = "valid"
	Expired     Validity = "expired"
	NotYetValid Validity = "not yet valid"
)

// certificateViews makes each certificate's view once per judgement, from
// the facts the run's Cache remembers: a pool presents one chain on every
// node, and intermediates repeat across hosts.
type certificateViews struct {
	now   time.Time
	cache *Cache
	views map[string]*Certificate // by DER
}

func (v *certificateViews) of(c *x509.Certificate) *Certificate {
	if view, ok := v.views[string(c.Raw)]; ok {
		return view
	}
	view := new(Certificate)
	*view = *v.cache.certificate(c)
	view.Validity, view.DaysLeft = validityAt(c, v.now)
	if v.views == nil {
		v.views = map[string]*Certificate{}
	}
	v.views[string(c.Raw)] = view
	return view
}

func (v *certificateViews) chain(chain []*x509.Certificate) []*Certificate {
	if len(chain) == 0 {
		return nil
	}
	out := make([]*Certificate, len(chain))
	for i, c := range chain {
		out[i] = v.of(c)
	}
	return out
}

// certificateFacts is what a certificate's view holds but its state at an
// instant (validityAt).
func certificateFacts(c *x509.Certificate) *Certificate {
	return &Certificate{
		DER:                c.Raw,
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		SubjectCN:          c.Subject.CommonName,
		DotNetSubject:      dotnetname.Format(c.RawSubject),
		TLSCertificateName: dotnetname.TLSCertificateName(c),
		SANs:               subjectAltNames(c),
		Serial:             serialHex(c),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		SHA1:               sha1Hex(c),
		SHA256:             sha256Hex(c),
		SPKISHA256:         spkiSHA256Hex(c),
		Key:                keyDescription(c),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		SelfSigned:         isSelfSigned(c),
	}
}

// validityAt is c's state and days left at now.
func validityAt(c *x509.Certificate, now time.Time) (Validity, int) {
	switch {
	case now.Before(c.NotBefore):
		return NotYetValid, daysLeft(c, now)
	case now.After(c.NotAfter):
		return Expired, daysLeft(c, now)
	}
	return Valid, daysLeft(c, now)
}

// Negotiated is what the TLS handshake agreed on, in words.
type Negotiated struct {
	Version     string // "TLS 1.3"
	CipherSuite string // crypto/tls's name
	// ServerName is the SNI sent, "" when none was.
	ServerName string
	// KeyExchange is the key-exchange group, as openssl names its
	// "Server Temp Key": "X25519MLKEM768", "X25519", "P-256"; "" for RSA
	// key exchange, which has none, and when nothing was negotiated.
	KeyExchange string
	// Complete is false when the certificate arrived but the handshake
	// failed after it: then Version and CipherSuite are "", since nothing
	// was negotiated.
	Complete bool
}

func negotiated(t *probe.TLSState) *Negotiated {
	if t == nil {
		return nil
	}
	if !t.HandshakeComplete {
		// The server's hello named a version and a suite, but the
		// handshake failed after its certificate: no session has them.
		return &Negotiated{ServerName: t.ServerName}
	}
	return &Negotiated{Version: tlsVersionName(t.Version), CipherSuite: cipherSuiteName(t.CipherSuite), ServerName: t.ServerName,
		KeyExchange: GroupName(t.CurveID), Complete: true}
}

// GroupName names a key-exchange group as openssl and the IANA registry
// do ("P-256", not Go's "CurveP256"); "" for none.
func GroupName(id tls.CurveID) string {
	switch id {
	case 0:
		return ""
	case tls.CurveP256:
		return "P-256"
	case tls.CurveP384:
		return "P-384"
	case tls.CurveP521:
		return "P-521"
	}
	// X25519, X25519MLKEM768, SecP256r1MLKEM768...: Go's names are the
	// registry's; an unknown one is "CurveID(N)".
	return id.String()
}

// cipherSuiteName is tls.CipherSuiteName for the suites crypto/tls knows,
// looked up in a map made once: tls.CipherSuiteName builds the list of
// every suite on each call, and judging an endpoint names its suite twice
// (about 6% of a merge's CPU, issue 14).
func cipherSuiteName(id uint16) string {
	if name, ok := knownSuites()[id]; ok {
		return name
	}
	return tls.CipherSuiteName(id)
}

var knownSuites = sync.OnceValue(func() map[uint16]string {
	names := map[uint16]string{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		names[s.ID] = s.Name
	}
	return names
})

// tlsVersionName is "TLS 1.3" and the like.
func tlsVersionName(v uint16) string {
	if v == 0 {
		return ""
	}
	return tls.VersionName(v)
}

// ExpiredAgo says how long ago a certificate with daysLeft (negative)
// expired, in the words of every output: "1 day ago", "3 days ago".
func ExpiredAgo(daysLeft int) string {
	if daysLeft == -1 {
		return "1 day ago"
	}
	return fmt.Sprintf("%d days ago", -daysLeft)
}
