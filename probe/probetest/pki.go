package probetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CA is a throwaway certificate authority, root or intermediate.
type CA struct {
	Cert   *x509.Certificate
	Key    crypto.Signer
	parent *CA
}

// Chain is a certificate chain as a server presents it, leaf first, with the
// leaf's private key.
type Chain struct {
	Certs []*x509.Certificate
	Key   crypto.Signer
}

// Leaf returns the chain's first certificate.
func (c *Chain) Leaf() *x509.Certificate { return c.Certs[0] }

// TLSCertificate is the chain in the form a tls.Config serves.
func (c *Chain) TLSCertificate() tls.Certificate {
	tc := tls.Certificate{PrivateKey: c.Key, Leaf: c.Certs[0]}
	for _, cert := range c.Certs {
		tc.Certificate = append(tc.Certificate, cert.Raw)
	}
	return tc
}

// LeafOnly is the chain without its intermediates: the "forgot the
// intermediate" misconfiguration.
func (c *Chain) LeafOnly() *Chain { return &Chain{Certs: c.Certs[:1], Key: c.Key} }

// PEM is the chain's certificates, PEM-encoded.
func (c *Chain) PEM() []byte {
	var out []byte
	for _, cert := range c.Certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	return out
}

// KeyPEM is the leaf's private key, PKCS #8 PEM-encoded.
func (c *Chain) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Spec describes a certificate to issue. Zero times mean "valid from an hour
// ago for 90 days".
type Spec struct {
	// Subject is the full subject; CommonName fills Subject.CommonName when
	// Subject is empty.
	Subject    pkix.Name
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	NotBefore  time.Time
	NotAfter   time.Time
	// RSABits, when set, makes an RSA key of that size instead of ECDSA
	// P-256 (fast to generate; tests use it by default).
	RSABits int
	// ExtraExtensions, for tests that need odd certificates.
	ExtraExtensions []pkix.Extension
}

func (s Spec) subject() pkix.Name {
	if len(s.Subject.Names) > 0 || s.Subject.CommonName != "" || len(s.Subject.Organization) > 0 || len(s.Subject.ExtraNames) > 0 {
		return s.Subject
	}
	return pkix.Name{CommonName: s.CommonName}
}

func (s Spec) validity() (time.Time, time.Time) {
	nb, na := s.NotBefore, s.NotAfter
	if nb.IsZero() {
		nb = time.Now().Add(-time.Hour)
	}
	if na.IsZero() {
		na = nb.Add(90 * 24 * time.Hour)
	}
	return nb, na
}

func newKey(rsaBits int) (crypto.Signer, error) {
	if rsaBits > 0 {
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	// 16 random bytes, as Exchange uses for its self-signed certificates.
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func create(tmpl, parent *x509.Certificate, pub any, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// caBackdate is how long before their creation CAs are valid: a real CA
// predates the leaves it issued, so a leaf issued months ago (an expired one)
// must fall inside its issuer's validity, as it would in production.
const caBackdate = 2 * 365 * 24 * time.Hour

// NewRootCA makes a self-signed root valid for ten years.
func NewRootCA(commonName string) (*CA, error) {
	return newCA(nil, commonName, 10*365*24*time.Hour, false)
}

// NewIntermediate makes an intermediate CA signed by ca, which may issue
// leaves only (path length zero).
func (ca *CA) NewIntermediate(commonName string) (*CA, error) {
	return newCA(ca, commonName, 5*365*24*time.Hour, true)
}

// newCA makes a CA signed by parent, or self-signed when parent is nil,
// valid from caBackdate ago for lifetime from now.
func newCA(parent *CA, commonName string, lifetime time.Duration, leavesOnly bool) (*CA, error) {
	key, err := newKey(0)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"starttls-probe test"}},
		NotBefore:             time.Now().Add(-caBackdate),
		NotAfter:              time.Now().Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        leavesOnly,
	}
	issuerCert, issuerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		issuerCert, issuerKey = parent.Cert, parent.Key
	}
	cert, err := create(tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, parent: parent}, nil
}

// Pool is a pool holding the root of ca's hierarchy, for --ca-file-like
// trust in tests.
func (ca *CA) Pool() *x509.CertPool {
	root := ca
	for root.parent != nil {
		root = root.parent
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	return pool
}

// RootPEM is the root of ca's hierarchy, PEM-encoded.
func (ca *CA) RootPEM() []byte {
	root := ca
	for root.parent != nil {
		root = root.parent
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw})
}

func leafTemplate(spec Spec) (*x509.Certificate, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	nb, na := spec.validity()
	return &x509.Certificate{
		SerialNumber:          sn,
		Subject:               spec.subject(),
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPs,
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		ExtraExtensions:       spec.ExtraExtensions,
	}, nil
}

// Issue makes a leaf certificate signed by ca. The chain holds the leaf and
// every intermediate up to, not including, the root, as a well-configured
// server sends it.
func (ca *CA) Issue(spec Spec) (*Chain, error) {
	key, err := newKey(spec.RSABits)
	if err != nil {
		return nil, err
	}
	tmpl, err := leafTemplate(spec)
	if err != nil {
		return nil, err
	}
	leaf, err := create(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	chain := &Chain{Certs: []*x509.Certificate{leaf}, Key: key}
	for c := ca; c.parent != nil; c = c.parent {
		chain.Certs = append(chain.Certs, c.Cert)
	}
	return chain, nil
}

// SelfSigned makes a self-signed leaf, as Exchange's default certificate or
// a forgotten test certificate.
func SelfSigned(spec Spec) (*Chain, error) {
	key, err := newKey(spec.RSABits)
	if err != nil {
		return nil, err
	}
	tmpl, err := leafTemplate(spec)
	if err != nil {
		return nil, err
	}
	leaf, err := create(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &Chain{Certs: []*x509.Certificate{leaf}, Key: key}, nil
}
