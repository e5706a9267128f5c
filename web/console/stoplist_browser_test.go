package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lgwan/issuance/internal/browsertest"
	"github.com/lgwan/issuance/registry"
)

// TestStopListInBrowser: a registry clerk signs in, lands on the stop list,
// stops a person with a note (the confirmation names them), and lifts the
// entry with a note; the history shows both notes and who acted.
func TestStopListInBrowser(t *testing.T) {
	o := newOpsWorld(t)
	o.loadResidents()
	person := o.muni[chiyoda].Households[0].Members[0]
	cr := o.account("r01", registry.RoleRegistryClerk, chiyoda)
	ctx := browsertest.New(t)
	do := browserDo(t, ctx)
	text := browserText(t, ctx)
	do("sign in", append(o.browserSignIn(cr), chromedp.WaitVisible("#add-form"))...)

	do("add", chromedp.SetValue("#add-person", person.ID), chromedp.SetValue("#add-note", "不正取得の疑い（本人から電話）"),
		chromedp.Click("#add"), chromedp.WaitVisible("#message"))
	if m := text("#message"); !strings.Contains(m, person.FamilyName+" "+person.GivenName) || !strings.Contains(m, "停止しました") {
		t.Fatalf("after the add: %q", m)
	}
	row := `table.active tr[data-person="` + person.ID + `"]`
	if r := text(row); !strings.Contains(r, "不正取得の疑い") || !strings.Contains(r, "r01") {
		t.Fatalf("active entry: %q", r)
	}
	if st, _ := o.store.Stopped(context.Background(), chiyoda, []string{person.ID}); !st {
		t.Fatal("not stopped")
	}

	do("lift", chromedp.SetValue(row+` textarea[name=note]`, "本人確認が済んだ"), chromedp.Click(row+` button.lift`),
		chromedp.WaitVisible(`table.lifted tr[data-person="`+person.ID+`"]`))
	if m := text("#message"); !strings.Contains(m, "解除しました") {
		t.Fatalf("after the lift: %q", m)
	}
	if h := text(`table.lifted tr[data-person="` + person.ID + `"]`); !strings.Contains(h, "不正取得の疑い") || !strings.Contains(h, "本人確認が済んだ") {
		t.Fatalf("history: %q", h)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.active").length`)); err != nil || n != 0 {
		t.Fatalf("active entries left: %d (%v)", n, err)
	}
	if st, _ := o.store.Stopped(context.Background(), chiyoda, []string{person.ID}); st {
		t.Fatal("still stopped")
	}
}
