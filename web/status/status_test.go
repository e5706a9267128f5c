package status_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/status"
)

// TestUnknownAnswersAlike: an unknown number, a malformed one (a typo the
// check digit catches), a wrong birth date and a birth date for nobody
// give the same page, byte for byte once the typed number is taken out,
// with the same status and headers, in every language.
func TestUnknownAnswersAlike(t *testing.T) {
	f := newFixture(t)
	a := f.file(t)
	f.reject(t, a.Number, issuance.RejectFactsMismatch)
	unknown := issuance.NewApplicationNumber()
	typo := []byte(a.Number)
	typo[3] = '0' + (typo[3]-'0'+1)%10
	if _, err := issuance.ParseApplicationNumber(string(typo)); err == nil {
		t.Fatal("the Damm digit missed a one-digit typo")
	}
	cases := []struct{ name, number, birth string }{
		{"unknown number", unknown, facts.BirthDate},
		{"unknown number, formatted", issuance.FormatApplicationNumber(unknown), facts.BirthDate},
		{"malformed number", string(typo), facts.BirthDate},
		{"too short", "1234-5678", facts.BirthDate},
		{"not digits", "ABCD-EFGH-IJKL", facts.BirthDate},
		{"wrong birth date", a.Number, "1985-06-08"},
		{"wrong birth date, formatted", issuance.FormatApplicationNumber(a.Number), "1985/6/8"},
	}
	for _, lang := range web.Languages {
		var first string
		var firstHeader http.Header
		for i, c := range cases {
			res, body := f.post(t, lang, fmt.Sprintf("192.0.2.%d", i+1), c.number, c.birth)
			if res.StatusCode != http.StatusOK || dataStatus(t, body) != "UNKNOWN" {
				t.Fatalf("%s %s: %d, data-status %q", lang, c.name, res.StatusCode, dataStatus(t, body))
			}
			typed := `value="` + html.EscapeString(c.number) + `"`
			if !strings.Contains(body, typed) {
				t.Fatalf("%s %s: the typed number is not shown back", lang, c.name)
			}
			body = strings.Replace(body, typed, `value=""`, 1)
			if strings.Contains(body, c.birth) || strings.Contains(body, facts.BirthDate) {
				t.Errorf("%s %s: a birth date is on the page", lang, c.name)
			}
			res.Header.Del("Date")
			if i == 0 {
				first, firstHeader = body, res.Header
				if !strings.Contains(body, status.Message(lang, "status.UNKNOWN.help")) {
					t.Errorf("%s: the unknown answer is not explained", lang)
				}
				continue
			}
			if body != first {
				t.Errorf("%s: %s answers differently from %s:\n%s\n----\n%s", lang, c.name, cases[0].name, body, first)
			}
			if fmt.Sprint(res.Header) != fmt.Sprint(firstHeader) {
				t.Errorf("%s: %s headers %v, %s %v", lang, c.name, res.Header, cases[0].name, firstHeader)
			}
		}
	}
}

