package render

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape makes server-sent text safe to print on a terminal: control
// characters (ESC, CR, BEL, C1 codes...), invalid UTF-8 bytes and the
// Unicode controls that reorder text are written as \xNN or \u{NNNN}, and a
// backslash is doubled so that an escaped byte cannot be faked.
func Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x80 && (r < 0x20 || r == 0x7f):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u{%04x}`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// escapeCommand escapes a fix line like any server-sent text, but keeps
// backslashes single: 'EXCH01\Client Frontend EXCH01' must paste as it
// reads. Control characters are still shown escaped, so a fix that quotes
// one cannot be pasted as is, which is the safe way for it to fail.
func escapeCommand(line string) string { return escapeKeepingBackslashes(line) }

// escapeName escapes a distinguished name as Go writes it (RFC 2253):
// its own escapes ("O=O'Reilly & Sons\, Ltd") keep their single
// backslash. That is safe: Go writes a backslash of the value itself as
// two, so a value cannot fake one of Escape's \xNN.
func escapeName(dn string) string { return escapeKeepingBackslashes(dn) }

func escapeKeepingBackslashes(s string) string {
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		parts[i] = Escape(p)
	}
	return strings.Join(parts, `\`)
}
