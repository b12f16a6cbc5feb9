package report_test

import (
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/report"
)

// FuzzParseThumbprint: a thumbprint either parses into 40 or 64 upper-case
// hex digits that parse again to the same value, or is refused with a
// message.
func FuzzParseThumbprint(f *testing.F) {
	for _, seed := range []string{
		"3F2A9C1B0D4E5F60718293A4B5C6D7E8F9012345",
		"3f:2a:9c:1b:0d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9:01:23:45",
		"3F 2A 9C 1B 0D 4E 5F 60 71 82 93 A4 B5 C6 D7 E8 F9 01 23 45",
		strings.Repeat("ab", 32),
		"\u200e3F2A9C1B0D4E5F60718293A4B5C6D7E8F9012345",
		"0x3F2A",
		"",
		"ÄÖ",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := report.ParseThumbprint(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseThumbprint(%q): empty error message", s)
			}
			if tp.String() != "" {
				t.Fatalf("ParseThumbprint(%q) failed but returned %v", s, tp)
			}
			return
		}
		hex := tp.String()
		if len(hex) != 40 && len(hex) != 64 {
			t.Fatalf("ParseThumbprint(%q) = %q: %d digits", s, hex, len(hex))
		}
		if strings.Trim(hex, "0123456789ABCDEF") != "" {
			t.Fatalf("ParseThumbprint(%q) = %q: not upper-case hex", s, hex)
		}
		again, err := report.ParseThumbprint(hex)
		if err != nil || again != tp {
			t.Fatalf("ParseThumbprint(%q) = %q, which parses again to %q, %v", s, hex, again, err)
		}
	})
}
