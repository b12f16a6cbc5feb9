package probe

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
	"unicode/utf8"
)

// RecordVersion is the version of Record this package writes. It reads
// it and version 1, whose chains are always DER: version 2 added the
// references to certificates given on lines of their own (ChainSHA256,
// CertificateRecord), which a reader of version 1 would take for a
// handshake without a chain.
const RecordVersion = 2

// oldestRecordVersion is the oldest version of Record this package reads.
const oldestRecordVersion = 1

// Record is a Result in a form encoding/json writes and reads back: what a
// sharded run writes per endpoint, so that a merge judges the shards'
// results as one run would have (issue 14). Certificates are kept as DER,
// server text byte for byte (the raw_ fields), errors as their chains
// (ErrRecord).
//
// What a round trip loses: Started's monotonic clock reading and time zone
// name (the instant and offset stay); that Error.Reply was the same *Reply
// as Banner, EHLO or STARTTLSReply (it comes back equal, not shared; the
// TLS-required test's sharing is kept); a RecordHeaderError's Conn; and,
// for error types no ErrKind names, their type (see ErrRecord).
//
// A healthy STARTTLS result with a 2-certificate chain (a P-256 leaf and
// its intermediate from probetest, 935 bytes of DER, 1.25 KB in base64),
// its TLS-required test and its 24-line transcript takes 3.7 KB as one
// line of JSON; without the transcripts, which only -v shows, 2.3 KB
// (TestRecordSize). Real chains of 2048-bit RSA certificates are about
// 1.5 KB of DER each, so expect some 5 KB per endpoint there. A shard
// writes each certificate once instead (ReferCertificates), and its
// records name them by SHA-256, 67 bytes each.
type Record struct {
	V               int                `json:"v"`
	Endpoint        EndpointRecord     `json:"endpoint"`
	Address         string             `json:"address,omitempty"`
	Mode            Mode               `json:"mode"`
	Started         time.Time          `json:"started"`
	Banner          *ReplyRecord       `json:"banner,omitempty"`
	EHLO            *ReplyRecord       `json:"ehlo,omitempty"`
	STARTTLSOffered bool               `json:"starttls_offered,omitempty"`
	STARTTLSReply   *ReplyRecord       `json:"starttls_reply,omitempty"`
	EHLOAfterTLS    *ReplyRecord       `json:"ehlo_after_tls,omitempty"`
	TLSRequired     *TLSRequiredRecord `json:"tls_required,omitempty"`
	TLS             *TLSStateRecord    `json:"tls,omitempty"`
	// Chain is the chain as sent, leaf first, each certificate DER; or
	// ChainSHA256, the same chain as the SHA-256 of each certificate,
	// given on a line of its own before (ReferCertificates).
	Chain       [][]byte           `json:"chain,omitempty"`
	ChainSHA256 []string           `json:"chain_sha256,omitempty"`
	Error       *ErrorRecord       `json:"error,omitempty"`
	Timings     TimingsRecord      `json:"timings"`
	Transcript  []TranscriptRecord `json:"transcript,omitempty"`
	Scan        *ScanRecord        `json:"scan,omitempty"`
}

// EndpointRecord is an Endpoint.
type EndpointRecord struct {
	Target      string `json:"target"`
	Host        string `json:"host"`
	Port        int    `json:"port"`
	AsPort      int    `json:"as_port,omitempty"`
	Address     string `json:"address,omitempty"`
	Implicit    bool   `json:"implicit,omitempty"`
	DefaultPort bool   `json:"default_port,omitempty"`
	Domain      string `json:"domain,omitempty"`
}

// Endpoint is the Endpoint e records.
func (e EndpointRecord) Endpoint() Endpoint {
	return Endpoint{Target: e.Target, Host: e.Host, Port: e.Port, AsPort: e.AsPort, Address: e.Address,
		Implicit: e.Implicit, DefaultPort: e.DefaultPort, Domain: e.Domain}
}

// ReplyRecord is a Reply. Server text is kept byte for byte: JSON strings
// hold only UTF-8, and encoding/json turns any other byte into U+FFFD, so
// a reply with a line that is not UTF-8 has all its lines in RawLines
// (base64) instead of Lines. The same goes for the other raw_ fields.
type ReplyRecord struct {
	Code     int      `json:"code"`
	Lines    []string `json:"lines,omitempty"`
	RawLines [][]byte `json:"raw_lines,omitempty"`
}

