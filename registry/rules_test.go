package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/pki/devpki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
	"github.com/lgwan/issuance/render"
)

// The rules of the certificates beyond the 住民票, end to end: data loaded
// by the real sync (synth.LoadDemo), the real PKI, the real renderer behind a
// recorder that keeps the Document it was given.

// now is a weekday morning after the June switch: the latest tax year is 2026.
var now = time.Date(2026, 7, 1, 10, 0, 0, 0, issuance.Tokyo)

var allTypes = []issuance.CertType{issuance.Juminhyo, issuance.Inkan, issuance.TaxIncome, issuance.TaxAssessment,
	issuance.TaxPayment, issuance.KosekiZenbu, issuance.KosekiKojin, issuance.Fuhyo}

func TestMain(m *testing.M) {
	// The types whose data and rules this package provides; the server
	// enables each when its layout is in too.
	for _, t := range allTypes {
		issuance.Issuable[t] = true
	}
	code := m.Run()
	if pkiDir != "" {
		os.RemoveAll(pkiDir)
	}
	os.Exit(code)
}

var (
	pkiOnce   sync.Once
	pkiDir    string
	pkiLayout devpki.DevLayout
	pkiErr    error
	renderer  *render.Renderer
	citySeal  []byte
)

var cardIDs = []string{"a", "b", "c", "d", "e", "f", "g", "h"}

