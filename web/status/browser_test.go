package status_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lgwan/issuance/internal/browsertest"
	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/status"
)

// serve mounts the page and the style sheet as the server does.
func (f *fixture) serveHTTP(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(status.Path, f.handler)
	mux.Handle("GET /assets/", web.Assets())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// lowContrast lists the visible text whose colour against its background is
// under WCAG 2 AA (4.5:1, 3:1 for large text).
const lowContrast = `(() => {
	const lum = c => {
		const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map(v => {
			v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
		return 0.2126 * r + 0.7152 * g + 0.0722 * b;
	};
	const bg = el => {
		for (let e = el; e; e = e.parentElement) {
			const c = getComputedStyle(e).backgroundColor, m = c.match(/[\d.]+/g).map(Number);
			if (m.length < 4 || m[3] > 0) return c;
		}
		return 'rgb(255, 255, 255)';
	};
	const bad = [];
	for (const el of document.querySelectorAll('body, body *')) {
		if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
		if (el.getClientRects().length === 0) continue;
		const s = getComputedStyle(el), size = parseFloat(s.fontSize);
		const a = lum(s.color), b = lum(bg(el));
		const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
		const large = size >= 24 || (size >= 18.66 && parseInt(s.fontWeight) >= 700);
		if (ratio < (large ? 3 : 4.5)) bad.push(el.tagName + ' ' + ratio.toFixed(2) + ': ' + el.textContent.trim().slice(0, 40));
	}
	return bad;
})()`

// unlabelled lists the form controls without exactly one non-empty label.
const unlabelled = `[...document.querySelectorAll('input, select, textarea')]
	.filter(i => i.type !== 'hidden' && !(i.labels.length === 1 && i.labels[0].textContent.trim() !== ''))
	.map(i => i.name)`

// TestBrowserSevenLanguages: in each language a real browser shows the form
// with labelled fields and the language marked, and submitting it shows the
// status, the decision date and the rejection reason in that language;
// the keyboard reaches the parts in a logical order; the colours pass AA;
// the page runs no script.
func TestBrowserSevenLanguages(t *testing.T) {
	f := newFixture(t)
	base := f.serveHTTP(t)
	ctx := browsertest.New(t)

	for i, lang := range web.Languages {
		reason := issuance.RejectReasons[i%len(issuance.RejectReasons)]
		rejected := f.file(t)
		f.reject(t, rejected.Number, reason)
		other := f.file(t)
		otherStatus := "RECEIVED"
		if i%2 == 0 {
			f.approve(t, other.Number)
			otherStatus = "APPROVED"
		}

		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/status?lang="+lang)); err != nil {
			t.Fatal(err)
		}
		checkPage(t, ctx, lang, "form")
		missing, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](unlabelled))
		if err != nil || len(missing) > 0 {
			t.Errorf("%s: fields without a label: %v %v", lang, missing, err)
		}
		label, err := chromedp.Run(ctx, chromedp.Text(`label[for="birthDate"]`))
		if err != nil || label != status.Message(lang, "field.birthDate") {
			t.Errorf("%s: birth date label %q, %v", lang, label, err)
		}

		// Rejected: the status, the date of the decision, the reason.
		submit(t, ctx, issuance.FormatApplicationNumber(rejected.Number), facts.BirthDate)
		checkPage(t, ctx, lang, "rejected answer")
		for sel, want := range map[string]string{
			".status-label":   status.Message(lang, "status.REJECTED"),
			".decided-at":     decidedIn[lang],
			".reason":         status.Message(lang, "reason."+string(reason)),
			"#result-title":   status.Message(lang, "result.title"),
			"#result dl dt":   status.Message(lang, "result.number"),
			"#result .number": issuance.FormatApplicationNumber(rejected.Number),
		} {
			if want == "" {
				continue
			}
			got, err := chromedp.Run(ctx, chromedp.Text(sel))
			if err != nil || strings.TrimSpace(got) != want {
				t.Errorf("%s %s: %q, %v; want %q", lang, sel, got, err, want)
			}
		}
		if got := attr(t, ctx, "[data-status]", "data-status"); got != "REJECTED" {
			t.Errorf("%s: data-status %q, want REJECTED", lang, got)
		}
		if got := attr(t, ctx, ".reason", "data-reason"); got != string(reason) {
			t.Errorf("%s: data-reason %q, want %s", lang, got, reason)
		}

		// Another application from the form again: approved or under review.
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/status?lang="+lang)); err != nil {
			t.Fatal(err)
		}
		submit(t, ctx, other.Number, facts.BirthDate)
		if got := attr(t, ctx, "[data-status]", "data-status"); got != otherStatus {
			t.Errorf("%s: data-status %q, want %s", lang, got, otherStatus)
		}
		sel, want := ".decided-at", decidedIn[lang]
		if otherStatus == "RECEIVED" {
			sel, want = ".expected-by", expectedIn[lang]
		}
		if got, err := chromedp.Run(ctx, chromedp.Text(sel)); err != nil || got != want {
			t.Errorf("%s %s: %s %q, %v; want %q", lang, otherStatus, sel, got, err, want)
		}
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.reason').length`)); err != nil || n != 0 {
			t.Errorf("%s %s: a reason is shown (%d, %v)", lang, otherStatus, n, err)
		}

		// A wrong birth date: UNKNOWN, the form again, the number kept.
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/status?lang="+lang)); err != nil {
			t.Fatal(err)
		}
		submit(t, ctx, other.Number, "1985-06-08")
		checkPage(t, ctx, lang, "unknown answer")
		if got := attr(t, ctx, "[data-status]", "data-status"); got != "UNKNOWN" {
			t.Errorf("%s: wrong birth date gives data-status %q", lang, got)
		}
		if v, err := chromedp.Run(ctx, chromedp.Value("#applicationNumber")); err != nil || v != other.Number {
			t.Errorf("%s: the typed number is not kept: %q %v", lang, v, err)
		}
	}

	// The keyboard: skip link, the languages, the two fields, the button.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/status?lang=en")); err != nil {
		t.Fatal(err)
	}
	var order []string
	for range 20 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		el, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`(e => e.id || e.getAttribute('hreflang') || e.className || e.tagName)(document.activeElement)`))
		if err != nil {
			t.Fatal(err)
		}
		if len(order) == 0 || order[len(order)-1] != el { // a date input takes one Tab per part
			order = append(order, el)
		}
		if el == "BUTTON" {
			break
		}
	}
	want := append(append([]string{"skip"}, web.Languages...), "applicationNumber", "birthDate", "BUTTON")
	if !slices.Equal(order, want) {
		t.Errorf("focus order %v, want %v", order, want)
	}
}

