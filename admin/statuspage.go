package admin

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

// status serves the snapshot as JSON (Accept: application/json or ?format=json) or HTML.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := Status{Datasets: []DatasetStatus{}}
	if s.o.Metrics != nil {
		st = s.o.Metrics.Status()
	}
	st.Ready = s.Ready()
	if s.spool.Load() != nil {
		st.DeadLettersURL = APIDeadLetters
	}
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			s.log.Warn("write /status", "err", err)
		}
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, st); err != nil {
		s.log.Warn("write /status", "err", err)
	}
}

func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"dead": func(m map[string]int64) int64 {
		var n int64
		for _, v := range m {
			n += v
		}
		return n
	},
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>pbi-pusher status</title>
<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}</style>
</head><body>
<h1>pbi-pusher</h1>
<p>{{.Time.UTC.Format "2006-01-02 15:04:05Z"}} · ready: <b>{{.Ready}}</b>
{{with .Spool}} · spool {{.UsedBytes}} of {{.MaxBytes}} bytes · in flight {{.InFlightRows}} rows · dead letters {{if $.DeadLettersURL}}<a href="{{$.DeadLettersURL}}">{{.DeadLetters}}</a>{{else}}{{.DeadLetters}}{{end}}{{end}}
· POSTs in flight {{.Posts.InFlight}} · 429s {{.Posts.Throttled}}</p>
{{range .Datasets}}{{$ds := .Name}}
<h2>{{.Name}} <small>(retention {{.Retention}}, {{.RowsPerHour}} rows/hour)</small></h2>
{{with .Sink}}<p>Power BI: <b>{{.State}}</b>{{if .Reason}} · {{.Reason}}{{end}}{{if not .LastSuccess.IsZero}} · last success {{.LastSuccess.UTC.Format "2006-01-02 15:04:05Z"}}{{end}}{{if .Permanent}} · needs a fix, then SIGHUP{{end}}</p>{{end}}
{{with .Budget}}<p>rows this hour {{.RowsThisHour}} · rows left this hour {{.RowsLeftThisHour}} ·
POSTs this minute {{.PostsThisMinute}} · POSTs left {{.PostsLeft}} · in flight {{.InFlight}}/{{.MaxInFlight}}
{{if .LargeTier}}· large-table tier{{end}}{{if .PausedSeconds}} · paused {{printf "%.1f" .PausedSeconds}}s{{end}}</p>
{{else}}<p>dispatcher not running</p>{{end}}
{{with .Drain}}{{if .BacklogRows}}<p>backlog {{.BacklogRows}} rows drains in {{printf "%.0f" .ETASeconds}} s ({{.Posts}} POSTs){{if .BindingNow}} · waiting for: {{.BindingNow}}{{end}}{{if .Binding}} · binding limit: {{.Binding}}{{end}}</p>{{end}}{{end}}
<table><tr><th>table</th><th>read</th><th>spooled</th><th>delivered</th><th>dead-lettered</th><th>backlog rows</th><th>backlog bytes</th><th>oldest (s)</th></tr>
{{range .Tables}}<tr><td>{{.Name}}</td><td>{{.Read}}</td><td>{{.Spooled}}</td><td>{{.Delivered}}</td><td>{{if $.DeadLettersURL}}<a href="{{$.DeadLettersURL}}?table={{$ds}}/{{.Name}}">{{dead .DeadLettered}}</a>{{else}}{{dead .DeadLettered}}{{end}}</td><td>{{.BacklogRows}}</td><td>{{.BacklogBytes}}</td><td>{{printf "%.0f" .OldestAgeSeconds}}</td></tr>
{{end}}</table>
{{end}}
{{if .Kafka}}<h2>Kafka lag</h2><table><tr><th>topic</th><th>partition</th><th>lag</th></tr>
{{range .Kafka}}<tr><td>{{.Topic}}</td><td>{{.Partition}}</td><td>{{.Lag}}</td></tr>{{end}}</table>{{end}}
</body></html>
`))
