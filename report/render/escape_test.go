package render_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/render"
)

func TestEscape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain text is unchanged", "220 mx.contoso.test Microsoft ESMTP MAIL Service ready", "220 mx.contoso.test Microsoft ESMTP MAIL Service ready"},
		{"printable Unicode is unchanged", "Müller Ωmega 日本 🙂", "Müller Ωmega 日本 🙂"},
		{"clear screen", "a\x1b[2Jb", `a\x1b[2Jb`},
		{"OSC window title ended by BEL", "\x1b]0;owned\x07", `\x1b]0;owned\x07`},
		{"OSC 8 hyperlink ended by ST", "\x1b]8;;http://x.test\x1b\\link", `\x1b]8;;http://x.test\x1b\\link`},
		{"line breaks and tab", "a\r\nb\tc", `a\x0d\x0ab\x09c`},
		{"NUL and DEL", "a\x00b\x7fc", `a\x00b\x7fc`},
		{"invalid UTF-8 byte", "a\xffb", `a\xffb`},
		{"truncated multi-byte sequence", "a\xe2\x82", `a\xe2\x82`},
		{"UTF-8 encoded surrogate", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"overlong encoding of slash", "\xc0\xaf", `\xc0\xaf`},
		{"C1 CSI, which some terminals obey", "a\u009b2Jb", `a\u{009b}2Jb`},
		{"C1 NEL", "a\u0085b", `a\u{0085}b`},
		{"right-to-left override", "moc.evil\u202etxt", `moc.evil\u{202e}txt`},
		{"bidi isolate", "a\u2066b\u2069", `a\u{2066}b\u{2069}`},
		{"Unicode line and paragraph separators", "a\u2028b\u2029c", `a\u{2028}b\u{2029}c`},
		{"a backslash is doubled so escapes cannot be faked", `a\x1bb`, `a\\x1bb`},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := render.Escape(tc.in)
			if got != tc.want {
				t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
			assertTerminalSafeString(t, got)
		})
	}
}

// Escape must be one-to-one: two different server strings never look the
// same once escaped, or a server could pass a real ESC off as the text
// "\x1b" and the other way round.
func TestEscapeIsInjective(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{"\x1b", `\x1b`},
		{"\xff", `\xff`},
		{"\u202e", `\u{202e}`},
		{`\`, `\\`},
		{"\xc2\x9b", "\x9b"},
	}
	for _, p := range pairs {
		if a, b := render.Escape(p[0]), render.Escape(p[1]); a == b {
			t.Errorf("Escape(%q) = Escape(%q) = %q", p[0], p[1], a)
		}
	}
}

// assertTerminalSafeString fails when s could move the cursor, change the
// terminal's state or reorder text: valid UTF-8, no C0 or C1 control, no DEL,
// no bidi control.
func assertTerminalSafeString(t testing.TB, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%q is not valid UTF-8", s)
	}
	for i, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			t.Fatalf("%q holds control character %U at byte %d", s, r, i)
		}
	}
}

// A distinguished name keeps Go's own escapes with one backslash, as JSON
// shows them, while control characters are still escaped.
func TestEscapeNameKeepsItsBackslashes(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	s := report.Judge([]probe.Result{{
		Endpoint: probe.Endpoint{Host: "mx.test", Port: 25}, Address: "127.0.0.1", Mode: probe.ModeImplicit,
		TLS:   &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
		Chain: []*x509.Certificate{oReilly(t)},
	}}, report.Expect{}, time.Now())
	if err := render.Text(&out, s, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `O=O'Reilly & Sons\, Ltd`) || strings.Contains(out.String(), `Sons\\, Ltd`) {
		t.Errorf("the subject should read O=O'Reilly & Sons\\, Ltd, with one backslash:\n%s", out.String())
	}
}

func oReilly(t *testing.T) *x509.Certificate {
	t.Helper()
	chain, err := probetest.SelfSigned(probetest.Spec{Subject: pkix.Name{CommonName: "mx.test", Organization: []string{"O'Reilly & Sons, Ltd"}}, DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	return chain.Leaf()
}
