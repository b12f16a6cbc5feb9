package probe

import (
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestReplyParsing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		wire     string
		code     int
		lines    []string
		enhanced string
		keywords []string
	}{
		{
			name:  "one line banner",
			wire:  "220 mail.contoso.test Microsoft ESMTP MAIL Service ready\r\n",
			code:  220,
			lines: []string{"mail.contoso.test Microsoft ESMTP MAIL Service ready"},
		},
		{
			name: "Exchange EHLO reply",
			wire: "250-EXCH01.contoso.test Hello [192.0.2.7]\r\n" +
				"250-SIZE 37748736\r\n" +
				"250-PIPELINING\r\n" +
				"250-DSN\r\n" +
				"250-ENHANCEDSTATUSCODES\r\n" +
				"250-starttls\r\n" +
				"250-X-ANONYMOUSTLS\r\n" +
				"250-AUTH NTLM\r\n" +
				"250-8BITMIME\r\n" +
				"250-BINARYMIME\r\n" +
				"250-CHUNKING\r\n" +
				"250 SMTPUTF8\r\n",
			code: 250,
			lines: []string{"EXCH01.contoso.test Hello [192.0.2.7]", "SIZE 37748736", "PIPELINING", "DSN",
				"ENHANCEDSTATUSCODES", "starttls", "X-ANONYMOUSTLS", "AUTH NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"},
			keywords: []string{"SIZE", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS", "AUTH",
				"8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"},
		},
		{
			name:     "refusal with enhanced code",
			wire:     "454 4.7.0 TLS not available due to temporary reason\r\n",
			code:     454,
			lines:    []string{"4.7.0 TLS not available due to temporary reason"},
			enhanced: "4.7.0",
		},
		{
			name:     "multi-line refusal keeps every line",
			wire:     "451-4.7.3 STARTTLS is required\r\n451 4.7.3 to send mail\r\n",
			code:     451,
			lines:    []string{"4.7.3 STARTTLS is required", "4.7.3 to send mail"},
			enhanced: "4.7.3",
		},
		{
			name:  "a version number is not an enhanced code",
			wire:  "220 mx.test ESMTP 1.2.3 ready\r\n",
			code:  220,
			lines: []string{"mx.test ESMTP 1.2.3 ready"},
		},
		{
			// RFC 3463: subject and detail are 0 to 999.
			name:     "enhanced code at the top of its range",
			wire:     "550 5.999.999 policy\r\n",
			code:     550,
			lines:    []string{"5.999.999 policy"},
			enhanced: "5.999.999",
		},
		{
			name:  "enhanced code with a sign",
			wire:  "550 5.+7.1 policy\r\n",
			code:  550,
			lines: []string{"5.+7.1 policy"},
		},
		{
			name:  "enhanced code detail past 999",
			wire:  "550 5.7.1000 policy\r\n",
			code:  550,
			lines: []string{"5.7.1000 policy"},
		},
		{
			name:  "enhanced code class must be 2 to 5",
			wire:  "550 6.1.1 no such user\r\n",
			code:  550,
			lines: []string{"6.1.1 no such user"},
		},
		{
			name:     "bare LF line ends, as some servers send",
			wire:     "250-mx.test\n250 STARTTLS\n",
			code:     250,
			lines:    []string{"mx.test", "STARTTLS"},
			keywords: []string{"STARTTLS"},
		},
		{
			// RFC 5321 section 4.2.1 defines 1yz, though SMTP sends none:
			// the reader takes every class from 1 to 5.
			name:  "positive preliminary class",
			wire:  "150 go on\r\n",
			code:  150,
			lines: []string{"go on"},
		},
		{
			name:  "nines in the code",
			wire:  "299 odd but well formed\r\n",
			code:  299,
			lines: []string{"odd but well formed"},
		},
		{
			name:  "code alone",
			wire:  "250\r\n",
			code:  250,
			lines: []string{""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := newReplyReader(strings.NewReader(tc.wire)).read()
			if err != nil {
				t.Fatalf("read() error = %v", err)
			}
			if r.Code != tc.code || !reflect.DeepEqual(r.Lines, tc.lines) {
				t.Fatalf("read() = %d %q; want %d %q", r.Code, r.Lines, tc.code, tc.lines)
			}
			if got := r.EnhancedCode(); got != tc.enhanced {
				t.Errorf("EnhancedCode() = %q, want %q", got, tc.enhanced)
			}
			if got := r.Keywords(); tc.code == 250 && !reflect.DeepEqual(got, tc.keywords) {
				t.Errorf("Keywords() = %q, want %q", got, tc.keywords)
			}
		})
	}
}

func TestReplyHasKeyword(t *testing.T) {
	t.Parallel()
	r := &Reply{Code: 250, Lines: []string{"mx.test greets you", "starttls", "SIZE 1000"}}
	for kw, want := range map[string]bool{"STARTTLS": true, "StartTLS": true, "size": true, "PIPELINING": false, "mx.test": false} {
		if got := r.HasKeyword(kw); got != want {
			t.Errorf("HasKeyword(%q) = %v, want %v", kw, got, want)
		}
	}
	// A one-line EHLO reply advertises nothing: the greeting line is not a
	// keyword even when it says STARTTLS.
	if (&Reply{Code: 250, Lines: []string{"STARTTLS"}}).HasKeyword("STARTTLS") {
		t.Error("the greeting line of an EHLO reply was read as a keyword")
	}
	var none *Reply
	if none.HasKeyword("STARTTLS") {
		t.Error("a nil reply has keywords")
	}
	// HasKeyword finds exactly what Keywords lists, whatever the spacing.
	odd := &Reply{Code: 250, Lines: []string{"mx.test", "  auth\tLOGIN", "\tX-EXPS GSSAPI", "", " ", "8bitmime\u00a0x", "\u00a0dsn"}}
	for _, kw := range []string{"AUTH", "LOGIN", "x-exps", "GSSAPI", "8BITMIME", "8BITMIME\u00a0X", "DSN", ""} {
		if got, want := odd.HasKeyword(kw), slices.Contains(odd.Keywords(), strings.ToUpper(kw)); got != want {
			t.Errorf("HasKeyword(%q) = %v, but Keywords() = %q", kw, got, odd.Keywords())
		}
	}
}

