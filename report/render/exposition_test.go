package render

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// The exposition replaced a registry of GaugeVecs (issue 15): it must
// write what the registry's Gather and the encoder wrote, for series set
// in any order, with label names not in name order, a label set set
// twice (the last value wins, one series), and a family left empty.
func TestExpositionWritesWhatTheRegistryWrote(t *testing.T) {
	type sample struct {
		family int
		value  float64
		labels []string
	}
	families := []struct {
		name   string
		labels []string
	}{
		{"starttls_probe_b_check", []string{"host", "address", "port", "check", "status"}},
		{"starttls_probe_a_info", []string{"zone", "sha1", "subject"}},
		{"starttls_probe_c_empty", []string{"host"}},
		{"starttls_probe_d_plain", nil},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var samples []sample
	for i := range 300 {
		host := []string{"mx1.contoso.test", "mx2.contoso.test", "a.test"}[rng.IntN(3)]
		samples = append(samples,
			sample{0, float64(i), []string{host, "192.0.2." + string(rune('1'+rng.IntN(3))), "25", []string{"name", "expiry", "trust"}[rng.IntN(3)], []string{"ok", "critical"}[rng.IntN(2)]}},
			sample{1, float64(-i), []string{strings.Repeat("z", rng.IntN(3)), []string{"AB", "CD"}[rng.IntN(2)], "CN=\"quoted\"\\n"}},
		)
	}
	samples = append(samples, sample{3, 7, nil}, sample{3, 8, nil})

	reg := prometheus.NewRegistry()
	var vecs []*prometheus.GaugeVec
	var e exposition
	var built []*gauges
	for _, f := range families {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: f.name, Help: "Help of " + f.name + "."}, f.labels)
		reg.MustRegister(v)
		vecs = append(vecs, v)
		built = append(built, e.gauges(f.name, "Help of "+f.name+".", f.labels...))
	}
	for _, s := range samples {
		vecs[s.family].WithLabelValues(s.labels...).Set(s.value)
		built[s.family].set(s.value, s.labels...)
	}
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want, got bytes.Buffer
	enc := expfmt.NewEncoder(&want, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range gathered {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.write(&got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("exposition differs from the registry's:\n--- got\n%s\n--- want\n%s", got.String(), want.String())
	}
	if !strings.Contains(got.String(), "starttls_probe_d_plain 8\n") || strings.Contains(got.String(), "c_empty") {
		t.Errorf("want the last value of a label set set twice, and no empty family:\n%s", got.String())
	}
}
