// A probe must reach old servers to report on them: crypto/tls refuses
// SHA-1 signatures in TLS 1.2 handshakes since Go 1.25, which would turn a
// server that signs only with SHA-1 into a handshake failure instead of an
// observation.
//
//go:debug tlssha1=1

// Command starttls-probe shows what a mail server really does with TLS: it
// probes SMTP ports (STARTTLS on 25, 587 and 2525, implicit TLS on 465),
// shows the certificate chain each one presents and judges it against the
// name and thumbprint the admin expects.
//
// main stays thin: flags in, one call to probe, report and render, exit code
// out.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/atomicfile"
	"github.com/starttls-probe/starttls-probe/report/baseline"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
	"github.com/starttls-probe/starttls-probe/report/exporter"
	"github.com/starttls-probe/starttls-probe/report/render"
)

// exitUsage is the exit status for bad usage: nothing could be judged.
const exitUsage = 3

// exitInterrupted is a --shard run's exit status when it was interrupted
// (SIGINT, or SIGTERM as Kubernetes stops a pod), as a shell reports a
// command stopped by Ctrl-C: its file is not whole, and running the shard
// again can make it so.
const exitInterrupted = 130

func main() {
	if os.Getenv("GOGC") == "" {
		stopHeadroom := keepGCHeadroom(gcHeadroom)
		tuneGC = func(role gcRole) {
			switch role {
			case gcServe:
				stopHeadroom()
				keepGCHeadroom(serveGCHeadroom)
			case gcShard:
				stopHeadroom()
				debug.SetGCPercent(shardGCPercent)
			case gcMerge:
				gcFloor.Store(mergeGCPercent)
				debug.SetGCPercent(mergeGCPercent)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// gcHeadroom is the least garbage the collector lets pile up between two
// collections. An endpoint leaves about 95 KB of garbage, most of it
// crypto/tls's (the ML-KEM key share, the handshake's buffers and hashes).
// At 6 MB a streamed run of 20,000 distinct-leaf endpoints collected 322
// times, and each collection also shrank the workers' stacks, which the
// next ML-KEM key share grew again: the collector and the stack copying
// were about a tenth of the run's CPU (pprof under scripts/bench.sh). At
// 16 MB it collects 109 times (runtime.MemStats: GC CPU 5.7% -> 2.3%,
// pauses 386 -> 131 ms), and the probe ran at a median 1.01x the
// verifying ceiling on that fleet where 6 MB gave 0.97x, 1.11x where it
// gave 1.04x on the shared-chain pool (20,000 endpoints, interleaved A/B
// runs, this machine moving a run by ±0.1x), for about 20 MB more peak
// RSS, flat in the number of endpoints as before. keepGCHeadroom caps the
// percentage where Go's heap minimum alone leaves the headroom (400% for
// 16 MB): uncapped, 1 MB live set 1600% and a 64 MB heap minimum, and the
// page faults of that heap cost a 1,000-endpoint fleet run 0.82-0.83x the
// ceiling against 0.87x capped (peak RSS 53-59 MB against 38-41 MB).
const gcHeadroom = 16 << 20

// serveGCHeadroom is the exporter's headroom: a daemon that probes when it
// is scraped, whose resident set is what it costs its host all day, keeps
// the 6 MB the batch runs had before gcHeadroom was raised (and the
// README's exporter figures were measured with).
const serveGCHeadroom = 6 << 20

// gcRole is a command whose collector is tuned otherwise than a probe
// run's (gcHeadroom).
type gcRole int

const (
	// gcServe keeps serveGCHeadroom.
	gcServe gcRole = iota
	// gcShard collects at shardGCPercent.
	gcShard
	// gcMerge collects at mergeGCPercent or more.
	gcMerge
)

// tuneGC, set by main unless GOGC is, tunes the collector for a command
// other than a probe run; each command calls it once, before its work.
// Tests run the commands in-process and leave the collector alone.
var tuneGC func(gcRole)

// shardGCPercent is a --shard run's GC percentage. A shard streams and
// holds 2 to 8 MB live, as a probe run does, but it is one of N processes
// that each fill their own heap, and this VM charges some 12 µs of CPU a
// page fault on first touch (scripts/bench's shards round, run side by
// side with the single run: 1.05-1.07x its CPU at 400 against
// 1.08-1.12x with gcHeadroom before keepGCHeadroom capped its percentage,
// 1.07-1.08x at 800, 1.25-1.27x at Go's 100).
// The single run itself costs the same at 400 as with gcHeadroom (0.98-
// 0.99x, A/B side by side), which it keeps for its held formats, whose
// live heap grows with the run. A shard holds nothing that grows but the
// planner's memory of the endpoints it has seen: over the 1,000,000-line
// file of closed ports a shard peaked at 48 MB at 400, 74 MB with
// gcHeadroom.
const shardGCPercent = 400

// gcFloor is the least GC percentage keepGCHeadroom sets above Go's 100:
// mergeGCPercent once merge asked for it (tuneGC).
var gcFloor atomic.Int64

// mergeGCPercent is merge's GC percentage: merge decodes a line for every
// endpoint and holds little besides, so it collected often; at 200 it
// spent 8-10% less CPU for the same peak RSS, 40-45 MB over 20,000
// endpoints (issue 14: shards and merge within 1.1x one run's CPU).
const mergeGCPercent = 200

// keepGCHeadroom makes the collector wait for at least headroom bytes of
// garbage, or its usual as much again as is live, whichever is more. A
// streamed batch keeps about 2 MB live, so Go's 100% collected every 2 MB,
// every 30 or so endpoints, and spent 11% of the run's CPU on it
// (GODEBUG=gctrace=1 under scripts/bench.sh); a held run, whose live heap
// grows with every endpoint, soon collects at 100% again, so that its peak
// stays twice what it holds. After each collection (a finalizer runs once
// the collection that freed its object is done) the percentage is set from
// the live heap that collection measured. stop disarms it and restores 100%.
func keepGCHeadroom(headroom uint64) (stop func()) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var (
		mu      sync.Mutex
		stopped bool
	)
	// Go's heap minimum, 4 MB at 100%, scales with the percentage: at
	// 1600%, set for 1 MB live, the heap grew to 64 MB before a collection,
	// and this VM charges some 12 µs a page for faulting it in (a 1,000-
	// endpoint run peaked at 55-61 MB, against 38 MB at GOGC 400). At
	// headroom over 4 MB, in hundreds of percent, the minimum alone is
	// the headroom: a higher percentage only adds heap.
	maxPercent := max(100, headroom*100/goHeapMinimum)
	current := 100
	var arm func()
	arm = func() {
		runtime.SetFinalizer(new([16]byte), func(*[16]byte) {
			mu.Lock()
			defer mu.Unlock()
			if stopped {
				return
			}
			metrics.Read(sample)
			if live := sample[0].Value.Uint64(); live > 0 {
				percent := int(max(100, uint64(gcFloor.Load()), min(maxPercent, headroom*100/live)))
				if percent < current*9/10 || percent > current*11/10 {
					debug.SetGCPercent(percent)
					current = percent
				}
			}
			arm()
		})
	}
	arm()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		debug.SetGCPercent(100)
	}
}

// goHeapMinimum is the Go runtime's heap minimum at GOGC 100
// (defaultHeapMinimum in runtime/mgcpacer.go): no collection before the
// heap reaches it times the percentage over 100.
const goHeapMinimum = 4 << 20

// usageError is a mistake in the command line: reported in one line with a
// hint, exit status 3, nothing probed.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func usagef(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// exitStatus carries a finished run's exit status from an Action out of
// urfave/cli, whose Actions return only an error.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// defaultHint is the hint of a usage error that has none of its own.
const defaultHint = "run 'starttls-probe --help' for usage"

// run runs the command line args and returns the exit status. Everything
// the run reads or writes outside its own files comes in as an argument,
// so that tests run the whole command line in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	// "help" and "version" are what a user tries first: probing hosts by
	// those names would only confuse. "help demo" is the demo's help.
	switch {
	case len(args) >= 2 && args[1] == "help":
		args = append(append([]string{args[0]}, args[2:]...), "--help")
	case len(args) == 2 && args[1] == "version":
		args = []string{args[0], "--version"}
	}
	app := newApp(stdin, stdout, stderr, getenv)
	err := app.RunContext(ctx, flagsFirst(args, app.Flags, commandNames(app)))
	var status exitStatus
	switch {
	case err == nil:
		// Help and version.
		return 0
	case errors.As(err, &status):
		return int(status)
	}
	fmt.Fprintf(stderr, "starttls-probe: error: %v\n", oneLine(err.Error()))
	hint := defaultHint
	var ue *usageError
	if errors.As(err, &ue) && ue.hint != "" {
		hint = ue.hint
	}
	fmt.Fprintf(stderr, "hint: %s\n", hint)
	if asksForNagios(args) {
		// A monitoring system reads the status line on stdout, and
		// shows nothing useful for a plugin that printed none.
		writeNagiosError(stdout, err)
	}
	return exitUsage
}

// asksForNagios reports whether args choose --output nagios. It reads the
// raw arguments because a usage error can come before any flag is bound.
func asksForNagios(args []string) bool {
	for i, arg := range args {
		if arg == "--" {
			return false
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !strings.HasPrefix(arg, "-") || (name != "o" && name != "output") {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		if value == "nagios" {
			return true
		}
	}
	return false
}

// commandNames are the words that, first on the command line, are a
// subcommand rather than a target.
func commandNames(app *cli.App) []string {
	var names []string
	for _, c := range app.Commands {
		names = append(names, c.Names()...)
	}
	return names
}

// flagsFirst moves the flags given after the targets in front of them:
// urfave/cli v2 stops at the first target, and admins write
// "starttls-probe mail.contoso.com -p 587". A flag's value stays with it;
// "--" ends the flags; a subcommand (one of commands, before any target)
// and its arguments are left as they are.
func flagsFirst(args []string, flags []cli.Flag, commands []string) []string {
	if len(args) < 2 || slices.Contains(commands, args[1]) {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	var front, targets []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		switch {
		case arg == "--":
			targets = append(targets, rest[i+1:]...)
			i = len(rest)
		case len(arg) > 1 && arg[0] == '-':
			front = append(front, arg)
			name, _, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if takesValue[name] && !hasValue {
				if i+1 == len(rest) {
					// No value: end the line with the flag, for
					// urfave/cli to say that it needs one.
					return append([]string{args[0]}, front...)
				}
				i++
				front = append(front, rest[i])
			}
		case slices.Contains(commands, arg) && len(targets) == 0:
			// "starttls-probe -o json demo": the flags are the
			// subcommand's.
			return append(append([]string{args[0], arg}, front...), rest[i+1:]...)
		default:
			targets = append(targets, arg)
		}
	}
	out := append([]string{args[0]}, front...)
	if len(targets) > 0 {
		out = append(append(out, "--"), targets...)
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// outputFlags are shared by the probe and the demo.
func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "output `FORMAT`: text, json, jsonl (one result per line as each endpoint finishes), nagios (a monitoring plugin's output), prometheus (for node_exporter's textfile collector) or pem (each endpoint's chain as sent, PEM, to hand on)", Category: "Output"},
		&cli.StringFlag{Name: "output-file", Usage: "write the report to `FILE` instead of stdout, atomically (a temporary file, then a rename)", Category: "Output"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing when every check is ok, the report otherwise (for cron, which mails only what is printed)", Category: "Output", DisableDefaultText: true},
		&cli.BoolFlag{Name: "no-color", Usage: "no colour (also when NO_COLOR is set or TERM=dumb; colour is only ever used on a terminal)", Category: "Output", DisableDefaultText: true},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "add the SMTP transcript with timings", Category: "Output", DisableDefaultText: true},
		&cli.DurationFlag{Name: "timeout", Value: probe.DefaultTimeout, Usage: "`DURATION` allowed for each endpoint, from DNS to QUIT", Category: "SMTP and TLS dialogue"},
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show this help", Category: "Output", DisableDefaultText: true},
	}
}

const (
	appUsage     = "see which certificate each SMTP port of a mail host presents, and whether it is right"
	appUsageText = "starttls-probe [flags] TARGET...\nstarttls-probe demo [flags]\nstarttls-probe serve [flags]\nstarttls-probe merge [flags] SHARD.jsonl...\nstarttls-probe help | version"
	// appDescription's lines are kept as written: each fits helpWidth.
	appDescription = `TARGET is a host name, host:port, an IPv4 address or [IPv6]:port.
Without a port, ports 25, 587 and 2525 are probed at the same time; one
of them that is closed or filtered (3s to connect) is reported but does
not raise the status, unless no port of the host answers at all.
A host named help or version is probed with "--" before it.

Examples:
  starttls-probe mail.contoso.com               ports 25, 587 and 2525
  starttls-probe -p 587 mail.contoso.com        the certificate on 587
  starttls-probe -n mail.contoso.com 192.0.2.10 a node behind a balancer
  starttls-probe --thumbprint 3F2A...9C mail.contoso.com:25
  starttls-probe -o json mail.contoso.com | jq .status
  starttls-probe demo                           try it on a built-in server

Exit status: 0 all ok, 1 worst is a warning, 2 worst is critical,
3 nothing could be judged (bad usage, no target resolvable).`
	demoUsage  = "probe a built-in Exchange-like server on loopback and print the ordinary report"
	serveUsage = "serve probes to Prometheus, as blackbox_exporter does: /probe?target=HOST&module=NAME"
	// serveDescription's lines are kept as written: each fits helpWidth.
	serveDescription = `The modules are named sets of this command's options, in the YAML file of
--config.file. Reload it with SIGHUP or POST /-/reload.

Pages: /probe?target=&module= (&debug=true for the dialogue and the verdict),
/metrics, /-/healthy, /-/ready, /config, and / for the recent probes.

Example:
  starttls-probe serve --config.file /etc/starttls-probe/starttls-probe.yml`
	// defaultListenAddress's port is not in Prometheus' default port
	// allocations list (github.com/prometheus/prometheus/wiki/Default-port-allocations)
	// as far as we could read it: 9100-9999 is full since 2023 and new
	// exporters are given ports from 10000 up; 25 recalls SMTP.
	defaultListenAddress = ":10025"
)

// helpWidth is the width the help fits in: a default terminal, and a
// PowerShell window.
const helpWidth = 80

// helpText is a command's help, given to urfave/cli as a template without
// actions. It is drawn here rather than by urfave/cli's templates, which
// cannot wrap a flag's usage to helpWidth. Flags come by category, in the
// order they are declared.
func helpText(name, usage, usageText, description string, commands []*cli.Command, flags []cli.Flag) string {
	var b strings.Builder
	b.WriteString("NAME:\n" + wrapText(name+" - "+usage, 3) + "\n\nUSAGE:\n")
	for _, line := range strings.Split(usageText, "\n") {
		b.WriteString("   " + line + "\n")
	}
	if description != "" {
		b.WriteString("\nDESCRIPTION:\n")
		for _, line := range strings.Split(description, "\n") {
			b.WriteString(strings.TrimRight("   "+line, " ") + "\n")
		}
	}
	if len(commands) > 0 {
		b.WriteString("\nCOMMANDS:\n")
		for _, c := range commands {
			b.WriteString(wrapText(c.Name+": "+c.Usage, 3) + "\n")
		}
	}
	var categories []string
	for _, f := range flags {
		if c := f.(cli.CategorizableFlag).GetCategory(); !slices.Contains(categories, c) {
			categories = append(categories, c)
		}
	}
	b.WriteString("\nFLAGS:\n")
	for _, category := range categories {
		b.WriteString("\n   " + category + ":\n")
		for _, f := range flags {
			if f.(cli.CategorizableFlag).GetCategory() == category {
				b.WriteString(flagHelp(f))
			}
		}
	}
	return b.String()
}

// flagHelp is one flag's entry: its names, then its usage wrapped below.
func flagHelp(f cli.Flag) string {
	doc := f.(cli.DocGenerationFlag)
	placeholder, usage := placeholderOf(f)
	if doc.TakesValue() && placeholder == "" {
		placeholder = "VALUE"
	}
	names := slices.Clone(f.Names())
	// Short names first, as in -p, --port.
	slices.SortStableFunc(names, func(a, b string) int { return len(a) - len(b) })
	var dashedNames []string
	for _, n := range names {
		dashedNames = append(dashedNames, dashed(n))
	}
	line := "   " + strings.Join(dashedNames, ", ")
	if doc.TakesValue() {
		line += " " + placeholder
	}
	if _, isBool := f.(*cli.BoolFlag); !isBool {
		if def := doc.GetDefaultText(); def != "" && def != `""` {
			usage += " (default: " + def + ")"
		}
	}
	return line + "\n" + wrapText(usage, 8) + "\n"
}

// placeholderOf returns the `QUOTED` word of f's usage, as urfave/cli
// marks a flag's value, and the usage without the quotes.
func placeholderOf(f cli.Flag) (placeholder, usage string) {
	usage = f.(cli.DocGenerationFlag).GetUsage()
	if before, rest, ok := strings.Cut(usage, "`"); ok {
		if name, after, ok := strings.Cut(rest, "`"); ok {
			return name, before + name + after
		}
	}
	return "", usage
}

// wrapText breaks text into lines of at most helpWidth columns, each
// indented by indent spaces; a word longer than a line stays whole.
func wrapText(text string, indent int) string {
	pad := strings.Repeat(" ", indent)
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && indent+len(line)+1+len(word) > helpWidth {
			lines = append(lines, pad+line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, pad+line), "\n")
}

// expectationFlags are what the endpoints are judged against: a probe run's
// and merge's.
func expectationFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "`FQDN` the certificate must cover (default: the target, when it is a name)", Category: "Expectations"},
		&cli.StringFlag{Name: "thumbprint", Usage: "expected leaf thumbprint (`HEX`), SHA-1 (as Get-ExchangeCertificate shows it) or SHA-256", Category: "Expectations"},
		&cli.StringFlag{Name: "tls-certificate-name", Usage: "the receive connector's TlsCertificateName (`VALUE`), \"<I>issuer<S>subject\" as Get-ReceiveConnector shows it: critical when the presented leaf is another certificate", Category: "Expectations"},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra trusted roots (your private CA), added to the system's", Category: "Expectations"},
		&cli.IntFlag{Name: "warn-days", Value: report.DefaultWarnDays, Usage: "warn when the leaf expires in fewer `DAYS`", Category: "Expectations"},
		&cli.IntFlag{Name: "crit-days", Value: report.DefaultCritDays, Usage: "critical when the leaf expires in fewer `DAYS` (lowered to --warn-days when that is lower and this is not given)", Category: "Expectations"},
	}
}

