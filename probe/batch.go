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
// line is returned as a *LineError beside the good targets; err is only for
// a file that cannot be read.
func ReadTargets(r io.Reader) (targets []string, bad []*LineError, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxBatchLine)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
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
	if err := sc.Err(); err != nil {
		return targets, bad, fmt.Errorf("reading targets: %w", err)
	}
	return targets, bad, nil
}
