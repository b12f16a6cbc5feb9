package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// maxReplyBytes bounds what one server reply may cost us: a hostile server
// sending an endless line or a million EHLO keywords gets an error, not our
// memory. RFC 5321 replies are lines of at most 512 octets; real EHLO replies
// stay under 2 KiB.
const maxReplyBytes = 64 << 10

// errReplyTooLong is returned when a reply exceeds maxReplyBytes.
var errReplyTooLong = fmt.Errorf("reply longer than %d bytes", maxReplyBytes)

// Reply is one SMTP reply: its code and its text lines without the code and
// separator ("250-mail.example.com Hello" becomes "mail.example.com Hello").
type Reply struct {
	Code  int
	Lines []string
}

// Text joins the lines with a space, for one-line display.
func (r *Reply) Text() string { return strings.Join(r.Lines, " ") }

// EnhancedCode is the RFC 3463 status code at the start of the first line
// ("5.7.3"), or "" when the server sent none.
func (r *Reply) EnhancedCode() string {
	if len(r.Lines) == 0 {
		return ""
	}
	first, _, _ := strings.Cut(r.Lines[0], " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 {
		return ""
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 || (i == 0 && (n < 2 || n > 5)) {
			return ""
		}
	}
	return first
}

// Keywords are the EHLO extension keywords (the first word of each line
// after the greeting line), upper-cased.
func (r *Reply) Keywords() []string {
	if r == nil || len(r.Lines) < 2 {
		return nil
	}
	var kws []string
	for _, line := range r.Lines[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			kws = append(kws, strings.ToUpper(f[0]))
		}
	}
	return kws
}

// HasKeyword reports whether the EHLO reply advertises the extension kw.
func (r *Reply) HasKeyword(kw string) bool {
	for _, k := range r.Keywords() {
		if k == strings.ToUpper(kw) {
			return true
		}
	}
	return false
}

// AsError turns an unexpected reply into go-smtp's error type, so callers
// read 451 5.7.3 from its fields rather than by parsing text.
func (r *Reply) AsError() *smtp.SMTPError {
	e := &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.NoEnhancedCode, Message: r.Text()}
	if ec := r.EnhancedCode(); ec != "" {
		var code smtp.EnhancedCode
		fmt.Sscanf(ec, "%d.%d.%d", &code[0], &code[1], &code[2])
		e.EnhancedCode = code
		e.Message = strings.TrimSpace(strings.TrimPrefix(e.Message, ec))
	}
	return e
}

// budgetReader hands out at most remaining bytes before failing, so that one
// reply cannot make the reader buffer without end. reset is called before each
// reply is read.
type budgetReader struct {
	r         io.Reader
	remaining int
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, errReplyTooLong
	}
	if len(p) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.r.Read(p)
	b.remaining -= n
	return n, err
}

func (b *budgetReader) reset() { b.remaining = maxReplyBytes }

// replyReader reads SMTP replies with net/textproto's parser over a bounded
// reader.
type replyReader struct {
	budget *budgetReader
	buf    *bufio.Reader
	text   *textproto.Reader
}

func newReplyReader(r io.Reader) *replyReader {
	budget := &budgetReader{r: r}
	buf := bufio.NewReaderSize(budget, 4096)
	return &replyReader{budget: budget, buf: buf, text: textproto.NewReader(buf)}
}

// read reads one whole reply, whatever its code.
func (rr *replyReader) read() (*Reply, error) {
	rr.budget.reset()
	code, msg, err := rr.text.ReadResponse(0)
	var protoErr textproto.ProtocolError
	if errors.As(err, &protoErr) {
		return nil, fmt.Errorf("malformed reply: %s", string(protoErr))
	}
	if err != nil {
		// ReadResponse returns *textproto.Error for code mismatches only,
		// and we ask for none, so any other error is the connection's.
		var tpErr *textproto.Error
		if !errors.As(err, &tpErr) {
			return nil, err
		}
	}
	return &Reply{Code: code, Lines: strings.Split(msg, "\n")}, nil
}

// buffered reports how many bytes the server sent beyond the last reply.
func (rr *replyReader) buffered() int { return rr.buf.Buffered() }
