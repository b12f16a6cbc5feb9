package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/urfave/cli/v2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/encoding/unicode"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report/render"
)

// cliRun is one finished in-process run of the command line.
type cliRun struct {
	stdout, stderr string
	code           int
}

func (r cliRun) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// runCLI runs the command line args (without the program name) in-process
// with stdin and the environment env (nothing else of this process's).
func runCLI(t *testing.T, stdin string, env map[string]string, args ...string) cliRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(key string) string { return env[key] }
	code := run(context.Background(), append([]string{"starttls-probe"}, args...), strings.NewReader(stdin), &stdout, &stderr, getenv)
	return cliRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// healthyHost is a go-smtp server for mx.test on loopback presenting a
// certificate from a throwaway CA; trust is the flags that trust that CA and
// expect the name, so that the host judges OK. With noSTARTTLS it offers
// no STARTTLS and judges CRITICAL.
func healthyHost(t *testing.T, noSTARTTLS bool) (addr string, trust []string) {
	t.Helper()
	root, err := probetest.NewRootCA("CLI Test Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := probetest.NewServer(t, probetest.Config{Chain: chain, NoSTARTTLS: noSTARTTLS})
	caFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(caFile, root.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.Addr(), []string{"--ca-file", caFile, "-n", "mx.test", "--no-tls-required-test"}
}

// TestUsageErrors runs every mistake main.go refuses: each usagef, and
// urfave/cli's own flag errors as main.go words them. Each must exit 3 with
// exactly these two lines on stderr, nothing on stdout (but the Nagios
// status line with -o nagios), and nothing probed: the target is a scripted
// server that records every command it hears.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	notPEM := write("not-pem.crt", "this is not a certificate\n")
	write("unsharded.jsonl", `{"type":"endpoint","target":"mx.test:25"}`+"\n")
	write("unfinished.jsonl", `{"type":"consistency","host":"mx.test"}`+"\n")
	write("shard-0.jsonl", `{"type":"summary","status":"ok","shard":"0/2"}`+"\n")
	write("shard-0-of-3.jsonl", `{"type":"summary","status":"ok","shard":"0/3"}`+"\n")
	write("whole.jsonl", `{"type":"summary","status":"ok"}`+"\n")
	write("cut.jsonl", `{"type":"observation","v":1,"endpoint":{"target":"mx.test:25"`+"\n"+`{"type":"summary","shard":"0/1"}`+"\n")
	write("interrupted.jsonl", `{"type":"summary","shard":"1/4","observed":3,"shared":0,"interrupted":true}`+"\n")
	write("interrupted-odd.jsonl", `{"type":"summary","shard":"\u001b[31m","interrupted":true}`+"\n")
	onlyComments := write("targets.txt", "# nothing to probe\n\n")
	write("a-file", "")
	// What "mx.test" > targets.txt writes in PowerShell 7 with a wrong
	// -Encoding: UTF-16 LE without its byte-order mark.
	write("utf16-no-bom.txt", "m\x00x\x00.\x00t\x00e\x00s\x00t\x00\r\x00\n\x00")
	// Placeholders in args and want: {target} is the loopback server,
	// {dir} the test's directory.
	const defaultHint = "hint: run 'starttls-probe --help' for usage"
	const targetHint = "hint: targets look like mail.contoso.com, mail.contoso.com:587, 192.0.2.1 or [2001:db8::1]:25"
	const shardsHint = "hint: give merge the files of every shard of one run, each once: shard-0.jsonl ... shard-(N-1).jsonl"
	const rcptHint = "hint: give a plain mailbox, for example --rcpt-test postmaster@contoso.com"
	cases := []struct {
		name  string
		args  []string
		stdin string
		// want is the whole of stderr, line by line.
		want []string
		// nagios is the status line on stdout; "" for none.
		nagios string
	}{
		// urfave/cli's flag errors, in this tool's words.
		{name: "no scan connection", args: []string{"--tls-scan", "--scan-connections", "0", "{target}"},
			want: []string{"starttls-probe: error: --scan-connections must be at least 1, got 0", "hint: for example --scan-connections 4"}},
		{name: "tls-domain alone", args: []string{"--tls-domain", "mail.contoso.com", "{target}"},
			want: []string{"starttls-probe: error: --tls-domain needs --as exchange-online", "hint: for example --as exchange-online --tls-domain mail.contoso.com"}},
		{name: "unknown view", args: []string{"--as", "gmail", "{target}"},
			want: []string{`starttls-probe: error: unknown view "gmail"`, "hint: use --as exchange-online"}},
		{name: "tls-domain an address", args: []string{"--as", "exchange-online", "--tls-domain", "192.0.2.1", "{target}"},
			want: []string{`starttls-probe: error: --tls-domain "192.0.2.1" is not a domain name`,
				"hint: give the connector's TlsDomain, e.g. --tls-domain mail.contoso.com or --tls-domain *.contoso.com"}},
		{name: "unknown flag near one", args: []string{"--prot", "25", "{target}"},
			want: []string{"starttls-probe: error: unknown flag --prot", "hint: did you mean --port?"}},
		{name: "unknown flag, prefix of one", args: []string{"--thumb", "AB", "{target}"},
			want: []string{"starttls-probe: error: unknown flag --thumb", "hint: did you mean --thumbprint?"}},
		{name: "unknown short flag near none", args: []string{"-x", "{target}"},
			want: []string{"starttls-probe: error: unknown flag -x", defaultHint}},
		{name: "unknown flag near none", args: []string{"--bogus", "{target}"},
			want: []string{"starttls-probe: error: unknown flag --bogus", defaultHint}},
		{name: "missing flag value", args: []string{"-p"},
			want: []string{"starttls-probe: error: flag -p needs a value", defaultHint}},
		{name: "missing flag value after a target", args: []string{"{target}", "--port"},
			want: []string{"starttls-probe: error: flag --port needs a value", defaultHint}},
		{name: "int not a number", args: []string{"--warn-days", "soon", "{target}"},
			want: []string{`starttls-probe: error: invalid value "soon" for --warn-days`, "hint: give a whole number, for example --warn-days 30"}},
		{name: "duration without unit", args: []string{"--timeout", "5", "{target}"},
			want: []string{`starttls-probe: error: invalid value "5" for --timeout`, "hint: use 5s"}},
		{name: "duration not a duration", args: []string{"--timeout", "soon", "{target}"},
			want: []string{`starttls-probe: error: invalid value "soon" for --timeout`, "hint: a duration has a unit: for example 10s, 1m30s"}},
		{name: "demo unknown flag", args: []string{"demo", "--outptu", "json"},
			want: []string{"starttls-probe: error: unknown flag --outptu", "hint: did you mean --output?"}},
		{name: "a probe flag before demo", args: []string{"--name", "mail.contoso.test", "demo"},
			want: []string{"starttls-probe: error: unknown flag --name", defaultHint}},

		// Output.
		{name: "output yaml", args: []string{"--output", "yaml", "{target}"},
			want: []string{`starttls-probe: error: unknown output format "yaml"`, "hint: use --output text, json, jsonl, nagios, prometheus or pem"}},
		{name: "demo output yaml", args: []string{"demo", "-o", "yaml"},
			want: []string{`starttls-probe: error: unknown output format "yaml"`, "hint: use --output text, json, jsonl, nagios, prometheus or pem"}},
		{name: "jsonl quiet", args: []string{"-o", "jsonl", "-q", "{target}"},
			want: []string{"starttls-probe: error: --output jsonl streams each result as it comes: it cannot be held back by --quiet or written atomically to --output-file", "hint: use --output json with --quiet or --output-file"}},
		{name: "jsonl output-file", args: []string{"-o", "jsonl", "--output-file", "{dir}/out.jsonl", "{target}"},
			want: []string{"starttls-probe: error: --output jsonl streams each result as it comes: it cannot be held back by --quiet or written atomically to --output-file", "hint: use --output json with --quiet or --output-file"}},
		{name: "timeout 0s", args: []string{"--timeout", "0s", "{target}"},
			want: []string{"starttls-probe: error: --timeout must be positive, got 0s", "hint: for example --timeout 10s"}},
		{name: "output-file in a missing directory", args: []string{"-o", "prometheus", "--output-file", "{dir}/missing/starttls.prom", "{target}"},
			want: []string{"starttls-probe: error: --output-file {dir}/missing/starttls.prom: the directory {dir}/missing does not exist", "hint: create it first (mkdir -p {dir}/missing), or give --output-file a path in an existing directory"}},
		{name: "output-file under a file", args: []string{"--output-file", "{dir}/a-file/report.txt", "{target}"},
			want: []string{"starttls-probe: error: --output-file {dir}/a-file/report.txt: {dir}/a-file is not a directory", "hint: give --output-file a path in a directory you can write to"}},

		// Baseline.
		{name: "jsonl with a baseline", args: []string{"-o", "jsonl", "--baseline", "{dir}/baseline.json", "{target}"},
			want: []string{"starttls-probe: error: --output jsonl writes each result before the run is compared with --baseline, so the baseline's verdict would be on no line", "hint: use --output json with --baseline"}},
		{name: "update-baseline alone", args: []string{"--update-baseline", "{target}"},
			want: []string{"starttls-probe: error: --update-baseline needs --baseline FILE", "hint: for example --baseline /var/lib/starttls-probe/baseline.json --update-baseline"}},
		{name: "baseline in a missing directory", args: []string{"--baseline", "{dir}/nowhere/baseline.json", "{target}"},
			want: []string{"starttls-probe: error: --baseline {dir}/nowhere/baseline.json: the directory {dir}/nowhere does not exist", "hint: create it first (mkdir -p {dir}/nowhere), or give --baseline a path in an existing directory"}},

		// Targets.
		{name: "a target starting with -", args: []string{"--", "-x"},
			want: []string{`starttls-probe: error: "-x" is not a target: a host name cannot start with '-'`, targetHint}},
		{name: "empty target", args: []string{""},
			want: []string{"starttls-probe: error: empty target", targetHint}},
		{name: "target with a space", args: []string{"a b"},
			want: []string{`starttls-probe: error: malformed target "a b": want host, host:port or [IPv6]:port`, targetHint}},
		{name: "IPv6 without ]", args: []string{"[::1"},
			want: []string{`starttls-probe: error: malformed target "[::1": missing ]`, targetHint}},
		{name: "no target", args: nil,
			want: []string{"starttls-probe: error: no target given", "hint: try 'starttls-probe mail.example.com', or 'starttls-probe demo' to see it work"}},
		{name: "file missing", args: []string{"-f", "{dir}/missing.txt"},
			want: []string{"starttls-probe: error: --file: open {dir}/missing.txt: no such file or directory", "hint: give a readable file of targets, one per line, or - for stdin"}},
		{name: "file is a directory", args: []string{"-f", "{dir}"},
			want: []string{"starttls-probe: error: --file {dir}: reading targets: read {dir}: is a directory", "hint: a target file holds one host, host:port or address per line"}},
		{name: "file without a target", args: []string{"-f", onlyComments},
			want: []string{"starttls-probe: error: no valid target in --file {dir}/targets.txt", "hint: give at least one target, one per line"}},
		{name: "stdin without a target", args: []string{"-f", "-"}, stdin: "# nothing\n",
			want: []string{"starttls-probe: error: no valid target in --file -", "hint: give at least one target, one per line"}},
		{name: "file in UTF-16 without a byte-order mark", args: []string{"-f", "{dir}/utf16-no-bom.txt"},
			want: []string{"starttls-probe: error: --file {dir}/utf16-no-bom.txt: the file looks like UTF-16 without a byte-order mark (line 1): save it as UTF-8",
				"hint: in Notepad: Save as, Encoding UTF-8; in PowerShell: Out-File -Encoding utf8 (UTF-16 with a byte-order mark is read too)"}},
		{name: "demo with a target", args: []string{"demo", "mail.contoso.test"},
			want: []string{`starttls-probe: error: demo takes no target, got "mail.contoso.test"`, "hint: the demo probes its own server; to probe a host, leave out 'demo': starttls-probe HOST"}},
		{name: "port 0", args: []string{"--port", "0", "{target}"},
			want: []string{"starttls-probe: error: --port: port 0 out of range 1-65535", "hint: for example -p 25 -p 587, or -p submission"}},
		{name: "port 70000", args: []string{"--port", "70000", "{target}"},
			want: []string{"starttls-probe: error: --port: port 70000 out of range 1-65535", "hint: for example -p 25 -p 587, or -p submission"}},
		{name: "port name unknown", args: []string{"-p", "bogus", "{target}"},
			want: []string{`starttls-probe: error: --port: unknown port "bogus" (use a number or smtp, submission, submissions)`, "hint: for example -p 25 -p 587, or -p submission"}},
		{name: "resolver not an address", args: []string{"--resolver", "dns.example:53", "{target}"},
			want: []string{`starttls-probe: error: --resolver: resolver "dns.example:53": want ADDR:PORT, such as 127.0.0.1:53 or [::1]:53`, "hint: for example --resolver 127.0.0.1:53 or --resolver [::1]:5353"}},
		{name: "concurrency 0", args: []string{"--concurrency", "0", "{target}"},
			want: []string{"starttls-probe: error: --concurrency must be at least 1, got 0", "hint: for example --concurrency 64"}},
		{name: "address concurrency 0", args: []string{"--address-concurrency", "0", "{target}"},
			want: []string{"starttls-probe: error: --address-concurrency must be at least 1, got 0", "hint: for example --address-concurrency 2"}},
		{name: "address concurrency negative", args: []string{"--address-concurrency", "-3", "{target}"},
			want: []string{"starttls-probe: error: --address-concurrency must be at least 1, got -3", "hint: for example --address-concurrency 2"}},
		{name: "shard out of range", args: []string{"-o", "jsonl", "--shard", "4/4", "{target}"},
			want: []string{"starttls-probe: error: --shard: " + shardError("4/4"), "hint: for example --shard 0/4 (the first of four; Kubernetes' JOB_COMPLETION_INDEX is K)"}},
		{name: "shard without jsonl", args: []string{"--shard", "0/2", "{target}"},
			want: []string{"starttls-probe: error: --shard writes JSONL for 'starttls-probe merge' to judge as one run", "hint: add -o jsonl, and merge the shards with 'starttls-probe merge'"}},
		{name: "merge without files", args: []string{"merge", "-o", "json"},
			want: []string{"starttls-probe: error: no shard file given", "hint: for example: starttls-probe merge shard-*.jsonl"}},
		{name: "merge a missing file", args: []string{"merge", "{dir}/no-such-shard.jsonl"},
			want: []string{"starttls-probe: error: merge: open {dir}/no-such-shard.jsonl: no such file or directory", "hint: give the JSONL files the --shard runs wrote"}},
		{name: "merge lines without observations", args: []string{"merge", "{dir}/unsharded.jsonl"},
			want: []string{`starttls-probe: error: {dir}/unsharded.jsonl:1: an endpoint line: the JSONL of a judged run, not the observations of a --shard run`, "hint: run the shards with --shard K/N: their lines carry what merge judges"}},
		{name: "merge a cut observation, judged whole", args: []string{"merge", "-o", "json", "{dir}/cut.jsonl"},
			want: []string{"starttls-probe: error: {dir}/cut.jsonl:1: not a JSON line: unexpected end of JSON input", "hint: merge reads the JSONL that starttls-probe --shard K/N -o jsonl writes"}},
		{name: "merge a cut observation, streamed", args: []string{"merge", "-o", "jsonl", "{dir}/cut.jsonl"},
			want: []string{"starttls-probe: error: {dir}/cut.jsonl:1: not a JSON line: unexpected EOF", "hint: merge reads the JSONL that starttls-probe --shard K/N -o jsonl writes"}},
		{name: "merge an interrupted shard", args: []string{"merge", "{dir}/interrupted.jsonl"},
			want: []string{"starttls-probe: error: {dir}/interrupted.jsonl: shard 1/4 was interrupted, its file is not whole", "hint: run shard 1/4 again: merge judges whole shards only"}},
		{name: "merge an interrupted shard of no known name", args: []string{"merge", "{dir}/interrupted-odd.jsonl"},
			want: []string{"starttls-probe: error: {dir}/interrupted-odd.jsonl: that shard was interrupted, its file is not whole", "hint: run that shard again: merge judges whole shards only"}},
		{name: "shard with expectations", args: []string{"-o", "jsonl", "--shard", "0/2", "--thumbprint", strings.Repeat("ab", 20), "-n", "mx.test", "--warn-days", "10", "{target}"},
			want: []string{"starttls-probe: error: --shard judges nothing: --thumbprint, --warn-days would change nothing in a shard", "hint: give --thumbprint, --warn-days to 'starttls-probe merge', which judges the shards' observations (--name and --as go to both)"}},
		{name: "shard with a CA file", args: []string{"-o", "jsonl", "--shard", "0/2", "--ca-file", "{dir}/not-pem.crt", "{target}"},
			want: []string{"starttls-probe: error: --shard judges nothing: --ca-file would change nothing in a shard", "hint: give --ca-file to 'starttls-probe merge', which judges the shards' observations (--name and --as go to both)"}},
		{name: "shard with a domain", args: []string{"-o", "jsonl", "--shard", "0/2", "--domain", "contoso.com", "{target}"},
			want: []string{"starttls-probe: error: --shard and --domain conflict", "hint: run --domain without --shard: merge judges the endpoints, not a domain's policy"}},
		{name: "merge a file that is not JSONL", args: []string{"merge", "{dir}/not-pem.crt"},
			want: []string{"starttls-probe: error: {dir}/not-pem.crt:1: not a JSON line: invalid character 'h' in literal true (expecting 'r')", "hint: merge reads the JSONL that starttls-probe --shard K/N -o jsonl writes"}},
		{name: "merge an unfinished shard", args: []string{"merge", "{dir}/unfinished.jsonl"},
			want: []string{"starttls-probe: error: {dir}/unfinished.jsonl has no summary line: its run did not finish", "hint: run the shard again: its last line is the summary line"}},
		{name: "merge a shard missing", args: []string{"merge", "{dir}/shard-0.jsonl"},
			want: []string{"starttls-probe: error: shard 1/2 missing: the run is not whole", shardsHint}},
		{name: "merge a shard twice", args: []string{"merge", "{dir}/shard-0.jsonl", "{dir}/shard-0.jsonl"},
			want: []string{"starttls-probe: error: {dir}/shard-0.jsonl and {dir}/shard-0.jsonl are both shard 0/2", shardsHint}},
		{name: "merge shards of two runs", args: []string{"merge", "{dir}/shard-0.jsonl", "{dir}/shard-0-of-3.jsonl"},
			want: []string{"starttls-probe: error: {dir}/shard-0-of-3.jsonl is shard 0/3, another file is of 2 shards", shardsHint}},
		{name: "merge a run that was not sharded", args: []string{"merge", "{dir}/whole.jsonl"},
			want: []string{"starttls-probe: error: {dir}/whole.jsonl was not written by a --shard run (its summary line names no shard)", shardsHint}},
		{name: "merge a bad expectation", args: []string{"merge", "--warn-days", "3", "--crit-days", "5", "{dir}/unsharded.jsonl"},
			want: []string{"starttls-probe: error: --crit-days (5) must be between 0 and --warn-days (3)", "hint: for example --warn-days 30 --crit-days 7"}},
		{name: "rate negative", args: []string{"--rate", "-5", "{target}"},
			want: []string{"starttls-probe: error: --rate must be a number of new connections per second, 0 or more, got -5", "hint: for example --rate 50 (new connections per second), or 0 for no limit"}},
		{name: "rate not a number", args: []string{"--rate", "NaN", "{target}"},
			want: []string{"starttls-probe: error: --rate must be a number of new connections per second, 0 or more, got NaN", "hint: for example --rate 50 (new connections per second), or 0 for no limit"}},
		{name: "4 and 6", args: []string{"-4", "-6", "{target}"},
			want: []string{"starttls-probe: error: -4 and -6 conflict", "hint: give one of them, or neither for both families"}},

		// The dialogue.
		{name: "sni and no-sni", args: []string{"--sni", "mail.contoso.test", "--no-sni", "{target}"},
			want: []string{"starttls-probe: error: --sni and --no-sni conflict", "hint: give one of them"}},
		{name: "ehlo with a line break", args: []string{"--ehlo", "x\r\nRCPT TO:<victim@example.com>", "{target}"},
			want: []string{`starttls-probe: error: --ehlo: EHLO name "x\r\nRCPT TO:<victim@example.com>": character '\r' not allowed in a host name`, "hint: for example --ehlo probe.contoso.com or --ehlo [192.0.2.7]"}},

		{name: "rcpt-test not a mailbox", args: []string{"--rcpt-test", "postmaster", "{target}"},
			want: []string{`starttls-probe: error: --rcpt-test: address "postmaster": not a plain mailbox such as postmaster@contoso.com`, rcptHint}},
		{name: "rcpt-test with brackets", args: []string{"--rcpt-test", "<postmaster@contoso.test>", "{target}"},
			want: []string{`starttls-probe: error: --rcpt-test: address "<postmaster@contoso.test>": character '<' not allowed: give a plain mailbox such as postmaster@contoso.com`, rcptHint}},
		{name: "rcpt-test with a line break", args: []string{"--rcpt-test", "postmaster@contoso.test\r\nDATA", "{target}"},
			want: []string{`starttls-probe: error: --rcpt-test: address "postmaster@contoso.test\r\nDATA": character '\r' not allowed: give a plain mailbox such as postmaster@contoso.com`, rcptHint}},
		{name: "rcpt-test without the test", args: []string{"--rcpt-test", "postmaster@contoso.test", "--no-tls-required-test", "{target}"},
			want: []string{"starttls-probe: error: --rcpt-test and --no-tls-required-test conflict: RCPT is sent by the TLS-required test", "hint: give one of them"}},
		{name: "ehlo not a name", args: []string{"--ehlo", "a b", "{target}"},
			want: []string{`starttls-probe: error: --ehlo: EHLO name "a b": character ' ' not allowed in a host name`, "hint: for example --ehlo probe.contoso.com or --ehlo [192.0.2.7]"}},

		// Expectations.
		{name: "domain with a port", args: []string{"--domain", "contoso.test:25", "{target}"},
			want: []string{`starttls-probe: error: --domain "contoso.test:25" is not a domain name`, "hint: give the mail domain the hosts receive for, e.g. --domain contoso.com"}},
		{name: "domain and no-policy", args: []string{"--domain", "contoso.test", "--no-policy", "{target}"},
			want: []string{"starttls-probe: error: --domain and --no-policy conflict: --domain asks for the domain's policy", "hint: give one of them"}},
		{name: "domain and mx", args: []string{"--domain", "contoso.test", "--mx", "{target}"},
			want: []string{"starttls-probe: error: --domain and --mx conflict", "hint: leave out --domain: each --mx target is its own mail domain"}},
		{name: "name with a port", args: []string{"-n", "mail.contoso.test:25", "{target}"},
			want: []string{`starttls-probe: error: --name "mail.contoso.test:25" is not a host name`, "hint: give the FQDN the certificate must cover, e.g. -n mail.contoso.com"}},
		{name: "crit-days above warn-days", args: []string{"--warn-days", "5", "--crit-days", "10", "{target}"},
			want: []string{"starttls-probe: error: --crit-days (10) must be between 0 and --warn-days (5)", "hint: for example --warn-days 30 --crit-days 7"}},
		{name: "warn-days negative", args: []string{"--warn-days", "-1", "{target}"},
			want: []string{"starttls-probe: error: --crit-days (0) must be between 0 and --warn-days (-1)", "hint: for example --warn-days 30 --crit-days 7"}},
		{name: "thumbprint not hex", args: []string{"--thumbprint", "xyz", "{target}"},
			want: []string{`starttls-probe: error: --thumbprint: thumbprint "xyz": not hexadecimal`, "hint: copy it from Get-ExchangeCertificate or from this tool's SHA-1 line"}},
		{name: "thumbprint short", args: []string{"--thumbprint", "ABCDEF", "{target}"},
			want: []string{`starttls-probe: error: --thumbprint: thumbprint "ABCDEF": want 40 hex digits (SHA-1) or 64 (SHA-256), got 6`, "hint: copy it from Get-ExchangeCertificate or from this tool's SHA-1 line"}},
		{name: "tls-certificate-name malformed", args: []string{"--tls-certificate-name", "CN=mail", "{target}"},
			want: []string{`starttls-probe: error: --tls-certificate-name: it must start with "<I>" (the issuer), then "<S>" and the subject`, `hint: copy it from (Get-ReceiveConnector "<server>\Default Frontend <server>").TlsCertificateName, or from this tool's TlsCertificateName line`}},
		{name: "ca-file missing", args: []string{"--ca-file", "{dir}/missing-ca.pem", "{target}"},
			want: []string{"starttls-probe: error: --ca-file: open {dir}/missing-ca.pem: no such file or directory", "hint: give a readable PEM file of CA certificates"}},
		{name: "ca-file unreadable", args: []string{"--ca-file", "{dir}", "{target}"},
			want: []string{"starttls-probe: error: --ca-file: read {dir}: is a directory", "hint: give a readable PEM file of CA certificates"}},
		{name: "ca-file not PEM", args: []string{"--ca-file", notPEM, "{target}"},
			want: []string{"starttls-probe: error: --ca-file {dir}/not-pem.crt: no certificate found in it", `hint: the file must hold PEM "BEGIN CERTIFICATE" blocks`}},

		{name: "completion for an unknown shell", args: []string{"--completion", "fish"},
			want: []string{`starttls-probe: error: no completion for shell "fish"`, "hint: use --completion bash, zsh or powershell"}},

		// Nagios reads stdout: a usage error there gets its status line.
		{name: "nagios usage error", args: []string{"-o", "nagios", "--timeout", "5", "{target}"},
			want:   []string{`starttls-probe: error: invalid value "5" for --timeout`, "hint: use 5s"},
			nagios: `STARTTLS UNKNOWN - invalid value "5" for --timeout`},
		{name: "nagios usage error after the flag", args: []string{"{target}", "--output=nagios", "--prot", "25"},
			want:   []string{"starttls-probe: error: unknown flag --prot", "hint: did you mean --port?"},
			nagios: "STARTTLS UNKNOWN - unknown flag --prot"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server := probetest.NewScript(t, probetest.Script{
				Greeting: []string{"220 mx.test ESMTP"},
				EHLO:     []string{"250-mx.test", "250 STARTTLS"},
			})
			fill := strings.NewReplacer("{target}", server.Addr(), "{dir}", dir).Replace
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = fill(a)
			}
			r := runCLI(t, tc.stdin, nil, args...)
			if r.code != exitUsage {
				t.Errorf("want exit 3, got %s", r)
			}
			var want []string
			for _, line := range tc.want {
				want = append(want, fill(line))
			}
			if got := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); !slices.Equal(got, want) {
				t.Errorf("stderr:\n got %q\nwant %q", got, want)
			}
			wantStdout := ""
			if tc.nagios != "" {
				wantStdout = tc.nagios + "\n"
			}
			if r.stdout != wantStdout {
				t.Errorf("stdout %q, want %q", r.stdout, wantStdout)
			}
			if cmds := server.Commands(); len(cmds) > 0 {
				t.Errorf("bad input still probed: the server heard %q", cmds)
			}
		})
	}
}

