package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/migrations"
	"github.com/lgwan/issuance/registry"
)

// EnvURL names the variable holding the superuser URL of the test cluster.
const EnvURL = "ISSUANCE_TEST_DATABASE_URL"

// lockKey serialises template creation across test binaries running at once.
const lockKey = 0x15_5a_4e_02

var (
	once     sync.Once
	tmplName string
	tmplErr  error
)

// DB is one test's database.
type DB struct {
	Name string
	// AppURL connects as issuance_app; OwnerURL as the schema owner.
	AppURL, OwnerURL string
	// Pool is connected as issuance_app, which row-level security binds
	// (docs/tenants.md): a statement on it outside the Store sees no
	// municipality's rows unless it sets a tenant scope.
	Pool *pgxpool.Pool
	// Owner is connected as the schema owner, which row-level security
	// does not bind: for fixtures and for checking what was written.
	Owner *pgxpool.Pool
}

// New returns a fresh migrated database for t, dropped when t ends.
func New(t testing.TB) *DB {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts a throwaway PostgreSQL", EnvURL)
	}
	ctx := context.Background()
	once.Do(func() { tmplName, tmplErr = ensureTemplate(ctx, admin) })
	if tmplErr != nil {
		t.Fatalf("test database template: %v", tmplErr)
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test cluster: %v", err)
	}
	defer conn.Close(ctx)
	name := "t_" + randomHex(8)
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s OWNER %s`, name, tmplName, registry.OwnerRole)); err != nil {
		t.Fatalf("clone test database: %v", err)
	}
	db := &DB{Name: name, AppURL: withUserDB(t, admin, registry.AppRole, name), OwnerURL: withUserDB(t, admin, registry.OwnerRole, name)}
	db.Pool, err = pgxpool.New(ctx, db.AppURL)
	if err != nil {
		t.Fatalf("connect as %s: %v", registry.AppRole, err)
	}
	db.Owner, err = pgxpool.New(ctx, db.OwnerURL)
	if err != nil {
		t.Fatalf("connect as %s: %v", registry.OwnerRole, err)
	}
	t.Cleanup(func() {
		db.Pool.Close()
		db.Owner.Close()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf(`DROP DATABASE %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return db
}

// ensureTemplate creates the roles and a template database migrated to the
// current schema, named after a digest of the migrations so that a changed
// schema gets a new template.
func ensureTemplate(ctx context.Context, admin string) (string, error) {
	sum := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, p)
		sum.Write([]byte(p))
		sum.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "tmpl_" + hex.EncodeToString(sum.Sum(nil))[:16]
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockKey)
	if err := registry.EnsureRoles(ctx, conn); err != nil {
		return "", err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+building); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, building, registry.OwnerRole)); err != nil {
		return "", err
	}
	ownerURL, err := replaceUserDB(admin, registry.OwnerRole, building)
	if err != nil {
		return "", err
	}
	oc, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return "", err
	}
	err = registry.Migrate(ctx, oc)
	oc.Close(ctx)
	if err != nil {
		return "", err
	}
	// Renamed only once complete, so a crash never leaves a half-migrated
	// template behind under the real name.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func withUserDB(t testing.TB, admin, user, db string) string {
	u, err := replaceUserDB(admin, user, db)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func replaceUserDB(admin, user, db string) (string, error) {
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvURL, err)
	}
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d", user, db, cfg.Host, cfg.Port), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
