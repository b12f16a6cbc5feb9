package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/starttls-probe/starttls-probe/report"
)

// Sections of the text report beside each endpoint's fields (text.go): what
// diagnosis.go, server.go, tlsrequired.go and consistency.go judged. Causes,
// fixes and table cells may quote server-sent text: each is escaped here.

// softwareNames are the names the "server" line gives report's Software
// values.
var softwareNames = map[report.Software]string{
	report.SoftwareExchange:       "Microsoft Exchange",
	report.SoftwareExchangeOnline: "Microsoft Exchange Online (Microsoft 365)",
	report.SoftwarePostfix:        "Postfix",
	report.SoftwareExim:           "Exim",
	report.SoftwareSendmail:       "Sendmail",
	report.SoftwareOpenSMTPD:      "OpenSMTPD",
	report.SoftwareHaraka:         "Haraka",
	report.SoftwareDovecot:        "Dovecot submission",
	report.SoftwareMailpit:        "Mailpit",
	report.SoftwareAiosmtpd:       "aiosmtpd",
	report.SoftwareChasquid:       "chasquid",
	report.SoftwareCourier:        "Courier",
	report.SoftwareGoogle:         "Google (Gmail, Google Workspace)",
	report.SoftwareProofpoint:     "Proofpoint",
	report.SoftwareMimecast:       "Mimecast",
	report.SoftwareCisco:          "Cisco Secure Email",
	report.SoftwareBarracuda:      "Barracuda Email Gateway Defense",
	report.SoftwareMaddy:          "maddy",
}

// serverField is the text report's "server" line, "" when the software is
// unknown and the banner was not masked.
func serverField(ep *report.Endpoint) string {
	s := ep.Server
	switch {
	case s.Software == report.SoftwareUnknown && s.Masked:
		return "unknown: the banner is masked by a firewall's SMTP inspection"
	case s.Software == report.SoftwareUnknown:
		return ""
	}
	name, ok := softwareNames[s.Software]
	if !ok {
		// A value added to report without a name here still reads.
		name = string(s.Software)
	}
	out := name + " (from " + strings.Join(s.Evidence, ", ")
	if s.Masked {
		out += "; the banner is masked by a firewall's SMTP inspection"
	}
	out += ")"
	if ep.Connector != "" {
		out += `, receive connector "` + Escape(ep.Connector) + `"`
	}
	return out
}

// tlsRequiredField is the text report's "TLS required" line, "" when the
// test did not run, or when the main connection never got an EHLO reply
// either: then the test failed for the same reason, said once already.
func tlsRequiredField(ep *report.Endpoint) string {
	t := ep.Result.TLSRequired
	if t == nil || (t.Mail == nil && ep.Result.EHLO == nil) {
		return ""
	}
	answer := map[report.TLSRequired]string{report.TLSRequiredTrue: "yes", report.TLSRequiredFalse: "no", report.TLSRequiredUnknown: "unknown"}[ep.TLSRequired]
	ended := ""
	if t.SessionEnded {
		ended = "; the server ended the session"
		if ep.Result.STARTTLSOffered {
			ended += ", so STARTTLS was probed on a new connection"
		}
	}
	switch {
	case t.Mail != nil:
		rcpt, reason, refusedAfter := "", "", ""
		if t.RCPT != nil {
			rcpt = ", RCPT TO got " + Escape(fmt.Sprintf("%d %s", t.RCPT.Code, t.RCPT.Text()))
		}
		if ep.TLSRequiredReason != "" {
			reason = "; " + ep.TLSRequiredReason
		}
		if t.STARTTLSRefusedAfter != nil {
			refusedAfter = "; after the test the server refused STARTTLS on that connection (" +
				Escape(fmt.Sprintf("%d %s", t.STARTTLSRefusedAfter.Code, t.STARTTLSRefusedAfter.Text())) +
				"), so STARTTLS was probed on a new connection without the test"
		}
		return fmt.Sprintf("%s: MAIL FROM:<> before STARTTLS got %s%s%s%s%s", answer, Escape(fmt.Sprintf("%d %s", t.Mail.Code, t.Mail.Text())), rcpt, reason, refusedAfter, ended)
	case ep.TLSRequiredFailure != nil:
		return answer + ": the test failed at " + Escape(failureLine(ep.TLSRequiredFailure)) + ended
	}
	return answer
}

