package probe

import (
	"bufio"
	"fmt"
	"io"
	"strings"
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

// ReadTargets reads a target file: one target per line (as on the command
// line), blank lines and "#" comments ignored, also after a target. Each bad
// line, one longer than any target included, is returned as a *LineError
// beside the good targets; err is only for a file that cannot be read.
func ReadTargets(r io.Reader) (targets []string, bad []*LineError, err error) {
	br := bufio.NewReaderSize(r, maxBatchLine+len("\r\n"))
	for n := 1; ; n++ {
		raw, long, err := br.ReadLine()
		if err == io.EOF {
			return targets, bad, nil
		}
		if err != nil {
			return targets, bad, fmt.Errorf("reading targets: %w", err)
		}
		if long {
			// Skip the rest of the line, a buffer at a time.
			for long && err == nil {
				_, long, err = br.ReadLine()
			}
			if err != nil && err != io.EOF {
				return targets, bad, fmt.Errorf("reading targets: %w", err)
			}
			bad = append(bad, &LineError{Line: n, Err: fmt.Errorf("longer than %d bytes, which no target is", maxBatchLine)})
			continue
		}
		text := string(raw)
		if n == 1 {
			// Windows Notepad starts a UTF-8 file with a byte-order mark.
			text = strings.TrimPrefix(text, "\ufeff")
		}
		line, _, _ := strings.Cut(text, "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, _, perr := ParseTarget(line); perr != nil {
			bad = append(bad, &LineError{Line: n, Err: perr})
			continue
		}
		targets = append(targets, line)
	}
}
