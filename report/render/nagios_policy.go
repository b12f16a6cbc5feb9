package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/starttls-probe/starttls-probe/report"
)

// writeNagiosPolicies adds one long-output line per mail domain: its
// MTA-STS mode, TLS-RPT and DNSSEC. The checks mta-sts, dane and tls-rpt
// are in each endpoint's lines and in the status line's problems.
func writeNagiosPolicies(w io.Writer, s report.Summary) {
	for _, d := range s.Policies {
		m := d.MTASTS
		mtasts := "none published"
		switch {
		case m.Mode != "":
			mtasts = fmt.Sprintf("mode %s, id %s, mx %s", m.Mode, m.ID, strings.Join(m.MX, ", "))
		case m.Error != "":
			mtasts = "no policy applies: " + m.Error
		}
		tlsrpt := "none published"
		switch {
		case d.TLSRPT.Error != "":
			tlsrpt = "malformed: " + d.TLSRPT.Error
		case d.TLSRPT.Record != "":
			tlsrpt = strings.Join(d.TLSRPT.RUA, ", ")
		}
		fmt.Fprintf(w, "policy %s: MTA-STS %s; TLS-RPT %s; DNSSEC %s\n", nagiosText(d.Domain), nagiosText(mtasts), nagiosText(tlsrpt), d.DNSSEC)
	}
}
