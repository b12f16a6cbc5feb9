package report

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Cache remembers, across the judgements of one run, what does not change
// from one to the next: the verdict on each certificate chain already
// verified, and each certificate's facts (thumbprints, names). A pool of
// endpoints presenting the same chain (a load-balanced namespace, every node
// of a DAG, a batch of one hoster's hosts) then costs one x509 verification,
// not one per endpoint and per judgement; and a JSONL run, which judges each
// endpoint for its line and then the whole run, works each certificate's
// facts out once (about 50 µs a chain). It is safe for concurrent use; the
// zero value is not: use NewCache.
type Cache struct {
	mu           sync.Mutex
	verdicts     generations[verifyKey, chainVerdict]
	certificates generations[[sha256.Size]byte, *Certificate] // by SHA-256 of the DER, without Validity and DaysLeft
}

// cacheGeneration bounds each of a Cache's maps: a streamed run of a million
// endpoints that each present their own certificate must not remember a
// million of them (issue 14: flat memory). A pool's one chain, met again
// and again, always stays.
const cacheGeneration = 1024

// generations is a map bounded the simple way: entries go into the current
// generation; when it is full it becomes the previous one and the one
// before is dropped. What is still in use is found in the previous
// generation and moved back, so it survives; at most two generations are
// held.
type generations[K comparable, V any] struct {
	current, previous map[K]V
}

func (g *generations[K, V]) get(k K) (V, bool) {
	if v, ok := g.current[k]; ok {
		return v, true
	}
	v, ok := g.previous[k]
	if ok {
		g.put(k, v)
	}
	return v, ok
}

// len is how many entries are held, for tests.
func (g *generations[K, V]) len() int { return len(g.current) + len(g.previous) }

func (g *generations[K, V]) put(k K, v V) {
	if g.current == nil {
		g.current = map[K]V{}
	}
	if len(g.current) >= cacheGeneration {
		g.previous, g.current = g.current, map[K]V{}
	}
	g.current[k] = v
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{}
}

// certificate is c's facts that do not depend on the instant, remembered.
// A nil cache works them out every time.
func (c *Cache) certificate(cert *x509.Certificate) *Certificate {
	if c == nil {
		return certificateFacts(cert)
	}
	key := sha256.Sum256(cert.Raw)
	c.mu.Lock()
	facts, ok := c.certificates.get(key)
	c.mu.Unlock()
	if ok {
		return facts
	}
	facts = certificateFacts(cert)
	c.mu.Lock()
	c.certificates.put(key, facts)
	c.mu.Unlock()
	return facts
}

// verifyKey is everything the verdict depends on: the roots, the chain as
// sent (leaf and intermediates, by SHA-256 of their DER) and the instant.
// A run judges at one instant (main takes it once), so its judgements share
// the verdicts.
type verifyKey struct {
	roots *x509.CertPool
	chain [sha256.Size]byte
	at    int64 // Unix nanoseconds
}

func newVerifyKey(chain []*x509.Certificate, roots *x509.CertPool, at time.Time) verifyKey {
	h := sha256.New()
	var size [8]byte
	for _, c := range chain {
		// Length-prefixed, so that no two different chains hash alike.
		binary.BigEndian.PutUint64(size[:], uint64(len(c.Raw)))
		h.Write(size[:])
		h.Write(c.Raw)
	}
	k := verifyKey{roots: roots, at: at.UnixNano()}
	h.Sum(k.chain[:0])
	return k
}

// verifyChain is the package's verifyChain, remembered. A nil cache
// verifies every time.
func (c *Cache) verifyChain(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) chainVerdict {
	if c == nil {
		return verifyChain(chain, roots, now)
	}
	key := newVerifyKey(chain, roots, now)
	c.mu.Lock()
	verdict, ok := c.verdicts.get(key)
	c.mu.Unlock()
	if ok {
		return verdict
	}
	// Verified outside the lock: two workers meeting the same new chain at
	// once both verify it, and agree.
	verdict = verifyChain(chain, roots, now)
	c.mu.Lock()
	c.verdicts.put(key, verdict)
	c.mu.Unlock()
	return verdict
}

// chainVerdict says why a chain does not verify, "" when it does.
type chainVerdict struct {
	reason string
	// leafOutOfDate: the chain would verify but for the leaf's validity
	// period, which the expiry check judges.
	leafOutOfDate bool
}

