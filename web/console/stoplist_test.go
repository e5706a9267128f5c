package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// stop posts a stop-list change.
func (c *client) stop(action, lg, person, note string) answer {
	c.w.t.Helper()
	return c.do("POST", "/console/stoplist", url.Values{"action": {action}, "lgCode": {lg}, "person": {person},
		"note": {note}, "csrf": {c.csrf("/console/stoplist")}})
}

// TestStopListRoles: the registry clerk changes the list; an auditor reads
// it (a POST is 403); a koseki clerk and an administrator see nothing; a
// registry clerk of another municipality sees none of its entries and can
// neither add nor lift one (403). Without the form's token nothing changes.
func TestStopListRoles(t *testing.T) {
	o := newOpsWorld(t)
	ids := o.loadResidents()
	clerk := o.client()
	clerk.signIn(o.account("r01", registry.RoleRegistryClerk, chiyoda))
	if a := clerk.stop("add", chiyoda, ids[0], "本人から不正取得の相談"); a.status != http.StatusOK {
		t.Fatalf("add: %d %s", a.status, between(a.body, `id="error"`, "</p>"))
	}
	for _, c := range []struct {
		user   string
		role   registry.Role
		lg     string
		read   int
		sees   bool
		change int
	}{
		{"auditor", registry.RoleAuditor, chiyoda, http.StatusOK, true, http.StatusForbidden},
		{"koseki", registry.RoleKosekiClerk, chiyoda, http.StatusForbidden, false, http.StatusForbidden},
		{"admin", registry.RoleAdmin, chiyoda, http.StatusForbidden, false, http.StatusForbidden},
		{"r-toyonaka", registry.RoleRegistryClerk, toyonaka, http.StatusOK, false, http.StatusForbidden},
	} {
		cl := o.client()
		cl.signIn(o.account(c.user, c.role, c.lg))
		a := cl.do("GET", "/console/stoplist", nil)
		if a.status != c.read {
			t.Errorf("%s reads the stop list: %d, want %d", c.user, a.status, c.read)
		}
		if got := strings.Contains(a.body, `data-person="`+ids[0]+`"`); got != c.sees {
			t.Errorf("%s sees 千代田区's entry: %v, want %v", c.user, got, c.sees)
		}
		if c.read == http.StatusOK && (strings.Contains(a.body, `id="add-form"`) != (c.role == registry.RoleRegistryClerk) ||
			c.role == registry.RoleAuditor && strings.Contains(a.body, `class="lift-form"`)) {
			t.Errorf("%s: forms offered wrongly", c.user)
		}
		token := cl.csrf("/console/")
		for _, f := range []url.Values{
			{"action": {"add"}, "lgCode": {chiyoda}, "person": {ids[1]}, "note": {"x"}, "csrf": {token}},
			{"action": {"lift"}, "lgCode": {chiyoda}, "person": {ids[0]}, "note": {"x"}, "csrf": {token}},
		} {
			if a := cl.do("POST", "/console/stoplist", f); a.status != c.change {
				t.Errorf("%s: %s: %d, want %d", c.user, f.Get("action"), a.status, c.change)
			}
		}
	}
	// Without the token, or with a forged one.
	for _, tok := range []string{"", "forged"} {
		f := url.Values{"action": {"add"}, "lgCode": {chiyoda}, "person": {ids[1]}, "note": {"x"}}
		if tok != "" {
			f.Set("csrf", tok)
		}
		if a := clerk.do("POST", "/console/stoplist", f); a.status != http.StatusForbidden {
			t.Errorf("add with csrf %q: %d", tok, a.status)
		}
	}
	if es := o.active(chiyoda); len(es) != 1 || es[0].PersonID != ids[0] {
		t.Fatalf("after refused changes: %+v", es)
	}
}

