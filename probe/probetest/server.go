// Package probetest runs SMTP servers on loopback for tests and the demo, in
// the spirit of net/http/httptest: a go-smtp server configured by a Config
// (certificate chain, STARTTLS on or off, implicit TLS, banner), and a
// scripted raw server for the misbehaving ones go-smtp cannot play. It also
// makes throwaway certificate hierarchies (pki.go).
//
// It never listens on anything but loopback.
package probetest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/starttls-probe/starttls-probe/probe"
)

// TB is the part of testing.TB the constructors need; it keeps the testing
// package out of the binary that runs the demo.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Config configures a go-smtp server.
type Config struct {
	// Chain is the certificate chain served; nil means no TLS at all.
	Chain *Chain
	// NoSTARTTLS keeps STARTTLS out of EHLO even with a Chain.
	NoSTARTTLS bool
	// Implicit starts TLS on accept (port 465 style).
	Implicit bool
	// Domain is the name in the greeting and EHLO reply; "mx.test" if empty.
	Domain string
	// Banner, when set, replaces the whole greeting line ("220 ..." or
	// "554 ..."). Not with Implicit: go-smtp would no longer see the TLS
	// conn under the banner's wrapper; a Script does both.
	Banner string
	// RequireTLS answers MAIL FROM before STARTTLS with 530 5.7.0, as
	// Postfix does at smtpd_tls_security_level = encrypt.
	RequireTLS bool
	// MinVersion and MaxVersion bound the TLS versions served.
	MinVersion, MaxVersion uint16
	// ConfigureTLS, when set, changes the server's tls.Config once it is
	// made from the above: suites and their order, groups, more
	// certificates (RSA beside ECDSA), stapled OCSP responses.
	ConfigureTLS func(*tls.Config)
	// AuthMechanisms, when set, are advertised as AUTH once TLS is up (go-smtp
	// keeps AUTH back in plaintext), as a submission server does. Every
	// attempt to authenticate fails.
	AuthMechanisms []string
}

// Server is a running test server.
type Server struct {
	listener net.Listener
	smtp     *smtp.Server
	raw      *rawServer
	closing  sync.Once
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// IP is the loopback address the server listens on.
func (s *Server) IP() string {
	host, _, _ := net.SplitHostPort(s.Addr())
	return host
}

// Port is the server's port.
func (s *Server) Port() int {
	_, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	return n
}

// Endpoint is what a test probes to reach the server, as httptest's
// Client is what reaches its server: dialed at the server's loopback
// address under the name host (never resolved), in the role of the
// well-known port servicePort (0 for the server's own port). With host ""
// the endpoint is the bare address, as "starttls-probe 127.0.0.1:PORT".
func (s *Server) Endpoint(host string, servicePort int) probe.Endpoint {
	if host == "" {
		return probe.Endpoint{Target: s.Addr(), Host: s.IP(), Port: s.Port(), AsPort: servicePort}
	}
	return probe.Endpoint{Target: host, Host: host, Address: s.IP(), Port: s.Port(), AsPort: servicePort}
}

// Close stops the server. A scripted server also waits for its
// connections to end; go-smtp's closes them without waiting.
func (s *Server) Close() error {
	var err error
	s.closing.Do(func() {
		if s.smtp != nil {
			// Close the listener ourselves too: go-smtp only knows it once
			// its Serve goroutine has run, which a quick Close can beat.
			s.listener.Close()
			if err = s.smtp.Close(); errors.Is(err, net.ErrClosed) {
				err = nil // the listener we closed on purpose
			}
		} else {
			err = s.raw.close()
		}
	})
	return err
}

// listenLoopback listens on a free port of 127.0.0.1, or of ::1 when IPv4
// loopback is missing.
func listenLoopback() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if l6, err6 := net.Listen("tcp", "[::1]:0"); err6 == nil {
			return l6, nil
		}
		return nil, fmt.Errorf("probetest: listen on loopback: %w", err)
	}
	return l, nil
}

// Start starts a go-smtp server on a free loopback port.
func Start(cfg Config) (*Server, error) {
	if cfg.Implicit && cfg.Banner != "" {
		return nil, errors.New("probetest: Config.Banner does not work with Implicit; use a Script")
	}
	l, err := listenLoopback()
	if err != nil {
		return nil, err
	}
	return Serve(l, cfg), nil
}

// Serve runs a go-smtp server on l, which the server then owns.
func Serve(l net.Listener, cfg Config) *Server {
	domain := cfg.Domain
	if domain == "" {
		domain = "mx.test"
	}
	srv := smtp.NewServer(&backend{requireTLS: cfg.RequireTLS, authMechanisms: cfg.AuthMechanisms})
	srv.Domain = domain
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.MaxMessageBytes = 10 << 20
	if cfg.Chain != nil {
		srv.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{cfg.Chain.TLSCertificate()},
			MinVersion:   cfg.MinVersion,
			MaxVersion:   cfg.MaxVersion,
		}
		if cfg.ConfigureTLS != nil {
			cfg.ConfigureTLS(srv.TLSConfig)
		}
	}
	served := l
	if cfg.Implicit && srv.TLSConfig != nil {
		served = tls.NewListener(served, srv.TLSConfig)
	}
	if cfg.Banner != "" {
		served = &bannerListener{Listener: served, banner: cfg.Banner}
	}
	if cfg.NoSTARTTLS && !cfg.Implicit {
		srv.TLSConfig = nil
	}
	go srv.Serve(served)
	return &Server{listener: l, smtp: srv}
}

// NewServer starts a go-smtp server and stops it when the test ends.
func NewServer(t TB, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backend accepts the probe's session and refuses to take any mail: a test
// server that could be made to relay would be a bad test server.
type backend struct {
	requireTLS     bool
	authMechanisms []string
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	s := &session{needTLS: b.requireTLS && !isTLS}
	if len(b.authMechanisms) > 0 {
		return &authSession{session: s, mechanisms: b.authMechanisms}, nil
	}
	return s, nil
}

type session struct{ needTLS bool }

var errNoRelay = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Test server accepts no mail"}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.needTLS {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	return nil
}
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error { return errNoRelay }
func (s *session) Data(r io.Reader) error                       { return errNoRelay }
func (s *session) Reset()                                       {}
func (s *session) Logout() error                                { return nil }

// authSession advertises AUTH and accepts no credentials: a test server that
// let anyone in would be a bad test server.
type authSession struct {
	*session
	mechanisms []string
}

func (s *authSession) AuthMechanisms() []string { return s.mechanisms }

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	return nil, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication unsuccessful"}
}

// bannerListener replaces go-smtp's fixed greeting with a custom line.
type bannerListener struct {
	net.Listener
	banner string
}

func (l *bannerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bannerConn{Conn: c, banner: l.banner}, nil
}

// bannerConn swaps the first write (go-smtp's greeting, written in one
// flush) for the configured banner.
type bannerConn struct {
	net.Conn
	banner  string
	greeted bool
}

func (c *bannerConn) Write(p []byte) (int, error) {
	if c.greeted {
		return c.Conn.Write(p)
	}
	c.greeted = true
	if _, err := io.WriteString(c.Conn, c.banner+"\r\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}
