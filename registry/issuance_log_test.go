package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// The console's issuance log and recall, over issuances made through the
// real service (PKI, rules, renderer, ledger) and a koseki delta applied by
// the real sync.

type logFixture struct {
	w   *rulesWorld
	ids map[string]string // by name below
	// terminal of each issuance
	terminal map[string]string
}

// newLogFixture issues, in order, a minute apart:
//
//	juminhyo   card a, JUMINHYO, printed           → ISSUED    (koseki: none)
//	kojinVoid  card a, KOSEKI_KOJIN, failed         → VOIDED    (koseki 1)
//	zenbu      card a, KOSEKI_ZENBU, never confirmed → UNCONFIRMED (koseki 1)
//	(a koseki delta: koseki 2)
//	zenbu2     card a, KOSEKI_ZENBU, printed        → ISSUED    (koseki 2: prints a
//	           daughter who lives elsewhere, named by her 戸籍 entry)
//	hanako     card b, JUMINHYO, printed            → ISSUED
func newLogFixture(t *testing.T) *logFixture {
	t.Helper()
	w := newRulesWorld(t)
	f := &logFixture{w: w, ids: map[string]string{}, terminal: map[string]string{}}
	ctx := context.Background()
	issue := func(name, sid string, ty issuance.CertType, outcome issuance.Outcome) {
		t.Helper()
		w.clock.Advance(time.Minute)
		res, err := w.request(w.svc, sid, ty, issuance.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sess, err := w.store.Session(ctx, lg, sid)
		if err != nil {
			t.Fatal(err)
		}
		caller := issuance.Caller{LGCode: lg, TerminalID: sess.TerminalID}
		if outcome != "" {
			if _, err := w.svc.ConfirmIssuance(ctx, caller, res.IssuanceID, outcome, ""); err != nil {
				t.Fatal(err)
			}
		} else if err := w.svc.EndSession(ctx, caller, sid); err != nil {
			t.Fatal(err)
		}
		f.ids[name], f.terminal[name] = res.IssuanceID, sess.TerminalID
	}
	sid, _ := w.login(t, w.svc, "a")
	issue("juminhyo", sid, issuance.Juminhyo, issuance.Printed)
	issue("kojinVoid", sid, issuance.KosekiKojin, issuance.Failed)
	issue("zenbu", sid, issuance.KosekiZenbu, "")
	w.addDaughterElsewhere(t)
	sid, _ = w.login(t, w.svc, "a")
	issue("zenbu2", sid, issuance.KosekiZenbu, issuance.Printed)
	sid, _ = w.login(t, w.svc, "b")
	issue("hanako", sid, issuance.Juminhyo, issuance.Printed)
	return f
}

func (f *logFixture) names(recs []registry.IssuanceRecord) []string {
	var out []string
	for _, r := range recs {
		for name, id := range f.ids {
			if id == r.ID {
				out = append(out, name)
			}
		}
	}
	return out
}

func accessRows(t *testing.T, f *logFixture) []registry.AccessRecord {
	t.Helper()
	rows, err := f.w.store.AccessLog(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestIssuanceLogSearchesAndPages(t *testing.T) {
	f := newLogFixture(t)
	ctx := context.Background()
	day := time.Date(2026, 7, 1, 0, 0, 0, 0, issuance.Tokyo)
	q := func(mod func(*registry.IssuanceQuery)) registry.IssuanceQuery {
		q := registry.IssuanceQuery{LGCodes: []string{lg}, From: day, To: day.AddDate(0, 0, 1)}
		if mod != nil {
			mod(&q)
		}
		return q
	}
	search := func(q registry.IssuanceQuery) ([]string, bool) {
		t.Helper()
		recs, more, err := f.w.store.IssuanceLog(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Requester != nil || r.Subjects != nil {
				t.Fatalf("personal data without a viewer: %+v", r)
			}
		}
		return f.names(recs), more
	}
	all := []string{"hanako", "zenbu2", "zenbu", "kojinVoid", "juminhyo"} // newest first
	for _, c := range []struct {
		what string
		q    registry.IssuanceQuery
		want []string
	}{
		{"the day", q(nil), all},
		{"type", q(func(q *registry.IssuanceQuery) { q.Type = issuance.KosekiZenbu }), []string{"zenbu2", "zenbu"}},
		{"status ISSUED", q(func(q *registry.IssuanceQuery) { q.Status = issuance.Issued }), []string{"hanako", "zenbu2", "juminhyo"}},
		{"status VOIDED", q(func(q *registry.IssuanceQuery) { q.Status = issuance.Voided }), []string{"kojinVoid"}},
		{"status UNCONFIRMED", q(func(q *registry.IssuanceQuery) { q.Status = issuance.Unconfirmed }), []string{"zenbu"}},
		{"terminal", q(func(q *registry.IssuanceQuery) { q.Terminal = f.terminal["zenbu2"] }), []string{"zenbu2"}},
		{"the day before", q(func(q *registry.IssuanceQuery) { q.From, q.To = day.AddDate(0, 0, -1), day }), nil},
		{"another municipality", q(func(q *registry.IssuanceQuery) { q.LGCodes = []string{"272035"} }), nil},
	} {
		if got, more := search(c.q); !slices.Equal(got, c.want) || more {
			t.Errorf("%s: %v (more %v), want %v", c.what, got, more, c.want)
		}
	}

	// Pages of two, each after the last row of the one before.
	var paged []string
	after := ""
	for page := 0; ; page++ {
		got, more := search(q(func(q *registry.IssuanceQuery) { q.Limit, q.After = 2, after }))
		paged = append(paged, got...)
		if !more {
			break
		}
		after = f.ids[got[len(got)-1]]
		if page > 3 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(paged, all) {
		t.Fatalf("pages %v, want %v", paged, all)
	}
	// A page after an issuance outside the scope is refused, not empty.
	_, _, err := f.w.store.IssuanceLog(ctx, q(func(q *registry.IssuanceQuery) {
		q.LGCodes, q.After = []string{"272035"}, f.ids["zenbu2"]
	}))
	if !errors.Is(err, registry.ErrBadQuery) || !strings.Contains(err.Error(), "after") {
		t.Fatalf("after outside the scope: %v", err)
	}
	// Whole: a larger selection is refused.
	if _, _, err := f.w.store.IssuanceLog(ctx, q(func(q *registry.IssuanceQuery) { q.Limit, q.Whole = 4, true })); !errors.Is(err, registry.ErrTooMany) {
		t.Fatalf("whole over the limit: %v", err)
	}
	if rows := accessRows(t, f); len(rows) != 0 {
		t.Fatalf("views without personal data were logged: %+v", rows)
	}
}

// A view with personal data names the requester and the people printed
// (registry people and 戸籍 members alike) and writes one access_log row
// with the issuances shown; an empty answer or a refused one writes none.
func TestIssuanceLogPersonalDataIsLogged(t *testing.T) {
	f := newLogFixture(t)
	ctx := context.Background()
	day := time.Date(2026, 7, 1, 0, 0, 0, 0, issuance.Tokyo)
	viewer := &registry.Viewer{Username: "reg01", Role: registry.RoleRegistryClerk, Address: "192.0.2.7",
		Page: "issuances", Query: "from=2026-07-01", At: f.w.clock.Now()}
	recs, _, err := f.w.store.IssuanceLog(ctx, registry.IssuanceQuery{LGCodes: []string{lg}, From: day, To: day.AddDate(0, 0, 1),
		Type: issuance.KosekiZenbu, Viewer: viewer})
	if err != nil || len(recs) != 2 {
		t.Fatalf("%+v %v", recs, err)
	}
	for _, r := range recs {
		if r.Requester == nil || r.Requester.ID != "P1" || r.Requester.Name != "山田 太郎" {
			t.Fatalf("requester %+v", r.Requester)
		}
	}
	names := func(r registry.IssuanceRecord) map[string]string {
		out := map[string]string{}
		for _, s := range r.Subjects {
			out[s.ID] = s.Name
		}
		return out
	}
	// The ledger names residents by their record and every 戸籍 member by
	// their entry: before the delta, the family of three; after, also the
	// daughter who lives elsewhere (a 戸籍 entry only).
	for i, want := range [][]string{{"山田 一郎", "山田 太郎", "山田 桜", "山田 花子"}, {"山田 一郎", "山田 太郎", "山田 花子"}} {
		var got []string
		for id, name := range names(recs[i]) {
			if name == "" {
				t.Errorf("subject %s has no name", id)
			}
			if !slices.Contains(got, name) {
				got = append(got, name)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("subjects of %s: %v, want %v", recs[i].ID, got, want)
		}
	}
	if names(recs[0])["P1"] != "山田 太郎" {
		t.Errorf("resident subject P1: %v", names(recs[0]))
	}
	rows := accessRows(t, f)
	if len(rows) != 1 {
		t.Fatalf("access log %+v", rows)
	}
	a := rows[0]
	if a.Username != "reg01" || a.Role != registry.RoleRegistryClerk || a.Address != "192.0.2.7" || a.Page != "issuances" ||
		a.Query != "from=2026-07-01" || !a.At.Equal(viewer.At) || !slices.Equal(a.IssuanceIDs, []string{f.ids["zenbu2"], f.ids["zenbu"]}) {
		t.Fatalf("access log row %+v", a)
	}
	// Nothing shown, nothing logged.
	if recs, _, err := f.w.store.IssuanceLog(ctx, registry.IssuanceQuery{LGCodes: []string{"272035"}, From: day,
		To: day.AddDate(0, 0, 1), Viewer: viewer}); err != nil || len(recs) != 0 {
		t.Fatalf("%v %v", recs, err)
	}
	if _, _, err := f.w.store.Recall(ctx, registry.RecallQuery{LGCode: lg, Domain: issuance.DomainResident, Version: 1,
		Limit: 1, Whole: true, Viewer: viewer}); !errors.Is(err, registry.ErrTooMany) {
		t.Fatalf("whole recall over the limit: %v", err)
	}
	if rows := accessRows(t, f); len(rows) != 1 {
		t.Fatalf("access log after empty and refused views: %+v", rows)
	}

	// Viewers at once: each view is one row, with its own issuances.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := *viewer
			v.Username = fmt.Sprintf("aud%02d", i)
			_, _, err := f.w.store.Recall(ctx, registry.RecallQuery{LGCode: lg, Domain: issuance.DomainKoseki, Version: 2, Viewer: &v})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rows = accessRows(t, f)
	if len(rows) != 9 {
		t.Fatalf("%d access log rows, want 9", len(rows))
	}
	for _, r := range rows[:8] {
		if !slices.Equal(r.IssuanceIDs, []string{f.ids["zenbu2"]}) || !strings.HasPrefix(r.Username, "aud") {
			t.Fatalf("concurrent view row %+v", r)
		}
	}
}

// Recall lists the certificates of one version that may be in someone's
// hands: ISSUED and UNCONFIRMED, oldest first; not the voided one.
func TestRecallByDataVersion(t *testing.T) {
	f := newLogFixture(t)
	ctx := context.Background()
	versions, err := f.w.store.DataVersions(ctx, lg)
	if err != nil {
		t.Fatal(err)
	}
	resident := versions[slices.IndexFunc(versions, func(v issuance.DataVersion) bool { return v.Domain == issuance.DomainResident })].Seq
	koseki := versions[slices.IndexFunc(versions, func(v issuance.DataVersion) bool { return v.Domain == issuance.DomainKoseki })].Seq
	for _, c := range []struct {
		domain  issuance.DataDomain
		version int64
		want    []string
	}{
		{issuance.DomainKoseki, koseki - 1, []string{"zenbu"}},
		{issuance.DomainKoseki, koseki, []string{"zenbu2"}},
		{issuance.DomainResident, resident, []string{"juminhyo", "zenbu", "zenbu2", "hanako"}},
		{issuance.DomainSeal, 1, nil},
		{issuance.DomainKoseki, koseki + 1, nil},
	} {
		recs, more, err := f.w.store.Recall(ctx, registry.RecallQuery{LGCode: lg, Domain: c.domain, Version: c.version})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.names(recs); !slices.Equal(got, c.want) || more {
			t.Errorf("recall %s %d: %v, want %v", c.domain, c.version, got, c.want)
		}
		for _, r := range recs {
			if r.DataVersions[string(c.domain)] != c.version || r.Requester != nil {
				t.Errorf("recall %s %d: %+v", c.domain, c.version, r)
			}
		}
	}
	// Another municipality's recall of the same version: nothing.
	if recs, _, err := f.w.store.Recall(ctx, registry.RecallQuery{LGCode: "272035", Domain: issuance.DomainResident, Version: resident}); err != nil || len(recs) != 0 {
		t.Fatalf("other municipality: %v %v", recs, err)
	}
	for _, bad := range []registry.RecallQuery{{LGCode: lg, Domain: "census", Version: 1}, {LGCode: lg, Domain: issuance.DomainTax}} {
		if _, _, err := f.w.store.Recall(ctx, bad); !errors.Is(err, registry.ErrBadQuery) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// The access log is append-only: issuance_app may not UPDATE, DELETE or
// TRUNCATE it (grants), and not even the owner may (trigger).
func TestAccessLogIsAppendOnly(t *testing.T) {
	f := newLogFixture(t)
	ctx := context.Background()
	day := time.Date(2026, 7, 1, 0, 0, 0, 0, issuance.Tokyo)
	if _, _, err := f.w.store.IssuanceLog(ctx, registry.IssuanceQuery{LGCodes: []string{lg}, From: day, To: day.AddDate(0, 0, 1),
		Viewer: &registry.Viewer{Username: "aud01", Role: registry.RoleAuditor, Address: "192.0.2.9", Page: "issuances", At: f.w.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	owner, err := pgx.Connect(ctx, f.w.db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	for _, stmt := range []string{
		`UPDATE access_log SET username = 'someone'`,
		`UPDATE access_log SET issuance_ids = '{}'`,
		`DELETE FROM access_log`,
		`TRUNCATE access_log`,
	} {
		_, err := f.w.db.Pool.Exec(ctx, stmt)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("issuance_app: %s: %v, want permission denied", stmt, err)
		}
		_, err = owner.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "access_log") {
			t.Errorf("owner: %s: %v, want the guard's refusal", stmt, err)
		}
	}
	rows := accessRows(t, f)
	if len(rows) != 1 || rows[0].Username != "aud01" || len(rows[0].IssuanceIDs) != 5 {
		t.Fatalf("access log changed: %+v", rows)
	}
	// The application role may add a row, never an empty one.
	if _, err := f.w.db.Owner.Exec(ctx, `INSERT INTO access_log (at, username, role, address, page, query, issuance_ids)
		VALUES (now(), 'x', 'auditor', '::1', 'recall', '', '{}')`); err == nil {
		t.Fatal("an access_log row naming no issuance was accepted")
	}
}
