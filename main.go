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
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/atomicfile"
	"github.com/starttls-probe/starttls-probe/report/baseline"
	"github.com/starttls-probe/starttls-probe/report/render"
)

// exitUsage is the exit status for bad usage: nothing could be judged.
const exitUsage = 3

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if os.Getenv("GOGC") == "" {
		// A run is short and its heap small, while every handshake
		// allocates: collecting at 200% instead of 100% saves about 5%
		// of the CPU of a batch for about 5 MB more per 1,000 endpoints
		// (scripts/bench.sh). GOGC set by the user wins.
		debug.SetGCPercent(200)
	}
	code := run(ctx, os.Args, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line: reported in one line with a
// hint, exit status 3, nothing probed.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func usagef(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	// Help and --version leave code at 0; a probe run sets it from the
	// verdict.
	code := 0
	app := newApp(stdout, stderr, getenv, &code)
	if err := app.RunContext(ctx, flagsFirst(args, app.Flags)); err != nil {
		fmt.Fprintf(stderr, "starttls-probe: error: %v\n", oneLine(err.Error()))
		hint := "run 'starttls-probe --help' for usage"
		var ue *usageError
		if errors.As(err, &ue) && ue.hint != "" {
			hint = ue.hint
		}
		fmt.Fprintf(stderr, "hint: %s\n", hint)
		return exitUsage
	}
	return code
}

// flagsFirst moves the flags given after the targets in front of them:
// urfave/cli v2 stops at the first target, and admins write
// "starttls-probe mail.contoso.com -p 587". A flag's value stays with it;
// "--" ends the flags; a subcommand's arguments are left as they are.
func flagsFirst(args []string, flags []cli.Flag) []string {
	if len(args) < 2 || args[1] == "demo" {
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
		case arg == "demo" && len(targets) == 0:
			// "starttls-probe -o json demo": the flags are the demo's.
			return append(append([]string{args[0], "demo"}, front...), rest[i+1:]...)
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
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "output `FORMAT`: text, json, jsonl (one result per line as each endpoint finishes), nagios (a monitoring plugin's output) or prometheus (for node_exporter's textfile collector)", Category: "Output"},
		&cli.StringFlag{Name: "output-file", Usage: "write the report to `FILE` instead of stdout, atomically (a temporary file, then a rename)", Category: "Output"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing when every check is ok, the report otherwise (for cron, which mails only what is printed)", Category: "Output", DisableDefaultText: true},
		&cli.BoolFlag{Name: "no-color", Usage: "no colour (also when NO_COLOR is set; colour is only ever used on a terminal)", Category: "Output", DisableDefaultText: true},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "add the SMTP transcript with timings", Category: "Output", DisableDefaultText: true},
		&cli.DurationFlag{Name: "timeout", Value: probe.DefaultTimeout, Usage: "`DURATION` allowed for each endpoint, from DNS to QUIT", Category: "SMTP and TLS dialogue"},
	}
}

