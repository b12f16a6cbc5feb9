package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// PhaseMail is the MAIL FROM:<> of the TLS-required test.
const PhaseMail Phase = "mail"

// TLSRequiredTest is what the server said when asked to start a mail
// transaction in plaintext: after EHLO and before any STARTTLS, "MAIL
// FROM:<>", then RSET; RCPT TO only the address the user gave
// (Options.RCPTAddress); never DATA: nothing can be delivered.
//
// The test runs on the main connection, so that an endpoint costs its
// server one connection, as it does a sending MTA. When the server ends or
// spoils that connection in answer (Exchange drops some sessions after
// "451 5.7.3"), STARTTLS is probed on a new connection and the first one is
// the test's own, with its own Transcript.
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
	// RCPT is the reply to "RCPT TO:<Options.RCPTAddress>", sent after
	// MAIL FROM:<> (and before RSET) only with --rcpt-test: Exim (in its
	// RCPT ACL) and maddy accept MAIL in plaintext and refuse at RCPT.
	// nil when no address was given or the test ended before its reply.
	// Sent whatever the reply to MAIL was, pipelined with it when the
	// server offers PIPELINING.
	RCPT *Reply
	// Error is the failure that ended the test before a reply to MAIL
	// (connection refused, no banner, a non-250 EHLO, a timeout).
	Error *Error
	// SessionEnded: in answer to the test the server hung up, said 421,
	// fell silent or left the transaction open, so the session could not
	// go on to STARTTLS.
	SessionEnded bool
	// STARTTLSRefusedAfter is the refusal (a non-220 reply) STARTTLS got
	// on the test's connection, after the test, when EHLO had offered it;
	// nil otherwise. The probe then asked again on a new connection
	// without the test, and the Result's STARTTLSReply, TLS, Chain and
	// Error are that connection's: Courier MTA 1.0 turns STARTTLS off
	// once MAIL or RSET was sent ("540 TLS not available."), so a refusal
	// seen here is the test's doing, never by itself a verdict on
	// STARTTLS.
	STARTTLSRefusedAfter *Reply
	// Transcript is the test's own connection when STARTTLS was probed on
	// another (the server ended the session in answer to the test, or
	// refused STARTTLS after it); empty when the test shared the main
	// connection, whose transcript then holds its lines.
	Transcript []TranscriptLine
}

// testsTLSRequired says whether this endpoint gets the TLS-required test:
// STARTTLS endpoints, unless it is turned off.
func (s *session) testsTLSRequired() bool {
	return s.res.Mode == ModeSTARTTLS && !s.opts.NoTLSRequiredTest
}

// testTLSRequired asks for a transaction on the current connection, in
// plaintext after EHLO, and resets it. It reports whether the connection
// can go on to STARTTLS: not when the server hung up or said 421, left the
// accepted transaction open, or gave no answer within half of the time
// left, which leaves the other half to probe STARTTLS on a new connection.
// talking says the server is still in the dialogue (it answered every
// command, none with 421), so that QUIT is owed rather than pointless.
func (s *session) testTLSRequired() (usable, talking bool) {
	test := &TLSRequiredTest{Banner: s.res.Banner, EHLO: s.res.EHLO}
	s.res.TLSRequired = test
	defer func() { test.SessionEnded = !usable }()
	var share time.Duration
	if dl, ok := s.ctx.Deadline(); ok {
		share = time.Until(dl) / 2
		s.raw.SetDeadline(time.Now().Add(share))
		defer s.raw.SetDeadline(dl)
	}
	// RSET whatever the reply: a server that accepted the sender must not
	// be left with an open transaction before STARTTLS, which RFC 3207
	// allows only outside one. Both go in one write when the server
	// pipelines: it costs the server one round trip more than no test.
	lines := []string{"MAIL FROM:<>"}
	if s.opts.RCPTAddress != "" {
		lines = append(lines, "RCPT TO:<"+s.opts.RCPTAddress+">")
	}
	lines = append(lines, "RSET")
	replies, err := s.commands(s.res.EHLO.HasKeyword("PIPELINING"), lines...)
	if len(replies) == 0 {
		if errors.Is(err, os.ErrDeadlineExceeded) && s.ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s, half of the time left (%w)", share.Round(time.Millisecond), context.DeadlineExceeded)
		}
		test.Error = s.errorAt(PhaseMail, err, nil)
		return false, false
	}
	test.Mail = replies[0]
	if s.opts.RCPTAddress != "" && len(replies) > 1 {
		test.RCPT = replies[1]
	}
	if err != nil {
		return false, false
	}
	for _, reply := range replies {
		if reply.Code == 421 {
			return false, false
		}
	}
	// A refused MAIL leaves no transaction, whatever RSET gets (Postfix at
	// smtpd_tls_security_level = encrypt answers it 530 too); an accepted
	// one must have been reset.
	rset := replies[len(replies)-1]
	return test.Mail.Code/100 != 2 || rset.Code/100 == 2, true
}

// tlsRequiredNotRun records, for an endpoint that should have had the
// test, the failure that came before it (no connection, no banner, EHLO
// refused), so that the verdict is "unknown" rather than "not tested".
func (s *session) tlsRequiredNotRun() {
	if s.testsTLSRequired() && s.res.TLSRequired == nil && s.res.Error != nil {
		s.res.TLSRequired = &TLSRequiredTest{Banner: s.res.Banner, EHLO: s.res.EHLO, Error: s.res.Error}
	}
}
