package report

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fatih/color"
	"github.com/starttls-probe/starttls-probe/probe"
)

// Text output rules: every server-sent string goes through Escape; the
// status word is always printed, so meaning never rests on colour alone;
// colour is decided by the caller (a terminal, no NO_COLOR, no --no-color).

// palette colours status words. All colours are single SGR codes of the same
// length, so coloured table cells stay aligned.
type palette struct {
	status map[Status]*color.Color
	dim    *color.Color
	head   *color.Color
}

func newPalette(enabled bool) palette {
	p := palette{
		status: map[Status]*color.Color{
			OK:       color.New(color.FgGreen),
			Warning:  color.New(color.FgYellow),
			Critical: color.New(color.FgRed),
			Unknown:  color.New(color.FgMagenta),
			Skipped:  color.New(color.FgHiBlack),
		},
		dim:  color.New(color.FgHiBlack),
		head: color.New(color.Bold),
	}
	for _, c := range append([]*color.Color{p.dim, p.head}, mapValues(p.status)...) {
		if enabled {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return p
}

func mapValues(m map[Status]*color.Color) []*color.Color {
	var out []*color.Color
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// word is a status word padded to width, then coloured.
func (p palette) word(s Status, width int) string {
	return p.status[s].Sprint(fmt.Sprintf("%-*s", width, s))
}

// Text writes the human report: one block per endpoint, then a side-by-side
// summary when there are several.
func Text(w io.Writer, s Summary, colored bool) error {
	bw := bufio.NewWriter(w)
	p := newPalette(colored)
	for i, ep := range s.Endpoints {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		writeEndpoint(bw, p, ep, s)
	}
	if len(s.Endpoints) > 1 {
		fmt.Fprintln(bw)
		writeSummaryTable(bw, p, s)
		writeConsistencyTables(bw, p, s)
	}
	return bw.Flush()
}

func endpointTitle(ep Endpoint) string {
	title := Escape(ep.Endpoint.String())
	if ep.Endpoint.Role() != ep.Endpoint.Port {
		title += fmt.Sprintf(" (as port %d)", ep.Endpoint.Role())
	}
	return title
}

func writeEndpoint(w io.Writer, p palette, ep Endpoint, s Summary) {
	r := ep.Result
	fmt.Fprintf(w, "%s  %s\n", p.head.Sprint(endpointTitle(ep)), p.word(ep.Status, 0))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "  %s\t%s\n", name, value) }

	addr := r.Address
	if addr == "" {
		addr = "(not resolved)"
	}
	field("address", fmt.Sprintf("%s, port %d, %s", addr, r.Endpoint.Port, modeName(r.Mode)))
	if ep.ExpectedName != "" {
		field("expected", ep.ExpectedName)
	}
	if r.Banner != nil {
		field("banner", Escape(replyLine(r.Banner)))
	}
	if v := serverField(ep); v != "" {
		field("server", v)
	}
	if r.EHLO != nil {
		field("EHLO", Escape(ehloSummary(r.EHLO)))
	}
	if r.STARTTLSObserved() {
		st := "not offered"
		if r.STARTTLSOffered {
			st = "offered"
			if r.STARTTLSReply != nil {
				st += ", server replied " + Escape(replyLine(r.STARTTLSReply))
			}
		}
		field("STARTTLS", st)
	}
	if v := tlsRequiredField(ep); v != "" {
		field("TLS required", v)
	}
	if r.TLS != nil {
		t := fmt.Sprintf("%s, %s", TLSVersionName(r.TLS.Version), tls.CipherSuiteName(r.TLS.CipherSuite))
		if r.TLS.ServerName != "" {
			t += ", SNI " + r.TLS.ServerName
		} else {
			t += ", no SNI"
		}
		field("TLS", t)
	}
	if r.EHLOAfterTLS != nil {
		field("EHLO (TLS)", Escape(ehloSummary(r.EHLOAfterTLS)))
	}
	if r.Error != nil {
		field("error", Escape(errorMessage(r.Error)))
	}
	if leaf := r.Leaf(); leaf != nil {
		writeCertificate(field, leaf, s.Now)
	}
	tw.Flush()

	if len(r.Chain) > 0 {
		fmt.Fprintf(w, "  chain as sent (%d)\n", len(r.Chain))
		ctw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, c := range r.Chain {
			fmt.Fprintf(ctw, "    %d\t%s\t<- %s\t%s\t%s\n", i, Escape(c.Subject.String()), Escape(c.Issuer.String()),
				c.NotAfter.UTC().Format(time.DateOnly), daysLeftText(c, s.Now))
		}
		ctw.Flush()
	}

	fmt.Fprintln(w, "  checks")
	// Skipped checks go on one line unless -v: after a refused connection
	// seven "no certificate presented" lines would bury the one that matters.
	var skipped []string
	idWidth := 0
	for _, c := range ep.Checks {
		if c.Status != Skipped || s.Verbose {
			idWidth = max(idWidth, len(c.ID))
		}
	}
	for _, c := range ep.Checks {
		if c.Status == Skipped && !s.Verbose {
			skipped = append(skipped, c.ID)
			continue
		}
		fmt.Fprintf(w, "    %s %-*s  %s\n", p.word(c.Status, 8), idWidth, c.ID, Escape(c.Message))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "    %s %s\n", p.word(Skipped, 8), p.dim.Sprint(strings.Join(skipped, ", ")+" (-v says why)"))
	}
	writeDiagnoses(w, p, ep)
	if s.Verbose && len(r.Transcript) > 0 {
		fmt.Fprintln(w, "  transcript")
		for _, l := range r.Transcript {
			tag := "   "
			if l.TLS {
				tag = "tls"
			}
			fmt.Fprintf(w, "    %s %s %s %s\n", p.dim.Sprintf("%8.1fms", ms(l.At)), tag, l.Dir, Escape(l.Text))
		}
	}
	if s.Verbose {
		writeTLSRequiredTranscript(w, p, ep)
	}
}

