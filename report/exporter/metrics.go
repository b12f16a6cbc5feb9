package exporter

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the exporter's own, on /metrics.
type metrics struct {
	probes                    *prometheus.CounterVec
	duration                  *prometheus.HistogramVec
	inFlight                  prometheus.Gauge
	shared, refused           prometheus.Counter
	reloadOK, reloadTimestamp prometheus.Gauge
	reloadError               *prometheus.GaugeVec

	mu sync.Mutex
}

const namespace = "starttls_probe_exporter"

func newMetrics() *metrics {
	return &metrics{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "probes_total",
			Help: "Probes by module and result: success (ok or warning), failure, bad_target, or busy (no probe slot before the timeout)."},
			[]string{"module", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "probe_duration_seconds",
			Help: "How long probes took, from the first DNS question to the judgement.", Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 9)},
			[]string{"module"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "probes_in_flight",
			Help: "Probes running now."}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "scrapes_shared_total",
			Help: "Scrapes answered by a probe of the same target and module that was already running, counting the scrape that started it."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "targets_refused_total",
			Help: "Probes refused (403) because the target matched none of allowed_targets."}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "config_last_reload_successful",
			Help: "1 when the last load of the config file succeeded, 0 when it failed and the previous config stayed in use."}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the config file was last loaded successfully, as a Unix time."}),
		reloadError: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "config_last_reload_error_info",
			Help: "Why the last load of the config file failed, in the error label; absent after a successful load."},
			[]string{"error"}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.probes, m.duration, m.inFlight, m.shared, m.refused, m.reloadOK, m.reloadTimestamp, m.reloadError} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// maxErrorLabel bounds the error label: a YAML error can quote the file.
const maxErrorLabel = 200

func (m *metrics) reloadFailed(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reloadOK.Set(0)
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > maxErrorLabel {
		msg = strings.ToValidUTF8(msg[:maxErrorLabel], "") + "…"
	}
	m.reloadError.Reset()
	m.reloadError.WithLabelValues(msg).Set(1)
}

func (m *metrics) reloaded(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reloadOK.Set(1)
	m.reloadTimestamp.Set(float64(at.Unix()))
	m.reloadError.Reset()
}
