package registry_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// TestHonsekiConsoleStore: the queue (scope, status, oldest first), the
// candidate 戸籍 (by birth date, or by a 本籍 equal once normalised), the
// detail with facts, note and decisions opened, and a registration shown
// ended once the member leaves the 戸籍.
func TestHonsekiConsoleStore(t *testing.T) {
	store, db := clerkStore(t)
	ctx := context.Background()
	for _, k := range []struct{ lg, id, honseki, body string }{
		{"131016", "K1", "東京都千代田区一番町一丁目1番地", `{"members":[{"seq":1,"family":"山田","given":"一郎","birth":"1950-01-01","sex":1,"relationship":""},
			{"seq":2,"family":"山田","given":"花子","birth":"1980-02-03","sex":2,"relationship":"長女"}]}`},
		{"131016", "K2", "東京都千代田区二番町5番地", `{"members":[{"seq":1,"family":"佐藤","given":"健","birth":"1980-02-03","sex":1,"relationship":""}]}`},
		{"131016", "K3", "東京都千代田区三番町7番地", `{"members":[{"seq":1,"family":"田中","given":"一","birth":"1970-07-07","sex":1,"relationship":""}]}`},
		{"272035", "T1", "東京都千代田区一番町一丁目1番地", `{"members":[{"seq":1,"family":"山田","given":"花子","birth":"1980-02-03","sex":2,"relationship":""}]}`},
	} {
		if _, err := db.Owner.Exec(ctx, `INSERT INTO koseki (lg_code, koseki_id, honseki, hittousha, pending, body)
			VALUES ($1, $2, $3, '筆頭 者', false, $4)`, k.lg, k.id, k.honseki, k.body); err != nil {
			t.Fatal(err)
		}
	}
	facts := issuance.ApplicationFacts{Name: "山田 花子", Address: "大阪府", BirthDate: "1980-02-03", Sex: issuance.Female,
		HonsekiAddress: "東京都千代田区一番町1丁目１番地", HeadName: "山田 一郎"}
	ids := func(ks []*issuance.Koseki) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	ks, err := store.CandidateKoseki(ctx, "131016", facts, issuance.NormalizeAddress)
	if err != nil || !slices.Equal(ids(ks), []string{"K1", "K2"}) && !slices.Equal(ids(ks), []string{"K2", "K1"}) {
		t.Fatalf("candidates by birth date: %v (%v)", ids(ks), err)
	}
	if len(ks[0].Members) == 0 {
		t.Fatal("candidate 戸籍 without members")
	}
	// A mistyped birth date: the 本籍, written otherwise, still finds K1.
	mistyped := facts
	mistyped.BirthDate = "1980-03-02"
	if ks, err := store.CandidateKoseki(ctx, "131016", mistyped, issuance.NormalizeAddress); err != nil || !slices.Equal(ids(ks), []string{"K1"}) {
		t.Fatalf("candidates by 本籍: %v (%v)", ids(ks), err)
	}

	file := func(lg, serial string, at time.Time) string {
		a := issuance.Application{Number: issuance.NewApplicationNumber(), LGCode: lg, Channel: issuance.ChannelInternet,
			Cert: issuance.CertIdentity{IssuerKeyID: "ab", Serial: serial}, Facts: &facts, ReceivedAt: at,
			ExpectedBy: issuance.AddBusinessDays(at, 10, nil)}
		if _, filed, err := store.FileApplication(ctx, a); err != nil || !filed {
			t.Fatalf("file: %v %v", filed, err)
		}
		return a.Number
	}
	second := file("131016", "2", clerkT0.Add(-time.Hour))
	first := file("131016", "1", clerkT0.Add(-2*time.Hour))
	other := file("272035", "3", clerkT0.Add(-3*time.Hour))
	q, err := store.HonsekiQueue(ctx, []string{"131016"}, issuance.ApplicationReceived)
	if err != nil || len(q) != 2 || q[0].Number != first || q[1].Number != second || q[0].Facts != nil {
		t.Fatalf("queue: %+v (%v)", q, err)
	}
	if q, _ := store.HonsekiQueue(ctx, []string{"131016", "272035"}, ""); len(q) != 3 || q[0].Number != other {
		t.Fatalf("queue of both: %+v", q)
	}

	if err := store.Decide(ctx, "131016", first, registry.Decision{Clerk: "k01", Approve: true,
		Member: issuance.MemberRef{KosekiID: "K1", Seq: 2}, Note: "電話で確認"}, clerkT0); err != nil {
		t.Fatal(err)
	}
	d, err := store.HonsekiApplication(ctx, []string{"131016"}, first)
	if err != nil || d.Facts == nil || *d.Facts != facts || d.Note != "電話で確認" || d.Status != issuance.ApplicationApproved ||
		len(d.Decisions) != 1 || d.Decisions[0].Clerk != "k01" || *d.Decisions[0].Member != (issuance.MemberRef{KosekiID: "K1", Seq: 2}) ||
		!d.Decisions[0].At.Equal(clerkT0) || d.RegistrationEnded {
		t.Fatalf("detail: %+v (%v)", d, err)
	}
	if q, _ := store.HonsekiQueue(ctx, []string{"131016"}, issuance.ApplicationReceived); len(q) != 1 || q[0].Number != second {
		t.Fatalf("queue after the decision: %+v", q)
	}
	// 除籍: the koseki delta marks the member removed; the registration ends.
	if _, err := db.Owner.Exec(ctx, `UPDATE koseki SET body = $1 WHERE lg_code = '131016' AND koseki_id = 'K1'`,
		`{"members":[{"seq":1,"family":"山田","given":"一郎","birth":"1950-01-01","sex":1,"relationship":""},
		{"seq":2,"family":"山田","given":"花子","birth":"1980-02-03","sex":2,"relationship":"長女","removed":true}]}`); err != nil {
		t.Fatal(err)
	}
	if d, err := store.HonsekiApplication(ctx, []string{"131016"}, first); err != nil || !d.RegistrationEnded {
		t.Fatalf("after 除籍: ended %v (%v)", d.RegistrationEnded, err)
	}
	if _, err := store.HonsekiApplication(ctx, []string{"131016"}, "123456789018"); !errors.Is(err, issuance.ErrNoApplication) {
		t.Fatalf("unknown number: %v", err)
	}
}