// TLSRequiredRecord is a TLSRequiredTest. SameGreeting says its Banner and
// EHLO are the Result's own (the test ran on the probe's connection, as it
// mostly does), SameError that its Error is (the probe failed before the
// test): they are written once and shared again when read.
type TLSRequiredRecord struct {
	SameGreeting         bool               `json:"same_greeting,omitempty"`
	SameError            bool               `json:"same_error,omitempty"`
	Banner               *ReplyRecord       `json:"banner,omitempty"`
	EHLO                 *ReplyRecord       `json:"ehlo,omitempty"`
	Mail                 *ReplyRecord       `json:"mail,omitempty"`
	RCPT                 *ReplyRecord       `json:"rcpt,omitempty"`
	Error                *ErrorRecord       `json:"error,omitempty"`
	SessionEnded         bool               `json:"session_ended,omitempty"`
	STARTTLSRefusedAfter *ReplyRecord       `json:"starttls_refused_after,omitempty"`
	Transcript           []TranscriptRecord `json:"transcript,omitempty"`
}

// TLSStateRecord is a TLSState.
type TLSStateRecord struct {
	Version           uint16      `json:"version"`
	CipherSuite       uint16      `json:"cipher_suite"`
	ServerName        string      `json:"server_name,omitempty"`
	HandshakeComplete bool        `json:"handshake_complete"`
	CurveID           tls.CurveID `json:"curve_id,omitempty"`
	OCSPResponse      []byte      `json:"ocsp_response,omitempty"`
}

// ErrorRecord is an Error: the phase, the error's chain, and the reply.
type ErrorRecord struct {
	Phase Phase        `json:"phase"`
	Err   *ErrRecord   `json:"err"`
	Reply *ReplyRecord `json:"reply,omitempty"`
}

// TimingsRecord is Timings, in nanoseconds.
type TimingsRecord struct {
	DNS       time.Duration `json:"dns_ns,omitempty"`
	Connect   time.Duration `json:"connect_ns,omitempty"`
	Banner    time.Duration `json:"banner_ns,omitempty"`
	EHLO      time.Duration `json:"ehlo_ns,omitempty"`
	STARTTLS  time.Duration `json:"starttls_ns,omitempty"`
	Handshake time.Duration `json:"handshake_ns,omitempty"`
	PostTLS   time.Duration `json:"post_tls_ns,omitempty"`
	Total     time.Duration `json:"total_ns,omitempty"`
}

// TranscriptRecord is a TranscriptLine.
type TranscriptRecord struct {
	At      time.Duration `json:"at_ns"`
	Dir     Direction     `json:"dir"`
	TLS     bool          `json:"tls,omitempty"`
	Text    string        `json:"text,omitempty"`
	RawText []byte        `json:"raw_text,omitempty"`
}

// ScanRecord is a Scan (--tls-scan).
type ScanRecord struct {
	Versions     []VersionScanRecord    `json:"versions,omitempty"`
	Order        SuiteOrder             `json:"order,omitempty"`
	OrderVersion uint16                 `json:"order_version,omitempty"`
	Groups       []GroupScanRecord      `json:"groups,omitempty"`
	Chains       []PresentedChainRecord `json:"chains,omitempty"`
	WithoutSNI   *AttemptRecord         `json:"without_sni,omitempty"`
	Handshakes   int                    `json:"handshakes"`
	Duration     time.Duration          `json:"duration_ns"`
	Error        *ErrRecord             `json:"error,omitempty"`
}

// VersionScanRecord is a VersionScan.
type VersionScanRecord struct {
	Version  uint16     `json:"version"`
	Outcome  Outcome    `json:"outcome"`
	Err      *ErrRecord `json:"err,omitempty"`
	Suites   []uint16   `json:"suites,omitempty"`
	Complete bool       `json:"complete,omitempty"`
}

// GroupScanRecord is a GroupScan.
type GroupScanRecord struct {
	Group   tls.CurveID `json:"group"`
	Outcome Outcome     `json:"outcome"`
	Version uint16      `json:"version,omitempty"`
	Err     *ErrRecord  `json:"err,omitempty"`
}

