package render

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// exposition is one output's gauge families, built in the client
// library's data model and written by its encoder, without a registry.
// A registry is made for long-lived metrics: it collects each one
// through a goroutine and a channel, hashes every label set to find its
// gauge and checks the whole for consistency; for the 70 series of an
// endpoint drawn once, that was most of an exporter scrape's rendering
// (issue 15). The output is what the registry's Gather gave: families in
// name order, each one's series ordered by label values, empty families
// left out, and one series per label set, the last value set winning.
type exposition struct {
	families []*gauges
}

// gauges is one gauge family: its name, help and label names, and the
// series set so far.
type gauges struct {
	family dto.MetricFamily
	// labels are the label names in the order set takes values;
	// byName, their positions in name order, the order the data model
	// keeps label pairs in and sorts series by.
	labels []string
	byName []int
	series []*dto.Metric
}

func (e *exposition) gauges(name, help string, labels ...string) *gauges {
	g := &gauges{labels: labels}
	g.family.Name, g.family.Help, g.family.Type = &name, &help, dto.MetricType_GAUGE.Enum()
	g.byName = make([]int, len(labels))
	for i := range g.byName {
		g.byName[i] = i
	}
	slices.SortFunc(g.byName, func(a, b int) int { return cmp.Compare(labels[a], labels[b]) })
	e.families = append(e.families, g)
	return g
}

// maxLabels is the most labels a family here has (cert_info's six).
const maxLabels = 6

// seriesOf is one series and its parts, allocated together: a scrape
// draws some 70 of them per endpoint.
type seriesOf struct {
	metric dto.Metric
	gauge  dto.Gauge
	value  float64
	pairs  [maxLabels]dto.LabelPair
	labels [maxLabels]*dto.LabelPair
	values [maxLabels]string
}

// set adds the series with these label values (in the order of the
// family's label names).
func (g *gauges) set(value float64, labelValues ...string) {
	if len(labelValues) != len(g.labels) || len(labelValues) > maxLabels {
		// A programming error, as the registry's WithLabelValues panics.
		panic(fmt.Sprintf("%s: %d label values for labels %q", *g.family.Name, len(labelValues), g.labels))
	}
	s := &seriesOf{value: value}
	s.gauge.Value = &s.value
	s.metric.Gauge = &s.gauge
	copy(s.values[:], labelValues)
	for i, at := range g.byName {
		s.pairs[i].Name, s.pairs[i].Value = &g.labels[at], &s.values[at]
		s.labels[i] = &s.pairs[i]
	}
	s.metric.Label = s.labels[:len(g.labels)]
	g.series = append(g.series, &s.metric)
}

// write encodes the families in the text format.
func (e *exposition) write(w io.Writer) error {
	slices.SortFunc(e.families, func(a, b *gauges) int { return cmp.Compare(*a.family.Name, *b.family.Name) })
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, g := range e.families {
		if len(g.series) == 0 {
			continue
		}
		// Stable, so that of series with the same labels the one set
		// last comes last, and is the one kept.
		slices.SortStableFunc(g.series, compareLabelValues)
		kept := g.series[:0]
		for _, m := range g.series {
			if n := len(kept); n > 0 && compareLabelValues(kept[n-1], m) == 0 {
				kept[n-1] = m
				continue
			}
			kept = append(kept, m)
		}
		g.family.Metric = kept
		if err := enc.Encode(&g.family); err != nil {
			return err
		}
	}
	return nil
}

func compareLabelValues(a, b *dto.Metric) int {
	for i, pair := range a.Label {
		if c := cmp.Compare(pair.GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return 0
}
