// Command promcheck parses a Prometheus text exposition file with the
// client library's parser, as node_exporter's textfile collector does, and
// fails when it does not parse or carries timestamps (which the collector
// refuses). scripts/examples/test-examples.sh runs it on the textfile
// collector example's output.
package main

import (
	"fmt"
	"os"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func main() {
	if err := check(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "promcheck:", err)
		os.Exit(1)
	}
}

func check(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: promcheck FILE.prom")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if len(families) == 0 {
		return fmt.Errorf("%s: no metrics", args[0])
	}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			if m.TimestampMs != nil {
				return fmt.Errorf("%s: %s carries a timestamp, which the textfile collector refuses", args[0], name)
			}
		}
	}
	return nil
}