// submit types the number as a person does, sets the date (as the date
// picker would) and sends the form; it returns once the answer is shown.
func submit(t *testing.T, ctx context.Context, number, birth string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys("#applicationNumber", number),
		chromedp.SetValue("#birthDate", birth),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible("[data-status]"),
	); err != nil {
		t.Fatalf("submit the form: %v", err)
	}
}

// checkPage: the page is marked in lang, its style sheet applied (under the
// CSP), its colours pass AA, and it has no script.
func checkPage(t *testing.T, ctx context.Context, lang, what string) {
	t.Helper()
	if got := attr(t, ctx, "html", "lang"); got != lang {
		t.Errorf("%s %s: <html lang=%q>", lang, what, got)
	}
	styled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).maxWidth`))
	if err != nil || styled != "960px" {
		t.Errorf("%s %s: style sheet not applied (%q, %v)", lang, what, styled, err)
	}
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](lowContrast))
	if err != nil || len(bad) > 0 {
		t.Errorf("%s %s: text under AA contrast: %v %v", lang, what, bad, err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`)); err != nil || n != 0 {
		t.Errorf("%s %s: %d scripts (%v)", lang, what, n, err)
	}
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(sel, name))
	if err != nil {
		t.Fatalf("%s[%s]: %v", sel, name, err)
	}
	return v.Value
}

// TestBrowserPhoneWidth: on a phone (375×667, the viewport meta honoured)
// the form, an error summary and the longest answers fit the width in every
// language: nothing scrolls sideways, every field and button is on screen.
func TestBrowserPhoneWidth(t *testing.T) {
	f := newFixture(t)
	base := f.serveHTTP(t)
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile, chromedp.EmulatePortrait, chromedp.EmulateTouch)); err != nil {
		t.Fatal(err)
	}
	rejected := f.file(t)
	f.reject(t, rejected.Number, issuance.RejectHeadMismatch)
	received := f.file(t)

	const fits = `(() => {
		const w = window.innerWidth, out = [];
		if (document.documentElement.scrollWidth > w) out.push('page ' + document.documentElement.scrollWidth + ' > ' + w);
		for (const el of document.querySelectorAll('input, button, label, a, dd, dt, p, h1, h2, li')) {
			const r = el.getBoundingClientRect();
			if (r.width > 0 && (r.left < 0 && !el.classList.contains('skip') || r.right > w + 0.5)) out.push(el.tagName + '#' + el.id + ' ' + r.left + '..' + r.right);
		}
		return out;
	})()`
	check := func(lang, what string) {
		t.Helper()
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
		if err != nil || w != 375 {
			t.Fatalf("%s %s: layout width %d (%v): the viewport meta is not honoured", lang, what, w, err)
		}
		over, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fits))
		if err != nil || len(over) > 0 {
			t.Errorf("%s %s: wider than the phone: %v %v", lang, what, over, err)
		}
		size, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`parseFloat(getComputedStyle(document.querySelector('main p, main dd')).fontSize)`))
		if err != nil || size < 16 {
			t.Errorf("%s %s: body text %vpx (%v), want at least 16px", lang, what, size, err)
		}
	}
	for _, lang := range web.Languages {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/status?lang="+lang)); err != nil {
			t.Fatal(err)
		}
		check(lang, "form")
		submit(t, ctx, issuance.FormatApplicationNumber(rejected.Number), facts.BirthDate)
		check(lang, "rejected answer")

		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/status?lang="+lang)); err != nil {
			t.Fatal(err)
		}
		submit(t, ctx, received.Number, facts.BirthDate)
		check(lang, "received answer")

		// The error summary, as a browser without form validation sends
		// the empty form.
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/status?lang="+lang)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('form').noValidate = true`)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx,
			chromedp.Click(`button[type="submit"]`),
			chromedp.WaitVisible(".error-summary"),
		); err != nil {
			t.Fatal(err)
		}
		check(lang, "error summary")
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.error-summary a[href="#applicationNumber"], .error-summary a[href="#birthDate"]').length`)); err != nil || n != 2 {
			t.Errorf("%s: the summary links %d fields (%v), want 2", lang, n, err)
		}
		focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className`))
		if err != nil || focused != "error-summary" {
			t.Errorf("%s: focus on %q (%v), want the error summary", lang, focused, err)
		}
	}
}
