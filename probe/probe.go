package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Options set how endpoints are probed.
type Options struct {
	// EHLOName is the name said in EHLO, before and after TLS; when empty,
	// DefaultEHLOName, or the address literal of the connection's local
	// address when the host name is not an FQDN.
	EHLOName string
	// SNI is the server name sent in the TLS handshake. When empty the
	// endpoint's host is sent if it is a name; NoSNI sends none.
	SNI   string
	NoSNI bool
	// Timeout bounds each endpoint from DNS to QUIT; 0 means DefaultTimeout.
	Timeout time.Duration
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// ResolverAddr is the one DNS server Resolver asks, when it is made by
	// NewResolver (--resolver). Lookup errors then name it: the
	// *net.DNSError the Go resolver returns names the system's resolver
	// (from /etc/resolv.conf), which it meant to ask before NewResolver's
	// Dial sent the query elsewhere.
	ResolverAddr netip.AddrPort
	// Network is the address family used for host names: "ip4", "ip6", or
	// "ip" (the default) for both.
	Network string
	// Concurrency bounds how many endpoints are probed at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// NoTranscript skips recording the SMTP transcript (Result.Transcript,
	// TLSRequiredTest.Transcript), which only -v shows: a batch then does
	// not copy every line of every dialogue to throw it away.
	NoTranscript bool
	// NoTLSRequiredTest turns off the plaintext MAIL FROM test that tells
	// whether a STARTTLS endpoint requires TLS (tlsrequired.go).
	NoTLSRequiredTest bool
	// RCPTAddress, when set (--rcpt-test), makes the TLS-required test
	// send "RCPT TO:<RCPTAddress>" after MAIL FROM:<>, for servers that
	// refuse plaintext at RCPT rather than at MAIL. It must pass
	// CheckRCPTAddress; the guard lets RCPT through only to it.
	RCPTAddress string
	// PolicyHTTPSAddr, when set, is the ADDR:PORT every MTA-STS policy
	// fetch connects to instead of mta-sts.DOMAIN:443, with the name still
	// sent as SNI and Host and checked by report. For the tests and the
	// demo, whose HTTPS servers listen on loopback ports: never a flag.
	PolicyHTTPSAddr string
	// TLSScan asks Run for ScanTLS on each endpoint that got as far as a
	// handshake (--tls-scan), on connections of its own.
	TLSScan bool
	// ScanConnections bounds the scan connections open at once to one
	// address; 0 means DefaultScanConnections.
	ScanConnections int
	// scanSlots shares that bound across a run's endpoints (Run makes it).
	scanSlots *addressSlots
	// hostNameRead says Run has read this machine's host name for
	// EHLOName, and found no FQDN when EHLOName is still empty.
	hostNameRead bool
	// AddressConcurrency bounds how many endpoints of one destination
	// address RunStream and Run probe at once, each with all of its
	// connections (politeness.go); 0 means DefaultAddressConcurrency.
	AddressConcurrency int
	// ConnectRate bounds the new TCP connections a run opens per second,
	// all of them (probe, reconnects, scan); 0 means no limit. Time spent
	// waiting for it does not count against Timeout.
	ConnectRate float64
	// connects is that limit, shared across a run's endpoints (Run makes
	// it).
	connects *rate.Limiter
}

// timeout is Timeout, or DefaultTimeout when it is not set.
func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

const (
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 64
	// quitGrace is how long we wait for the reply to QUIT: the result is
	// complete by then, so a server that does not answer must not hold us.
	quitGrace = 500 * time.Millisecond
)

// The guard's refusals, distinct so that tests see which rule refused.
var (
	errCommandLineBreak  = errors.New("a CR, LF or NUL in it would smuggle a second command into the line")
	errCommandNotAllowed = errors.New("the probe sends only EHLO, STARTTLS, MAIL FROM:<>, RSET, NOOP and QUIT, and RCPT TO only the --rcpt-test address")
)

