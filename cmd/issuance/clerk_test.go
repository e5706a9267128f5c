package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

func clerkConfig(t *testing.T) (*Config, *dbtest.DB, *registry.MyNumberKey) {
	t.Helper()
	db := dbtest.New(t)
	keyPath := filepath.Join(t.TempDir(), "mynumber.key")
	if err := registry.GenerateMyNumberKey(keyPath); err != nil {
		t.Fatal(err)
	}
	key, err := registry.LoadMyNumberKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return &Config{Database: DatabaseConfig{URL: db.AppURL}, Sync: SyncConfig{MyNumberKey: keyPath},
		Municipalities: []MunicipalityConfig{{Code: "131016"}, {Code: "272035"}}}, db, key
}

// TestClerkCommand: add prints the credentials once and writes the QR code;
// they sign in; reset replaces them; disable and list say so; bad input is
// refused naming the flag.
func TestClerkCommand(t *testing.T) {
	cfg, db, key := clerkConfig(t)
	ctx := context.Background()
	var out bytes.Buffer
	run := func(args ...string) error { out.Reset(); return clerk(ctx, cfg, args, &out) }
	qr := filepath.Join(t.TempDir(), "admin01.png")
	if err := run("add", "-username", "admin01", "-role", "admin", "-lg", "131016,272035", "-qr", qr); err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		for _, l := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(l, name+": "); ok {
				return v
			}
		}
		t.Fatalf("no %s in %q", name, out.String())
		return ""
	}
	password, secret := field("password"), field("totp secret (base32)")
	if !strings.HasPrefix(field("otpauth URI"), "otpauth://totp/") {
		t.Fatalf("URI: %q", field("otpauth URI"))
	}
	f, err := os.Open(qr)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 320 || st.Mode().Perm() != 0o600 {
		t.Fatalf("QR code: %v, mode %v", err, st.Mode().Perm())
	}
	store := registry.NewStore(db.Pool, registry.WithMyNumberKey(key))
	now := time.Now().In(issuance.Tokyo)
	code, _ := totp.GenerateCode(secret, now)
	if _, sess, err := store.SignIn(ctx, "admin01", password, code, "127.0.0.1", registry.DefaultSignInPolicy, now); err != nil ||
		sess.Clerk.Role != registry.RoleAdmin || strings.Join(sess.Clerk.LGCodes, ",") != "131016,272035" {
		t.Fatalf("sign in with the printed credentials: %v (%+v)", err, sess.Clerk)
	}
	if err := run("reset", "-username", "admin01"); err != nil || field("password") == password {
		t.Fatalf("reset: %v", err)
	}
	if err := run("disable", "-username", "admin01"); err != nil {
		t.Fatal(err)
	}
	if err := run("list"); err != nil || !strings.Contains(out.String(), "admin01\tadmin\t131016,272035\tdisabled") {
		t.Fatalf("list: %q %v", out.String(), err)
	}
	for args, want := range map[string]string{
		"add -username k01 -role koseki_clerk":             "-username, -role and -lg are required",
		"add -username k01 -role koseki_clerk -lg 999999":  "not a municipality of this configuration",
		"add -username K01 -role koseki_clerk -lg 131016":  "username",
		"add -username k01 -role boss -lg 131016":          "role",
		"add -username admin01 -role admin -lg 131016":     registry.ErrClerkExists.Error(),
		"reset -username ghost":                            registry.ErrNoClerk.Error(),
		"disable -username admin01 -lg 131016":             "only for add",
		"list -qr x.png":                                   "takes no flags",
		"rename -username admin01":                         "unknown action",
		"add -username k01 -role auditor -lg 131016 stray": "unexpected argument",
	} {
		if err := run(strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

// TestWriteDemoClerks: one account per role for every municipality, in a
// file only its owner reads; the credentials sign in; a second run keeps
// them (an enrolled authenticator keeps working).
func TestWriteDemoClerks(t *testing.T) {
	cfg, db, key := clerkConfig(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "clerks.json")
	now := time.Now().In(issuance.Tokyo)
	if err := writeDemoClerks(ctx, cfg, path, now); err != nil {
		t.Fatal(err)
	}
	read := func() ([]demoClerk, []byte) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var cs []demoClerk
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cs); err != nil {
			t.Fatal(err)
		}
		return cs, b
	}
	cs, first := read()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("clerks.json mode %v", st.Mode().Perm())
	}
	var roles []string
	for _, c := range cs {
		roles = append(roles, c.Role)
		if strings.Join(c.LGCodes, ",") != "131016,272035" || c.Password == "" || c.TOTPSecret == "" {
			t.Fatalf("entry %+v", c)
		}
	}
	if strings.Join(roles, " ") != "koseki_clerk registry_clerk auditor admin" {
		t.Fatalf("roles %v", roles)
	}
	store := registry.NewStore(db.Pool, registry.WithMyNumberKey(key))
	code, _ := totp.GenerateCode(cs[0].TOTPSecret, now)
	if _, _, err := store.SignIn(ctx, cs[0].Username, cs[0].Password, code, "127.0.0.1", registry.DefaultSignInPolicy, now); err != nil {
		t.Fatalf("sign in as %s: %v", cs[0].Username, err)
	}
	if err := writeDemoClerks(ctx, cfg, path, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, again := read(); !bytes.Equal(first, again) {
		t.Fatal("a second run changed the demo credentials")
	}
}
