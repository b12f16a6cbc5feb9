// Package exporter serves probes over HTTP the way Prometheus expects an
// exporter to (blackbox_exporter's conventions): GET /probe?target=&module=
// answers the text exposition of one probe, /metrics the exporter's own
// metrics, / a landing page of recent probes, and /-/reload rereads the
// modules' YAML file.
//
// It neither dials nor judges by itself: main hands it a Prepare function
// that turns a module into a Prober (probe.Discover and probe.Run, then
// report.Judge), and render.Prometheus and render.Text draw the Summary.
// It must not reference probe.Run, probe.Probe or probe.Discover
// (scripts/check-imports.sh).
package exporter