// viewFlags are --as and --tls-domain: a probe run's, where --as also
// turns on the scan the view is judged on, and merge's, which judges the
// shards' scans.
func viewFlags(merge bool) []cli.Flag {
	scan := "turns on --tls-scan"
	if merge {
		scan = "give --as to the shards too, which scan for it"
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "as", Usage: "also judge each port-25 endpoint as `VIEW` would: exchange-online (Exchange Online's outbound connector to on-premises: TLS 1.2, a suite it supports, a publicly trusted chain, STARTTLS, the certificate matching --tls-domain), with the deferral it would log for each failure; " + scan, Category: "TLS scan"},
		&cli.StringFlag{Name: "tls-domain", Usage: "with --as exchange-online, the connector's TlsDomain (`NAME`, as Set-OutboundConnector -TlsDomain sets it, *.contoso.com allowed): DomainValidation; without it, CertificateValidation", Category: "TLS scan"},
	}
}

// judgingFlags are the flags a shard refuses: they only say how endpoints
// are judged, which merge does (--name and --as are both: the shards send
// the name as SNI and scan for the view).
var judgingFlags = []string{"thumbprint", "tls-certificate-name", "ca-file", "warn-days", "crit-days", "tls-domain"}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cli.App {
	flags := append(append([]cli.Flag{
		&cli.StringSliceFlag{Name: "port", Aliases: []string{"p"}, Usage: "`PORT` to probe, repeatable: a number or smtp, submission, submissions (default: 25, 587, 2525; 465 is implicit TLS)", Category: "Choosing targets"},
		&cli.StringFlag{Name: "sni", Usage: "server `NAME` to send in the TLS handshake (default: the expected name)", Category: "SMTP and TLS dialogue"},
		&cli.BoolFlag{Name: "no-sni", Usage: "send no server name in the TLS handshake", Category: "SMTP and TLS dialogue", DisableDefaultText: true},
		&cli.StringFlag{Name: "ehlo", Usage: "`NAME` to say in EHLO (default: this machine's host name when it is an FQDN, else the connection's address literal such as [192.0.2.7])", Category: "SMTP and TLS dialogue"},
		&cli.BoolFlag{Name: "implicit-tls", Usage: "start TLS at connect on every port, as on 465", Category: "Choosing targets", DisableDefaultText: true},
		&cli.BoolFlag{Name: "no-tls-required-test", Usage: "skip the test that asks each STARTTLS port for MAIL FROM:<> in plaintext to see whether it requires TLS (no RCPT, no DATA)", Category: "SMTP and TLS dialogue", DisableDefaultText: true},
		&cli.StringFlag{Name: "rcpt-test", Usage: "in the TLS-required test, also send RCPT TO:<`ADDRESS`> after MAIL FROM:<> (then RSET), for servers that refuse plaintext at RCPT; a plain mailbox such as postmaster@contoso.com (never DATA)", Category: "SMTP and TLS dialogue"},
		&cli.BoolFlag{Name: "tls-scan", Usage: "also scan each endpoint's TLS on connections of its own (EHLO, STARTTLS, handshake, QUIT): TLS 1.0 to 1.3 accepted or refused, the cipher suites of each and whose order picks them, the key-exchange groups, every certificate the server holds (RSA and ECDSA) each judged, and stapled OCSP; within --timeout per endpoint", Category: "TLS scan", DisableDefaultText: true},
		&cli.IntFlag{Name: "scan-connections", Value: probe.DefaultScanConnections, Usage: "with --tls-scan, at most `N` scan connections open at once to one address", Category: "TLS scan"},
		&cli.BoolFlag{Name: "mx", Usage: "targets are mail domains: probe every address of each MX host (the MX host name is the expected name), on port 25 unless -p gives ports", Category: "Choosing targets", DisableDefaultText: true},
		&cli.BoolFlag{Name: "all-addresses", Usage: "probe every address of each host, not only the first (a load-balanced name)", Category: "Choosing targets", DisableDefaultText: true},
		&cli.BoolFlag{Name: "4", Usage: "IPv4 addresses only", Category: "Choosing targets", DisableDefaultText: true},
		&cli.BoolFlag{Name: "6", Usage: "IPv6 addresses only", Category: "Choosing targets", DisableDefaultText: true},
		&cli.StringFlag{Name: "domain", Usage: "the mail `DOMAIN` the host targets are MX hosts of: judge them under its MTA-STS, DANE and TLS-RPT policy (--mx targets get their own domain's)", Category: "Expectations"},
		&cli.BoolFlag{Name: "no-policy", Usage: "do not look up the domains' MTA-STS, TLSA and TLS-RPT records", Category: "Expectations", DisableDefaultText: true},
		&cli.StringFlag{Name: "resolver", Usage: "ask this DNS server, `ADDR:PORT`, instead of the system's", Category: "Choosing targets"},
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read targets from `FILE`, one per line, # for comments, - for stdin", Category: "Choosing targets"},
		&cli.StringFlag{Name: "shard", Usage: "probe only shard `K/N` of the destinations (K from 0, as Kubernetes' JOB_COMPLETION_INDEX), split by address after DNS so that a shared MX host is probed by one shard; with -o jsonl, writes what it observed, unjudged and without domain policies, for 'starttls-probe merge' to judge", Category: "Choosing targets"},
		&cli.IntFlag{Name: "concurrency", Value: probe.DefaultConcurrency, Usage: "`N` endpoints probed at once", Category: "Choosing targets"},
		&cli.IntFlag{Name: "address-concurrency", Value: probe.DefaultAddressConcurrency, Usage: "at most `N` endpoints of one destination address probed at once, with all their connections (the ports of one server share it)", Category: "Choosing targets"},
		&cli.Float64Flag{Name: "rate", Usage: "at most `N` new connections per second for the whole run, every connection counted (0: no limit); waiting for it does not count against --timeout", Category: "Choosing targets"},
		&cli.StringFlag{Name: "baseline", Usage: "compare with the certificates and STARTTLS offers recorded in `FILE` (recorded on the first run): a changed certificate warns, a lost STARTTLS is critical", Category: "Expectations"},
		&cli.BoolFlag{Name: "update-baseline", Usage: "accept what this run sees as the new --baseline", Category: "Expectations", DisableDefaultText: true},
		&cli.BoolFlag{Name: "version", Usage: "print the version and exit", Category: "Output", DisableDefaultText: true},
		&cli.StringFlag{Name: "completion", Usage: "print the completion script for `SHELL`: " + completionShells, Category: "Setup"},
		&cli.BoolFlag{Name: "man", Usage: "print the manual page (roff), e.g. starttls-probe --man > /usr/local/share/man/man1/starttls-probe.1", Category: "Setup", DisableDefaultText: true},
	}, append(viewFlags(false), expectationFlags()...)...), outputFlags()...)
	demoFlags := outputFlags()
	demo := &cli.Command{
		Name:               "demo",
		Usage:              demoUsage,
		Flags:              demoFlags,
		HideHelp:           true,
		CustomHelpTemplate: helpText("starttls-probe demo", demoUsage, "starttls-probe demo [flags]", "", nil, demoFlags),
		OnUsageError:       explainUsageError(demoFlags),
		Action: func(c *cli.Context) error {
			return runDemo(c, stdout, stderr, getenv)
		},
	}
	commands := []*cli.Command{demo, serveCommand(stdout, stderr), mergeCommand(stdout, stderr, getenv)}

	return &cli.App{
		Name:            "starttls-probe",
		Usage:           appUsage,
		UsageText:       appUsageText,
		Flags:           flags,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// --help and --version are flags of our own: urfave/cli's shared
		// ones are written by every run, and runs in one process (the
		// tests) would race on them. urfave/cli still answers --help,
		// with the help drawn by helpText.
		HideHelp:              true,
		CustomAppHelpTemplate: helpText("starttls-probe", appUsage, appUsageText, appDescription, commands, flags),
		HideVersion:           true,
		OnUsageError:          explainUsageError(flags),
		ExitErrHandler:        func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(stdout, "starttls-probe", version())
				return nil
			}
			if shell := c.String("completion"); shell != "" {
				return writeCompletion(stdout, shell, flags, commands)
			}
			if c.Bool("man") {
				// Section 1: a user command.
				man, err := c.App.ToManWithSection(1)
				if err != nil {
					return fmt.Errorf("making the manual page: %w", err)
				}
				_, err = io.WriteString(stdout, man)
				return err
			}
			return probeTargets(c, stdout, stderr, getenv)
		},
		Commands: commands,
	}
}

