package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

// pg15 is the path of a PostgreSQL 15 client binary (the server's major
// version: an older pg_dump refuses a newer server).
func pg15(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("/usr/lib/postgresql/15/bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (Debian package postgresql-15; run `make deps`): %v", p, err)
	}
	return p
}

// withUserDB is a libpq URL u with another role and database.
func withUserDB(t *testing.T, u, user, db string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.User(user)
	if db != "" {
		p.Path = "/" + db
	}
	return p.String()
}

// tableDigests is an MD5 of every row of every table of the schema, by
// table: two databases with the same digests hold the same data.
func tableDigests(t *testing.T, ownerURL string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tb := range tables {
		var n int64
		var sum string
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(r::text, E'\n' ORDER BY r::text)), '') FROM %s r`, pgx.Identifier{tb}.Sanitize())
		if err := conn.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
			t.Fatalf("%s: %v", tb, err)
		}
		out[tb] = fmt.Sprintf("%d rows %s", n, sum)
	}
	return out
}

// A backup restores: after demo issuances, `pg_dump -Fc` of the database
// and `pg_restore` into a fresh one (PostgreSQL 15 client binaries, as the
// schema owner, the way docs/operations.md says) hold the same rows in every
// table, and a node started on the restored database serves the same
// certificates: a replayed requestId gets the identical answer byte for
// byte, and a new issuance works.
func TestBackupRestore(t *testing.T) {
	t0 := time.Now()
	step := func(what string) {
		t.Logf("%-28s %v", what, time.Since(t0).Round(time.Millisecond))
		t0 = time.Now()
	}
	ctx := context.Background()
	nodes, kit := startNodes(t, 1)
	step("node started")
	cards := syntheticCards(kit)
	for i, card := range cards[:2] {
		c := kit.NewClient(card.LGCode, fmt.Sprintf("T-BK-%d", i))
		if _, err := c.Flow(ctx, card, kiosk.Request{}); err != nil {
			t.Fatal(err)
		}
	}
	// A visit whose session still lives: its RequestCertificate is kept
	// for replay, and must replay from the restored database.
	visitor := kit.NewClient(cards[3].LGCode, "T-BK-LIVE")
	sid, _, err := visitor.Session(ctx, cards[3])
	if err != nil {
		t.Fatal(err)
	}
	reqID := kiosk.NewRequestID()
	body, err := visitor.Envelope(reqID, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1})
	if err != nil {
		t.Fatal(err)
	}
	first, err := visitor.Post(ctx, reqID, body, nil)
	if err != nil {
		t.Fatal(err)
	}

	step("issuances")
	// The audit trail's heads as published before the backup: the restored
	// chains must still reach them (nothing cut) and verify.
	heads, err := nodes[0].store.AuditHeads(ctx)
	if err != nil || len(heads) < 2 {
		t.Fatalf("audit heads before the backup: %v, %v", heads, err)
	}
	appURL := nodes[0].cfg.Database.URL
	ownerURL := withUserDB(t, appURL, "issuance_owner", "")
	dump := filepath.Join(t.TempDir(), "issuance.dump")
	if out, err := exec.Command(pg15(t, "pg_dump"), "-Fc", "-f", dump, "-d", ownerURL).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}

	step("pg_dump")
	// A fresh database owned by the schema owner, as the runbook creates it.
	admin, err := pgx.Connect(ctx, os.Getenv(dbtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	restored := fmt.Sprintf("restored_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+restored+" OWNER issuance_owner"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), os.Getenv(dbtest.EnvURL))
		if err == nil {
			_, err = c.Exec(context.Background(), "DROP DATABASE "+restored+" WITH (FORCE)")
			c.Close(context.Background())
		}
		if err != nil {
			t.Errorf("drop %s: %v", restored, err)
		}
	})
	restoredOwner := withUserDB(t, appURL, "issuance_owner", restored)
	if out, err := exec.Command(pg15(t, "pg_restore"), "--exit-on-error", "--single-transaction", "-d", restoredOwner, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	step("pg_restore")
	before, after := tableDigests(t, ownerURL), tableDigests(t, restoredOwner)
	if len(before) < 10 || before["issuance"] == "" {
		t.Fatalf("the source database has too few tables: %v", before)
	}
	for tb, d := range before {
		if after[tb] != d {
			t.Errorf("table %s: %s before, %s restored", tb, d, after[tb])
		}
	}

	step("tables compared")
	// A node on the restored database, as issuance_app.
	cfg := *nodes[0].cfg
	cfg.Node = "node-restored"
	cfg.Database.URL = withUserDB(t, appURL, "issuance_app", restored)
	nctx, cancel := context.WithCancel(ctx)
	s, err := newServer(nctx, &cfg, issuance.SystemClock{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(nctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("restored node: %v", err)
		}
		s.pool.Close()
	}()
	step("restored node started")
	restoredURL := "https://" + s.soapLn.Addr().String() + "/wide-area/v4"

	visitor.URL = restoredURL
	again, err := visitor.Post(ctx, reqID, body, nil)
	if err != nil {
		t.Fatalf("replay on the restored database: %v", err)
	}
	if string(again.Raw) != string(first.Raw) {
		t.Fatalf("the restored database answers the replayed requestId differently:\n%s\nwas\n%s", again.Raw, first.Raw)
	}
	c := kit.NewClient(cards[4].LGCode, "T-BK-NEW")
	c.URL = restoredURL
	res, err := c.Flow(ctx, cards[4], kiosk.Request{})
	if err != nil || res.Status != "ISSUED" || !strings.Contains(pdfText(t, res.PDF), cards[4].Name) {
		t.Fatalf("a new issuance on the restored database: %+v, %v", res, err)
	}
	step("replay and a new issuance")
	rep, err := s.store.VerifyAudit(ctx, heads...)
	if err != nil || !rep.OK() {
		t.Fatalf("the restored database's audit trail: %+v, %v", rep, err)
	}
	step("audit trail verified")
	t.Logf("dump: %s", fileSize(t, dump))
}

func fileSize(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d bytes", fi.Size())
}