func newApp(stdout, stderr io.Writer, getenv func(string) string, code *int) *cli.App {
	onUsageError := func(_ *cli.Context, err error, _ bool) error { return err }
	flags := append([]cli.Flag{
		&cli.StringSliceFlag{Name: "port", Aliases: []string{"p"}, Usage: "`PORT` to probe, repeatable: a number or smtp, submission, submissions (default: 25, 587, 2525; 465 is implicit TLS)", Category: "Choosing targets"},
		&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "`FQDN` the certificate must cover (default: the target, when it is a name)", Category: "Expectations"},
		&cli.StringFlag{Name: "thumbprint", Usage: "expected leaf thumbprint (`HEX`), SHA-1 (as Get-ExchangeCertificate shows it) or SHA-256", Category: "Expectations"},
		&cli.StringFlag{Name: "tls-certificate-name", Usage: "the receive connector's TlsCertificateName (`VALUE`), \"<I>issuer<S>subject\" as Get-ReceiveConnector shows it: critical when the presented leaf is another certificate", Category: "Expectations"},
		&cli.StringFlag{Name: "sni", Usage: "server `NAME` to send in the TLS handshake (default: the expected name)", Category: "SMTP and TLS dialogue"},
		&cli.BoolFlag{Name: "no-sni", Usage: "send no server name in the TLS handshake", Category: "SMTP and TLS dialogue", DisableDefaultText: true},
		&cli.StringFlag{Name: "ehlo", Usage: "`NAME` to say in EHLO (default: this machine's host name)", Category: "SMTP and TLS dialogue"},
		&cli.BoolFlag{Name: "implicit-tls", Usage: "start TLS at connect on every port, as on 465", Category: "Choosing targets", DisableDefaultText: true},
		&cli.BoolFlag{Name: "no-tls-required-test", Usage: "skip the test that asks each STARTTLS port for MAIL FROM:<> in plaintext to see whether it requires TLS (no RCPT, no DATA)", Category: "SMTP and TLS dialogue", DisableDefaultText: true},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM `FILE` of extra trusted roots (your private CA), added to the system's", Category: "Expectations"},
		&cli.IntFlag{Name: "warn-days", Value: report.DefaultWarnDays, Usage: "warn when the leaf expires in fewer `DAYS`", Category: "Expectations"},
		&cli.IntFlag{Name: "crit-days", Value: report.DefaultCritDays, Usage: "critical when the leaf expires in fewer `DAYS`", Category: "Expectations"},
		&cli.BoolFlag{Name: "mx", Usage: "targets are mail domains: probe every address of each MX host (the MX host name is the expected name)", Category: "Choosing targets", DisableDefaultText: true},
		&cli.BoolFlag{Name: "all-addresses", Usage: "probe every address of each host, not only the first (a load-balanced name)", Category: "Choosing targets", DisableDefaultText: true},
		&cli.BoolFlag{Name: "4", Usage: "IPv4 addresses only", Category: "Choosing targets", DisableDefaultText: true},
		&cli.BoolFlag{Name: "6", Usage: "IPv6 addresses only", Category: "Choosing targets", DisableDefaultText: true},
		&cli.StringFlag{Name: "resolver", Usage: "ask this DNS server, `ADDR:PORT`, instead of the system's", Category: "Choosing targets"},
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read targets from `FILE`, one per line, # for comments, - for stdin", Category: "Choosing targets"},
		&cli.IntFlag{Name: "concurrency", Value: probe.DefaultConcurrency, Usage: "`N` endpoints probed at once", Category: "Choosing targets"},
		&cli.StringFlag{Name: "baseline", Usage: "compare with the certificates and STARTTLS offers recorded in `FILE` (recorded on the first run): a changed certificate warns, a lost STARTTLS is critical", Category: "Expectations"},
		&cli.BoolFlag{Name: "update-baseline", Usage: "accept what this run sees as the new --baseline", Category: "Expectations", DisableDefaultText: true},
		&cli.BoolFlag{Name: "version", Usage: "print the version and exit", Category: "Output", DisableDefaultText: true},
	}, outputFlags()...)

	return &cli.App{
		Name:      "starttls-probe",
		Usage:     "see which certificate each SMTP port of a mail host presents, and whether it is right",
		UsageText: "starttls-probe [flags] TARGET...\nstarttls-probe demo [flags]",
		Description: `TARGET is a host name, host:port, an IPv4 address or [IPv6]:port.
Without a port, ports 25, 587 and 2525 are probed at the same time.

Examples:
  starttls-probe mail.contoso.com                  ports 25, 587 and 2525
  starttls-probe -p 587 mail.contoso.com           which certificate does 587 present?
  starttls-probe -n mail.contoso.com 192.0.2.10    a node behind a load balancer
  starttls-probe --thumbprint 3F2A...9C mail.contoso.com:25
  starttls-probe -o json mail.contoso.com | jq .status
  starttls-probe demo                              try it on a built-in server

Exit status: 0 all ok, 1 worst is a warning, 2 worst is critical,
3 nothing could be judged (bad usage, no target resolvable).`,
		Flags:           flags,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		ExitErrHandler:  func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(stdout, "starttls-probe", version())
				*code = 0
				return nil
			}
			return probeTargets(c, stdout, stderr, getenv, code)
		},
		Commands: []*cli.Command{{
			Name:         "demo",
			Usage:        "probe a built-in Exchange-like server on loopback and print the ordinary report",
			Flags:        outputFlags(),
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				return runDemo(c, stdout, stderr, getenv, code)
			},
		}},
	}
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// output is how the report is rendered.
type output struct {
	format  string
	color   bool
	verbose bool
	// quiet prints nothing when every check is ok; file, when set, gets
	// the report instead of stdout.
	quiet bool
	file  string
	// baseline, when set, is the file the run is compared with;
	// updateBaseline accepts what the run sees.
	baseline       string
	updateBaseline bool
}

