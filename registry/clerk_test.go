package registry_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

var clerkT0 = time.Date(2026, 12, 1, 9, 0, 0, 0, issuance.Tokyo)

// lightCost keeps tests that sign in dozens of times quick under -race
// (TestPasswordHashPHC and TestAddClerkRefusesBadInput use the default).
var lightCost = registry.PasswordCost{Time: 1, MemoryKiB: 1024, Threads: 1}

func clerkStore(t *testing.T, opts ...registry.StoreOption) (*registry.Store, *dbtest.DB) {
	t.Helper()
	db := dbtest.New(t)
	k, err := registry.NewMyNumberKey(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if opts == nil {
		opts = []registry.StoreOption{registry.WithPasswordCost(lightCost)}
	}
	return registry.NewStore(db.Pool, append(opts, registry.WithMyNumberKey(k))...), db
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPasswordHashPHC: an account's password is hashed with argon2id at the
// RFC 9106 cost by default, as a PHC string that verifies the password and
// nothing else; the TOTP seed is stored sealed.
func TestPasswordHashPHC(t *testing.T) {
	store, db := clerkStore(t, registry.WithPasswordCost(registry.PasswordCost{}))
	ctx := context.Background()
	cr, err := store.AddClerk(ctx, "k01", registry.RoleKosekiClerk, []string{"131016"}, clerkT0)
	if err != nil {
		t.Fatal(err)
	}
	var hash string
	var sealed []byte
	if err := db.Owner.QueryRow(ctx, `SELECT password_hash, totp_secret FROM clerk WHERE username = 'k01'`).Scan(&hash, &sealed); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=4$") || len(strings.Split(hash, "$")[4]) != 22 {
		t.Fatalf("hash %q: not argon2id with the RFC 9106 parameters and a 16-byte salt", hash)
	}
	if bytes.Contains(sealed, []byte(cr.TOTPSecret)) || len(sealed) < 40 {
		t.Fatalf("TOTP seed stored in clear or not at all (%d bytes)", len(sealed))
	}
	for pw, want := range map[string]bool{cr.Password: true, cr.Password + " ": false} {
		if ok, err := registry.VerifyPassword(hash, pw); err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if _, err := registry.VerifyPassword("$argon2i$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "x"); err == nil {
		t.Error("a hash of another kind verified")
	}
}

func TestAddClerkRefusesBadInput(t *testing.T) {
	store, db := clerkStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		user  string
		role  registry.Role
		codes []string
		field string
	}{
		{"A", registry.RoleAdmin, []string{"131016"}, "username"},
		{"ok", "boss", []string{"131016"}, "role"},
		{"ok", registry.RoleAdmin, nil, "lgCodes"},
		{"ok", registry.RoleAdmin, []string{"13101"}, "lgCodes"},
	} {
		_, err := store.AddClerk(ctx, c.user, c.role, c.codes, clerkT0)
		if !errors.Is(err, registry.ErrBadAccount) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("AddClerk(%q, %q, %v): %v, want ErrBadAccount naming %s", c.user, c.role, c.codes, err, c.field)
		}
	}
	if _, err := store.AddClerk(ctx, "k01", registry.RoleKosekiClerk, []string{"131016"}, clerkT0); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddClerk(ctx, "k01", registry.RoleAuditor, []string{"131016"}, clerkT0); !errors.Is(err, registry.ErrClerkExists) {
		t.Fatalf("second k01: %v", err)
	}
	var n int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM clerk`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d accounts (%v), want 1", n, err)
	}
	if cl, err := store.ClerkByName(ctx, "k01"); err != nil || cl.Role != registry.RoleKosekiClerk {
		t.Fatalf("account %+v: %v", cl, err)
	}
}

// TestSignInTOTPOncePerStep: a code is accepted in its step and the steps
// either side, and only once: replaying it (on any node) fails.
func TestSignInTOTPOncePerStep(t *testing.T) {
	store, _ := clerkStore(t)
	ctx := context.Background()
	cr, err := store.AddClerk(ctx, "k01", registry.RoleKosekiClerk, []string{"131016"}, clerkT0)
	if err != nil {
		t.Fatal(err)
	}
	pol := registry.DefaultSignInPolicy
	now := clerkT0
	c := totpCode(t, cr.TOTPSecret, now.Add(30*time.Second)) // the next step: a clock 30 s ahead
	tok, sess, err := store.SignIn(ctx, "k01", cr.Password, c, "10.0.0.1", pol, now)
	if err != nil || tok == "" || sess.CSRF == "" || sess.Clerk.Username != "k01" {
		t.Fatalf("sign in: %v (%+v)", err, sess)
	}
	if _, _, err := store.SignIn(ctx, "k01", cr.Password, c, "10.0.0.1", pol, now.Add(20*time.Second)); !errors.Is(err, registry.ErrSignIn) {
		t.Fatalf("replayed code: %v, want ErrSignIn", err)
	}
	// An older step than the one used is refused too, even if still in the window.
	if _, _, err := store.SignIn(ctx, "k01", cr.Password, totpCode(t, cr.TOTPSecret, now), "10.0.0.1", pol, now.Add(20*time.Second)); !errors.Is(err, registry.ErrSignIn) {
		t.Fatalf("older step: %v, want ErrSignIn", err)
	}
	later := now.Add(5 * time.Minute)
	if _, _, err := store.SignIn(ctx, "k01", cr.Password, totpCode(t, cr.TOTPSecret, later.Add(-2*time.Minute)), "10.0.0.1", pol, later); !errors.Is(err, registry.ErrSignIn) {
		t.Fatalf("code two minutes old: %v, want ErrSignIn", err)
	}
	// Three failures: the next try waits a second (back-off).
	later = later.Add(time.Second)
	if _, _, err := store.SignIn(ctx, "k01", cr.Password, totpCode(t, cr.TOTPSecret, later), "10.0.0.1", pol, later); err != nil {
		t.Fatalf("fresh code: %v", err)
	}
}

// TestSignInConcurrentSameCode: two nodes offered the same code at once:
// one session.
func TestSignInConcurrentSameCode(t *testing.T) {
	store, db := clerkStore(t)
	ctx := context.Background()
	cr, err := store.AddClerk(ctx, "k01", registry.RoleKosekiClerk, []string{"131016"}, clerkT0)
	if err != nil {
		t.Fatal(err)
	}
	c := totpCode(t, cr.TOTPSecret, clerkT0)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = store.SignIn(ctx, "k01", cr.Password, c, "10.0.0.1", registry.DefaultSignInPolicy, clerkT0)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, registry.ErrSignIn):
			t.Fatalf("sign in: %v", err)
		}
	}
	var sessions int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM console_session`).Scan(&sessions); err != nil {
		t.Fatal(err)
	}
	if ok != 1 || sessions != 1 {
		t.Fatalf("%d sign-ins succeeded, %d sessions; want 1 and 1", ok, sessions)
	}
}

