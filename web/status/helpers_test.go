package status_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/status"
)

const honsekiLG = "272035"

// served are the municipalities the page serves in the tests.
var served = []string{honsekiLG}

// The fixture's days: filed on Monday 2026-01-05, decided on Thursday
// 2026-01-15, checked on 2026-01-20.
var (
	receivedAt = time.Date(2026, 1, 5, 9, 30, 0, 0, issuance.Tokyo)
	decidedAt  = time.Date(2026, 1, 15, 14, 0, 0, 0, issuance.Tokyo)
	checkedAt  = time.Date(2026, 1, 20, 10, 0, 0, 0, issuance.Tokyo)
)

// The applicant's facts: none of them may appear on the page.
var facts = issuance.ApplicationFacts{Name: "葛城 花子", Address: "東京都千代田区千代田1番1号", BirthDate: "1985-06-07",
	Sex: issuance.Female, HonsekiAddress: "大阪府豊中市中桜塚三丁目1番地", HeadName: "葛城 一郎"}

// The day each language writes for decidedAt and for the expected date
// (10 business days after receivedAt), written out here independently of
// the page's own formatting.
var (
	decidedIn = map[string]string{"ja": "令和8年1月15日", "en": "January 15, 2026", "zh-Hans": "2026年1月15日",
		"zh-Hant": "2026年1月15日", "ko": "2026년 1월 15일", "es": "15 de enero de 2026", "pt": "15 de janeiro de 2026"}
	expectedIn = map[string]string{"ja": "令和8年1月19日", "en": "January 19, 2026", "zh-Hans": "2026年1月19日",
		"zh-Hant": "2026年1月19日", "ko": "2026년 1월 19일", "es": "19 de enero de 2026", "pt": "19 de janeiro de 2026"}
)

type fixture struct {
	db      *dbtest.DB
	store   *registry.Store
	limiter *registry.RateLimiter
	clock   *issuance.ManualClock
	handler http.Handler
}

// newFixture is a real store and rate limiter on a fresh database, with a
// 戸籍 to approve applications against, and the page on them. Limits are
// generous unless the test sets its own.
func newFixture(t *testing.T, limits ...status.Limit) *fixture {
	t.Helper()
	db := dbtest.New(t)
	key, err := registry.NewMyNumberKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, store: registry.NewStore(db.Pool, registry.WithMyNumberKey(key)),
		limiter: registry.NewRateLimiter(db.Pool), clock: issuance.NewManualClock(checkedAt)}
	// The 戸籍 the clerk approves against, as the koseki feed stores it.
	if _, err := db.Owner.Exec(context.Background(), `INSERT INTO koseki (lg_code, koseki_id, honseki, hittousha, pending, body)
		VALUES ($1, 'K1', $2, $3, false,
		'{"members":[{"seq":1,"family":"葛城","given":"一郎","birth":"1950-01-01","sex":1,"relationship":""},
		             {"seq":2,"family":"葛城","given":"花子","birth":"1985-06-07","sex":2,"relationship":"長女"}]}')`,
		honsekiLG, facts.HonsekiAddress, facts.HeadName); err != nil {
		t.Fatal(err)
	}
	o := status.Options{Store: f.store, Limiter: f.limiter, Clock: f.clock, Municipalities: served,
		PerAddress: status.Limit{Tries: 1000, Window: time.Hour}, PerNumber: status.Limit{Tries: 1000, Window: time.Hour}}
	if len(limits) == 2 {
		o.PerAddress, o.PerNumber = limits[0], limits[1]
	}
	if f.handler, err = status.New(o); err != nil {
		t.Fatal(err)
	}
	return f
}

// file files an application through the store, as the SOAP operation does,
// for a fresh certificate.
func (f *fixture) file(t *testing.T) issuance.Application {
	t.Helper()
	a, filed, err := f.store.FileApplication(context.Background(), issuance.Application{
		Number: issuance.NewApplicationNumber(), LGCode: honsekiLG, Channel: issuance.ChannelInternet,
		Cert:  issuance.CertIdentity{IssuerKeyID: randomHex(), Serial: randomHex()},
		Facts: &facts, ReceivedAt: receivedAt, ExpectedBy: issuance.AddBusinessDays(receivedAt, 10, nil)})
	if err != nil || !filed {
		t.Fatalf("file application: filed %v, %v", filed, err)
	}
	return a
}

func (f *fixture) reject(t *testing.T, number string, r issuance.RejectReason) {
	t.Helper()
	if err := f.store.Decide(context.Background(), honsekiLG, number,
		registry.Decision{Clerk: "clerk-ito", Reason: r, Note: "内部メモ"}, decidedAt); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) approve(t *testing.T, number string) {
	t.Helper()
	if err := f.store.Decide(context.Background(), honsekiLG, number, registry.Decision{Clerk: "clerk-ito",
		Approve: true, Member: issuance.MemberRef{KosekiID: "K1", Seq: 2}}, decidedAt); err != nil {
		t.Fatal(err)
	}
}

// withdraw marks an application withdrawn. No operation withdraws yet (the
// schema has the state and GetRegistrationStatus reports it), so the row is
// set as a withdrawal would leave it.
func (f *fixture) withdraw(t *testing.T, number string) {
	t.Helper()
	if _, err := f.db.Owner.Exec(context.Background(), `UPDATE honseki_application
		SET status = 'WITHDRAWN', decided_at = $2, decided_by = 'clerk-ito' WHERE application_number = $1`,
		number, decidedAt); err != nil {
		t.Fatal(err)
	}
}

// post submits the form as a browser does, from addr.
func (f *fixture) post(t *testing.T, lang, addr, number, birth string) (*http.Response, string) {
	t.Helper()
	return f.do(t, "POST", "/status?lang="+lang, addr, url.Values{"applicationNumber": {number}, "birthDate": {birth}}.Encode())
}

func (f *fixture) do(t *testing.T, method, target, addr, body string) (*http.Response, string) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if method == "POST" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.RemoteAddr = addr + ":50000"
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dataStatus is the value of the one data-status attribute of a page, ""
// when there is none; a second one fails the test.
func dataStatus(t *testing.T, body string) string {
	t.Helper()
	parts := strings.Split(body, `data-status="`)
	switch len(parts) {
	case 1:
		return ""
	case 2:
		v, _, _ := strings.Cut(parts[1], `"`)
		return v
	}
	t.Fatalf("%d data-status attributes on one page", len(parts)-1)
	return ""
}

// The security headers of web.Secure.
func checkSecure(t *testing.T, res *http.Response) {
	t.Helper()
	if res.Header.Get("Content-Security-Policy") != web.CSP || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("security headers missing: %v", res.Header)
	}
}

func newRequest(method, target, body string) *http.Request {
	return httptest.NewRequest(method, target, strings.NewReader(body))
}

func (f *fixture) serve(r *http.Request) (*http.Response, string) {
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (f *fixture) get(t *testing.T, target, acceptLanguage string) (*http.Response, string) {
	t.Helper()
	r := newRequest("GET", target, "")
	if acceptLanguage != "" {
		r.Header.Set("Accept-Language", acceptLanguage)
	}
	return f.serve(r)
}

// countWindows counts the rate limiter's windows.
func countWindows(t *testing.T, f *fixture) int {
	t.Helper()
	var n int
	if err := f.db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM rate_window`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
