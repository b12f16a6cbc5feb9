package probe_test

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The probe's own commands: the guard lets these through.
var probeCommands = []string{
	"EHLO " + ehloName, "EHLO mx", "EHLO [192.0.2.1]", "EHLO [IPv6:2001:db8::1]",
	"STARTTLS", "MAIL FROM:<>", "RSET", "NOOP", "QUIT",
}

func TestGuardAllowsTheProbesCommands(t *testing.T) {
	t.Parallel()
	for _, line := range probeCommands {
		if err := probe.CheckCommand(line, ""); err != nil {
			t.Errorf("CheckCommand(%q) = %v, want it allowed", line, err)
		}
	}
}

// The safety promise: never RCPT, never DATA, in any spelling; and a verb
// the guard does not list is refused, not let through by default.
func TestGuardRefusesEverythingElse(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		// What would deliver mail.
		"RCPT TO:<postmaster@contoso.test>", "RCPT", "rcpt to:<a@b>", "Rcpt To:<a@b>",
		"DATA", "data", "Data", "BDAT 0 LAST", "BDAT 10",
		"MAIL FROM:<sender@contoso.test>", "MAIL FROM:<> SIZE=10", "mail from:<>", "MAIL",
		// Verbs the guard does not list.
		"HELO " + ehloName, "VRFY postmaster", "EXPN staff", "HELP", "AUTH PLAIN AGFiYwBkZWY=", "AUTH LOGIN",
		"TURN", "ETRN contoso.test", "ATRN", "XEXCH50 1 2", "X-ANONYMOUSTLS", "XYZZY", "SEND FROM:<>", "SOML FROM:<>",
		// The probe's verbs, but not as the probe says them.
		"ehlo " + ehloName, "EHLO", "EHLO ", "EHLO two words", "EHLO " + ehloName + " RCPT",
		"STARTTLS now", "STARTTLS ", "RSET ", "NOOP x", "QUIT bye", "QUIT ", " QUIT", "quit",
		"",
	} {
		err := probe.CheckCommand(line, "")
		if !errors.Is(err, probe.ErrCommandNotAllowed) {
			t.Errorf("CheckCommand(%q) = %v, want it refused as not allowed", line, err)
		}
	}
}

// A CR, LF or NUL anywhere in a line is refused by the guard's own check,
// before the verb or an EHLO name is looked at: on every one of the probe's
// commands, at every position, even where the rest of the line is fine.
func TestGuardRefusesLineBreaksItself(t *testing.T) {
	t.Parallel()
	for _, line := range probeCommands {
		for _, smuggled := range []string{"\r", "\n", "\x00", "\r\n", "\r\nRCPT TO:<a@b>", "\r\nDATA\r\n", "\nDATA"} {
			for i := 0; i <= len(line); i++ {
				bad := line[:i] + smuggled + line[i:]
				if err := probe.CheckCommand(bad, ""); !errors.Is(err, probe.ErrCommandLineBreak) {
					t.Errorf("CheckCommand(%q) = %v, want it refused for its line break or NUL", bad, err)
				}
			}
		}
	}
}

// writeCommands writes only lines the guard lets through, each ended by
// CRLF, and nothing at all when one line of a batch is refused: a pipelined
// batch must not go out in part.
func TestWriteCommandsGuardsEveryLine(t *testing.T) {
	t.Parallel()
	var wire bytes.Buffer
	if err := probe.WriteCommands(&wire, "", "MAIL FROM:<>", "RSET"); err != nil {
		t.Fatal(err)
	}
	if got, want := wire.String(), "MAIL FROM:<>\r\nRSET\r\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	for _, batch := range [][]string{
		{"RCPT TO:<a@b>"},
		{"MAIL FROM:<>", "RCPT TO:<a@b>", "DATA"},
		{"EHLO " + ehloName, "QUIT\r\nDATA"},
		{"NOOP", "XYZZY"},
	} {
		wire.Reset()
		err := probe.WriteCommands(&wire, "", batch...)
		if err == nil || wire.Len() != 0 {
			t.Errorf("WriteCommands(%q): wrote %q, error %v; want nothing written and an error", batch, wire.String(), err)
		}
	}
}

