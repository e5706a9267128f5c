package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/feed"
)

func rekeyKey(t *testing.T, b byte) *registry.MyNumberKey {
	t.Helper()
	k, err := registry.NewMyNumberKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// myNumberOf is a valid 個人番号 for person i.
func myNumberOf(i int) string {
	s := fmt.Sprintf("%011d", 10000000000+i)
	return s + string(feed.MyNumberCheckDigit(s))
}

// A rotation of the 個人番号 key: everything sealed under the old key
// (個人番号 of two municipalities, 本籍 applications with notes and status
// checks, stored answers, TOTP seeds) is re-sealed under the new one in
// small batches while other goroutines read it all and file new
// applications through a node holding both keys; nothing fails to open
// meanwhile, a run over one municipality leaves the other to a later run
// (resumable by key id), and afterwards the new key alone opens
// everything, and the status check says nothing needs the old key.
func TestRekeyMyNumberWhileServing(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	oldKey, newKey := rekeyKey(t, 1), rekeyKey(t, 2)
	before := registry.NewStore(db.Pool, registry.WithMyNumberKey(oldKey))
	lgs := []string{"131016", honsekiLG}
	numbers := map[string]map[string]string{}
	for li, lg := range lgs {
		numbers[lg] = map[string]string{}
		var hs []issuance.Household
		for i := range 5 {
			h := household(lg, fmt.Sprintf("h%d", i), "太郎", "花子")
			for j := range h.Members {
				h.Members[j].MyNumber = myNumberOf(li*100 + i*10 + j)
				numbers[lg][h.Members[j].ID] = h.Members[j].MyNumber
			}
			hs = append(hs, h)
		}
		if err := before.ReplaceMunicipality(ctx, registry.Snapshot{LGCode: lg, Households: hs}); err != nil {
			t.Fatal(err)
		}
	}
	var apps []issuance.Application
	for i := range 5 {
		a := newApplication(issuance.CertIdentity{IssuerKeyID: "ee", Serial: fmt.Sprint(i)})
		if _, _, err := before.FileApplication(ctx, a); err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}
	creds, err := before.AddClerk(ctx, "rekey-clerk", registry.RoleKosekiClerk, []string{honsekiLG}, t0)
	if err != nil {
		t.Fatal(err)
	}
	clock := issuance.NewManualClock(t0)
	answers := map[string][]byte{}
	oldReplay := registry.NewReplay(db.Pool, oldKey, clock)
	for i := range 6 {
		id := fmt.Sprintf("0f8fad5b-d9cb-469f-a165-7086772895%02d", i)
		sum := sha256.Sum256([]byte(id))
		if _, err := oldReplay.Claim(ctx, id, sum[:]); err != nil {
			t.Fatal(err)
		}
		answers[id] = []byte("<answer " + id + "/>")
		if err := oldReplay.Complete(ctx, id, issuance.Stored{Status: 200, Body: answers[id]}); err != nil {
			t.Fatal(err)
		}
	}

	// Every node now has both keys, the new one primary.
	ring := newKey.WithOld(oldKey)
	during := registry.NewStore(db.Pool, registry.WithMyNumberKey(ring))
	replay := registry.NewReplay(db.Pool, ring, clock)
	readAll := func(st *registry.Store, rp *registry.Replay) error {
		for _, lg := range lgs {
			var ids []string
			for id := range numbers[lg] {
				ids = append(ids, id)
			}
			got, err := st.MyNumbers(ctx, lg, ids)
			if err != nil {
				return err
			}
			for id, n := range numbers[lg] {
				if got[id] != n {
					return fmt.Errorf("%s %s: 個人番号 %q", lg, id, got[id])
				}
			}
		}
		for _, a := range apps {
			if _, err := st.ApplicationStatus(ctx, []string{a.LGCode}, a.Number, a.Facts.BirthDate); err != nil {
				return fmt.Errorf("status of %s: %w", a.Number, err)
			}
		}
		for id, body := range answers {
			sum := sha256.Sum256([]byte(id))
			got, err := rp.Claim(ctx, id, sum[:])
			if err != nil || got == nil || !bytes.Equal(got.Body, body) {
				return fmt.Errorf("answer %s: %v %v", id, got, err)
			}
		}
		return nil
	}

	// A first run over one municipality only: the other is left, by key id.
	first, err := during.Rekey(ctx, lgs[:1], 2)
	if err != nil {
		t.Fatal(err)
	}
	if first.Resealed[registry.KindMyNumber] != 10 || first.Resealed[registry.KindReplay] != 6 ||
		first.Resealed[registry.KindTOTP] != 1 || first.Resealed[registry.KindHonseki] != 0 {
		t.Fatalf("first run %+v", first)
	}
	left, err := during.RekeyStatus(ctx, lgs)
	if err != nil {
		t.Fatal(err)
	}
	if left[registry.KindMyNumber][oldKey.ID()] != 10 || left[registry.KindHonseki][oldKey.ID()] == 0 {
		t.Fatalf("after one municipality: %v", left)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	var filed sync.Map
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := readAll(during, replay); err != nil {
					errs <- err
					return
				}
				if g == 0 {
					a := newApplication(issuance.CertIdentity{IssuerKeyID: "ff", Serial: fmt.Sprint(i)})
					if _, _, err := during.FileApplication(ctx, a); err != nil {
						errs <- err
						return
					}
					filed.Store(a.Number, a.Facts.BirthDate)
				}
			}
		}()
	}
	report, err := during.Rekey(ctx, lgs, 2)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error("while rotating:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if report.Resealed[registry.KindMyNumber] != 10 || report.Resealed[registry.KindReplay] != 0 ||
		report.Resealed[registry.KindHonseki] != 5 || len(report.Unopenable) != 0 {
		t.Fatalf("report %+v", report)
	}
	if len(report.Left) != 0 {
		t.Fatalf("left after the rotation: %v", report.Left)
	}

	// The old key can be retired: the new one alone opens everything.
	after := registry.NewStore(db.Pool, registry.WithMyNumberKey(newKey))
	if err := readAll(after, registry.NewReplay(db.Pool, newKey, clock)); err != nil {
		t.Fatal("new key alone:", err)
	}
	filed.Range(func(n, birth any) bool {
		if _, err := after.ApplicationStatus(ctx, lgs, n.(string), birth.(string)); err != nil {
			t.Errorf("filed during the rotation %s: %v", n, err)
		}
		return true
	})
	var sealed []byte
	if err := db.Pool.QueryRow(ctx, `SELECT totp_secret FROM clerk WHERE username = 'rekey-clerk'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if seed, err := newKey.OpenTOTP("rekey-clerk", sealed); err != nil || seed != creds.TOTPSecret {
		t.Fatalf("TOTP seed: %v", err)
	}
	if _, err := oldKey.OpenTOTP("rekey-clerk", sealed); err == nil {
		t.Fatal("the old key still opens the re-sealed seed")
	}
	// A second run finds nothing to do.
	again, err := during.Rekey(ctx, lgs, 2)
	if err != nil || len(again.Resealed) != 0 || len(again.Left) != 0 {
		t.Fatalf("second run: %+v %v", again, err)
	}
}