func outputOptions(c *cli.Context, stdout io.Writer, getenv func(string) string) (output, error) {
	out := output{format: c.String("output"), verbose: c.Bool("verbose"), quiet: c.Bool("quiet"), file: c.String("output-file"),
		baseline: c.String("baseline"), updateBaseline: c.Bool("update-baseline")}
	switch out.format {
	case "text":
		f, isFile := stdout.(*os.File)
		out.color = out.file == "" && !c.Bool("no-color") && getenv("NO_COLOR") == "" && isFile && isatty.IsTerminal(f.Fd())
	case "json", "jsonl", "nagios", "prometheus":
	default:
		return out, usagef("use --output text, json, jsonl, nagios or prometheus", "unknown output format %q", out.format)
	}
	if out.format == "jsonl" && (out.quiet || out.file != "") {
		return out, usagef("use --output json with --quiet or --output-file", "--output jsonl streams each result as it comes: it cannot be held back by --quiet or written atomically to --output-file")
	}
	if out.format == "jsonl" && out.baseline != "" {
		return out, usagef("use --output json with --baseline", "--output jsonl writes each result before the run is compared with --baseline, so the baseline's verdict would be on no line")
	}
	if out.updateBaseline && out.baseline == "" {
		return out, usagef("for example --baseline /var/lib/starttls-probe/baseline.json --update-baseline", "--update-baseline needs --baseline FILE")
	}
	if c.Duration("timeout") <= 0 {
		return out, usagef("for example --timeout 10s", "--timeout must be positive, got %s", c.Duration("timeout"))
	}
	return out, nil
}

func probeTargets(c *cli.Context, stdout, stderr io.Writer, getenv func(string) string, code *int) error {
	out, err := outputOptions(c, stdout, getenv)
	if err != nil {
		return err
	}
	targets := c.Args().Slice()
	for _, t := range targets {
		if strings.HasPrefix(t, "-") {
			return usagef("targets look like mail.contoso.com, mail.contoso.com:587, 192.0.2.1 or [2001:db8::1]:25", "%q is not a target: a host name cannot start with '-'", t)
		}
	}
	// Conflicting flags are refused before -f - reads stdin.
	if c.Bool("no-sni") && c.String("sni") != "" {
		return usagef("give one of them", "--sni and --no-sni conflict")
	}
	if c.Bool("4") && c.Bool("6") {
		return usagef("give one of them, or neither for both families", "-4 and -6 conflict")
	}
	badLines, err := readTargetFile(c, stderr, &targets)
	if err != nil {
		return err
	}
	if len(targets) == 0 && c.String("file") != "" {
		return usagef("give at least one target, one per line", "no valid target in --file %s", c.String("file"))
	}
	if len(targets) == 0 {
		return usagef("try 'starttls-probe mail.example.com', or 'starttls-probe demo' to see it work", "no target given")
	}
	var ports []int
	for _, p := range c.StringSlice("port") {
		port, err := probe.ParsePort(p)
		if err != nil {
			return usagef("for example -p 25 -p 587, or -p submission", "--port: %v", err)
		}
		ports = append(ports, port)
	}
	expect, err := expectations(c)
	if err != nil {
		return err
	}
	roots, err := trustedRoots(c)
	if err != nil {
		return err
	}
	endpoints, err := probe.Endpoints(targets, ports, c.Bool("implicit-tls"))
	if err != nil {
		return usagef("targets look like mail.contoso.com, mail.contoso.com:587, 192.0.2.1 or [2001:db8::1]:25", "%v", err)
	}
	sni := c.String("sni")
	if sni == "" {
		sni = expect.Name
	}
	if ehlo := c.String("ehlo"); ehlo != "" {
		if err := probe.CheckEHLOName(ehlo); err != nil {
			return usagef("for example --ehlo probe.contoso.com or --ehlo [192.0.2.7]", "--ehlo: %v", err)
		}
	}
	opts := probe.Options{
		EHLOName: c.String("ehlo"),
		SNI:      sni,
		NoSNI:    c.Bool("no-sni"),
		Timeout:  c.Duration("timeout"),

		NoTLSRequiredTest: c.Bool("no-tls-required-test"),
	}
	if err := discoveryOptions(c, &opts); err != nil {
		return err
	}
	jobs := probe.Discover(c.Context, endpoints, probe.Discovery{MX: c.Bool("mx"), AllAddresses: c.Bool("all-addresses")}, opts)
	*code = probeAndReport(c.Context, jobs, opts, expect, roots, out, stdout, stderr)
	if badLines > 0 && *code == 0 {
		// Lines of the file were not probed: all is not known to be well.
		*code = exitUsage
	}
	return nil
}