// TestSignInLockOut: failures back off, then lock; an unknown username is
// treated exactly alike; the lock ends after the window, or at a reset.
func TestSignInLockOut(t *testing.T) {
	store, _ := clerkStore(t)
	ctx := context.Background()
	cr, err := store.AddClerk(ctx, "k01", registry.RoleKosekiClerk, []string{"131016"}, clerkT0)
	if err != nil {
		t.Fatal(err)
	}
	pol := registry.DefaultSignInPolicy
	for _, user := range []string{"k01", "nobody"} {
		now := clerkT0
		var outcomes []string
		for range 7 {
			_, _, err := store.SignIn(ctx, user, "wrong", "000000", "10.0.0."+user[:1], pol, now)
			var te *registry.ThrottledError
			switch {
			case errors.As(err, &te) && te.Locked:
				outcomes = append(outcomes, "locked")
			case errors.As(err, &te):
				outcomes = append(outcomes, "wait")
				now = now.Add(te.RetryAfter)
				continue
			case errors.Is(err, registry.ErrSignIn):
				outcomes = append(outcomes, "fail")
			default:
				t.Fatalf("%s: %v", user, err)
			}
			now = now.Add(time.Second)
		}
		// From the third failure each try waits 2^(n-3) s after the last
		// failure: the fourth try comes 1 s after the third, in time; the
		// fifth comes too early once, then fails; the fifth failure locks.
		want := "fail fail fail fail wait fail locked"
		if got := strings.Join(outcomes, " "); got != want {
			t.Errorf("%s: %s, want %s", user, got, want)
		}
		_, _, err := store.SignIn(ctx, user, "wrong", "000000", "10.0.0."+user[:1], pol, now)
		var te *registry.ThrottledError
		if !errors.As(err, &te) || !te.Locked || te.RetryAfter < 14*time.Minute {
			t.Errorf("%s after 5 failures: %v, want locked for about 15 minutes", user, err)
		}
	}
	// Locked: even the right password and code are refused unchecked.
	now := clerkT0.Add(time.Minute)
	if _, _, err := store.SignIn(ctx, "k01", cr.Password, totpCode(t, cr.TOTPSecret, now), "10.0.0.9", pol, now); !isLocked(err) {
		t.Fatalf("right credentials while locked: %v", err)
	}
	// The lock ends when the locking failure leaves the window.
	now = clerkT0.Add(20 * time.Minute)
	if _, _, err := store.SignIn(ctx, "k01", cr.Password, totpCode(t, cr.TOTPSecret, now), "10.0.0.9", pol, now); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}