// stampedVersion is set by scripts/release.sh with
// -ldflags "-X main.stampedVersion=v1.2.3": a release is built with
// -buildvcs=false from any checkout, so its build information says only
// "(devel)". A variable because -X can set nothing else; nothing assigns
// it at run time.
var stampedVersion string

// version is the stamped version of a release build, else the module
// version go install records (v1.2.3, or a pseudo-version), else "(devel)".
//
// Read once: every JSONL host group carries it, and the build information
// is decoded anew on each call.
var version = sync.OnceValue(func() string {
	if stampedVersion != "" {
		return stampedVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
})

// explainUsageError turns the flag package's errors into this tool's
// words: flags with their real dashes, the nearest flag for a misspelled
// one, and the unit a duration lacks.
func explainUsageError(flags []cli.Flag) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			hint := defaultHint
			if near := nearestFlag(name, flags); near != "" {
				hint = "did you mean " + near + "?"
			}
			return usagef(hint, "unknown flag %s", dashed(name))
		}
		if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
			return usagef(defaultHint, "flag %s needs a value", dashed(name))
		}
		var value, name string
		if n, _ := fmt.Sscanf(msg, "invalid value %q for flag -%s", &value, &name); n == 2 {
			name = strings.TrimSuffix(name, ":")
			hint := defaultHint
			if f := flagNamed(name, flags); f != nil {
				switch f.(type) {
				case *cli.DurationFlag:
					hint = "a duration has a unit: for example 10s, 1m30s"
					if _, numErr := strconv.ParseFloat(value, 64); numErr == nil {
						hint = "use " + value + "s"
					}
				case *cli.IntFlag:
					hint = "give a whole number, for example " + dashed(name) + " 30"
				}
			}
			return usagef(hint, "invalid value %q for %s", value, dashed(name))
		}
		return err
	}
}

// dashed is a flag name as it is typed: -p, --port.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func flagNamed(name string, flags []cli.Flag) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// nearestFlag is the flag (dashed) a misspelled name most likely meant:
// the only one it begins, or the closest within two edits that are fewer
// than its own length; "" when none is close.
func nearestFlag(name string, flags []cli.Flag) string {
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	var prefixed []string
	for _, n := range names {
		if len(name) > 1 && strings.HasPrefix(n, name) {
			prefixed = append(prefixed, n)
		}
	}
	if len(prefixed) == 1 {
		return dashed(prefixed[0])
	}
	best, bestDistance := "", 3
	for _, n := range names {
		if d := editDistance(name, n); d < bestDistance && d < len(name) {
			best, bestDistance = n, d
		}
	}
	if best == "" {
		return ""
	}
	return dashed(best)
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// adjacent letters that turn a into b (optimal string alignment): a swap is
// one typo ("prot" for "port").
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// output is how and where the report is written.
type output struct {
	format  string
	color   bool
	verbose bool
	// quiet prints nothing when every check is ok; file, when set, gets
	// the report instead of stdout.
	quiet bool
	file  string
}

// config is the command line, bound from the flags by configFrom and
// checked by validate, the one place that refuses bad usage before anything
// is read or probed.
type config struct {
	out     output
	timeout time.Duration
	// baseline, when set, is the file the run is compared with;
	// updateBaseline accepts what the run sees.
	baseline       string
	updateBaseline bool

	targets           []string
	targetFile        string
	portArgs          []string
	implicitTLS       bool
	mx, allAddresses  bool
	only4, only6      bool
	resolver          string
	concurrency       int
	sni               string
	noSNI             bool
	ehlo              string
	noTLSRequiredTest bool
	rcptTest          string
	caFile            string
	domain            string
	noPolicy          bool
	// addressConcurrency and connectRate: --address-concurrency and
	// --rate, politeness at scale (issue 14).
	addressConcurrency int
	connectRate        float64
	// tlsScan and scanConnections: --tls-scan (issue 16).
	tlsScan         bool
	scanConnections int
	// as and tlsDomain: --as exchange-online --tls-domain NAME.
	as, tlsDomain string

	name, thumbprint, tlsCertificateName string
	warnDays, critDays                   int
	critDaysGiven                        bool
	// judging is the judgingFlags given, as "--name".
	judging []string

	// shardArg is --shard K/N; shard, set by validate, the part of the
	// destinations this run probes.
	shardArg string
	shard    probe.Shard

	// Set by validate from the above.
	ports        []int
	expect       report.Expect
	resolverAddr netip.AddrPort
}

// outputFrom binds the flags shared by the probe and the demo.
func outputFrom(c *cli.Context, stdout io.Writer, getenv func(string) string) output {
	out := output{format: c.String("output"), verbose: c.Bool("verbose"), quiet: c.Bool("quiet"), file: c.String("output-file")}
	// Colour only for a person at a terminal that can show it.
	out.color = out.format == "text" && out.file == "" && !c.Bool("no-color") &&
		getenv("NO_COLOR") == "" && getenv("TERM") != "dumb" && isTerminal(stdout)
	return out
}

func configFrom(c *cli.Context, stdout io.Writer, getenv func(string) string) config {
	return config{
		out:                outputFrom(c, stdout, getenv),
		timeout:            c.Duration("timeout"),
		baseline:           c.String("baseline"),
		updateBaseline:     c.Bool("update-baseline"),
		targets:            c.Args().Slice(),
		targetFile:         c.String("file"),
		portArgs:           c.StringSlice("port"),
		implicitTLS:        c.Bool("implicit-tls"),
		mx:                 c.Bool("mx"),
		allAddresses:       c.Bool("all-addresses"),
		only4:              c.Bool("4"),
		only6:              c.Bool("6"),
		resolver:           c.String("resolver"),
		concurrency:        c.Int("concurrency"),
		addressConcurrency: c.Int("address-concurrency"),
		connectRate:        c.Float64("rate"),
		sni:                c.String("sni"),
		noSNI:              c.Bool("no-sni"),
		ehlo:               c.String("ehlo"),
		noTLSRequiredTest:  c.Bool("no-tls-required-test"),
		rcptTest:           c.String("rcpt-test"),
		caFile:             c.String("ca-file"),
		domain:             c.String("domain"),
		noPolicy:           c.Bool("no-policy"),
		name:               c.String("name"),
		thumbprint:         c.String("thumbprint"),
		tlsCertificateName: c.String("tls-certificate-name"),
		tlsScan:            c.Bool("tls-scan"),
		scanConnections:    c.Int("scan-connections"),
		as:                 c.String("as"),
		tlsDomain:          c.String("tls-domain"),
		warnDays:           c.Int("warn-days"),
		critDays:           c.Int("crit-days"),
		critDaysGiven:      c.IsSet("crit-days"),
		judging:            flagsSet(c, judgingFlags),
		shardArg:           c.String("shard"),
	}
}

// validateOutput checks the flags shared by the probe and the demo.
func (cfg *config) validateOutput() error {
	out := cfg.out
	switch out.format {
	case "text", "json", "jsonl", "nagios", "prometheus", "pem":
	default:
		return usagef("use --output text, json, jsonl, nagios, prometheus or pem", "unknown output format %q", out.format)
	}
	if out.format == "jsonl" && (out.quiet || out.file != "") {
		return usagef("use --output json with --quiet or --output-file", "--output jsonl streams each result as it comes: it cannot be held back by --quiet or written atomically to --output-file")
	}
	if cfg.timeout <= 0 {
		return usagef("for example --timeout 10s", "--timeout must be positive, got %s", cfg.timeout)
	}
	if out.file != "" {
		return checkDirectoryOf("--output-file", out.file)
	}
	return nil
}

// flagsSet is those of names the command line gives, as "--name".
func flagsSet(c *cli.Context, names []string) []string {
	var set []string
	for _, name := range names {
		if c.IsSet(name) {
			set = append(set, "--"+name)
		}
	}
	return set
}

// validate checks the whole command line of a probe run and derives its
// typed values; every error is a usageError.
func (cfg *config) validate() error {
	if err := cfg.validateOutput(); err != nil {
		return err
	}
	if cfg.out.format == "jsonl" && cfg.baseline != "" {
		return usagef("use --output json with --baseline", "--output jsonl writes each result before the run is compared with --baseline, so the baseline's verdict would be on no line")
	}
	if cfg.shardArg != "" {
		shard, err := probe.ParseShard(cfg.shardArg)
		if err != nil {
			return usagef("for example --shard 0/4 (the first of four; Kubernetes' JOB_COMPLETION_INDEX is K)", "--shard: %v", err)
		}
		if cfg.out.format != "jsonl" {
			return usagef("add -o jsonl, and merge the shards with 'starttls-probe merge'", "--shard writes JSONL for 'starttls-probe merge' to judge as one run")
		}
		if cfg.domain != "" {
			return usagef("run --domain without --shard: merge judges the endpoints, not a domain's policy", "--shard and --domain conflict")
		}
		if len(cfg.judging) > 0 {
			given := strings.Join(cfg.judging, ", ")
			return usagef("give "+given+" to 'starttls-probe merge', which judges the shards' observations (--name and --as go to both)",
				"--shard judges nothing: %s would change nothing in a shard", given)
		}
		cfg.shard = shard
		// A shard records what its endpoints do; the domains' policies
		// (MTA-STS, DANE, TLS-RPT) are not looked up, as merge would not
		// judge them.
		cfg.noPolicy = true
	}
	if cfg.updateBaseline && cfg.baseline == "" {
		return usagef("for example --baseline /var/lib/starttls-probe/baseline.json --update-baseline", "--update-baseline needs --baseline FILE")
	}
	if cfg.baseline != "" {
		if err := checkDirectoryOf("--baseline", cfg.baseline); err != nil {
			return err
		}
	}
	for _, t := range cfg.targets {
		if strings.HasPrefix(t, "-") {
			return usagef("targets look like mail.contoso.com, mail.contoso.com:587, 192.0.2.1 or [2001:db8::1]:25", "%q is not a target: a host name cannot start with '-'", t)
		}
	}
	if cfg.noSNI && cfg.sni != "" {
		return usagef("give one of them", "--sni and --no-sni conflict")
	}
	if cfg.only4 && cfg.only6 {
		return usagef("give one of them, or neither for both families", "-4 and -6 conflict")
	}
	for _, p := range cfg.portArgs {
		port, err := probe.ParsePort(p)
		if err != nil {
			return usagef("for example -p 25 -p 587, or -p submission", "--port: %v", err)
		}
		cfg.ports = append(cfg.ports, port)
	}
	if cfg.mx && len(cfg.ports) == 0 {
		// MX hosts receive mail on 25: probing submission ports on every
		// MX address would waste connections and look like a port scan.
		// 25 is then asked for, being the point of --mx; -p asks for
		// others instead.
		cfg.ports = []int{25}
	}
	if err := cfg.validateExpectations(); err != nil {
		return err
	}
	if cfg.ehlo != "" {
		if err := probe.CheckEHLOName(cfg.ehlo); err != nil {
			return usagef("for example --ehlo probe.contoso.com or --ehlo [192.0.2.7]", "--ehlo: %v", err)
		}
	}
	if cfg.rcptTest != "" {
		if err := probe.CheckRCPTAddress(cfg.rcptTest); err != nil {
			return usagef("give a plain mailbox, for example --rcpt-test postmaster@contoso.com", "--rcpt-test: %v", err)
		}
		if cfg.noTLSRequiredTest {
			return usagef("give one of them", "--rcpt-test and --no-tls-required-test conflict: RCPT is sent by the TLS-required test")
		}
	}
	if cfg.resolver != "" {
		addr, err := parseResolverAddr(cfg.resolver)
		if err != nil {
			return usagef("for example --resolver 127.0.0.1:53 or --resolver [::1]:5353", "--resolver: %v", err)
		}
		cfg.resolverAddr = addr
	}
	if err := cfg.validatePolicy(); err != nil {
		return err
	}
	if cfg.concurrency < 1 {
		return usagef("for example --concurrency 64", "--concurrency must be at least 1, got %d", cfg.concurrency)
	}
	if cfg.scanConnections < 1 {
		return usagef("for example --scan-connections 4", "--scan-connections must be at least 1, got %d", cfg.scanConnections)
	}
	if cfg.addressConcurrency < 1 {
		return usagef("for example --address-concurrency 2", "--address-concurrency must be at least 1, got %d", cfg.addressConcurrency)
	}
	if cfg.connectRate < 0 || math.IsNaN(cfg.connectRate) || math.IsInf(cfg.connectRate, 0) {
		return usagef("for example --rate 50 (new connections per second), or 0 for no limit", "--rate must be a number of new connections per second, 0 or more, got %v", cfg.connectRate)
	}
	return cfg.validateView()
}

// validateView checks --as and --tls-domain.
func (cfg *config) validateView() error {
	switch cfg.as {
	case "":
		if cfg.tlsDomain != "" {
			return usagef("for example --as exchange-online --tls-domain mail.contoso.com", "--tls-domain needs --as exchange-online")
		}
		return nil
	case "exchange-online":
	default:
		return usagef("use --as exchange-online", "unknown view %q", cfg.as)
	}
	if cfg.tlsDomain != "" {
		host, port, err := probe.ParseTarget(strings.TrimPrefix(cfg.tlsDomain, "*."))
		_, isIP := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil || port != 0 || isIP == nil {
			return usagef("give the connector's TlsDomain, e.g. --tls-domain mail.contoso.com or --tls-domain *.contoso.com", "--tls-domain %q is not a domain name", cfg.tlsDomain)
		}
	}
	// The connector's rules on TLS 1.2 and its suites need the scan.
	cfg.tlsScan = true
	cfg.expect.AsExchangeOnline, cfg.expect.TLSDomain = true, strings.TrimSuffix(cfg.tlsDomain, ".")
	return nil
}

func (cfg *config) validateExpectations() error {
	if !cfg.critDaysGiven && cfg.warnDays < cfg.critDays {
		// "--warn-days 5" alone means "tell me later than usual", not a
		// conflict with a default the user never chose.
		cfg.critDays = max(cfg.warnDays, 0)
	}
	cfg.expect = report.Expect{WarnDays: cfg.warnDays, CritDays: cfg.critDays}
	if cfg.name != "" {
		host, port, err := probe.ParseTarget(cfg.name)
		if err != nil || port != 0 {
			return usagef("give the FQDN the certificate must cover, e.g. -n mail.contoso.com", "--name %q is not a host name", cfg.name)
		}
		cfg.expect.Name = host
	}
	if cfg.warnDays < 0 || cfg.critDays < 0 || cfg.critDays > cfg.warnDays {
		return usagef("for example --warn-days 30 --crit-days 7", "--crit-days (%d) must be between 0 and --warn-days (%d)", cfg.critDays, cfg.warnDays)
	}
	if cfg.thumbprint != "" {
		t, err := report.ParseThumbprint(cfg.thumbprint)
		if err != nil {
			return usagef("copy it from Get-ExchangeCertificate or from this tool's SHA-1 line", "--thumbprint: %v", err)
		}
		cfg.expect.Thumbprint = t
	}
	if cfg.tlsCertificateName != "" {
		if _, err := dotnetname.ParseTLSCertificateName(cfg.tlsCertificateName); err != nil {
			return usagef(`copy it from (Get-ReceiveConnector "<server>\Default Frontend <server>").TlsCertificateName, or from this tool's TlsCertificateName line`,
				"--tls-certificate-name: %v", err)
		}
		cfg.expect.TLSCertificateName = cfg.tlsCertificateName
	}
	cfg.expect.Cache = report.NewCache()
	return nil
}

// checkDirectoryOf refuses a file flag whose directory is missing, before
// a run that would only fail to write at its end.
func checkDirectoryOf(flag, path string) error {
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usagef(fmt.Sprintf("create it first (mkdir -p %s), or give %s a path in an existing directory", dir, flag),
			"%s %s: the directory %s does not exist", flag, path, dir)
	case err != nil:
		return usagef(fmt.Sprintf("give %s a path in a directory you can write to", flag), "%s %s: %v", flag, path, err)
	case !info.IsDir():
		return usagef(fmt.Sprintf("give %s a path in a directory you can write to", flag),
			"%s %s: %s is not a directory", flag, path, dir)
	}
	return nil
}

