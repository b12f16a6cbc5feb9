package report

import (
	"encoding/json"
	"io"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// JSONLine judges one result on its own and writes it as one line of JSON,
// the same object as an element of the JSON document's "results": for
// --output jsonl, which streams each endpoint as it finishes. Checks that
// compare endpoints (consistency) need the whole run and are left to the
// exit status.
func JSONLine(w io.Writer, r probe.Result, expect Expect, now time.Time, verbose bool) error {
	s := Judge([]probe.Result{r}, expect, now)
	enc := json.NewEncoder(w)
	// As in JSON: "<I>...<S>..." stays pasteable, not \u003cI\u003e.
	enc.SetEscapeHTML(false)
	return enc.Encode(toJSONResult(s.Endpoints[0], now, verbose))
}