// devPKI makes the cards once per test binary (RSA keys are slow).
func devPKI(t *testing.T) devpki.DevLayout {
	t.Helper()
	testkit.Font(t)
	pkiOnce.Do(func() {
		if pkiDir, pkiErr = os.MkdirTemp("", "registry-pki-"); pkiErr != nil {
			return
		}
		pkiLayout = devpki.DevLayout{KeysDir: filepath.Join(pkiDir, "keys"), KitDir: filepath.Join(pkiDir, "kit")}
		var cards []devpki.DevCard
		for _, id := range cardIDs {
			cards = append(cards, devpki.DevCard{ID: id})
		}
		if pkiErr = devpki.GenerateDev(pkiLayout, cards, now); pkiErr != nil {
			return
		}
		if renderer, pkiErr = render.New(testkit.FontPath); pkiErr != nil {
			return
		}
		citySeal, pkiErr = render.DevSeal(testkit.FontPath, "千代田区長之印")
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiLayout
}

// recorder renders with the real renderer and keeps each Document; gate,
// when set, runs before rendering (the switch test holds a request there).
type recorder struct {
	mu   sync.Mutex
	docs []*issuance.Document
	gate func(*issuance.Document)
}

var _ issuance.Renderer = (*recorder)(nil)

func (r *recorder) Render(ctx context.Context, doc *issuance.Document) ([]byte, int, error) {
	r.mu.Lock()
	r.docs = append(r.docs, doc)
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		gate(doc)
	}
	return renderer.Render(ctx, doc)
}

func (r *recorder) last() *issuance.Document {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.docs[len(r.docs)-1]
}

type rulesWorld struct {
	db     *dbtest.DB
	store  *registry.Store
	svc    *issuance.Service
	rec    *recorder
	clock  *issuance.ManualClock
	layout devpki.DevLayout
	m      *synth.Municipality
	inbox  string
	key    *registry.MyNumberKey
	people map[string]issuance.Person // by card
}

func adult(id, family, given, rel string, sex issuance.Sex, born string) issuance.Person {
	b, _ := feed.ParseDate(born)
	since, _ := feed.ParseDate("2010-04-01")
	return issuance.Person{LGCode: lg, ID: id, FamilyName: family, GivenName: given, FamilyKana: "テスト", GivenKana: "テスト",
		BirthDate: b, Sex: sex, Relationship: rel, Status: issuance.StatusResident, BecameResidentOn: since, AddressSince: since}
}

func home(id, address string, members ...issuance.Person) issuance.Household {
	h := issuance.Household{LGCode: lg, ID: id, Head: members[0].ID, Address: address}
	for _, p := range members {
		p.HouseholdID, p.Address = id, address
		h.Members = append(h.Members, p)
	}
	return h
}

// newRulesWorld loads a municipality whose fixed people hold a card each:
//
//	a P1 山田太郎   everything: seal, tax, 戸籍 with his family
//	b P2 山田花子   seal abolished, no tax record (his wife, same 戸籍)
//	c P4 佐藤健     seal suspended, not resident on 1 January, 本籍 elsewhere
//	d P5 鈴木一郎   no seal, 戸籍 pending
//	e P6 GARCIA    a foreign resident
//	f P7 田中誠     on the stop list
//	g P8 高橋修     his wife P9 is under 支援措置 (their 戸籍 prints her)
//	h P10 岡田真一  his wife lives elsewhere under 支援措置: no resident record
//	               here, only their 戸籍 (and its 附票) carry her and the measure
func newRulesWorld(t *testing.T) *rulesWorld {
	t.Helper()
	layout := devPKI(t)
	w := &rulesWorld{db: dbtest.New(t), layout: layout, rec: &recorder{}, clock: issuance.NewManualClock(now),
		inbox: t.TempDir(), key: testKey(t), people: map[string]issuance.Person{}}
	w.store = registry.NewStore(w.db.Pool, registry.WithMyNumberKey(w.key))
	p1 := adult("P1", "山田", "太郎", "世帯主", issuance.Male, "1980-04-01")
	p2 := adult("P2", "山田", "花子", "妻", issuance.Female, "1982-07-15")
	p2.FormerSurname = "佐藤"
	p3 := adult("P3", "山田", "一郎", "子", issuance.Male, "2016-05-05")
	p4 := adult("P4", "佐藤", "健", "世帯主", issuance.Male, "1975-01-08")
	p4.BecameResidentOn, _ = feed.ParseDate("2026-02-01")
	p5 := adult("P5", "鈴木", "一郎", "世帯主", issuance.Male, "1968-11-30")
	p6 := adult("P6", "GARCIA", "MARIA", "世帯主", issuance.Female, "1990-02-14")
	p6.Foreign = &issuance.ForeignResident{Nationality: "ブラジル", ResidenceStatus: "永住者", ResidenceCardNumber: "AB12345678CD"}
	p7 := adult("P7", "田中", "誠", "世帯主", issuance.Male, "1985-09-09")
	p8 := adult("P8", "高橋", "修", "世帯主", issuance.Male, "1972-12-24")
	p9 := adult("P9", "高橋", "由美", "妻", issuance.Female, "1974-06-18")
	p9.SupportMeasure = true
	p10 := adult("P10", "岡田", "真一", "世帯主", issuance.Male, "1979-10-10")
	fixed := &synth.Fixed{
		Households: []issuance.Household{
			home("H1", "東京都千代田区九段南一丁目2番1号", p1, p2, p3),
			home("H2", "東京都千代田区神田駿河台二丁目3番地", p4),
			home("H3", "東京都千代田区麹町四丁目5番6号", p5),
			home("H4", "東京都千代田区飯田橋三丁目8番1号", p6),
			home("H5", "東京都千代田区神田神保町一丁目10番地", p7),
			home("H6", "東京都千代田区三番町7番地", p8, p9),
			home("H7", "東京都千代田区一番町3番地", p10),
		},
		Refusals: map[string][]issuance.Reason{
			"P2":  {issuance.SealRegistrationAbolished, issuance.NoTaxRecord},
			"P4":  {issuance.SealRegistrationSuspended, issuance.NotResidentOnJanuary1, issuance.HonsekiNotHere},
			"P5":  {issuance.SealNotRegistered, issuance.KosekiPending},
			"P7":  {issuance.StopListed},
			"P10": {issuance.SupportMeasure},
		},
	}
	for card, pid := range map[string]string{"a": "P1", "b": "P2", "c": "P4", "d": "P5", "e": "P6", "f": "P7", "g": "P8", "h": "P10"} {
		cs, err := pki.LoadCertificates(layout.CardCert(card))
		if err != nil {
			t.Fatal(err)
		}
		id := pki.Identity(cs[0])
		fixed.Links = append(fixed.Links, registry.CertLink{IssuerKeyID: id.IssuerKeyID, Serial: id.Serial, PersonID: pid})
		for _, h := range fixed.Households {
			for _, p := range h.Members {
				if p.ID == pid {
					w.people[card] = p
				}
			}
		}
	}
	rep, made, err := synth.LoadDemo(context.Background(), w.db.Pool, w.inbox, w.key, w.clock, synth.Params{LGCode: lg,
		Prefecture: "東京都", City: "千代田区", People: 40, Seed: 3, AsOf: now.Add(-7 * time.Hour), Fixed: fixed})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Batches) != 4 {
		t.Fatalf("demo load: %+v", rep.Batches)
	}
	w.m = made[0]
	roots, err := pki.LoadCertificates(layout.RootCert())
	if err != nil {
		t.Fatal(err)
	}
	var offers []issuance.OfferConfig
	for _, ty := range allTypes {
		offers = append(offers, issuance.OfferConfig{Type: ty, Name: string(ty), Fee: 300})
	}
	svc, err := issuance.NewService(issuance.Service{Clock: w.clock, Ledger: w.store, Registry: w.store, Verifier: pki.NewVerifier(roots, w.clock),
		Renderer: w.rec, SessionTTL: 10 * time.Minute, MaxCopies: 10,
		Municipalities: map[string]issuance.Municipality{lg: {Code: lg, Name: "千代田区", Prefecture: "東京都",
			Mayor: "千代田区長　中村　直人", SealPNG: citySeal, MinAge: 15, Hours: issuance.DefaultHours, Offers: offers}},
		MaxStaleness: map[string]map[issuance.DataDomain]time.Duration{lg: {}},
		Applications: w.store, Facts: pki.NewFactsVerifier(nil, w.clock), Limiter: registry.NewRateLimiter(w.db.Pool)})
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	for _, d := range issuance.Domains {
		w.svc.MaxStaleness[lg][d] = 26 * time.Hour // every domain bounded, as `issuance serve` always has
	}
	return w
}