func TestReplyAsError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reply   *Reply
		enh     string
		message string
	}{
		{
			reply:   &Reply{Code: 454, Lines: []string{"4.7.0 TLS not available due to temporary reason"}},
			enh:     "4.7.0",
			message: "server replied 454 4.7.0 TLS not available due to temporary reason",
		},
		{
			reply:   &Reply{Code: 451, Lines: []string{"5.7.3 STARTTLS is required to send mail", "contact your admin"}},
			enh:     "5.7.3",
			message: "server replied 451 5.7.3 STARTTLS is required to send mail contact your admin",
		},
		{
			reply:   &Reply{Code: 554, Lines: []string{"mx.test go away"}},
			message: "server replied 554 mx.test go away",
		},
		{
			reply:   &Reply{Code: 421, Lines: []string{""}},
			message: "server replied 421",
		},
	}
	for _, tc := range tests {
		t.Run(tc.message, func(t *testing.T) {
			t.Parallel()
			// Through the error interface, as callers see it.
			var err error = tc.reply.asError()
			var replyErr *ReplyError
			if !errors.As(err, &replyErr) {
				t.Fatalf("asError() is %T, not *ReplyError", err)
			}
			if replyErr.Code != tc.reply.Code || replyErr.EnhancedCode != tc.enh || !slices.Equal(replyErr.Lines, tc.reply.Lines) {
				t.Errorf("asError() = %+v, want code %d, enhanced code %q, lines %q", *replyErr, tc.reply.Code, tc.enh, tc.reply.Lines)
			}
			if err.Error() != tc.message {
				t.Errorf("Error() = %q, want %q", err.Error(), tc.message)
			}
		})
	}
}

func TestReplyReaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		wire     string
		errorHas string
		is       error
	}{
		{name: "not SMTP", wire: "SSH-2.0-OpenSSH_9.6\r\n", errorHas: "malformed reply"},
		{name: "HTTP", wire: "HTTP/1.1 400 Bad Request\r\n", errorHas: "malformed reply"},
		// The error quotes at most 60 bytes of the line, and says "..."
		// only when it cut.
		{name: "60 bytes quoted whole", wire: strings.Repeat("x", 60) + "\r\n", errorHas: `"` + strings.Repeat("x", 60) + `" is not`},
		{name: "61 bytes cut at 60", wire: strings.Repeat("y", 61) + "\r\n", errorHas: `"` + strings.Repeat("y", 60) + `"... is not`},
		{name: "short code", wire: "22 hi\r\n", errorHas: "malformed reply"},
		{name: "code changes inside a reply", wire: "250-mx.test\r\n550 no\r\n", errorHas: "malformed reply"},
		{name: "no separator", wire: "220mx.test ready\r\n", errorHas: "malformed reply"},
		{name: "closed in the middle of a line", wire: "220 mx.te", is: io.ErrUnexpectedEOF},
		{name: "closed before the reply", wire: "", is: io.EOF},
		{name: "closed inside a multi-line reply", wire: "250-mx.test\r\n250-SIZE\r\n", is: io.EOF},
		{name: "endless line", wire: "220 " + strings.Repeat("A", maxReplyBytes+10), is: errReplyTooLong},
		{name: "endless reply", wire: strings.Repeat("250-X-KEYWORD\r\n", maxReplyBytes/10), is: errReplyTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := newReplyReader(strings.NewReader(tc.wire)).read()
			if err == nil {
				t.Fatalf("read() = %+v, nil; want an error", r)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("read() error = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.errorHas) {
				t.Errorf("read() error = %q, want it to contain %q", err, tc.errorHas)
			}
		})
	}
}

// The budget is per reply: a long dialogue of short replies is fine.
func TestReplyBudgetIsPerReply(t *testing.T) {
	t.Parallel()
	reply := "250 " + strings.Repeat("x", 1000) + "\r\n"
	n := 2 * maxReplyBytes / len(reply)
	rr := newReplyReader(strings.NewReader(strings.Repeat(reply, n)))
	for i := range n {
		if _, err := rr.read(); err != nil {
			t.Fatalf("reply %d of %d: %v", i+1, n, err)
		}
	}
}

// buffered counts what the server sent past a reply, which is how the probe
// spots plaintext injected after "220 Ready to start TLS".
func TestReplyReaderBuffered(t *testing.T) {
	t.Parallel()
	rr := newReplyReader(strings.NewReader("220 2.0.0 Ready to start TLS\r\n250 injected\r\n"))
	if _, err := rr.read(); err != nil {
		t.Fatal(err)
	}
	if got, want := rr.buffered(), len("250 injected\r\n"); got != want {
		t.Fatalf("buffered() = %d, want %d", got, want)
	}
}