// probeOptions are the options every endpoint is probed with.
func (cfg *config) probeOptions() probe.Options {
	sni := cfg.sni
	if sni == "" {
		sni = cfg.expect.Name
	}
	opts := probe.Options{
		EHLOName:          cfg.ehlo,
		SNI:               sni,
		NoSNI:             cfg.noSNI,
		Timeout:           cfg.timeout,
		NoTLSRequiredTest: cfg.noTLSRequiredTest,
		RCPTAddress:       cfg.rcptTest,
		Network:           addressFamily(cfg.only4, cfg.only6),
		Concurrency:       cfg.concurrency,
		TLSScan:           cfg.tlsScan,
		ScanConnections:   cfg.scanConnections,

		AddressConcurrency: cfg.addressConcurrency,
		ConnectRate:        cfg.connectRate,
		// Only -v shows the transcript.
		NoTranscript: !cfg.out.verbose,
	}
	if cfg.resolver != "" {
		opts.Resolver, opts.ResolverAddr = probe.NewResolver(cfg.resolverAddr), cfg.resolverAddr
	}
	return opts
}

// parseResolverAddr parses --resolver: ADDR:PORT, [IPv6]:PORT, or an
// address alone for port 53.
func parseResolverAddr(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolver %q: want ADDR:PORT, such as 127.0.0.1:53 or [::1]:53", s)
	}
	return netip.AddrPortFrom(a, 53), nil
}

// addressFamily is the network to resolve and dial, as probe.Options
// wants it: "ip4" for -4, "ip6" for -6, "ip" otherwise.
func addressFamily(only4, only6 bool) string {
	switch {
	case only4 && !only6:
		return "ip4"
	case only6 && !only4:
		return "ip6"
	}
	return "ip"
}

func probeTargets(c *cli.Context, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := configFrom(c, stdout, getenv)
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.shard != (probe.Shard{}) && tuneGC != nil {
		tuneGC(gcShard)
	}
	if cfg.streams() {
		return cfg.probeAsRead(c.Context, c.App.Reader, stdout, stderr)
	}
	badLines, err := readTargetFile(cfg.targetFile, c.App.Reader, stderr, &cfg.targets)
	if err != nil {
		return err
	}
	if len(cfg.targets) == 0 && cfg.targetFile != "" {
		return usagef("give at least one target, one per line", "no valid target in --file %s", cfg.targetFile)
	}
	if len(cfg.targets) == 0 {
		return usagef("try 'starttls-probe mail.example.com', or 'starttls-probe demo' to see it work", "no target given")
	}
	roots, err := trustedRoots(cfg.caFile)
	if err != nil {
		return err
	}
	endpoints, err := probe.Endpoints(cfg.targets, cfg.ports, cfg.implicitTLS)
	if err != nil {
		return usagef("targets look like mail.contoso.com, mail.contoso.com:587, 192.0.2.1 or [2001:db8::1]:25", "%v", err)
	}
	cfg.scopePolicy(endpoints)
	opts := cfg.probeOptions()
	jobs := probe.Discover(c.Context, endpoints, probe.Discovery{MX: cfg.mx, AllAddresses: cfg.allAddresses}, opts)
	jobs = markDuplicates(jobs, cfg.shard)
	cfg.expect.Policies = cfg.observePolicies(c.Context, jobs, opts)
	status := probeAndReport(c.Context, jobs, opts, cfg.expect, roots, cfg, stdout, stderr)
	if badLines > 0 && status == 0 {
		// Lines of the file were not probed: all is not known to be well.
		status = exitUsage
	}
	return exitStatus(status)
}

// streams reports whether the run probes its targets as they are read and
// judges each mail host as soon as its last endpoint finishes: -o jsonl,
// and -o json (whose document is put together at the end from each host's
// results, kept in a temporary file: documentSink) unless a baseline,
// which compares and rewrites the whole run, is asked for. Not when the
// domains' policies are looked up, which needs every domain before
// anything is judged (and so holds the run, as other formats do).
func (cfg *config) streams() bool {
	streamable := cfg.out.format == "jsonl" || cfg.out.format == "json" && cfg.baseline == ""
	return streamable && (cfg.noPolicy || (!cfg.mx && cfg.domain == ""))
}

// probeAsRead is a streamed run (streams): targets are read, looked up,
// deduplicated, sharded, probed and judged as they come, so that the first
// line appears before a file of a million targets has been read, and memory
// stays flat however long the file is.
func (cfg *config) probeAsRead(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	given, err := probe.Endpoints(cfg.targets, cfg.ports, cfg.implicitTLS)
	if err != nil {
		return usagef("targets look like mail.contoso.com, mail.contoso.com:587, 192.0.2.1 or [2001:db8::1]:25", "%v", err)
	}
	if len(cfg.targets) == 0 && cfg.targetFile == "" {
		return usagef("try 'starttls-probe mail.example.com', or 'starttls-probe demo' to see it work", "no target given")
	}
	in, name, closeFile, err := openTargetFile(cfg.targetFile, stdin)
	if err != nil {
		return err
	}
	defer closeFile()
	roots, err := trustedRoots(cfg.caFile)
	if err != nil {
		return err
	}
	// Counted in Plan's reading goroutine, read once Plan is done.
	var fromFile, badLines atomic.Int64
	var fileErr error
	targets := func(yield func(probe.Endpoint) bool) {
		for _, ep := range given {
			if !yield(ep) {
				return
			}
		}
		if in == nil {
			return
		}
		fileErr = probe.ScanTargets(in, func(t string) bool {
			eps, err := probe.Endpoints([]string{t}, cfg.ports, cfg.implicitTLS)
			if err != nil {
				// ScanTargets parsed it already; kept for safety.
				return true
			}
			fromFile.Add(1)
			for _, ep := range eps {
				if !yield(ep) {
					return false
				}
			}
			return true
		}, func(bad *probe.LineError) {
			badLines.Add(1)
			fmt.Fprintf(stderr, "starttls-probe: error: %s:%d: %v\n", name, bad.Line, oneLine(bad.Err.Error()))
		})
	}
	opts := cfg.probeOptions()
	jobs := probe.Plan(ctx, targets, probe.Discovery{MX: cfg.mx, AllAddresses: cfg.allAddresses}, opts, cfg.shard)
	status := streamJobs(ctx, jobs, opts, cfg.expect, roots, *cfg, stdout, stderr)
	if fileErr != nil {
		return targetFileError(name, fileErr, " (the lines before it were probed)")
	}
	if badLines.Load() > 0 {
		fmt.Fprintf(stderr, "hint: fix or comment out (#) the lines above; the other targets were probed\n")
		if status == 0 {
			// Lines of the file were not probed: all is not known to be
			// well.
			status = exitUsage
		}
	}
	if len(cfg.targets) == 0 && fromFile.Load() == 0 {
		return usagef("give at least one target, one per line", "no valid target in --file %s", cfg.targetFile)
	}
	return exitStatus(status)
}