// terminals numbers the kiosks: each login has its own, since a new session
// on a terminal ends the terminal's previous one.
var terminals atomic.Int64

func (w *rulesWorld) login(t *testing.T, svc *issuance.Service, card string) (string, []issuance.Offer) {
	t.Helper()
	ctx := context.Background()
	caller := issuance.Caller{LGCode: lg, TerminalID: fmt.Sprintf("K%d", terminals.Add(1))}
	s, err := svc.BeginSession(ctx, caller)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := pki.LoadCertificates(w.layout.CardCert(card))
	key, err := pki.LoadPrivateKey(w.layout.CardKey(card))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := pki.Sign(key, issuance.AuthMessage(s.Challenge, s.SessionID))
	if err != nil {
		t.Fatal(err)
	}
	menu, err := svc.Authenticate(ctx, caller, s.SessionID, cs[0].Raw, sig)
	if err != nil {
		t.Fatalf("card %s: %v", card, err)
	}
	return s.SessionID, menu
}

// request asks for a certificate from the terminal of the session.
func (w *rulesWorld) request(svc *issuance.Service, sid string, ty issuance.CertType, o issuance.Options) (issuance.IssuedCertificate, error) {
	sess, err := w.store.Session(context.Background(), lg, sid)
	if err != nil {
		return issuance.IssuedCertificate{}, err
	}
	caller := issuance.Caller{LGCode: sess.LGCode, TerminalID: sess.TerminalID}
	return svc.RequestCertificate(context.Background(), caller, issuance.CertificateRequest{SessionID: sid, Type: ty, Copies: 1, Options: o})
}

// renderedOrNotYet accepts a certificate, or the renderer's refusal of a
// type whose layout has not landed; anything else fails.
func renderedOrNotYet(t *testing.T, ty issuance.CertType, err error) bool {
	t.Helper()
	var e *issuance.Error
	if err == nil {
		return true
	}
	if errors.As(err, &e) && e.Code == issuance.UnsupportedOption && strings.HasPrefix(e.Detail, "render") {
		t.Logf("%s: the renderer has no layout yet (%s)", ty, e.Detail)
		return false
	}
	t.Fatalf("%s: %v", ty, err)
	return false
}