// readTargetFile appends the targets of -f FILE ("-" for stdin) to targets.
// Each bad line is reported on stderr with its number and skipped, so one
// typo does not stop a batch; it returns how many there were.
func readTargetFile(c *cli.Context, stderr io.Writer, targets *[]string) (int, error) {
	path := c.String("file")
	if path == "" {
		return 0, nil
	}
	var in io.Reader = c.App.Reader
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return 0, usagef("give a readable file of targets, one per line, or - for stdin", "--file: %v", err)
		}
		defer f.Close()
		in, name = f, path
	}
	read, bad, err := probe.ReadTargets(in)
	if err != nil {
		return 0, usagef("a target file holds one host, host:port or address per line", "--file %s: %v", name, err)
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

// discoveryOptions sets the resolver, address family and concurrency.
func discoveryOptions(c *cli.Context, opts *probe.Options) error {
	opts.Network = probe.Network(c.Bool("4"), c.Bool("6"))
	if s := c.String("resolver"); s != "" {
		server, err := probe.ParseResolverAddr(s)
		if err != nil {
			return usagef("for example --resolver 127.0.0.1:53 or --resolver [::1]:5353", "--resolver: %v", err)
		}
		opts.Resolver = probe.NewResolver(server)
	}
	if opts.Concurrency = c.Int("concurrency"); opts.Concurrency < 1 {
		return usagef("for example --concurrency 64", "--concurrency must be at least 1, got %d", opts.Concurrency)
	}
	return nil
}

func expectations(c *cli.Context) (report.Expect, error) {
	expect := report.Expect{
		Name:     c.String("name"),
		WarnDays: c.Int("warn-days"),
		CritDays: c.Int("crit-days"),
	}
	if expect.Name != "" {
		if host, port, err := probe.ParseTarget(expect.Name); err != nil || port != 0 {
			return expect, usagef("give the FQDN the certificate must cover, e.g. -n mail.contoso.com", "--name %q is not a host name", expect.Name)
		} else {
			expect.Name = host
		}
	}
	if expect.WarnDays < 0 || expect.CritDays < 0 || expect.CritDays > expect.WarnDays {
		return expect, usagef("for example --warn-days 30 --crit-days 7", "--crit-days (%d) must be between 0 and --warn-days (%d)", expect.CritDays, expect.WarnDays)
	}
	if tp := c.String("thumbprint"); tp != "" {
		t, err := report.ParseThumbprint(tp)
		if err != nil {
			return expect, usagef("copy it from Get-ExchangeCertificate or from this tool's SHA-1 line", "--thumbprint: %v", err)
		}
		expect.Thumbprint = t
	}
	if name := c.String("tls-certificate-name"); name != "" {
		if _, err := dotnetname.ParseTLSCertificateName(name); err != nil {
			return expect, usagef(`copy it from (Get-ReceiveConnector "<server>\Default Frontend <server>").TlsCertificateName, or from this tool's TlsCertificateName line`,
				"--tls-certificate-name: %v", err)
		}
		expect.TLSCertificateName = name
	}
	expect.Cache = report.NewCache()
	return expect, nil
}

// trustedRoots checks --ca-file at once, then loads the system's roots
// with it while the endpoints are probed: parsing the system's bundle takes
// as long as probing a nearby endpoint (tens of milliseconds), and nothing
// needs the roots before the first result is judged. The returned function
// waits for the pool.
func trustedRoots(c *cli.Context) (func() *x509.CertPool, error) {
	var extra []byte
	if path := c.String("ca-file"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("give a readable PEM file of CA certificates", "--ca-file: %v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, usagef("the file must hold PEM \"BEGIN CERTIFICATE\" blocks", "--ca-file %s: no certificate found in it", path)
		}
		extra = pem
	}
	loaded := make(chan *x509.CertPool, 1)
	go func() {
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		roots.AppendCertsFromPEM(extra)
		loaded <- roots
	}()
	return sync.OnceValue(func() *x509.CertPool { return <-loaded }), nil
}

