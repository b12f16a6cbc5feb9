package render_test

import (
	"testing"

	"github.com/starttls-probe/starttls-probe/report/render"
)

// FuzzEscape: whatever a server sends, the escaped text is safe to print.
func FuzzEscape(f *testing.F) {
	for _, seed := range []string{
		"220 mx.test ESMTP",
		"\x1b[2J\x1b]0;title\x07",
		"\xff\xfe\xc0\xaf\xed\xa0\x80",
		"\u009b\u0085\u202e\u2066\u2028",
		`\x1b \\ \u{202e}`,
		"a\r\nb\tc\x00\x7f",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := render.Escape(s)
		assertTerminalSafeString(t, got)
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x20 || c == 0x7f {
				t.Fatalf("Escape(%q) = %q holds byte %#x", s, got, c)
			}
		}
		// Nothing is lost: every byte is kept or written as an escape, so
		// the output is never shorter than the input.
		if len(got) < len(s) {
			t.Fatalf("Escape(%q) = %q is shorter than its input", s, got)
		}
	})
}
