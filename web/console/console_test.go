package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/registry"
)

// TestRefusedWithoutCSRF: a POST without the session's token, or with
// another, is refused (403) and changes nothing; so is a sign-in without the
// form's token.
func TestRefusedWithoutCSRF(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	number := w.file(chiyoda, "1", stranger, t0.Add(-time.Hour))
	cr := w.account("k01", registry.RoleKosekiClerk, chiyoda)

	c := w.client()
	if a := c.do("POST", "/console/login", url.Values{"username": {cr.Username}, "password": {cr.Password},
		"otp": {w.otp(cr)}}); a.status != http.StatusForbidden || !strings.Contains(a.body, "csrf") {
		t.Fatalf("sign-in without csrf: %d", a.status)
	}
	w.clock.Advance(30 * time.Second) // the code above was not used, but take a fresh one anyway
	c.signIn(cr)
	page := "/console/honseki/" + number
	token := c.csrf(page)
	for _, form := range []url.Values{
		{"decision": {"reject"}, "reason": {"FactsMismatch"}},
		{"decision": {"reject"}, "reason": {"FactsMismatch"}, "csrf": {"forged"}},
		{"decision": {"reject"}, "reason": {"FactsMismatch"}, "csrf": {token + "x"}},
	} {
		if a := c.do("POST", page, form); a.status != http.StatusForbidden {
			t.Errorf("decision with csrf %q: %d, want 403", form.Get("csrf"), a.status)
		}
	}
	if a := c.do("POST", "/console/logout", url.Values{}); a.status != http.StatusForbidden {
		t.Errorf("sign-out without csrf: %d, want 403", a.status)
	}
	if s := w.status(number); s != "RECEIVED" {
		t.Fatalf("application %s after refused posts", s)
	}
	// Another session's token is not this session's.
	other := w.client()
	w.clock.Advance(30 * time.Second)
	other.signIn(cr)
	if a := other.do("POST", page, url.Values{"decision": {"reject"}, "reason": {"FactsMismatch"}, "csrf": {token}}); a.status != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", a.status)
	}
	// With the token it works, and the answer carries the headers.
	a := c.do("POST", page, url.Values{"decision": {"reject"}, "reason": {"FactsMismatch"}, "csrf": {token}})
	if a.status != http.StatusSeeOther || w.status(number) != "REJECTED" {
		t.Fatalf("decision with csrf: %d, application %s", a.status, w.status(number))
	}
	if a.header.Get("Cache-Control") != "no-store" || a.header.Get("Content-Security-Policy") == "" {
		t.Errorf("headers: %v", a.header)
	}
}

