package issuance_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/pki/devpki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/render"
)

const lg = "131016"

// t0 is a weekday morning inside the default service hours.
var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, issuance.Tokyo)

type world struct {
	svc    *issuance.Service
	store  *registry.Store
	clock  *issuance.ManualClock
	layout devpki.DevLayout
	hh     issuance.Household
}

func person(id, given, rel string, born time.Time) issuance.Person {
	return issuance.Person{LGCode: lg, ID: id, HouseholdID: "H1", FamilyName: "山田", GivenName: given,
		FamilyKana: "ヤマダ", GivenKana: "タロウ", BirthDate: born, Sex: issuance.Male, Relationship: rel,
		Address: "東京都千代田区九段南一丁目2番1号", Status: issuance.StatusResident}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{clock: issuance.NewManualClock(t0), layout: devpki.DevLayout{KeysDir: filepath.Join(dir, "k"), KitDir: filepath.Join(dir, "kit")}}
	if err := devpki.GenerateDev(w.layout, []devpki.DevCard{{ID: "a"}, {ID: "b"}}, t0); err != nil {
		t.Fatal(err)
	}
	roots, err := pki.LoadCertificates(w.layout.RootCert())
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.New("/usr/share/fonts/truetype/ipamj/ipamjm.ttf")
	if err != nil {
		t.Fatal(err)
	}
	seal, err := render.DevSeal("/usr/share/fonts/truetype/ipamj/ipamjm.ttf", "千代田区長之印")
	if err != nil {
		t.Fatal(err)
	}
	db := dbtest.New(t)
	w.store = registry.NewStore(db.Pool)
	w.hh = issuance.Household{LGCode: lg, ID: "H1", Head: "P1", Address: "東京都千代田区九段南一丁目2番1号", Members: []issuance.Person{
		person("P1", "太郎", "世帯主", time.Date(1980, 4, 1, 0, 0, 0, 0, issuance.Tokyo)),
		person("P2", "花子", "妻", time.Date(1982, 7, 15, 0, 0, 0, 0, issuance.Tokyo)),
	}}
	w.load(t)
	svc, err := issuance.NewService(issuance.Service{Clock: w.clock, Ledger: w.store, Registry: w.store, Verifier: pki.NewVerifier(roots, w.clock),
		Renderer: r, SessionTTL: 10 * time.Minute, MaxCopies: 10,
		Municipalities: map[string]issuance.Municipality{lg: {Code: lg, Name: "千代田区", Mayor: "千代田区長　中村　直人",
			SealPNG: seal, MinAge: 15, Hours: issuance.DefaultHours,
			Offers: []issuance.OfferConfig{{Type: issuance.Juminhyo, Name: "住民票の写し", Fee: 200}}}},
		MaxStaleness: map[string]map[issuance.DataDomain]time.Duration{lg: {issuance.DomainResident: 26 * time.Hour}},
		Applications: w.store, Facts: pki.NewFactsVerifier(nil, w.clock), Limiter: registry.NewRateLimiter(db.Pool)})
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	return w
}