// targetFileError is the usage error of a target file that cannot be read
// on: an encoding it cannot read, or a read error. after says what became
// of the lines before it.
func targetFileError(name string, err error, after string) error {
	if encErr := (*probe.EncodingError)(nil); errors.As(err, &encErr) {
		return usagef("in Notepad: Save as, Encoding UTF-8; in PowerShell: Out-File -Encoding utf8 (UTF-16 with a byte-order mark is read too)", "--file %s: %v%s", name, err, after)
	}
	return usagef("a target file holds one host, host:port or address per line", "--file %s: %v%s", name, err, after)
}

// openTargetFile opens -f path ("-" for stdin); in is nil without -f.
func openTargetFile(path string, stdin io.Reader) (in io.Reader, name string, closeFile func(), err error) {
	switch path {
	case "":
		return nil, "", func() {}, nil
	case "-":
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, usagef("give a readable file of targets, one per line, or - for stdin", "--file: %v", err)
	}
	return f, path, func() { f.Close() }, nil
}

// markDuplicates marks each job that dials what an earlier one dials
// (probe.Job.Key) as a Duplicate, attributed to its target but not dialed,
// drops a job repeated as it is (the same target listed twice), and keeps
// only the shard's jobs: Discover's run does what Plan does for a streamed
// one.
func markDuplicates(jobs []probe.Job, shard probe.Shard) []probe.Job {
	seen := map[string]bool{}
	same := map[probe.Endpoint]bool{}
	kept := jobs[:0]
	for _, j := range jobs {
		if (shard != probe.Shard{}) && !shard.Owns(j) {
			continue
		}
		if same[j.Endpoint] {
			continue
		}
		same[j.Endpoint] = true
		if j.Err == nil {
			key := j.Key()
			j.Duplicate = seen[key]
			seen[key] = true
		}
		kept = append(kept, j)
	}
	return kept
}

// readTargetFile appends the targets of -f path ("-" for stdin) to targets.
// Each bad line is reported on stderr with its number and skipped, so one
// typo does not stop a batch; it returns how many there were.
func readTargetFile(path string, stdin io.Reader, stderr io.Writer, targets *[]string) (int, error) {
	in, name, closeFile, err := openTargetFile(path, stdin)
	if err != nil || in == nil {
		return 0, err
	}
	defer closeFile()
	read, bad, err := probe.ReadTargets(in)
	if err != nil {
		return 0, targetFileError(name, err, "")
	}
	for _, b := range bad {
		fmt.Fprintf(stderr, "starttls-probe: error: %s:%d: %v\n", name, b.Line, oneLine(b.Err.Error()))
	}
	if len(bad) > 0 {
		fmt.Fprintf(stderr, "hint: fix or comment out (#) the lines above; the other targets are probed\n")
	}
	*targets = append(*targets, read...)
	return len(bad), nil
}

// trust is a run's trusted roots: the system's with --ca-file's, loaded at
// their first use, and --ca-file's alone, which a chain is verified against
// first (report.Expect.FirstRoots). A run whose chains all verify to its
// --ca-file never loads the system's pool, about 25 ms of CPU per process:
// a run of a thousand endpoints, or each of the shards of one, pays it once
// more than it needs to (issue 14).
type trust struct {
	load  func() *x509.CertPool
	first *x509.CertPool
}

// apply makes expect verify chains against the run's roots.
func (t trust) apply(expect *report.Expect) {
	expect.Roots, expect.LoadRoots, expect.FirstRoots = nil, t.load, t.first
}

// trustedRoots checks the --ca-file at path at once; the system's roots
// are loaded when first needed.
func trustedRoots(path string) (trust, error) {
	var extra []byte
	var first *x509.CertPool
	if path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return trust{}, usagef("give a readable PEM file of CA certificates", "--ca-file: %v", err)
		}
		first = x509.NewCertPool()
		if !first.AppendCertsFromPEM(pem) {
			return trust{}, usagef("the file must hold PEM \"BEGIN CERTIFICATE\" blocks", "--ca-file %s: no certificate found in it", path)
		}
		extra = pem
	}
	load := sync.OnceValue(func() *x509.CertPool {
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		roots.AppendCertsFromPEM(extra)
		return roots
	})
	return trust{load: load, first: first}, nil
}

// probeAndReport probes the jobs, judges the results, compares them with
// the baseline and delivers the report; it returns the exit status. roots
// are the run's trusted roots (trust).
func probeAndReport(ctx context.Context, jobs []probe.Job, opts probe.Options, expect report.Expect, roots trust, cfg config, stdout, stderr io.Writer) int {
	if cfg.out.format == "jsonl" {
		return streamJobs(ctx, sendJobs(ctx, jobs), opts, expect, roots, cfg, stdout, stderr)
	}
	// One instant for the whole run: every JSONL line and the run's
	// verdict count days left from it, and share report.Cache's chain
	// verdicts.
	now := time.Now()
	var dialed []probe.Job
	var shared []report.SharedEndpoint
	for _, j := range jobs {
		if j.Duplicate {
			shared = append(shared, report.Shared(j.Endpoint))
		} else {
			dialed = append(dialed, j)
		}
	}
	results := probeJobs(ctx, dialed, opts, cfg.out, stderr)
	roots.apply(&expect)
	summary := report.Judge(results, expect, now)
	summary.Version = version()
	summary.Verbose = cfg.out.verbose
	summary.Shared = shared
	status := summary.ExitCode()
	if cfg.baseline != "" {
		// The baseline adds its check to each endpoint, so that every
		// format shows it and the exit status counts it.
		if err := baseline.Apply(ctx, cfg.baseline, &summary, baseline.Options{Update: cfg.updateBaseline}); err != nil {
			fmt.Fprintf(stderr, "starttls-probe: error: %s\n", oneLine(err.Error()))
			if cfg.out.format == "nagios" && cfg.out.file == "" {
				writeNagiosError(stdout, err)
				return exitUsage
			}
			// What was probed is still worth reading; the status says
			// that it could not be compared.
			deliverReport(summary, cfg.out, stdout, stderr)
			return exitUsage
		}
		status = summary.ExitCode()
	}
	if !deliverReport(summary, cfg.out, stdout, stderr) {
		return exitUsage
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "starttls-probe: interrupted; the report shows what finished")
	}
	return status
}

// deliverReport writes the report where out says: --output-file, stdout,
// or nowhere for --quiet when all is ok. A report that cannot be written to
// its file goes to stdout instead, so that the run is not lost; it reports
// whether the report reached where it was asked to go.
func deliverReport(summary report.Summary, out output, stdout, stderr io.Writer) bool {
	if out.format == "jsonl" {
		// Written line by line as each endpoint finished.
		return true
	}
	return deliver(func(w io.Writer) error { return writeReport(w, summary, out.format, out.color) }, summary.Status, out, stdout, stderr)
}

// deliver writes a report of the run's status with write, as deliverReport
// says.
func deliver(write func(io.Writer) error, status report.Status, out output, stdout, stderr io.Writer) bool {
	var err error
	switch {
	case out.file != "":
		err = atomicfile.Write(out.file, 0o644, write)
		if err != nil {
			fmt.Fprintf(stderr, "starttls-probe: error: writing the report: %v\n", oneLine(err.Error()))
			fmt.Fprintf(stderr, "hint: the report follows on stdout; give --output-file a path you can write to\n")
			if err := write(stdout); err != nil {
				fmt.Fprintf(stderr, "starttls-probe: error: writing the report: %v\n", err)
			}
			return false
		}
	case out.quiet && status == report.OK:
		// --quiet: every check is ok, so cron has nothing to mail.
	default:
		err = write(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "starttls-probe: error: writing the report: %v\n", err)
		return false
	}
	return true
}

// writeReport renders the summary in format: the one place that picks a
// renderer.
func writeReport(w io.Writer, summary report.Summary, format string, color bool) error {
	switch format {
	case "json":
		return render.JSON(w, summary)
	case "nagios":
		return render.Nagios(w, summary)
	case "prometheus":
		return render.Prometheus(w, summary)
	case "pem":
		return render.PEM(w, summary)
	default:
		return render.Text(w, summary, color)
	}
}

// writeNagiosError is the status line of a run that judged nothing, for a
// monitoring system that reads only stdout.
func writeNagiosError(w io.Writer, err error) {
	render.NagiosError(w, err)
}

// progressMinJobs is where a run gets long enough for a progress bar.
const progressMinJobs = 20