// checkCommand is the whole list of what the probe may say, checked by
// writeCommands on every line before anything is written: whatever the
// options, it can never send DATA, nor RCPT except "RCPT TO:<rcptAddress>"
// when the user gave that address (Options.RCPTAddress, "" for none), nor
// smuggle a second command into the first with a line break. Anything not
// listed is refused.
func checkCommand(line, rcptAddress string) error {
	// First, before any verb is looked at: no argument check below may be
	// what stands between a line break and the wire.
	if strings.ContainsAny(line, "\r\n\x00") {
		return errCommandLineBreak
	}
	switch line {
	case "STARTTLS", "MAIL FROM:<>", "RSET", "NOOP", "QUIT":
		return nil
	}
	if name, ok := strings.CutPrefix(line, "EHLO "); ok {
		if err := CheckEHLOName(name); err != nil {
			return fmt.Errorf("%w: %w", errCommandNotAllowed, err)
		}
		return nil
	}
	// RCPT only to the one address the user asked for, and only when that
	// address is a plain mailbox: the check is repeated here so that no
	// caller of Probe can pass an address that carries a second command.
	if rcptAddress != "" && line == "RCPT TO:<"+rcptAddress+">" {
		if err := CheckRCPTAddress(rcptAddress); err != nil {
			return fmt.Errorf("%w: %w", errCommandNotAllowed, err)
		}
		return nil
	}
	return errCommandNotAllowed
}

// writeCommands is the only code that writes to the server (the TLS
// handshake aside, which crypto/tls writes): it checks every line with
// checkCommand first and writes nothing unless all pass, then writes them
// in one write, each ended by CRLF. A test walks the package's source to
// hold that no other code writes.
func writeCommands(w io.Writer, rcptAddress string, lines ...string) error {
	var wire strings.Builder
	for _, line := range lines {
		if err := checkCommand(line, rcptAddress); err != nil {
			return fmt.Errorf("refusing to send %q: %w", line, err)
		}
		wire.WriteString(line)
		wire.WriteString("\r\n")
	}
	_, err := io.WriteString(w, wire.String())
	return err
}

// maxMailbox is RFC 5321's limit on a forward path (section 4.5.3.1.3),
// brackets excluded.
const maxMailbox = 254

// CheckRCPTAddress accepts what --rcpt-test may name: a plain mailbox
// (local@domain) as net/mail parses it, with no display name, brackets,
// quotes, spaces or control characters, so that it goes into "RCPT
// TO:<...>" as it is and nothing else comes with it.
func CheckRCPTAddress(addr string) error {
	if addr == "" {
		return errors.New("empty address")
	}
	if len(addr) > maxMailbox {
		return fmt.Errorf("address longer than %d characters", maxMailbox)
	}
	for _, c := range addr {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("<>\"\\()[],;:", c) {
			return fmt.Errorf("address %q: character %q not allowed: give a plain mailbox such as postmaster@contoso.com", addr, c)
		}
	}
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		return fmt.Errorf("address %q: not a plain mailbox such as postmaster@contoso.com", addr)
	}
	_, domain, _ := strings.Cut(addr, "@")
	if err := checkHostname(domain); err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	return nil
}

// CheckEHLOName accepts what RFC 5321 allows after EHLO: a host name, or an
// address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
func CheckEHLOName(name string) error {
	if literal, ok := strings.CutPrefix(name, "["); ok {
		literal, ok = strings.CutSuffix(literal, "]")
		if !ok {
			return fmt.Errorf("EHLO name %q: an address literal ends with ]", name)
		}
		literal, isV6 := strings.CutPrefix(literal, "IPv6:")
		addr, err := netip.ParseAddr(literal)
		if err != nil || addr.Is6() != isV6 {
			return fmt.Errorf("EHLO name %q: not an address literal like [192.0.2.1] or [IPv6:2001:db8::1]", name)
		}
		return nil
	}
	if err := checkHostname(name); err != nil {
		return fmt.Errorf("EHLO name %q: %w", name, err)
	}
	return nil
}

// DefaultEHLOName is this machine's host name when it is a dotted name,
// as RFC 5321 section 4.1.1.1 asks EHLO to carry an FQDN; "" when it is not
// (a short name such as "vm", "localhost") or cannot be had: each
// connection then says the address literal of its local address, which
// the RFC allows in place of a name.
func DefaultEHLOName() string {
	// When it fails, os.Hostname's name is "", which is no FQDN.
	h, _ := os.Hostname()
	return fqdnOrNothing(h)
}