func isLocked(err error) bool {
	var te *registry.ThrottledError
	return errors.As(err, &te) && te.Locked
}

// TestSignInLockOutPerAddress: one address trying many usernames is
// stopped, whatever the names; another address is not.
func TestSignInLockOutPerAddress(t *testing.T) {
	store, _ := clerkStore(t)
	ctx := context.Background()
	cr, err := store.AddClerk(ctx, "k01", registry.RoleKosekiClerk, []string{"131016"}, clerkT0)
	if err != nil {
		t.Fatal(err)
	}
	pol := registry.SignInPolicy{Window: 15 * time.Minute, BackoffAfter: 3, LockUser: 5, LockAddress: 4}
	for i := range 4 {
		if _, _, err := store.SignIn(ctx, "user"+string(rune('a'+i)), "x", "000000", "10.1.1.1", pol, clerkT0); !errors.Is(err, registry.ErrSignIn) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	c := totpCode(t, cr.TOTPSecret, clerkT0)
	if _, _, err := store.SignIn(ctx, "k01", cr.Password, c, "10.1.1.1", pol, clerkT0); !isLocked(err) {
		t.Fatalf("fifth try from the address: %v, want locked", err)
	}
	if _, _, err := store.SignIn(ctx, "k01", cr.Password, c, "10.2.2.2", pol, clerkT0); err != nil {
		t.Fatalf("from another address: %v", err)
	}
}

// TestConsoleSessionTimeouts: idle 15 minutes ends a session; so do 8 hours
// however busy, sign-out, disabling and resetting the account.
func TestConsoleSessionTimeouts(t *testing.T) {
	store, _ := clerkStore(t)
	ctx := context.Background()
	cr, err := store.AddClerk(ctx, "k01", registry.RoleKosekiClerk, []string{"131016"}, clerkT0)
	if err != nil {
		t.Fatal(err)
	}
	pol := registry.DefaultSessionPolicy
	step := int64(0)
	signIn := func(now time.Time) string {
		t.Helper()
		// Each sign-in needs a later step than the one before.
		now = now.Add(time.Duration(step) * 30 * time.Second)
		step++
		tok, _, err := store.SignIn(ctx, "k01", cr.Password, totpCode(t, cr.TOTPSecret, now), "10.0.0.1", registry.DefaultSignInPolicy, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := signIn(clerkT0)
	if _, err := store.ConsoleSession(ctx, tok, pol, clerkT0.Add(14*time.Minute)); err != nil {
		t.Fatalf("after 14 min: %v", err)
	}
	if _, err := store.ConsoleSession(ctx, tok, pol, clerkT0.Add(29*time.Minute+59*time.Second)); err == nil {
		// 14 min seen, then idle 15:59
		t.Fatal("idle for more than 15 minutes: still signed in")
	} else if !errors.Is(err, registry.ErrNoSession) {
		t.Fatal(err)
	}

	tok = signIn(clerkT0)
	now := clerkT0
	for now.Add(14 * time.Minute).Before(clerkT0.Add(8 * time.Hour)) {
		now = now.Add(14 * time.Minute)
		if _, err := store.ConsoleSession(ctx, tok, pol, now); err != nil {
			t.Fatalf("busy session at %s: %v", now.Sub(clerkT0), err)
		}
	}
	if _, err := store.ConsoleSession(ctx, tok, pol, clerkT0.Add(8*time.Hour+time.Minute)); !errors.Is(err, registry.ErrNoSession) {
		t.Fatalf("after 8 hours, seen %s before: %v", clerkT0.Add(8*time.Hour+time.Minute).Sub(now), err)
	}

	for _, end := range []func(tok string) error{
		func(tok string) error { return store.ConsoleSignOut(ctx, tok, clerkT0) },
		func(string) error { return store.DisableClerk(ctx, "k01", clerkT0) },
		func(string) error { _, err := store.ResetClerk(ctx, "k01", clerkT0); return err },
	} {
		tok := signIn(clerkT0)
		if err := end(tok); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ConsoleSession(ctx, tok, pol, clerkT0.Add(time.Minute)); !errors.Is(err, registry.ErrNoSession) {
			t.Fatalf("after the session was ended: %v", err)
		}
		if cl, _ := store.ClerkByName(ctx, "k01"); !cl.DisabledAt.IsZero() {
			// Reset re-enables the account, with new credentials.
			if cr, err = store.ResetClerk(ctx, "k01", clerkT0); err != nil {
				t.Fatal(err)
			}
			step = 0
		}
	}
	if _, _, err := store.SignIn(ctx, "k01", "old password", "000000", "10.0.0.1", registry.DefaultSignInPolicy, clerkT0); !errors.Is(err, registry.ErrSignIn) {
		t.Fatal(err)
	}
}