// Every card's menu shows each type available or refused with the reason
// its data calls for.
func TestMenuFollowsTheRecords(t *testing.T) {
	w := newRulesWorld(t)
	all := func(r issuance.Reason) map[issuance.CertType]issuance.Reason {
		out := map[issuance.CertType]issuance.Reason{}
		for _, ty := range allTypes {
			out[ty] = r
		}
		return out
	}
	with := func(m map[issuance.CertType]issuance.Reason, kv ...any) map[issuance.CertType]issuance.Reason {
		for i := 0; i < len(kv); i += 2 {
			for _, ty := range kv[i].([]issuance.CertType) {
				m[ty] = kv[i+1].(issuance.Reason)
			}
		}
		return m
	}
	tax := []issuance.CertType{issuance.TaxIncome, issuance.TaxAssessment, issuance.TaxPayment}
	koseki := []issuance.CertType{issuance.KosekiZenbu, issuance.KosekiKojin, issuance.Fuhyo}
	want := map[string]map[issuance.CertType]issuance.Reason{
		"a": all(""),
		"b": with(all(""), []issuance.CertType{issuance.Inkan}, issuance.SealRegistrationAbolished, tax, issuance.NoTaxRecord),
		"c": with(all(""), []issuance.CertType{issuance.Inkan}, issuance.SealRegistrationSuspended, tax, issuance.NotResidentOnJanuary1,
			koseki, issuance.HonsekiNotHere),
		"d": with(all(""), []issuance.CertType{issuance.Inkan}, issuance.SealNotRegistered, koseki, issuance.KosekiPending),
		"e": with(all(""), koseki, issuance.HonsekiNotHere),
		"f": all(issuance.StopListed),
		"g": with(all(""), []issuance.CertType{issuance.KosekiZenbu, issuance.Fuhyo}, issuance.SupportMeasure),
		"h": with(all(""), []issuance.CertType{issuance.KosekiZenbu, issuance.Fuhyo}, issuance.SupportMeasure),
	}
	for card, types := range want {
		_, menu := w.login(t, w.svc, card)
		if len(menu) != len(allTypes) {
			t.Fatalf("card %s: %d offers", card, len(menu))
		}
		for _, o := range menu {
			if o.UnavailableReason != types[o.Type] || o.Available != (types[o.Type] == "") {
				t.Errorf("card %s %s: available=%v reason=%q, want %q", card, o.Type, o.Available, o.UnavailableReason, types[o.Type])
			}
			if slices.Contains(tax, o.Type) && !slices.Equal(o.TaxYears, []int{2026}) {
				t.Errorf("card %s %s: tax years %v, want [2026]", card, o.Type, o.TaxYears)
			}
		}
		// A request is refused for the same reason as the menu says.
		sid, _ := w.login(t, w.svc, card)
		for _, ty := range allTypes {
			if types[ty] == "" {
				continue
			}
			_, err := w.request(w.svc, sid, ty, issuance.Options{})
			if !errors.Is(err, types[ty]) {
				t.Errorf("card %s %s: request %v, want %s", card, ty, err, types[ty])
			}
		}
	}
}

