package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultScanConnections is how many --tls-scan connections one address
// gets at once: enough to finish in a few round trips, few enough that a
// server's connection limits (Postfix's anvil, Exchange's
// MaxInboundConnectionPerSource) do not turn the scan into refusals.
const DefaultScanConnections = 4

// Outcome is what became of one scan handshake.
type Outcome string

const (
	Accepted Outcome = "accepted"
	// Refused: the server refused the handshake (an alert, or it hung up
	// during it).
	Refused Outcome = "refused"
	// NotTested: the handshake was never reached or never finished for
	// another reason (connection refused, STARTTLS not offered, time up):
	// nothing is known, which is not a refusal.
	NotTested Outcome = "not tested"
)

// ScanGroups are the key-exchange groups --tls-scan tries one at a time:
// the ML-KEM hybrids first (TLS 1.3 only), then the classic curves. A
// function, so that no caller can change the list under a running scan.
func ScanGroups() []tls.CurveID {
	return []tls.CurveID{tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
		tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521}
}

// ScanVersions are the versions --tls-scan tries, oldest first. SSLv2 and
// SSLv3 are not among them: crypto/tls cannot speak them.
func ScanVersions() []uint16 {
	return []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}
}

// Scan is what --tls-scan saw on connections of its own, beside the
// probe's one handshake.
type Scan struct {
	// Versions are ScanVersions' outcomes, in that order.
	Versions []VersionScan
	// Order is who picks the suite, read on OrderVersion; "" when no
	// version accepted two suites, so nothing could tell.
	Order        SuiteOrder
	OrderVersion uint16
	// Groups are ScanGroups' outcomes, in that order.
	Groups []GroupScan
	// Chains are every distinct chain the scan's handshakes were
	// presented, by leaf, in the order first seen: an RSA and an ECDSA
	// certificate show up as two.
	Chains []PresentedChain
	// WithoutSNI is a handshake without SNI, made when the probe sent
	// one: whether Exchange Online sends SNI is not documented, and a
	// server may present another certificate without it.
	WithoutSNI *Attempt
	// Handshakes counts the scan's connections.
	Handshakes int
	Duration   time.Duration
	// Error is why the scan stopped before the end (its time ran out,
	// the user interrupted); nil when it ran through.
	Error error
}

// SuiteOrder says whose preference picks the cipher suite.
type SuiteOrder string

const (
	ServerOrder SuiteOrder = "server"
	ClientOrder SuiteOrder = "client"
)

// VersionScan is one protocol version's outcome.
type VersionScan struct {
	Version uint16
	Outcome Outcome
	// Err is why it was refused or not tested.
	Err error
	// Suites are the suites accepted, in the order the server chose them
	// as the offer shrank. For TLS 1.3 it is the one negotiated: Go
	// offers its three TLS 1.3 suites and cannot be made to offer fewer.
	Suites []uint16
	// Complete is false when the enumeration was cut short (a connection
	// failed, time ran out): more suites may be accepted.
	Complete bool
}

// GroupScan is one key-exchange group's outcome, offered alone.
type GroupScan struct {
	Group   tls.CurveID
	Outcome Outcome
	// Version is what the accepting handshake negotiated.
	Version uint16
	Err     error
}

// PresentedChain is a chain a scan handshake was presented, with the first
// handshake that showed it.
type PresentedChain struct {
	Chain       []*x509.Certificate
	Version     uint16
	CipherSuite uint16
	// OCSPResponse is what the server stapled with this chain, raw; nil
	// when nothing was.
	OCSPResponse []byte
}

// Attempt is one scan connection's handshake.
type Attempt struct {
	Outcome Outcome
	// TLS and Chain are what was negotiated and presented, when accepted
	// (Chain also when refused after the certificate).
	TLS   *TLSState
	Chain []*x509.Certificate
	// Err is why it was refused or not tested.
	Err error
}

