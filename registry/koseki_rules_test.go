package registry_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// A 戸籍 member who lives in another municipality has no resident record
// here: what the 戸籍 feed says of them (支援措置, notified by their 住所地)
// and what the stop list says of them decide, as for a member living here.

// kosekiOf returns the 戸籍 of which the person is the 筆頭者, as generated.
func (w *rulesWorld) kosekiOf(t testing.TB, personID string) issuance.Koseki {
	t.Helper()
	i := slices.IndexFunc(w.m.Koseki, func(k issuance.Koseki) bool { return k.Members[0].PersonID == personID })
	if i < 0 {
		t.Fatalf("no 戸籍 headed by %s", personID)
	}
	return w.m.Koseki[i]
}

// applyKoseki changes a 戸籍 through a koseki delta, applied by the real
// sync.
func (w *rulesWorld) applyKoseki(t testing.TB, id string, change func(*issuance.Koseki)) {
	t.Helper()
	ctx := context.Background()
	i := slices.IndexFunc(w.m.Koseki, func(k issuance.Koseki) bool { return k.ID == id })
	k := w.m.Koseki[i]
	k.Members, k.Fuhyo = slices.Clone(k.Members), slices.Clone(k.Fuhyo)
	change(&k)
	w.m.Koseki[i] = k
	sub := *w.m
	sub.Koseki = []issuance.Koseki{k}
	vs, err := w.store.DataVersions(ctx, lg)
	if err != nil {
		t.Fatal(err)
	}
	seq := vs[slices.IndexFunc(vs, func(v issuance.DataVersion) bool { return v.Domain == issuance.DomainKoseki })].Seq + 1
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainKoseki, feed.CSV, feed.Delta, seq, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := registry.NewSyncer(w.db.Pool, registry.SyncOptions{Inbox: w.inbox, Municipalities: []string{lg}, MyNumberKey: w.key}).Run(ctx)
	if err != nil || rep.Err() != nil {
		t.Fatalf("koseki delta: %v %v", err, rep.Err())
	}
}

// daughterAddress is where P1's daughter lives: another municipality.
const daughterAddress = "大阪府豊中市中桜塚三丁目1番1号"

// addDaughterElsewhere adds to P1's 戸籍 a daughter who lives in another
// municipality (no resident record here, not protected) and returns the
// 戸籍's id and her number in it.
func (w *rulesWorld) addDaughterElsewhere(t testing.TB) (string, int) {
	t.Helper()
	k := w.kosekiOf(t, "P1")
	born, _ := feed.ParseDate("2004-08-20")
	moved, _ := feed.ParseDate("2024-04-01")
	w.applyKoseki(t, k.ID, func(k *issuance.Koseki) {
		k.Members = append(k.Members, issuance.KosekiMember{FamilyName: "山田", GivenName: "桜", BirthDate: born,
			Sex: issuance.Female, Father: "太郎", Mother: "花子", Relationship: "長女",
			Events: []issuance.KosekiEvent{{Kind: "出生", Date: born, Fields: []issuance.Field{{Label: "出生地", Value: "東京都千代田区"}}}}})
		// The 附票 has an entry for each current member, in order.
		k.Fuhyo = append(k.Fuhyo, issuance.FuhyoEntry{FamilyName: "山田", GivenName: "桜", Addresses: []issuance.AddressPeriod{
			{Address: "東京都千代田区九段南一丁目2番1号", Since: born}, {Address: daughterAddress, Since: moved}}})
	})
	return k.ID, len(k.Members) + 1
}

func (w *rulesWorld) offer(t *testing.T, card string, ty issuance.CertType) issuance.Offer {
	t.Helper()
	_, menu := w.login(t, w.svc, card)
	i := slices.IndexFunc(menu, func(o issuance.Offer) bool { return o.Type == ty })
	return menu[i]
}

