package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/starttls-probe/starttls-probe/report"
)

// writePolicies draws one block per mail domain: its MTA-STS record and
// policy, TLS-RPT and DNSSEC. DNS and the
// policy server are remote text: all of it is escaped.
func writePolicies(w io.Writer, p palette, s report.Summary) {
	for _, d := range s.Policies {
		fmt.Fprintf(w, "%s  %s\n", p.head.Sprint(Escape(d.Domain)), p.dim.Sprint("(mail domain's published policy)"))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		field := func(name, value string) { fmt.Fprintf(tw, "  %s\t%s\n", name, value) }
		m := d.MTASTS
		switch {
		case m.Record == "" && m.Error == "":
			field("MTA-STS", "none published")
		case m.Record == "":
			field("MTA-STS", Escape(m.Error))
		default:
			field("MTA-STS", Escape(m.Record))
		}
		switch {
		case m.Mode != "":
			field("policy", Escape(fmt.Sprintf("mode %s, max_age %d, mx %s (%s, %s)", m.Mode, m.MaxAge, strings.Join(m.MX, ", "), m.PolicyURL, m.ContentType)))
		case m.Record != "" && m.Error != "":
			field("policy", "none applies: "+Escape(m.Error))
		}
		t := d.TLSRPT
		switch {
		case t.Error != "":
			field("TLS-RPT", Escape(t.Record)+" ("+Escape(t.Error)+")")
		case t.Record != "":
			field("TLS-RPT", Escape(t.Record))
		default:
			field("TLS-RPT", "none published")
		}
		field("DNSSEC", d.DNSSEC+", resolver "+d.Resolver)
		tw.Flush()
		// The findings are in each endpoint's mta-sts and tls-rpt checks,
		// with the endpoint's own.
		fmt.Fprintln(w)
	}
}

// daneLine is an endpoint's DANE in one line: "secure, 2 TLSA records,
// matched (resolver 127.0.0.1:53 (--resolver))".
func daneLine(d *report.DANE) string {
	if len(d.TLSA) == 0 {
		return fmt.Sprintf("no TLSA records at %s (DNSSEC %s)", d.Owner, d.DNSSEC)
	}
	var records []string
	for _, t := range d.TLSA {
		records = append(records, fmt.Sprintf("%d %d %d", t.Usage, t.Selector, t.MatchingType))
	}
	line := fmt.Sprintf("%s: TLSA %s, DNSSEC %s", d.Owner, strings.Join(records, ", "), d.DNSSEC)
	if d.Match != "" {
		line += ", " + d.Match
	}
	return line + " (resolver " + d.Resolver + ")"
}