// PresentedChainRecord is a PresentedChain.
type PresentedChainRecord struct {
	Chain        [][]byte `json:"chain,omitempty"`
	ChainSHA256  []string `json:"chain_sha256,omitempty"`
	Version      uint16   `json:"version"`
	CipherSuite  uint16   `json:"cipher_suite"`
	OCSPResponse []byte   `json:"ocsp_response,omitempty"`
}

// AttemptRecord is an Attempt.
type AttemptRecord struct {
	Outcome     Outcome         `json:"outcome"`
	TLS         *TLSStateRecord `json:"tls,omitempty"`
	Chain       [][]byte        `json:"chain,omitempty"`
	ChainSHA256 []string        `json:"chain_sha256,omitempty"`
	Err         *ErrRecord      `json:"err,omitempty"`
}

// textOrRaw is s as a JSON string when it is UTF-8, else as its bytes.
func textOrRaw(s string) (string, []byte) {
	if utf8.ValidString(s) {
		return s, nil
	}
	return "", []byte(s)
}

// textOf is what textOrRaw wrote.
func textOf(text string, raw []byte) string {
	if raw != nil {
		return string(raw)
	}
	return text
}

// linesOrRaw is lines as JSON strings when every one is UTF-8, else all
// of them as bytes.
func linesOrRaw(lines []string) ([]string, [][]byte) {
	for _, l := range lines {
		if !utf8.ValidString(l) {
			raw := make([][]byte, len(lines))
			for i, l := range lines {
				raw[i] = []byte(l)
			}
			return nil, raw
		}
	}
	return lines, nil
}

// linesOf is what linesOrRaw wrote.
func linesOf(lines []string, raw [][]byte) []string {
	if raw == nil {
		return lines
	}
	out := make([]string, len(raw))
	for i, l := range raw {
		out[i] = string(l)
	}
	return out
}

// NewRecord records r.
func NewRecord(r *Result) Record {
	ep := r.Endpoint
	rec := Record{
		V: RecordVersion,
		Endpoint: EndpointRecord{Target: ep.Target, Host: ep.Host, Port: ep.Port, AsPort: ep.AsPort, Address: ep.Address,
			Implicit: ep.Implicit, DefaultPort: ep.DefaultPort, Domain: ep.Domain},
		Address: r.Address, Mode: r.Mode, Started: r.Started,
		Banner: newReplyRecord(r.Banner), EHLO: newReplyRecord(r.EHLO), STARTTLSOffered: r.STARTTLSOffered,
		STARTTLSReply: newReplyRecord(r.STARTTLSReply), EHLOAfterTLS: newReplyRecord(r.EHLOAfterTLS),
		TLS: newTLSStateRecord(r.TLS), Chain: derOf(r.Chain), Error: newErrorRecord(r.Error),
		Timings:    TimingsRecord(r.Timings),
		Transcript: newTranscriptRecords(r.Transcript),
		Scan:       newScanRecord(r.Scan),
	}
	if t := r.TLSRequired; t != nil {
		test := &TLSRequiredRecord{Mail: newReplyRecord(t.Mail), RCPT: newReplyRecord(t.RCPT),
			SessionEnded: t.SessionEnded, STARTTLSRefusedAfter: newReplyRecord(t.STARTTLSRefusedAfter),
			Transcript: newTranscriptRecords(t.Transcript)}
		if t.Banner == r.Banner && t.EHLO == r.EHLO {
			test.SameGreeting = true
		} else {
			test.Banner, test.EHLO = newReplyRecord(t.Banner), newReplyRecord(t.EHLO)
		}
		if t.Error != nil && t.Error == r.Error {
			test.SameError = true
		} else {
			test.Error = newErrorRecord(t.Error)
		}
		rec.TLSRequired = test
	}
	return rec
}

// Result rebuilds the Result. It fails, saying what is wrong, on another
// version, a mode, phase, direction or outcome this version does not
// know, a certificate that does not parse, or an error record it cannot
// rebuild (ErrRecord.Err).
func (rec Record) Result() (Result, error) { return rec.ResultSharing(nil) }

// ParsedCertificates shares parsed certificates by the SHA-256 of their
// DER: every node of a pool, and every host under one intermediate, sends
// the same certificate, and parsing it again costs tens of microseconds and
// a few kilobytes that a run holding its results need not pay. Not safe
// for concurrent use.
type ParsedCertificates map[[sha256.Size]byte]*x509.Certificate