// TestStopListAddAndLift: bad input is refused naming the field, and
// changes nothing; an add records who and why and shows the name once; a
// lift records who and why and keeps the entry as history; a 戸籍 member
// without a resident record is stopped by koseki:<id>:<seq>.
func TestStopListAddAndLift(t *testing.T) {
	o := newOpsWorld(t)
	ids := o.loadResidents()
	cl := o.client()
	cl.signIn(o.account("r01", registry.RoleRegistryClerk, chiyoda))
	ctx := context.Background()
	for _, c := range []struct {
		action, person, note string
		status               int
		says                 string
	}{
		{"add", "NOBODY", "確認中", http.StatusBadRequest, "person NOBODY: この宛名番号の住民記録は"},
		{"add", ids[0], "", http.StatusBadRequest, "note: 交付を停止する理由"},
		{"add", ids[0], "   ", http.StatusBadRequest, "note: "},
		{"add", "", "確認中", http.StatusBadRequest, "person: "},
		{"add", "P 1", "確認中", http.StatusBadRequest, `person &#34;P 1&#34;`},
		{"add", ids[0], "a\x01b", http.StatusBadRequest, "note: 内部メモに制御文字"},
		{"remove", ids[0], "確認中", http.StatusBadRequest, "action: "},
		{"add", "koseki:K9:1", "確認中", http.StatusBadRequest, "戸籍 K9 は"},
		{"add", "koseki:K1:9", "確認中", http.StatusBadRequest, "第 9 順位の人はいません"},
		{"lift", ids[0], "誤り", http.StatusConflict, "交付停止リストにありません"},
	} {
		a := cl.stop(c.action, chiyoda, c.person, c.note)
		if a.status != c.status || !strings.Contains(between(a.body, `id="error"`, "</p>"), c.says) {
			t.Errorf("%s %q note %q: %d %q, want %d saying %q", c.action, c.person, c.note, a.status,
				between(a.body, `id="error"`, "</p>"), c.status, c.says)
		}
	}
	if a := cl.do("POST", "/console/stoplist", url.Values{"action": {"add"}, "lgCode": {chiyoda}, "person": {ids[0]},
		"note": {"x"}, "by": {"someone"}, "csrf": {cl.csrf("/console/stoplist")}}); a.status != http.StatusBadRequest ||
		!strings.Contains(a.body, "不明な項目: by") {
		t.Errorf("a field not on the form: %d", a.status)
	}
	if es := o.active(chiyoda); len(es) != 0 {
		t.Fatalf("bad input changed the list: %+v", es)
	}

	// Add: in effect at once, the name shown in the confirmation only.
	person := o.muni[chiyoda].Households[0].Members[0]
	a := cl.stop("add", chiyoda, person.ID, "本人から不正取得の相談（電話）")
	name := person.FamilyName + " " + person.GivenName
	if a.status != http.StatusOK || !strings.Contains(between(a.body, `id="message"`, "</p>"), name) {
		t.Fatalf("add: %d %q", a.status, between(a.body, `id="message"`, "</p>"))
	}
	if st, err := o.store.Stopped(ctx, chiyoda, []string{person.ID}); err != nil || !st {
		t.Fatalf("not stopped after the add: %v %v", st, err)
	}
	if a := cl.do("GET", "/console/stoplist", nil); strings.Contains(a.body, name) ||
		!strings.Contains(between(a.body, `class="active"`, "</table>"), "本人から不正取得の相談（電話）") {
		t.Error("the list shows the name, or not the note")
	}
	if a := cl.stop("add", chiyoda, person.ID, "もう一度"); a.status != http.StatusConflict || !strings.Contains(a.body, "すでに交付停止中") {
		t.Errorf("added twice: %d", a.status)
	}
	// A 戸籍 member with no resident record here (the world's K1 members).
	if a := cl.stop("add", chiyoda, "koseki:K1:2", "照会中"); a.status != http.StatusOK || !strings.Contains(a.body, "山田 花子") {
		t.Fatalf("add a 戸籍 member: %d %s", a.status, between(a.body, `id="error"`, "</p>"))
	}
	if st, _ := o.store.Stopped(ctx, chiyoda, []string{issuance.KosekiSubject("K1", 2)}); !st {
		t.Fatal("the 戸籍 member is not stopped")
	}

	// Lift: a note is required; then recorded beside who lifted it.
	if a := cl.stop("lift", chiyoda, person.ID, ""); a.status != http.StatusBadRequest || !strings.Contains(a.body, "note: 停止を解除する理由") {
		t.Errorf("lift without a note: %d", a.status)
	}
	if st, _ := o.store.Stopped(ctx, chiyoda, []string{person.ID}); !st {
		t.Fatal("lifted without a note")
	}
	o.clock.Advance(time.Minute)
	if a := cl.stop("lift", chiyoda, person.ID, "本人確認済み"); a.status != http.StatusOK {
		t.Fatalf("lift: %d %s", a.status, between(a.body, `id="error"`, "</p>"))
	}
	if st, _ := o.store.Stopped(ctx, chiyoda, []string{person.ID}); st {
		t.Fatal("still stopped after the lift")
	}
	hist, err := o.store.StopList(ctx, chiyoda, true)
	if err != nil {
		t.Fatal(err)
	}
	var lifted registry.StopEntry
	for _, e := range hist {
		if e.PersonID == person.ID {
			lifted = e
		}
	}
	if lifted.By != "r01" || lifted.LiftedBy != "r01" || lifted.LiftNote != "本人確認済み" || !lifted.LiftedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("history: %+v", lifted)
	}
	if h := between(cl.do("GET", "/console/stoplist", nil).body, `class="lifted"`, "</table>"); !strings.Contains(h, person.ID) || !strings.Contains(h, "本人確認済み") {
		t.Errorf("history on the page: %q", h)
	}
	if a := cl.stop("lift", chiyoda, person.ID, "もう一度"); a.status != http.StatusConflict {
		t.Errorf("lifted twice: %d", a.status)
	}
}