// TestEveryLineSentPassesTheGuard drives Probe through the dialogues
// probetest can play (STARTTLS, implicit TLS, the TLS-required test and
// each way it ends, refusals, 421s, injected plaintext) and checks every
// line the server received, and every line the transcript says was sent,
// with the real guard.
func TestEveryLineSentPassesTheGuard(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	script := func(change func(*probetest.Script)) func(t *testing.T) *probetest.Server {
		return func(t *testing.T) *probetest.Server {
			sc := starttlsScript(chain)
			change(&sc)
			return probetest.NewScript(t, sc)
		}
	}
	exchange := func(e probetest.Exchange) func(t *testing.T) *probetest.Server {
		return func(t *testing.T) *probetest.Server {
			e.Server, e.Domain, e.Chain = "EXCH01", "contoso.test", chain
			return probetest.NewExchange(t, e)
		}
	}
	silent := func(c net.Conn) { io.Copy(io.Discard, c) }
	tests := []struct {
		name     string
		server   func(t *testing.T) *probetest.Server
		implicit bool
		// recorded: the server records what it read (a Script); go-smtp
		// servers do not, and only the transcript is checked.
		recorded bool
	}{
		{name: "STARTTLS, pipelined test", recorded: true, server: script(func(*probetest.Script) {})},
		{name: "STARTTLS, no PIPELINING", recorded: true, server: script(func(sc *probetest.Script) {
			sc.EHLO = []string{"250-" + mailName, "250 STARTTLS"}
		})},
		{name: "no STARTTLS", recorded: true, server: script(func(sc *probetest.Script) { sc.EHLO = []string{"250 " + mailName} })},
		{name: "STARTTLS 454", recorded: true, server: script(func(sc *probetest.Script) {
			sc.STARTTLS = []string{"454 4.7.0 TLS not available due to temporary reason"}
		})},
		{name: "STARTTLS 220, then plaintext", recorded: true, server: script(func(sc *probetest.Script) {
			sc.AfterSTARTTLS = func(c net.Conn) { io.WriteString(c, "250 injected\r\n") }
		})},
		{name: "STARTTLS 220, then hang-up", recorded: true, server: script(func(sc *probetest.Script) { sc.AfterSTARTTLS = probetest.HangUp })},
		{name: "hang-up after the handshake", recorded: true, server: script(func(sc *probetest.Script) { sc.CloseAfterHandshake = true })},
		{name: "EHLO after TLS 421", recorded: true, server: script(func(sc *probetest.Script) {
			sc.EHLOAfterTLS = []string{"421 4.3.2 closing"}
		})},
		{name: "banner 554", recorded: true, server: script(func(sc *probetest.Script) { sc.Greeting = []string{"554 5.7.1 go away"} })},
		{name: "EHLO 421", recorded: true, server: script(func(sc *probetest.Script) { sc.EHLO = []string{"421 4.3.2 closing"} })},
		{name: "EHLO 550", recorded: true, server: script(func(sc *probetest.Script) { sc.EHLO = []string{"550 5.7.1 no"} })},
		{name: "MAIL 530, RSET 530", recorded: true, server: script(func(sc *probetest.Script) {
			sc.Mail = []string{"530 5.7.0 Must issue a STARTTLS command first"}
			sc.RSET = []string{"530 5.7.0 Must issue a STARTTLS command first"}
		})},
		{name: "MAIL 421", recorded: true, server: script(func(sc *probetest.Script) { sc.Mail = []string{"421 4.7.0 closing"} })},
		{name: "RSET 421", recorded: true, server: script(func(sc *probetest.Script) { sc.RSET = []string{"421 4.7.0 closing"} })},
		{name: "RSET refused after MAIL accepted", recorded: true, server: script(func(sc *probetest.Script) { sc.RSET = []string{"502 5.5.1 no"} })},
		{name: "hang-up after MAIL", recorded: true, server: script(func(sc *probetest.Script) {
			sc.Mail = []string{"451 5.7.3 STARTTLS is required to send mail"}
			sc.AfterMail = probetest.HangUp
		})},
		{name: "silence after MAIL", recorded: true, server: script(func(sc *probetest.Script) { sc.AfterMail = silent })},
		{name: "implicit TLS", recorded: true, implicit: true, server: script(func(sc *probetest.Script) {
			sc.Implicit, sc.EHLO = true, sc.EHLOAfterTLS
		})},
		{name: "Exchange requiring TLS, dropping", recorded: true, server: exchange(probetest.Exchange{
			Connector: probetest.DefaultFrontend, RequireTLS: true, DropsAfterRequireTLS: true})},
		{name: "Exchange behind an ASA", recorded: true, server: exchange(probetest.Exchange{Connector: probetest.DefaultFrontend, Masked: true})},
		{name: "Courier, STARTTLS off after MAIL", recorded: true, server: func(t *testing.T) *probetest.Server {
			return probetest.NewScript(t, courierScript(chain))
		}},
		{name: "go-smtp requiring TLS", server: func(t *testing.T) *probetest.Server {
			return probetest.NewServer(t, probetest.Config{Chain: chain, RequireTLS: true})
		}},
		{name: "go-smtp implicit", implicit: true, server: func(t *testing.T) *probetest.Server {
			return probetest.NewServer(t, probetest.Config{Chain: chain, Implicit: true})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.server(t)
			ep := endpointOf(s)
			ep.Implicit = tc.implicit
			opts := options()
			// The silent server costs half of it: long enough for a loaded
			// machine, short enough to keep the test quick.
			opts.Timeout = 4 * time.Second
			res := probe.Probe(context.Background(), ep, opts)
			// Closing waits for the server's connections, so every line it
			// read is recorded.
			s.Close()
			var sent []string
			for _, transcript := range [][]probe.TranscriptLine{res.Transcript, tlsRequiredTranscript(res)} {
				for _, l := range transcript {
					if l.Dir == probe.FromClient {
						sent = append(sent, l.Text)
					}
				}
			}
			if tc.recorded {
				sent = append(sent, s.Commands()...)
			}
			if len(sent) == 0 {
				t.Fatalf("no line sent or received (error %v): nothing was checked", res.Error)
			}
			for _, line := range sent {
				if err := probe.CheckCommand(line, ""); err != nil {
					t.Errorf("the probe sent %q, which the guard refuses: %v", line, err)
				}
			}
		})
	}
}

