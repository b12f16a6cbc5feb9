// Package probe observes what an SMTP server does with TLS: it dials, reads the
// banner, says EHLO, issues STARTTLS (or starts TLS at once on implicit-TLS
// ports), completes the handshake whatever the certificate, and records all of
// it in a Result.
//
// probe never judges: nothing in a Result says "ok". It must not import the
// report package, urfave/cli or fatih/color (scripts/check-imports.sh checks).
package probe

import (
	"crypto/tls"
	"crypto/x509"
	"time"
)

// Phase names the step of the SMTP/TLS dialogue that failed.
type Phase string

const (
	PhaseDNS       Phase = "dns"
	PhaseConnect   Phase = "connect"
	PhaseBanner    Phase = "banner"
	PhaseEHLO      Phase = "ehlo"
	PhaseSTARTTLS  Phase = "starttls"
	PhaseHandshake Phase = "handshake"
	PhasePostTLS   Phase = "post-tls"
)

// Mode says how TLS is reached on an endpoint.
type Mode string

const (
	ModeSTARTTLS Mode = "starttls"
	ModeImplicit Mode = "implicit"
)

// Result is everything one probe of one endpoint saw. Server-sent text in it
// (banner, replies, certificate fields) is kept raw: escaping belongs to the
// renderer.
type Result struct {
	Endpoint Endpoint
	// Address is the IP address dialed, "" when name resolution failed.
	Address string
	Mode    Mode
	// Started is when the probe of this endpoint began.
	Started time.Time

	Banner *Reply
	// EHLO is the reply to the first EHLO, in plaintext for STARTTLS and
	// under TLS for implicit TLS.
	EHLO            *Reply
	STARTTLSOffered bool
	STARTTLSReply   *Reply
	// EHLOAfterTLS is the reply to the EHLO sent after STARTTLS.
	EHLOAfterTLS *Reply
	// TLSRequired is the plaintext MAIL FROM test of a STARTTLS endpoint
	// (tlsrequired.go); nil when it did not run.
	TLSRequired *TLSRequiredTest

	TLS *TLSState
	// Chain is the certificate chain exactly as the server sent it, leaf
	// first. It is captured during the handshake, so it is kept even when a
	// later step fails.
	Chain []*x509.Certificate

	// Error is the failure that ended the probe early; nil when the dialogue
	// ran as far as it could (a server that does not offer STARTTLS is an
	// observation, not an error).
	Error *Error

	Timings    Timings
	Transcript []TranscriptLine

	// Scan is what --tls-scan saw on connections of its own (scan.go);
	// nil when it did not run.
	Scan *Scan
}

// STARTTLSObserved reports whether the result tells if STARTTLS is offered:
// a STARTTLS endpoint whose EHLO was answered with 250. Otherwise
// STARTTLSOffered is false for want of an answer, not because the server
// left it out.
func (r *Result) STARTTLSObserved() bool {
	return r.Mode == ModeSTARTTLS && r.EHLO != nil && r.EHLO.Code == 250
}

// Leaf returns the server's certificate, or nil when none was presented.
func (r *Result) Leaf() *x509.Certificate {
	if len(r.Chain) == 0 {
		return nil
	}
	return r.Chain[0]
}

// Error is the failed phase and what went wrong there: a server reply, a
// network error or a TLS error. Err stays reachable with errors.As
// (*ReplyError, tls.AlertError, *net.OpError, ...).
type Error struct {
	Phase Phase
	Err   error
	// Reply is the server's reply when the failure was a reply, else nil.
	Reply *Reply
}

func (e *Error) Error() string { return string(e.Phase) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// TLSState is what the handshake negotiated.
type TLSState struct {
	Version     uint16
	CipherSuite uint16
	// ServerName is the SNI that went on the wire, "" when none was sent:
	// with --no-sni, and for an IP address whether it came from the
	// target, --name or --sni, since crypto/tls sends no SNI for an IP
	// literal.
	ServerName string
	// HandshakeComplete is false when the certificate arrived but the
	// handshake failed after it.
	HandshakeComplete bool
	// CurveID is the key-exchange group the handshake used (openssl's
	// "Server Temp Key"): X25519MLKEM768, X25519, P-256...; 0 for RSA key
	// exchange, which has none.
	CurveID tls.CurveID
	// OCSPResponse is the OCSP response the server stapled (crypto/tls
	// always asks for one), raw; nil when none was.
	OCSPResponse []byte
}

// Timings are the durations of each phase; a zero value means the phase did
// not run.
type Timings struct {
	DNS       time.Duration
	Connect   time.Duration
	Banner    time.Duration
	EHLO      time.Duration
	STARTTLS  time.Duration
	Handshake time.Duration
	PostTLS   time.Duration
	Total     time.Duration
}

// Direction says who sent a transcript line.
type Direction string

const (
	FromClient Direction = "C"
	FromServer Direction = "S"
)

// TranscriptLine is one line of the SMTP dialogue, for -v. Lines sent under
// TLS are the decrypted text; the handshake itself is not transcribed.
type TranscriptLine struct {
	At   time.Duration // since Result.Started
	Dir  Direction
	TLS  bool
	Text string
}
