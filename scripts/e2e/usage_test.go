package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// TestBadInput checks every mistake on the command line the same way: exit
// 3, on stderr exactly one "starttls-probe: error:" line naming the problem
// and one "hint:" line, nothing on stdout, and nothing probed (a loopback
// server given as the target hears no command).
func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-pem.crt")
	if err := os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing-ca.pem")
	// A directory cannot be read as a file, even by root (who reads a
	// chmod 000 file anyway).
	unreadable := filepath.Join(dir, "unreadable-ca.pem")
	if err := os.Mkdir(unreadable, 0o755); err != nil {
		t.Fatal(err)
	}

	const target = "TARGET" // replaced by the loopback server's address
	cases := []struct {
		name string
		args []string
		// want is what the error line must name.
		want string
	}{
		{"unknown flag", []string{"--bogus", target}, "bogus"},
		{"port 0", []string{"--port", "0", target}, "port 0 out of range"},
		{"port 70000", []string{"--port", "70000", target}, "70000"},
		{"port name unknown", []string{"--port", "bogus", target}, `"bogus"`},
		{"port missing value", []string{"-p"}, "-p"},
		{"flag after a target without its value", []string{target, "-p"}, "-p"},
		{"a target starting with -", []string{"--", "-x"}, `"-x"`},
		{"empty target", []string{""}, "empty target"},
		{"target with a space", []string{"a b"}, `"a b"`},
		{"IPv6 without ]", []string{"[::1"}, `"[::1"`},
		{"ca-file missing", []string{"--ca-file", missing, target}, "missing-ca.pem"},
		{"ca-file unreadable", []string{"--ca-file", unreadable, target}, "unreadable-ca.pem"},
		{"ca-file not PEM", []string{"--ca-file", notPEM, target}, "not-pem.crt"},
		{"thumbprint not hex", []string{"--thumbprint", "xyz", target}, `"xyz"`},
		{"thumbprint short", []string{"--thumbprint", "ABCDEF", target}, "40 hex digits"},
		{"output yaml", []string{"--output", "yaml", target}, `"yaml"`},
		{"timeout 0s", []string{"--timeout", "0s", target}, "--timeout"},
		{"timeout not a duration", []string{"--timeout", "soon", target}, "soon"},
		{"crit-days above warn-days", []string{"--warn-days", "5", "--crit-days", "10", target}, "--crit-days"},
		{"ehlo with a line break", []string{"--ehlo", "x\r\nRCPT TO:<victim@example.com>", target}, "--ehlo"},
		{"ehlo not a name", []string{"--ehlo", "a b", target}, "--ehlo"},
		{"sni and no-sni", []string{"--sni", "mail.contoso.test", "--no-sni", target}, "--no-sni"},
		{"no target", nil, "no target"},
		{"demo output yaml", []string{"demo", "--output", "yaml"}, `"yaml"`},
		{"demo unknown flag", []string{"demo", "--bogus"}, "bogus"},
		{"a probe flag before demo", []string{"--name", "mail.contoso.test", "demo"}, "name"},
		{"jsonl with a baseline", []string{"-o", "jsonl", "--baseline", filepath.Join(dir, "baseline.json"), target}, "--baseline"},
		{"demo with a target", []string{"demo", "mail.contoso.test"}, "mail.contoso.test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server := probetest.NewScript(t, probetest.Script{
				Greeting: []string{"220 mx.test ESMTP"},
				EHLO:     []string{"250-mx.test", "250 STARTTLS"},
			})
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, target, server.Addr())
			}
			r := runBinary(t, environ(), args...)
			if r.code != 3 {
				t.Errorf("want exit 3, got %s", r)
			}
			if r.stdout != "" {
				t.Errorf("want nothing on stdout, got %s", r)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "starttls-probe: error: ") || !strings.HasPrefix(lines[1], "hint: ") {
				t.Fatalf("want exactly an error line and a hint line on stderr, got %s", r)
			}
			if !strings.Contains(lines[0], tc.want) {
				t.Errorf("error line %q does not name the problem (%q)", lines[0], tc.want)
			}
			if cmds := server.Commands(); len(cmds) > 0 {
				t.Errorf("bad input still probed: the server heard %q", cmds)
			}
		})
	}
}

// TestHelpIsNotAnError checks that --help prints usage on stdout and exits
// 0: usage goes where the user asked for it, never with an error.
func TestHelpIsNotAnError(t *testing.T) {
	t.Parallel()
	r := runBinary(t, environ(), "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "TARGET") || r.stderr != "" {
		t.Errorf("--help: %s", r)
	}
}