// Each certificate is built from the requester's own records: the active
// seal with its impression, the latest year's tax record, their 戸籍 (all
// of it, their entry only, or its 附票), and the ledger records the data
// versions it was built from.
func TestCertificatesCarryTheRequestersRecords(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	p1 := w.people["a"]
	sid, _ := w.login(t, w.svc, "a")
	versions, err := w.store.DataVersions(ctx, lg)
	if err != nil {
		t.Fatal(err)
	}
	seqOf := func(d issuance.DataDomain) int64 {
		i := slices.IndexFunc(versions, func(v issuance.DataVersion) bool { return v.Domain == d })
		return versions[i].Seq
	}
	for _, ty := range allTypes[1:] {
		res, err := w.request(w.svc, sid, ty, issuance.Options{})
		doc := w.rec.last()
		if doc.Type != ty || len(doc.Persons) != 1 || doc.Persons[0].ID != p1.ID || doc.Attestation == "" {
			t.Fatalf("%s: document %+v", ty, doc)
		}
		switch ty {
		case issuance.Inkan:
			want := slices.IndexFunc(w.m.Seals, func(s issuance.SealRegistration) bool { return s.PersonID == p1.ID })
			if doc.Seal == nil || doc.Seal.State != issuance.SealActive || !bytes.Equal(doc.Seal.ImagePNG, w.m.Seals[want].ImagePNG) {
				t.Fatalf("seal: %+v", doc.Seal)
			}
		case issuance.TaxIncome, issuance.TaxAssessment, issuance.TaxPayment:
			if doc.Tax == nil || doc.Tax.Year != 2026 || doc.Tax.PersonID != p1.ID || len(doc.Tax.Incomes) == 0 {
				t.Fatalf("tax: %+v", doc.Tax)
			}
		case issuance.KosekiZenbu:
			if doc.Koseki == nil || len(doc.Koseki.Members) != 3 || doc.Koseki.Hittousha != "山田 太郎" || doc.Koseki.Fuhyo != nil {
				t.Fatalf("全部事項: %+v", doc.Koseki)
			}
			if doc.Koseki.Members[1].GivenName != "花子" || len(doc.Koseki.Members[0].Events) == 0 {
				t.Fatalf("全部事項 members: %+v", doc.Koseki.Members)
			}
		case issuance.KosekiKojin:
			if doc.Koseki == nil || len(doc.Koseki.Members) != 1 || doc.Koseki.Members[0].PersonID != p1.ID {
				t.Fatalf("個人事項: %+v", doc.Koseki)
			}
		case issuance.Fuhyo:
			if doc.Koseki == nil || len(doc.Koseki.Fuhyo) != 3 || doc.Koseki.Fuhyo[0].Addresses[len(doc.Koseki.Fuhyo[0].Addresses)-1].Address != p1.Address {
				t.Fatalf("附票: %+v", doc.Koseki)
			}
		}
		if !renderedOrNotYet(t, ty, err) {
			continue
		}
		if !bytes.HasPrefix(res.PDF, []byte("%PDF")) || res.PageCount < 1 {
			t.Fatalf("%s: not a PDF", ty)
		}
		is, err := w.store.Issuance(ctx, lg, res.IssuanceID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[issuance.CertType]issuance.DataDomain{issuance.Inkan: issuance.DomainSeal, issuance.TaxIncome: issuance.DomainTax,
			issuance.TaxAssessment: issuance.DomainTax, issuance.TaxPayment: issuance.DomainTax, issuance.KosekiZenbu: issuance.DomainKoseki,
			issuance.KosekiKojin: issuance.DomainKoseki, issuance.Fuhyo: issuance.DomainKoseki}[ty]
		if len(is.DataVersions) != 2 || is.DataVersions[0] != (issuance.DataVersion{Domain: issuance.DomainResident, Seq: seqOf(issuance.DomainResident)}) ||
			is.DataVersions[1] != (issuance.DataVersion{Domain: want, Seq: seqOf(want)}) {
			t.Fatalf("%s: ledger versions %+v", ty, is.DataVersions)
		}
	}
	// Only the latest tax year is offered.
	if _, err := w.request(w.svc, sid, issuance.TaxIncome, issuance.Options{TaxYear: 2025}); !errors.Is(err, issuance.UnsupportedOption) {
		t.Fatalf("an older tax year: %v", err)
	}
	// Before the June switch the latest year is the previous one.
	w.clock.Set(time.Date(2026, 5, 29, 10, 0, 0, 0, issuance.Tokyo))
	sid, menu := w.login(t, w.svc, "a")
	if i := slices.IndexFunc(menu, func(o issuance.Offer) bool { return o.Type == issuance.TaxIncome }); !slices.Equal(menu[i].TaxYears, []int{2025}) {
		t.Fatalf("in May: %v", menu[i].TaxYears)
	}
	_, err = w.request(w.svc, sid, issuance.TaxIncome, issuance.Options{})
	if doc := w.rec.last(); doc.Tax == nil || doc.Tax.Year != 2025 {
		t.Fatalf("in May: %+v %v", doc.Tax, err)
	}
}

// The 個人番号 is opened only for a 住民票 that asks for it, and 本籍 is left
// out unless asked for; at rest the number is sealed.
func TestMyNumberOnlyWhenAsked(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	saved := maps.Clone(issuance.PrintedOptions)
	issuance.PrintedOptions["includeMyNumber"], issuance.PrintedOptions["includeHonseki"] = true, true
	defer func() { issuance.PrintedOptions = saved }()
	sid, _ := w.login(t, w.svc, "a")
	var want string
	for _, h := range w.m.Households {
		for _, p := range h.Members {
			if p.ID == "P1" {
				want = p.MyNumber
			}
		}
	}
	_, err := w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{})
	doc := w.rec.last()
	if err != nil || doc.Persons[0].MyNumber != "" || doc.Persons[0].Honseki != "" {
		t.Fatalf("not asked: %q %q %v", doc.Persons[0].MyNumber, doc.Persons[0].Honseki, err)
	}
	_, err = w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{IncludeMyNumber: true, IncludeHonseki: true})
	doc = w.rec.last()
	if doc.Persons[0].MyNumber != want || !feed.ValidMyNumber(want) || doc.Persons[0].Honseki == "" {
		t.Fatalf("asked: %q (want %q), 本籍 %q, %v", doc.Persons[0].MyNumber, want, doc.Persons[0].Honseki, err)
	}
	var sealed []byte
	if err := w.db.Owner.QueryRow(ctx, `SELECT my_number FROM person WHERE lg_code = $1 AND person_id = 'P1'`, lg).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(want)) || len(sealed) < 12+16 {
		t.Fatal("the 個人番号 is not sealed at rest")
	}
	if _, err := testKey(t).Open(lg, "P1", sealed); err == nil {
		t.Fatal("another key opened it")
	}
	if _, err := w.key.Open(lg, "P2", sealed); err == nil {
		t.Fatal("it opened as another person's")
	}
}

