package registry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// Stop and resume alternate, each recorded with who, when and why; a change
// that changes nothing is refused; the history cannot be rewritten, even by
// the owner; two operators stopping at once get one stop.
func TestServiceStateHistory(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	store := registry.NewStore(db.Pool)
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, issuance.Tokyo)
	if st, err := store.ServiceState(ctx); err != nil || st.Stopped {
		t.Fatalf("a new database: %+v, %v; want running", st, err)
	}
	if _, err := store.Resume(ctx, "ops1", "", at); !errors.Is(err, registry.ErrServiceRunning) {
		t.Fatalf("resume while running: %v, want ErrServiceRunning", err)
	}
	if _, err := store.StopAll(ctx, "ops1", "  ", at); err == nil {
		t.Fatal("a stop without a reason was accepted")
	}
	if _, err := store.StopAll(ctx, "", "incident", at); err == nil {
		t.Fatal("a stop without who was accepted")
	}

	// Two operators at once: one stop, one ErrServiceStopped.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, by := range []string{"ops1", "ops2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = store.StopAll(ctx, by, "wrong certificate reported", at.Add(time.Minute))
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), registry.ErrServiceStopped) {
		t.Fatalf("two stops at once: %v; want one stop and one ErrServiceStopped", errs)
	}
	st, err := store.ServiceState(ctx)
	if err != nil || !st.Stopped || st.Reason != "wrong certificate reported" || !st.Since.Equal(at.Add(time.Minute)) {
		t.Fatalf("state after stop: %+v, %v", st, err)
	}
	if _, err := store.Resume(ctx, "ops3", "fixed", at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	hist, err := store.ServiceHistory(ctx, 10)
	if err != nil || len(hist) != 2 || hist[0].Stopped || hist[0].By != "ops3" || hist[0].Reason != "fixed" || !hist[1].Stopped {
		t.Fatalf("history: %+v, %v", hist, err)
	}

	// Neither role may rewrite or delete the history.
	owner, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	for _, q := range []string{`UPDATE service_state SET changed_by = 'x'`, `DELETE FROM service_state`, `TRUNCATE service_state`} {
		if _, err := db.Pool.Exec(ctx, q); err == nil {
			t.Errorf("the application role ran %q", q)
		}
		if _, err := owner.Exec(ctx, q); err == nil {
			t.Errorf("the owner ran %q", q)
		}
	}
	if hist2, _ := store.ServiceHistory(ctx, 10); len(hist2) != 2 || hist2[0].By != "ops3" {
		t.Fatalf("history after the attempts: %+v", hist2)
	}
}

// The UNCONFIRMED count is per municipality, 0 for one with none.
func TestUnconfirmedCountsEveryMunicipality(t *testing.T) {
	db := dbtest.New(t)
	got, err := registry.NewStore(db.Pool).Unconfirmed(context.Background(), []string{"131016", "272035"})
	if err != nil || len(got) != 2 || got["131016"] != 0 || got["272035"] != 0 {
		t.Fatalf("Unconfirmed on an empty ledger: %v, %v", got, err)
	}
	if _, err := registry.NewStore(db.Pool).Unconfirmed(context.Background(), nil); err == nil {
		t.Fatal("Unconfirmed of no municipality: no error")
	}
}

// The poll every node makes 4 times a second (cmd/issuance/stopall.go),
// beside the cheapest round trip to the same database for scale.
func BenchmarkServiceStatePoll(b *testing.B) {
	db := dbtest.New(b)
	ctx := context.Background()
	store := registry.NewStore(db.Pool)
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, issuance.Tokyo)
	for i := range 200 { // a history of stops and resumes
		var err error
		if i%2 == 0 {
			_, err = store.StopAll(ctx, "ops", "drill", at)
		} else {
			_, err = store.Resume(ctx, "ops", "", at)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("ServiceState", func(b *testing.B) {
		for b.Loop() {
			if _, err := store.ServiceState(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SELECT1", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.Pool.Exec(ctx, `SELECT 1`); err != nil {
				b.Fatal(err)
			}
		}
	})
}
