package report

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The cache must give, for every chain and instant, the verdict a fresh
// verification gives: at the second a leaf expires and just after it, for
// a trusted chain and an untrusted one, each asked twice (miss, then hit).
func TestCacheAgreesWithVerification(t *testing.T) {
	root, err := probetest.NewRootCA("Cache Root")
	if err != nil {
		t.Fatal(err)
	}
	notAfter := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	trusted, err := root.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	self, err := probetest.SelfSigned(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	roots := root.Pool()
	instants := []time.Time{
		notAfter.Add(-time.Hour),
		notAfter,                       // still valid: not after NotAfter
		notAfter.Add(time.Millisecond), // expired, in the same second
		notAfter.Add(999 * time.Millisecond),
		notAfter.Add(time.Second),
	}
	cache := NewCache()
	for _, chain := range []*probetest.Chain{trusted, self} {
		for _, at := range instants {
			want := verifyChain(chain.Certs, roots, at)
			for try := range 2 {
				if got := cache.verifyChain(chain.Certs, roots, at); got != want {
					t.Errorf("%s at %s, try %d: cached %+v, verified %+v", chain.Leaf().Subject, at.Format(time.RFC3339Nano), try, got, want)
				}
			}
		}
	}
	// The instants above straddle expiry: the cache must have told them
	// apart, not answered every one from the first.
	if verifyChain(trusted.Certs, roots, instants[0]) == verifyChain(trusted.Certs, roots, instants[2]) {
		t.Fatal("the test's instants do not straddle expiry")
	}
	if n := cache.verdicts.len(); n != 2*len(instants) {
		t.Errorf("cache holds %d verdicts, want %d (two chains, one key per instant)", n, 2*len(instants))
	}
}

// A nil cache verifies, as Expect without one does.
func TestNilCacheVerifies(t *testing.T) {
	chain, err := probetest.SelfSigned(probetest.Spec{CommonName: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	var cache *Cache
	if got, want := cache.verifyChain(chain.Certs, nil, time.Now()).reason, "self-signed certificate: no client trusts it unless told to"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Every trust verdict is in words, the expired ones too: never Go's
// "x509: certificate has expired or is not yet valid: current time ...".
func TestTrustReasonsAreWords(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("Words Root")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	past := probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}
	expiredTrusted, err := root.Issue(past)
	if err != nil {
		t.Fatal(err)
	}
	expiredSelf, err := probetest.SelfSigned(past)
	if err != nil {
		t.Fatal(err)
	}
	other, err := probetest.NewRootCA("Other Root")
	if err != nil {
		t.Fatal(err)
	}
	expiredUnknownRoot, err := other.Issue(past)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		chain *probetest.Chain
		want  []string
	}{
		{"expired, trusted CA", expiredTrusted, []string{"issued by a trusted CA, but the leaf is outside its validity period"}},
		{"expired and self-signed", expiredSelf, []string{"self-signed certificate", "besides, the leaf is outside its validity period"}},
		{"expired, unknown root", expiredUnknownRoot, []string{"not a trusted root", "besides, the leaf is outside its validity period"}},
	} {
		verdict := verifyChain(tc.chain.Certs, root.Pool(), now)
		for _, w := range tc.want {
			if !strings.Contains(verdict.reason, w) {
				t.Errorf("%s: %q lacks %q", tc.name, verdict.reason, w)
			}
		}
		if strings.Contains(verdict.reason, "x509:") || strings.Contains(verdict.reason, "current time") {
			t.Errorf("%s: Go's error text reached the verdict: %q", tc.name, verdict.reason)
		}
	}
}

// A chain that leaves out its intermediate verifies where the machine has
// that intermediate already (Windows and macOS fetch it through AIA; here,
// a store holding it): the verdict still says the chain as sent is
// incomplete, since senders without it fail.
func TestIncompleteChainAsSent(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("AIA Root")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := root.NewIntermediate("AIA Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := issuing.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	leafOnly := chain.Certs[:1]
	// The store has the intermediate, as the OS store has it after an
	// AIA fetch.
	store := root.Pool()
	store.AddCert(chain.Certs[1])
	now := time.Now()
	if v := verifyChain(chain.Certs, store, now); v.reason != "" {
		t.Fatalf("the full chain: %q, want it to verify", v.reason)
	}
	v := verifyChain(leafOnly, store, now)
	if !strings.Contains(v.reason, "incomplete chain as sent") || !strings.Contains(v.reason, "AIA Issuing CA") {
		t.Errorf("the leaf alone: %q, want an incomplete chain naming AIA Issuing CA", v.reason)
	}
	if v := verifyChain(leafOnly, root.Pool(), now); !strings.Contains(v.reason, "incomplete chain") {
		t.Errorf("the leaf alone, store without the intermediate: %q", v.reason)
	}
}

// The cache is bounded: a run of many distinct certificates keeps at most
// two generations of them, while a certificate met again and again stays
// (issue 14: flat memory over a million endpoints).
func TestCacheIsBounded(t *testing.T) {
	var g generations[int, int]
	const hot = -1
	g.put(hot, hot)
	for i := range 10 * cacheGeneration {
		g.put(i, i)
		if _, ok := g.get(hot); !ok {
			t.Fatalf("after %d others, the entry in use was dropped", i+1)
		}
		if n := g.len(); n > 2*cacheGeneration {
			t.Fatalf("after %d entries the cache holds %d, more than two generations", i+1, n)
		}
	}
	if _, ok := g.get(0); ok {
		t.Error("the first entry, never used again, is still held")
	}
	if v, ok := g.get(10*cacheGeneration - 1); !ok || v != 10*cacheGeneration-1 {
		t.Error("the last entry is not held")
	}
}

// A full generation moves aside and is still held: the count the bound is
// checked against is both generations'.
func TestCacheCountsBothGenerations(t *testing.T) {
	var g generations[int, int]
	for i := range cacheGeneration + 1 {
		g.put(i, i)
	}
	if len(g.previous) != cacheGeneration || len(g.current) != 1 {
		t.Fatalf("generations of %d and %d, want %d and 1: the case tests nothing", len(g.previous), len(g.current), cacheGeneration)
	}
	if n := g.len(); n != cacheGeneration+1 {
		t.Errorf("len %d, want %d", n, cacheGeneration+1)
	}
}

// The trust anchor is taken as it is in the roots, its own signature
// unchecked, as x509.Verify takes it: a root whose self-signature does not
// verify (signed with an algorithm Go no longer checks, or here by another
// key) is still the root the chain ends at, not a certificate the server
// failed to send.
func TestAnchorNeedNotVerifyItself(t *testing.T) {
	t.Parallel()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rootKey, otherKey, leafKey := newKey(), newKey(), newKey()
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Old Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	if isSelfSigned(root) {
		t.Fatal("the root's self-signature verifies: the case tests nothing")
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mx.test"}, DNSNames: []string{"mx.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if v := verifyChain([]*x509.Certificate{leaf}, roots, now); v.reason != "" {
		t.Errorf("a leaf sent alone under a root in the store: %q, want it to verify", v.reason)
	}
}