// Intern replaces each certificate of chain already held by the one held,
// and holds the others.
func (p ParsedCertificates) Intern(chain []*x509.Certificate) []*x509.Certificate {
	for i, c := range chain {
		key := sha256.Sum256(c.Raw)
		if held, ok := p[key]; ok {
			chain[i] = held
		} else {
			p[key] = c
		}
	}
	return chain
}

// ResultSharing is Result, with the chains that name their certificates
// by SHA-256 taken from certs (nil for none): merge decodes each shard's
// file with a table of the certificates it gave.
func (rec Record) ResultSharing(certs *CertificateTable) (Result, error) {
	if rec.V < oldestRecordVersion || rec.V > RecordVersion {
		return Result{}, fmt.Errorf("record version %d: this starttls-probe reads versions %d to %d", rec.V, oldestRecordVersion, RecordVersion)
	}
	if rec.Mode != ModeSTARTTLS && rec.Mode != ModeImplicit {
		return Result{}, fmt.Errorf("unknown mode %q", rec.Mode)
	}
	r := Result{
		Endpoint: rec.Endpoint.Endpoint(),
		Address:  rec.Address, Mode: rec.Mode, Started: rec.Started,
		STARTTLSOffered: rec.STARTTLSOffered,
		TLS:             rec.TLS.state(),
		Timings:         Timings(rec.Timings),
	}
	var err error
	r.Banner, r.EHLO = rec.Banner.reply("banner", &err), rec.EHLO.reply("ehlo", &err)
	r.STARTTLSReply, r.EHLOAfterTLS = rec.STARTTLSReply.reply("starttls_reply", &err), rec.EHLOAfterTLS.reply("ehlo_after_tls", &err)
	if err != nil {
		return Result{}, err
	}
	if r.Chain, err = chainOf("chain", rec.Chain, rec.ChainSHA256, certs); err != nil {
		return Result{}, err
	}
	if err := tlsWithChain("", rec.TLS, r.Chain); err != nil {
		return Result{}, err
	}
	if r.Error, err = rec.Error.error("error"); err != nil {
		return Result{}, err
	}
	if r.Transcript, err = transcriptOf("transcript", rec.Transcript); err != nil {
		return Result{}, err
	}
	if t := rec.TLSRequired; t != nil {
		test := &TLSRequiredTest{Banner: t.Banner.reply("tls_required.banner", &err), EHLO: t.EHLO.reply("tls_required.ehlo", &err),
			Mail: t.Mail.reply("tls_required.mail", &err), RCPT: t.RCPT.reply("tls_required.rcpt", &err),
			SessionEnded: t.SessionEnded, STARTTLSRefusedAfter: t.STARTTLSRefusedAfter.reply("tls_required.starttls_refused_after", &err)}
		if err != nil {
			return Result{}, err
		}
		if t.SameGreeting {
			test.Banner, test.EHLO = r.Banner, r.EHLO
		}
		if test.Error, err = t.Error.error("tls_required.error"); err != nil {
			return Result{}, err
		}
		if t.SameError {
			test.Error = r.Error
		}
		if test.Transcript, err = transcriptOf("tls_required.transcript", t.Transcript); err != nil {
			return Result{}, err
		}
		r.TLSRequired = test
	}
	if r.Scan, err = rec.Scan.scan(certs); err != nil {
		return Result{}, err
	}
	return r, nil
}

func newReplyRecord(r *Reply) *ReplyRecord {
	if r == nil {
		return nil
	}
	rec := &ReplyRecord{Code: r.Code}
	rec.Lines, rec.RawLines = linesOrRaw(r.Lines)
	return rec
}

// reply rebuilds a Reply as the probe reads one (reply.go): a code of
// three digits, 1xx to 5xx, and at least one line. report relies on both
// (it prints a reply's first line), so a record that breaks them is broken
// in transit, not an observation.
func (rec *ReplyRecord) reply(where string, errp *error) *Reply {
	if rec == nil || *errp != nil {
		return nil
	}
	lines := linesOf(rec.Lines, rec.RawLines)
	if rec.Code < 100 || rec.Code > 599 || len(lines) == 0 {
		*errp = fmt.Errorf("%s: reply %d with %d lines; a reply has a code from 100 to 599 and a line at least", where, rec.Code, len(lines))
		return nil
	}
	return &Reply{Code: rec.Code, Lines: lines}
}

