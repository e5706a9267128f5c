package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lgwan/issuance/internal/browsertest"
	"github.com/lgwan/issuance/registry"
)

// TestStatsInBrowser: a registry clerk signs in, opens the statistics of
// the month from the menu, sees the chart drawn (its bars coloured under the page's
// Content-Security-Policy) and the table, switches to monthly figures with
// the form, and finds the CSV links.
func TestStatsInBrowser(t *testing.T) {
	w := statsWorld(t)
	cr := w.account("reg01", registry.RoleRegistryClerk, chiyoda)
	ctx := browsertest.New(t)
	do := browserDo(t, ctx)
	eval := func(js string) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}

	do("sign in", append(w.browserSignIn(cr), chromedp.WaitVisible("#signed-in-as"), chromedp.Click(`nav a[href="/console/stats"]`),
		chromedp.WaitVisible("#stats-chart"))...)

	// December 2026 (the test clock's month) by day: 31 places, the first
	// two with bars, issued in the accent colour and drawn with a height.
	if n := eval(`[String(document.querySelectorAll("#stats-chart g.bar").length)]`); n[0] != "31" {
		t.Errorf("%s bars, want 31 days", n[0])
	}
	bars := eval(`Array.from(document.querySelectorAll("#stats-chart g.bar")).filter(g => g.querySelector("rect")).map(g =>
		g.dataset.period + ":" + Array.from(g.querySelectorAll("rect")).map(r =>
			r.getAttribute("class") + "=" + getComputedStyle(r).fill + "/" + (r.getBBox().height > 10)).join(","))`)
	want := "2026-12-01:issued=rgb(11, 87, 164)/true,voided=rgb(163, 0, 0)/true " +
		"2026-12-02:issued=rgb(11, 87, 164)/true,unconfirmed=rgb(179, 89, 0)/true"
	if strings.Join(bars, " ") != want {
		t.Errorf("bars %q\nwant %q", bars, want)
	}
	if wd := eval(`[String(document.querySelector("#stats-chart").getBoundingClientRect().width > 400)]`); wd[0] != "true" {
		t.Errorf("chart not drawn at page width")
	}
	rows := eval(`Array.from(document.querySelectorAll("#stats tbody tr")).map(r => r.dataset.period + " " + r.dataset.type + " " + r.dataset.operator)`)
	if strings.Join(rows, "|") != `2026-12-01 JUMINHYO SEJ|2026-12-02 INKAN =HYPERLINK("x")|2026-12-02 JUMINHYO LAW` {
		t.Errorf("table rows %q", rows)
	}
	total, err := chromedp.Run(ctx, chromedp.Text("#stats-total"))
	if err != nil || !strings.Contains(total, "700") {
		t.Errorf("total row %q (%v)", total, err)
	}
	if a := eval(`[getComputedStyle(document.querySelector("#stats td.num")).textAlign]`); a[0] != "right" {
		t.Errorf("figures aligned %s: style sheet not applied", a[0])
	}

	// Monthly, through the form: one bar, one row per type and operator.
	do("by month", chromedp.SetValue("#by", "month"), chromedp.Click("#show"),
		chromedp.WaitVisible(`#stats-chart g.bar[data-period="2026-12"]`))
	if n := eval(`[String(document.querySelectorAll("#stats-chart g.bar").length), document.querySelector("#stats-chart g.bar").dataset.issued]`); strings.Join(n, " ") != "1 2" {
		t.Errorf("by month: bars and issued %v", n)
	}
	links := eval(`Array.from(document.querySelectorAll("#csv, #csv-plain")).map(a => new URL(a.href).pathname + new URL(a.href).search)`)
	if strings.Join(links, " ") != "/console/stats.csv?by=month&month=2026-12 /console/stats.csv?by=month&month=2026-12&bom=0" {
		t.Errorf("CSV links %q", links)
	}
}