// A stop list entry stops issuance concerning the person at once on every
// node (no cache), survives a restart, and stops what a request in flight
// would reserve.
func TestStopListOnEveryNodeAtOnce(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	pool2, err := pgxpool.New(ctx, w.db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	node2 := *w.svc
	store2 := registry.NewStore(pool2, registry.WithMyNumberKey(w.key))
	node2.Ledger, node2.Registry = store2, store2
	sid, _ := w.login(t, &node2, "a")
	if _, err := w.request(&node2, sid, issuance.Juminhyo, issuance.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: "P1", Note: "確認中", By: "clerk01", At: now}); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: "P1", By: "clerk02", At: now}); !errors.Is(err, registry.ErrAlreadyStopped) {
		t.Fatalf("stopped twice: %v", err)
	}
	if _, err := w.request(&node2, sid, issuance.Juminhyo, issuance.Options{}); !errors.Is(err, issuance.StopListed) {
		t.Fatalf("the other node, right after: %v", err)
	}
	// A household 住民票 printing P1, asked for by P2, is stopped too.
	sid2, _ := w.login(t, &node2, "b")
	if _, err := w.request(&node2, sid2, issuance.Juminhyo, issuance.Options{Scope: issuance.ScopeHousehold}); !errors.Is(err, issuance.StopListed) {
		t.Fatalf("a certificate printing a stopped person: %v", err)
	}
	// A restarted node (a new pool) still sees it.
	pool3, _ := pgxpool.New(ctx, w.db.AppURL)
	defer pool3.Close()
	if st, err := registry.NewStore(pool3).Stopped(ctx, lg, []string{"P1"}); err != nil || !st {
		t.Fatalf("after restart: %v %v", st, err)
	}
	list, err := w.store.StopList(ctx, lg, false)
	if err != nil || len(list) != 2 || !slices.ContainsFunc(list, func(e registry.StopEntry) bool { return e.PersonID == "P1" && e.By == "clerk01" }) {
		t.Fatalf("list: %+v %v", list, err)
	}
	// In flight: the entry lands after the checks and before the
	// reservation; the reservation refuses.
	if err := w.store.Lift(ctx, lg, "P1", "clerk01", now); err != nil {
		t.Fatal(err)
	}
	w.rec.gate = func(*issuance.Document) {
		w.rec.gate = nil
		if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: "P1", By: "clerk01", At: now}); err != nil {
			t.Error(err)
		}
	}
	if _, err := w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{}); !errors.Is(err, issuance.StopListed) {
		t.Fatalf("stopped in flight: %v", err)
	}
	hist, _ := w.store.StopList(ctx, lg, true)
	if len(hist) != 3 || hist[len(hist)-1].LiftedBy != "clerk01" {
		t.Fatalf("history: %+v", hist)
	}
	if err := w.store.Lift(ctx, lg, "P404", "clerk01", now); !errors.Is(err, registry.ErrNotStopped) {
		t.Fatalf("lift of nobody: %v", err)
	}
}

// Data older than its domain's limit is refused with DataStale, per domain.
func TestStaleDataIsRefused(t *testing.T) {
	w := newRulesWorld(t)
	w.svc.MaxStaleness = map[string]map[issuance.DataDomain]time.Duration{lg: {
		issuance.DomainResident: 24 * time.Hour, issuance.DomainSeal: 24 * time.Hour, issuance.DomainTax: 3 * time.Hour}}
	sid, _ := w.login(t, w.svc, "a")
	// The data is 7 hours old: tax is stale, the rest fresh.
	if _, err := w.request(w.svc, sid, issuance.TaxIncome, issuance.Options{}); !errors.Is(err, issuance.DataStale) {
		t.Fatalf("stale tax: %v", err)
	}
	if _, err := w.request(w.svc, sid, issuance.Inkan, issuance.Options{}); errors.Is(err, issuance.DataStale) {
		t.Fatalf("fresh seal data refused: %v", err)
	}
	w.clock.Advance(24 * time.Hour)
	sid, _ = w.login(t, w.svc, "a")
	if _, err := w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{}); !errors.Is(err, issuance.DataStale) {
		t.Fatalf("stale resident data: %v", err)
	}
}

// A domain without a freshness bound is not certified at all: no bound is
// not "no limit" (the configuration gives every domain one; a Service
// built without is refused, not trusted).
func TestDomainWithoutABoundIsRefused(t *testing.T) {
	w := newRulesWorld(t)
	w.svc.MaxStaleness = map[string]map[issuance.DataDomain]time.Duration{lg: {issuance.DomainResident: 24 * time.Hour}}
	sid, _ := w.login(t, w.svc, "a")
	if _, err := w.request(w.svc, sid, issuance.Inkan, issuance.Options{}); !errors.Is(err, issuance.DataStale) {
		t.Fatalf("seal data without a bound: %v", err)
	}
	if _, err := w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{}); err != nil {
		t.Fatalf("resident data within its bound: %v", err)
	}
	w.svc.MaxStaleness = nil
	sid, _ = w.login(t, w.svc, "a")
	if _, err := w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{}); !errors.Is(err, issuance.DataStale) {
		t.Fatalf("no bounds at all: %v", err)
	}
}