func writeCertificate(field func(string, string), leaf *x509.Certificate, now time.Time) {
	field("subject", Escape(leaf.Subject.String()))
	field("issuer", Escape(leaf.Issuer.String()))
	// The exact string for Set-ReceiveConnector -TlsCertificateName.
	field("TlsCertificateName", Escape(dotnetname.TLSCertificateName(leaf)))
	sans := SANs(leaf)
	if len(sans) == 0 {
		field("SANs", "(none)")
	} else {
		const maxShown = 20
		shown := sans
		more := ""
		if len(sans) > maxShown {
			shown, more = sans[:maxShown], fmt.Sprintf(" and %d more", len(sans)-maxShown)
		}
		field("SANs", Escape(strings.Join(shown, ", "))+more)
	}
	field("serial", Serial(leaf))
	field("valid", fmt.Sprintf("%s to %s UTC, %s", leaf.NotBefore.UTC().Format("2006-01-02 15:04"),
		leaf.NotAfter.UTC().Format("2006-01-02 15:04"), daysLeftText(leaf, now)))
	field("SHA-1", SHA1(leaf))
	field("SHA-256", SHA256(leaf))
	field("key", fmt.Sprintf("%s, signed %s", KeyDescription(leaf), leaf.SignatureAlgorithm))
	selfSigned := "no"
	if IsSelfSigned(leaf) {
		selfSigned = "yes"
	}
	field("self-signed", selfSigned)
}

// sinceExpiry is how long ago c expired, in whole days: "1 day ago",
// "less than a day ago".
func sinceExpiry(c *x509.Certificate, now time.Time) string {
	switch days := int(now.Sub(c.NotAfter).Hours() / 24); days {
	case 0:
		return "less than a day ago"
	case 1:
		return "1 day ago"
	default:
		return fmt.Sprintf("%d days ago", days)
	}
}

func daysLeftText(c *x509.Certificate, now time.Time) string {
	switch d := DaysLeft(c, now); {
	case now.Before(c.NotBefore):
		return "not yet valid"
	case now.After(c.NotAfter):
		return "expired " + sinceExpiry(c, now)
	case d == 1:
		return "1 day left"
	default:
		return fmt.Sprintf("%d days left", d)
	}
}

func modeName(m probe.Mode) string {
	if m == probe.ModeImplicit {
		return "implicit TLS"
	}
	return "STARTTLS"
}

// replyLine is a reply's first line with its code, "…" marking more lines.
func replyLine(r *probe.Reply) string {
	line := fmt.Sprintf("%d %s", r.Code, r.Lines[0])
	if len(r.Lines) > 1 {
		line += " …"
	}
	return line
}

// ehloSummary is the EHLO reply's code and keywords on one line.
func ehloSummary(r *probe.Reply) string {
	if r.Code != 250 {
		return fmt.Sprintf("%d %s", r.Code, r.Text())
	}
	kws := r.Keywords()
	if len(kws) == 0 {
		return "250 (no extensions)"
	}
	return "250 " + strings.Join(kws, " ")
}

// writeSummaryTable puts the endpoints side by side, so that "587 presents
// another certificate than 25" shows at a glance.
func writeSummaryTable(w io.Writer, p palette, s Summary) {
	fmt.Fprintln(w, p.head.Sprint("summary"))
	// The table is laid out without colour, so that escape codes do not
	// count as width; the status cells are coloured afterwards.
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	const header = "  HOST\tPORT\tADDRESS\tSTATUS\tLEAF SHA-1\tSUBJECT CN\tDAYS LEFT"
	fmt.Fprintln(tw, header)
	for _, ep := range s.Endpoints {
		r := ep.Result
		sha, cn, days := "-", "-", "-"
		if leaf := r.Leaf(); leaf != nil {
			sha, cn, days = SHA1(leaf), Escape(leaf.Subject.CommonName), fmt.Sprint(DaysLeft(leaf, s.Now))
		}
		port := fmt.Sprint(r.Endpoint.Port)
		if r.Endpoint.Role() != r.Endpoint.Port {
			port = fmt.Sprintf("%d (as %d)", r.Endpoint.Port, r.Endpoint.Role())
		}
		addr := r.Address
		if addr == "" {
			addr = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", Escape(r.Endpoint.Host), port, addr, ep.Status, sha, cn, days)
	}
	tw.Flush()
	lines := strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n")
	// Host, port and address are ASCII, so the byte offset of the status
	// column is the same on every line.
	col := strings.Index(lines[0], "STATUS")
	fmt.Fprintln(w, lines[0])
	for i, line := range lines[1:] {
		st := s.Endpoints[i].Status
		word := st.String()
		if col >= 0 && strings.HasPrefix(line[col:], word) {
			line = line[:col] + p.status[st].Sprint(word) + line[col+len(word):]
		}
		fmt.Fprintln(w, line)
	}
}
