package issuance_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// offerOf returns the menu's offer of type t.
func offerOf(t *testing.T, menu []issuance.Offer, typ issuance.CertType) issuance.Offer {
	t.Helper()
	i := slices.IndexFunc(menu, func(o issuance.Offer) bool { return o.Type == typ })
	if i < 0 {
		t.Fatalf("no %s in the menu %+v", typ, menu)
	}
	return menu[i]
}

// A kiosk 住民票 shows the people currently recorded: a member who moved
// out or died is neither offered for choice nor printed on a household copy.
func TestHouseholdShowsOnlyCurrentMembers(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	gone := person("P3", "一郎", "子", time.Date(2001, 1, 5, 0, 0, 0, 0, issuance.Tokyo))
	gone.Status = issuance.StatusMovedOut
	dead := person("P4", "梅", "母", time.Date(1931, 3, 3, 0, 0, 0, 0, issuance.Tokyo))
	dead.Status = issuance.StatusDeceased
	w.hh.Members = append(w.hh.Members, gone, dead)
	w.load(t)

	sid, menu, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range offerOf(t, menu, issuance.Juminhyo).Members {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"山田 太郎", "山田 花子"}) {
		t.Errorf("members offered: %q, want only the current ones", names)
	}
	got, err := w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo,
		Copies: 1, Options: issuance.Options{Scope: issuance.ScopeHousehold}})
	if err != nil {
		t.Fatal(err)
	}
	is, err := w.store.Issuance(ctx, lg, got.IssuanceID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(is.Subjects, []string{"P1", "P2"}) {
		t.Errorf("household copy printed %v, want [P1 P2]", is.Subjects)
	}
}

// The 世帯主 printed beside 続柄 (or as the 記載事項 "head") is a subject:
// checked against 支援措置 and the stop list, and recorded in the ledger.
func TestHeadOfHouseholdIsASubject(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	m := w.svc.Municipalities[lg]
	m.Offers = append(m.Offers, issuance.OfferConfig{Type: issuance.Kisai, Name: "住民票記載事項証明書", Fee: 200})
	w.svc.Municipalities[lg] = m
	request := func(t *testing.T, req issuance.CertificateRequest) (issuance.Issuance, error) {
		t.Helper()
		sid, _, err := w.login(t, "b") // P2, the wife; P1 is the head
		if err != nil {
			t.Fatal(err)
		}
		req.SessionID, req.Copies = sid, 1
		got, err := w.svc.RequestCertificate(ctx, caller, req)
		if err != nil {
			return issuance.Issuance{}, err
		}
		return w.store.Issuance(ctx, lg, got.IssuanceID)
	}
	withHead := map[string]issuance.CertificateRequest{
		"続柄":   {Type: issuance.Juminhyo, Options: issuance.Options{IncludeRelationship: true}},
		"記載事項": {Type: issuance.Kisai, Options: issuance.Options{Items: []string{"name", "head"}}},
	}
	for name, req := range withHead {
		is, err := request(t, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(is.Subjects, []string{"P2", "P1"}) {
			t.Errorf("%s: subjects %v, want the requester and the head [P2 P1]", name, is.Subjects)
		}
	}
	is, err := request(t, issuance.CertificateRequest{Type: issuance.Juminhyo})
	if err != nil || !slices.Equal(is.Subjects, []string{"P2"}) {
		t.Fatalf("without 続柄 the head is not printed: %v %v", is.Subjects, err)
	}

	if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: "P1", By: "clerk", At: t0}); err != nil {
		t.Fatal(err)
	}
	for name, req := range withHead {
		if _, err := request(t, req); !errors.Is(err, issuance.StopListed) {
			t.Errorf("%s with the head stop-listed: %v", name, err)
		}
	}
	if err := w.store.Lift(ctx, lg, "P1", "clerk", t0); err != nil {
		t.Fatal(err)
	}
	w.hh.Members[0].SupportMeasure = true
	w.load(t)
	for name, req := range withHead {
		if _, err := request(t, req); !errors.Is(err, issuance.SupportMeasure) {
			t.Errorf("%s with the head under 支援措置: %v", name, err)
		}
	}
	if _, err := request(t, issuance.CertificateRequest{Type: issuance.Juminhyo}); err != nil {
		t.Errorf("the wife's own copy without the head: %v", err)
	}
}

// onlyRegistry hides everything of the store but the issuance.Registry
// port, as a wrapper (a cache, an instrumented store) would.
type onlyRegistry struct{ issuance.Registry }

// The stop list, data versions and freshness are checked whatever value
// stands behind the Registry port: no wrapper switches them off.
func TestSafetyChecksSurviveAWrappedRegistry(t *testing.T) {
	w := newWorld(t)
	w.svc.Registry = onlyRegistry{w.store}
	ctx := context.Background()
	if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: "P1", By: "clerk", At: t0}); err != nil {
		t.Fatal(err)
	}
	sid, menu, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	if o := offerOf(t, menu, issuance.Juminhyo); o.Available || o.UnavailableReason != issuance.StopListed {
		t.Errorf("offer to a stop-listed person: %+v", o)
	}
	_, err = w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo, Copies: 1})
	if !errors.Is(err, issuance.StopListed) {
		t.Errorf("request of a stop-listed person through a wrapped registry: %v", err)
	}
}