// applyHousehold changes household id through a resident delta, applied by
// the real sync; it returns the new version.
func (w *rulesWorld) applyHousehold(t testing.TB, id string, change func(*issuance.Household)) int64 {
	t.Helper()
	ctx := context.Background()
	i := slices.IndexFunc(w.m.Households, func(h issuance.Household) bool { return h.ID == id })
	h := w.m.Households[i]
	h.Members = slices.Clone(h.Members)
	change(&h)
	w.m.Households[i] = h
	sub := *w.m
	sub.Households, sub.Links, sub.Renewals = []issuance.Household{h}, nil, nil
	vs, err := w.store.DataVersions(ctx, lg)
	if err != nil {
		t.Fatal(err)
	}
	seq := vs[slices.IndexFunc(vs, func(v issuance.DataVersion) bool { return v.Domain == issuance.DomainResident })].Seq + 1
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Delta, seq, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := registry.NewSyncer(w.db.Pool, registry.SyncOptions{Inbox: w.inbox, Municipalities: []string{lg}, MyNumberKey: w.key, Clock: w.clock}).Run(ctx)
	if err != nil || rep.Err() != nil {
		t.Fatalf("delta: %v %v", err, rep.Err())
	}
	return seq
}

// A switch while a certificate is being built: the reservation finds the
// data version moved, the certificate is built again from the new data,
// and that decides. Nothing of the old state is reserved after the switch.
func TestSwitchDuringARequest(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	sid, _ := w.login(t, w.svc, "a")

	// The person moves out while their 住民票 is being rendered.
	w.rec.gate = func(*issuance.Document) {
		w.rec.gate = nil
		w.applyHousehold(t, "H1", func(h *issuance.Household) { h.Members[0].Status = issuance.StatusMovedOut })
	}
	before := len(w.rec.docs)
	if _, err := w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{}); !errors.Is(err, issuance.MovedOut) {
		t.Fatalf("moved out during the request: %v", err)
	}
	var n int
	w.db.Owner.QueryRow(ctx, `SELECT count(*) FROM issuance WHERE session_id = $1`, sid).Scan(&n)
	if n != 0 || len(w.rec.docs) != before+1 {
		t.Fatalf("%d reserved, %d rendered", n, len(w.rec.docs)-before)
	}

	// Their wife's address changes while her certificate is rendered: she
	// receives the new address, built from the new version.
	sid, _ = w.login(t, w.svc, "b")
	var seq int64
	w.rec.gate = func(*issuance.Document) {
		w.rec.gate = nil
		seq = w.applyHousehold(t, "H1", func(h *issuance.Household) {
			h.Address = "東京都千代田区九段北一丁目1番1号"
			for i := range h.Members {
				h.Members[i].Address = h.Address
			}
		})
	}
	res, err := w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc := w.rec.last()
	is, _ := w.store.Issuance(ctx, lg, res.IssuanceID)
	if doc.ID != res.IssuanceID || doc.Persons[0].Address != "東京都千代田区九段北一丁目1番1号" ||
		is.DataVersions[0] != (issuance.DataVersion{Domain: issuance.DomainResident, Seq: seq}) {
		t.Fatalf("after the switch: %q, versions %+v", doc.Persons[0].Address, is.DataVersions)
	}
	if !strings.Contains(testkit.PDFText(t, res.PDF), "九段北一丁目") {
		t.Fatal("the PDF does not show the new address")
	}
}

