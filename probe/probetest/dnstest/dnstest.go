// Package dnstest answers DNS from a fixed zone on a loopback UDP port, for
// tests of name resolution (MX discovery, unknown hosts) that must send
// nothing to the system's resolver. It imports nothing of this module, so
// the probe package's own tests can use it.
package dnstest

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// TB is the part of testing.TB that New needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Server answers from its zone: the records whose owner and type match the
// question; NXDOMAIN for names the zone does not hold.
type Server struct {
	addr netip.AddrPort
	srv  *dns.Server

	mu      sync.Mutex
	queries map[string]int
	delay   time.Duration
	ad      bool
}

// SetAuthenticData sets the AD bit on every later answer, as a validating
// resolver does for DNSSEC-secure data: tests of what a secure answer
// means use it; Unbound tests validation itself.
func (s *Server) SetAuthenticData(ad bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ad = ad
}

// SetDelay holds every later answer for d before sending it, as a slow
// or distant resolver does: tests of time budgets use it.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Start serves records, given in zone-file syntax ("mx.test. 300 IN A
// 127.0.0.1"), on a free port of 127.0.0.1.
func Start(records ...string) (*Server, error) {
	zone := map[string][]dns.RR{}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return nil, fmt.Errorf("dnstest: record %q: %w", r, err)
		}
		name := strings.ToLower(rr.Header().Name)
		zone[name] = append(zone[name], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dnstest: listen on loopback: %w", err)
	}
	s := &Server{addr: netip.MustParseAddrPort(pc.LocalAddr().String()), queries: map[string]int{}}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		if len(q.Question) == 0 {
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeFormatError)
			w.WriteMsg(m)
			return
		}
		question := q.Question[0]
		// The miekg/dns server answers each UDP query in a goroutine of
		// its own, so a delay holds this answer only.
		time.Sleep(s.count(question))
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		s.mu.Lock()
		m.AuthenticatedData = s.ad
		s.mu.Unlock()
		rrs, exists := zone[strings.ToLower(question.Name)]
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == question.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})
	srv, err := serve(pc, mux)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// serve answers DNS on pc with handler until the server is shut down.
func serve(pc net.PacketConn, handler dns.Handler) (*dns.Server, error) {
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: handler, NotifyStartedFunc: func() { close(started) }}
	failed := make(chan error, 1)
	go func() { failed <- srv.ActivateAndServe() }()
	// ActivateAndServe returns at once when it cannot serve, without
	// calling NotifyStartedFunc: wait for whichever comes first.
	select {
	case <-started:
		return srv, nil
	case err := <-failed:
		pc.Close()
		return nil, fmt.Errorf("dnstest: serving: %w", err)
	}
}

// New starts a server and stops it when the test ends.
func New(t TB, records ...string) *Server {
	t.Helper()
	s, err := Start(records...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's address, for probe.NewResolver or --resolver.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Queries is how many times the server was asked for name and type
// ("mx.test.", "MX").
func (s *Server) Queries(name, qtype string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[strings.ToLower(name)+" "+qtype]
}

// QueryCounts is how many times each question was asked, keyed as
// "mx.test. MX".
func (s *Server) QueryCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := make(map[string]int, len(s.queries))
	for q, n := range s.queries {
		counts[q] = n
	}
	return counts
}

// count records the question and returns how long to hold its answer.
func (s *Server) count(q dns.Question) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries[strings.ToLower(q.Name)+" "+dns.TypeToString[q.Qtype]]++
	return s.delay
}

// Close stops the server.
func (s *Server) Close() { s.srv.Shutdown() }
