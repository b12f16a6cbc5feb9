package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/sync/singleflight"

	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/render"
)

// Prober probes target with one module's options and judges what it saw.
// Its error is for a target it cannot probe at all (not a host name);
// whatever happened on the wire is in the Summary.
type Prober func(ctx context.Context, target string) (report.Summary, error)

// Prepare checks a module and makes its Prober: main's, which owns the
// probe and the judge. It runs at every load of the config, so a module
// that cannot work (a missing ca_file, a bad thumbprint) fails the load.
type Prepare func(name string, m Module) (Prober, error)

// Options configure an Exporter.
type Options struct {
	ConfigFile string
	Prepare    Prepare
	Logger     *slog.Logger
	// MaxConcurrent bounds the probes running at once; a scrape waits for
	// a slot until its timeout.
	MaxConcurrent int
	// Registry gets the exporter's own metrics; nil makes one with the
	// Go runtime's and the process's collectors.
	Registry *prometheus.Registry
}

// DefaultMaxConcurrent is Options.MaxConcurrent when unset.
const DefaultMaxConcurrent = 64

// timeoutOffset is taken off Prometheus' scrape timeout so that the
// answer arrives before Prometheus gives up on it (blackbox_exporter's
// --timeout-offset default).
const timeoutOffset = 500 * time.Millisecond

// minTimeout is the least a probe gets, even when the scrape timeout
// leaves less after the offset.
const minTimeout = 500 * time.Millisecond

// Exporter serves probes over HTTP.
type Exporter struct {
	file    string
	prepare Prepare
	log     *slog.Logger
	slots   chan struct{}
	group   singleflight.Group
	history *history
	metrics *metrics
	reg     *prometheus.Registry

	mu  sync.RWMutex
	cur *loaded
	// generation counts loads, so that a probe started under an old
	// config is not shared with a scrape under the new one.
	generation uint64
}

// loaded is one successfully loaded config.
type loaded struct {
	cfg        *Config
	raw        []byte
	probers    map[string]Prober
	filter     *targetFilter
	generation uint64
}

// Check loads the config file and prepares every module, as --config.check
// and each reload do.
func Check(file string, prepare Prepare) (*Config, error) {
	l, err := load(file, prepare)
	if err != nil {
		return nil, err
	}
	return l.cfg, nil
}

func load(file string, prepare Prepare) (*loaded, error) {
	cfg, raw, err := LoadConfig(file)
	if err != nil {
		return nil, err
	}
	l := &loaded{cfg: cfg, raw: raw, probers: map[string]Prober{}}
	for _, name := range cfg.ModuleNames() {
		p, err := prepare(name, cfg.Modules[name])
		if err != nil {
			return nil, fmt.Errorf("%s: module %s: %w", file, name, err)
		}
		l.probers[name] = p
	}
	l.filter, _ = newTargetFilter(cfg.AllowedTargets)
	return l, nil
}

// New loads the config and returns an exporter serving it.
func New(opts Options) (*Exporter, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	e := &Exporter{file: opts.ConfigFile, prepare: opts.Prepare, log: opts.Logger,
		slots: make(chan struct{}, opts.MaxConcurrent), history: newHistory(), metrics: newMetrics(), reg: reg}
	if err := e.metrics.register(reg); err != nil {
		return nil, err
	}
	if err := e.Reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload rereads the config file. A config that fails to load leaves the
// current one serving; the error says why, and so do the log and the
// config_last_reload metrics.
func (e *Exporter) Reload() error {
	l, err := load(e.file, e.prepare)
	now := time.Now()
	if err != nil {
		e.metrics.reloadFailed(err)
		e.log.Error("config not loaded; the previous one, if any, stays in use", "file", e.file, "err", err)
		return err
	}
	e.mu.Lock()
	e.generation++
	l.generation = e.generation
	e.cur = l
	e.mu.Unlock()
	e.metrics.reloaded(now)
	e.log.Info("config loaded", "file", e.file, "modules", strings.Join(l.cfg.ModuleNames(), ","))
	return nil
}

func (e *Exporter) current() *loaded {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.cur
}

// Handler serves the exporter's pages.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/probe", e.serveProbe)
	mux.Handle("/metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Ready") })
	mux.HandleFunc("/-/reload", e.serveReload)
	mux.HandleFunc("/config", e.serveConfig)
	mux.HandleFunc("/debug", e.serveDebug)
	mux.HandleFunc("/{$}", e.serveLanding)
	return mux
}

func (e *Exporter) serveReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "reload with POST", http.StatusMethodNotAllowed)
		return
	}
	if err := e.Reload(); err != nil {
		http.Error(w, "config not reloaded, the previous one stays in use: "+err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "config reloaded")
}

func (e *Exporter) serveConfig(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(e.current().raw)
}

