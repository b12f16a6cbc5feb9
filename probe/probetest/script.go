package probetest

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Script is a scripted SMTP server, for the replies and misbehaviour that
// go-smtp's server will not produce (Exchange's EHLO, 454 to STARTTLS, 421 to
// EHLO, a silent or hostile peer). Reply fields hold whole reply lines,
// code included; a multi-line reply is several lines ("250-...", "250 ...").
type Script struct {
	// Greeting is written on accept. Empty means the server never greets.
	Greeting []string
	// EHLO is the reply to EHLO before TLS; EHLOAfterTLS after it.
	EHLO         []string
	EHLOAfterTLS []string
	// STARTTLS is the reply to STARTTLS; a 220 reply starts the handshake
	// with Chain.
	STARTTLS []string
	// STARTTLSAfterMail, when set, is the reply to STARTTLS once MAIL or
	// RSET has been received on the connection: Courier MTA turns STARTTLS
	// off for the rest of a session then ("540 TLS not available.").
	STARTTLSAfterMail []string
	// AfterSTARTTLS, when set, takes the connection after the STARTTLS
	// reply instead of the handshake (to send garbage, or close).
	AfterSTARTTLS func(c net.Conn)
	// Mail is the reply to MAIL FROM before TLS; MailAfterTLS after it.
	// Both default to "250 2.1.0 Sender OK".
	Mail         []string
	MailAfterTLS []string
	// AfterMail, when set, takes the connection after the reply to MAIL
	// before TLS (to hang up, or fall silent, as some servers do after
	// refusing plaintext mail).
	AfterMail func(c net.Conn)
	// RSET is the reply to RSET; it defaults to "250 2.0.0 Resetting".
	RSET []string
	// RCPT is the reply to RCPT; it defaults to "550 5.7.1 Test server
	// accepts no mail". DATA and BDAT are always refused.
	RCPT []string
	// Chain is the certificate chain for the handshake.
	Chain *Chain
	// TLSConfig, when set, is used instead of one built from Chain.
	TLSConfig *tls.Config
	// Implicit starts TLS on accept.
	Implicit bool
	// CloseAfterHandshake hangs up right after the TLS handshake.
	CloseAfterHandshake bool
	// Handler, when set, replaces the whole dialogue: it gets the raw
	// connection (an HTTP or SSH server, a trickling banner, ...).
	Handler func(c net.Conn)
	// HoldAfterQUIT answers QUIT and leaves the hanging up to the client,
	// recording "<hung up>" among the commands when it does; and a new
	// connection is greeted only once the earlier ones are hung up (or
	// 2 s have passed), so that the record says whether the client
	// closed a connection before opening the next.
	HoldAfterQUIT bool
}

// HungUp is what Commands records when a client hangs up a connection
// held after QUIT (Script.HoldAfterQUIT).
const HungUp = "<hung up>"

// maxCommandLine bounds what the scripted server reads per command line.
const maxCommandLine = 4096

// StartScript starts a scripted server on a free loopback port.
func StartScript(script Script) (*Server, error) {
	l, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	rs := &rawServer{listener: l, script: script, conns: map[net.Conn]bool{}}
	rs.wg.Add(1)
	go rs.serve()
	return &Server{listener: l, raw: rs}, nil
}

// NewScript starts a scripted server and stops it when the test ends.
func NewScript(t TB, script Script) *Server {
	t.Helper()
	s, err := StartScript(script)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Commands returns every command line a scripted server received, in order,
// across connections: tests use it to prove what the probe sends.
func (s *Server) Commands() []string {
	if s.raw == nil {
		return nil
	}
	s.raw.mu.Lock()
	defer s.raw.mu.Unlock()
	return append([]string(nil), s.raw.commands...)
}

type rawServer struct {
	listener net.Listener
	script   Script
	wg       sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]bool
	commands []string
	closed   bool
}

func (rs *rawServer) serve() {
	defer rs.wg.Done()
	for {
		c, err := rs.listener.Accept()
		if err != nil {
			return
		}
		rs.mu.Lock()
		if rs.closed {
			rs.mu.Unlock()
			c.Close()
			return
		}
		rs.conns[c] = true
		rs.wg.Add(1)
		rs.mu.Unlock()
		go func() {
			defer rs.wg.Done()
			defer func() {
				c.Close()
				rs.mu.Lock()
				delete(rs.conns, c)
				rs.mu.Unlock()
			}()
			rs.handle(c)
		}()
	}
}

func (rs *rawServer) close() error {
	rs.mu.Lock()
	rs.closed = true
	err := rs.listener.Close()
	for c := range rs.conns {
		c.Close()
	}
	rs.mu.Unlock()
	rs.wg.Wait()
	return err
}