// probeJobs runs the jobs and returns their results in job order, lean
// (transcripts only with -v); on a terminal it shows a progress bar on
// stderr for long runs, never in a pipe.
func probeJobs(ctx context.Context, jobs []probe.Job, opts probe.Options, out output, stderr io.Writer) []probe.Result {
	var bar *progressbar.ProgressBar
	if len(jobs) >= progressMinJobs && isTerminal(stderr) {
		bar = progressbar.NewOptions(len(jobs),
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("probing"),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	results := make([]probe.Result, len(jobs))
	// Every node of a pool presents the same DER, which each handshake
	// parsed into a copy of its own: one is kept for the run.
	shared := probe.ParsedCertificates{}
	place := make(map[probe.Endpoint]int, len(jobs))
	for i, j := range jobs {
		place[j.Endpoint] = i
	}
	finished := make([]bool, len(jobs))
	probe.RunStream(ctx, sendJobs(ctx, jobs), opts, func(job probe.Job, r probe.Result) {
		// Kept lean as it comes, not trimmed at the end: the run's peak
		// is what counts.
		i := place[job.Endpoint]
		r = lean(r, out.verbose)
		r.Chain = shared.Intern(r.Chain)
		results[i], finished[i] = r, true
		if bar != nil {
			bar.Add(1)
		}
	})
	if bar != nil {
		bar.Finish()
	}
	// Interrupted: the jobs never started are reported as such (Run dials
	// nothing once ctx is done), so that every target has its line.
	var rest []probe.Job
	var at []int
	for i := range jobs {
		if !finished[i] {
			rest, at = append(rest, jobs[i]), append(at, i)
		}
	}
	for k, r := range probe.Run(ctx, rest, opts, nil) {
		results[at[k]] = r
	}
	return results
}

// sendJobs hands the jobs over one at a time, until ctx is done.
func sendJobs(ctx context.Context, jobs []probe.Job) <-chan probe.Job {
	ch := make(chan probe.Job)
	go func() {
		defer close(ch)
		for i, j := range jobs {
			// Discover's jobs come in the input's order.
			j.Place = probe.Place{Target: i}
			select {
			case ch <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// lineWriter serializes a JSONL run's writes: group lines come from the
// judging goroutine, "shared" lines from the one that plans. After the
// first error nothing more is written.
type lineWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func (l *lineWriter) write(f func(io.Writer) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = f(l.w)
	}
	return l.err
}

func (l *lineWriter) flush() error { return l.write(func(io.Writer) error { return l.w.Flush() }) }

// newHostStream judges a streamed run one mail host at a time, handing
// each host's judgement to the sink as soon as its last endpoint is in
// (report.Stream).
func newHostStream(cfg config, expect report.Expect, now time.Time, roots trust, sink runSink) *report.Stream {
	roots.apply(&expect)
	return report.NewStream(expect, now, func(s report.Summary) error {
		s.Version = version()
		s.Verbose = cfg.out.verbose
		return sink.host(s)
	})
}

// runSink is where a streamed run's judgements go as they come: JSONL
// lines (lineSink), or the JSON document, written once the run is done
// (documentSink).
type runSink interface {
	// announce is told of each endpoint to be probed, and its place in the
	// input (probe.Job.Place).
	announce(ep probe.Endpoint, place probe.Place)
	// host takes one mail host's judgement; shared an endpoint probed once
	// for another target.
	host(s report.Summary) error
	shared(e report.SharedEndpoint)
	// flush sends what is written so far on its way.
	flush()
	// finish ends the run with its totals, judged at now, and returns its
	// exit status, or exitUsage and false when the report could not be
	// written.
	finish(totals report.Totals, now time.Time) (int, bool)
}

// lineSink writes a JSONL run.
type lineSink struct {
	lw  *lineWriter
	err io.Writer
}

func newLineSink(stdout, stderr io.Writer) *lineSink {
	return &lineSink{lw: newLineWriter(stdout), err: stderr}
}

func newLineWriter(stdout io.Writer) *lineWriter {
	return &lineWriter{w: bufio.NewWriterSize(stdout, 64<<10)}
}

func (l *lineSink) announce(probe.Endpoint, probe.Place) {}

func (l *lineSink) host(s report.Summary) error {
	return l.lw.write(func(w io.Writer) error { return render.JSONLines(w, s) })
}

func (l *lineSink) shared(e report.SharedEndpoint) {
	l.lw.write(func(w io.Writer) error { return render.JSONLinesShared(w, e) })
}

func (l *lineSink) flush() { l.lw.flush() }

// finish writes the summary line and flushes everything.
func (l *lineSink) finish(totals report.Totals, now time.Time) (int, bool) {
	l.lw.write(func(w io.Writer) error {
		return render.JSONLinesTotals(w, "starttls-probe", version(), now, totals)
	})
	if err := l.lw.flush(); err != nil {
		fmt.Fprintf(l.err, "starttls-probe: error: writing the report: %v\n", err)
		return exitUsage, false
	}
	return totals.ExitCode(), true
}

// documentSink writes a streamed -o json run: each host's results are
// encoded as the host is judged and kept in a temporary file (in memory
// when none can be made), and the document is written at the end, as the
// held run would write it (render.JSONDocument).
type documentSink struct {
	doc *render.JSONDocument
	// places and shared endpoints come from the goroutine that plans,
	// judged hosts from the one that judges.
	mu     sync.Mutex
	places map[probe.Endpoint]probe.Place
	out    output
	stdout io.Writer
	stderr io.Writer
	// done removes the temporary file.
	done func()
}

func newDocumentSink(out output, stdout, stderr io.Writer) *documentSink {
	d := &documentSink{places: map[probe.Endpoint]probe.Place{}, out: out, stdout: stdout, stderr: stderr, done: func() {}}
	var spill render.Spill = &render.MemorySpill{}
	if f, err := os.CreateTemp("", "starttls-probe-*.json"); err == nil {
		spill = f
		d.done = func() {
			f.Close()
			os.Remove(f.Name())
		}
	}
	d.doc = render.NewJSONDocument(spill)
	return d
}

func (d *documentSink) announce(ep probe.Endpoint, place probe.Place) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.places[ep] = place
}

func (d *documentSink) host(s report.Summary) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.doc.Add(s, func(ep probe.Endpoint) probe.Place {
		place := d.places[ep]
		// Written: no longer needed.
		delete(d.places, ep)
		return place
	})
}

func (d *documentSink) shared(e report.SharedEndpoint) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.doc.AddShared(e)
}

func (d *documentSink) flush() {}

func (d *documentSink) finish(totals report.Totals, now time.Time) (int, bool) {
	defer d.done()
	write := func(w io.Writer) error { return d.doc.Write(w, "starttls-probe", version(), totals.Status, now) }
	if !deliver(write, totals.Status, d.out, d.stdout, d.stderr) {
		return exitUsage, false
	}
	return totals.ExitCode(), true
}

// streamedRun is what a streamed run does with its endpoints as they
// come: judge each mail host once its last endpoint is in and hand the
// judgement to a sink (judgedRun), or, in a --shard run, write what was
// observed for merge to judge (shardRun).
type streamedRun interface {
	// expect is told of each endpoint to be probed, and its place in the
	// input, before it can finish.
	expect(ep probe.Endpoint, place probe.Place)
	// shared takes an endpoint probed once for another target.
	shared(e report.SharedEndpoint)
	// add takes an endpoint's result.
	add(r probe.Result)
	// flush sends what is written so far on its way.
	flush()
	// finish ends the run, at now, interrupted when the run's context
	// ended it, and returns its exit status.
	finish(now time.Time, interrupted bool) int
}

// judgedRun judges a streamed run one mail host at a time (report.Stream)
// and writes the judgements to sink.
type judgedRun struct {
	sink   runSink
	stream *report.Stream
	stderr io.Writer
}

func (j judgedRun) expect(ep probe.Endpoint, place probe.Place) {
	// Announced before it can finish: its host is not judged without it.
	j.sink.announce(ep, place)
	j.stream.ExpectAt(ep, place)
}

func (j judgedRun) shared(e report.SharedEndpoint) { j.sink.shared(e) }
func (j judgedRun) add(r probe.Result)             { j.stream.Add(r) }
func (j judgedRun) flush()                         { j.sink.flush() }

func (j judgedRun) finish(now time.Time, interrupted bool) int {
	totals, _ := j.stream.Close()
	status, written := j.sink.finish(totals, now)
	if written && interrupted {
		fmt.Fprintln(j.stderr, "starttls-probe: interrupted; the report shows what finished")
	}
	return status
}

// shardRun writes a --shard run: an observation line per endpoint probed
// (render.JSONLinesObservation), each certificate once before the first
// observation that names it (render.JSONLinesCertificate), a "shared" line
// per endpoint probed once for another target, and the shard's summary
// line last. It judges nothing: merge judges every shard's observations as
// one run, so that no endpoint is judged (its chain verified, its lines
// rendered) twice.
type shardRun struct {
	lw      *lineWriter
	summary render.ShardSummary
	stderr  io.Writer
	// certs and given are add's alone.
	certs probe.CertificateIndex
	given []probe.CertificateRecord
}

func newShardRun(stdout, stderr io.Writer, shard probe.Shard) *shardRun {
	return &shardRun{lw: newLineWriter(stdout), summary: render.ShardSummary{Tool: "starttls-probe", Version: version(), Shard: shard.String()}, stderr: stderr}
}

func (s *shardRun) expect(probe.Endpoint, probe.Place) {}

// shared and add are called from one goroutine each: the counts are read
// once both are done.
func (s *shardRun) shared(e report.SharedEndpoint) {
	s.summary.Shared++
	s.lw.write(func(w io.Writer) error { return render.JSONLinesShared(w, e) })
}

func (s *shardRun) add(r probe.Result) {
	s.summary.Observed++
	if r.Started.After(s.summary.Last) {
		s.summary.Last = r.Started
	}
	rec := probe.NewRecord(&r)
	s.given = s.given[:0]
	rec.ReferCertificates(&s.certs, func(c probe.CertificateRecord) { s.given = append(s.given, c) })
	s.lw.write(func(w io.Writer) error {
		for _, c := range s.given {
			if err := render.JSONLinesCertificate(w, c); err != nil {
				return err
			}
		}
		return render.JSONLinesObservation(w, &rec)
	})
}

func (s *shardRun) flush() { s.lw.flush() }

// finish writes the summary line. A shard's exit status says whether its
// file is whole, not what was found (that is the merge's): 0 when it is,
// exitInterrupted when the run was interrupted (its summary line says so
// and merge refuses the file), exitUsage when it could not be written.
func (s *shardRun) finish(now time.Time, interrupted bool) int {
	s.summary.Checked, s.summary.Interrupted = now, interrupted
	s.lw.write(func(w io.Writer) error { return render.JSONLinesShardSummary(w, s.summary) })
	if err := s.lw.flush(); err != nil {
		fmt.Fprintf(s.stderr, "starttls-probe: error: writing the shard's lines: %v\n", err)
		return exitUsage
	}
	if interrupted {
		fmt.Fprintf(s.stderr, "starttls-probe: interrupted: shard %s is not whole, and merge will refuse its file; run the shard again\n", s.summary.Shard)
		return exitInterrupted
	}
	return 0
}

// streamJobs probes the jobs as they come and hands each to the run: a
// judged one writes each mail host's lines as soon as its last endpoint
// finished, a "shared" line for each duplicate (probed once for another
// target), and the summary line last; a shard writes what it observed.
// Only the hosts in flight are held, so memory stays flat however many
// jobs come. It returns the run's exit status.
func streamJobs(ctx context.Context, jobs <-chan probe.Job, opts probe.Options, expect report.Expect, roots trust, cfg config, stdout, stderr io.Writer) int {
	// One instant for the whole run: every line counts days left from it.
	now := time.Now()
	var run streamedRun
	if cfg.shard != (probe.Shard{}) {
		run = newShardRun(stdout, stderr, cfg.shard)
	} else {
		var sink runSink = newLineSink(stdout, stderr)
		if cfg.out.format == "json" {
			sink = newDocumentSink(cfg.out, stdout, stderr)
		}
		run = judgedRun{sink: sink, stream: newHostStream(cfg, expect, now, roots, sink), stderr: stderr}
	}
	var bar *progressbar.ProgressBar
	// On a terminal, unless JSONL lines go to the same one; a document is
	// written at the end. The number of endpoints is not known while
	// targets stream in.
	if isTerminal(stderr) && (cfg.out.format == "json" || !isTerminal(stdout)) {
		bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("probing"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	toProbe := make(chan probe.Job)
	go func() {
		defer close(toProbe)
		for job := range jobs {
			if job.Duplicate {
				run.shared(report.Shared(job.Endpoint))
				continue
			}
			run.expect(job.Endpoint, job.Place)
			select {
			case toProbe <- job:
			case <-ctx.Done():
				// Interrupted: the hosts judged so far and the ones in
				// flight are written; the rest was never probed.
				for range jobs {
				}
				return
			}
		}
	}()
	// Judging and writing happen in a goroutine of their own, so that a
	// worker hands its result over and takes the next endpoint at once.
	finished := make(chan probe.Result, cfg.concurrency)
	judged := make(chan struct{})
	go func() {
		defer close(judged)
		for r := range finished {
			run.add(r)
			// Lines go out as their host finishes, several in one write
			// when several finished at once.
			if len(finished) == 0 {
				run.flush()
			}
			if bar != nil {
				bar.Add(1)
			}
		}
	}()
	probe.RunStream(ctx, toProbe, opts, func(_ probe.Job, r probe.Result) { finished <- lean(r, cfg.out.verbose) })
	close(finished)
	<-judged
	if bar != nil {
		bar.Finish()
	}
	return run.finish(now, ctx.Err() != nil)
}

// lean drops what no output of the run shows: the transcripts, without -v
// (a few kilobytes an endpoint, held until its host is judged, or for the
// whole run in a held one).
func lean(r probe.Result, verbose bool) probe.Result {
	if verbose {
		return r
	}
	r.Transcript = nil
	if r.TLSRequired != nil && r.TLSRequired.Transcript != nil {
		t := *r.TLSRequired
		t.Transcript = nil
		r.TLSRequired = &t
	}
	return r
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

func runDemo(c *cli.Context, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := config{out: outputFrom(c, stdout, getenv), timeout: c.Duration("timeout")}
	if err := cfg.validateOutput(); err != nil {
		return err
	}
	// A target after "demo" was meant for a real probe; ignoring it would
	// show the demo's report as if it were that host's.
	if c.NArg() > 0 {
		return usagef("the demo probes its own server; to probe a host, leave out 'demo': starttls-probe HOST", "demo takes no target, got %q", c.Args().First())
	}
	demo, err := probetest.StartDemo()
	if err != nil {
		return fmt.Errorf("starting the demo server: %w", err)
	}
	defer demo.Close()
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	roots.AddCert(demo.Root)
	if cfg.out.format == "text" {
		fmt.Fprintf(stderr, "demo: an Exchange-like server for %s on loopback: its 25, 587 and 2525 listeners run on free ports\n\n", probetest.DemoName)
	}
	expect := report.Expect{Name: probetest.DemoName, Roots: roots, WarnDays: report.DefaultWarnDays, CritDays: report.DefaultCritDays}
	opts := probe.Options{EHLOName: probe.DefaultEHLOName(), Timeout: cfg.timeout,
		ResolverAddr: demo.Policy.Resolver, PolicyHTTPSAddr: demo.Policy.HTTPS}
	jobs := probe.Discover(c.Context, demo.Endpoints, probe.Discovery{}, opts)
	expect.Policies = probe.ObservePolicies(c.Context, jobs, opts)
	status := probeAndReport(c.Context, jobs, opts, expect,
		trust{load: func() *x509.CertPool { return roots }}, cfg, stdout, stderr)
	if cfg.out.format == "text" {
		// The demo ends CRITICAL on purpose, and go run turns that into
		// "exit status 2", which reads like a crash to a first-time user.
		fmt.Fprintf(stderr, "\ndemo: exit status %d; its 587 listener presents a certificate for another name on purpose, so the demo ends CRITICAL.\n", status)
		fmt.Fprintf(stderr, "exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (go run prints a status other than 0 as \"exit status N\")\n")
	}
	return exitStatus(status)
}

// completionShells are the shells --completion writes a script for.
const completionShells = "bash, zsh or powershell"

// writeCompletion writes a completion script for shell, made from the
// flag definitions so that it cannot fall behind them.
func writeCompletion(w io.Writer, shell string, flags []cli.Flag, commands []*cli.Command) error {
	var all, files, values []string
	for _, f := range flags {
		for _, n := range f.Names() {
			all = append(all, dashed(n))
			// --output and --completion have their own cases, with
			// their values.
			own := slices.Contains(f.Names(), "output") || slices.Contains(f.Names(), "completion")
			if f.(cli.DocGenerationFlag).TakesValue() && !own {
				if placeholder, _ := placeholderOf(f); placeholder == "FILE" {
					files = append(files, dashed(n))
				} else {
					values = append(values, dashed(n))
				}
			}
		}
	}
	words := []string{"help", "version"}
	for _, c := range commands {
		words = append(words, c.Name)
	}
	formats := "text json jsonl nagios prometheus pem"
	bash := fmt.Sprintf(`_starttls_probe() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  case $prev in
    -o|--output) COMPREPLY=($(compgen -W %[1]q -- "$cur")); return ;;
    --completion) COMPREPLY=($(compgen -W "bash zsh powershell" -- "$cur")); return ;;
    %[2]s) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    %[3]s) COMPREPLY=(); return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W %[4]q -- "$cur"))
  elif [[ $COMP_CWORD == 1 ]]; then
    COMPREPLY=($(compgen -W %[5]q -A hostname -- "$cur"))
  else
    COMPREPLY=($(compgen -A hostname -- "$cur"))
  fi
}
complete -F _starttls_probe starttls-probe
`, formats, strings.Join(files, "|"), strings.Join(values, "|"), strings.Join(all, " "), strings.Join(words, " "))
	var script string
	switch shell {
	case "bash":
		script = "# bash completion for starttls-probe: source it from ~/.bashrc, or save it as\n" +
			"# /etc/bash_completion.d/starttls-probe\n" + bash
	case "zsh":
		// zsh runs the bash function through its bashcompinit.
		script = "#compdef starttls-probe\n# zsh completion for starttls-probe: source it from ~/.zshrc\n" +
			"autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n" + bash
	case "powershell":
		psList := func(items []string) string { return "@('" + strings.Join(items, "', '") + "')" }
		script = fmt.Sprintf(`# PowerShell completion for starttls-probe: add this line to $PROFILE
#   starttls-probe --completion powershell | Out-String | Invoke-Expression
Register-ArgumentCompleter -Native -CommandName starttls-probe, starttls-probe.exe -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $before = @($commandAst.CommandElements | Where-Object { $_.Extent.EndOffset -lt $cursorPosition })
    $prev = if ($before.Count -gt 1) { $before[-1].ToString() } else { '' }
    $candidates = switch -Exact ($prev) {
        { $_ -in @('-o', '--output') } { %[1]s; break }
        '--completion' { @('bash', 'zsh', 'powershell'); break }
        { $_ -in %[2]s } { return } # a file, or a value to type
        default {
            if ($wordToComplete -like '-*') { %[3]s }
            elseif ($before.Count -eq 1) { %[4]s }
        }
    }
    $candidates | Where-Object { $_ -like "$wordToComplete*" } | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
`, psList(strings.Fields(formats)), psList(append(files, values...)), psList(all), psList(words))
	default:
		return usagef("use --completion "+completionShells, "no completion for shell %q", shell)
	}
	_, err := io.WriteString(w, script)
	return err
}

// serveCommand is "starttls-probe serve": the exporter. Its flags follow
// the Prometheus exporters' (dots, --web.*, --config.*).
func serveCommand(stdout, stderr io.Writer) *cli.Command {
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "web.listen-address", Value: cli.NewStringSlice(defaultListenAddress), Usage: "`ADDRESS` to listen on, repeatable", Category: "Server"},
		&cli.StringFlag{Name: "web.config.file", Usage: "exporter-toolkit web configuration `FILE`: TLS and basic authentication", Category: "Server"},
		&cli.StringFlag{Name: "config.file", Value: "starttls-probe.yml", Usage: "modules `FILE` (YAML)", Category: "Server"},
		&cli.BoolFlag{Name: "config.check", Usage: "check --config.file (and --web.config.file) and exit", Category: "Server", DisableDefaultText: true},
		&cli.IntFlag{Name: "probe.max-concurrent", Value: exporter.DefaultMaxConcurrent, Usage: "`N` probes at once at most; a scrape waits for a slot until its timeout", Category: "Server"},
		&cli.StringFlag{Name: "log.level", Value: "info", Usage: "`LEVEL` of the log on stderr: debug, info, warn or error", Category: "Server"},
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show this help", Category: "Server", DisableDefaultText: true},
	}
	return &cli.Command{
		Name:               "serve",
		Usage:              serveUsage,
		Flags:              flags,
		HideHelp:           true,
		CustomHelpTemplate: helpText("starttls-probe serve", serveUsage, "starttls-probe serve [flags]", serveDescription, nil, flags),
		OnUsageError:       explainUsageError(flags),
		Action:             func(c *cli.Context) error { return runServe(c, stdout, stderr) },
	}
}

func runServe(c *cli.Context, stdout, stderr io.Writer) error {
	if c.NArg() > 0 {
		return usagef("targets come with each scrape: /probe?target=HOST&module=NAME", "serve takes no target, got %q", c.Args().First())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log.level"))); err != nil {
		return usagef("use --log.level debug, info, warn or error", "--log.level: %v", err)
	}
	if c.Int("probe.max-concurrent") < 1 {
		return usagef("for example --probe.max-concurrent 64", "--probe.max-concurrent must be at least 1, got %d", c.Int("probe.max-concurrent"))
	}
	if tuneGC != nil {
		tuneGC(gcServe)
	}
	configHint := "see the README's exporter section and scripts/examples/starttls-probe.yml; unknown keys are errors"
	file, webConfig := c.String("config.file"), c.String("web.config.file")
	if webConfig != "" {
		if err := web.Validate(webConfig); err != nil {
			return usagef("see github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md", "--web.config.file: %v", err)
		}
	}
	if c.Bool("config.check") {
		cfg, err := exporter.Check(file, prepareModule)
		if err != nil {
			return usagef(configHint, "--config.file: %v", err)
		}
		fmt.Fprintf(stdout, "ok: %s: modules %s\n", file, strings.Join(cfg.ModuleNames(), ", "))
		return nil
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	exp, err := exporter.New(exporter.Options{ConfigFile: file, Prepare: prepareModule, Logger: logger, MaxConcurrent: c.Int("probe.max-concurrent")})
	if err != nil {
		return usagef(configHint, "--config.file: %v", err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx := c.Context
	// net/http's own complaints (a plain-HTTP request to the TLS port) go
	// to the exporter's log, not to the log package's default.
	srv := &http.Server{Handler: exp.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() {
		for {
			select {
			case <-hup:
				exp.Reload() // logs and counts its own failure
			case <-ctx.Done():
				shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(shutdown)
				return
			}
		}
	}()
	addresses, noSystemd := c.StringSlice("web.listen-address"), false
	err = web.ListenAndServe(srv, &web.FlagConfig{WebListenAddresses: &addresses, WebSystemdSocket: &noSystemd, WebConfigFile: &webConfig}, logger)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serving: %w", err)
}

// prepareModule turns an exporter module into a Prober through the same
// config and validate as the command line, so a module accepts what the
// flags accept and refuses what they refuse.
func prepareModule(_ string, m exporter.Module) (exporter.Prober, error) {
	cfg := config{
		out: output{format: "prometheus"}, timeout: m.Timeout, portArgs: m.Ports, implicitTLS: m.ImplicitTLS,
		mx: m.MX, allAddresses: m.AllAddresses, only4: m.IPProtocol == "ip4", only6: m.IPProtocol == "ip6",
		resolver: m.Resolver, concurrency: probe.DefaultConcurrency, addressConcurrency: probe.DefaultAddressConcurrency, sni: m.SNI, noSNI: m.NoSNI, ehlo: m.EHLO,
		noTLSRequiredTest: m.TLSRequiredTest != nil && !*m.TLSRequiredTest, rcptTest: m.RCPTTest, caFile: m.CAFile,
		name: m.Name, thumbprint: m.Thumbprint, tlsCertificateName: m.TLSCertificateName,
		warnDays: report.DefaultWarnDays, critDays: report.DefaultCritDays,
		domain: m.Domain, noPolicy: m.NoPolicy, tlsScan: m.TLSScan, scanConnections: probe.DefaultScanConnections,
		as: m.As, tlsDomain: m.TLSDomain,
	}
	if m.ScanConnections != 0 {
		cfg.scanConnections = m.ScanConnections
	}
	if m.WarnDays != nil {
		cfg.warnDays = *m.WarnDays
	}
	if m.CritDays != nil {
		cfg.critDays, cfg.critDaysGiven = *m.CritDays, true
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	roots, err := trustedRoots(cfg.caFile)
	if err != nil {
		return nil, err
	}
	opts := cfg.probeOptions()
	discovery := probe.Discovery{MX: cfg.mx, AllAddresses: cfg.allAddresses}
	return func(ctx context.Context, target string) (report.Summary, error) {
		endpoints, err := probe.Endpoints([]string{target}, cfg.ports, cfg.implicitTLS)
		if err != nil {
			return report.Summary{}, err
		}
		cfg.scopePolicy(endpoints)
		opts := opts
		if deadline, ok := ctx.Deadline(); ok {
			opts.Timeout = min(opts.Timeout, time.Until(deadline))
		}
		jobs := probe.Discover(ctx, endpoints, discovery, opts)
		expect := cfg.expect
		// The policies are looked up first, as for the command line, so
		// that the judgement is under them.
		expect.Policies = cfg.observePolicies(ctx, jobs, opts)
		results := probe.Run(ctx, jobs, opts, nil)
		// A cache per probe: the exporter runs for months, and a shared
		// one would keep every certificate it ever saw.
		roots.apply(&expect)
		expect.Cache = report.NewCache()
		s := report.Judge(results, expect, time.Now())
		s.Version = version()
		return s, nil
	}, nil
}

// validatePolicy checks --domain and --no-policy.
func (cfg *config) validatePolicy() error {
	if cfg.domain == "" {
		return nil
	}
	host, port, err := probe.ParseTarget(cfg.domain)
	if err != nil || port != 0 || (probe.Endpoint{Host: host}).HostIsIP() {
		return usagef("give the mail domain the hosts receive for, e.g. --domain contoso.com", "--domain %q is not a domain name", cfg.domain)
	}
	if cfg.noPolicy {
		return usagef("give one of them", "--domain and --no-policy conflict: --domain asks for the domain's policy")
	}
	if cfg.mx {
		return usagef("leave out --domain: each --mx target is its own mail domain", "--domain and --mx conflict")
	}
	cfg.domain = strings.TrimSuffix(host, ".")
	return nil
}

// scopePolicy makes --domain the mail domain of every host target, whose
// policy then applies to it; --mx targets get their own in discovery.
func (cfg *config) scopePolicy(endpoints []probe.Endpoint) {
	if cfg.domain == "" {
		return
	}
	for i := range endpoints {
		endpoints[i].Domain = cfg.domain
	}
}

// observePolicies looks up the published policies of the jobs' domains
// before anything is probed, so that every output (each JSONL line too)
// is judged under them; nil with --no-policy.
func (cfg *config) observePolicies(ctx context.Context, jobs []probe.Job, opts probe.Options) []probe.DomainPolicy {
	if cfg.noPolicy {
		return nil
	}
	return probe.ObservePolicies(ctx, jobs, opts)
}

// mergeCommand is `starttls-probe merge`: the shards of a --shard run
// judged as one run.
func mergeCommand(stdout, stderr io.Writer, getenv func(string) string) *cli.Command {
	flags := append(append(expectationFlags(), viewFlags(true)...), outputFlags()...)
	return &cli.Command{
		Name:               "merge",
		Usage:              mergeUsage,
		Flags:              flags,
		HideHelp:           true,
		CustomHelpTemplate: helpText("starttls-probe merge", mergeUsage, "starttls-probe merge [flags] SHARD.jsonl...", mergeDescription, nil, flags),
		OnUsageError:       explainUsageError(flags),
		Action: func(c *cli.Context) error {
			return runMerge(c, stdout, stderr, getenv)
		},
	}
}

const mergeUsage = "judge the JSONL of --shard runs as one run, in any output format"

const mergeDescription = `Each shard of a --shard K/N run writes, as JSONL, what each of its endpoints
did ("observation" lines), and judges nothing. merge reads them, in any
order, and judges them as one run: the checks that compare endpoints
(consistency, certificate-differs, a host silent on every port) see every
shard, and the exit status is the whole run's. The expectations are
merge's (--thumbprint, --ca-file, --warn-days, ...), and a shard refuses
them; --name and --as are both: the shards send the name as SNI and scan
for the view, and merge judges the certificates and the scans.`

// runMerge reads the shards' endpoint lines and judges them as one run.
func runMerge(c *cli.Context, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg := configFrom(c, stdout, getenv)
	if err := cfg.validateOutput(); err != nil {
		return err
	}
	if err := cfg.validateExpectations(); err != nil {
		return err
	}
	if err := cfg.validateView(); err != nil {
		return err
	}
	files := c.Args().Slice()
	if len(files) == 0 {
		return usagef("for example: starttls-probe merge shard-*.jsonl", "no shard file given")
	}
	roots, err := trustedRoots(cfg.caFile)
	if err != nil {
		return err
	}
	if tuneGC != nil {
		tuneGC(gcMerge)
	}
	paths, cleanup, err := spoolStdin(files, c.App.Reader)
	if err != nil {
		return err
	}
	defer cleanup()
	// First what every shard holds, without decoding an observation: the
	// endpoints to expect (JSONL judges a host as soon as all of its are
	// read), the shared attributions and the summary lines.
	scan := mergeScan{expect: cfg.out.format == "jsonl"}
	for i, name := range files {
		if err := scan.read(name, paths[i]); err != nil {
			return err
		}
	}
	if err := checkShards(files, scan.shards); err != nil {
		return err
	}
	// Judged at the last instant a shard observed: merging the same files
	// again gives the same report.
	now := scan.last
	if now.IsZero() {
		now = time.Now()
	}
	expect := cfg.expect
	if cfg.out.format == "jsonl" {
		status, err := streamMerge(files, paths, &scan, expect, roots, now, cfg, stdout, stderr)
		if err != nil {
			return err
		}
		return exitStatus(status)
	}
	var in mergeInput
	for i, name := range files {
		if err := readObservations(name, paths[i], func(r probe.Result) { in.add(r) }); err != nil {
			return err
		}
	}
	roots.apply(&expect)
	summary := report.Judge(in.results(), expect, now)
	summary.Shared = scan.shared
	summary.Version = version()
	summary.Verbose = cfg.out.verbose
	if !deliverReport(summary, cfg.out, stdout, stderr) {
		return exitStatus(exitUsage)
	}
	return exitStatus(summary.ExitCode())
}

// checkShards refuses files that are not every shard of one run once: a
// merge of three of four shards would judge a quarter of the run as if it
// were not there, and say all is well.
func checkShards(files []string, shards map[string]string) error {
	const hint = "give merge the files of every shard of one run, each once: shard-0.jsonl ... shard-(N-1).jsonl"
	count := 0
	seen := map[int]string{}
	for _, name := range files {
		s, err := probe.ParseShard(shards[name])
		if err != nil {
			return usagef(hint, "%s was not written by a --shard run (its summary line names no shard)", name)
		}
		if count != 0 && s.Count != count {
			return usagef(hint, "%s is shard %s, another file is of %d shards", name, s, count)
		}
		count = s.Count
		if other, dup := seen[s.Index]; dup {
			return usagef(hint, "%s and %s are both shard %s", other, name, s)
		}
		seen[s.Index] = name
	}
	var missing []string
	for k := range count {
		if _, ok := seen[k]; !ok {
			missing = append(missing, probe.Shard{Index: k, Count: count}.String())
		}
	}
	if len(missing) > 0 {
		return usagef(hint, "shard %s missing: the run is not whole", strings.Join(missing, ", "))
	}
	return nil
}

// maxShardLine bounds one JSONL line of a shard: an endpoint's observation
// with its chain and a -v transcript is tens of kilobytes; a --tls-scan's
// every certificate a few hundred.
const maxShardLine = 16 << 20

// mergeInput is the observed results merge reads to judge a run whole
// (every output format but JSONL, which is judged a host at a time).
type mergeInput struct {
	// chunks hold the results resultChunk at a time: a Result is about
	// 600 bytes, and growing one slice to a run's size copied them over
	// and over (a tenth of a merge's CPU).
	chunks [][]probe.Result
}

const resultChunk = 1024

func (in *mergeInput) add(r probe.Result) {
	if n := len(in.chunks); n == 0 || len(in.chunks[n-1]) == resultChunk {
		in.chunks = append(in.chunks, make([]probe.Result, 0, resultChunk))
	}
	last := &in.chunks[len(in.chunks)-1]
	*last = append(*last, r)
}

// results is every result read, in one slice, for report.Judge.
func (in *mergeInput) results() []probe.Result {
	n := 0
	for _, chunk := range in.chunks {
		n += len(chunk)
	}
	all := make([]probe.Result, 0, n)
	for _, chunk := range in.chunks {
		all = append(all, chunk...)
	}
	return all
}

// mergeHint is the hint of a file merge cannot read.
const mergeHint = "merge reads the JSONL that starttls-probe --shard K/N -o jsonl writes"

// spoolStdin copies stdin, when "-" is among files, to a temporary file
// (removed by cleanup), since merge reads its files twice; paths are the
// files to open, one for each of files.
func spoolStdin(files []string, stdin io.Reader) (paths []string, cleanup func(), err error) {
	if !slices.Contains(files, "-") {
		return files, func() {}, nil
	}
	const hint = "give the shards' files by name: merge reads them twice"
	f, err := os.CreateTemp("", "starttls-probe-merge-*.jsonl")
	if err != nil {
		return nil, nil, usagef(hint, "merge: keeping stdin: %v", err)
	}
	cleanup = func() {
		f.Close()
		os.Remove(f.Name())
	}
	if _, err := io.Copy(f, stdin); err != nil {
		cleanup()
		return nil, nil, usagef(hint, "merge: reading stdin: %v", err)
	}
	paths = slices.Clone(files)
	for i, name := range files {
		if name == "-" {
			paths[i] = f.Name()
		}
	}
	return paths, cleanup, nil
}

// eachShardLine calls line with each line of the shard file at path
// (named name in errors) and its number, until it returns an error.
func eachShardLine(name, path string, line func(n int, b []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("give the JSONL files the --shard runs wrote", "merge: %v", err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64<<10), maxShardLine)
	for n := 1; scanner.Scan(); n++ {
		if err := line(n, scanner.Bytes()); err != nil {
			return err
		}
	}
	if err := scanner.Err(); err != nil {
		return usagef(mergeHint, "%s: %v", name, err)
	}
	return nil
}

// mergeScan is what merge learns of the shards before it decodes any
// observation: each endpoint observed, the endpoints probed once for
// another target, which shard ("K/N") each file's summary line names, and
// the last instant any shard observed an endpoint.
type mergeScan struct {
	// expect asks for the endpoints.
	expect    bool
	endpoints []probe.Endpoint
	shared    []report.SharedEndpoint
	shards    map[string]string
	last      time.Time
}

// read scans one shard's file. An observation line gives its endpoint
// alone (observedEndpoint), the lines of other types are decoded whole.
func (m *mergeScan) read(name, path string) error {
	summary := false
	err := eachShardLine(name, path, func(n int, line []byte) error {
		if bytes.HasPrefix(line, []byte(render.CertificatePrefix)) {
			// Read with the observations that name it.
			return nil
		}
		if bytes.HasPrefix(line, []byte(render.ObservationPrefix)) {
			if !m.expect {
				return nil
			}
			ep, err := observedEndpoint(line)
			if err != nil {
				return usagef(mergeHint, "%s:%d: not a JSON line: %v", name, n, err)
			}
			m.endpoints = append(m.endpoints, ep)
			return nil
		}
		// One decode for every other line: a "shared" line's fields, or a
		// summary line's.
		var l struct {
			Type        string    `json:"type"`
			Shard       string    `json:"shard"`
			Interrupted bool      `json:"interrupted"`
			Last        time.Time `json:"last_observed"`
			report.SharedEndpoint
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return usagef(mergeHint, "%s:%d: not a JSON line: %v", name, n, err)
		}
		switch l.Type {
		case "shared":
			m.shared = append(m.shared, l.SharedEndpoint)
		case "endpoint":
			return usagef("run the shards with --shard K/N: their lines carry what merge judges",
				"%s:%d: an endpoint line: the JSONL of a judged run, not the observations of a --shard run", name, n)
		case "summary":
			if l.Interrupted {
				which := "that shard"
				if s, err := probe.ParseShard(l.Shard); err == nil {
					which = "shard " + s.String()
				}
				return usagef("run "+which+" again: merge judges whole shards only", "%s: %s was interrupted, its file is not whole", name, which)
			}
			summary = true
			if m.shards == nil {
				m.shards = map[string]string{}
			}
			m.shards[name] = l.Shard
			if l.Last.After(m.last) {
				m.last = l.Last
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !summary {
		return usagef("run the shard again: its last line is the summary line", "%s has no summary line: its run did not finish", name)
	}
	return nil
}

// observedEndpoint is the endpoint of an observation line, decoded alone:
// render.JSONLinesObservation writes the record's version and endpoint
// first, so the rest of the line (replies, the chain) is left for the
// second reading. A line laid out otherwise is decoded whole.
func observedEndpoint(line []byte) (probe.Endpoint, error) {
	var rec struct {
		Endpoint probe.EndpointRecord `json:"endpoint"`
	}
	rest := line[len(render.ObservationPrefix):]
	version, after, ok := bytes.Cut(rest, []byte(`,"endpoint":`))
	if v, isVersion := bytes.CutPrefix(version, []byte(`"v":`)); ok && isVersion && len(v) > 0 && len(v) <= 3 &&
		!slices.ContainsFunc(v, func(c byte) bool { return c < '0' || c > '9' }) {
		if err := json.NewDecoder(bytes.NewReader(after)).Decode(&rec.Endpoint); err != nil {
			return probe.Endpoint{}, err
		}
	} else if err := json.Unmarshal(line, &rec); err != nil {
		return probe.Endpoint{}, err
	}
	return rec.Endpoint.Endpoint(), nil
}

// readObservations decodes the observation lines of one shard's file, with
// the certificate lines they name, and hands each result to add;
// mergeScan.read has checked its other lines.
func readObservations(name, path string, add func(probe.Result)) error {
	var certs probe.CertificateTable
	return eachShardLine(name, path, func(n int, line []byte) error {
		if bytes.HasPrefix(line, []byte(render.CertificatePrefix)) {
			var c probe.CertificateRecord
			if err := json.Unmarshal(line, &c); err != nil {
				return usagef(mergeHint, "%s:%d: not a JSON line: %v", name, n, err)
			}
			if err := certs.Add(c); err != nil {
				return usagef(mergeHint, "%s:%d: %v", name, n, err)
			}
			return nil
		}
		if !bytes.HasPrefix(line, []byte(render.ObservationPrefix)) {
			return nil
		}
		var rec probe.Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return usagef(mergeHint, "%s:%d: not a JSON line: %v", name, n, err)
		}
		r, err := rec.ResultSharing(&certs)
		if err != nil {
			return usagef(mergeHint, "%s:%d: %v", name, n, err)
		}
		add(r)
		return nil
	})
}

// streamMerge writes the shards as one JSONL run: every endpoint is
// expected first, then each shard's observations are decoded and judged a
// mail host at a time, as a run streams them (report.Stream), so that
// merge holds only the hosts whose endpoints are not all read yet, not
// the whole run; then the "shared" lines, and the summary line. It returns
// the exit status.
func streamMerge(files, paths []string, scan *mergeScan, expect report.Expect, roots trust, now time.Time, cfg config, stdout, stderr io.Writer) (int, error) {
	sink := newLineSink(stdout, stderr)
	stream := newHostStream(cfg, expect, now, roots, sink)
	for _, ep := range scan.endpoints {
		stream.Expect(ep)
	}
	// Expected: no longer needed.
	scan.endpoints = nil
	for i, name := range files {
		if err := readObservations(name, paths[i], func(r probe.Result) { stream.Add(r) }); err != nil {
			return exitUsage, err
		}
	}
	for _, e := range scan.shared {
		sink.shared(e)
	}
	totals, _ := stream.Close()
	status, _ := sink.finish(totals, now)
	return status, nil
}