// load (re)writes the registry: card a is P1's, card b is P2's.
func (w *world) load(t *testing.T) {
	t.Helper()
	var links []registry.CertLink
	for id, p := range map[string]string{"a": "P1", "b": "P2"} {
		cs, err := pki.LoadCertificates(w.layout.CardCert(id))
		if err != nil {
			t.Fatal(err)
		}
		ci := pki.Identity(cs[0])
		links = append(links, registry.CertLink{IssuerKeyID: ci.IssuerKeyID, Serial: ci.Serial, PersonID: p})
	}
	if err := w.store.ReplaceMunicipality(context.Background(), registry.Snapshot{LGCode: lg,
		Households: []issuance.Household{w.hh}, Links: links, AsOf: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
}

var caller = issuance.Caller{LGCode: lg, TerminalID: "K1"}

// login begins a session and authenticates with card id.
func (w *world) login(t *testing.T, id string) (string, []issuance.Offer, error) {
	t.Helper()
	return w.loginAt(caller, id)
}

// loginAt logs in with card id at the caller's terminal; it is safe to call
// from several goroutines.
func (w *world) loginAt(c issuance.Caller, id string) (string, []issuance.Offer, error) {
	ctx := context.Background()
	s, err := w.svc.BeginSession(ctx, c)
	if err != nil {
		return "", nil, err
	}
	cs, err := pki.LoadCertificates(w.layout.CardCert(id))
	if err != nil {
		return "", nil, err
	}
	key, err := pki.LoadPrivateKey(w.layout.CardKey(id))
	if err != nil {
		return "", nil, err
	}
	sig, err := pki.Sign(key, issuance.AuthMessage(s.Challenge, s.SessionID))
	if err != nil {
		return "", nil, err
	}
	menu, err := w.svc.Authenticate(ctx, c, s.SessionID, cs[0].Raw, sig)
	return s.SessionID, menu, err
}

func TestServiceHours(t *testing.T) {
	w := newWorld(t)
	for _, at := range []time.Time{
		time.Date(2026, 11, 24, 6, 29, 0, 0, issuance.Tokyo),
		time.Date(2026, 11, 24, 23, 0, 0, 0, issuance.Tokyo),
		time.Date(2026, 12, 30, 12, 0, 0, 0, issuance.Tokyo),
		time.Date(2027, 1, 3, 12, 0, 0, 0, issuance.Tokyo),
	} {
		w.clock.Set(at)
		if _, err := w.svc.BeginSession(context.Background(), caller); !errors.Is(err, issuance.OutsideServiceHours) {
			t.Errorf("%s: %v", at, err)
		}
	}
	w.clock.Set(time.Date(2026, 11, 24, 6, 30, 0, 0, issuance.Tokyo))
	if _, err := w.svc.BeginSession(context.Background(), caller); err != nil {
		t.Errorf("06:30: %v", err)
	}
}

func TestSessionExpires(t *testing.T) {
	w := newWorld(t)
	sid, _, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(10 * time.Minute)
	_, err = w.svc.RequestCertificate(context.Background(), caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo, Copies: 1})
	if !errors.Is(err, issuance.SessionExpired) {
		t.Fatalf("request after the session's time: %v", err)
	}
}

// The first authentication failure ends the session: a second try with the
// right signature on the same session is refused.
func TestFailedAuthenticationEndsTheSession(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s, err := w.svc.BeginSession(ctx, caller)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := pki.LoadCertificates(w.layout.CardCert("a"))
	if _, err := w.svc.Authenticate(ctx, caller, s.SessionID, cs[0].Raw, []byte("not a signature")); !errors.Is(err, issuance.SignatureInvalid) {
		t.Fatalf("bad signature: %v", err)
	}
	key, _ := pki.LoadPrivateKey(w.layout.CardKey("a"))
	sig, _ := pki.Sign(key, issuance.AuthMessage(s.Challenge, s.SessionID))
	if _, err := w.svc.Authenticate(ctx, caller, s.SessionID, cs[0].Raw, sig); !errors.Is(err, issuance.SessionUnknown) {
		t.Fatalf("second try on a failed session: %v", err)
	}
}

// Members are chosen by handles valid only in their own session.
func TestMemberRefsAreSessionScoped(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sid1, menu1, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(menu1) != 1 || !menu1[0].Available || len(menu1[0].Members) != 2 {
		t.Fatalf("menu: %+v", menu1)
	}
	wife := menu1[0].Members[1].Ref
	got, err := w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid1, Type: issuance.Juminhyo, Copies: 2,
		Options: issuance.Options{Scope: issuance.ScopeMembers, MemberRefs: []string{wife}}})
	if err != nil || got.Fee != 400 {
		t.Fatalf("members request: fee %d, %v", got.Fee, err)
	}
	is, err := w.store.Issuance(ctx, lg, got.IssuanceID)
	if err != nil || !slices.Equal(is.Subjects, []string{"P2"}) || is.PersonID != "P1" {
		t.Fatalf("ledger: %+v %v", is, err)
	}
	sid2, _, err := w.login(t, "b")
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid2, Type: issuance.Juminhyo, Copies: 1,
		Options: issuance.Options{Scope: issuance.ScopeMembers, MemberRefs: []string{wife}}})
	if !errors.Is(err, issuance.UnsupportedOption) {
		t.Fatalf("another session's memberRef: %v", err)
	}
}

