package exporter

import (
	"html/template"
	"net/http"
	"net/url"
	"time"
)

// landingPage lists the recent probes. html/template escapes every value,
// server-sent text included (a subject or a reply quoted in a problem).
var landingPage = template.Must(template.New("landing").Funcs(template.FuncMap{
	"probeURL": func(module, target string) string {
		return "/probe?" + url.Values{"module": {module}, "target": {target}, "debug": {"true"}}.Encode()
	},
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"ms":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>starttls-probe exporter</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code { font-size: 0.9em; }
.status-ok, .status-warning { color: #1a7f37; }
.status-warning { color: #9a6700; }
.status-critical, .status-unknown { color: #cf222e; font-weight: bold; }
tr.failed { background: #fff5f5; }
nav a { margin-right: 1em; }
td.links { white-space: nowrap; }
</style>
</head>
<body>
<h1>starttls-probe exporter</h1>
<nav><a href="/metrics">Metrics</a><a href="/config">Configuration</a><a href="/-/healthy">Health</a></nav>
<p>Modules: {{range $i, $m := .Modules}}{{if $i}}, {{end}}<code>{{$m}}</code>{{end}}.
Probe with <code>/probe?target=mail.contoso.com&amp;module={{index .Modules 0}}</code>.</p>
<h2>Recent probes</h2>
<p>The last {{.KeepSuccesses}} successes and the last {{.KeepFailures}} failures, newest first.</p>
{{if .Records}}
<table id="recent">
<thead><tr><th>Time</th><th>Module</th><th>Target</th><th>Status</th><th>Endpoints (leaf SHA-1, days left)</th><th>Took</th><th>Debug</th></tr></thead>
<tbody>
{{range .Records}}<tr class="{{if .Failed}}failed{{else}}passed{{end}}" data-id="{{.ID}}">
<td>{{when .When}}</td><td>{{.Module}}</td><td>{{.Target}}</td>
<td class="status-{{.Status}}">{{.Status}}{{if .Problem}}<br><small>{{.Problem}}</small>{{end}}</td>
<td>{{range .Endpoints}}<div>{{.Name}} ({{.Address}}) <span class="status-{{.Status}}">{{.Status}}</span>{{if .HasLeaf}} <code class="sha1">{{.SHA1}}</code> <span class="days-left">{{.DaysLeft}} days</span>{{else}} no certificate{{end}}</div>{{end}}</td>
<td>{{ms .Duration}}</td>
<td class="links"><a class="debug" href="/debug?id={{.ID}}">this probe</a><br><a href="{{probeURL .Module .Target}}">probe again</a></td>
</tr>
{{end}}</tbody>
</table>
{{else}}
<p id="none">No probe yet.</p>
{{end}}
</body>
</html>
`))

func (e *Exporter) serveLanding(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := landingPage.Execute(w, map[string]any{
		"Modules":       e.current().cfg.ModuleNames(),
		"Records":       e.history.recent(),
		"KeepSuccesses": keepSuccesses,
		"KeepFailures":  keepFailures,
	})
	if err != nil {
		e.log.Error("landing page", "err", err)
	}
}