func (e *Exporter) serveDebug(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
	rec, ok := e.history.find(id)
	if !ok {
		http.Error(w, "no such probe in the history: it may have been dropped to make room", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(rec.debug())
}

// outcome is what one probe produced, shared by the scrapes that waited
// for it.
type outcome struct {
	summary report.Summary
	metrics []byte
	// debug draws the debug output once, when first asked for.
	debug func() []byte
	err   error
}

var errBusy = errors.New("every probe slot stayed busy until the scrape's timeout")

func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target, moduleName := q.Get("target"), q.Get("module")
	l := e.current()
	if target == "" {
		http.Error(w, "the target parameter is missing: /probe?target=mail.contoso.com&module=NAME", http.StatusBadRequest)
		return
	}
	if moduleName == "" {
		http.Error(w, "the module parameter is missing; modules: "+strings.Join(l.cfg.ModuleNames(), ", "), http.StatusBadRequest)
		return
	}
	prober, ok := l.probers[moduleName]
	if !ok {
		http.Error(w, fmt.Sprintf("unknown module %q; modules: %s", moduleName, strings.Join(l.cfg.ModuleNames(), ", ")), http.StatusBadRequest)
		return
	}
	if ok, why := l.filter.allows(target); !ok {
		e.metrics.refused.Inc()
		http.Error(w, "target not allowed: "+why, http.StatusForbidden)
		return
	}
	timeout, err := probeTimeout(r.Header, l.cfg.Modules[moduleName].Timeout)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := fmt.Sprintf("%d\x00%s\x00%s", l.generation, moduleName, target)
	v, _, shared := e.group.Do(key, func() (any, error) {
		// Not the request's context: a scrape that gives up must not
		// cancel the probe for the others sharing it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), timeout)
		defer cancel()
		return e.probe(ctx, moduleName, target, prober, timeout), nil
	})
	if shared {
		e.metrics.shared.Inc()
	}
	out := v.(*outcome)
	switch {
	case errors.Is(out.err, errBusy):
		http.Error(w, out.err.Error(), http.StatusServiceUnavailable)
		return
	case out.err != nil:
		http.Error(w, out.err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if q.Get("debug") == "true" {
		w.Write(out.debug())
		return
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	w.Write(out.metrics)
}

// probeTimeout is the scrape's timeout less the offset, capped by the
// module's.
func probeTimeout(h http.Header, module time.Duration) (time.Duration, error) {
	v := h.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return module, nil
	}
	seconds, err := strconv.ParseFloat(v, 64)
	if err != nil || seconds <= 0 {
		return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds %q is not a positive number of seconds", v)
	}
	scrape := time.Duration(seconds*float64(time.Second)) - timeoutOffset
	return max(min(module, scrape), minTimeout), nil
}

func (e *Exporter) probe(ctx context.Context, module, target string, prober Prober, timeout time.Duration) *outcome {
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		e.metrics.probes.WithLabelValues(module, "busy").Inc()
		return &outcome{err: errBusy}
	}
	e.metrics.inFlight.Inc()
	defer e.metrics.inFlight.Dec()
	start := time.Now()
	s, err := prober(ctx, target)
	elapsed := time.Since(start)
	if err != nil {
		e.metrics.probes.WithLabelValues(module, "bad_target").Inc()
		return &outcome{err: fmt.Errorf("bad target: %w", err)}
	}
	result := "failure"
	if s.Status.Passes() {
		result = "success"
	}
	e.metrics.probes.WithLabelValues(module, result).Inc()
	e.metrics.duration.WithLabelValues(module).Observe(elapsed.Seconds())

	out := &outcome{summary: s}
	var m bytes.Buffer
	if err := render.Prometheus(&m, s); err != nil {
		out.err = err
		return out
	}
	out.metrics = m.Bytes()
	out.debug = sync.OnceValue(func() []byte { return debugText(module, target, timeout, elapsed, s, out.metrics) })
	rec := newRecord(start, module, target, elapsed, s, out.debug)
	if rec.Failed {
		// Drawn now, so that the history holds the bounded text rather
		// than the whole dialogue for the many failures it keeps; a
		// success's is drawn only when someone asks (most never are).
		rec.debug()
	}
	e.history.add(rec)
	if !s.Status.Passes() {
		e.log.Debug("probe failed", "module", module, "target", target, "status", s.Status.String())
	}
	return out
}

// maxDebug bounds one probe's debug output kept in the history.
const maxDebug = 64 << 10

// debugText is what &debug=true shows: the dialogue with its transcript,
// the judgement, and the metrics the scrape would have got.
func debugText(module, target string, timeout, elapsed time.Duration, s report.Summary, metrics []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Probe of %s with module %s, timeout %s, took %s\n\n", target, module, timeout, elapsed.Round(time.Millisecond))
	s.Verbose = true
	if err := render.Text(&b, s, false); err != nil {
		fmt.Fprintf(&b, "(the report could not be drawn: %v)\n", err)
	}
	b.WriteString("\nMetrics that would have been returned:\n\n")
	b.Write(metrics)
	if b.Len() > maxDebug {
		return append(b.Bytes()[:maxDebug], "\n[cut at 64 KiB]\n"...)
	}
	return b.Bytes()
}
