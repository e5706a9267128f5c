package console_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lgwan/issuance/internal/browsertest"
	"github.com/lgwan/issuance/registry"
)

// TestIssuanceLogInBrowser: a registry clerk signs in, searches the log by
// date range and status through the form, sees the rows with names, follows
// the menu to the recall, lists a version's certificates, and each view of
// names is in the access log.
func TestIssuanceLogInBrowser(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	l := newLedger(w)
	cr := w.account("reg01", registry.RoleRegistryClerk, chiyoda)
	ctx := browsertest.New(t)
	do := browserDo(t, ctx)
	rows := func(table string) []string {
		t.Helper()
		ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll("#`+table+` tbody tr")).map(r => r.dataset.id)`))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, id := range ids {
			for name, x := range l.ids {
				if x == id {
					out = append(out, name)
				}
			}
		}
		return out
	}

	do("sign in", append(w.browserSignIn(cr), chromedp.WaitVisible("#signed-in-as"),
		chromedp.Click(`nav a[href="/console/issuances"]`), chromedp.WaitVisible("#search"))...)
	// The first view is today's log.
	do("today", chromedp.WaitVisible("#issuances"))
	if got := rows("issuances"); !slices.Equal(got, []string{"c3", "c2", "c1"}) {
		t.Fatalf("today: %v", got)
	}
	// Search: from yesterday, issued only.
	do("search", chromedp.SetValue("#from", "2026-11-30"), chromedp.SetValue("#status", "ISSUED"),
		chromedp.Click("#search-button"), chromedp.WaitVisible(`#issuances tr[data-id="`+l.ids["c4"]+`"]`))
	if got := rows("issuances"); !slices.Equal(got, []string{"c1", "c4"}) {
		t.Fatalf("issued since yesterday: %v", got)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#issuances"))
	if err != nil || !strings.Contains(text, "山田 太郎") || !strings.Contains(text, "佐藤 花子") || !strings.Contains(text, "交付済み") {
		t.Fatalf("rows: %q (%v)", text, err)
	}
	status, err := chromedp.Run(ctx, chromedp.Value("#status"))
	if err != nil || status != "ISSUED" {
		t.Errorf("the form forgot the status: %q (%v)", status, err)
	}

	// The recall of resident version 3.
	do("recall", chromedp.Click(`nav a[href="/console/recall"]`), chromedp.WaitVisible("#recall-form"),
		chromedp.SetValue("#domain", "resident"), chromedp.SetValue("#version", "3"),
		chromedp.Click("#recall-button"), chromedp.WaitVisible("#recall"))
	if got := rows("recall"); !slices.Equal(got, []string{"c4", "c1"}) {
		t.Fatalf("recall: %v", got)
	}
	logged := w.accessLog("reg01")
	var pages []string
	for _, r := range logged {
		pages = append(pages, r.Page)
	}
	if !slices.Equal(pages, []string{"recall", "issuances", "issuances"}) {
		t.Fatalf("access log pages %v", pages)
	}
}