// verifyChain verifies the chain as sent and says why it fails, in words:
// Go's errors ("x509: certificate has expired or is not yet valid: current
// time ... is after ...") are for programmers.
func verifyChain(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) chainVerdict {
	verified, err := verifiedChains(chain, roots, now)
	if err == nil {
		if missing := notSent(chain, verified); missing != nil {
			return chainVerdict{reason: fmt.Sprintf("incomplete chain as sent: the server did not send %s, the issuer of %s; it verifies here only because this machine already has it (in its trust store, or fetched from the certificate's AIA address by the OS verifier, as on Windows and macOS), and senders that do not fail",
				missing.Subject, missing.Issuer)}
		}
		return chainVerdict{}
	}
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		return chainVerdict{reason: untrustedReason(chain, err)}
	}
	which := "certificate " + invalid.Cert.Subject.String()
	if invalid.Cert == chain[0] {
		which = "the leaf"
	}
	dated := fmt.Sprintf("%s is outside its validity period (%s to %s)",
		which, invalid.Cert.NotBefore.UTC().Format(time.DateOnly), invalid.Cert.NotAfter.UTC().Format(time.DateOnly))
	// Tell "expired but otherwise fine" (a renewal not bound) from
	// "expired and untrusted anyway".
	at, ok := commonValidInstant(chain)
	if !ok {
		return chainVerdict{reason: dated + ", and the validity periods of the chain never overlap"}
	}
	if err := verify(chain, roots, at); err != nil {
		return chainVerdict{reason: untrustedReason(chain, err) + "; besides, " + dated}
	}
	return chainVerdict{reason: "issued by a trusted CA, but " + dated, leafOutOfDate: invalid.Cert == chain[0]}
}

// untrustedReason says why a chain does not verify, for every reason but
// the dates.
func untrustedReason(chain []*x509.Certificate, err error) string {
	leaf, last := chain[0], chain[len(chain)-1]
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var insecure x509.InsecureAlgorithmError
	switch {
	case errors.As(err, &unknown) && len(chain) == 1 && isSelfSigned(leaf):
		return "self-signed certificate: no client trusts it unless told to"
	case errors.As(err, &unknown) && isSelfSigned(last):
		return fmt.Sprintf("the chain ends at %s, which is not a trusted root (use --ca-file if it is your private CA)", last.Subject)
	case errors.As(err, &unknown):
		return fmt.Sprintf("incomplete chain: the server did not send the certificate of %s, the issuer of %s (a missing intermediate), and it is not a trusted root",
			last.Issuer, last.Subject)
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
		return "the certificate is not for TLS servers: its extended key usage leaves out server authentication"
	case errors.As(err, &invalid) && invalid.Reason == x509.NotAuthorizedToSign:
		return fmt.Sprintf("certificate %s signed another one but is not a CA", invalid.Cert.Subject)
	case errors.As(err, &invalid) && invalid.Reason == x509.CANotAuthorizedForThisName:
		return fmt.Sprintf("CA %s may not issue for this name (a name constraint)", invalid.Cert.Subject)
	case errors.As(err, &insecure):
		return "signed with " + x509.SignatureAlgorithm(insecure).String() + ", which clients no longer accept"
	}
	return "the chain does not verify: " + err.Error()
}

func verify(chain []*x509.Certificate, roots *x509.CertPool, at time.Time) error {
	_, err := verifiedChains(chain, roots, at)
	return err
}

// verifiedChains verifies the chain as sent: its leaf, with the other
// certificates it sent as the only intermediates.
func verifiedChains(chain []*x509.Certificate, roots *x509.CertPool, at time.Time) ([][]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	return chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// notSent finds, when no verified chain is complete as sent, the first
// certificate the verification needed that the server did not send and
// that is no root (not self-signed): an intermediate this machine had from
// elsewhere. On Windows and macOS, Go verifies through the OS, which
// fetches missing intermediates itself (AIA) and keeps them; on Linux a
// trust store or --ca-file holding an intermediate does the same. Either
// way the chain as sent is what other senders get. nil when a verified
// chain needs nothing more than what was sent and a root.
func notSent(sent []*x509.Certificate, verified [][]*x509.Certificate) *x509.Certificate {
	var first *x509.Certificate
	for _, v := range verified {
		var missing *x509.Certificate
		for i, c := range v[1:] {
			if slices.ContainsFunc(sent, c.Equal) {
				continue
			}
			// The last is the trust anchor the chain ended at, taken from the
			// roots: a root when it names itself as its issuer (x509.Verify
			// does not check an anchor's own signature either, and checking
			// it here cost as much as the verification, for every endpoint
			// of a fleet); an intermediate someone put among the roots
			// otherwise.
			if anchor := i == len(v)-2; anchor && !bytes.Equal(c.RawIssuer, c.RawSubject) || !anchor && !isSelfSigned(c) {
				missing = c
				break
			}
		}
		if missing == nil {
			return nil
		}
		if first == nil {
			first = missing
		}
	}
	return first
}

// commonValidInstant is an instant at which every certificate of the chain
// is within its validity period, if there is one.
func commonValidInstant(chain []*x509.Certificate) (time.Time, bool) {
	from, to := chain[0].NotBefore, chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if c.NotAfter.Before(to) {
			to = c.NotAfter
		}
	}
	return from.Add(to.Sub(from) / 2), !to.Before(from)
}