func printsAddress(doc *issuance.Document, address string) bool {
	return doc.Koseki != nil && slices.ContainsFunc(doc.Koseki.Fuhyo, func(f issuance.FuhyoEntry) bool {
		return slices.ContainsFunc(f.Addresses, func(a issuance.AddressPeriod) bool { return a.Address == address })
	})
}

// P10's wife lives elsewhere under 支援措置: the 戸籍 feed carries it, and
// neither his 附票 (her new address) nor his 戸籍全部事項証明書 is issued; his
// 個人事項証明書, which prints only him, is.
func TestKosekiMemberElsewhereUnderSupportMeasure(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	p10 := w.people["h"]
	k, err := w.store.KosekiOf(ctx, lg, p10.ID)
	if err != nil || k == nil || len(k.Members) != 2 {
		t.Fatalf("P10's 戸籍: %+v %v", k, err)
	}
	if wife := k.Members[1]; wife.PersonID != "" || wife.Relationship != "妻" || !wife.SupportMeasure || k.Members[0].SupportMeasure {
		t.Errorf("the 戸籍 as loaded does not carry the wife's 支援措置: %+v", k.Members)
	}
	for _, ty := range []issuance.CertType{issuance.Fuhyo, issuance.KosekiZenbu} {
		if o := w.offer(t, "h", ty); o.Available || o.UnavailableReason != issuance.SupportMeasure {
			t.Errorf("menu %s: available=%v reason=%q, want SupportMeasure", ty, o.Available, o.UnavailableReason)
		}
		sid, _ := w.login(t, w.svc, "h")
		before := len(w.rec.docs)
		if _, err := w.request(w.svc, sid, ty, issuance.Options{}); !errors.Is(err, issuance.SupportMeasure) {
			t.Errorf("%s printing a protected member living elsewhere: %v, want SupportMeasure", ty, err)
		}
		if len(w.rec.docs) != before {
			t.Errorf("%s: a document was built for a refused request", ty)
		}
	}
	if o := w.offer(t, "h", issuance.KosekiKojin); !o.Available {
		t.Fatalf("個人事項 refused: %q", o.UnavailableReason)
	}
	sid, _ := w.login(t, w.svc, "h")
	res, err := w.request(w.svc, sid, issuance.KosekiKojin, issuance.Options{})
	if err != nil {
		t.Fatalf("個人事項: %v", err)
	}
	doc := w.rec.last()
	if len(doc.Koseki.Members) != 1 || doc.Koseki.Members[0].PersonID != p10.ID || doc.Koseki.Fuhyo != nil {
		t.Fatalf("個人事項 prints %+v", doc.Koseki)
	}
	is, _ := w.store.Issuance(ctx, lg, res.IssuanceID)
	if !slices.Equal(is.Subjects, []string{p10.ID, issuance.KosekiSubject(k.ID, 1)}) {
		t.Fatalf("個人事項 subjects %v", is.Subjects)
	}
}