// ScanTLS looks at the TLS posture of the endpoint r probed, on new
// connections to r.Address: each says EHLO and STARTTLS (or starts TLS at
// once on implicit TLS), makes one handshake with a narrowed offer, and
// says QUIT, nothing else. It returns nil when r never got as far as a
// handshake: there is nothing to scan.
//
// At most len(ScanVersions()) + the suites accepted on TLS 1.0 to 1.2 +
// len(ScanGroups()) + 1 handshakes (the one without SNI),
// no more than Options.ScanConnections at once per address, all within
// Options.Timeout.
func ScanTLS(ctx context.Context, r *Result, opts Options) *Scan {
	if r.TLS == nil || r.Address == "" {
		return nil
	}
	timeout := opts.timeout()
	opts = opts.withConnectLimiter()
	ctx, budget, cancel := opts.within(ctx, timeout)
	defer cancel()
	if opts.scanSlots == nil {
		opts.scanSlots = newAddressSlots(opts.ScanConnections)
	}
	// The scan's connections send only EHLO, STARTTLS and QUIT: no RCPT
	// address reaches the guard from here.
	opts.RCPTAddress = ""
	sc := &scanner{ctx: ctx, budget: budget, opts: opts, r: r, seen: map[string]bool{}}
	start := time.Now()
	versions, groups := ScanVersions(), ScanGroups()
	out := &Scan{Versions: make([]VersionScan, len(versions)), Groups: make([]GroupScan, len(groups))}

	var wg sync.WaitGroup
	for i, v := range versions {
		wg.Go(func() { out.Versions[i] = sc.version(v) })
	}
	for i, g := range groups {
		wg.Go(func() { out.Groups[i] = sc.group(g) })
	}
	if r.TLS.ServerName != "" {
		wg.Go(func() {
			a := sc.attempt(func(c *tls.Config) { c.ServerName = "" })
			out.WithoutSNI = &a
		})
	}
	wg.Wait()
	out.Order, out.OrderVersion = sc.order(out.Versions)

	sc.mu.Lock()
	out.Chains, out.Handshakes = sc.chains, sc.handshakes
	sc.mu.Unlock()
	out.Duration = time.Since(start)
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			out.Error = fmt.Errorf("the scan did not finish within the %s timeout: what it did not reach is not tested", timeout)
		} else {
			out.Error = fmt.Errorf("interrupted: what the scan did not reach is not tested (%w)", err)
		}
	}
	return out
}

// scanner is one endpoint's scan in progress.
type scanner struct {
	ctx    context.Context
	budget *budget // ctx when a rate limit stops its clock, else nil
	opts   Options
	r      *Result

	mu         sync.Mutex
	handshakes int
	chains     []PresentedChain
	seen       map[string]bool // leaves in chains, by DER
	// loops keeps each version's offers and choices for order().
	loops map[uint16][]loopStep
}

// loopStep is one accepted handshake of the remove-the-chosen-suite loop.
type loopStep struct {
	offered []uint16
	chosen  uint16
}

// version tries v alone. For TLS 1.0 to 1.2 it enumerates the suites the
// way testssl.sh does: offer every suite Go has for v, remove the one the
// server chose, offer the rest, until the server refuses (accepted + 1
// handshakes).
func (sc *scanner) version(v uint16) VersionScan {
	vs := VersionScan{Version: v}
	if v == tls.VersionTLS13 {
		a := sc.attempt(func(c *tls.Config) { c.MinVersion, c.MaxVersion = v, v })
		vs.Outcome, vs.Err, vs.Complete = a.Outcome, a.Err, a.Outcome != NotTested
		if a.Outcome == Accepted {
			vs.Suites = []uint16{a.TLS.CipherSuite}
		}
		return vs
	}
	offered := SuitesFor(v)
	for len(offered) > 0 {
		list := slices.Clone(offered)
		a := sc.attempt(func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = v, v
			// An explicit list: Go's default leaves out 3DES, RC4 and
			// RSA key exchange, which are what a scan must find.
			c.CipherSuites = list
		})
		if a.Outcome != Accepted {
			if len(vs.Suites) == 0 {
				vs.Outcome, vs.Err = a.Outcome, a.Err
			}
			vs.Complete = a.Outcome == Refused
			return vs
		}
		vs.Outcome = Accepted
		chosen := a.TLS.CipherSuite
		if !slices.Contains(offered, chosen) {
			// crypto/tls refuses a suite it did not offer; kept as a
			// guard against a loop that could not shrink.
			return vs
		}
		vs.Suites = append(vs.Suites, chosen)
		sc.mu.Lock()
		if sc.loops == nil {
			sc.loops = map[uint16][]loopStep{}
		}
		sc.loops[v] = append(sc.loops[v], loopStep{offered: list, chosen: chosen})
		sc.mu.Unlock()
		offered = slices.DeleteFunc(offered, func(id uint16) bool { return id == chosen })
	}
	vs.Complete = true
	return vs
}

