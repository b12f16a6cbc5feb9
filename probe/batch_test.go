package probe

import (
	"slices"
	"strings"
	"testing"
)

func TestReadTargets(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		"\ufeff# Contoso mail hosts, saved by Notepad with a byte-order mark",
		"mail.contoso.test",
		"",
		"   mail2.contoso.test:587   # the submission node",
		"not a host",
		"[2001:db8::1]:25",
		"bad..name",
		"127.0.0.1:99999",
		"192.0.2.7",
	}, "\n")
	targets, bad, err := ReadTargets(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mail.contoso.test", "mail2.contoso.test:587", "[2001:db8::1]:25", "192.0.2.7"}
	if !slices.Equal(targets, want) {
		t.Errorf("targets = %q, want %q", targets, want)
	}
	var lines []int
	for _, b := range bad {
		lines = append(lines, b.Line)
		if !strings.HasPrefix(b.Error(), "line ") {
			t.Errorf("error %q does not start with its line", b)
		}
	}
	if !slices.Equal(lines, []int{5, 7, 8}) {
		t.Errorf("bad lines = %v, want [5 7 8]", lines)
	}
}

func TestReadTargetsByteOrderMark(t *testing.T) {
	t.Parallel()
	targets, bad, err := ReadTargets(strings.NewReader("\ufeffmail.contoso.test\n"))
	if err != nil || len(bad) != 0 || !slices.Equal(targets, []string{"mail.contoso.test"}) {
		t.Errorf("a first line after a byte-order mark: targets %q, bad %v, err %v", targets, bad, err)
	}
}

// A line longer than any target is one bad line: the lines after it are
// still read, whatever its length.
func TestReadTargetsTooLongLine(t *testing.T) {
	t.Parallel()
	for _, n := range []int{maxBatchLine + 1, 3*maxBatchLine + 7} {
		in := "mail.test\n" + strings.Repeat("a", n) + "\r\nmail2.test\n" + strings.Repeat("b", n)
		targets, bad, err := ReadTargets(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%d-byte line: %v", n, err)
		}
		if !slices.Equal(targets, []string{"mail.test", "mail2.test"}) {
			t.Errorf("%d-byte line: targets = %q", n, targets)
		}
		if len(bad) != 2 || bad[0].Line != 2 || bad[1].Line != 4 || !strings.Contains(bad[0].Error(), "longer than 4096 bytes") {
			t.Errorf("%d-byte line: bad = %v, want lines 2 and 4, too long", n, bad)
		}
	}
}