// A 戸籍 member living elsewhere is printed on the 附票 and recorded as a
// subject; once a clerk stop-lists her, nothing printing her is issued,
// also when the entry lands while a certificate is being built.
func TestKosekiMemberElsewhereOnTheStopList(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	kid, seq := w.addDaughterElsewhere(t)
	daughter := issuance.KosekiSubject(kid, seq)
	sid, _ := w.login(t, w.svc, "a")
	res, err := w.request(w.svc, sid, issuance.Fuhyo, issuance.Options{})
	if err != nil {
		t.Fatalf("附票 before: %v", err)
	}
	if !printsAddress(w.rec.last(), daughterAddress) {
		t.Fatal("the 附票 does not print the daughter living elsewhere")
	}
	is, _ := w.store.Issuance(ctx, lg, res.IssuanceID)
	if !slices.Contains(is.Subjects, daughter) || !slices.Contains(is.Subjects, "P2") || is.Subjects[0] != "P1" {
		t.Errorf("附票 subjects %v: every printed member must be recorded (want %s among them)", is.Subjects, daughter)
	}

	if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: daughter, Note: "照会中", By: "clerk01", At: now}); err != nil {
		t.Fatal(err)
	}
	for _, ty := range []issuance.CertType{issuance.Fuhyo, issuance.KosekiZenbu} {
		if o := w.offer(t, "a", ty); o.Available || o.UnavailableReason != issuance.StopListed {
			t.Errorf("menu %s: available=%v reason=%q, want StopListed", ty, o.Available, o.UnavailableReason)
		}
		if _, err := w.request(w.svc, sid, ty, issuance.Options{}); !errors.Is(err, issuance.StopListed) {
			t.Errorf("%s printing a stop-listed member living elsewhere: %v, want StopListed", ty, err)
		}
	}
	if _, err := w.request(w.svc, sid, issuance.KosekiKojin, issuance.Options{}); err != nil {
		t.Errorf("個人事項 of P1 (prints only him): %v", err)
	}

	// In flight: the entry lands after the checks, while the 附票 is
	// rendered; the reservation refuses it.
	if err := w.store.Lift(ctx, lg, daughter, "clerk01", now); err != nil {
		t.Fatal(err)
	}
	w.rec.gate = func(*issuance.Document) {
		w.rec.gate = nil
		if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: daughter, By: "clerk01", At: now}); err != nil {
			t.Error(err)
		}
	}
	if _, err := w.request(w.svc, sid, issuance.Fuhyo, issuance.Options{}); !errors.Is(err, issuance.StopListed) {
		t.Errorf("stop-listed while the 附票 was built: %v, want StopListed", err)
	}
}

// Requests for a 附票 fly while a clerk stop-lists a member living
// elsewhere: none that begins after the entry is committed is issued, and
// each one issued records her as a subject.
func TestStopListingAKosekiMemberWhileRequestsFly(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	kid, seq := w.addDaughterElsewhere(t)
	daughter := issuance.KosekiSubject(kid, seq)
	const workers, afterEach = 4, 3
	sids := make([]string, workers)
	for i := range sids {
		sids[i], _ = w.login(t, w.svc, "a")
	}
	var stopped atomic.Bool
	var issuedBefore, issuedAfter atomic.Int64
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for begunAfter := 0; begunAfter < afterEach; {
				after := stopped.Load() // before the request begins
				if after {
					begunAfter++
				}
				_, err := w.request(w.svc, sids[i], issuance.Fuhyo, issuance.Options{})
				switch {
				case err == nil && after:
					issuedAfter.Add(1)
				case err == nil:
					if issuedBefore.Add(1) >= workers {
						once.Do(func() { close(enough) })
					}
				case errors.Is(err, issuance.StopListed):
				default:
					t.Errorf("worker %d: %v", i, err)
					once.Do(func() { close(enough) })
					return
				}
			}
		}()
	}
	<-enough
	if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: daughter, By: "clerk01", At: now}); err != nil {
		t.Fatal(err)
	}
	stopped.Store(true)
	wg.Wait()
	if n := issuedAfter.Load(); n != 0 {
		t.Fatalf("%d 附票 issued after the member was stop-listed", n)
	}
	rows, err := w.db.Owner.Query(ctx, `SELECT subjects FROM issuance WHERE cert_type = 'FUHYO'`)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for rows.Next() {
		var subjects []string
		if err := rows.Scan(&subjects); err != nil {
			t.Fatal(err)
		}
		n++
		if !slices.Contains(subjects, daughter) {
			t.Errorf("a 附票 printing her does not record her: %s", strings.Join(subjects, ","))
		}
	}
	if rows.Err() != nil || n != issuedBefore.Load() || n < workers {
		t.Fatalf("ledger holds %d 附票, %d were issued before the stop (%v)", n, issuedBefore.Load(), rows.Err())
	}
}