// TestOutputs runs every output format against a loopback server and reads
// what came out the way its consumer would: JSON decoded, Prometheus parsed,
// the Nagios status line by its prefix.
func TestOutputs(t *testing.T) {
	t.Parallel()
	healthy, trust := healthyHost(t, false)
	broken, brokenTrust := healthyHost(t, true)
	type check func(t *testing.T, r cliRun, dir string)
	wantJSONStatus := func(status string) check {
		return func(t *testing.T, r cliRun, _ string) {
			var doc struct {
				Status  string `json:"status"`
				Results []struct {
					ExpectedName string `json:"expected_name"`
					Status       string `json:"status"`
				} `json:"results"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, r)
			}
			if doc.Status != status || len(doc.Results) != 1 || doc.Results[0].ExpectedName != "mx.test" {
				t.Errorf("JSON status %q with %d results %+v, want %q with one for mx.test", doc.Status, len(doc.Results), doc.Results, status)
			}
		}
	}
	wantPrometheus := func(t *testing.T, text string) {
		t.Helper()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatalf("not the Prometheus text format: %v\n%s", err, text)
		}
		success, ok := families["starttls_probe_success"]
		if !ok || len(success.GetMetric()) != 1 || success.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Errorf("want one starttls_probe_success of 1, got %v", success)
		}
	}
	wantStdoutPrefix := func(prefix string) check {
		return func(t *testing.T, r cliRun, _ string) {
			if !strings.HasPrefix(r.stdout, prefix) {
				t.Errorf("stdout does not start with %q:\n%s", prefix, r)
			}
		}
	}
	cases := []struct {
		name     string
		args     []string
		wantCode int
		check    check
	}{
		{name: "text", args: append([]string{healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, _ string) {
				first, _, _ := strings.Cut(r.stdout, "\n")
				if !strings.HasPrefix(first, healthy+" ") || !strings.HasSuffix(first, " OK") {
					t.Errorf("first line %q, want the endpoint with OK", first)
				}
				if strings.Contains(r.stdout, "\x1b[") {
					t.Errorf("colour when stdout is not a terminal:\n%q", r.stdout)
				}
			}},
		{name: "text critical", args: append([]string{broken}, brokenTrust...), wantCode: 2,
			check: func(t *testing.T, r cliRun, _ string) {
				if !strings.Contains(r.stdout, "STARTTLS not offered") {
					t.Errorf("the report does not say why:\n%s", r)
				}
			}},
		{name: "json", args: append([]string{"-o", "json", healthy}, trust...), wantCode: 0, check: wantJSONStatus("ok")},
		{name: "json critical", args: append([]string{"-o", "json", broken}, brokenTrust...), wantCode: 2, check: wantJSONStatus("critical")},
		{name: "jsonl", args: append([]string{"-o", "jsonl", "-p", "25", "-p", "587", healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, _ string) {
				lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
				if len(lines) != 2 {
					t.Fatalf("want a line for the one endpoint (a port in the target wins over -p) and the summary line, got %d:\n%s", len(lines), r)
				}
				var line struct {
					Type         string `json:"type"`
					ExpectedName string `json:"expected_name"`
					Status       string `json:"status"`
					Endpoints    int    `json:"endpoints"`
					OK           int    `json:"ok"`
					ExitCode     *int   `json:"exit_code"`
				}
				if err := json.Unmarshal([]byte(lines[0]), &line); err != nil || line.Type != "endpoint" || line.ExpectedName != "mx.test" || line.Status != "ok" {
					t.Errorf("line %q: %+v, %v", lines[0], line, err)
				}
				line = struct {
					Type         string `json:"type"`
					ExpectedName string `json:"expected_name"`
					Status       string `json:"status"`
					Endpoints    int    `json:"endpoints"`
					OK           int    `json:"ok"`
					ExitCode     *int   `json:"exit_code"`
				}{}
				if err := json.Unmarshal([]byte(lines[1]), &line); err != nil || line.Type != "summary" || line.Status != "ok" ||
					line.Endpoints != 1 || line.OK != 1 || line.ExitCode == nil || *line.ExitCode != 0 {
					t.Errorf("summary line %q: %+v, %v", lines[1], line, err)
				}
			}},
		{name: "nagios", args: append([]string{"-o", "nagios", healthy}, trust...), wantCode: 0, check: wantStdoutPrefix("STARTTLS OK - ")},
		{name: "target file from Windows PowerShell 5.1: UTF-16 LE, BOM, CRLF", args: append([]string{"-o", "nagios", "-f", "{dir}/utf16.txt"}, trust...), wantCode: 0, check: wantStdoutPrefix("STARTTLS OK - ")},
		{name: "nagios critical", args: append([]string{"-o", "nagios", broken}, brokenTrust...), wantCode: 2, check: wantStdoutPrefix("STARTTLS CRITICAL - ")},
		{name: "prometheus", args: append([]string{"-o", "prometheus", healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, _ string) { wantPrometheus(t, r.stdout) }},
		{name: "pem", args: append([]string{"-o", "pem", healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, _ string) {
				if !strings.HasPrefix(r.stdout, "# "+healthy+", address 127.0.0.1") || !strings.Contains(r.stdout, "\n-----BEGIN CERTIFICATE-----\n") {
					t.Errorf("want a comment naming the endpoint, then the chain as PEM:\n%s", r)
				}
			}},
		{name: "output-file", args: append([]string{"-o", "prometheus", "--output-file", "{dir}/starttls.prom", healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, dir string) {
				if r.stdout != "" {
					t.Errorf("stdout with --output-file: %q", r.stdout)
				}
				data, err := os.ReadFile(filepath.Join(dir, "starttls.prom"))
				if err != nil {
					t.Fatal(err)
				}
				wantPrometheus(t, string(data))
				if entries, _ := os.ReadDir(dir); len(entries) != 1 {
					t.Errorf("the directory holds %d files, want only the report: a temporary file was left", len(entries))
				}
			}},
		{name: "json output-file", args: append([]string{"-o", "json", "--output-file", "{dir}/starttls.json", healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, dir string) {
				if r.stdout != "" {
					t.Errorf("stdout with --output-file: %q", r.stdout)
				}
				data, err := os.ReadFile(filepath.Join(dir, "starttls.json"))
				if err != nil {
					t.Fatal(err)
				}
				wantJSONStatus("ok")(t, cliRun{stdout: string(data)}, dir)
			}},
		{name: "json quiet ok", args: append([]string{"-q", "-o", "json", healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, _ string) {
				if r.stdout != "" {
					t.Errorf("-q -o json printed on a healthy host:\n%s", r)
				}
			}},
		{name: "json quiet critical", args: append([]string{"-q", "-o", "json", broken}, brokenTrust...), wantCode: 2, check: wantJSONStatus("critical")},
		{name: "quiet ok", args: append([]string{"-q", healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, _ string) {
				if r.stdout != "" {
					t.Errorf("-q printed on a healthy host:\n%s", r)
				}
			}},
		{name: "quiet critical", args: append([]string{"--quiet", "-o", "nagios", broken}, brokenTrust...), wantCode: 2, check: wantStdoutPrefix("STARTTLS CRITICAL - ")},
		{name: "flags after the target", args: append([]string{healthy, "-o", "nagios"}, trust...), wantCode: 0, check: wantStdoutPrefix("STARTTLS OK - ")},
		{name: "warn-days below the default crit-days", args: append([]string{"--warn-days", "5", "-o", "nagios", healthy}, trust...), wantCode: 0,
			check: func(t *testing.T, r cliRun, _ string) {
				// The Nagios days_left threshold shows the crit-days used.
				if !strings.HasPrefix(r.stdout, "STARTTLS OK - ") || !strings.Contains(r.stdout, ";5:;5:") {
					t.Errorf("--warn-days 5 alone: want crit-days lowered to 5:\n%s", r)
				}
			}},
		{name: "output-file cannot be written: report on stdout", args: append([]string{"-o", "json", "--output-file", "{dir}/a-directory", healthy}, trust...), wantCode: 3,
			check: func(t *testing.T, r cliRun, dir string) {
				wantJSONStatus("ok")(t, r, dir)
				lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
				if len(lines) != 2 || !strings.HasPrefix(lines[0], "starttls-probe: error: writing the report: ") ||
					lines[1] != "hint: the report follows on stdout; give --output-file a path you can write to" {
					t.Errorf("stderr: %q", lines)
				}
			}},
		{name: "corrupt baseline: the report without its verdict", args: append([]string{"-o", "json", "--baseline", "{dir}/corrupt.json", healthy}, trust...), wantCode: 3,
			check: func(t *testing.T, r cliRun, dir string) {
				wantJSONStatus("ok")(t, r, dir)
				if lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "starttls-probe: error: baseline "+dir+"/corrupt.json is not a starttls-probe baseline") {
					t.Errorf("stderr: %q", lines)
				}
			}},
		{name: "corrupt baseline, nagios: only the UNKNOWN line", args: append([]string{"-o", "nagios", "--baseline", "{dir}/corrupt.json", healthy}, trust...), wantCode: 3,
			check: func(t *testing.T, r cliRun, _ string) {
				if !strings.HasPrefix(r.stdout, "STARTTLS UNKNOWN - baseline ") || strings.Count(r.stdout, "\n") != 1 {
					t.Errorf("want one UNKNOWN status line, got %s", r)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if slices.Contains(tc.args, "{dir}/corrupt.json") {
				if err := os.WriteFile(filepath.Join(dir, "corrupt.json"), []byte(`{"format": "starttls-probe baseline", "version": 1, "endpoints": [`), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// A directory where the report file should be: the
			// directory check passes, and the rename at the end fails.
			if slices.Contains(tc.args, "{dir}/utf16.txt") {
				content, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String("# from Out-File\r\n" + healthy + "\r\n")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "utf16.txt"), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if slices.Contains(tc.args, "{dir}/a-directory") {
				if err := os.Mkdir(filepath.Join(dir, "a-directory"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "{dir}", dir)
			}
			r := runCLI(t, "", nil, args...)
			if r.code != tc.wantCode {
				t.Errorf("want exit %d, got %s", tc.wantCode, r)
			}
			tc.check(t, r, dir)
		})
	}
}

// TestWordsThatAreNotHosts checks that help and version do what a user
// typing them means, and that "--" still probes a host by such a name.
func TestWordsThatAreNotHosts(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := runCLI(t, "", nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "USAGE:") || r.stderr != "" {
			t.Errorf("%q: want the help on stdout and exit 0, got %s", args, r)
		}
	}
	if r := runCLI(t, "", nil, "help", "demo"); r.code != 0 || !strings.Contains(r.stdout, "starttls-probe demo [flags]") || r.stderr != "" {
		t.Errorf("help demo: want the demo's help, got %s", r)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, "", nil, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "starttls-probe ") || strings.Count(r.stdout, "\n") != 1 || r.stderr != "" {
			t.Errorf("%q: want one version line and exit 0, got %s", args, r)
		}
	}
	// A host named version, from an empty zone on loopback: it is
	// looked up, not taken for the command.
	r := runCLI(t, "", nil, "--resolver", "127.0.0.1:9", "--timeout", "2s", "-p", "25", "-o", "nagios", "--", "version")
	if r.code != 3 || !strings.HasPrefix(r.stdout, "STARTTLS UNKNOWN - version:25") {
		t.Errorf("-- version: want the host probed (and unresolved), got %s", r)
	}
}

// TestHelpFitsTheTerminal checks that --help fits 80 columns, the width of
// a default terminal and of a PowerShell window.
func TestHelpFitsTheTerminal(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"demo", "--help"}} {
		r := runCLI(t, "", nil, args...)
		for i, line := range strings.Split(r.stdout, "\n") {
			if n := len([]rune(line)); n > 80 {
				t.Errorf("%q line %d is %d columns: %q", args, i+1, n, line)
			}
		}
	}
}

// TestCompletion runs the bash script the way bash completion does, and
// checks that the zsh and PowerShell scripts know every flag.
func TestCompletion(t *testing.T) {
	t.Parallel()
	bashScript := runCLI(t, "", nil, "--completion", "bash")
	if bashScript.code != 0 || bashScript.stderr != "" {
		t.Fatalf("--completion bash: %s", bashScript)
	}
	if bash, err := exec.LookPath("bash"); err != nil {
		t.Log("SKIPPED: no bash, so the bash completion is not run")
	} else {
		for line, want := range map[string]string{
			"starttls-probe --po":           "--port",
			"starttls-probe -o json":        "json jsonl",
			"starttls-probe --completion p": "powershell",
			"starttls-probe de":             "demo",
			"starttls-probe --timeout ":     "",
		} {
			words := strings.Fields(line)
			if strings.HasSuffix(line, " ") {
				words = append(words, "")
			}
			quoted := make([]string, len(words))
			for i, w := range words {
				quoted[i] = "'" + w + "'"
			}
			cmd := exec.Command(bash, "--norc", "-c", `eval "$SCRIPT"; COMP_WORDS=(`+strings.Join(quoted, " ")+`); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _starttls_probe; echo "${COMPREPLY[*]}"`)
			cmd.Env = []string{"SCRIPT=" + bashScript.stdout, "PATH=" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			if got := strings.TrimSpace(string(out)); err != nil || got != want {
				t.Errorf("completing %q: got %q (%v), want %q", line, got, err, want)
			}
		}
	}
	app := newApp(nil, nil, nil, nil)
	for _, shell := range []string{"zsh", "powershell"} {
		r := runCLI(t, "", nil, "--completion", shell)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("--completion %s: %s", shell, r)
		}
		words := strings.FieldsFunc(r.stdout, func(c rune) bool { return strings.ContainsRune(" '\"|(),\n", c) })
		for _, f := range app.Flags {
			for _, n := range f.Names() {
				if !slices.Contains(words, dashed(n)) {
					t.Errorf("--completion %s does not know %s", shell, dashed(n))
				}
			}
		}
	}
}

func TestManPage(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", nil, "--man")
	if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, ".nh\n.TH starttls-probe 1") {
		t.Fatalf("--man: want a roff page of section 1, got %s", r)
	}
	for _, want := range []string{".SH NAME", "--tls-certificate-name", "--warn-days"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the manual page lacks %q", want)
		}
	}
}

func TestFlagsFirst(t *testing.T) {
	t.Parallel()
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "port", Aliases: []string{"p"}},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}},
	}
	commands := []string{"demo"}
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"nothing", []string{"p"}, []string{"p"}},
		{"flags already first", []string{"p", "-p", "25", "mx"}, []string{"p", "-p", "25", "--", "mx"}},
		{"flag after the target", []string{"p", "mx", "-p", "587"}, []string{"p", "-p", "587", "--", "mx"}},
		{"bool flag takes no value", []string{"p", "mx", "-q", "mx2"}, []string{"p", "-q", "--", "mx", "mx2"}},
		{"flag=value", []string{"p", "mx", "--output=json"}, []string{"p", "--output=json", "--", "mx"}},
		{"value that looks like a target stays", []string{"p", "-o", "json", "mx"}, []string{"p", "-o", "json", "--", "mx"}},
		{"-- ends the flags", []string{"p", "--", "-x", "mx"}, []string{"p", "--", "-x", "mx"}},
		{"missing value ends the line", []string{"p", "mx", "-p"}, []string{"p", "-p"}},
		{"unknown flag kept for urfave to refuse", []string{"p", "mx", "--bogus"}, []string{"p", "--bogus", "--", "mx"}},
		{"a lone dash is a target", []string{"p", "-"}, []string{"p", "--", "-"}},
		{"subcommand first", []string{"p", "demo", "-o", "json"}, []string{"p", "demo", "-o", "json"}},
		{"flags before the subcommand go after it", []string{"p", "-o", "json", "demo"}, []string{"p", "demo", "-o", "json"}},
		{"a command word after a target is a target", []string{"p", "mx", "demo"}, []string{"p", "--", "mx", "demo"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tc.in)
			if got := flagsFirst(tc.in, flags, commands); !slices.Equal(got, tc.want) {
				t.Errorf("flagsFirst(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !slices.Equal(in, tc.in) {
				t.Errorf("flagsFirst changed its input to %q", tc.in)
			}
		})
	}
}

func TestNearestFlag(t *testing.T) {
	t.Parallel()
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "port", Aliases: []string{"p"}},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}},
		&cli.StringFlag{Name: "output-file"},
		&cli.BoolFlag{Name: "4"},
	}
	for typed, want := range map[string]string{
		"prot":       "--port",
		"ports":      "--port",
		"ouput":      "--output",
		"output-fil": "--output-file",
		"outp":       "--output", // begins two flags, and is two edits from one
		"x":          "",
		"5":          "",
		"bogus":      "",
	} {
		if got := nearestFlag(typed, flags); got != want {
			t.Errorf("nearestFlag(%q) = %q, want %q", typed, got, want)
		}
	}
}

func TestParseResolverAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1:5353": "127.0.0.1:5353",
		"[::1]:53":       "[::1]:53",
		"127.0.0.1":      "127.0.0.1:53",
		"::1":            "[::1]:53",
	} {
		got, err := parseResolverAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("parseResolverAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "dns.example:53", "127.0.0.1:x"} {
		if _, err := parseResolverAddr(bad); err == nil {
			t.Errorf("parseResolverAddr(%q) succeeded, want an error", bad)
		}
	}
}

func TestAddressFamily(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		only4, only6 bool
		want         string
	}{{false, false, "ip"}, {true, false, "ip4"}, {false, true, "ip6"}, {true, true, "ip"}} {
		if got := addressFamily(tc.only4, tc.only6); got != tc.want {
			t.Errorf("addressFamily(%v, %v) = %q, want %q", tc.only4, tc.only6, got, tc.want)
		}
	}
}

// TestDemoSaysItsExitStatus checks the demo's last words: it ends CRITICAL
// on purpose, and go run prints that as "exit status 2", so the last line
// of a text run says so and what each status means. JSON keeps stderr
// empty for scripts.
func TestDemoSaysItsExitStatus(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", nil, "demo")
	if r.code != 2 {
		t.Fatalf("want exit 2, got %s", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	want := []string{
		"demo: exit status 2; its 587 listener presents a certificate for another name on purpose, so the demo ends CRITICAL.",
		`exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (go run prints a status other than 0 as "exit status N")`,
	}
	if len(lines) < 2 || !slices.Equal(lines[len(lines)-2:], want) {
		t.Errorf("stderr ends with %q, want %q", lines[max(0, len(lines)-2):], want)
	}
	if j := runCLI(t, "", nil, "demo", "-o", "json"); j.code != 2 || j.stderr != "" {
		t.Errorf("demo -o json: want exit 2 and nothing on stderr, got %s", j)
	}
	// Every format works in the demo, JSONL too: three endpoint lines, the
	// 587 listener's other certificate as a group line, the summary last.
	l := runCLI(t, "", nil, "demo", "-o", "jsonl")
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(l.stdout), "\n") {
		var v struct{ Type string }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("demo -o jsonl: line %q: %v", line, err)
		}
		types = append(types, v.Type)
	}
	if want := []string{"endpoint", "endpoint", "endpoint", "certificate_group", "summary"}; l.code != 2 || !slices.Equal(types, want) {
		t.Errorf("demo -o jsonl: exit %d, line types %q, want 2 and %q\n%s", l.code, types, want, l)
	}
}

// TestPowerShellExamples runs the command lines of the README's Windows
// section (pwsh is not needed: the flags are the same on every OS) and
// checks what the PowerShell around them reads: the JSON fields and their
// types as ConvertFrom-Json would see them, the thumbprint round trip into
// --thumbprint, -q's silence when all is well, and the textfile
// collector's file written by --output-file.
func TestPowerShellExamples(t *testing.T) {
	t.Parallel()
	target, trust := healthyHost(t, false)
	dir := t.TempDir()

	// $report = starttls-probe -o json -p 25 -p 587 mail.contoso.com | Out-String | ConvertFrom-Json
	r := runCLI(t, "", nil, append([]string{"-o", "json", "-p", "25", "-p", "587", target}, trust...)...)
	if r.code != 0 {
		t.Fatalf("json: %s", r)
	}
	var report map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r)
	}
	if s, ok := report["status"].(string); !ok || s != "ok" {
		t.Errorf("$report.status = %#v, want the string ok", report["status"])
	}
	results, ok := report["results"].([]any)
	if !ok || len(results) == 0 {
		t.Fatalf("$report.results = %#v, want an array", report["results"])
	}
	var sha1 string
	for _, res := range results {
		res, _ := res.(map[string]any)
		if _, ok := res["port"].(float64); !ok {
			t.Errorf("results[].port = %#v, want a number", res["port"])
		}
		if _, ok := res["status"].(string); !ok {
			t.Errorf("results[].status = %#v, want a string", res["status"])
		}
		chain, _ := res["chain"].([]any)
		if len(chain) == 0 {
			t.Fatalf("results[].chain = %#v, want the presented chain", res["chain"])
		}
		leaf, _ := chain[0].(map[string]any)
		sha1, _ = leaf["sha1"].(string)
		// Get-ExchangeCertificate's Thumbprint: 40 upper-case hex digits.
		if len(sha1) != 40 || strings.Trim(sha1, "0123456789ABCDEF") != "" {
			t.Errorf("results[].chain[0].sha1 = %#v, want 40 upper-case hex digits", leaf["sha1"])
		}
		if _, ok := leaf["days_left"].(float64); !ok {
			t.Errorf("results[].chain[0].days_left = %#v, want a number", leaf["days_left"])
		}
	}

	// starttls-probe --thumbprint ($smtp | Select-Object -First 1).Thumbprint -p 25 mail.contoso.com
	if r := runCLI(t, "", nil, append([]string{"--thumbprint", sha1, "-p", "25", target}, trust...)...); r.code != 0 {
		t.Errorf("--thumbprint of the presented certificate: want exit 0, got %s", r)
	}
	other := strings.Repeat("AB", 20)
	if r := runCLI(t, "", nil, append([]string{"--thumbprint", other, "-p", "25", target}, trust...)...); r.code != 2 {
		t.Errorf("--thumbprint of another certificate: want exit 2, got %s", r)
	}

	// check.ps1: starttls-probe.exe -q --baseline ...\baseline.json mail.contoso.com 2>&1
	baseline := filepath.Join(dir, "baseline.json")
	for run := range 2 {
		r := runCLI(t, "", nil, append([]string{"-q", "--baseline", baseline, target}, trust...)...)
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("scheduled check, run %d: want exit 0 and no output, got %s", run+1, r)
		}
	}

	// starttls-probe -o prometheus -p 25 -p 587 mail.contoso.com --output-file ...\textfile_inputs\starttls.prom
	inputs := filepath.Join(dir, "textfile_inputs")
	if err := os.Mkdir(inputs, 0o755); err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(inputs, "starttls.prom")
	r = runCLI(t, "", nil, append([]string{"-o", "prometheus", "-p", "25", "-p", "587", target, "--output-file", prom}, trust...)...)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("prometheus --output-file: %s", r)
	}
	data, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	// windows_exporter reads UTF-8 without a byte-order mark.
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) || bytes.HasPrefix(data, []byte("\xFF\xFE")) {
		t.Errorf("the textfile starts with a byte-order mark: %q", data[:3])
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v", err)
	}
	if _, ok := families["starttls_probe_success"]; !ok {
		t.Errorf("no starttls_probe_success in the textfile")
	}
}

// TestREADMENamesTheGoVersion checks that the Go version the README's
// install sections name is the one go.mod requires.
func TestREADMENamesTheGoVersion(t *testing.T) {
	t.Parallel()
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var goVersion string
	for _, line := range strings.Split(string(gomod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = strings.TrimSpace(v)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if goVersion == "" || strings.Count(string(readme), "Go "+goVersion+" or later") < 2 {
		t.Errorf("README.md should name \"Go %s or later\" (go.mod) in Install and in Windows", goVersion)
	}
}

// serveConfig writes an exporter config whose module "smtp" judges the
// healthy host's port with the flags trust gives, and returns its path.
func serveConfig(t *testing.T, dir, addr string, trust []string, extra string) string {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	path := filepath.Join(dir, "starttls-probe.yml")
	config := fmt.Sprintf("modules:\n  smtp:\n    ports: [%s]\n    ca_file: %s\n    name: mx.test\n    tls_required_test: false\n    warn_days: 20\n    timeout: 20s\n%s", port, trust[1], extra)
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeConfigCheck: --config.check loads every module through the
// same validation as the flags, and refuses unknown keys.
func TestServeConfigCheck(t *testing.T) {
	t.Parallel()
	addr, trust := healthyHost(t, false)
	for _, tc := range []struct {
		name, extra string
		args        []string
		code        int
		says        string
	}{
		{"good", "", nil, 0, "ok: "},
		{"unknown key", "    warn_day: 3\n", nil, 3, "field warn_day not found"},
		{"bad thumbprint", "    thumbprint: zz\n", nil, 3, "module smtp: --thumbprint"},
		{"bad port", "  other:\n    ports: [smtpx]\n", nil, 3, "module other: --port"},
		{"crit above warn", "    crit_days: 40\n", nil, 3, "--crit-days (40) must be between 0 and --warn-days (20)"},
		{"bad ip_protocol", "    ip_protocol: ip5\n", nil, 3, `ip_protocol "ip5"`},
		{"bad allowed target", "allowed_targets: ['mail/contoso']\n", nil, 3, "allowed_targets"},
		{"policy options", "    domain: contoso.com\n    tls_scan: true\n    scan_connections: 2\n", nil, 0, "ok: "},
		{"domain with mx", "  other:\n    mx: true\n    domain: contoso.com\n", nil, 3, "--domain and --mx conflict"},
		{"unknown view", "    as: exchange-onprem\n", nil, 3, `unknown view "exchange-onprem"`},
		{"missing web config", "", []string{"--web.config.file", "/nonexistent/web.yml"}, 3, "--web.config.file"},
		{"a target", "", []string{"mail.contoso.com"}, 3, "serve takes no target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := serveConfig(t, t.TempDir(), addr, trust, tc.extra)
			r := runCLI(t, "", nil, append([]string{"serve", "--config.check", "--config.file", file}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.says) {
				t.Errorf("want exit %d saying %q, got %s", tc.code, tc.says, r)
			}
			if tc.code == exitUsage && !strings.Contains(r.stderr, "hint: ") {
				t.Errorf("no hint: %s", r)
			}
		})
	}
	if r := runCLI(t, "", nil, "serve", "--config.check", "--config.file", "/nonexistent.yml"); r.code != exitUsage || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("a missing file: %s", r)
	}
}

// lockedBuffer is a buffer the test reads while the server writes its log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe runs "starttls-probe serve" in-process on a free loopback
// port with the config and web config files until the test ends, and
// checks that it then exits 0; it returns the address and its log.
func startServe(t *testing.T, configFile, webConfig string) (string, *lockedBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"starttls-probe", "serve", "--web.listen-address", listen, "--config.file", configFile, "--web.config.file", webConfig},
			strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d after its context ended; stderr:\n%s", code, stderr.String())
		}
	})
	return listen, &stderr
}

// TestServe runs "starttls-probe serve" in-process on a loopback port,
// with basic auth from --web.config.file, probes the healthy host through
// it and reloads its config with SIGHUP.
func TestServe(t *testing.T) {
	addr, trust := healthyHost(t, false)
	dir := t.TempDir()
	file := serveConfig(t, dir, addr, trust, "")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, stderr := startServe(t, file, webConfig)
	get := func(path string, auth bool) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+listen+path, nil)
		if auth {
			req.SetBasicAuth("prometheus", "s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("never %s; stderr:\n%s", what, stderr.String())
	}
	waitFor("ready", func() bool { code, _ := get("/-/ready", true); return code == 200 })
	if code, _ := get("/-/ready", false); code != http.StatusUnauthorized {
		t.Errorf("without the password: %d, want 401", code)
	}
	code, body := get("/probe?module=smtp&target=127.0.0.1", true)
	if code != 200 || !strings.Contains(body, `starttls_probe_success{address="127.0.0.1"`) || !strings.Contains(body, "} 1\n") {
		t.Fatalf("/probe: %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(body)); err != nil {
		t.Errorf("/probe: %v", err)
	}

	if runtime.GOOS == "windows" {
		return
	}
	serveConfig(t, dir, addr, trust, "  again:\n    ports: [25]\n")
	self, _ := os.FindProcess(os.Getpid())
	if err := self.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("reloaded on SIGHUP", func() bool {
		_, body := get("/probe?target=x.test", true)
		return strings.Contains(body, "again, smtp")
	})
	if !strings.Contains(stderr.String(), "config loaded") {
		t.Errorf("the reload is not in the log:\n%s", stderr.String())
	}
}

// --rate and --address-concurrency reach the probe: three endpoints at 2
// new connections a second take at least the two intervals between them.
// A lower bound only, which a loaded machine cannot break.
func TestRateFlagSpacesConnections(t *testing.T) {
	t.Parallel()
	var targets []string
	var trust []string
	for range 3 {
		addr, flags := healthyHost(t, false)
		targets, trust = append(targets, addr), flags
	}
	start := time.Now()
	got := runCLI(t, "", nil, append(append(trust, "--rate", "2", "--address-concurrency", "1", "-o", "json"), targets...)...)
	took := time.Since(start)
	if got.code == 3 {
		t.Fatalf("want a run, got a usage error:\n%s", got)
	}
	// 900 ms, not 1 s: the limiter's first token is there at once and
	// timers may fire a little early against time.Now.
	if took < 900*time.Millisecond {
		t.Errorf("3 endpoints at --rate 2 took %s, want at least 900 ms:\n%s", took, got)
	}
}

// shardError is probe.ParseShard's own words for s.
func shardError(s string) string {
	_, err := probe.ParseShard(s)
	return err.Error()
}

// TestShardsMergeAsOneRun: three --shard runs and their merge give the same
// endpoint results and exit status as one run, and every endpoint lands in
// exactly one shard (issue 14). The servers are spread over loopback
// addresses, since shards split by address, and one address serves two
// ports, which must land in the same shard.
func TestShardsMergeAsOneRun(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("Shard Test Root")
	if err != nil {
		t.Fatal(err)
	}
	good, err := root.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := root.Issue(probetest.Spec{CommonName: "other.test", DNSNames: []string{"other.test"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(caFile, root.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	var targets []string
	serve := func(addr string, cfg probetest.Config) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening on %s (Linux answers on all of 127.0.0.0/8): %v", addr, err)
		}
		s := probetest.Serve(l, cfg)
		t.Cleanup(func() { s.Close() })
		targets = append(targets, s.Addr())
	}
	for i := 2; i <= 9; i++ {
		cfg := probetest.Config{Chain: good}
		switch i % 4 {
		case 1:
			cfg.Chain = wrong
		case 2:
			cfg.NoSTARTTLS = true
		}
		serve(fmt.Sprintf("127.0.0.%d:0", i), cfg)
	}
	serve("127.0.0.2:0", probetest.Config{Chain: wrong}) // a second port of 127.0.0.2
	// A target listed twice is probed once.
	targets = append(targets, targets[0])
	targetFile := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(targetFile, []byte(strings.Join(targets, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// merge takes what the endpoints are judged against, the shards how
	// they are probed; --name is both (the SNI, the name checked).
	expectations := []string{"--ca-file", caFile, "-n", "mx.test"}
	probing := []string{"--no-tls-required-test", "-f", targetFile, "-n", "mx.test"}

	single := runCLI(t, "", nil, append(append([]string{"-o", "json"}, probing...), expectations...)...)
	const shards = 3
	var shardFiles []string
	seen := map[string]int{}
	busy, certificates, references := 0, 0, 0
	for k := range shards {
		r := runCLI(t, "", nil, append([]string{"-o", "jsonl", "--shard", fmt.Sprintf("%d/%d", k, shards)}, probing...)...)
		if r.code != 0 {
			t.Fatalf("shard %d: %s", k, r)
		}
		eps, given, named := shardLines(t, r.stdout)
		certificates, references = certificates+given, references+named
		for _, ep := range eps {
			seen[ep]++
		}
		if len(eps) > 0 {
			busy++
		}
		file := filepath.Join(dir, fmt.Sprintf("shard-%d.jsonl", k))
		if err := os.WriteFile(file, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		shardFiles = append(shardFiles, file)
	}
	merged := runCLI(t, "", nil, append(append([]string{"merge", "-o", "json"}, expectations...), shardFiles...)...)
	if merged.code != single.code || single.code != 2 {
		t.Errorf("merged exit %d, single run %d (want 2: a port without STARTTLS)\nmerged:\n%s", merged.code, single.code, merged)
	}
	want, got := resultsByEndpoint(t, single.stdout), resultsByEndpoint(t, merged.stdout)
	if len(want) != len(targets)-1 {
		t.Fatalf("the single run has %d endpoints, want %d (the repeated target probed once)", len(want), len(targets)-1)
	}
	for ep, w := range want {
		if seen[ep] != 1 {
			t.Errorf("%s is in %d shards, want exactly one", ep, seen[ep])
		}
		if got[ep] != w {
			t.Errorf("%s: merged result differs from the single run's:\n got %s\nwant %s", ep, got[ep], w)
		}
	}
	if len(got) != len(want) || len(seen) != len(want) {
		t.Errorf("merged %d endpoints, shards %d, single run %d", len(got), len(seen), len(want))
	}
	if busy < 2 {
		t.Errorf("%d of %d shards probed anything: the addresses were not split", busy, shards)
	}
	// Four addresses present the good certificate in three shards: one
	// shard names it twice and gives it once.
	if certificates == 0 || certificates >= references {
		t.Errorf("the shards gave %d certificate lines for %d references: a certificate named twice in a file is given once", certificates, references)
	}
	if seen[targets[0]] != 1 || seen[targets[len(targets)-2]] != 1 {
		t.Fatalf("the two ports of 127.0.0.2 are missing: %v", seen)
	}

	// The merge in JSONL ends with the whole run's summary line.
	lines := runCLI(t, "", nil, append(append([]string{"merge", "-o", "jsonl"}, expectations...), shardFiles...)...)
	all := strings.Split(strings.TrimSpace(lines.stdout), "\n")
	var summary struct {
		Type      string `json:"type"`
		Endpoints int    `json:"endpoints"`
		ExitCode  int    `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(all[len(all)-1]), &summary); err != nil || summary.Type != "summary" ||
		summary.Endpoints != len(want) || summary.ExitCode != single.code || lines.code != single.code {
		t.Errorf("merged JSONL summary %+v (exit %d), want %d endpoints and exit %d: %v", summary, lines.code, len(want), single.code, err)
	}
	// A shard read from stdin ("-"), which merge keeps in a temporary file
	// to read twice, gives the same lines as its file.
	fromStdin, err := os.ReadFile(shardFiles[1])
	if err != nil {
		t.Fatal(err)
	}
	viaStdin := runCLI(t, string(fromStdin), nil, append(append([]string{"merge", "-o", "jsonl"}, expectations...), shardFiles[0], "-", shardFiles[2])...)
	if viaStdin.stdout != lines.stdout || viaStdin.code != lines.code {
		t.Errorf("merge with a shard on stdin (exit %d):\n%s\nwith its file (exit %d):\n%s", viaStdin.code, viaStdin, lines.code, lines.stdout)
	}
}

// TestMergeJudgesTheView: with --as exchange-online, merge judges the
// shards' scans as Exchange Online would, as a run does; without it, not.
// The endpoint is a loopback server in the role of port 25 (the view
// judges port 25 only), probed and scanned in-process, and written as a
// shard does.
func TestMergeJudgesTheView(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("View Test Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := probetest.NewServer(t, probetest.Config{Chain: chain})
	opts := probe.Options{Timeout: 10 * time.Second, TLSScan: true}
	results := probe.Run(context.Background(), []probe.Job{{Endpoint: srv.Endpoint("mx.test", 25)}}, opts, nil)
	if results[0].Scan == nil || results[0].Error != nil {
		t.Fatalf("probe with --tls-scan: error %v, scan %v", results[0].Error, results[0].Scan)
	}
	var lines, stderr bytes.Buffer
	shard := newShardRun(&lines, &stderr, probe.Shard{Index: 0, Count: 1})
	shard.add(results[0])
	if code := shard.finish(time.Now(), false); code != 0 {
		t.Fatalf("shard exit %d: %s", code, stderr.String())
	}
	dir := t.TempDir()
	file, caFile := filepath.Join(dir, "shard-0.jsonl"), filepath.Join(dir, "root.pem")
	if err := os.WriteFile(file, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, root.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	viewed := runCLI(t, "", nil, "merge", "-o", "json", "--as", "exchange-online", "--tls-domain", "mx.test", "--ca-file", caFile, file)
	plain := runCLI(t, "", nil, "merge", "-o", "json", "--ca-file", caFile, file)
	if !strings.Contains(viewed.stdout, `"exchange_online"`) || !strings.Contains(viewed.stdout, `"mx.test"`) {
		t.Errorf("merge --as exchange-online: no Exchange Online verdict:\n%s", viewed)
	}
	if strings.Contains(plain.stdout, `"exchange_online"`) {
		t.Errorf("merge without --as judged as Exchange Online:\n%s", plain)
	}
}

// observedEndpoint finds an observation line's endpoint without decoding
// the rest of the line, and finds the one a whole decode finds, however
// the server's or the user's words in the line spell the keys around it;
// a line laid out otherwise is decoded whole.
func TestObservedEndpointIsTheRecordsEndpoint(t *testing.T) {
	tricky := `mx.test","port":1},"endpoint":{"target":"evil`
	for _, rec := range []probe.Record{
		{V: probe.RecordVersion, Endpoint: probe.EndpointRecord{Target: "mx.test:587", Host: "mx.test", Port: 587, Address: "192.0.2.7", Domain: "contoso.com"}, Mode: probe.ModeSTARTTLS},
		{V: probe.RecordVersion, Endpoint: probe.EndpointRecord{Target: tricky, Host: tricky + "}", Port: 25, AsPort: 587, Implicit: true, DefaultPort: true}, Mode: probe.ModeImplicit,
			Banner: &probe.ReplyRecord{Code: 220, Lines: []string{`,"endpoint":{"target":"banner"}`}}},
	} {
		var line bytes.Buffer
		if err := render.JSONLinesObservation(&line, &rec); err != nil {
			t.Fatal(err)
		}
		got, err := observedEndpoint(bytes.TrimSuffix(line.Bytes(), []byte("\n")))
		if err != nil || got != rec.Endpoint.Endpoint() {
			t.Errorf("%s\ngave %+v, %v; want %+v", line.String(), got, err, rec.Endpoint.Endpoint())
		}
	}
	for _, other := range []string{
		render.ObservationPrefix + `"endpoint":{"target":"mx.test:25","host":"mx.test","port":25},"v":1}`,
		render.ObservationPrefix + `"v":"1","endpoint":{"target":"mx.test:25","host":"mx.test","port":25}}`,
	} {
		got, err := observedEndpoint([]byte(other))
		if want := (probe.Endpoint{Target: "mx.test:25", Host: "mx.test", Port: 25}); err != nil || got != want {
			t.Errorf("%s\ngave %+v, %v; want %+v", other, got, err, want)
		}
	}
	if _, err := observedEndpoint([]byte(render.ObservationPrefix + `"v":1,"endpoint":{"target":`)); err == nil {
		t.Error("a cut line gave no error")
	}
}

// observedTargets are the targets of a shard's observation lines; a shard
// judges nothing, so it writes no endpoint line, and its exit status is 0.
func observedTargets(t *testing.T, out string) []string {
	targets, _, _ := shardLines(t, out)
	return targets
}

// shardLines reads a shard's output: the targets it observed, how many
// certificate lines it gave and how many references its observations made
// to them. Each certificate is given once, before the first observation
// that names it, and no observation carries a chain's DER.
func shardLines(t *testing.T, out string) (targets []string, certificates, references int) {
	t.Helper()
	given := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l struct {
			Type        string
			Endpoint    struct{ Target string }
			SHA256      string   `json:"sha256"`
			Chain       []string `json:"chain"`
			ChainSHA256 []string `json:"chain_sha256"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch l.Type {
		case "certificate":
			if given[l.SHA256] {
				t.Errorf("certificate %s given twice", l.SHA256)
			}
			given[l.SHA256] = true
			certificates++
		case "observation":
			if l.Chain != nil {
				t.Errorf("%s: the observation carries its chain's DER, not references to certificate lines", l.Endpoint.Target)
			}
			for _, ref := range l.ChainSHA256 {
				if !given[ref] {
					t.Errorf("%s names certificate %s before it is given", l.Endpoint.Target, ref)
				}
			}
			references += len(l.ChainSHA256)
			targets = append(targets, l.Endpoint.Target)
		case "endpoint", "consistency", "certificate_group":
			t.Fatalf("a shard judged: %s", line)
		}
	}
	return targets, certificates, references
}

// resultsByEndpoint is each result of a JSON document by its target, as
// compact JSON without what differs between two probes of one server (the
// timings).
func resultsByEndpoint(t *testing.T, doc string) map[string]string {
	t.Helper()
	var d struct{ Results []map[string]any }
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("not a JSON document: %v\n%s", err, doc)
	}
	out := map[string]string{}
	for _, r := range d.Results {
		delete(r, "timings_ms")
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out[r["target"].(string)] = string(b)
	}
	return out
}

// TestServeOverTLS: --web.config.file's tls_server_config (exporter-toolkit)
// serves the exporter over HTTPS: a client that trusts the CA scrapes
// /probe, and a plain-HTTP request is refused (issue 15).
func TestServeOverTLS(t *testing.T) {
	t.Parallel()
	addr, trust := healthyHost(t, false)
	dir := t.TempDir()
	file := serveConfig(t, dir, addr, trust, "")
	root, err := probetest.NewRootCA("Exporter TLS Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "exporter.test", DNSNames: []string{"exporter.test"}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := chain.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, webConfig := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "web.yml")
	for path, content := range map[string][]byte{certFile: chain.PEM(), keyFile: key,
		webConfig: []byte("tls_server_config:\n  cert_file: " + certFile + "\n  key_file: " + keyFile + "\n")} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	listen, stderr := startServe(t, file, webConfig)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root.RootPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "exporter.test"}}}
	var code int
	var body string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get("https://" + listen + "/probe?module=smtp&target=127.0.0.1")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, string(b)
		break
	}
	if code != 200 || !strings.Contains(body, `starttls_probe_success{address="127.0.0.1"`) {
		t.Fatalf("/probe over HTTPS: %d\n%s\nstderr:\n%s", code, body, stderr.String())
	}
	// Plain HTTP to the TLS listener gets no metrics: Go's server answers
	// 400 to an HTTP request on a TLS port.
	if resp, err := http.Get("http://" + listen + "/probe?module=smtp&target=127.0.0.1"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "starttls_probe_success") {
			t.Errorf("plain HTTP was served metrics: %d\n%s", resp.StatusCode, b)
		}
	}
	// net/http's complaint about it is in the exporter's log.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "client sent an HTTP request to an HTTPS server"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the plain-HTTP request is not in the exporter's log:\n%s", stderr.String())
			break
		}
	}
}

// TestKeepGCHeadroom checks that the collector is told to wait for the
// headroom asked for when little is live, counting Go's heap minimum,
// which grows with the percentage, and no more than that needs (the
// percentage at most headroom over the minimum), and that stop gives Go's
// 100% back.
func TestKeepGCHeadroom(t *testing.T) {
	const headroom = 16 << 20
	stop := keepGCHeadroom(headroom)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		// SetGCPercent returns the setting it replaces: read it back.
		percent := debug.SetGCPercent(100)
		debug.SetGCPercent(percent)
		if percent > 100 {
			sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			metrics.Read(sample)
			live := sample[0].Value.Uint64()
			goal := max(live*uint64(100+percent)/100, goHeapMinimum*uint64(percent)/100)
			if goal-live < headroom/2 || percent > headroom*100/goHeapMinimum {
				t.Fatalf("GC percent %d with %d bytes live: room for %d bytes of garbage, want about %d and at most %d%%", percent, live, goal-live, headroom, headroom*100/goHeapMinimum)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percent still %d after 10 s of collections", percent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	runtime.GC()
	runtime.GC()
	if percent := debug.SetGCPercent(100); percent != 100 {
		t.Fatalf("after stop, GC percent %d, want 100", percent)
	}
}

// TestEachCommandTunesItsCollector: serve asks for the daemon's headroom
// before it loads anything, a shard for its GC percentage, merge for its;
// a probe run keeps the batch headroom main set and asks for nothing.
func TestEachCommandTunesItsCollector(t *testing.T) {
	var asked []gcRole
	tuneGC = func(role gcRole) { asked = append(asked, role) }
	defer func() { tuneGC = nil }()
	if r := runCLI(t, "", nil, "serve", "--config.check", "--config.file", "/nonexistent.yml"); r.code != exitUsage {
		t.Fatalf("serve with a missing config: exit %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
	}
	healthy, _ := healthyHost(t, false)
	runCLI(t, "", nil, "-o", "jsonl", "--no-tls-required-test", healthy)
	shard := runCLI(t, "", nil, "--shard", "0/1", "-o", "jsonl", "--no-tls-required-test", healthy)
	if shard.code != 0 {
		t.Fatalf("shard: %s", shard)
	}
	file := filepath.Join(t.TempDir(), "shard.jsonl")
	if err := os.WriteFile(file, []byte(shard.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if merged := runCLI(t, "", nil, "merge", file); merged.code == exitUsage {
		t.Fatalf("merge: %s", merged)
	}
	if want := []gcRole{gcServe, gcShard, gcMerge}; !slices.Equal(asked, want) {
		t.Errorf("serve, a probe run, a shard and merge asked for %v, want %v", asked, want)
	}
}

// TestStreamedJSONKeepsResultsInATemporaryFile: -o json keeps each host's
// encoded results in a temporary file until the document is written (issue
// 14: -o json under 150 MB), and removes it afterwards, whether the report
// went to stdout or failed to go to its file.
func TestStreamedJSONKeepsResultsInATemporaryFile(t *testing.T) {
	healthy, trust := healthyHost(t, false)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := t.TempDir()
	for _, args := range [][]string{
		{"-o", "json", healthy},
		{"-o", "json", "--output-file", filepath.Join(out, "a-directory"), healthy},
	} {
		if args[2] == "--output-file" {
			os.Mkdir(args[3], 0o755)
		}
		r := runCLI(t, "", nil, append(args, trust...)...)
		if !strings.Contains(r.stdout, `"status": "ok"`) {
			t.Fatalf("%v: no document on stdout:\n%s", args, r)
		}
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("%v: %d files left in TMPDIR (%s), want none", args, len(entries), entries[0].Name())
		}
	}
	// No temporary file can be made: the results are kept in memory.
	t.Setenv("TMPDIR", filepath.Join(tmp, "missing"))
	if r := runCLI(t, "", nil, append([]string{"-o", "json", healthy}, trust...)...); r.code != 0 || !strings.Contains(r.stdout, `"status": "ok"`) {
		t.Fatalf("without a temporary directory: %s", r)
	}
}

// mergeInput keeps every result it is given, in order, across its chunks.
func TestMergeInputKeepsEveryResultInOrder(t *testing.T) {
	var in mergeInput
	const n = 2*resultChunk + 3
	for i := range n {
		in.add(probe.Result{Endpoint: probe.Endpoint{Port: i}})
	}
	all := in.results()
	if len(all) != n {
		t.Fatalf("%d results of %d", len(all), n)
	}
	for i, r := range all {
		if r.Endpoint.Port != i {
			t.Fatalf("result %d is port %d", i, r.Endpoint.Port)
		}
	}
}

// With a floor set (merge's), the collector is given at least the floor's
// percentage, however little headroom is asked for.
func TestKeepGCHeadroomKeepsTheFloor(t *testing.T) {
	gcFloor.Store(mergeGCPercent)
	defer gcFloor.Store(0)
	stop := keepGCHeadroom(1)
	defer stop()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		runtime.GC()
		percent := debug.SetGCPercent(100)
		debug.SetGCPercent(percent)
		if percent == mergeGCPercent {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC percent %d after 10 s of collections, want the floor's %d", percent, mergeGCPercent)
		}
	}
}
