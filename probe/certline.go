package probe

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
)

// CertificateWindow is how far back a record's certificate reference
// reaches: to one of the last CertificateWindow certificates its file gave
// on lines of their own (CertificateRecord). A pool, or every host under
// one intermediate, sends the same certificate to every probe; a shard
// file gives it once and its observations name it by SHA-256, instead of
// carrying its DER on every line (issue 14: the encoding and decoding of
// chains was most of what sharding cost). The window bounds what a writer
// and a reader hold, so that a run of a million distinct leaves stays
// flat: a certificate named again after the window has moved past it is
// given again.
const CertificateWindow = 1024

// CertificateRecord is a certificate given once on a line of its own: its
// DER, and the SHA-256 of the DER in hex that records name it by.
type CertificateRecord struct {
	SHA256 string `json:"sha256"`
	DER    []byte `json:"der"`
}

// certificateWindow holds the last CertificateWindow certificates added,
// by the SHA-256 of their DER: the writer's index and the reader's table
// add the same certificates in the same order, so that what one holds
// the other does.
type certificateWindow[V any] struct {
	order [CertificateWindow][sha256.Size]byte
	added int
	held  map[[sha256.Size]byte]V
}

// add holds v under key, forgetting the oldest certificate when the window
// is full. A key already held keeps its place: a writer never adds one.
func (w *certificateWindow[V]) add(key [sha256.Size]byte, v V) {
	if w.held == nil {
		w.held = make(map[[sha256.Size]byte]V, CertificateWindow)
	}
	if _, ok := w.held[key]; ok {
		w.held[key] = v
		return
	}
	slot := &w.order[w.added%CertificateWindow]
	if w.added >= CertificateWindow {
		delete(w.held, *slot)
	}
	*slot = key
	w.added++
	w.held[key] = v
}

// CertificateIndex is what a writer of records has given of certificates:
// ReferCertificates names a certificate it holds, and gives one it does
// not. One per file; not safe for concurrent use.
type CertificateIndex struct {
	window certificateWindow[string]
}

// ReferCertificates replaces the DER of every chain in rec (the
// handshake's, and a --tls-scan's) by the SHA-256 of each certificate,
// calling give first for each certificate index does not hold: the caller
// writes it before the record, on a line of its own.
func (rec *Record) ReferCertificates(index *CertificateIndex, give func(CertificateRecord)) {
	refer := func(chain *[][]byte, refs *[]string) {
		if len(*chain) == 0 {
			return
		}
		*refs = make([]string, len(*chain))
		for i, der := range *chain {
			key := sha256.Sum256(der)
			ref, ok := index.window.held[key]
			if !ok {
				ref = hex.EncodeToString(key[:])
				index.window.add(key, ref)
				give(CertificateRecord{SHA256: ref, DER: der})
			}
			(*refs)[i] = ref
		}
		*chain = nil
	}
	refer(&rec.Chain, &rec.ChainSHA256)
	if s := rec.Scan; s != nil {
		for i := range s.Chains {
			refer(&s.Chains[i].Chain, &s.Chains[i].ChainSHA256)
		}
		if a := s.WithoutSNI; a != nil {
			refer(&a.Chain, &a.ChainSHA256)
		}
	}
}

// CertificateTable is what a reader of one file's records holds of the
// certificates the file gave (Add), parsed once each, for its records'
// references. One per file; not safe for concurrent use.
type CertificateTable struct {
	window certificateWindow[*x509.Certificate]
}

// Add parses a certificate line and holds the certificate. It fails when
// the DER does not parse or is not what the line's SHA-256 says.
func (t *CertificateTable) Add(c CertificateRecord) error {
	key, err := certificateKey(c.SHA256)
	if err != nil {
		return err
	}
	if sha256.Sum256(c.DER) != key {
		return fmt.Errorf("certificate %s: its DER has another SHA-256", c.SHA256)
	}
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", c.SHA256, err)
	}
	t.window.add(key, cert)
	return nil
}

// certificateKey reads a certificate reference, the SHA-256 of its DER in
// hex.
func certificateKey(ref string) ([sha256.Size]byte, error) {
	var key [sha256.Size]byte
	if len(ref) != 2*sha256.Size {
		return key, fmt.Errorf("certificate reference %q: want the SHA-256 of its DER, %d hex digits", ref, 2*sha256.Size)
	}
	if _, err := hex.Decode(key[:], []byte(ref)); err != nil {
		return key, fmt.Errorf("certificate reference %q: %w", ref, err)
	}
	return key, nil
}

// chainOf is a recorded chain: its DER, or its references to certificates
// held by certs; where names the chain in errors.
func chainOf(where string, der [][]byte, refs []string, certs *CertificateTable) ([]*x509.Certificate, error) {
	switch {
	case der != nil && refs != nil:
		return nil, fmt.Errorf("%s: both DER and references to certificates", where)
	case refs == nil:
		return parseChain(where, der)
	}
	chain := make([]*x509.Certificate, len(refs))
	for i, ref := range refs {
		key, err := certificateKey(ref)
		if err != nil {
			return nil, fmt.Errorf("%s_sha256[%d]: %w", where, i, err)
		}
		var ok bool
		if certs != nil {
			chain[i], ok = certs.window.held[key]
		}
		if !ok {
			return nil, fmt.Errorf("%s_sha256[%d]: certificate %s is not among the last %d certificates its file gave before it", where, i, ref, CertificateWindow)
		}
	}
	return chain, nil
}
