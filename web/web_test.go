package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lgwan/issuance/internal/browsertest"
	"github.com/lgwan/issuance/web"
)

func TestLanguage(t *testing.T) {
	for _, c := range []struct{ query, accept, want string }{
		{"", "", "ja"},
		{"lang=en", "ko", "en"},
		{"lang=zh-hant", "", "zh-Hant"},
		{"lang=fr", "pt-BR,en;q=0.5", "pt"},
		{"", "zh-TW,zh;q=0.8", "zh-Hant"},
		{"", "zh-CN", "zh-Hans"},
		{"", "fr-FR, es-MX;q=0.9", "es"},
		{"", "en;q=0, ko", "ko"},
		{"", "de", "ja"},
	} {
		r := httptest.NewRequest("GET", "/status?"+c.query, nil)
		r.Header.Set("Accept-Language", c.accept)
		if got := web.Language(r); got != c.want {
			t.Errorf("lang=%q Accept-Language %q: %s, want %s", c.query, c.accept, got, c.want)
		}
	}
}

// TestBrowserHonoursCSP: the style sheet loads under the policy, and an
// inline script is refused by a real browser.
func TestBrowserHonoursCSP(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", web.Assets())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html lang="ja"><head><link rel="stylesheet" href="/assets/style.css"><title>t</title></head>` +
			`<body><h1 id="h">見出し</h1><script>document.title = "script ran"</script></body></html>`))
	})
	srv := httptest.NewServer(web.Secure(mux))
	defer srv.Close()
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	color, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).maxWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if title != "t" {
		t.Errorf("inline script ran under the CSP (title %q)", title)
	}
	if color != "960px" {
		t.Errorf("style sheet not applied: body max-width %q", color)
	}
}