// TestAnswers: every state in every language, with its dates and, when
// rejected, each reason translated; nothing of the application's facts,
// its certificate, its member, the clerk or the note.
func TestAnswers(t *testing.T) {
	f := newFixture(t)
	received := f.file(t)
	approved := f.file(t)
	f.approve(t, approved.Number)
	withdrawn := f.file(t)
	f.withdraw(t, withdrawn.Number)
	rejected := map[issuance.RejectReason]issuance.Application{}
	for _, r := range issuance.RejectReasons {
		a := f.file(t)
		f.reject(t, a.Number, r)
		rejected[r] = a
	}
	type want struct {
		a        issuance.Application
		status   string
		reason   issuance.RejectReason
		expected bool // the expected date is shown while RECEIVED
		decided  bool
	}
	cases := []want{{received, "RECEIVED", "", true, false}, {approved, "APPROVED", "", false, true},
		{withdrawn, "WITHDRAWN", "", false, true}}
	for _, r := range issuance.RejectReasons {
		cases = append(cases, want{rejected[r], "REJECTED", r, false, true})
	}
	secrets := []string{facts.Name, facts.Address, facts.BirthDate, facts.HonsekiAddress, facts.HeadName, "葛城", "花子", "豊中",
		"1985", "clerk-ito", "内部メモ", "K1"}
	for _, lang := range web.Languages {
		for i, c := range cases {
			// Typed as a person copies it from a receipt: full width, hyphens.
			typed := strings.Map(func(r rune) rune { return r - '0' + '０' }, c.a.Number[:4]) + "-" + c.a.Number[4:]
			res, body := f.post(t, lang, fmt.Sprintf("198.51.100.%d", i), typed, "1985年6月7日")
			checkSecure(t, res)
			if res.StatusCode != http.StatusOK || dataStatus(t, body) != c.status {
				t.Fatalf("%s %s: %d, data-status %q", lang, c.status, res.StatusCode, dataStatus(t, body))
			}
			if !strings.Contains(body, `<html lang="`+lang+`">`) || res.Header.Get("Content-Language") != lang {
				t.Errorf("%s %s: page not marked as %s", lang, c.status, lang)
			}
			for _, m := range []string{"status." + c.status, "status." + c.status + ".help"} {
				if !strings.Contains(body, html.EscapeString(status.Message(lang, m))) {
					t.Errorf("%s %s: %s not shown", lang, c.status, m)
				}
			}
			if !strings.Contains(body, issuance.FormatApplicationNumber(c.a.Number)) {
				t.Errorf("%s %s: the number is not shown", lang, c.status)
			}
			if !strings.Contains(body, `datetime="2026-01-05">`) {
				t.Errorf("%s %s: no received date", lang, c.status)
			}
			if got := strings.Contains(body, `datetime="2026-01-19">`+expectedIn[lang]+`<`); got != c.expected {
				t.Errorf("%s %s: expected date %q shown %v, want %v", lang, c.status, expectedIn[lang], got, c.expected)
			}
			if got := strings.Contains(body, `datetime="2026-01-15">`+decidedIn[lang]+`<`); got != c.decided {
				t.Errorf("%s %s: decision date %q shown %v, want %v", lang, c.status, decidedIn[lang], got, c.decided)
			}
			for _, r := range issuance.RejectReasons {
				shown := strings.Contains(body, `data-reason="`+string(r)+`">`+html.EscapeString(status.Message(lang, "reason."+string(r)))+`<`)
				if shown != (r == c.reason) {
					t.Errorf("%s %s: reason %s shown %v", lang, c.status, r, shown)
				}
			}
			for _, s := range append(secrets, c.a.Cert.Serial, c.a.Cert.IssuerKeyID) {
				if strings.Contains(body, s) {
					t.Errorf("%s %s: %q is on the page", lang, c.status, s)
				}
			}
			if strings.Contains(body, "<script") {
				t.Errorf("%s: the page has a script", lang)
			}
		}
	}
}

