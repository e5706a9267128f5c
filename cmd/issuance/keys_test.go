package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// TestKeysRotateMyNumber is the runbook's rotation with the commands: a new
// key, check (the old key is needed), rotate under the new key with the old
// one loaded, the purged application's status check still needing the old
// key until its check subkey is exported, then the old key retired: check
// passes with the new key and the exported check subkey alone, and the
// status check still answers.
func TestKeysRotateMyNumber(t *testing.T) {
	cfg, db, oldKey := clerkConfig(t)
	ctx := context.Background()
	var out bytes.Buffer
	run := func(c *Config, args ...string) error { out.Reset(); return keys(ctx, c, args, &out) }
	if err := clerk(ctx, cfg, []string{"add", "-username", "kclerk", "-role", "koseki_clerk", "-lg", "272035"}, &out); err != nil {
		t.Fatal(err)
	}
	old := registry.NewStore(db.Pool, registry.WithMyNumberKey(oldKey))
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, issuance.Tokyo)
	var apps []issuance.Application
	for i := range 3 {
		a := issuance.Application{Number: issuance.NewApplicationNumber(), LGCode: "272035", Channel: issuance.ChannelInternet,
			Cert:       issuance.CertIdentity{IssuerKeyID: "aa", Serial: string(rune('1' + i))},
			Facts:      &issuance.ApplicationFacts{Name: "本籍 花子", Address: "東京都千代田区千代田1番1号", BirthDate: "1985-06-07", Sex: issuance.Female, HonsekiAddress: "大阪府豊中市中桜塚三丁目1番地", HeadName: "本籍 一郎"},
			ReceivedAt: now, ExpectedBy: issuance.AddBusinessDays(now, 10, nil)}
		if _, _, err := old.FileApplication(ctx, a); err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}
	// The first application's facts are purged: its status check can no
	// longer be recomputed.
	owner, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	if _, err := owner.Exec(ctx, `UPDATE honseki_application SET facts = NULL, note = NULL, purged_at = now() WHERE application_number = $1`, apps[0].Number); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	newPath := filepath.Join(dir, "new.key")
	if err := run(cfg, "new-mynumber", newPath); err != nil || !strings.Contains(out.String(), newPath) {
		t.Fatalf("new-mynumber: %v %s", err, out.String())
	}
	during := *cfg
	during.Sync.MyNumberKey, during.Sync.MyNumberKeyOld = newPath, []string{cfg.Sync.MyNumberKey}
	if err := run(&during, "check-mynumber"); err == nil || !strings.Contains(err.Error(), oldKey.ID()) {
		t.Fatalf("check before the rotation: %v\n%s", err, out.String())
	}
	err = run(&during, "rotate-mynumber", "-batch", "1")
	if !strings.Contains(out.String(), registry.KindTOTP) || !strings.Contains(out.String(), registry.KindHonseki) {
		t.Fatalf("rotate says:\n%s", out.String())
	}
	// Only the purged application's check still needs the old key.
	needs := func(kind string) bool {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, kind+" ") && strings.Contains(l, " "+oldKey.ID()+" ") && strings.HasSuffix(l, "NEEDS the key") {
				return true
			}
		}
		return false
	}
	if err == nil || !needs(registry.KindBirthCheck) || needs(registry.KindTOTP) || needs(registry.KindHonseki) {
		t.Fatalf("after the rotation: %v\n%s", err, out.String())
	}
	// The rotation is in the audit trail's system chain: key ids and counts.
	newKey, err := during.Sync.myNumberKey()
	if err != nil {
		t.Fatal(err)
	}
	var detail string
	if err := owner.QueryRow(ctx, `SELECT detail::text FROM audit_log WHERE lg_code = '' AND kind = 'key_rotation' AND subject = $1`,
		"mynumber/"+newKey.ID()).Scan(&detail); err != nil || !strings.Contains(detail, `"old_key_ids": ["`+oldKey.ID()+`"]`) {
		t.Fatalf("the rotation in the audit trail: %q, %v", detail, err)
	}
	chk := filepath.Join(dir, "old.birth-check")
	if err := run(&during, "export-birth-check", "-key", cfg.Sync.MyNumberKey, "-out", chk); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(chk); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("check key file: %v %v", st, err)
	}
	retired := *cfg
	retired.Sync.MyNumberKey, retired.Sync.BirthCheckKeys = newPath, []string{chk}
	if err := run(&retired, "check-mynumber"); err != nil {
		t.Fatalf("after retiring the old key: %v\n%s", err, out.String())
	}
	key, err := retired.Sync.myNumberKey()
	if err != nil {
		t.Fatal(err)
	}
	st := registry.NewStore(db.Pool, registry.WithMyNumberKey(key))
	for _, a := range apps {
		if _, err := st.ApplicationStatus(ctx, []string{a.LGCode}, a.Number, a.Facts.BirthDate); err != nil {
			t.Errorf("status of %s with the new key: %v", a.Number, err)
		}
		if _, err := st.ApplicationStatus(ctx, []string{a.LGCode}, a.Number, "1985-06-08"); err != issuance.ErrNoApplication {
			t.Errorf("a wrong birth date: %v", err)
		}
	}
	// An old key file others may read is refused, naming its key.
	os.Chmod(cfg.Sync.MyNumberKey, 0o644)
	if err := run(&during, "check-mynumber"); err == nil || !strings.Contains(err.Error(), "sync.my_number_key_old[0]: "+cfg.Sync.MyNumberKey) {
		t.Fatalf("loose old key: %v", err)
	}
}
