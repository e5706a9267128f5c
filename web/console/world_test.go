package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/console"
)

// The test world: two municipalities, a 戸籍 in 千代田区 with a current
// member (山田 花子) and a removed one, applications filed through the
// store's FileApplication (facts sealed as in production), and accounts.

const (
	chiyoda  = "131016"
	toyonaka = "272035"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, issuance.Tokyo)

// lightCost: the console's tests sign in many times under -race; the
// default cost (RFC 9106) is tested in registry.
var lightCost = registry.PasswordCost{Time: 1, MemoryKiB: 1024, Threads: 1}

type world struct {
	t     *testing.T
	db    *dbtest.DB
	store *registry.Store
	clock *issuance.ManualClock
	srv   *httptest.Server
	h     http.Handler // the console, as mounted
}

func newWorld(t *testing.T, pol registry.SignInPolicy) *world {
	t.Helper()
	db := dbtest.New(t)
	key, err := registry.NewMyNumberKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, db: db, clock: issuance.NewManualClock(t0),
		store: registry.NewStore(db.Pool, registry.WithMyNumberKey(key), registry.WithPasswordCost(lightCost))}
	ctx := context.Background()
	for _, k := range []struct{ lg, id, honseki, head, body string }{
		{chiyoda, "K1", "東京都千代田区一番町一丁目1番地", "山田 一郎", `{"members":[
			{"seq":1,"family":"山田","given":"一郎","birth":"1950-01-01","sex":1,"relationship":""},
			{"seq":2,"family":"山田","given":"花子","birth":"1980-02-03","sex":2,"relationship":"長女"},
			{"seq":3,"family":"山田","given":"次郎","birth":"1982-05-05","sex":1,"relationship":"二男","removed":true}]}`},
		{chiyoda, "K2", "東京都千代田区二番町5番地", "佐藤 健", `{"members":[
			{"seq":1,"family":"佐藤","given":"健","birth":"1980-02-03","sex":1,"relationship":""}]}`},
		{toyonaka, "T1", "大阪府豊中市中桜塚三丁目1番地", "本籍 一郎", `{"members":[
			{"seq":1,"family":"本籍","given":"一郎","birth":"1955-03-03","sex":1,"relationship":""}]}`},
	} {
		// 戸籍 are registry data the sync loads in clear (not sealed).
		if _, err := db.Owner.Exec(ctx, `INSERT INTO koseki (lg_code, koseki_id, honseki, hittousha, pending, body)
			VALUES ($1, $2, $3, $4, false, $5)`, k.lg, k.id, k.honseki, k.head, k.body); err != nil {
			t.Fatal(err)
		}
	}
	h, err := console.New(console.Options{Store: w.store, Clock: w.clock, SignIn: pol,
		Municipalities: map[string]issuance.Municipality{
			chiyoda:  {Code: chiyoda, Prefecture: "東京都", Name: "千代田区"},
			toyonaka: {Code: toyonaka, Prefecture: "大阪府", Name: "豊中市"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", web.Assets())
	mux.Handle(console.Path, h)
	w.h = h
	// TLS, as in production: the session cookie is Secure.
	w.srv = httptest.NewTLSServer(mux)
	t.Cleanup(w.srv.Close)
	return w
}

// file files an application through the store, as the core does.
func (w *world) file(lg, serial string, f issuance.ApplicationFacts, received time.Time) string {
	w.t.Helper()
	a := issuance.Application{Number: issuance.NewApplicationNumber(), LGCode: lg, Channel: issuance.ChannelInternet,
		Cert: issuance.CertIdentity{IssuerKeyID: "ab01", Serial: serial}, Facts: &f, ReceivedAt: received,
		ExpectedBy: issuance.AddBusinessDays(received, 10, nil)}
	got, filed, err := w.store.FileApplication(context.Background(), a)
	if err != nil || !filed {
		w.t.Fatalf("file application: filed %v, %v", filed, err)
	}
	return got.Number
}

var hanako = issuance.ApplicationFacts{Name: "山田 花子", Address: "大阪府豊中市岡町1番1号", BirthDate: "1980-02-03",
	Sex: issuance.Female, HonsekiAddress: "東京都千代田区一番町1丁目１番地", HeadName: "山田 一郎"}

var stranger = issuance.ApplicationFacts{Name: "鈴木 三郎", Address: "大阪府豊中市岡町2番2号", BirthDate: "1990-09-09",
	Sex: issuance.Male, HonsekiAddress: "東京都千代田区三番町9番地", HeadName: "鈴木 三郎"}

// account creates an account and returns its credentials.
func (w *world) account(user string, role registry.Role, codes ...string) registry.Credentials {
	w.t.Helper()
	cr, err := w.store.AddClerk(context.Background(), user, role, codes, w.clock.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	return cr
}

// otp is the code of the authenticator at the test clock.
func (w *world) otp(cr registry.Credentials) string {
	w.t.Helper()
	c, err := totp.GenerateCode(cr.TOTPSecret, w.clock.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *world) status(number string) string {
	w.t.Helper()
	var s string
	if err := w.db.Owner.QueryRow(context.Background(), `SELECT status FROM honseki_application WHERE application_number = $1`,
		number).Scan(&s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// client is a clerk's HTTP client: a cookie jar, no redirects followed (the
// tests look at each answer).
type client struct {
	w    *world
	http *http.Client
}

func (w *world) client() *client {
	jar, _ := cookiejar.New(nil)
	tr := w.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: w.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	return &client{w: w, http: &http.Client{Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(method, path string, form url.Values) answer {
	c.w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.w.srv.URL+path, body)
	if err != nil {
		c.w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.w.t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the forms of the page at path (or where it
// redirects).
func (c *client) csrf(path string) string {
	c.w.t.Helper()
	a := c.do("GET", path, nil)
	if a.status == http.StatusSeeOther {
		a = c.do("GET", a.header.Get("Location"), nil)
	}
	m := csrfRE.FindStringSubmatch(a.body)
	if a.status != http.StatusOK || m == nil {
		c.w.t.Fatalf("GET %s: %d, no csrf field", path, a.status)
	}
	return m[1]
}

// login signs in through the form: the answer to the POST.
func (c *client) login(user, password, otp string) answer {
	c.w.t.Helper()
	return c.do("POST", "/console/login", url.Values{"username": {user}, "password": {password}, "otp": {otp},
		"csrf": {c.csrf("/console/login")}})
}

// signIn signs in and fails the test unless it worked.
func (c *client) signIn(cr registry.Credentials) {
	c.w.t.Helper()
	if a := c.login(cr.Username, cr.Password, c.w.otp(cr)); a.status != http.StatusSeeOther {
		c.w.t.Fatalf("sign in as %s: %d %s", cr.Username, a.status, a.body)
	}
}
