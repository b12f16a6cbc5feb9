package render

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/starttls-probe/starttls-probe/report"
)

// Nagios output follows the monitoring-plugins development guidelines
// (https://www.monitoring-plugins.org/doc/guidelines.html#PLUGOUTPUT):
//
//	STARTTLS CRITICAL - mail.contoso.com:25 STARTTLS not offered ...; ... | 'mail.contoso.com:25 total'=0.023500s;;;0
//	long output, one block per endpoint
//
// The first line is what pagers and dashboards show: the service, the
// status word, then the problems, worst first. Everything after it is the
// long output. Nagios splits on '|' (text from perfdata) and on line breaks
// (first line from long output), so server text goes through nagiosText.
// The exit status is Summary.ExitCode, the same in every format.

// nagiosService names the service on the status line.
const nagiosService = "STARTTLS"

// Nagios writes the summary as monitoring-plugin output.
func Nagios(w io.Writer, s report.Summary) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s %s - %s", nagiosService, s.Status, nagiosStatusText(s))
	if perf := nagiosPerfdata(s); len(perf) > 0 {
		fmt.Fprintf(bw, " | %s", strings.Join(perf, " "))
	}
	fmt.Fprintln(bw)
	for i := range s.Endpoints {
		writeNagiosEndpoint(bw, &s.Endpoints[i])
	}
	writeNagiosPolicies(bw, s)
	return bw.Flush()
}

// nagiosText escapes untrusted text for a plugin's output: Escape for
// control characters and line breaks, and '|', which would start perfdata,
// written as \x7c in the same style.
func nagiosText(s string) string {
	return strings.ReplaceAll(Escape(s), "|", `\x7c`)
}

// nagiosName is nagiosText for a distinguished name (escapeName).
func nagiosName(dn string) string {
	return strings.ReplaceAll(escapeName(dn), "|", `\x7c`)
}

// nagiosStatusText lists every problem (report.Summary.Problems, worst
// first) as "host:port message"; when there is none it names the endpoints
// that are OK.
func nagiosStatusText(s report.Summary) string {
	if len(s.Endpoints) == 0 {
		return "nothing was probed"
	}
	if len(s.Problems) == 0 {
		var names []string
		for i := range s.Endpoints {
			names = append(names, nagiosText(s.Endpoints[i].Name()))
		}
		return strings.Join(names, ", ") + " ok"
	}
	texts := make([]string, len(s.Problems))
	for i, p := range s.Problems {
		what := statusLineMessage(p.Message)
		if p.Diagnosis {
			// A cause is a sentence; its ID is short enough for a pager.
			what = p.ID
		}
		texts[i] = nagiosText(s.Endpoints[p.Endpoint].Name()) + " " + nagiosText(what)
	}
	return strings.Join(texts, "; ")
}

// statusLineMessage is a check message without its parenthesised
// explanation, which the long output keeps: the status line must stay short
// enough for a pager.
func statusLineMessage(msg string) string {
	if i := strings.Index(msg, " ("); i > 0 {
		return msg[:i]
	}
	return msg
}

func writeNagiosEndpoint(w io.Writer, ep *report.Endpoint) {
	r := &ep.Result
	addr := r.Address
	if addr == "" {
		addr = "not resolved"
	}
	fmt.Fprintf(w, "%s %s (%s, %s)\n", strings.ReplaceAll(endpointTitle(ep), "|", `\x7c`), ep.Status, addr, modeName(r.Mode))
	if leaf := ep.Leaf(); leaf != nil {
		fmt.Fprintf(w, "  certificate %s, issued by %s, SHA-1 %s, expires %s (%s)\n",
			nagiosName(leaf.Subject), nagiosName(leaf.Issuer), leaf.SHA1,
			leaf.NotAfter.Format(time.DateOnly), daysLeftText(leaf))
	}
	for _, c := range ep.Checks {
		fmt.Fprintf(w, "  %s %s: %s\n", c.Status, c.ID, nagiosText(c.Message))
	}
	for _, d := range ep.Diagnoses {
		fmt.Fprintf(w, "  diagnosis %s %s: %s\n", strings.ToUpper(string(d.Severity)), d.ID, nagiosText(d.Cause))
	}
}

// nagiosPerfdata is, per endpoint, the leaf's days left (with the expiry
// thresholds as ranges: "30:" alerts below 30) and the handshake and total
// times, as 'label'=value[UOM];warn;crit;min;max with empty trailing fields
// left out.
func nagiosPerfdata(s report.Summary) []string {
	var perf []string
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		r := &ep.Result
		prefix := ep.Name()
		if leaf := ep.Leaf(); leaf != nil {
			perf = append(perf, fmt.Sprintf("%s=%d;%d:;%d:", perfLabel(prefix+" days_left"), leaf.DaysLeft, s.WarnDays, s.CritDays))
		}
		if r.Timings.Handshake > 0 && ep.TLS != nil && ep.TLS.Complete {
			perf = append(perf, fmt.Sprintf("%s=%ss;;;0", perfLabel(prefix+" handshake"), seconds(r.Timings.Handshake)))
		}
		if r.Timings.Total > 0 {
			perf = append(perf, fmt.Sprintf("%s=%ss;;;0", perfLabel(prefix+" total"), seconds(r.Timings.Total)))
		}
	}
	return perf
}

// perfLabel quotes a perfdata label. The guidelines forbid '=' in a label
// and write a quote as two; the rest is escaped as elsewhere.
func perfLabel(label string) string {
	label = strings.ReplaceAll(nagiosText(label), "=", "_")
	return "'" + strings.ReplaceAll(label, "'", "''") + "'"
}

// seconds is d in seconds to the microsecond.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 6, 64)
}

// NagiosError writes the UNKNOWN status line for a run that could not be
// judged (an unreadable baseline): Nagios reads a plugin's stdout only, and
// an empty one shows as "(No output returned from plugin)".
func NagiosError(w io.Writer, err error) error {
	_, werr := fmt.Fprintf(w, "%s %s - %s\n", nagiosService, report.Unknown, nagiosText(strings.Join(strings.Fields(err.Error()), " ")))
	return werr
}