// order tells whose preference picks the suite, from the newest version
// below TLS 1.3 that accepted two suites or more. crypto/tls offers suites
// in its own fixed order, whatever the list's: under client order the
// server takes, at each step of the loop, the first suite of that order it
// accepts. One choice that is not tells server order. When every choice
// is, it is the client's order, or a server order that agrees with
// crypto/tls's, which no offer from crypto/tls can tell apart.
func (sc *scanner) order(versions []VersionScan) (SuiteOrder, uint16) {
	for _, vs := range slices.Backward(versions) {
		if vs.Version == tls.VersionTLS13 || !vs.Complete || len(vs.Suites) < 2 {
			continue
		}
		sc.mu.Lock()
		steps := sc.loops[vs.Version]
		sc.mu.Unlock()
		for _, step := range steps {
			wire := clientHelloOrder(vs.Version, step.offered)
			if len(wire) == 0 {
				return "", 0
			}
			if firstAccepted(wire, vs.Suites) != step.chosen {
				return ServerOrder, vs.Version
			}
		}
		return ClientOrder, vs.Version
	}
	return "", 0
}

// clientHelloOrder is the order in which crypto/tls puts suites on the
// wire when offered at v: its own, not the list's. Read from a ClientHello
// made in memory, never sent anywhere.
func clientHelloOrder(v uint16, suites []uint16) []uint16 {
	client, server := net.Pipe()
	var wire []uint16
	done := make(chan struct{})
	go func() {
		defer close(done)
		tls.Server(server, &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			wire = hello.CipherSuites
			return nil, errors.New("read")
		}}).Handshake()
		server.Close()
	}()
	tls.Client(client, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v, CipherSuites: suites}).Handshake()
	client.Close()
	<-done
	return slices.DeleteFunc(wire, func(id uint16) bool { return !slices.Contains(suites, id) })
}

// firstAccepted is the first suite of offered that accepted holds.
func firstAccepted(offered, accepted []uint16) uint16 {
	for _, id := range offered {
		if slices.Contains(accepted, id) {
			return id
		}
	}
	return 0
}

// group offers g alone, with every version and, below TLS 1.3, only ECDHE
// suites: a suite without a group would succeed without telling anything.
func (sc *scanner) group(g tls.CurveID) GroupScan {
	gs := GroupScan{Group: g}
	a := sc.attempt(func(c *tls.Config) {
		c.CurvePreferences = []tls.CurveID{g}
		c.CipherSuites = ecdheSuites()
	})
	gs.Outcome, gs.Err = a.Outcome, a.Err
	if a.Outcome == Accepted {
		gs.Version = a.TLS.Version
		if a.TLS.CurveID != g {
			gs.Outcome, gs.Err = Refused, fmt.Errorf("the handshake used %v instead", a.TLS.CurveID)
		}
	}
	return gs
}

