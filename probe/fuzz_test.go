package probe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseTarget: a target either parses into a host that parses again to
// itself, or is refused with a message; never a panic.
func FuzzParseTarget(f *testing.F) {
	for _, seed := range []string{
		"mail.contoso.com", "mail.contoso.com.", "mail.contoso.com:587", "mail.contoso.com:submission",
		"192.0.2.10:2525", "2001:db8::25", "[2001:db8::25]:465", "[::ffff:192.0.2.1]", "[fe80::1%eth0]:25",
		"", " ", ":", "[]", "[:25", "host:0", "host:65536", "host:-1", "host:+25", "a..b", "-a.b", "xn--mller-kva.test",
		strings.Repeat("a", 64) + ".test", "mail.contoso.com:99999999999999999999", "\x1b[2J", "host\x00:25",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := ParseTarget(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseTarget(%q): empty error message", s)
			}
			return
		}
		if host == "" {
			t.Fatalf("ParseTarget(%q) = empty host, no error", s)
		}
		if port < 0 || port > 65535 {
			t.Fatalf("ParseTarget(%q) port %d out of range", s, port)
		}
		// What was accepted must mean the same when written back out.
		again := host
		if port != 0 {
			again = net.JoinHostPort(host, strconv.Itoa(port))
		}
		host2, port2, err := ParseTarget(again)
		if err != nil || host2 != host || port2 != port {
			t.Fatalf("ParseTarget(%q) = %q, %d; written back as %q it parses to %q, %d, %v", s, host, port, again, host2, port2, err)
		}
	})
}

// FuzzParsePort: a port is 1-65535 or an error.
func FuzzParsePort(f *testing.F) {
	for _, seed := range []string{"25", "587", "465", "smtp", "SUBMISSION", "smtps", "0", "65535", "65536", "-1", "+25", "", "0x19", "２５", "99999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		port, err := ParsePort(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParsePort(%q): empty error message", s)
			}
			if port != 0 {
				t.Fatalf("ParsePort(%q) failed but returned %d", s, port)
			}
			return
		}
		if port < 1 || port > 65535 {
			t.Fatalf("ParsePort(%q) = %d, out of range", s, port)
		}
	})
}

// FuzzReplyReader plays the server: whatever bytes arrive, reading replies
// never panics, every reply has a valid code, and no reply costs more than
// the reply budget.
func FuzzReplyReader(f *testing.F) {
	for _, seed := range []string{
		"220 mx.test ESMTP\r\n",
		"250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
		"250-mx.test\r\n251 STARTTLS\r\n",
		"250-mx.test\r\n250PIPELINING\r\n",
		"250-mx.test\r\n\r\n250 x\r\n",
		"2x0 bad\r\n",
		"250\r\n220\n",
		"220 trickled without end",
		"SSH-2.0-OpenSSH_9.6\r\n",
		"HTTP/1.1 400 Bad Request\r\n\r\n",
		"220 \x1b[2J\x1b]0;x\x07\xff\r\n",
		"451 4.7.3 STARTTLS is required to send mail\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		rr := newReplyReader(bytes.NewReader(wire))
		// Each reply consumes at least one byte, so this ends.
		for range len(wire) + 1 {
			reply, err := rr.read()
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				return
			}
			if reply.Code < 100 || reply.Code > 599 {
				t.Fatalf("reply code %d out of range", reply.Code)
			}
			if len(reply.Lines) == 0 {
				t.Fatal("reply without lines")
			}
			size := 0
			for _, l := range reply.Lines {
				size += len(l) + len("250\n") // the shortest a line can be on the wire
				if strings.ContainsAny(l, "\n") {
					t.Fatalf("line %q holds a line break", l)
				}
			}
			if size > maxReplyBytes {
				t.Fatalf("reply of %d bytes passed the %d byte budget", size, maxReplyBytes)
			}
			reply.EnhancedCode()
			reply.Keywords()
			reply.asError()
		}
		t.Fatal("read more replies than there were bytes")
	})
}