// TestFormAndErrors: the form in the language asked for; a form missing its
// fields, or with a birth date that is no day, is answered with an error
// summary linking to each field, the fields marked; a request the page
// cannot read gets a clear status; nothing is looked up for any of them.
func TestFormAndErrors(t *testing.T) {
	f := newFixture(t)
	// GET: language by ?lang=, else Accept-Language, else Japanese.
	for _, c := range []struct{ target, accept, lang string }{
		{"/status", "", "ja"}, {"/status?lang=zh-Hant", "ko", "zh-Hant"}, {"/status", "pt-BR,en;q=0.5", "pt"},
	} {
		req, body := f.get(t, c.target, c.accept)
		checkSecure(t, req)
		if req.StatusCode != 200 || !strings.Contains(body, `<html lang="`+c.lang+`">`) ||
			!strings.Contains(body, `action="/status?lang=`+c.lang+`"`) || dataStatus(t, body) != "" {
			t.Errorf("GET %s (Accept-Language %q): %d, want the form in %s", c.target, c.accept, req.StatusCode, c.lang)
		}
		for _, l := range web.Languages {
			if !strings.Contains(body, `<a href="/status?lang=`+l+`" lang="`+l+`" hreflang="`+l+`"`) {
				t.Errorf("no link to the page in %s", l)
			}
		}
		for _, id := range []string{"applicationNumber", "birthDate"} {
			if !strings.Contains(body, `<label for="`+id+`">`) || !strings.Contains(body, `id="`+id+`" name="`+id+`"`) {
				t.Errorf("field %s has no label tied to it", id)
			}
		}
	}

	before := countWindows(t, f)
	for _, c := range []struct {
		name, body string
		fields     []string // fields the summary must link to
		message    string   // a message (en) the page must show
	}{
		{"empty", "applicationNumber=&birthDate=", []string{"applicationNumber", "birthDate"}, "error.birthDate.missing"},
		{"no fields", "", []string{"applicationNumber", "birthDate"}, "error.applicationNumber.missing"},
		{"no such day", "applicationNumber=1234&birthDate=1985-02-30", []string{"birthDate"}, "error.birthDate.format"},
		{"future", "applicationNumber=1234&birthDate=2026-01-21", []string{"birthDate"}, "error.birthDate.format"},
		{"repeated", "applicationNumber=1&applicationNumber=2&birthDate=1985-06-07", []string{"applicationNumber"}, ""},
		{"unknown field", "applicationNumber=1&birthDate=1985-06-07&name=x", nil, ""},
	} {
		res, body := f.do(t, "POST", "/status?lang=en", "203.0.113.9", c.body)
		if res.StatusCode != http.StatusBadRequest || dataStatus(t, body) != "" {
			t.Errorf("%s: %d, data-status %q; want 400 and no answer", c.name, res.StatusCode, dataStatus(t, body))
		}
		if !strings.Contains(body, `class="error-summary" role="alert"`) || !strings.Contains(body, "<title>Error: ") {
			t.Errorf("%s: no error summary", c.name)
		}
		for _, fld := range c.fields {
			if !strings.Contains(body, `<a href="#`+fld+`">`) || !strings.Contains(body, `aria-describedby="`+fld+`-hint `+fld+`-error" aria-invalid="true"`) {
				t.Errorf("%s: %s not linked from the summary or not marked invalid", c.name, fld)
			}
		}
		if c.message != "" && !strings.Contains(body, html.EscapeString(status.Message("en", c.message))) {
			t.Errorf("%s: %s not shown", c.name, c.message)
		}
		if c.name == "unknown field" && !strings.Contains(body, "this form does not have was sent: name") {
			t.Errorf("unknown field: the field is not named:\n%s", body)
		}
		if c.name == "repeated" && !strings.Contains(body, "more than once: applicationNumber") {
			t.Errorf("repeated field: the field is not named")
		}
	}
	// Each POST above counted against the address, none against a number.
	if got := countWindows(t, f) - before; got != 1 {
		t.Errorf("%d rate windows written, want 1 (the address)", got)
	}

	for _, c := range []struct {
		name, method, target, ctype, body string
		status                            int
	}{
		{"json", "POST", "/status", "application/json", `{"applicationNumber":"1"}`, http.StatusUnsupportedMediaType},
		{"too large", "POST", "/status", "application/x-www-form-urlencoded", "birthDate=" + strings.Repeat("9", 5000), http.StatusRequestEntityTooLarge},
		{"bad encoding", "POST", "/status", "application/x-www-form-urlencoded", "applicationNumber=%zz", http.StatusBadRequest},
		{"method", "PUT", "/status", "", "", http.StatusMethodNotAllowed},
		{"query", "GET", "/status?lang=en&number=1", "", "", http.StatusBadRequest},
		{"path", "GET", "/status/x", "", "", http.StatusNotFound},
	} {
		req := newRequest(c.method, c.target, c.body)
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		res, body := f.serve(req)
		if res.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.status)
		}
		if dataStatus(t, body) != "" {
			t.Errorf("%s: an answer on an error page", c.name)
		}
		if c.name == "query" && !strings.Contains(body, "number") {
			t.Errorf("query: the unexpected parameter is not named")
		}
	}
}

