package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/console"
	"github.com/lgwan/issuance/web/verify"
)

// readiness is what /readyz reports and the status page shows.
type readiness struct {
	Ready          bool           `json:"ready"`
	Node           string         `json:"node"`
	Database       string         `json:"database"`
	SchemaVersion  int            `json:"schemaVersion"`
	SchemaWanted   int            `json:"schemaWanted"`
	Municipalities map[string]int `json:"municipalities"` // people loaded per lgCode
	Problems       []string       `json:"problems,omitempty"`
	// Stopped is the deployment-wide stop in force (issuance stop-all).
	Stopped *registry.ServiceState `json:"stopped,omitempty"`
}

func (s *server) readiness(ctx context.Context, munis map[string]issuance.Municipality) readiness {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r := readiness{Node: s.cfg.Node, Database: "ok", SchemaWanted: registry.LatestVersion()}
	if r.Stopped = s.gate.stopped(); r.Stopped != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("stopped since %s by %s (issuance stop-all): %s",
			r.Stopped.Since.In(issuance.Tokyo).Format(time.RFC3339), r.Stopped.By, r.Stopped.Reason))
	}
	if err := s.pool.Ping(ctx); err != nil {
		r.Database = "unreachable"
		r.Problems = append(r.Problems, "database unreachable")
		return r
	}
	var err error
	if r.SchemaVersion, err = registry.SchemaVersion(ctx, s.pool); err != nil || r.SchemaVersion != r.SchemaWanted {
		r.Problems = append(r.Problems, "database schema not current: run issuance migrate")
	}
	loaded, err := s.store.LoadedMunicipalities(ctx, s.lgCodes)
	if err != nil {
		r.Problems = append(r.Problems, "cannot count loaded data")
	}
	r.Municipalities = map[string]int{}
	for code := range munis {
		r.Municipalities[code] = loaded[code]
		if loaded[code] == 0 {
			r.Problems = append(r.Problems, "no resident data loaded for "+code)
		}
	}
	now := s.clock.Now()
	crls := s.rev.CRLs()
	if len(crls) < s.jpkiRoots {
		r.Problems = append(r.Problems, fmt.Sprintf("revocation lists held for %d of %d JPKI roots: cards of the others are refused", len(crls), s.jpkiRoots))
	}
	for _, c := range crls {
		if !now.Before(c.NextUpdate) {
			r.Problems = append(r.Problems, "revocation list of JPKI issuer "+c.IssuerKeyID+" is past its next update")
		}
	}
	slices.Sort(r.Problems)
	r.Ready = len(r.Problems) == 0
	return r
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>証明書交付サーバ {{.R.Node}}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em 1em;text-align:left}.ng{color:#b00}</style></head>
<body><h1>証明書交付サーバ / Certificate issuance server</h1>
<p>ノード Node: <b>{{.R.Node}}</b> — {{if .R.Ready}}稼働中 ready{{else}}<span class="ng">準備未完了 not ready</span>{{end}}</p>
<p>データベース Database: {{.R.Database}}, schema {{.R.SchemaVersion}}/{{.R.SchemaWanted}}</p>
{{with .R.Problems}}<ul class="ng">{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
<table><tr><th>団体コード</th><th>市区町村</th><th>住民データ件数 people loaded</th></tr>
{{range .Munis}}<tr><td>{{.Code}}</td><td>{{.Prefecture}}{{.Name}}</td><td>{{index $.R.Municipalities .Code}}</td></tr>{{end}}
</table><p><a href="/metrics">/metrics</a> · <a href="/readyz">/readyz</a> · <a href="/healthz">/healthz</a></p>
</body></html>`))

// webHandler serves the operator's side: liveness, readiness, metrics and a
// status page. It carries no personal data.
func (s *server) webHandler(munis map[string]issuance.Municipality) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := s.readiness(r.Context(), munis)
		w.Header().Set("Content-Type", "application/json")
		if !rd.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(rd)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	mux.Handle("GET /assets/", web.Assets())
	clerkConsole, err := console.New(console.Options{Store: s.store, Clock: s.clock, Municipalities: munis,
		Sync: s.consoleSync(), Inbox: s.cfg.Sync.Inbox, MaxStaleness: s.staleness, Stopped: s.gate.stopped})
	if err != nil {
		panic(err) // every option is set here, and the configuration has a municipality
	}
	mux.Handle(console.Path, clerkConsole)
	// The verification site checks scans against the keys verify-scan reads.
	codeKeys, err := verify.LoadPublishedKeys(s.cfg.Seal.CodeKeys)
	if err != nil {
		panic(err) // the keyring has just read the same file
	}
	verifySite, err := verify.New(verify.Options{Keys: codeKeys, Limiter: registry.NewRateLimiter(s.pool), Clock: s.clock})
	if err != nil {
		panic(err)
	}
	mux.Handle(verify.Path, verifySite)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var list []issuance.Municipality
		for _, m := range munis {
			list = append(list, m)
		}
		slices.SortFunc(list, func(a, b issuance.Municipality) int { return strings.Compare(a.Code, b.Code) })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		statusPage.Execute(w, struct {
			R     readiness
			Munis []issuance.Municipality
		}{s.readiness(r.Context(), munis), list})
	})
	mux.Handle("/status", s.statusPage)
	return mux
}