func newTLSStateRecord(s *TLSState) *TLSStateRecord {
	if s == nil {
		return nil
	}
	return &TLSStateRecord{Version: s.Version, CipherSuite: s.CipherSuite, ServerName: s.ServerName,
		HandshakeComplete: s.HandshakeComplete, CurveID: s.CurveID, OCSPResponse: s.OCSPResponse}
}

func (rec *TLSStateRecord) state() *TLSState {
	if rec == nil {
		return nil
	}
	return &TLSState{Version: rec.Version, CipherSuite: rec.CipherSuite, ServerName: rec.ServerName,
		HandshakeComplete: rec.HandshakeComplete, CurveID: rec.CurveID, OCSPResponse: rec.OCSPResponse}
}

func derOf(chain []*x509.Certificate) [][]byte {
	if chain == nil {
		return nil
	}
	der := make([][]byte, len(chain))
	for i, c := range chain {
		der[i] = c.Raw
	}
	return der
}

// parseChain parses the DER of a chain; where names the chain in errors.
func parseChain(where string, der [][]byte) ([]*x509.Certificate, error) {
	if der == nil {
		return nil, nil
	}
	chain := make([]*x509.Certificate, len(der))
	for i, d := range der {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		chain[i] = c
	}
	return chain, nil
}

// tlsWithChain checks what the probe's handshake guarantees and report
// relies on (it verifies the chain of every handshake): crypto/tls hands
// VerifyConnection the TLS state and the server's certificates at once, and
// a server must send one.
func tlsWithChain(where string, state *TLSStateRecord, chain []*x509.Certificate) error {
	switch {
	case state != nil && len(chain) == 0:
		return fmt.Errorf("%stls without a certificate chain: a handshake gets as far as TLS state only with the server's certificate", where)
	case state == nil && len(chain) > 0:
		return fmt.Errorf("%schain without tls: the certificates come with the handshake's TLS state", where)
	}
	return nil
}

func newErrorRecord(e *Error) *ErrorRecord {
	if e == nil {
		return nil
	}
	return &ErrorRecord{Phase: e.Phase, Err: NewErrRecord(e.Err), Reply: newReplyRecord(e.Reply)}
}

// knownPhases are the phases an Error may name.
var knownPhases = map[Phase]bool{PhaseDNS: true, PhaseConnect: true, PhaseBanner: true, PhaseEHLO: true,
	PhaseSTARTTLS: true, PhaseHandshake: true, PhasePostTLS: true, PhaseMail: true}

func (rec *ErrorRecord) error(where string) (*Error, error) {
	if rec == nil {
		return nil, nil
	}
	if !knownPhases[rec.Phase] {
		return nil, fmt.Errorf("%s: unknown phase %q", where, rec.Phase)
	}
	if rec.Err == nil {
		// Error.Error() calls Err.Error(): an Error without one is no
		// observation but a broken record.
		return nil, fmt.Errorf("%s: phase %s without an error", where, rec.Phase)
	}
	err, decodeErr := rec.Err.Err()
	if decodeErr != nil {
		return nil, fmt.Errorf("%s: %w", where, decodeErr)
	}
	reply := rec.Reply.reply(where+".reply", &decodeErr)
	if decodeErr != nil {
		return nil, decodeErr
	}
	return &Error{Phase: rec.Phase, Err: err, Reply: reply}, nil
}

func newTranscriptRecords(lines []TranscriptLine) []TranscriptRecord {
	if lines == nil {
		return nil
	}
	out := make([]TranscriptRecord, len(lines))
	for i, l := range lines {
		out[i] = TranscriptRecord{At: l.At, Dir: l.Dir, TLS: l.TLS}
		out[i].Text, out[i].RawText = textOrRaw(l.Text)
	}
	return out
}

