package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lgwan/issuance/internal/browsertest"
	"github.com/lgwan/issuance/registry"
)

// TestConsoleInBrowser drives the console in chromium as a koseki clerk
// would: signs in with the password and the authenticator's code, sees the
// queue oldest first, approves one application beside its candidates,
// rejects another with a reason and a note, and is signed out by the idle
// time-out (a decision posted then does nothing).
func TestConsoleInBrowser(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	older := w.file(chiyoda, "1", hanako, t0.Add(-50*time.Hour))
	newer := w.file(chiyoda, "2", stranger, t0.Add(-2*time.Hour))
	third := w.file(chiyoda, "3", stranger, t0.Add(-time.Hour))
	w.file(toyonaka, "4", stranger, t0.Add(-3*time.Hour)) // another municipality's: not listed
	cr := w.account("k01", registry.RoleKosekiClerk, chiyoda)
	ctx := browsertest.New(t)
	base := w.srv.URL

	text := browserText(t, ctx)
	do := browserDo(t, ctx)

	// Sign in: password and the code of the moment.
	do("sign in", append(w.browserSignIn(cr), chromedp.WaitVisible("#queue"))...)
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	if err != nil || lang != "ja" {
		t.Errorf("lang %q (%v)", lang, err)
	}
	maxWidth, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).maxWidth`))
	if err != nil || maxWidth == "none" {
		t.Errorf("style sheet not applied (max-width %q, %v)", maxWidth, err)
	}
	order, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#queue tbody tr")).map(r => r.dataset.number)`))
	if err != nil || strings.Join(order, " ") != strings.Join([]string{older, newer, third}, " ") {
		t.Fatalf("queue %v (%v), want oldest first: %s %s %s", order, err, older, newer, third)
	}
	if q := text("#queue"); !strings.Contains(q, "2 日") || !strings.Contains(q, "千代田区") {
		t.Errorf("queue shows no age or municipality: %q", q)
	}

	// Approve the first: its candidates with what matches.
	do("open the first application", chromedp.Click(`a[href="/console/honseki/`+older+`"]`),
		chromedp.WaitVisible("#candidates"))
	if f := text("#facts"); !strings.Contains(f, "山田 花子") || !strings.Contains(f, "1980-02-03") {
		t.Fatalf("facts: %q", f)
	}
	checks, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('tr[data-member="K1:2"] li')).map(l => l.dataset.fact + "=" + l.dataset.match)`))
	if err != nil || strings.Join(checks, " ") != "name=true birthDate=true sex=true honseki=true headName=true" {
		t.Fatalf("checks of K1:2: %v (%v)", checks, err)
	}
	// 佐藤 健 (K2) shares the birth date only: listed, with the mismatches shown.
	if c := text(`tr[data-member="K2:1"]`); !strings.Contains(c, "✗ 氏名") || !strings.Contains(c, "✓ 生年月日") {
		t.Errorf("K2:1 row: %q", c)
	}
	do("approve", chromedp.Click(`input[name=member][value="K1:2"]`), chromedp.Click("#approve"),
		chromedp.WaitVisible("#message"))
	if s := text("#status"); !strings.Contains(s, "登録済み") {
		t.Fatalf("status after approval: %q", s)
	}
	if d := text("#decisions"); !strings.Contains(d, "k01") || !strings.Contains(d, "K1 第 2") {
		t.Fatalf("decision history: %q", d)
	}

	// Reject the second with a reason and a note.
	do("reject", chromedp.Navigate(base+"/console/honseki/"+newer), chromedp.WaitVisible("#reject-form"),
		chromedp.SetValue("#reason", "NoMatchingRecord"), chromedp.SetValue("#reject-note", "該当なし（電話で確認）"),
		chromedp.Click("#reject"), chromedp.WaitVisible("#message"))
	if s := text("#summary"); !strings.Contains(s, "却下") || !strings.Contains(s, "該当する戸籍がない") || !strings.Contains(s, "電話で確認") {
		t.Fatalf("after rejection: %q", s)
	}
	if w.status(older) != "APPROVED" || w.status(newer) != "REJECTED" {
		t.Fatalf("stored: %s %s", w.status(older), w.status(newer))
	}

	// The queue now holds the undecided one; the filter shows all three.
	rows := func() []string {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll("#queue tbody tr")).map(r => r.dataset.status)`))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	do("queue", chromedp.Navigate(base+"/console/honseki"), chromedp.WaitVisible("#queue"))
	if r := rows(); strings.Join(r, " ") != "RECEIVED" {
		t.Fatalf("open applications: %v", r)
	}
	// Only the filtered page has a decided row: waiting for it waits for the page.
	do("filter", chromedp.Click(`#filters a[href$="status=all"]`), chromedp.WaitVisible(`#queue tr[data-status="APPROVED"]`))
	if r := rows(); strings.Join(r, " ") != "APPROVED REJECTED RECEIVED" {
		t.Fatalf("all applications: %v", r)
	}

	// Idle for 16 minutes: the decision posted then is not taken, and the
	// clerk is asked to sign in again.
	do("open the third", chromedp.Navigate(base+"/console/honseki/"+third), chromedp.WaitVisible("#reject-form"),
		chromedp.SetValue("#reason", "FactsMismatch"))
	w.clock.Advance(16 * time.Minute)
	do("reject after the idle time-out", chromedp.Click("#reject"), chromedp.WaitVisible("#signin"))
	if m := text("#message"); !strings.Contains(m, "セッションが終了しました") {
		t.Errorf("login page message: %q", m)
	}
	if s := w.status(third); s != "RECEIVED" {
		t.Fatalf("a decision posted after the time-out was taken: %s", s)
	}

	// Signed in again, then signed out: the pages are closed.
	do("sign in again", chromedp.SetValue("#username", cr.Username), chromedp.SetValue("#password", cr.Password),
		chromedp.SetValue("#otp", w.otp(cr)), chromedp.Click("#signin"), chromedp.WaitVisible("#queue"),
		chromedp.Click("#logout"), chromedp.WaitVisible("#signin"),
		chromedp.Navigate(base+"/console/honseki"), chromedp.WaitVisible("#signin"))
}

// browserDo runs steps in the tab, failing the test with what.
func browserDo(t *testing.T, ctx context.Context) func(what string, steps ...chromedp.Action[chromedp.Void]) {
	return func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// browserSignIn are the steps signing cr in at the login form, with the
// password and the code of the moment; the caller waits for its page.
func (w *world) browserSignIn(cr registry.Credentials) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{chromedp.Navigate(w.srv.URL + "/console/login"),
		chromedp.SetValue("#username", cr.Username), chromedp.SetValue("#password", cr.Password),
		chromedp.SetValue("#otp", w.otp(cr)), chromedp.Click("#signin")}
}

// browserText reads the text of the element sel in the tab.
func browserText(t *testing.T, ctx context.Context) func(sel string) string {
	return func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
}