// A change in the registry between authentication and the request decides
// the request: the record is read again, not remembered.
func TestRegistryChangeAfterAuthentication(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sid, _, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	w.hh.Members[0].Status = issuance.StatusMovedOut
	w.load(t)
	_, err = w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo, Copies: 1})
	if !errors.Is(err, issuance.MovedOut) {
		t.Fatalf("after moving out: %v", err)
	}
	// A household with a member about to move out cannot be printed whole.
	w.hh.Members[0].Status = issuance.StatusResident
	w.hh.Members[1].Status = issuance.StatusMovingOut
	w.load(t)
	_, err = w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo, Copies: 1,
		Options: issuance.Options{Scope: issuance.ScopeHousehold}})
	if !errors.Is(err, issuance.HouseholdMemberMovingOut) {
		t.Fatalf("household with a member moving out: %v", err)
	}
}

func TestUnsupportedOptions(t *testing.T) {
	w := newWorld(t)
	// KISAI is offered, so that its case fails for want of an item and
	// not because the type is missing from the menu.
	m := w.svc.Municipalities[lg]
	m.Offers = append(m.Offers, issuance.OfferConfig{Type: issuance.Kisai, Name: "住民票記載事項証明書", Fee: 200})
	w.svc.Municipalities[lg] = m
	sid, _, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]issuance.CertificateRequest{
		"type not offered": {Type: issuance.Inkan, Copies: 1},
		"zero copies":      {Type: issuance.Juminhyo},
		"too many copies":  {Type: issuance.Juminhyo, Copies: 11},
		"language":         {Type: issuance.Juminhyo, Copies: 1, Language: "xx"},
		"kisai, no item":   {Type: issuance.Kisai, Copies: 1},
		"kisai, unknown":   {Type: issuance.Kisai, Copies: 1, Options: issuance.Options{Items: []string{"name", "bloodType"}}},
		"kisai, repeated":  {Type: issuance.Kisai, Copies: 1, Options: issuance.Options{Items: []string{"name", "name"}}},
		"kisai, 続柄 opt":    {Type: issuance.Kisai, Copies: 1, Options: issuance.Options{Items: []string{"name"}, IncludeRelationship: true}},
		"scope":            {Type: issuance.Juminhyo, Copies: 1, Options: issuance.Options{Scope: "ALL"}},
	} {
		req.SessionID = sid
		if _, err := w.svc.RequestCertificate(context.Background(), caller, req); !errors.Is(err, issuance.UnsupportedOption) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The same session gets a 記載事項証明書 once it names an item.
	if _, err := w.svc.RequestCertificate(context.Background(), caller, issuance.CertificateRequest{SessionID: sid,
		Type: issuance.Kisai, Copies: 1, Options: issuance.Options{Items: []string{"name"}}}); err != nil {
		t.Errorf("kisai with an item: %v", err)
	}
}

func TestAgeOn(t *testing.T) {
	p := issuance.Person{BirthDate: time.Date(2011, 11, 24, 0, 0, 0, 0, issuance.Tokyo)}
	if p.AgeOn(time.Date(2026, 11, 23, 23, 59, 0, 0, issuance.Tokyo)) != 14 || p.AgeOn(t0) != 15 {
		t.Fatal("age is counted in whole years from the birthday")
	}
}
