package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
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
func Nagios(w io.Writer, s Summary) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s %s - %s", nagiosService, s.Status, nagiosStatusText(s))
	if perf := nagiosPerfdata(s); len(perf) > 0 {
		fmt.Fprintf(bw, " | %s", strings.Join(perf, " "))
	}
	fmt.Fprintln(bw)
	for _, ep := range s.Endpoints {
		writeNagiosEndpoint(bw, ep, s.Now)
	}
	return bw.Flush()
}

// nagiosText escapes untrusted text for a plugin's output: Escape for
// control characters and line breaks, and '|', which would start perfdata,
// written as \x7c in the same style.
func nagiosText(s string) string {
	return strings.ReplaceAll(Escape(s), "|", `\x7c`)
}

// nagiosProblem is one non-OK check, for the status line.
type nagiosProblem struct {
	status Status
	text   string
}

// nagiosStatusText lists every warning, critical and unknown check as
// "host:port message", worst first; when there is none it names the
// endpoints that are OK.
func nagiosStatusText(s Summary) string {
	if len(s.Endpoints) == 0 {
		return "nothing was probed"
	}
	var problems []nagiosProblem
	for _, ep := range s.Endpoints {
		worstCheck := Skipped
		for _, c := range ep.Checks {
			worstCheck = Worse(worstCheck, c.Status)
			if c.Status == OK || c.Status == Skipped {
				continue
			}
			problems = append(problems, nagiosProblem{c.Status, nagiosText(ep.Endpoint.String()) + " " + nagiosText(statusLineMessage(c.Message))})
		}
		// A diagnosis that raised the endpoint above its checks (AUTH
		// before TLS, another certificate than the other ports) must be
		// on the status line too, or the alert would not say why.
		for _, d := range ep.Diagnoses {
			if st := d.Severity.status(); st.severity() > worstCheck.severity() {
				problems = append(problems, nagiosProblem{st, nagiosText(ep.Endpoint.String()) + " " + d.ID})
			}
		}
	}
	if len(problems) == 0 {
		var names []string
		for _, ep := range s.Endpoints {
			names = append(names, nagiosText(ep.Endpoint.String()))
		}
		return strings.Join(names, ", ") + " ok"
	}
	slices.SortStableFunc(problems, func(a, b nagiosProblem) int { return b.status.severity() - a.status.severity() })
	texts := make([]string, len(problems))
	for i, p := range problems {
		texts[i] = p.text
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

func writeNagiosEndpoint(w io.Writer, ep Endpoint, now time.Time) {
	r := ep.Result
	addr := r.Address
	if addr == "" {
		addr = "not resolved"
	}
	fmt.Fprintf(w, "%s %s (%s, %s)\n", strings.ReplaceAll(endpointTitle(ep), "|", `\x7c`), ep.Status, addr, modeName(r.Mode))
	if leaf := r.Leaf(); leaf != nil {
		fmt.Fprintf(w, "  certificate %s, issued by %s, SHA-1 %s, expires %s (%s)\n",
			nagiosText(leaf.Subject.String()), nagiosText(leaf.Issuer.String()), SHA1(leaf),
			leaf.NotAfter.UTC().Format(time.DateOnly), daysLeftText(leaf, now))
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
func nagiosPerfdata(s Summary) []string {
	var perf []string
	for _, ep := range s.Endpoints {
		r := ep.Result
		prefix := ep.Endpoint.String()
		if leaf := r.Leaf(); leaf != nil {
			perf = append(perf, fmt.Sprintf("%s=%d;%d:;%d:", perfLabel(prefix+" days_left"), DaysLeft(leaf, s.Now), s.WarnDays, s.CritDays))
		}
		if r.Timings.Handshake > 0 {
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
	_, werr := fmt.Fprintf(w, "%s %s - %s\n", nagiosService, Unknown, nagiosText(strings.Join(strings.Fields(err.Error()), " ")))
	return werr
}
