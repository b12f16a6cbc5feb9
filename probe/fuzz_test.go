package probe

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
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
			reply.AsError()
		}
		t.Fatal("read more replies than there were bytes")
	})
}
