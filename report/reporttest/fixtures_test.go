package reporttest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The golden tests read fixed certificate chains from testdata/certs, so that
// no generated value (key, serial, thumbprint) differs between runs. They are
// made once by hand:
//
//	go test ./report/reporttest -run TestGenerateFixtures -generate
//	go test ./report/render -update
//
// Every validity period is fixed and long (2025 to 2045, the expired leaf
// excepted), so regenerating changes keys, serials and thumbprints but no
// date, and the goldens stay valid whatever day the tests run: they judge at
// render's goldenNow, never at time.Now.
var generate = flag.Bool("generate", false, "regenerate the certificate chains in testdata/certs (then run with -update)")

const certsDir = "testdata/certs"

var (
	fixtureFrom = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fixtureTo   = time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC)
)

// t61Organization is not UTF-8: a T61String holding the bytes 0xff 0xfe.
// Go's parser decodes T61String as Latin-1 ("ÿþ"), so certificate text
// always reaches the renderers as valid UTF-8; raw invalid UTF-8 can only
// come in SMTP replies, which the hostile case also carries.
const t61Organization = "Contoso \xff\xfe Ltd"

// fixture is one certificate to make: issued by issuer, or self-signed when
// issuer is "".
type fixture struct {
	name     string
	issuer   string
	ca       bool
	subject  pkix.Name
	dnsNames []string
	from, to time.Time
	rsa      bool
}

func fixtures() []fixture {
	return []fixture{
		{name: "root", ca: true, subject: pkix.Name{CommonName: "Contoso Test Root CA", Organization: []string{"starttls-probe test"}}},
		{name: "intermediate", issuer: "root", ca: true, subject: pkix.Name{CommonName: "Contoso Issuing CA 1", Organization: []string{"starttls-probe test"}}},
		{name: "good", issuer: "intermediate", rsa: true, subject: pkix.Name{CommonName: "mail.contoso.test"},
			dnsNames: []string{"mail.contoso.test", "autodiscover.contoso.test"}},
		{name: "wrongname", issuer: "intermediate", subject: pkix.Name{CommonName: "legacy.contoso.test"},
			dnsNames: []string{"legacy.contoso.test"}},
		{name: "expired", issuer: "intermediate", subject: pkix.Name{CommonName: "mail.contoso.test"},
			dnsNames: []string{"mail.contoso.test"}, to: time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)},
		// Exchange's default certificate: CN is the NetBIOS name.
		{name: "selfsigned", rsa: true, subject: pkix.Name{CommonName: "EXCH01"},
			dnsNames: []string{"EXCH01", "EXCH01.contoso.test"}},
		{name: "hostile", issuer: "intermediate", subject: pkix.Name{
			CommonName: HostileCN,
			ExtraNames: []pkix.AttributeTypeAndValue{{
				Type:  asn1.ObjectIdentifier{2, 5, 4, 10}, // organizationName
				Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagT61String, Bytes: []byte(t61Organization)},
			}},
		}, dnsNames: []string{"mail.contoso.test", "evil\x1b]0;pwned\x07.contoso.test"}},
	}
}

// TestGenerateFixtures writes testdata/certs/<name>.pem: the certificate
// followed by its issuers up to, not including, the root, as a server sends
// it. It runs only with -generate.
func TestGenerateFixtures(t *testing.T) {
	if !*generate {
		t.Skip("run with -generate to rewrite testdata/certs")
	}
	if err := os.MkdirAll(certsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	type issued struct {
		cert  *x509.Certificate
		key   crypto.Signer
		chain []*x509.Certificate
	}
	made := map[string]issued{}
	for _, f := range fixtures() {
		key, err := fixtureKey(f.rsa)
		if err != nil {
			t.Fatal(err)
		}
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          serial,
			Subject:               f.subject,
			DNSNames:              f.dnsNames,
			NotBefore:             fixtureFrom,
			NotAfter:              fixtureTo,
			BasicConstraintsValid: true,
		}
		if !f.from.IsZero() {
			tmpl.NotBefore = f.from
		}
		if !f.to.IsZero() {
			tmpl.NotAfter = f.to
		}
		if f.ca {
			tmpl.IsCA = true
			tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		} else {
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
		parent, signer := tmpl, key
		var issuers []*x509.Certificate
		if f.issuer != "" {
			is, ok := made[f.issuer]
			if !ok {
				t.Fatalf("%s: issuer %s not made yet", f.name, f.issuer)
			}
			parent, signer = is.cert, is.key
			// A server sends the intermediates, not the root.
			if !bytes.Equal(is.cert.RawIssuer, is.cert.RawSubject) {
				issuers = is.chain
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		chain := append([]*x509.Certificate{cert}, issuers...)
		made[f.name] = issued{cert: cert, key: key, chain: chain}
		var out bytes.Buffer
		for _, c := range chain {
			pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		if err := os.WriteFile(filepath.Join(certsDir, f.name+".pem"), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fixtureKey(useRSA bool) (crypto.Signer, error) {
	if useRSA {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func TestFixturesMatchTheirDescription(t *testing.T) {
	for _, f := range fixtures() {
		chain := Chain(t, f.name)
		leaf := chain[0]
		if leaf.Subject.CommonName != f.subject.CommonName {
			t.Errorf("%s.pem: CN %q, want %q (regenerate with -generate)", f.name, leaf.Subject.CommonName, f.subject.CommonName)
		}
		if got := fmt.Sprint(leaf.DNSNames); got != fmt.Sprint(f.dnsNames) {
			t.Errorf("%s.pem: SANs %s, want %s", f.name, got, fmt.Sprint(f.dnsNames))
		}
	}
}
