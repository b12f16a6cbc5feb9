package render

import (
	"bufio"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/starttls-probe/starttls-probe/report"
)

// PEM writes each endpoint's chain exactly as the server sent it, leaf
// first, as PEM blocks that openssl, certutil and pem.Decode read, so that
// the certificate can be handed on (what openssl s_client -showcerts and
// posttls-finger -C do). A comment block names the endpoint and each
// certificate; every comment line starts with "# ", so that no subject,
// however hostile, can start a PEM block of its own, and server text is
// escaped as in the text report. An endpoint that presented nothing says
// why in its comment, so that the file still accounts for every endpoint.
func PEM(w io.Writer, s report.Summary) error {
	bw := bufio.NewWriter(w)
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		if i > 0 {
			fmt.Fprintln(bw)
		}
		addr := ep.Result.Address
		if addr == "" {
			addr = "(not resolved)"
		}
		fmt.Fprintf(bw, "# %s, address %s, port %d, %s\n", Escape(ep.Name()), addr, ep.Result.Endpoint.Port, modeName(ep.Result.Mode))
		if len(ep.Chain) == 0 {
			why := "no certificate presented"
			if f := ep.Failure; f != nil {
				why += ": " + Escape(failureLine(f))
			} else if ep.STARTTLS == report.STARTTLSNotOffered {
				why += ": STARTTLS not offered"
			}
			fmt.Fprintf(bw, "# %s\n", why)
			continue
		}
		fmt.Fprintf(bw, "# chain as sent, %d certificate(s), leaf first\n", len(ep.Chain))
		for n, c := range ep.Chain {
			fmt.Fprintf(bw, "# %d subject %s\n", n, escapeName(c.Subject))
			fmt.Fprintf(bw, "#   issuer %s\n", escapeName(c.Issuer))
			fmt.Fprintf(bw, "#   SHA-1 %s, not after %s\n", c.SHA1, c.NotAfter.Format("2006-01-02 15:04 UTC"))
			if err := pem.Encode(bw, &pem.Block{Type: "CERTIFICATE", Bytes: c.DER}); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}