func tlsRequiredTranscript(res probe.Result) []probe.TranscriptLine {
	if res.TLSRequired == nil {
		return nil
	}
	return res.TLSRequired.Transcript
}

// writers are the only functions of package probe allowed to call anything
// that writes, each with why it cannot bypass the guard.
var writers = map[string]string{
	"writeCommands":           "the guard's writer: checks every line, then writes",
	"(*recordingConn).Write":  "forwards what its callers write (writeCommands, and crypto/tls's records) and copies it to the transcript",
	"(*transcript).add":       "writes into the transcript's line buffers, not the connection",
	"(*coalescingConn).flush": "sends, later and at once, only what was written to the coalescingConn, which sits under recordingConn: writeCommands's lines and crypto/tls's records",
	"checkCommand":            "none: listed so that a rename is noticed",
	"(*seenSet).see":          "writes a key into its FNV-1a hash, not the connection",
	"Shard.Owns":              "writes a destination into its FNV-1a hash, not the connection",
}

// TestOnlyWriteCommandsWrites reads package probe's source: a call that can
// write (a Write or WriteString method, io.WriteString, io.Copy, fmt.Fprint,
// a ReadFrom or WriteTo) may appear only in the functions listed in
// writers, so that no code path writes a line the guard did not check.
func TestOnlyWriteCommandsWrites(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	found := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			owner := funcName(fn)
			found[owner] = true
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				if what := writingCall(call); what != "" {
					if _, listed := writers[owner]; !listed {
						t.Errorf("%s: %s calls %s: only writeCommands may write to the server (list a harmless writer in writers, saying why)", fset.Position(call.Pos()), owner, what)
					}
				}
				return true
			})
		}
	}
	if checked == 0 {
		t.Fatal("no source file of package probe found")
	}
	// A renamed writer must be renamed here too, not left listed in vain.
	for name := range writers {
		if !found[name] {
			t.Errorf("writers lists %s, which package probe no longer has", name)
		}
	}
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	recv := fn.Recv.List[0].Type
	if star, ok := recv.(*ast.StarExpr); ok {
		if id, ok := star.X.(*ast.Ident); ok {
			return "(*" + id.Name + ")." + fn.Name.Name
		}
	}
	if id, ok := recv.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}

