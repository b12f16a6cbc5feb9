package render

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fatih/color"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// Text output rules: every server-sent string goes through Escape; the
// status word is always printed, so meaning never rests on colour alone;
// colour is decided by the caller (a terminal, no NO_COLOR, no --no-color).

// palette colours status words. All colours are single SGR codes of the same
// length, so coloured table cells stay aligned.
type palette struct {
	status map[report.Status]*color.Color
	dim    *color.Color
	head   *color.Color
}

func newPalette(enabled bool) palette {
	p := palette{
		status: map[report.Status]*color.Color{
			report.OK:       color.New(color.FgGreen),
			report.Warning:  color.New(color.FgYellow),
			report.Critical: color.New(color.FgRed),
			report.Unknown:  color.New(color.FgMagenta),
			report.Skipped:  color.New(color.FgHiBlack),
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

func mapValues(m map[report.Status]*color.Color) []*color.Color {
	var out []*color.Color
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// word is a status word padded to width, then coloured.
func (p palette) word(s report.Status, width int) string {
	return p.status[s].Sprint(fmt.Sprintf("%-*s", width, s))
}

// Text writes the human report: one block per endpoint, then a side-by-side
// summary when there are several.
func Text(w io.Writer, s report.Summary, colored bool) error {
	bw := bufio.NewWriter(w)
	p := newPalette(colored)
	writePolicies(bw, p, s)
	for i := range s.Endpoints {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		writeEndpoint(bw, p, &s.Endpoints[i], s.Verbose)
	}
	if len(s.Endpoints) > 1 {
		fmt.Fprintln(bw)
		writeSummaryTable(bw, p, s)
		writeConsistencyTables(bw, p, s)
	}
	return bw.Flush()
}

func endpointTitle(ep *report.Endpoint) string {
	title := Escape(ep.Name())
	if ep.ServicePort != ep.Result.Endpoint.Port {
		title += fmt.Sprintf(" (as port %d)", ep.ServicePort)
	}
	return title
}

func writeEndpoint(w io.Writer, p palette, ep *report.Endpoint, verbose bool) {
	r := &ep.Result
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
	if ep.STARTTLS != report.STARTTLSNotObserved {
		st := string(ep.STARTTLS)
		if ep.STARTTLS == report.STARTTLSOffered && r.STARTTLSReply != nil {
			st += ", server replied " + Escape(replyLine(r.STARTTLSReply))
		}
		field("STARTTLS", st)
	}
	if v := tlsRequiredField(ep); v != "" {
		field("TLS required", v)
	}
	if t := ep.TLS; t != nil {
		v := fmt.Sprintf("%s, %s", t.Version, t.CipherSuite)
		if t.KeyExchange != "" {
			v += ", key exchange " + t.KeyExchange
		}
		if !t.Complete {
			v = "not established: the handshake failed after the server sent the certificate below"
		}
		if t.ServerName != "" {
			v += ", SNI " + t.ServerName
		} else {
			v += ", no SNI"
		}
		field("TLS", v)
	}
	if r.EHLOAfterTLS != nil {
		field("EHLO (TLS)", Escape(ehloSummary(r.EHLOAfterTLS)))
	}
	if ep.DANE != nil {
		field("DANE", Escape(daneLine(ep.DANE)))
	}
	if f := ep.Failure; f != nil {
		field("error", Escape(failureLine(f)))
	}
	if leaf := ep.Leaf(); leaf != nil {
		writeCertificate(field, leaf)
	}
	tw.Flush()

	if len(ep.Chain) > 0 {
		fmt.Fprintf(w, "  chain as sent (%d)\n", len(ep.Chain))
		ctw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, c := range ep.Chain {
			fmt.Fprintf(ctw, "    %d\t%s\t<- %s\t%s\t%s\n", i, escapeName(c.Subject), escapeName(c.Issuer),
				c.NotAfter.Format(time.DateOnly), daysLeftText(c))
		}
		ctw.Flush()
	}

	writePosture(w, p, ep.Posture)
	fmt.Fprintln(w, "  checks")
	// Skipped checks go on one line unless -v: after a refused connection
	// seven "no certificate presented" lines would bury the one that matters.
	var skipped []string
	idWidth := 0
	for _, c := range ep.Checks {
		if c.Status != report.Skipped || verbose {
			idWidth = max(idWidth, len(c.ID))
		}
	}
	for _, c := range ep.Checks {
		if c.Status == report.Skipped && !verbose {
			skipped = append(skipped, c.ID)
			continue
		}
		fmt.Fprintf(w, "    %s %-*s  %s\n", p.word(c.Status, 8), idWidth, c.ID, Escape(c.Message))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "    %s %s\n", p.word(report.Skipped, 8), p.dim.Sprint(strings.Join(skipped, ", ")+" (-v says why)"))
	}
	writeDiagnoses(w, p, ep)
	writeExchangeOnline(w, p, ep.ExchangeOnline)
	if verbose && len(r.Transcript) > 0 {
		fmt.Fprintln(w, "  transcript")
		for _, l := range r.Transcript {
			tag := "   "
			if l.TLS {
				tag = "tls"
			}
			fmt.Fprintf(w, "    %s %s %s %s\n", p.dim.Sprintf("%8.1fms", ms(l.At)), tag, l.Dir, Escape(l.Text))
		}
	}
	if verbose {
		writeTLSRequiredTranscript(w, p, ep)
	}
}

// failureLine is a failure with its phase: "starttls: server replied 454
// 4.7.0 ...".
func failureLine(f *report.Failure) string { return fmt.Sprintf("%s: %s", f.Phase, f.Message) }

func writeCertificate(field func(string, string), leaf *report.Certificate) {
	field("subject", escapeName(leaf.Subject))
	field("issuer", escapeName(leaf.Issuer))
	// The exact string for Set-ReceiveConnector -TlsCertificateName.
	field("TlsCertificateName", Escape(leaf.TLSCertificateName))
	if len(leaf.SANs) == 0 {
		field("SANs", "(none)")
	} else {
		const maxShown = 20
		shown := leaf.SANs
		more := ""
		if len(shown) > maxShown {
			shown, more = shown[:maxShown], fmt.Sprintf(" and %d more", len(leaf.SANs)-maxShown)
		}
		field("SANs", Escape(strings.Join(shown, ", "))+more)
	}
	field("serial", leaf.Serial)
	field("valid", fmt.Sprintf("%s to %s UTC, %s", leaf.NotBefore.Format("2006-01-02 15:04"),
		leaf.NotAfter.Format("2006-01-02 15:04"), daysLeftText(leaf)))
	field("SHA-1", leaf.SHA1)
	field("SHA-256", leaf.SHA256)
	// What a DANE 3 1 1 record and a pin hold.
	field("SPKI SHA-256", leaf.SPKISHA256)
	field("key", fmt.Sprintf("%s, signed %s", leaf.Key, leaf.SignatureAlgorithm))
	selfSigned := "no"
	if leaf.SelfSigned {
		selfSigned = "yes"
	}
	field("self-signed", selfSigned)
}

func daysLeftText(c *report.Certificate) string {
	switch {
	case c.Validity == report.NotYetValid:
		return "not yet valid"
	case c.Validity == report.Expired:
		return "expired " + report.ExpiredAgo(c.DaysLeft)
	case c.DaysLeft == 1:
		return "1 day left"
	default:
		return fmt.Sprintf("%d days left", c.DaysLeft)
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

// ehloSummary is the EHLO reply's code and extensions on one line, each
// with its parameters ("250 SIZE 37748736, PIPELINING, AUTH NTLM LOGIN"):
// the AUTH mechanisms and the size limit matter, on 587 most.
func ehloSummary(r *probe.Reply) string {
	if r.Code != 250 {
		return fmt.Sprintf("%d %s", r.Code, r.Text())
	}
	var extensions []string
	for _, line := range r.Lines[min(1, len(r.Lines)):] {
		// The keyword in capitals, as Keywords has it (EHLO keywords are
		// case-insensitive); the parameters as sent (AUTH mechanisms too).
		if f := strings.Fields(line); len(f) > 0 {
			f[0] = strings.ToUpper(f[0])
			extensions = append(extensions, strings.Join(f, " "))
		}
	}
	if len(extensions) == 0 {
		return "250 (no extensions)"
	}
	return "250 " + strings.Join(extensions, ", ")
}

// shortThumbprint is a thumbprint's first 8 and last 4 hex digits.
func shortThumbprint(hex string) string {
	if len(hex) <= 13 {
		return hex
	}
	return hex[:8] + "…" + hex[len(hex)-4:]
}

// writeSummaryTable puts the endpoints side by side, so that "587 presents
// another certificate than 25" shows at a glance.
func writeSummaryTable(w io.Writer, p palette, s report.Summary) {
	fmt.Fprintln(w, p.head.Sprint("summary"))
	// The table is laid out without colour, so that escape codes do not
	// count as width; the status cells are coloured afterwards.
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	// The leaf's SHA-1 is cut to its first 8 and last 4 digits (enough to
	// tell certificates apart and to find one in Get-ExchangeCertificate),
	// so that three ports of one host fit 100 columns; the endpoint's block
	// above has it whole. Long names or IPv6 addresses still widen the
	// table, since cutting those would hide which endpoint a row is.
	const header = "  HOST\tPORT\tADDRESS\tSTATUS\tLEAF SHA-1\tSUBJECT CN\tDAYS LEFT"
	fmt.Fprintln(tw, header)
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		r := &ep.Result
		sha, cn, days := "-", "-", "-"
		if leaf := ep.Leaf(); leaf != nil {
			sha, cn, days = shortThumbprint(leaf.SHA1), Escape(leaf.SubjectCN), fmt.Sprint(leaf.DaysLeft)
		}
		port := fmt.Sprint(r.Endpoint.Port)
		if ep.ServicePort != r.Endpoint.Port {
			port = fmt.Sprintf("%d (as %d)", r.Endpoint.Port, ep.ServicePort)
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
