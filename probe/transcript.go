package probe

import (
	"bytes"
	"net"
	"sync"
	"time"
)

// Transcript bounds: -v output must not become a way for a server to fill
// memory, so long lines are cut and a long dialogue stops being recorded.
const (
	maxTranscriptLine  = 1024
	maxTranscriptLines = 400
)

// transcript collects the dialogue line by line, with the time each line was
// seen.
type transcript struct {
	mu      sync.Mutex
	started time.Time
	lines   []TranscriptLine
	partial map[Direction]*bytes.Buffer
	tls     bool
}

func newTranscript(started time.Time) *transcript {
	return &transcript{started: started, partial: map[Direction]*bytes.Buffer{
		FromClient: {}, FromServer: {},
	}}
}

// A nil transcript records nothing (Options.NoTranscript).
func (t *transcript) add(dir Direction, p []byte) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	buf := t.partial[dir]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxTranscriptLine - buf.Len()
			if room > 0 {
				buf.Write(p[:min(room, len(p))])
			}
			return
		}
		room := maxTranscriptLine - buf.Len()
		if room > 0 {
			buf.Write(p[:min(room, i)])
		}
		t.emit(dir, buf)
		p = p[i+1:]
	}
}

// emit turns the buffered partial line into a transcript line.
func (t *transcript) emit(dir Direction, buf *bytes.Buffer) {
	line := bytes.TrimSuffix(buf.Bytes(), []byte("\r"))
	if len(t.lines) < maxTranscriptLines {
		t.lines = append(t.lines, TranscriptLine{
			At: time.Since(t.started), Dir: dir, TLS: t.tls, Text: string(line),
		})
	}
	buf.Reset()
}

// setTLS marks the lines that follow as sent under TLS.
func (t *transcript) setTLS() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.tls = true
	t.mu.Unlock()
}

// finish flushes unterminated lines and returns the transcript.
func (t *transcript) finish() []TranscriptLine {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, dir := range []Direction{FromServer, FromClient} {
		if buf := t.partial[dir]; buf.Len() > 0 {
			t.emit(dir, buf)
		}
	}
	return t.lines
}

// recordingConn copies the plaintext that crosses a connection into a
// transcript. Under STARTTLS it wraps the raw conn until the handshake; the
// tls.Conn is built on the unwrapped conn and wrapped in turn, so the
// transcript never holds TLS records.
type recordingConn struct {
	net.Conn
	t *transcript
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.t.add(FromServer, p[:n])
	}
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.t.add(FromClient, p[:n])
	}
	return n, err
}