// fqdnOrNothing is host when it is a valid, dotted host name, else "".
func fqdnOrNothing(host string) string {
	if checkHostname(host) != nil || !strings.Contains(strings.Trim(host, "."), ".") {
		return ""
	}
	return host
}

// addressLiteral is the EHLO address literal of a connection's local
// address: "[192.0.2.7]", "[IPv6:2001:db8::7]" (RFC 5321 section 4.1.3),
// without an IPv6 zone, which a literal cannot carry; "" when addr is not
// an IP address.
func addressLiteral(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return ""
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// Probe probes one endpoint. It never returns an error: a failure is recorded
// in Result.Error with the phase it happened in.
func Probe(ctx context.Context, ep Endpoint, opts Options) Result {
	return probe(ctx, ep, opts, opts.timeout())
}

// probe is Probe within d (a run's endpoint gets what its discovery left
// of the timeout).
func probe(ctx context.Context, ep Endpoint, opts Options, d time.Duration) Result {
	opts = opts.withConnectLimiter()
	ctx, budget, cancel := opts.within(ctx, d)
	defer cancel()

	s := &session{
		ctx:    ctx,
		budget: budget,
		opts:   opts,
		res: Result{
			Endpoint: ep,
			Mode:     ModeSTARTTLS,
			Started:  time.Now(),
		},
	}
	if ep.Implicit {
		s.res.Mode = ModeImplicit
	}
	if !opts.NoTranscript {
		s.transcript = newTranscript(s.res.Started)
	}
	s.run()
	s.res.Timings.Total = time.Since(s.res.Started)
	s.res.Transcript = s.transcript.finish()
	return s.res
}

// session is the state of one probe.
type session struct {
	ctx context.Context
	// budget is ctx when a rate limit stops its clock (budget.go),
	// else nil.
	budget     *budget
	opts       Options
	res        Result
	transcript *transcript

	raw *recordingConn // the TCP conn, recorded until TLS starts
	// stopCloseOnDone stops closing raw when ctx ends (open).
	stopCloseOnDone func() bool
	conn            net.Conn // what commands are written to: raw or TLS
	replies         *replyReader
	// tune, when set, narrows the handshake's offer (versions, suites,
	// groups): a --tls-scan connection (scan.go).
	tune func(*tls.Config)
}

func (s *session) run() {
	addr, ok := s.resolve()
	if !ok {
		return
	}
	s.res.Address = addr
	defer s.tlsRequiredNotRun()
	if !s.open(addr) {
		return
	}
	defer func() { s.hangUp() }()

	if s.res.Mode == ModeImplicit {
		if !s.handshake() || !s.greeting() {
			return
		}
		// A refused EHLO has had its QUIT (or, after 421, none) from
		// refused: only an accepted one still needs one.
		if s.res.EHLO, ok = s.ehlo(PhaseEHLO, &s.res.Timings.EHLO); ok {
			s.quit()
		}
		return
	}

	if !s.hello() {
		return
	}
	// testedHere: the TLS-required test ran on this connection and left
	// it usable, so what STARTTLS gets next may be the test's doing.
	testedHere := false
	if s.testsTLSRequired() {
		var talking bool
		if testedHere, talking = s.testTLSRequired(); !testedHere {
			// The server ended the session in answer to the test (hung
			// up, said 421, fell silent, left the transaction open).
			// QUIT only to a server still talking: after a 421 it has
			// said goodbye. STARTTLS, when offered, is probed on a new
			// connection.
			if talking {
				s.quit()
			}
			if !s.res.STARTTLSOffered || !s.reconnect(addr) {
				return
			}
		}
	}
	if !s.res.STARTTLSOffered {
		s.quit()
		return
	}
	if !s.starttls() {
		if !testedHere || !s.starttlsRefused() {
			return
		}
		// Courier MTA turns STARTTLS off for the rest of a session once
		// MAIL or RSET was sent, and answers "540 TLS not available.": a
		// refusal after the test says nothing about STARTTLS itself. The
		// refusal is kept on the test, and STARTTLS is asked again on a
		// new connection without the test, whose reply is the result's.
		s.res.TLSRequired.STARTTLSRefusedAfter = s.res.STARTTLSReply
		s.res.STARTTLSReply, s.res.Error = nil, nil
		if !s.reconnect(addr) {
			return
		}
		if !s.res.STARTTLSOffered {
			s.quit()
			return
		}
		if !s.starttls() {
			return
		}
	}
	if !s.handshake() {
		return
	}
	if s.res.EHLOAfterTLS, ok = s.ehlo(PhasePostTLS, &s.res.Timings.PostTLS); ok {
		s.quit()
	}
}

// open connects to addr for the rest of the session. One deadline covers
// the whole endpoint (go-smtp-style per-command deadlines would outlive it),
// and the connection is closed when ctx ends, so that Ctrl-C unblocks any
// read at once. hangUp undoes it.
func (s *session) open(addr string) bool {
	if !s.connect(addr) {
		return false
	}
	if dl, ok := s.ctx.Deadline(); ok {
		s.raw.SetDeadline(dl)
	}
	raw := s.raw
	s.stopCloseOnDone = context.AfterFunc(s.ctx, func() { raw.Close() })
	return true
}

// reconnect hangs up (any QUIT owed was said by the caller), leaves the
// connection so far to the TLS-required test, with its transcript, and
// starts the session again on a new one, without the test: banner and EHLO
// are the new connection's.
func (s *session) reconnect(addr string) bool {
	s.hangUp()
	s.res.TLSRequired.Transcript = s.transcript.finish()
	if s.transcript != nil {
		s.transcript = newTranscript(s.res.Started)
	}
	return s.open(addr) && s.hello()
}

// hangUp closes the connection open made, if any.
func (s *session) hangUp() {
	if s.raw == nil {
		return
	}
	s.stopCloseOnDone()
	s.raw.Close()
	s.raw = nil
}

// hello reads the banner and says EHLO: the plaintext start of a STARTTLS
// session.
func (s *session) hello() bool {
	if !s.greeting() {
		return false
	}
	var ok bool
	if s.res.EHLO, ok = s.ehlo(PhaseEHLO, &s.res.Timings.EHLO); !ok {
		return false
	}
	s.res.STARTTLSOffered = s.res.EHLO.HasKeyword("STARTTLS")
	return true
}

func (s *session) fail(phase Phase, err error, reply *Reply) {
	s.res.Error = s.errorAt(phase, err, reply)
}

// refused records a reply that ends the dialogue and says QUIT, as RFC 5321
// asks even after a 554 greeting; after a 421 the server has closed already.
func (s *session) refused(phase Phase, reply *Reply) {
	s.fail(phase, reply.asError(), reply)
	if reply.Code != 421 {
		s.quit()
	}
}

// errorAt is the Error of a failure in phase, saying plainly when time ran
// out or the user interrupted.
func (s *session) errorAt(phase Phase, err error, reply *Reply) *Error {
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		err = s.ctxError(phase, ctxErr)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		err = s.ctxError(phase, context.DeadlineExceeded)
	}
	return &Error{Phase: phase, Err: err, Reply: reply}
}