func transcriptOf(where string, recs []TranscriptRecord) ([]TranscriptLine, error) {
	if recs == nil {
		return nil, nil
	}
	out := make([]TranscriptLine, len(recs))
	for i, l := range recs {
		if l.Dir != FromClient && l.Dir != FromServer {
			return nil, fmt.Errorf("%s[%d]: unknown direction %q", where, i, l.Dir)
		}
		out[i] = TranscriptLine{At: l.At, Dir: l.Dir, TLS: l.TLS, Text: textOf(l.Text, l.RawText)}
	}
	return out, nil
}

func newScanRecord(s *Scan) *ScanRecord {
	if s == nil {
		return nil
	}
	rec := &ScanRecord{Order: s.Order, OrderVersion: s.OrderVersion, Handshakes: s.Handshakes, Duration: s.Duration,
		Error: NewErrRecord(s.Error)}
	for _, v := range s.Versions {
		rec.Versions = append(rec.Versions, VersionScanRecord{Version: v.Version, Outcome: v.Outcome, Err: NewErrRecord(v.Err),
			Suites: v.Suites, Complete: v.Complete})
	}
	for _, g := range s.Groups {
		rec.Groups = append(rec.Groups, GroupScanRecord{Group: g.Group, Outcome: g.Outcome, Version: g.Version, Err: NewErrRecord(g.Err)})
	}
	for _, c := range s.Chains {
		rec.Chains = append(rec.Chains, PresentedChainRecord{Chain: derOf(c.Chain), Version: c.Version, CipherSuite: c.CipherSuite,
			OCSPResponse: c.OCSPResponse})
	}
	if a := s.WithoutSNI; a != nil {
		rec.WithoutSNI = &AttemptRecord{Outcome: a.Outcome, TLS: newTLSStateRecord(a.TLS), Chain: derOf(a.Chain), Err: NewErrRecord(a.Err)}
	}
	return rec
}

func checkOutcome(where string, o Outcome) error {
	switch o {
	case Accepted, Refused, NotTested:
		return nil
	}
	return fmt.Errorf("%s: unknown outcome %q", where, o)
}

func (rec *ScanRecord) scan(certs *CertificateTable) (*Scan, error) {
	if rec == nil {
		return nil, nil
	}
	s := &Scan{Order: rec.Order, OrderVersion: rec.OrderVersion, Handshakes: rec.Handshakes, Duration: rec.Duration}
	var errs []error
	decode := func(where string, e *ErrRecord) error {
		err, decodeErr := e.Err()
		if decodeErr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, decodeErr))
		}
		return err
	}
	s.Error = decode("scan.error", rec.Error)
	for i, v := range rec.Versions {
		where := fmt.Sprintf("scan.versions[%d]", i)
		errs = append(errs, checkOutcome(where, v.Outcome))
		s.Versions = append(s.Versions, VersionScan{Version: v.Version, Outcome: v.Outcome, Err: decode(where, v.Err),
			Suites: v.Suites, Complete: v.Complete})
	}
	for i, g := range rec.Groups {
		where := fmt.Sprintf("scan.groups[%d]", i)
		errs = append(errs, checkOutcome(where, g.Outcome))
		s.Groups = append(s.Groups, GroupScan{Group: g.Group, Outcome: g.Outcome, Version: g.Version, Err: decode(where, g.Err)})
	}
	for i, c := range rec.Chains {
		chain, err := chainOf(fmt.Sprintf("scan.chains[%d].chain", i), c.Chain, c.ChainSHA256, certs)
		errs = append(errs, err)
		if err == nil && len(chain) == 0 {
			errs = append(errs, fmt.Errorf("scan.chains[%d]: no certificate in a presented chain", i))
		}
		s.Chains = append(s.Chains, PresentedChain{Chain: chain, Version: c.Version, CipherSuite: c.CipherSuite, OCSPResponse: c.OCSPResponse})
	}
	if a := rec.WithoutSNI; a != nil {
		chain, err := chainOf("scan.without_sni.chain", a.Chain, a.ChainSHA256, certs)
		errs = append(errs, err, checkOutcome("scan.without_sni", a.Outcome))
		if a.TLS != nil && err == nil {
			errs = append(errs, tlsWithChain("scan.without_sni.", a.TLS, chain))
		}
		s.WithoutSNI = &Attempt{Outcome: a.Outcome, TLS: a.TLS.state(), Chain: chain, Err: decode("scan.without_sni", a.Err)}
	}
	// The first problem, on one line: the merge names it with the file
	// and line it read.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}
