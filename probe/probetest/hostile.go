package probetest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Hostile peers, for proving that the probe neither hangs, nor crashes, nor
// grows without bound, whatever sits on the port. Each is a Script.Handler or
// a Script.AfterSTARTTLS (both get the raw connection), or a Script value.

// Trickle writes text one byte every interval: a banner that arrives, but
// never within any sane timeout.
func Trickle(text string, interval time.Duration) func(c net.Conn) {
	return func(c net.Conn) {
		for i := range len(text) {
			if _, err := c.Write([]byte{text[i]}); err != nil {
				return
			}
			time.Sleep(interval)
		}
		io.Copy(io.Discard, c)
	}
}

// Junk writes pattern over and over until total bytes are sent or the client
// hangs up: an endless line when pattern has no line break, an endless
// multi-line reply when it is a "220-..." line.
func Junk(pattern []byte, total int64) func(c net.Conn) {
	return func(c net.Conn) {
		const chunk = 32 << 10
		buf := make([]byte, 0, chunk+len(pattern))
		for len(buf) < chunk {
			buf = append(buf, pattern...)
		}
		for sent := int64(0); sent < total; {
			n, err := c.Write(buf[:min(int64(len(buf)), total-sent)])
			sent += int64(n)
			if err != nil {
				return
			}
		}
	}
}

// HTTPServer plays a web server on the mail port: it waits for a request
// and answers 400, so a client that waits for a banner hears nothing.
func HTTPServer(c net.Conn) {
	r := bufio.NewReaderSize(c, maxCommandLine)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		if strings.TrimSpace(string(line)) == "" {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
	}
}

// SSHServer plays an SSH server on the mail port: it speaks first, with its
// identification line, and then waits for the client's.
func SSHServer(c net.Conn) {
	if _, err := io.WriteString(c, "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n"); err != nil {
		return
	}
	io.Copy(io.Discard, c)
}

// PlaintextAfterHello is an AfterSTARTTLS that waits for the client's TLS
// hello and answers it in plaintext SMTP, as a server that never really
// starts TLS would.
func PlaintextAfterHello(c net.Conn) {
	hello := make([]byte, 5)
	if _, err := io.ReadFull(c, hello); err != nil {
		return
	}
	io.WriteString(c, "500 5.5.1 Unrecognized command\r\n")
	io.Copy(io.Discard, c)
}

// HangUp is an AfterSTARTTLS that closes the connection instead of
// starting TLS.
func HangUp(c net.Conn) { c.Close() }

// AlertingTLS is a TLS configuration whose every handshake fails with the
// server's internal_error alert, as a server without a usable certificate
// sends it.
func AlertingTLS() *tls.Config {
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, errors.New("probetest: no certificate, on purpose")
		},
	}
}

// LongChain issues a leaf for spec below n-1 intermediates stacked under ca,
// a root, and returns the n certificates a server would send. The
// intermediates carry no path length limit, so the chain verifies to ca: a
// long chain is odd, not wrong.
func (ca *CA) LongChain(n int, spec Spec) (*Chain, error) {
	if n < 1 {
		return nil, fmt.Errorf("probetest: a chain needs at least 1 certificate, not %d", n)
	}
	issuer := ca
	for i := range n - 1 {
		next, err := newCA(issuer, fmt.Sprintf("Long Chain Intermediate %d", i+1), 5*365*24*time.Hour, false)
		if err != nil {
			return nil, err
		}
		issuer = next
	}
	return issuer.Issue(spec)
}
