package probe

import (
	"context"
	"time"
)

// PhaseMail is the MAIL FROM:<> of the TLS-required test.
const PhaseMail Phase = "mail"

// TLSRequiredTest is what the server said when asked to start a mail
// transaction in plaintext: on its own connection, banner, EHLO,
// "MAIL FROM:<>" before any STARTTLS, then RSET and QUIT. No RCPT, no DATA:
// nothing can be delivered.
//
// It records the reply only. Whether "451 5.7.3" or "530 5.7.0" means "TLS
// is required" is a judgement, and judging is report's job: the same
// reply text differs between servers (Exchange, Postfix, Exchange Online
// relaying on-premises text), and a 530 5.7.1 "not authenticated" says
// nothing about TLS at all, so the rules belong beside the other rules.
type TLSRequiredTest struct {
	Banner *Reply
	EHLO   *Reply
	// Mail is the reply to MAIL FROM:<>; nil when the test ended before it.
	Mail *Reply
	// Error is the failure that ended the test before a reply to MAIL
	// (connection refused, no banner, a non-250 EHLO, a timeout).
	Error *Error
	// Duration is how long the test took, from dial to QUIT.
	Duration time.Duration
	// Transcript is this connection's own dialogue, for -v.
	Transcript []TranscriptLine
}

// startTLSRequiredTest runs the TLS-required test on its own connection to
// addr while the main probe goes on, within the same endpoint context. The
// returned wait blocks until the test is done and stores it in the main
// result; it is nil when the test does not apply (implicit TLS, or turned
// off).
func (s *session) startTLSRequiredTest(addr string) (wait func()) {
	if s.res.Mode != ModeSTARTTLS || s.opts.NoTLSRequiredTest {
		return nil
	}
	done := make(chan *TLSRequiredTest, 1)
	go func() { done <- runTLSRequiredTest(s.ctx, s.res.Endpoint, addr, s.opts) }()
	return func() { s.res.TLSRequired = <-done }
}

// runTLSRequiredTest reuses the session's dialogue steps on a second session
// whose Result only collects what this test needs.
func runTLSRequiredTest(ctx context.Context, ep Endpoint, addr string, opts Options) *TLSRequiredTest {
	side := &session{
		ctx:  ctx,
		opts: opts,
		res:  Result{Endpoint: ep, Address: addr, Mode: ModeSTARTTLS, Started: time.Now()},
	}
	side.transcript = newTranscript(side.res.Started)
	test := &TLSRequiredTest{}
	test.Mail = side.mailBeforeTLS()
	test.Banner, test.EHLO, test.Error = side.res.Banner, side.res.EHLO, side.res.Error
	test.Duration = time.Since(side.res.Started)
	test.Transcript = side.transcript.finish()
	return test
}

// mailBeforeTLS dials, greets and asks for a transaction in plaintext. It
// returns the reply to MAIL, or nil with the failure in s.res.Error.
func (s *session) mailBeforeTLS() *Reply {
	if !s.connect(s.res.Address) {
		return nil
	}
	defer s.raw.Close()
	// Same deadline handling as the main probe: one deadline for the whole
	// endpoint, and closing the conn when ctx ends.
	if dl, ok := s.ctx.Deadline(); ok {
		s.raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(s.ctx, func() { s.raw.Close() })
	defer stop()

	if !s.greeting() {
		return nil
	}
	var ok bool
	var took time.Duration
	if s.res.EHLO, ok = s.ehlo(PhaseEHLO, &took); !ok {
		if s.res.EHLO != nil {
			s.quit()
		}
		return nil
	}
	reply, err := s.command("MAIL FROM:<>")
	if err != nil {
		s.fail(PhaseMail, err, nil)
		return nil
	}
	// RSET whatever the reply: a server that accepted the sender must not
	// be left with an open transaction. Its reply tells nothing more.
	if _, err := s.command("RSET"); err == nil {
		s.quit()
	}
	return reply
}