// FuzzProbeAgainstServer plays a whole server: it sends the input bytes on a
// loopback connection and hangs up. Whatever they are, the probe ends with a
// consistent result and a bounded transcript.
func FuzzProbeAgainstServer(f *testing.F) {
	for _, seed := range []string{
		"220 mx.test\r\n250-mx.test\r\n250 PIPELINING\r\n221 bye\r\n",
		"220 mx.test\r\n250-mx.test\r\n250 STARTTLS\r\n220 Ready\r\n",
		"220 mx.test\r\n250-mx.test\r\n250 STARTTLS\r\n220 Ready\r\n250 injected\r\n",
		"220-mx.test\r\n220 \x1b[2J\r\n250 STARTTLS\r\n454 4.7.0 no\r\n",
		"554 5.3.2 go away\r\n",
		"220 mx.test\r\n421 4.3.2 closing\r\n",
		"220 mx.test\r\n" + strings.Repeat("250-"+strings.Repeat("x", 2000)+"\r\n", 40),
	} {
		f.Add([]byte(seed))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	wires := make(chan []byte)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wire := <-wires
			c.Write(wire)
			c.(*net.TCPConn).CloseWrite()
			// Drain what the probe says, so that closing does not reset the
			// connection before the probe has read the whole input.
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	addr := l.Addr().(*net.TCPAddr)
	ep := Endpoint{Host: "fuzz.test", Address: addr.IP.String(), Port: addr.Port, AsPort: 25}
	opts := Options{EHLOName: "probe.test", Timeout: 5 * time.Second, NoTLSRequiredTest: true}

	f.Fuzz(func(t *testing.T, wire []byte) {
		go func() { wires <- wire }()
		r := Probe(context.Background(), ep, opts)
		if r.Error != nil {
			if r.Error.Phase == "" || r.Error.Error() == "" {
				t.Fatalf("error without phase or message: %#v", r.Error)
			}
		} else {
			// Random bytes cannot complete a TLS handshake, so a probe
			// without error ended at an EHLO without STARTTLS.
			if r.Banner == nil || r.Banner.Code != 220 || r.EHLO == nil || r.EHLO.Code != 250 || r.STARTTLSOffered {
				t.Fatalf("no error, but banner %+v, EHLO %+v, STARTTLS offered %v", r.Banner, r.EHLO, r.STARTTLSOffered)
			}
		}
		if len(r.Transcript) > maxTranscriptLines {
			t.Fatalf("transcript of %d lines, over the %d line cap", len(r.Transcript), maxTranscriptLines)
		}
		for _, line := range r.Transcript {
			if len(line.Text) > maxTranscriptLine {
				t.Fatalf("transcript line of %d bytes, over the %d byte cap", len(line.Text), maxTranscriptLine)
			}
		}
	})
}

// FuzzCheckCommand: the guard lets through only the probe's own commands,
// one per line, and writeCommands writes a line only when the guard lets it
// through. Whatever the line: a CR, LF or NUL anywhere is refused as such,
// and what passes is EHLO with a valid name or one of five fixed lines.
func FuzzCheckCommand(f *testing.F) {
	for _, seed := range []string{
		"EHLO probe.test", "EHLO [192.0.2.1]", "EHLO [IPv6:2001:db8::1]", "STARTTLS", "MAIL FROM:<>", "RSET", "NOOP", "QUIT",
		"RCPT TO:<postmaster@contoso.test>", "DATA", "BDAT 0 LAST", "rcpt to:<a@b>", "data", "VRFY root", "AUTH PLAIN", "HELO x",
		"EHLO x\r\nRCPT TO:<a@b>", "RCPT TO:<postmaster@contoso.test>\r\nDATA", "RCPT TO:<postmaster@contoso.test> ", "QUIT\r\nDATA", "MAIL FROM:<>\x00", "NOOP\n", "\r\n", "", " ", "EHLO ", "QUIT ", "MAIL FROM:<a@b>",
	} {
		f.Add(seed)
	}
	fixed := []string{"STARTTLS", "MAIL FROM:<>", "RSET", "NOOP", "QUIT"}
	f.Fuzz(func(t *testing.T, line string) {
		// With --rcpt-test, exactly one line more passes: RCPT to that
		// address.
		const rcpt = "postmaster@contoso.test"
		if errRCPT := checkCommand(line, rcpt); (errRCPT == nil) != (checkCommand(line, "") == nil || line == "RCPT TO:<"+rcpt+">") {
			t.Fatalf("checkCommand(%q, %q) = %v: --rcpt-test must let through its RCPT line and nothing else", line, rcpt, errRCPT)
		}
		err := checkCommand(line, "")
		var wire bytes.Buffer
		werr := writeCommands(&wire, "", "NOOP", line)
		if (err == nil) != (werr == nil) {
			t.Fatalf("checkCommand(%q) = %v but writeCommands says %v", line, err, werr)
		}
		if err != nil {
			if wire.Len() != 0 {
				t.Fatalf("writeCommands wrote %q although %q was refused", wire.String(), line)
			}
			if strings.ContainsAny(line, "\r\n\x00") && !errors.Is(err, errCommandLineBreak) {
				t.Fatalf("checkCommand(%q) = %v, want it refused for its line break or NUL", line, err)
			}
			return
		}
		if strings.ContainsAny(line, "\r\n\x00") {
			t.Fatalf("checkCommand let %q through: a line break or NUL", line)
		}
		if name, ok := strings.CutPrefix(line, "EHLO "); ok {
			if CheckEHLOName(name) != nil {
				t.Fatalf("checkCommand let %q through: not a valid EHLO name", line)
			}
		} else if !slices.Contains(fixed, line) {
			t.Fatalf("checkCommand let %q through: not one of the probe's commands", line)
		}
		if want := "NOOP\r\n" + line + "\r\n"; wire.String() != want {
			t.Fatalf("writeCommands wrote %q, want %q", wire.String(), want)
		}
	})
}
