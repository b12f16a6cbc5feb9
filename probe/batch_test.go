package probe

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/unicode"
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

// TestReadTargetsEncodings writes the same target list in each encoding a
// Windows or Unix editor or shell writes (Windows PowerShell 5.1's > and
// Out-File write UTF-16 LE with a byte-order mark) and reads it back from
// the file.
func TestReadTargetsEncodings(t *testing.T) {
	t.Parallel()
	text := "# Contoso\r\nmail.contoso.test\r\nmail2.contoso.test:587 # submission\r\n\r\n[2001:db8::1]:25"
	utf16le := func(bom bool) []byte {
		enc := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
		if bom {
			enc = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
		}
		b, err := enc.NewEncoder().Bytes([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	utf16be := func(bom bool) []byte {
		enc := unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
		if bom {
			enc = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
		}
		b, err := enc.NewEncoder().Bytes([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := []string{"mail.contoso.test", "mail2.contoso.test:587", "[2001:db8::1]:25"}
	cases := []struct {
		name    string
		content []byte
		// wantErr is in the *EncodingError of a refused file; "" to read it.
		wantErr string
	}{
		{name: "UTF-8, LF", content: []byte(strings.ReplaceAll(text, "\r\n", "\n"))},
		{name: "UTF-8, CRLF", content: []byte(text)},
		{name: "UTF-8 with BOM, CRLF", content: append([]byte("\xEF\xBB\xBF"), text...)},
		{name: "UTF-16 LE with BOM (PowerShell 5.1 Out-File)", content: utf16le(true)},
		{name: "UTF-16 BE with BOM", content: utf16be(true)},
		{name: "UTF-16 LE without BOM", content: utf16le(false), wantErr: "the file looks like UTF-16 without a byte-order mark (line 1): save it as UTF-8"},
		{name: "UTF-16 BE without BOM", content: utf16be(false), wantErr: "the file looks like UTF-16 without a byte-order mark (line 1): save it as UTF-8"},
		{name: "binary", content: []byte("mail.contoso.test\n\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00\x01\x00\x00\x00padding-padding-padding\n"), wantErr: "the file holds NUL bytes, which no text file of targets has (line 2): save it as UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "targets.txt")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			targets, bad, err := ReadTargets(f)
			if tc.wantErr != "" {
				var encErr *EncodingError
				if !errors.As(err, &encErr) || err.Error() != tc.wantErr {
					t.Errorf("err = %v, want an *EncodingError %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(bad) != 0 || !slices.Equal(targets, want) {
				t.Errorf("targets %q, bad %v, err %v; want %q", targets, bad, err, want)
			}
		})
	}
}

// A line in Latin-1 or Windows-1252 is one bad line that says so; the other
// lines are read.
func TestReadTargetsNotUTF8(t *testing.T) {
	t.Parallel()
	targets, bad, err := ReadTargets(strings.NewReader("mail.contoso.test\r\nmail.caf\xe9.test\r\nmail2.contoso.test\r\n"))
	if err != nil || !slices.Equal(targets, []string{"mail.contoso.test", "mail2.contoso.test"}) {
		t.Fatalf("targets %q, err %v", targets, err)
	}
	if len(bad) != 1 || bad[0].Line != 2 || bad[0].Err.Error() != "byte 0xE9 at column 9 is not UTF-8 (Latin-1 or Windows-1252?): save the file as UTF-8" {
		t.Errorf("bad = %v", bad)
	}
}

// ScanTargets hands each target over as soon as its line is read: the
// writer of the pipe holds back everything after the first line until the
// first target has arrived, so a reader that waited for more (the end of
// the file, a full buffer) would never deliver it. UTF-16 too, since its
// decoder is a second buffer between the pipe and the lines.
func TestScanTargetsDeliversBeforeTheEnd(t *testing.T) {
	t.Parallel()
	utf16 := func(s string) []byte {
		b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name   string
		encode func(string) []byte
	}{
		{"UTF-8", func(s string) []byte { return []byte(s) }},
		{"UTF-16 LE with BOM", utf16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pr, pw := io.Pipe()
			first := make(chan struct{})
			writerErr := make(chan error, 1)
			go func() {
				defer pw.Close()
				// The BOM (UTF-16) and the first line go in one write.
				if _, err := pw.Write(tc.encode("mail1.test\r\n")); err != nil {
					writerErr <- err
					return
				}
				select {
				case <-first:
				case <-time.After(10 * time.Second):
					// Generous on 2 loaded cores: an answer comes in
					// microseconds; only a reader that waits for the
					// rest never gives one.
					writerErr <- errors.New("the first target was not delivered while the rest of the file was held back")
					return
				}
				// Without its BOM: the decoder keeps the one it read.
				rest := tc.encode("mail2.test\r\nmail3.test\r\n")
				if len(rest) > 2 && rest[0] == 0xFF && rest[1] == 0xFE {
					rest = rest[2:]
				}
				_, err := pw.Write(rest)
				writerErr <- err
			}()
			var got []string
			err := ScanTargets(pr, func(target string) bool {
				if len(got) == 0 {
					close(first)
				}
				got = append(got, target)
				return true
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-writerErr; err != nil {
				t.Fatal(err)
			}
			if want := []string{"mail1.test", "mail2.test", "mail3.test"}; !slices.Equal(got, want) {
				t.Errorf("targets %q, want %q", got, want)
			}
		})
	}
}

// Returning false stops the reading at once: nothing after that line is
// read, and the bad lines seen so far were reported.
func TestScanTargetsStops(t *testing.T) {
	t.Parallel()
	r := &countingReader{r: strings.NewReader("bad..name\nmail1.test\nmail2.test\n" + strings.Repeat("mail.test\n", 10_000))}
	var (
		got []string
		bad []*LineError
	)
	err := ScanTargets(r, func(target string) bool {
		got = append(got, target)
		return len(got) < 2
	}, func(e *LineError) { bad = append(bad, e) })
	if err != nil || !slices.Equal(got, []string{"mail1.test", "mail2.test"}) {
		t.Fatalf("targets %q, err %v; want the first two and no error", got, err)
	}
	if len(bad) != 1 || bad[0].Line != 1 {
		t.Errorf("bad = %v, want line 1", bad)
	}
	// The readers' buffers take at most a few KB of the 100 KB.
	if r.n > 4*(maxBatchLine+2) {
		t.Errorf("read %d bytes to give two targets", r.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
