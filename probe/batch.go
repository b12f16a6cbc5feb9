package probe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// maxBatchLine bounds one line of a target file: a target is at most a
// 253-character name and a port, so anything longer is a wrong file.
const maxBatchLine = 4096

// LineError is a bad line of a target file: the rest of the file is still
// probed.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// EncodingError is a target file in an encoding ReadTargets cannot read
// safely (UTF-16 without a byte-order mark, binary data): the whole file is
// refused, since every line of it would be wrong the same way.
type EncodingError struct {
	Line int
	// Problem names the encoding problem, e.g. "looks like UTF-16 without a
	// byte-order mark".
	Problem string
}

func (e *EncodingError) Error() string {
	return fmt.Sprintf("the file %s (line %d): save it as UTF-8", e.Problem, e.Line)
}

// ReadTargets reads a whole target file: one target per line (as on the
// command line), blank lines and "#" comments ignored, also after a target.
// Each bad line, one longer than any target included, is returned as a
// *LineError beside the good targets; err is only for a file that cannot be
// read, or an *EncodingError for a file that is not text in a known
// encoding. It holds every target in memory: a batch that may be large is
// read with ScanTargets instead, which hands each target over as it is read.
//
// The file is UTF-8 with or without a byte-order mark, or UTF-16 (little or
// big endian) with one, which is what Windows PowerShell 5.1's > and
// Out-File write; lines end in LF or CRLF.
func ReadTargets(r io.Reader) (targets []string, bad []*LineError, err error) {
	err = ScanTargets(r, func(t string) bool {
		targets = append(targets, t)
		return true
	}, func(e *LineError) { bad = append(bad, e) })
	return targets, bad, err
}

// ScanTargets reads a target file by the rules of ReadTargets, but line by
// line: target is called with each good target as soon as its line has
// been read, so that probing starts before a file of a million lines (or a
// pipe that is still being written) has been read to its end, and memory
// does not grow with the file. target returns false to stop reading;
// ScanTargets then returns nil. bad, when not nil, is called with each bad
// line. The error is for a file that cannot be read or an *EncodingError;
// the targets before the line that showed the encoding problem have been
// handed over by then, so a caller that must refuse the whole file reads it
// with ReadTargets.
func ScanTargets(r io.Reader, target func(t string) bool, bad func(*LineError)) error {
	if bad == nil {
		bad = func(*LineError) {}
	}
	in, encoding, err := decodeByteOrderMark(r)
	if err != nil {
		return fmt.Errorf("reading targets: %w", err)
	}
	br := bufio.NewReaderSize(in, maxBatchLine+len("\r\n"))
	for n := 1; ; n++ {
		raw, long, err := br.ReadLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading targets: %w", err)
		}
		if long {
			// Skip the rest of the line, a buffer at a time.
			for long && err == nil {
				_, long, err = br.ReadLine()
			}
			if err != nil && err != io.EOF {
				return fmt.Errorf("reading targets: %w", err)
			}
			bad(&LineError{Line: n, Err: fmt.Errorf("longer than %d bytes, which no target is", maxBatchLine)})
			continue
		}
		if bytes.IndexByte(raw, 0) >= 0 {
			return &EncodingError{Line: n, Problem: nulProblem(raw)}
		}
		if problem := encodingProblem(raw, encoding); problem != "" {
			bad(&LineError{Line: n, Err: errors.New(problem)})
			continue
		}
		line, _, _ := bytes.Cut(raw, []byte("#"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		// One string per target, made only once the line is known to
		// hold one: raw is the reader's buffer, overwritten by the next
		// line.
		t := string(line)
		if _, _, perr := ParseTarget(t); perr != nil {
			bad(&LineError{Line: n, Err: perr})
			continue
		}
		if !target(t) {
			return nil
		}
	}
}

// decodeByteOrderMark returns r as UTF-8 without its byte-order mark, and
// the name of the encoding the mark gave ("UTF-8" without one).
func decodeByteOrderMark(r io.Reader) (io.Reader, string, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(3)
	if err != nil && err != io.EOF {
		return nil, "", err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, err := br.Discard(3)
		return br, "UTF-8", err
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()), "UTF-16", nil
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()), "UTF-16", nil
	}
	return br, "UTF-8", nil
}

// nulProblem names why a line holds NUL bytes: ASCII saved as UTF-16
// without a byte-order mark has one before or after every character.
func nulProblem(line []byte) string {
	if nuls := bytes.Count(line, []byte{0}); nuls*3 >= len(line) {
		return "looks like UTF-16 without a byte-order mark"
	}
	return "holds NUL bytes, which no text file of targets has"
}

// encodingProblem names what is wrong with a line's bytes, or "". The
// UTF-16 decoder writes U+FFFD for a bad surrogate; in UTF-8, a byte such
// as 0xE9 alone is é in Latin-1 or Windows-1252.
func encodingProblem(line []byte, encoding string) string {
	for i := 0; i < len(line); {
		c, size := utf8.DecodeRune(line[i:])
		if c == utf8.RuneError {
			if size == 1 {
				return fmt.Sprintf("byte 0x%02X at column %d is not UTF-8 (Latin-1 or Windows-1252?): save the file as UTF-8", line[i], i+1)
			}
			return fmt.Sprintf("column %d is not valid %s: save the file as UTF-8", i+1, encoding)
		}
		i += size
	}
	return ""
}