// writeDiagnoses writes the diagnosis block of one endpoint.
func writeDiagnoses(w io.Writer, p palette, ep *report.Endpoint) {
	if len(ep.Diagnoses) == 0 {
		return
	}
	fmt.Fprintln(w, "  diagnosis")
	for _, d := range ep.Diagnoses {
		word := fmt.Sprintf("%-8s", strings.ToUpper(string(d.Severity)))
		switch d.Severity {
		case report.SeverityCritical:
			word = p.status[report.Critical].Sprint(word)
		case report.SeverityWarning:
			word = p.status[report.Warning].Sprint(word)
		default:
			word = p.dim.Sprint(word)
		}
		fmt.Fprintf(w, "    %s %s\n", word, d.ID)
		fmt.Fprintf(w, "      %s\n", Escape(d.Cause))
		writeCompareTable(w, d.Compare)
		if len(d.Fix) > 0 {
			fmt.Fprintln(w, "      fix:")
			for _, line := range d.Fix {
				fmt.Fprintf(w, "        %s\n", escapeCommand(line))
			}
		}
	}
}

// writeCompareTable puts the compared certificates side by side, one row
// per certificate with where it is presented.
func writeCompareTable(w io.Writer, rows []report.CertificateRow) {
	if len(rows) == 0 {
		return
	}
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "      PRESENTED ON\tSHA-1\tSUBJECT\tNOT AFTER\t")
	for _, row := range rows {
		mark := ""
		if row.Differs {
			mark = "<- differs"
		}
		fmt.Fprintf(tw, "      %s\t%s\t%s\t%s\t%s\n", Escape(presentedOn(row)), row.SHA1, Escape(row.Subject),
			row.NotAfter.Format(time.DateOnly), mark)
	}
	tw.Flush()
	// Rows without a mark would end in padding.
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// presentedOn is "127.0.0.1:25, 127.0.0.2:25 and 998 more": the row's
// example endpoints and how many it does not name.
func presentedOn(row report.CertificateRow) string {
	var places []string
	for _, p := range row.Places {
		place := hostPort(p.Address, p.Port)
		if p.ServicePort != p.Port {
			place += fmt.Sprintf(" (as %d)", p.ServicePort)
		}
		places = append(places, place)
	}
	s := strings.Join(places, ", ")
	if more := row.Count - len(row.Places); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// hostPort is net.JoinHostPort, which render may not import (it never
// dials): an IPv6 address goes in brackets.
func hostPort(address string, port int) string {
	if strings.Contains(address, ":") {
		address = "[" + address + "]"
	}
	return address + ":" + strconv.Itoa(port)
}

// writeTLSRequiredTranscript shows, with -v, the TLS-required test's own
// connection, in the main transcript's format: there is one only when the
// server ended it in answer to MAIL FROM:<> and STARTTLS was probed on a new
// one; otherwise the test's lines are in the main transcript.
func writeTLSRequiredTranscript(w io.Writer, p palette, ep *report.Endpoint) {
	t := ep.Result.TLSRequired
	if t == nil || len(t.Transcript) == 0 {
		return
	}
	fmt.Fprintln(w, "  transcript of the TLS-required test (a connection of its own: the server ended it)")
	for _, l := range t.Transcript {
		fmt.Fprintf(w, "    %s     %s %s\n", p.dim.Sprintf("%8.1fms", ms(l.At)), l.Dir, Escape(l.Text))
	}
}

// writeConsistencyTables shows, for each name and port whose addresses
// differ, what each address presents and which one differs.
func writeConsistencyTables(w io.Writer, p palette, s report.Summary) {
	for _, g := range s.Consistency {
		if !g.Differs {
			continue
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%s %s port %d: its addresses differ\n", p.head.Sprint("consistency"), Escape(g.Host), g.Port)
		// Laid out in a buffer, so that the padding of an empty last
		// column does not end lines in spaces.
		var table strings.Builder
		tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  ADDRESS\tSTARTTLS\tLEAF SHA-1\tNOT AFTER\t")
		for _, m := range g.Members {
			notAfter := "-"
			if !m.NotAfter.IsZero() {
				notAfter = m.NotAfter.Format(time.DateOnly)
			}
			var mark []string
			if m.STARTTLSDiffers {
				mark = append(mark, "STARTTLS")
			}
			if m.CertificateDiffers {
				mark = append(mark, "certificate")
			}
			note := ""
			if len(mark) > 0 {
				note = "<- differs: " + strings.Join(mark, ", ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", m.Address, orDash(string(m.STARTTLS)), orDash(m.LeafSHA1), notAfter, note)
		}
		tw.Flush()
		for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