// TestForbidden: a clerk of another municipality, or of another role, is
// refused (403) and changes nothing; an auditor reads but does not decide.
func TestForbidden(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	number := w.file(chiyoda, "1", hanako, t0.Add(-time.Hour))
	page := "/console/honseki/" + number
	decide := func(c *client) answer {
		return c.do("POST", page, url.Values{"decision": {"approve"}, "member": {"K1:2"}, "csrf": {c.csrf("/console/")}})
	}
	for _, c := range []struct {
		user      string
		role      registry.Role
		lg        string
		read      int
		queueSees bool
	}{
		// Another municipality's application is not found at all: the
		// store reads in the clerk's municipalities only (docs/tenants.md).
		{"k-toyonaka", registry.RoleKosekiClerk, toyonaka, http.StatusNotFound, false},
		{"auditor", registry.RoleAuditor, chiyoda, http.StatusOK, true},
		{"registry", registry.RoleRegistryClerk, chiyoda, http.StatusForbidden, false},
		{"admin", registry.RoleAdmin, chiyoda, http.StatusForbidden, false},
	} {
		cr := w.account(c.user, c.role, c.lg)
		cl := w.client()
		cl.signIn(cr)
		if a := cl.do("GET", page, nil); a.status != c.read {
			t.Errorf("%s reads the application: %d, want %d", c.user, a.status, c.read)
		} else if c.read == http.StatusOK && (!strings.Contains(a.body, "山田 花子") || strings.Contains(a.body, `id="approve"`)) {
			t.Errorf("%s: the page shows no facts or offers a decision", c.user)
		}
		q := cl.do("GET", "/console/honseki", nil)
		if got := strings.Contains(q.body, number); got != c.queueSees {
			t.Errorf("%s: queue (%d) lists the application: %v, want %v", c.user, q.status, got, c.queueSees)
		}
		if a := decide(cl); a.status != http.StatusForbidden && a.status != c.read {
			t.Errorf("%s decides: %d, want 403 (or %d, as the page)", c.user, a.status, c.read)
		}
	}
	if s := w.status(number); s != "RECEIVED" {
		t.Fatalf("application %s after refused decisions", s)
	}
	// The admin page is the admin's only.
	cr := w.account("k01", registry.RoleKosekiClerk, chiyoda)
	cl := w.client()
	cl.signIn(cr)
	if a := cl.do("GET", "/console/admin", nil); a.status != http.StatusForbidden {
		t.Errorf("a koseki clerk opens the admin page: %d", a.status)
	}
	if a := cl.do("POST", "/console/admin", url.Values{"action": {"add"}, "username": {"evil"}, "role": {"admin"},
		"lgCodes": {chiyoda}, "csrf": {cl.csrf("/console/honseki")}}); a.status != http.StatusForbidden {
		t.Errorf("a koseki clerk adds an account: %d", a.status)
	}
	if _, err := w.store.ClerkByName(context.Background(), "evil"); err == nil {
		t.Error("the account was added")
	}
}

// TestConcurrentDecisions: two clerks decide the same application at once
// (one approves, one rejects): exactly one decision stands, the other is
// told so (409, with a message), and the history has one entry.
func TestConcurrentDecisions(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	for round := range 3 {
		number := w.file(chiyoda, "c"+string(rune('0'+round)), hanako, t0.Add(-time.Hour))
		page := "/console/honseki/" + number
		var clients []*client
		var tokens []string
		for i := range 2 {
			cr := w.account("k"+string(rune('a'+round))+string(rune('0'+i)), registry.RoleKosekiClerk, chiyoda)
			c := w.client()
			c.signIn(cr)
			clients = append(clients, c)
			tokens = append(tokens, c.csrf(page))
		}
		forms := []url.Values{
			{"decision": {"approve"}, "member": {"K1:2"}, "note": {"本人と確認"}, "csrf": {tokens[0]}},
			{"decision": {"reject"}, "reason": {"FactsMismatch"}, "csrf": {tokens[1]}},
		}
		answers := make([]answer, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = clients[i].do("POST", page, forms[i])
			}()
		}
		wg.Wait()
		won, lost := -1, -1
		for i, a := range answers {
			switch a.status {
			case http.StatusSeeOther:
				won = i
			case http.StatusConflict:
				lost = i
				if !strings.Contains(a.body, "ほかの職員がすでに決定しました") {
					t.Errorf("the loser is not told: %s", a.body)
				}
			default:
				t.Fatalf("decision %d: %d %s", i, a.status, a.body)
			}
		}
		if won < 0 || lost < 0 {
			t.Fatalf("answers %d and %d: want one 303 and one 409", answers[0].status, answers[1].status)
		}
		want := map[int]string{0: "APPROVED", 1: "REJECTED"}[won]
		var decisions, registrations int
		ctx := context.Background()
		w.db.Owner.QueryRow(ctx, `SELECT count(*) FROM honseki_decision WHERE application_number = $1`, number).Scan(&decisions)
		w.db.Owner.QueryRow(ctx, `SELECT count(*) FROM honseki_registration WHERE application_number = $1`, number).Scan(&registrations)
		if s := w.status(number); s != want || decisions != 1 || registrations != map[int]int{0: 1, 1: 0}[won] {
			t.Fatalf("status %s (want %s), %d decisions, %d registrations", s, want, decisions, registrations)
		}
		// The loser's page shows the standing decision.
		if !strings.Contains(answers[lost].body, `data-decision="`+map[int]string{0: "approve", 1: "reject"}[won]+`"`) {
			t.Error("the loser's page does not show the decision that stands")
		}
	}
}