// TestStopListConcurrent: two clerks adding the same person at once make
// one entry (the other is told it exists); and while a kiosk keeps asking
// for the person's certificates on several terminals, no reservation that
// starts after the clerk's add has answered is made.
func TestStopListConcurrent(t *testing.T) {
	o := newOpsWorld(t)
	ids := o.loadResidents()
	ctx := context.Background()
	clerks := []*client{o.client(), o.client()}
	clerks[0].signIn(o.account("r01", registry.RoleRegistryClerk, chiyoda))
	clerks[1].signIn(o.account("r02", registry.RoleRegistryClerk, chiyoda))
	tokens := []string{clerks[0].csrf("/console/stoplist"), clerks[1].csrf("/console/stoplist")}
	statuses := make([]int, 2)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range clerks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			statuses[i] = clerks[i].do("POST", "/console/stoplist", url.Values{"action": {"add"}, "lgCode": {chiyoda},
				"person": {ids[0]}, "note": {"同時に追加"}, "csrf": {tokens[i]}}).status
		}()
	}
	start.Done()
	wg.Wait()
	if !(statuses[0] == http.StatusOK && statuses[1] == http.StatusConflict || statuses[0] == http.StatusConflict && statuses[1] == http.StatusOK) {
		t.Fatalf("two adds at once: %v, want one 200 and one 409", statuses)
	}
	if es := o.active(chiyoda); len(es) != 1 {
		t.Fatalf("entries: %+v", es)
	}

	// Kiosks on four terminals, each with the person authenticated, keep
	// reserving certificates of them.
	person := ids[1]
	now := o.clock.Now()
	var sessions []issuance.Session
	for i := range 4 {
		s := issuance.Session{ID: issuance.NewID(), LGCode: chiyoda, TerminalID: "T" + string(rune('0'+i)), Challenge: []byte{1},
			CreatedAt: now, ExpiresAt: now.Add(time.Hour), PersonID: person,
			Cert: issuance.CertIdentity{IssuerKeyID: "ab01", Serial: "s1"}}
		if err := o.store.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := o.store.Authenticate(ctx, s.LGCode, s.ID, person, s.Cert, now); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	reserve := func(s issuance.Session) error {
		return o.store.ReserveIssuance(ctx, issuance.Issuance{ID: issuance.NewID(), SessionID: s.ID, LGCode: chiyoda,
			TerminalID: s.TerminalID, PersonID: person, Cert: s.Cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200,
			PageCount: 1, PDFSHA256: make([]byte, 32), Subjects: []string{person}}, now)
	}
	if err := reserve(sessions[0]); err != nil {
		t.Fatalf("before the add: %v", err)
	}
	var committed atomic.Bool // the clerk's add has answered
	var before, after atomic.Int64
	errc := make(chan error, len(sessions))
	for _, s := range sessions {
		go func() {
			for {
				late := committed.Load()
				err := reserve(s)
				switch {
				case err == nil && late:
					errc <- errors.New("a reservation started after the add committed was made")
					return
				case err == nil:
					before.Add(1)
				case errors.Is(err, issuance.StopListed) && late:
					after.Add(1)
					errc <- nil
					return
				case errors.Is(err, issuance.StopListed):
					// the add committed, its answer not yet read
				default:
					errc <- err
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // let the kiosks run before the add
	a := clerks[0].stop("add", chiyoda, person, "窓口で本人確認中")
	committed.Store(true)
	if a.status != http.StatusOK {
		t.Fatalf("add: %d", a.status)
	}
	for range sessions {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if after.Load() != int64(len(sessions)) {
		t.Fatalf("refused after the add: %d of %d terminals", after.Load(), len(sessions))
	}
	t.Logf("reservations made while the add was under way: %d", before.Load())
}
