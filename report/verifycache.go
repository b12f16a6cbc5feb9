package report

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
	"time"
)

// VerifyCache remembers the verdict on each certificate chain already
// verified, so that a pool of endpoints presenting the same chain (a
// load-balanced namespace, every node of a DAG, a batch of one hoster's
// hosts) costs one x509 verification, not one per endpoint and per
// judgement. It is safe for concurrent use; the zero value is not: use
// NewVerifyCache.
type VerifyCache struct {
	mu       sync.Mutex
	verdicts map[verifyKey]chainVerdict
}

// NewVerifyCache returns an empty cache.
func NewVerifyCache() *VerifyCache {
	return &VerifyCache{verdicts: map[verifyKey]chainVerdict{}}
}

// verifyKey is everything the verdict depends on: the roots, the chain as
// sent (leaf and intermediates, by SHA-256 of their DER) and the instant.
//
// The instant is kept to the second, plus whether it falls exactly on one:
// certificate validity is encoded in whole seconds, so x509's
// "now before NotBefore" and "now after NotAfter" give the same answer for
// every instant of the same second except its very first, which is only
// "after" a NotAfter of the second before.
type verifyKey struct {
	roots  *x509.CertPool
	chain  [sha256.Size]byte
	second int64
	onward bool // a fraction of a second after second
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
	k := verifyKey{roots: roots, second: at.Unix(), onward: at.Nanosecond() != 0}
	h.Sum(k.chain[:0])
	return k
}

// verifyChain is the package's verifyChain, remembered. A nil cache
// verifies every time.
func (c *VerifyCache) verifyChain(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) chainVerdict {
	if c == nil {
		return verifyChain(chain, roots, now)
	}
	key := newVerifyKey(chain, roots, now)
	c.mu.Lock()
	verdict, ok := c.verdicts[key]
	c.mu.Unlock()
	if ok {
		return verdict
	}
	// Verified outside the lock: two workers meeting the same new chain at
	// once both verify it, and agree.
	verdict = verifyChain(chain, roots, now)
	c.mu.Lock()
	c.verdicts[key] = verdict
	c.mu.Unlock()
	return verdict
}