// ctxError says plainly that time ran out or the user interrupted, instead of
// "use of closed network connection".
func (s *session) ctxError(phase Phase, ctxErr error) error {
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		timeout := s.opts.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		return fmt.Errorf("no answer within the %s timeout (%w)", timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("interrupted (%w)", ctxErr)
}

func (s *session) resolve() (string, bool) {
	ep := s.res.Endpoint
	if ep.Address != "" {
		return ep.Address, true
	}
	if a, err := netip.ParseAddr(ep.Host); err == nil {
		return a.String(), true
	}
	if err := s.ctx.Err(); err != nil {
		// Interrupted before it began: no lookup left running behind.
		s.fail(PhaseDNS, err, nil)
		return "", false
	}
	start := time.Now()
	addrs, err := s.opts.resolver().LookupNetIP(s.ctx, s.opts.network(), ep.Host)
	s.res.Timings.DNS = time.Since(start)
	if err != nil {
		s.fail(PhaseDNS, s.opts.namingResolver(err), nil)
		return "", false
	}
	if len(addrs) == 0 {
		s.fail(PhaseDNS, fmt.Errorf("no address for %s", ep.Host), nil)
		return "", false
	}
	return addrs[0].Unmap().String(), true
}

func (s *session) connect(addr string) bool {
	if err := s.awaitConnect(); err != nil {
		s.fail(PhaseConnect, err, nil)
		return false
	}
	start := time.Now()
	ctx := s.ctx
	// budgetFirst: the connect budget of a port nobody asked for ends
	// before the endpoint's deadline, so a dial that times out ran out of
	// the budget, not of --timeout.
	budgetFirst := false
	if s.res.Endpoint.DefaultPort {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultPortConnectTimeout)
		defer cancel()
		endpointEnds, bounded := s.ctx.Deadline()
		budgetEnds, _ := ctx.Deadline()
		budgetFirst = !bounded || budgetEnds.Before(endpointEnds)
	}
	// No TCP keep-alive: Go turns it on for every dial (first probe after
	// 15 s), which a session bounded by --timeout never reaches, and
	// setting it up costs each connection four setsockopt calls.
	d := net.Dialer{KeepAlive: -1}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(s.res.Endpoint.Port)))
	s.res.Timings.Connect = time.Since(start)
	if err != nil {
		// The dial's timeout can come back before ctx says it is done
		// (the socket's deadline fires first), hence the error's kind too.
		if budgetFirst && s.ctx.Err() == nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
			// Wrapped, not replaced: the *net.OpError stays reachable,
			// and its Timeout() says filtered rather than refused.
			err = fmt.Errorf("no answer within %s, the connect budget of a port not asked for: %w", DefaultPortConnectTimeout, err)
			// Not through fail, which reads a timeout error as the
			// endpoint's deadline ("no answer within the 30s timeout").
			s.res.Error = &Error{Phase: PhaseConnect, Err: err}
			return false
		}
		s.fail(PhaseConnect, err, nil)
		return false
	}
	s.raw = &recordingConn{Conn: &coalescingConn{Conn: c}, t: s.transcript}
	s.conn = s.raw
	s.replies = newReplyReader(s.raw)
	return true
}