// What the registry does not hold cannot be printed: the offer says so
// before the request (a foreign resident has no 本籍 to include), and a
// request for it is refused with a reason of its own, not answered as an
// outage to be retried.
func TestDataFaultsAreNotOutages(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for i := range w.hh.Members {
		w.hh.Members[i].Foreign = &issuance.ForeignResident{Nationality: "大韓民国", ResidenceStatus: "永住者"}
	}
	w.load(t)
	sid, menu, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	if o := offerOf(t, menu, issuance.Juminhyo); slices.Contains(o.Options, "includeHonseki") {
		t.Errorf("includeHonseki offered to a household of foreign residents: %v", o.Options)
	}
	_, err = w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo,
		Copies: 1, Options: issuance.Options{IncludeHonseki: true}})
	if !errors.Is(err, issuance.NoHonseki) {
		t.Errorf("includeHonseki for a foreign resident: %v", err)
	}

	// A head of household who is no longer recorded cannot be printed.
	w.hh.Head = "P9"
	w.load(t)
	sid, menu, err = w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	if o := offerOf(t, menu, issuance.Juminhyo); slices.Contains(o.Options, "includeRelationship") {
		t.Errorf("includeRelationship offered without a recorded head: %v", o.Options)
	}
	_, err = w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo,
		Copies: 1, Options: issuance.Options{IncludeRelationship: true}})
	if !errors.Is(err, issuance.RecordIncomplete) {
		t.Errorf("続柄 without a recorded head: %v", err)
	}
}

// A type with hours of its own is offered as unavailable outside them and
// refused if asked for; a maintenance window closes the whole service, even
// to a session begun before it.
func TestTypeHoursAndMaintenance(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	m := w.svc.Municipalities[lg]
	m.TypeHours = map[issuance.CertType]issuance.ServiceHours{issuance.Juminhyo: {Open: 9 * 60, Close: 17 * 60,
		Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}}}
	w.svc.Municipalities[lg] = m
	request := func(sid string) error {
		_, err := w.svc.RequestCertificate(ctx, caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo, Copies: 1})
		return err
	}

	w.clock.Set(t0.Add(9 * time.Hour)) // 18:00
	sid, menu, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	if o := offerOf(t, menu, issuance.Juminhyo); o.Available || o.UnavailableReason != issuance.OutsideTypeHours {
		t.Errorf("offer after the type's hours: %+v", o)
	}
	if err := request(sid); !errors.Is(err, issuance.OutsideServiceHours) {
		t.Errorf("request after the type's hours: %v", err)
	}

	w.clock.Set(t0.Add(7 * time.Hour)) // 16:00, inside both
	sid, menu, err = w.login(t, "a")
	if err != nil || !offerOf(t, menu, issuance.Juminhyo).Available {
		t.Fatalf("within the type's hours: %+v %v", menu, err)
	}
	m.Maintenance = []issuance.Window{{From: t0.Add(7*time.Hour + 5*time.Minute), Until: t0.Add(8 * time.Hour)}} // 16:05–17:00
	w.svc.Municipalities[lg] = m
	w.clock.Advance(6 * time.Minute) // the session is still alive
	if err := request(sid); !errors.Is(err, issuance.OutsideServiceHours) {
		t.Errorf("request in a maintenance window: %v", err)
	}
	if _, err := w.svc.BeginSession(ctx, caller); !errors.Is(err, issuance.OutsideServiceHours) {
		t.Errorf("session in a maintenance window: %v", err)
	}
}

// Requests that print the 世帯主 race a clerk stop-listing the head: every
// certificate issued names the head among its subjects, and none begun
// after the stop took effect is issued.
func TestHeadStopListedUnderLoad(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	var (
		stopped  atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []string
		first    = make(chan struct{})
		once     sync.Once
	)
	report := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := issuance.Caller{LGCode: lg, TerminalID: fmt.Sprintf("K%d", g)}
			for range 6 {
				after := stopped.Load()
				sid, _, err := w.loginAt(c, "b")
				if err != nil {
					report("login: %v", err)
					return
				}
				got, err := w.svc.RequestCertificate(ctx, c, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo,
					Copies: 1, Options: issuance.Options{IncludeRelationship: true}})
				switch {
				case err == nil && after:
					report("issued after the head was stop-listed")
				case err == nil:
					once.Do(func() { close(first) })
					is, err := w.store.Issuance(ctx, lg, got.IssuanceID)
					if err != nil || !slices.Equal(is.Subjects, []string{"P2", "P1"}) {
						report("subjects %v %v", is.Subjects, err)
					}
				case !errors.Is(err, issuance.StopListed):
					report("request: %v", err)
				}
			}
		}()
	}
	go func() { wg.Wait(); once.Do(func() { close(first) }) }()
	<-first // some requests are issued before the stop
	if err := w.store.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: "P1", By: "clerk", At: t0}); err != nil {
		t.Fatal(err)
	}
	stopped.Store(true)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
}
