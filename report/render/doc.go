// Package render writes a report.Summary as text, JSON, JSONL, Nagios
// plugin output or Prometheus exposition. Its only input is the Summary:
// every fact it prints was decided in report, so two formats cannot
// disagree, and a renderer has nothing to judge with (scripts/check-imports.sh
// keeps it from importing anything of probe but the result types, and
// report keeps its rules unexported).
//
// Server-sent text (banner, replies, certificate fields) reaches the
// Summary raw; each renderer escapes it for its medium: Escape for text
// and Nagios, the exposition format's escaping for Prometheus labels,
// encoding/json for JSON.
package render