func (s *session) greeting() bool {
	start := time.Now()
	reply, err := s.replies.read()
	s.res.Timings.Banner = time.Since(start)
	if err != nil {
		s.fail(PhaseBanner, err, nil)
		return false
	}
	s.res.Banner = reply
	if reply.Code != 220 {
		s.refused(PhaseBanner, reply)
		return false
	}
	return true
}

// command writes one command line and reads the whole reply.
func (s *session) command(line string) (*Reply, error) {
	replies, err := s.commands(false, line)
	if err != nil {
		return nil, err
	}
	return replies[0], nil
}

// commands sends lines and reads their replies, in one write when pipelined
// (RFC 2920, for servers that advertise PIPELINING). It returns the replies
// read before any error.
func (s *session) commands(pipelined bool, lines ...string) ([]*Reply, error) {
	batch := 1
	if pipelined {
		batch = len(lines)
	}
	var replies []*Reply
	for len(lines) > 0 {
		if err := writeCommands(s.conn, s.opts.RCPTAddress, lines[:batch]...); err != nil {
			return replies, err
		}
		for range batch {
			reply, err := s.replies.read()
			if err != nil {
				return replies, err
			}
			replies = append(replies, reply)
		}
		lines = lines[batch:]
	}
	return replies, nil
}

func (s *session) ehlo(phase Phase, took *time.Duration) (*Reply, bool) {
	name := s.opts.EHLOName
	if name == "" && !s.opts.hostNameRead {
		// A session outside Run (the TLS scan's, tests') reads it here.
		name = DefaultEHLOName()
	}
	if name == "" {
		name = addressLiteral(s.raw.LocalAddr())
	}
	if err := CheckEHLOName(name); err != nil {
		s.fail(phase, err, nil)
		return nil, false
	}
	start := time.Now()
	reply, err := s.command("EHLO " + name)
	*took = time.Since(start)
	if err != nil {
		s.fail(phase, err, nil)
		return nil, false
	}
	if reply.Code != 250 {
		s.refused(phase, reply)
		return reply, false
	}
	return reply, true
}