// attempt makes one scan connection: connect, EHLO and STARTTLS on a
// STARTTLS endpoint, the handshake with tune's offer, QUIT. It goes through
// the probe's session, so that its writes pass the same guard.
func (sc *scanner) attempt(tune func(*tls.Config)) Attempt {
	release, err := sc.opts.scanSlots.acquire(sc.ctx, sc.r.Address)
	if err != nil {
		return Attempt{Outcome: NotTested, Err: err}
	}
	defer release()
	s := &session{ctx: sc.ctx, budget: sc.budget, opts: sc.opts, tune: tune,
		res: Result{Endpoint: sc.r.Endpoint, Mode: sc.r.Mode, Started: time.Now()}}
	// The scan is not transcribed; its lines go nowhere.
	s.transcript = newTranscript(s.res.Started)
	sc.mu.Lock()
	sc.handshakes++
	sc.mu.Unlock()
	if !s.open(sc.r.Address) {
		return Attempt{Outcome: NotTested, Err: errorOf(s.res.Error)}
	}
	defer s.hangUp()
	if s.res.Mode == ModeSTARTTLS {
		if !s.hello() {
			return Attempt{Outcome: NotTested, Err: errorOf(s.res.Error)}
		}
		if !s.res.STARTTLSOffered {
			s.quit()
			return Attempt{Outcome: NotTested, Err: errors.New("STARTTLS not offered on this connection")}
		}
		if !s.starttls() {
			return Attempt{Outcome: NotTested, Err: errorOf(s.res.Error)}
		}
	}
	if !s.handshake() {
		a := Attempt{Outcome: Refused, Chain: s.res.Chain, Err: errorOf(s.res.Error)}
		if sc.ctx.Err() != nil || errors.Is(s.res.Error, context.DeadlineExceeded) {
			a.Outcome = NotTested
		}
		return a
	}
	sc.keep(s.res.TLS, s.res.Chain)
	if s.res.Mode == ModeImplicit {
		// The server speaks first under implicit TLS: its greeting,
		// then QUIT.
		if s.greeting() {
			s.quit()
		}
	} else {
		s.quit()
	}
	return Attempt{Outcome: Accepted, TLS: s.res.TLS, Chain: s.res.Chain}
}

// errorOf is e as an error, nil when e is: a nil *Error in an error
// would not be nil.
func errorOf(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// keep records a chain not seen yet.
func (sc *scanner) keep(t *TLSState, chain []*x509.Certificate) {
	if len(chain) == 0 {
		return
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.seen[string(chain[0].Raw)] {
		return
	}
	sc.seen[string(chain[0].Raw)] = true
	sc.chains = append(sc.chains, PresentedChain{Chain: chain, Version: t.Version, CipherSuite: t.CipherSuite, OCSPResponse: t.OCSPResponse})
}

// SuitesFor lists every suite crypto/tls can offer at v (1.0 to 1.2),
// insecure ones included, in crypto/tls's order.
func SuitesFor(v uint16) []uint16 {
	var ids []uint16
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if slices.Contains(cs.SupportedVersions, v) && !slices.Contains(cs.SupportedVersions, tls.VersionTLS13) {
			ids = append(ids, cs.ID)
		}
	}
	return ids
}

// ecdheSuites are the suites below TLS 1.3 whose key exchange uses a group.
func ecdheSuites() []uint16 {
	var ids []uint16
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if isECDHE(cs.ID) {
			ids = append(ids, cs.ID)
		}
	}
	return ids
}

// isECDHE reports whether a suite below TLS 1.3 uses ECDHE key exchange.
func isECDHE(id uint16) bool {
	return strings.HasPrefix(tls.CipherSuiteName(id), "TLS_ECDHE_")
}

// addressSlots bounds the scan connections open at once to each address,
// across the endpoints of a run: 25, 587 and 2525 of one server share its
// limit.
type addressSlots struct {
	per int
	mu  sync.Mutex
	sem map[string]chan struct{}
}

func newAddressSlots(per int) *addressSlots {
	if per <= 0 {
		per = DefaultScanConnections
	}
	return &addressSlots{per: per, sem: map[string]chan struct{}{}}
}

// acquire waits for a slot of addr, or for ctx to end.
func (a *addressSlots) acquire(ctx context.Context, addr string) (func(), error) {
	a.mu.Lock()
	sem, ok := a.sem[addr]
	if !ok {
		sem = make(chan struct{}, a.per)
		a.sem[addr] = sem
	}
	a.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no connection slot before the scan's time ran out: %w", ctx.Err())
	}
}