// Many requests in flight while the registry switches again and again:
// every certificate reserved shows exactly the data of the version it
// records, and that version was current when it was reserved.
func TestConcurrentRequestsAcrossSwitches(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	addr := func(v int64) string { return fmt.Sprintf("東京都千代田区九段南一丁目%d番1号", v) }
	var mu sync.Mutex
	docs := map[string]*issuance.Document{}
	w.rec.gate = func(d *issuance.Document) {
		mu.Lock()
		docs[d.ID] = d
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var issued sync.Map
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sid, _ := w.login(t, w.svc, []string{"a", "b"}[g%2])
				res, err := w.request(w.svc, sid, issuance.Juminhyo, issuance.Options{})
				if err != nil && !errors.Is(err, issuance.Unavailable) {
					t.Error(err)
					return
				}
				if err == nil {
					issued.Store(res.IssuanceID, true)
				}
			}
		}()
	}
	// The address each version of H1 has.
	versions := map[int64]string{1: w.people["a"].Address}
	for i := 0; i < 12; i++ {
		seq := w.applyHousehold(t, "H1", func(h *issuance.Household) {}) // a switch that changes nothing
		versions[seq] = versions[seq-1]
		seq = w.applyHousehold(t, "H1", func(h *issuance.Household) {
			h.Address = addr(seq + 1)
			for i := range h.Members {
				h.Members[i].Address = h.Address
			}
		})
		versions[seq] = addr(seq)
	}
	close(stop)
	wg.Wait()
	count := 0
	issued.Range(func(k, _ any) bool {
		count++
		is, err := w.store.Issuance(ctx, lg, k.(string))
		if err != nil {
			t.Fatal(err)
		}
		v := is.DataVersions[0].Seq
		mu.Lock()
		got := docs[is.ID].Household.Address
		mu.Unlock()
		if got != versions[v] {
			t.Errorf("issuance %s records version %d but shows %q (version %d has %q)", is.ID, v, got, v, versions[v])
		}
		return true
	})
	if count < 8 {
		t.Fatalf("only %d certificates issued", count)
	}
}

// Deaths, new 支援措置, abolished registrations and removed people take
// effect at the switch, for sessions that authenticated before it.
func TestChangesTakeEffectAtTheSwitch(t *testing.T) {
	w := newRulesWorld(t)
	ctx := context.Background()
	sidA, _ := w.login(t, w.svc, "a") // 山田 太郎, H1
	sidB, _ := w.login(t, w.svc, "b") // 山田 花子, H1
	sidG, _ := w.login(t, w.svc, "g") // 高橋 修, H6
	if _, err := w.request(w.svc, sidA, issuance.Inkan, issuance.Options{}); err != nil {
		t.Fatal(err)
	}
	// His seal registration is abolished.
	i := slices.IndexFunc(w.m.Seals, func(s issuance.SealRegistration) bool { return s.PersonID == "P1" })
	seal := w.m.Seals[i]
	seal.State = issuance.SealAbolished
	sub := *w.m
	sub.Seals = []issuance.SealRegistration{seal}
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainSeal, feed.CSV, feed.Delta, 2, nil); err != nil {
		t.Fatal(err)
	}
	if rep, err := registry.NewSyncer(w.db.Pool, registry.SyncOptions{Inbox: w.inbox, Municipalities: []string{lg}, MyNumberKey: w.key, Clock: w.clock}).Run(ctx); err != nil || rep.Err() != nil {
		t.Fatal(err, rep.Err())
	}
	if _, err := w.request(w.svc, sidA, issuance.Inkan, issuance.Options{}); !errors.Is(err, issuance.SealRegistrationAbolished) {
		t.Fatalf("abolished: %v", err)
	}
	// His wife comes under 支援措置: the household 住民票 may not print her.
	w.applyHousehold(t, "H1", func(h *issuance.Household) { h.Members[1].SupportMeasure = true })
	if _, err := w.request(w.svc, sidA, issuance.Juminhyo, issuance.Options{Scope: issuance.ScopeHousehold}); !errors.Is(err, issuance.SupportMeasure) {
		t.Fatalf("new 支援措置 of a member: %v", err)
	}
	if _, err := w.request(w.svc, sidB, issuance.Juminhyo, issuance.Options{}); !errors.Is(err, issuance.SupportMeasure) {
		t.Fatalf("new 支援措置 of the requester: %v", err)
	}
	// He dies.
	w.applyHousehold(t, "H1", func(h *issuance.Household) { h.Members[0].Status = issuance.StatusDeceased })
	if _, err := w.request(w.svc, sidA, issuance.Juminhyo, issuance.Options{}); !errors.Is(err, issuance.Deceased) {
		t.Fatalf("deceased: %v", err)
	}
	// 高橋 修 is removed from the registry (his household delivered without him).
	w.applyHousehold(t, "H6", func(h *issuance.Household) {
		h.Members = h.Members[1:]
		h.Head = h.Members[0].ID
	})
	if _, err := w.request(w.svc, sidG, issuance.Juminhyo, issuance.Options{}); !errors.Is(err, issuance.PersonNotFound) {
		t.Fatalf("removed: %v", err)
	}
}