// TestBadDecisions: each malformed decision is answered 400 naming the
// field, and changes nothing.
func TestBadDecisions(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	number := w.file(chiyoda, "1", hanako, t0.Add(-time.Hour))
	page := "/console/honseki/" + number
	c := w.client()
	c.signIn(w.account("k01", registry.RoleKosekiClerk, chiyoda))
	token := c.csrf(page)
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"decision": {"approve"}}, "member"},
		{url.Values{"decision": {"approve"}, "member": {"K2:9"}}, "member"},
		{url.Values{"decision": {"approve"}, "member": {"K1:3"}}, "member"}, // removed
		{url.Values{"decision": {"approve"}, "member": {"K1:2"}, "reason": {"FactsMismatch"}}, "reason"},
		{url.Values{"decision": {"reject"}}, "reason"},
		{url.Values{"decision": {"reject"}, "reason": {"Whatever"}}, "reason"},
		{url.Values{"decision": {"reject"}, "reason": {"FactsMismatch"}, "member": {"K1:2"}}, "member"},
		{url.Values{"decision": {"reject"}, "reason": {"FactsMismatch"}, "note": {strings.Repeat("長", 2001)}}, "note"},
		{url.Values{"decision": {"reject"}, "reason": {"FactsMismatch"}, "note": {"a\x00b"}}, "note"},
		{url.Values{"decision": {"maybe"}}, "decision"},
		{url.Values{"decision": {"reject"}, "reason": {"FactsMismatch"}, "extra": {"1"}}, "extra"},
	} {
		tc.form.Set("csrf", token)
		a := c.do("POST", page, tc.form)
		if a.status != http.StatusBadRequest || !strings.Contains(a.body, tc.field) {
			t.Errorf("%v: %d, want 400 naming %s", tc.form, a.status, tc.field)
		}
	}
	if s := w.status(number); s != "RECEIVED" {
		t.Fatalf("application %s after bad decisions", s)
	}
	for path, want := range map[string]int{
		"/console/honseki/123456789012":           http.StatusNotFound, // check digit wrong
		"/console/honseki/" + number[:11] + "x":   http.StatusNotFound,
		"/console/honseki?status=LOST":            http.StatusBadRequest,
		"/console/honseki?status=all&sort=newest": http.StatusBadRequest,
	} {
		if a := c.do("GET", path, nil); a.status != want {
			t.Errorf("GET %s: %d, want %d", path, a.status, want)
		}
	}
}

// TestSignInBruteForce: wrong passwords back off and then lock the
// username, whether or not the account exists, with the same answers; the
// right password is refused while locked; after the lock-out it works.
func TestSignInBruteForce(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	cr := w.account("k01", registry.RoleKosekiClerk, chiyoda)
	var bodies [2][]string
	for i, user := range []string{"k01", "nobody"} {
		c := w.client()
		var got []int
		for range 5 {
			a := c.login(user, "wrong-password", w.otp(cr))
			got = append(got, a.status)
			if a.status == http.StatusTooManyRequests {
				t.Fatalf("%s: throttled too early: %v", user, got)
			}
			bodies[i] = append(bodies[i], csrfRE.ReplaceAllString(a.body, ""))
			// Wait out the back-off (2^(n-3) s from the third failure).
			w.clock.Advance(5 * time.Second)
		}
		a := c.login(user, cr.Password, w.otp(cr))
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "ロック") {
			t.Fatalf("%s after 5 failures: %d (Retry-After %q)", user, a.status, a.header.Get("Retry-After"))
		}
		bodies[i] = append(bodies[i], csrfRE.ReplaceAllString(strings.ReplaceAll(a.body, user, ""), ""))
	}
	// An unknown username and a wrong password get the same pages.
	for j := range bodies[0] {
		if strings.ReplaceAll(bodies[0][j], "k01", "") != strings.ReplaceAll(bodies[1][j], "nobody", "") {
			t.Errorf("answer %d differs between a known and an unknown username", j)
		}
	}
	// The lock ends 15 minutes after the locking failure.
	w.clock.Advance(16 * time.Minute)
	c := w.client()
	c.signIn(cr)
	if a := c.do("GET", "/console/honseki", nil); a.status != http.StatusOK {
		t.Fatalf("after the lock-out: %d", a.status)
	}
}

