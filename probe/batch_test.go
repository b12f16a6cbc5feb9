package probe

import (
	"errors"
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

func TestReadTargetsTooLongLine(t *testing.T) {
	t.Parallel()
	_, _, err := ReadTargets(strings.NewReader("mail.test\n" + strings.Repeat("a", 2*maxBatchLine) + "\n"))
	if err == nil || !errors.Is(err, errors.Unwrap(err)) {
		t.Fatalf("err = %v, want a read error for a line far longer than any target", err)
	}
}
