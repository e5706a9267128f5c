package registry_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

const honsekiLG = "272035"

func honsekiStore(t *testing.T) (*registry.Store, *dbtest.DB) {
	t.Helper()
	db := dbtest.New(t)
	k, err := registry.NewMyNumberKey(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return registry.NewStore(db.Pool, registry.WithMyNumberKey(k)), db
}

func newApplication(cert issuance.CertIdentity) issuance.Application {
	return issuance.Application{
		Number: issuance.NewApplicationNumber(), LGCode: honsekiLG, Channel: issuance.ChannelInternet, Cert: cert,
		Facts: &issuance.ApplicationFacts{Name: "本籍 花子", Address: "東京都千代田区千代田1番1号", BirthDate: "1985-06-07",
			Sex: issuance.Female, HonsekiAddress: "大阪府豊中市中桜塚三丁目1番地", HeadName: "本籍 一郎"},
		ReceivedAt: t0, ExpectedBy: issuance.AddBusinessDays(t0, 10, nil),
	}
}

// renew records, in the 本籍地's resident data, that newer is the renewal of older.
func renew(t *testing.T, db *dbtest.DB, older, newer issuance.CertIdentity) {
	t.Helper()
	if _, err := db.Owner.Exec(context.Background(), `INSERT INTO jpki_renewal
		(lg_code, new_issuer_key_id, new_serial, old_issuer_key_id, old_serial) VALUES ($1, $2, $3, $4, $5)`,
		honsekiLG, newer.IssuerKeyID, newer.Serial, older.IssuerKeyID, older.Serial); err != nil {
		t.Fatal(err)
	}
}

func countApplications(t *testing.T, db *dbtest.DB) int {
	t.Helper()
	var n int
	if err := db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM honseki_application`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An application is filed once per 本籍地 and renewal chain: filing again,
// with the same card or a renewed one, returns the open application as it
// was; another 本籍地 or an unrelated card is a new one. The facts are
// stored sealed.
func TestFileApplicationOncePerChain(t *testing.T) {
	st, db := honsekiStore(t)
	ctx := context.Background()
	old := issuance.CertIdentity{IssuerKeyID: "aa", Serial: "1"}
	cur := issuance.CertIdentity{IssuerKeyID: "aa", Serial: "2"}
	renew(t, db, old, cur)

	first := newApplication(old)
	got, filed, err := st.FileApplication(ctx, first)
	if err != nil || !filed || got.Number != first.Number || got.Status != issuance.ApplicationReceived {
		t.Fatalf("first filing: %+v %v %v", got, filed, err)
	}
	for name, cert := range map[string]issuance.CertIdentity{"same card": old, "renewed card": cur} {
		again := newApplication(cert)
		again.ReceivedAt = t0.Add(time.Hour)
		again.ExpectedBy = issuance.AddBusinessDays(again.ReceivedAt, 20, nil)
		got, filed, err := st.FileApplication(ctx, again)
		if err != nil || filed || got.Number != first.Number || !got.ExpectedBy.Equal(first.ExpectedBy) ||
			!got.ReceivedAt.Equal(first.ReceivedAt) || got.Cert.Serial != old.Serial {
			t.Fatalf("%s: %+v filed=%v %v, want the open application %s", name, got, filed, err, first.Number)
		}
	}
	// The chain is followed both ways: the old card finds an application of the new one.
	for _, cert := range []issuance.CertIdentity{old, cur} {
		if a, err := st.OpenApplication(ctx, honsekiLG, cert); err != nil || a == nil || a.Number != first.Number {
			t.Fatalf("open application of %v: %+v %v", cert, a, err)
		}
	}
	if a, err := st.OpenApplication(ctx, "131016", old); err != nil || a != nil {
		t.Fatalf("open application at another municipality: %+v %v", a, err)
	}
	other := newApplication(issuance.CertIdentity{IssuerKeyID: "aa", Serial: "3"})
	if _, filed, err := st.FileApplication(ctx, other); err != nil || !filed {
		t.Fatalf("unrelated card: filed=%v %v", filed, err)
	}
	elsewhere := newApplication(old)
	elsewhere.LGCode = "131016"
	if _, filed, err := st.FileApplication(ctx, elsewhere); err != nil || !filed {
		t.Fatalf("another 本籍地: filed=%v %v", filed, err)
	}
	if n := countApplications(t, db); n != 3 {
		t.Fatalf("%d applications, want 3", n)
	}
	var facts []byte
	if err := db.Owner.QueryRow(ctx, `SELECT facts FROM honseki_application WHERE application_number = $1`, first.Number).Scan(&facts); err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"1985-06-07", "本籍", "豊中"} {
		if bytes.Contains(facts, []byte(clear)) {
			t.Fatalf("facts stored in clear (%q)", clear)
		}
	}
}

// Concurrent filings of one person (the same card and its renewal, as from
// two nodes) yield one application, and every caller is told its number.
func TestFileApplicationConcurrently(t *testing.T) {
	st, db := honsekiStore(t)
	ctx := context.Background()
	old := issuance.CertIdentity{IssuerKeyID: "bb", Serial: "10"}
	cur := issuance.CertIdentity{IssuerKeyID: "bb", Serial: "11"}
	renew(t, db, old, cur)
	const n = 16
	numbers := make([]string, n)
	filed := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		cert := old
		if i%2 == 1 {
			cert = cur
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var got issuance.Application
			got, filed[i], errs[i] = st.FileApplication(ctx, newApplication(cert))
			numbers[i] = got.Number
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("filing %d: %v", i, errs[i])
		}
		if filed[i] {
			winners++
		}
		if numbers[i] != numbers[0] {
			t.Fatalf("filing %d got %s, filing 0 got %s", i, numbers[i], numbers[0])
		}
	}
	if winners != 1 || countApplications(t, db) != 1 {
		t.Fatalf("%d filed, %d rows; want exactly one", winners, countApplications(t, db))
	}
}

// A filing the caller left incomplete is refused and stores nothing.
func TestFileApplicationRefusesIncomplete(t *testing.T) {
	st, db := honsekiStore(t)
	ctx := context.Background()
	cert := issuance.CertIdentity{IssuerKeyID: "cc", Serial: "1"}
	for name, spoil := range map[string]func(*issuance.Application){
		"number":      func(a *issuance.Application) { a.Number = "123" },
		"facts":       func(a *issuance.Application) { a.Facts = nil },
		"birth date":  func(a *issuance.Application) { a.Facts.BirthDate = "1985/06/07" },
		"channel":     func(a *issuance.Application) { a.Channel = "fax" },
		"terminal":    func(a *issuance.Application) { a.Channel = issuance.ChannelKiosk },
		"certificate": func(a *issuance.Application) { a.Cert = issuance.CertIdentity{} },
		"expected by": func(a *issuance.Application) { a.ExpectedBy = time.Time{} },
	} {
		a := newApplication(cert)
		spoil(&a)
		if _, filed, err := st.FileApplication(ctx, a); err == nil || filed {
			t.Errorf("%s: filed=%v %v", name, filed, err)
		}
	}
	if n := countApplications(t, db); n != 0 {
		t.Fatalf("%d applications stored", n)
	}
	if _, _, err := registry.NewStore(db.Pool).FileApplication(ctx, newApplication(cert)); err == nil {
		t.Fatal("filed without a key to seal the facts")
	}
}

// The status check answers the application for the right birth date, and
// one and the same error for a wrong birth date and an unknown number, well
// formed or not.
func TestApplicationStatusConstantAnswer(t *testing.T) {
	st, _ := honsekiStore(t)
	ctx := context.Background()
	a := newApplication(issuance.CertIdentity{IssuerKeyID: "dd", Serial: "1"})
	if _, _, err := st.FileApplication(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := st.ApplicationStatus(ctx, []string{honsekiLG}, a.Number, a.Facts.BirthDate)
	if err != nil || got.Number != a.Number || got.Status != issuance.ApplicationReceived || got.Facts != nil ||
		!got.ExpectedBy.Equal(a.ExpectedBy) || got.ExpectedBy.Location() != issuance.Tokyo {
		t.Fatalf("status: %+v %v", got, err)
	}
	unknown := issuance.NewApplicationNumber()
	for unknown == a.Number {
		unknown = issuance.NewApplicationNumber()
	}
	for name, q := range map[string][2]string{
		"wrong birth date": {a.Number, "1985-06-08"},
		"empty birth date": {a.Number, ""},
		"unknown number":   {unknown, a.Facts.BirthDate},
		"no number":        {"", a.Facts.BirthDate},
	} {
		got, err := st.ApplicationStatus(ctx, []string{honsekiLG}, q[0], q[1])
		if err != issuance.ErrNoApplication || got.Number != "" {
			t.Errorf("%s: %+v %v, want exactly ErrNoApplication", name, got, err)
		}
	}
}

// A registration is found from its certificate and from a renewed card
// (新旧紐付け), at its 本籍地 only.
func TestRegistrationByCertificate(t *testing.T) {
	st, db := honsekiStore(t)
	ctx := context.Background()
	old := issuance.CertIdentity{IssuerKeyID: "ee", Serial: "1"}
	cur := issuance.CertIdentity{IssuerKeyID: "ee", Serial: "2"}
	a := newApplication(old)
	if _, _, err := st.FileApplication(ctx, a); err != nil {
		t.Fatal(err)
	}
	if r, err := st.RegistrationByCertificate(ctx, honsekiLG, old); err != nil || r != nil {
		t.Fatalf("registration before approval: %+v %v", r, err)
	}
	approve(t, db, a.Number, old, "K1", 2)
	renew(t, db, old, cur)
	for _, cert := range []issuance.CertIdentity{old, cur} {
		r, err := st.RegistrationByCertificate(ctx, honsekiLG, cert)
		if err != nil || r == nil || r.Member != (issuance.MemberRef{KosekiID: "K1", Seq: 2}) || r.ApplicationNumber != a.Number ||
			r.Cert.Serial != old.Serial || !r.RegisteredAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("registration of %v: %+v %v", cert, r, err)
		}
	}
	for _, q := range []struct {
		lg   string
		cert issuance.CertIdentity
	}{{"131016", old}, {honsekiLG, issuance.CertIdentity{IssuerKeyID: "ee", Serial: "3"}}} {
		if r, err := st.RegistrationByCertificate(ctx, q.lg, q.cert); err != nil || r != nil {
			t.Fatalf("registration of %v at %s: %+v %v", q.cert, q.lg, r, err)
		}
	}
	// Decided, the application is no longer open, and a new one may be filed.
	if o, err := st.OpenApplication(ctx, honsekiLG, old); err != nil || o != nil {
		t.Fatalf("open after approval: %+v %v", o, err)
	}
	if _, filed, err := st.FileApplication(ctx, newApplication(cur)); err != nil || !filed {
		t.Fatalf("filing after the decision: %v %v", filed, err)
	}
}

// approve decides an application as the console does, for the tests of the
// read side (the console's Decide is tested with the console).
func approve(t *testing.T, db *dbtest.DB, number string, cert issuance.CertIdentity, kosekiID string, seq int) {
	t.Helper()
	ctx := context.Background()
	at := t0.Add(time.Hour)
	if _, err := db.Owner.Exec(ctx, `UPDATE honseki_application SET status = 'APPROVED', decided_at = $2, decided_by = 'clerk',
		koseki_id = $3, member_seq = $4 WHERE application_number = $1`, number, at, kosekiID, seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `INSERT INTO honseki_registration
		(lg_code, issuer_key_id, serial, koseki_id, member_seq, application_number, registered_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, honsekiLG, cert.IssuerKeyID, cert.Serial, kosekiID, seq, number, at); err != nil {
		t.Fatal(err)
	}
}