// TestAdminPage: an administrator adds an account (its credentials and QR
// code shown once), the new clerk signs in with them, then the
// administrator resets and disables it; the old credentials stop working.
func TestAdminPage(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	admin := w.client()
	admin.signIn(w.account("admin", registry.RoleAdmin, chiyoda))
	token := admin.csrf("/console/admin")
	post := func(form url.Values) answer {
		form.Set("csrf", token)
		return admin.do("POST", "/console/admin", form)
	}
	if a := post(url.Values{"action": {"add"}, "username": {"k02"}, "role": {"koseki_clerk"}, "lgCodes": {toyonaka}}); a.status != http.StatusBadRequest || !strings.Contains(a.body, "lgCodes") {
		t.Fatalf("add outside the admin's scope: %d", a.status)
	}
	if a := post(url.Values{"action": {"add"}, "username": {"K 02"}, "role": {"koseki_clerk"}, "lgCodes": {chiyoda}}); a.status != http.StatusBadRequest || !strings.Contains(a.body, "username") {
		t.Fatalf("add with a bad username: %d", a.status)
	}
	a := post(url.Values{"action": {"add"}, "username": {"k02"}, "role": {"koseki_clerk"}, "lgCodes": {chiyoda}})
	cr := credentialsOf(t, a)
	if !strings.Contains(a.body, `src="data:image/png;base64,`) {
		t.Fatal("no QR code")
	}
	k := w.client()
	w.clock.Advance(30 * time.Second)
	k.signIn(cr)
	if a := post(url.Values{"action": {"reset"}, "username": {"k02"}}); a.status != http.StatusOK {
		t.Fatalf("reset: %d", a.status)
	} else if cr2 := credentialsOf(t, a); cr2.Password == cr.Password || cr2.TOTPSecret == cr.TOTPSecret {
		t.Fatal("reset gave the same credentials")
	} else {
		if a := k.do("GET", "/console/honseki", nil); a.status != http.StatusSeeOther {
			t.Fatalf("the session survived the reset: %d", a.status)
		}
		w.clock.Advance(30 * time.Second)
		if a := k.login("k02", cr.Password, w.otp(cr)); a.status != http.StatusUnauthorized {
			t.Fatalf("old credentials after reset: %d", a.status)
		}
		w.clock.Advance(30 * time.Second)
		k.signIn(cr2)
	}
	if a := post(url.Values{"action": {"disable"}, "username": {"k02"}}); a.status != http.StatusOK {
		t.Fatalf("disable: %d", a.status)
	}
	if a := k.do("GET", "/console/honseki", nil); a.status != http.StatusSeeOther {
		t.Fatalf("the session survived disabling: %d", a.status)
	}
	if a := post(url.Values{"action": {"disable"}, "username": {"admin"}}); a.status != http.StatusBadRequest {
		t.Fatalf("the admin disables itself: %d", a.status)
	}
}

func credentialsOf(t *testing.T, a answer) registry.Credentials {
	t.Helper()
	field := func(id string) string {
		i := strings.Index(a.body, `id="`+id+`">`)
		if i < 0 {
			t.Fatalf("%s not on the page (%d)", id, a.status)
		}
		rest := a.body[i+len(id)+6:]
		return rest[:strings.Index(rest, "<")]
	}
	user := field("cred-username")
	secret := field("cred-secret")
	return registry.Credentials{Username: user, Password: field("cred-password"), TOTPSecret: secret}
}

// TestPlainHTTPRefused: over plain HTTP the console says it needs HTTPS
// (its cookies are Secure) and serves nothing else.
func TestPlainHTTPRefused(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, httptest.NewRequest("GET", "http://console.example/console/login", nil))
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "HTTPS") || strings.Contains(rec.Body.String(), `name="password"`) {
		t.Fatalf("plain HTTP: %d", rec.Code)
	}
}