func (s *session) starttls() bool {
	start := time.Now()
	reply, err := s.command("STARTTLS")
	s.res.Timings.STARTTLS = time.Since(start)
	if err != nil {
		s.fail(PhaseSTARTTLS, err, nil)
		return false
	}
	s.res.STARTTLSReply = reply
	if reply.Code != 220 {
		s.refused(PhaseSTARTTLS, reply)
		return false
	}
	// Anything after "220" and before our ClientHello is plaintext the
	// server (or a man in the middle) injected: reading it as TLS would be
	// wrong and accepting it as SMTP would be dangerous (CVE-2011-0411).
	if n := s.replies.buffered(); n > 0 {
		s.fail(PhaseSTARTTLS, fmt.Errorf("server sent %d bytes of plaintext after its 220 reply, before the TLS handshake", n), reply)
		return false
	}
	return true
}

// starttlsRefused says whether STARTTLS failed because the server refused
// it with a reply, rather than by a network error or injected plaintext.
func (s *session) starttlsRefused() bool {
	return s.res.STARTTLSReply != nil && s.res.STARTTLSReply.Code != 220
}

// serverName is the SNI that goes on the wire (wireServerName, which
// Job.Key also keys on); TLSState.ServerName records this, not what was
// asked for.
func (s *session) serverName() string {
	return wireServerName(s.res.Endpoint.Host, s.opts)
}

func (s *session) handshake() bool {
	sni := s.serverName()
	cfg := &tls.Config{
		ServerName: sni,
		// Skip verification: the point is to show what is presented, even
		// when it would not verify. report verifies the captured chain.
		InsecureSkipVerify: true,
		// Offer what old mail servers still speak, so a TLS 1.0 server is
		// reported as such instead of failing the handshake.
		MinVersion: tls.VersionTLS10,
		// Listed anew for each handshake: 2.9 µs (go test -bench), 0.3%
		// of an endpoint's CPU, too little to keep a list beside Options.
		CipherSuites: allCipherSuites(),
		// VerifyConnection runs even with InsecureSkipVerify, before the
		// handshake finishes: the chain is kept if anything fails after.
		VerifyConnection: func(cs tls.ConnectionState) error {
			s.res.Chain = cs.PeerCertificates
			s.res.TLS = &TLSState{Version: cs.Version, CipherSuite: cs.CipherSuite, ServerName: sni, CurveID: cs.CurveID}
			return nil
		},
	}
	if s.tune != nil {
		s.tune(cfg)
	}
	tlsConn := tls.Client(s.raw.Conn, cfg)
	start := time.Now()
	// Not HandshakeContext: open's deadline and close-on-done already bound
	// and interrupt it, and a cancelable context costs every handshake a
	// context and a callback of its own.
	err := tlsConn.Handshake()
	s.res.Timings.Handshake = time.Since(start)
	if errors.Is(err, io.EOF) {
		// crypto/tls says a bare "EOF" when the server hangs up instead.
		err = fmt.Errorf("the server closed the connection: %w", err)
	}
	if err != nil {
		s.fail(PhaseHandshake, err, nil)
		return false
	}
	cs := tlsConn.ConnectionState()
	s.res.TLS = &TLSState{Version: cs.Version, CipherSuite: cs.CipherSuite, ServerName: sni, HandshakeComplete: true, CurveID: cs.CurveID,
		OCSPResponse: cs.OCSPResponse}
	s.res.Chain = cs.PeerCertificates
	s.transcript.setTLS()
	s.conn = &recordingConn{Conn: tlsConn, t: s.transcript}
	s.replies.switchTo(s.conn)
	return true
}

// quit ends the session politely. Its outcome is not part of the result:
// everything was observed by then.
func (s *session) quit() {
	dl := time.Now().Add(quitGrace)
	if ctxDL, ok := s.ctx.Deadline(); ok && ctxDL.Before(dl) {
		dl = ctxDL
	}
	s.conn.SetDeadline(dl)
	s.command("QUIT")
}

// allCipherSuites lists every suite crypto/tls implements, insecure ones
// included: a probe must reach servers that only speak old suites.
func allCipherSuites() []uint16 {
	var ids []uint16
	for _, cs := range tls.CipherSuites() {
		ids = append(ids, cs.ID)
	}
	for _, cs := range tls.InsecureCipherSuites() {
		ids = append(ids, cs.ID)
	}
	return ids
}
