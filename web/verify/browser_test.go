package verify_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lgwan/issuance/internal/browsertest"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/verify"
)

// TestBrowserUpload: in a real browser, in Japanese and in English, a
// relying party chooses a scan in the form and submits it: a genuine back
// shows the recovered front (the inline image loads under the CSP) beside
// the verified facts; the scan of a front says why not, in that language.
func TestBrowserUpload(t *testing.T) {
	s := newSite(t, verify.Options{})
	mux := http.NewServeMux()
	mux.Handle(verify.Path, s.handler)
	mux.Handle("GET /assets/", web.Assets())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	back, front := filepath.Join(dir, "back.png"), filepath.Join(dir, "front.png")
	os.WriteFile(back, fix.good.backPNG, 0o600)
	os.WriteFile(front, fix.good.frontPNG, 0o600)
	ctx := browsertest.New(t)

	for _, lang := range []string{"ja", "en"} {
		submit := func(file string) {
			t.Helper()
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/verify?lang="+lang),
				chromedp.SetUploadFiles(`#scan`, []string{file}),
				chromedp.Click(`button[type=submit]`),
				chromedp.WaitVisible(`#result`)); err != nil {
				t.Fatalf("%s: upload %s: %v", lang, filepath.Base(file), err)
			}
		}
		text := func(sel string) string {
			t.Helper()
			got, err := chromedp.Run(ctx, chromedp.Text(sel))
			if err != nil {
				t.Fatalf("%s %s: %v", lang, sel, err)
			}
			return strings.TrimSpace(got)
		}

		submit(back)
		for sel, want := range map[string]string{
			"#result-title":            verify.Message(lang, "result.valid.title"),
			".document-id":             fix.good.doc.ID,
			".type":                    verify.Message(lang, "type.JUMINHYO"),
			".issued-on":               "2025-11-21",
			`.fact[data-key="氏名"]`:     "山田　太郎",
			`label[for="scan"]`:        verify.Message(lang, "field.scan"),
			"nav.langs [aria-current]": verify.Message(lang, "lang.name"),
		} {
			if got := text(sel); got != want {
				t.Errorf("%s %s: %q, want %q", lang, sel, got, want)
			}
		}
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const i = document.getElementById('front');
			return i.complete && i.naturalWidth > 1000 && i.naturalHeight > i.naturalWidth; })()`))
		if err != nil || !loaded {
			t.Errorf("%s: the recovered front is not shown (%v)", lang, err)
		}

		submit(front)
		if got := text(".reason"); got != verify.Message(lang, "reason.noBackSide") {
			t.Errorf("%s: reason %q", lang, got)
		}
		if got := text("#result-title"); got != verify.Message(lang, "result.invalid.title") {
			t.Errorf("%s: title %q", lang, got)
		}
	}
}