// TestTooManyTries: past the limit per address, and per number from any
// address, the page answers 429 with Retry-After (the rest of the window),
// the same for a known and an unknown number; the next window admits again.
func TestTooManyTries(t *testing.T) {
	perAddr := status.Limit{Tries: 3, Window: 10 * time.Minute}
	perNum := status.Limit{Tries: 2, Window: 15 * time.Minute}
	f := newFixture(t, perAddr, perNum)
	a := f.file(t)
	// 10:00:00 is a window boundary for both: 600 s and 900 s remain.

	// Per address: three tries, each of another number, then 429.
	for i := range 3 {
		if res, _ := f.post(t, "es", "192.0.2.1", issuance.NewApplicationNumber(), facts.BirthDate); res.StatusCode != 200 {
			t.Fatalf("try %d: %d", i+1, res.StatusCode)
		}
	}
	f.clock.Advance(90 * time.Second)
	res, body := f.post(t, "es", "192.0.2.1", a.Number, facts.BirthDate)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "510" {
		t.Fatalf("4th try from one address: %d, Retry-After %q; want 429, 510", res.StatusCode, res.Header.Get("Retry-After"))
	}
	checkSecure(t, res)
	if !strings.Contains(body, `<html lang="es">`) || !strings.Contains(body, status.Message("es", "tooMany.title")) ||
		!strings.Contains(body, "unos 9 minutos") || dataStatus(t, body) != "" {
		t.Errorf("the 429 page does not say, in Spanish, when to try again:\n%s", body)
	}
	// Another address is not limited.
	if res, body := f.post(t, "es", "192.0.2.2", a.Number, facts.BirthDate); res.StatusCode != 200 || dataStatus(t, body) != "RECEIVED" {
		t.Fatalf("another address: %d %q", res.StatusCode, dataStatus(t, body))
	}

	// Per number, from fresh addresses: the known number has had one try
	// (192.0.2.2), the unknown none; wrong birth dates count the same.
	unknown := issuance.NewApplicationNumber()
	fresh := 0
	for _, n := range []string{a.Number, unknown} {
		var codes []int
		for range 3 {
			fresh++
			res, _ := f.post(t, "en", fmt.Sprintf("198.51.100.%d", fresh), n, "1990-01-01")
			codes = append(codes, res.StatusCode)
			if res.StatusCode == 429 && res.Header.Get("Retry-After") != "810" {
				t.Errorf("Retry-After %q, want 810", res.Header.Get("Retry-After"))
			}
		}
		want := []int{200, 200, 429}
		if n == a.Number {
			want = []int{200, 429, 429}
		}
		if fmt.Sprint(codes) != fmt.Sprint(want) {
			t.Errorf("number %s...: %v, want %v", n[:4], codes, want)
		}
	}
	// The right birth date does not get past the limit either.
	if res, _ := f.post(t, "en", "198.51.100.200", a.Number, facts.BirthDate); res.StatusCode != 429 {
		t.Errorf("right birth date over the number's limit: %d", res.StatusCode)
	}
	// A malformed number is limited by what was typed.
	for i, want := range []int{200, 200, 429} {
		if res, _ := f.post(t, "en", fmt.Sprintf("203.0.113.%d", i), "1234-5678-9999", facts.BirthDate); res.StatusCode != want {
			t.Errorf("malformed number, try %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}

	// The next windows admit again.
	f.clock.Advance(15 * time.Minute)
	if res, body := f.post(t, "en", "192.0.2.1", a.Number, facts.BirthDate); res.StatusCode != 200 || dataStatus(t, body) != "RECEIVED" {
		t.Errorf("next window: %d %q", res.StatusCode, dataStatus(t, body))
	}
}

// TestTriesCountedAcrossRequests: concurrent checks of one number (as from
// several nodes and addresses) are admitted exactly up to the limit.
func TestTriesCountedAcrossRequests(t *testing.T) {
	f := newFixture(t, status.Limit{Tries: 1000, Window: time.Hour}, status.Limit{Tries: 5, Window: 15 * time.Minute})
	a := f.file(t)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := f.post(t, "ja", "192.0.2."+strconv.Itoa(i), a.Number, facts.BirthDate)
			mu.Lock()
			codes[res.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[200] != 5 || codes[429] != 15 {
		t.Errorf("answers %v, want 5 × 200 and 15 × 429", codes)
	}
}

// TestNewRefusesBadOptions: no store, limiter or clock, or a limit of no
// tries, is refused when the page is built.
func TestNewRefusesBadOptions(t *testing.T) {
	f := newFixture(t)
	ok := status.Options{Store: f.store, Limiter: f.limiter, Clock: f.clock, Municipalities: served}
	if _, err := status.New(ok); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]status.Options{
		"no store":          {Limiter: f.limiter, Clock: f.clock, Municipalities: served},
		"no limiter":        {Store: f.store, Clock: f.clock, Municipalities: served},
		"no clock":          {Store: f.store, Limiter: f.limiter, Municipalities: served},
		"no municipalities": {Store: f.store, Limiter: f.limiter, Clock: f.clock},
		"no tries":          {Store: f.store, Limiter: f.limiter, Clock: f.clock, Municipalities: served, PerNumber: status.Limit{Window: time.Minute}},
		"no window":         {Store: f.store, Limiter: f.limiter, Clock: f.clock, Municipalities: served, PerAddress: status.Limit{Tries: 3}},
	} {
		if _, err := status.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDatabaseDown: when the store or the limiter cannot answer, the page
// says so (503, in the visitor's language) and answers nothing: no check
// goes unlimited, no failure looks like UNKNOWN.
func TestDatabaseDown(t *testing.T) {
	f := newFixture(t)
	a := f.file(t)
	down, err := pgxpool.New(context.Background(), f.db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	key, _ := registry.NewMyNumberKey(bytes.Repeat([]byte{7}, 32))
	for name, o := range map[string]status.Options{
		"store":   {Store: registry.NewStore(down, registry.WithMyNumberKey(key)), Limiter: f.limiter, Clock: f.clock, Municipalities: served},
		"limiter": {Store: f.store, Limiter: registry.NewRateLimiter(down), Clock: f.clock, Municipalities: served},
	} {
		h, err := status.New(o)
		if err != nil {
			t.Fatal(err)
		}
		f.handler = h
		res, body := f.post(t, "pt", "192.0.2.1", a.Number, facts.BirthDate)
		if res.StatusCode != http.StatusServiceUnavailable || dataStatus(t, body) != "" ||
			!strings.Contains(body, status.Message("pt", "unavailable.text")) {
			t.Errorf("%s down: %d, data-status %q", name, res.StatusCode, dataStatus(t, body))
		}
	}
}