// probeAndReport probes, judges and writes the report; it returns the exit status.
// roots gives expect's trusted roots once they are loaded.
func probeAndReport(ctx context.Context, jobs []probe.Job, opts probe.Options, expect report.Expect, roots func() *x509.CertPool, out output, stdout, stderr io.Writer) int {
	results, err := probeJobs(ctx, jobs, opts, expect, roots, out, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "starttls-probe: error: writing the report: %v\n", err)
		return exitUsage
	}
	expect.Roots = roots()
	summary := report.Judge(results, expect, time.Now())
	summary.Version = version()
	summary.Verbose = out.verbose
	if out.baseline != "" {
		// The baseline adds its check to each endpoint, so that every
		// format shows it and the exit status counts it.
		if err := baseline.Apply(ctx, out.baseline, &summary, baseline.Options{Update: out.updateBaseline}); err != nil {
			fmt.Fprintf(stderr, "starttls-probe: error: %s\n", oneLine(err.Error()))
			if out.format == "nagios" && out.file == "" {
				render.NagiosError(stdout, err)
			}
			return exitUsage
		}
	}
	switch {
	case out.format == "jsonl":
		// Written line by line as each endpoint finished.
	case out.file != "":
		err = atomicfile.Write(out.file, 0o644, func(w io.Writer) error { return writeReport(w, summary, out) })
	case out.quiet && summary.Status == report.OK:
		// --quiet: every check is ok, so cron has nothing to mail.
	default:
		err = writeReport(stdout, summary, out)
	}
	if err != nil {
		fmt.Fprintf(stderr, "starttls-probe: error: writing the report: %v\n", err)
		return exitUsage
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "starttls-probe: interrupted; the report shows what finished")
	}
	return summary.ExitCode()
}

// writeReport renders the summary in the chosen format.
func writeReport(w io.Writer, summary report.Summary, out output) error {
	switch out.format {
	case "json":
		return render.JSON(w, summary)
	case "nagios":
		return render.Nagios(w, summary)
	case "prometheus":
		return render.Prometheus(w, summary)
	default:
		return render.Text(w, summary, out.color)
	}
}

// progressMinJobs is where a run gets long enough for a progress bar.
const progressMinJobs = 20

// probeJobs runs the jobs. With --output jsonl it writes each result as soon
// as its endpoint finishes; on a terminal it shows a progress bar on stderr
// for long runs, never in a pipe.
func probeJobs(ctx context.Context, jobs []probe.Job, opts probe.Options, expect report.Expect, roots func() *x509.CertPool, out output, stdout, stderr io.Writer) ([]probe.Result, error) {
	var bar *progressbar.ProgressBar
	if len(jobs) >= progressMinJobs && isTerminal(stderr) && !(out.format == "jsonl" && isTerminal(stdout)) {
		bar = progressbar.NewOptions(len(jobs),
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("probing"),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	// Judging and writing happen in one goroutine of their own, so that a
	// worker hands its result over and takes the next endpoint at once.
	finished := make(chan probe.Result, len(jobs))
	written := make(chan error, 1)
	go func() {
		var writeErr error
		lines := bufio.NewWriterSize(stdout, 64<<10)
		for r := range finished {
			if out.format == "jsonl" && writeErr == nil {
				expect.Roots = roots()
				line := report.Judge([]probe.Result{r}, expect, time.Now())
				line.Verbose = out.verbose
				writeErr = render.JSONLines(lines, line)
				// Each line goes out as its endpoint finishes, several in
				// one write when several finished at once.
				if writeErr == nil && len(finished) == 0 {
					writeErr = lines.Flush()
				}
			}
			if bar != nil {
				bar.Add(1)
			}
		}
		if writeErr == nil {
			writeErr = lines.Flush()
		}
		written <- writeErr
	}()
	results := probe.Run(ctx, jobs, opts, func(_ int, r probe.Result) { finished <- r })
	close(finished)
	writeErr := <-written
	if bar != nil {
		bar.Finish()
	}
	return results, writeErr
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

func runDemo(c *cli.Context, stdout, stderr io.Writer, getenv func(string) string, code *int) error {
	out, err := outputOptions(c, stdout, getenv)
	if err != nil {
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
	if out.format == "text" {
		fmt.Fprintf(stderr, "demo: an Exchange-like server for %s on loopback: its 25, 587 and 2525 listeners run on free ports\n\n", probetest.DemoName)
	}
	expect := report.Expect{Name: probetest.DemoName, Roots: roots, WarnDays: report.DefaultWarnDays, CritDays: report.DefaultCritDays}
	opts := probe.Options{EHLOName: probe.DefaultEHLOName(), Timeout: c.Duration("timeout")}
	*code = probeAndReport(c.Context, probe.Discover(c.Context, demo.Endpoints, probe.Discovery{}, opts), opts, expect,
		func() *x509.CertPool { return roots }, out, stdout, stderr)
	return nil
}
