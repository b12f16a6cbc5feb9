package render

import (
	"encoding/json"
	"io"

	"github.com/starttls-probe/starttls-probe/report"
)

// JSONLines writes each endpoint of the summary as one line of JSON, the
// same object as an element of the JSON document's "results": for
// --output jsonl, which streams each endpoint as it finishes (the caller
// judges each one as it comes and passes a summary of it).
func JSONLines(w io.Writer, s report.Summary) error {
	enc := json.NewEncoder(w)
	// As in JSON: "<I>...<S>..." stays pasteable, not \u003cI\u003e.
	enc.SetEscapeHTML(false)
	for i := range s.Endpoints {
		if err := enc.Encode(toJSONResult(&s.Endpoints[i], s.Verbose)); err != nil {
			return err
		}
	}
	return nil
}