// awaitEarlierHangUps waits until c is the only connection open, for at
// most 2 s: long enough for a client's close to arrive on a loaded
// machine, short next to a probe's timeout.
func (rs *rawServer) awaitEarlierHangUps(c net.Conn) {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		rs.mu.Lock()
		alone := len(rs.conns) == 1 && rs.conns[c]
		rs.mu.Unlock()
		if alone {
			return
		}
	}
}

func (rs *rawServer) record(cmd string) {
	rs.mu.Lock()
	rs.commands = append(rs.commands, cmd)
	rs.mu.Unlock()
}

func (rs *rawServer) tlsConfig() *tls.Config {
	if rs.script.TLSConfig != nil {
		return rs.script.TLSConfig
	}
	if rs.script.Chain == nil {
		return nil
	}
	return &tls.Config{Certificates: []tls.Certificate{rs.script.Chain.TLSCertificate()}}
}

func writeLines(w io.Writer, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	_, err := io.WriteString(w, strings.Join(lines, "\r\n")+"\r\n")
	return err
}

func (rs *rawServer) handle(c net.Conn) {
	sc := rs.script
	if sc.Handler != nil {
		sc.Handler(c)
		return
	}
	secure := false
	if sc.Implicit {
		if rs.tlsConfig() == nil {
			return
		}
		tc := tls.Server(c, rs.tlsConfig())
		if tc.Handshake() != nil || sc.CloseAfterHandshake {
			return
		}
		c, secure = tc, true
	}
	if sc.HoldAfterQUIT {
		rs.awaitEarlierHangUps(c)
	}
	if len(sc.Greeting) == 0 {
		// Silent: hold the connection until the client gives up.
		io.Copy(io.Discard, c)
		return
	}
	if writeLines(c, sc.Greeting) != nil {
		return
	}
	r := bufio.NewReaderSize(c, maxCommandLine)
	// mailSeen: MAIL or RSET was received, for STARTTLSAfterMail.
	mailSeen := false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(string(line), "\r\n")
		rs.record(cmd)
		verb, _, _ := strings.Cut(strings.ToUpper(cmd), " ")
		var reply []string
		switch verb {
		case "EHLO", "HELO":
			reply = sc.EHLO
			if secure && sc.EHLOAfterTLS != nil {
				reply = sc.EHLOAfterTLS
			}
			if reply == nil {
				reply = []string{"250 mx.test"}
			}
		case "STARTTLS":
			reply = sc.STARTTLS
			if mailSeen && sc.STARTTLSAfterMail != nil {
				reply = sc.STARTTLSAfterMail
			}
			if reply == nil {
				reply = []string{"220 2.0.0 Ready to start TLS"}
			}
			if secure || !strings.HasPrefix(reply[0], "220") {
				break
			}
			if rs.tlsConfig() == nil && sc.AfterSTARTTLS == nil {
				// A script without a certificate cannot start TLS;
				// say so instead of panicking in the handshake.
				reply = []string{"454 4.7.0 TLS not available: the script has no certificate"}
				break
			}
			if writeLines(c, reply) != nil {
				return
			}
			if sc.AfterSTARTTLS != nil {
				sc.AfterSTARTTLS(c)
				return
			}
			tc := tls.Server(c, rs.tlsConfig())
			if tc.Handshake() != nil || sc.CloseAfterHandshake {
				return
			}
			c, secure = tc, true
			r = bufio.NewReaderSize(c, maxCommandLine)
			continue
		case "MAIL":
			mailSeen = true
			reply = sc.Mail
			if secure {
				reply = sc.MailAfterTLS
			}
			if reply == nil {
				reply = []string{"250 2.1.0 Sender OK"}
			}
			if !secure && sc.AfterMail != nil {
				if writeLines(c, reply) == nil {
					sc.AfterMail(c)
				}
				return
			}
		case "RSET":
			mailSeen = true
			reply = sc.RSET
			if reply == nil {
				reply = []string{"250 2.0.0 Resetting"}
			}
		case "NOOP":
			reply = []string{"250 2.0.0 OK"}
		case "QUIT":
			writeLines(c, []string{"221 2.0.0 Service closing transmission channel"})
			if sc.HoldAfterQUIT {
				io.Copy(io.Discard, c)
				rs.record(HungUp)
			}
			return
		case "RCPT":
			reply = sc.RCPT
			if reply == nil {
				reply = []string{"550 5.7.1 Test server accepts no mail"}
			}
		case "DATA", "BDAT":
			reply = []string{"550 5.7.1 Test server accepts no mail"}
		default:
			reply = []string{"500 5.3.3 Unrecognized command"}
		}
		if writeLines(c, reply) != nil {
			return
		}
	}
}