// writingCall names the call when it can write to an io.Writer or a
// connection, else "".
func writingCall(call *ast.CallExpr) string {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	if pkg, ok := sel.X.(*ast.Ident); ok {
		switch pkg.Name + "." + sel.Sel.Name {
		case "io.WriteString", "io.Copy", "io.CopyN", "io.CopyBuffer", "fmt.Fprint", "fmt.Fprintf", "fmt.Fprintln":
			return pkg.Name + "." + sel.Sel.Name
		}
	}
	switch sel.Sel.Name {
	case "Write", "WriteString", "WriteByte", "WriteRune", "ReadFrom", "WriteTo":
		return "a " + sel.Sel.Name + " method"
	}
	return ""
}

// RCPT goes out only with --rcpt-test, and only to its exact address; DATA
// never, whatever the address (issue 12).
func TestGuardAllowsRCPTOnlyToTheGivenAddress(t *testing.T) {
	t.Parallel()
	const addr = "postmaster@contoso.test"
	if err := probe.CheckCommand("RCPT TO:<"+addr+">", addr); err != nil {
		t.Errorf("RCPT to the --rcpt-test address refused: %v", err)
	}
	for _, tc := range []struct{ line, rcpt string }{
		{"RCPT TO:<" + addr + ">", ""},                        // no --rcpt-test
		{"RCPT TO:<abuse@contoso.test>", addr},                // another address
		{"RCPT TO:<POSTMASTER@contoso.test>", addr},           // not exactly it
		{"RCPT TO:<" + addr + "> NOTIFY=NEVER", addr},         // parameters
		{"rcpt to:<" + addr + ">", addr},                      // another spelling
		{"RCPT TO:" + addr, addr},                             // no brackets
		{"RCPT TO:<" + addr + ">,<abuse@contoso.test>", addr}, // a second recipient
		{"DATA", addr}, {"BDAT 0 LAST", addr},
		// An address that is not a plain mailbox is refused even when the
		// line matches it, so that no caller of Probe can smuggle anything.
		{"RCPT TO:<a@b> DATA>", "a@b> DATA"},
		{"RCPT TO:<<a@b>>", "<a@b>"},
		{"RCPT TO:<Postmaster <a@b>>", "Postmaster <a@b>"},
	} {
		if err := probe.CheckCommand(tc.line, tc.rcpt); !errors.Is(err, probe.ErrCommandNotAllowed) {
			t.Errorf("CheckCommand(%q, %q) = %v, want it refused as not allowed", tc.line, tc.rcpt, err)
		}
	}
	if err := probe.CheckCommand("RCPT TO:<"+addr+">\r\nDATA", addr); !errors.Is(err, probe.ErrCommandLineBreak) {
		t.Errorf("a line break after the allowed RCPT = %v, want it refused as such", err)
	}
}

func TestCheckRCPTAddress(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"postmaster@contoso.com", "first.last+tag@mail.contoso.com", "a_b-c@x.test",
		// The last allowed character, and 254 characters, the most a
		// path may carry (255 is refused below).
		"tilde~@contoso.com", strings.Repeat("a", 249) + "@b.cd"} {
		if err := probe.CheckRCPTAddress(ok); err != nil {
			t.Errorf("CheckRCPTAddress(%q) = %v, want it accepted", ok, err)
		}
	}
	for _, bad := range []string{
		"", "postmaster", "@contoso.com", "postmaster@", "post master@contoso.com", "<postmaster@contoso.com>",
		"Postmaster <postmaster@contoso.com>", "postmaster@contoso.com\r\nDATA", "postmaster@contoso.com\n",
		`"post master"@contoso.com`, "postmaster@[127.0.0.1]", "a@b@c", "pöstmaster@contoso.com", "a..b@contoso.com",
		"postmaster@contoso..com", strings.Repeat("a", 250) + "@b.cd",
	} {
		if err := probe.CheckRCPTAddress(bad); err == nil {
			t.Errorf("CheckRCPTAddress(%q) accepted it, want a plain mailbox only", bad)
		}
	}
	// Just outside the allowed characters, a space and DEL: the error
	// names the character, not only "not a plain mailbox".
	for bad, char := range map[string]string{"post master@contoso.com": `' '`, "post\x7fmaster@contoso.com": `'\x7f'`, "tab\tmaster@contoso.com": `'\t'`} {
		if err := probe.CheckRCPTAddress(bad); err == nil || !strings.Contains(err.Error(), "character "+char+" not allowed") {
			t.Errorf("CheckRCPTAddress(%q) = %v, want character %s not allowed", bad, err, char)
		}
	}
}
