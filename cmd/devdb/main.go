// Command devdb runs a command beside a private PostgreSQL cluster: it
// initialises the cluster if needed (initdb as the postgres user when run as
// root, since initdb refuses root), starts it on a Unix socket only, creates
// the roles and the issuance database, runs the command with the connection
// URLs in its environment, and stops the cluster when the command ends.
//
//	devdb -dir var/pg -- issuance serve          # persistent, for make run
//	devdb -ephemeral -- go test -race ./...      # on tmpfs, fsync off, removed after
//
// The command gets ISSUANCE_DATABASE_URL (as issuance_app),
// ISSUANCE_DATABASE_MIGRATE_URL (as the owner) and ISSUANCE_TEST_DATABASE_URL
// (as the superuser, for the tests' throwaway databases).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/registry"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("devdb: ")
	dir := flag.String("dir", "var/pg", "cluster directory (data, socket, log)")
	ephemeral := flag.Bool("ephemeral", false, "throwaway cluster on tmpfs with fsync off, removed afterwards")
	flag.Parse()
	if flag.NArg() == 0 {
		log.Fatal("usage: devdb [-dir DIR | -ephemeral] -- command [args]")
	}
	code, err := run(*dir, *ephemeral, flag.Args())
	if err != nil {
		log.Print(err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(dir string, ephemeral bool, command []string) (int, error) {
	bin, err := pgBin()
	if err != nil {
		return 1, err
	}
	if ephemeral {
		base := "/dev/shm"
		if _, err := os.Stat(base); err != nil {
			base = os.TempDir()
		}
		if dir, err = os.MkdirTemp(base, "issuance-pg-"); err != nil {
			return 1, err
		}
		defer os.RemoveAll(dir)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return 1, err
	}
	cred, err := clusterUser()
	if err != nil {
		return 1, err
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "run")
	for _, d := range []string{dir, sock} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 1, err
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return 1, err
			}
		}
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Printf("initdb %s", data)
		init := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
			"--no-locale", "-E", "UTF8", "--no-sync")
		if out, err := asUser(init, cred).CombinedOutput(); err != nil {
			return 1, fmt.Errorf("initdb: %v\n%s", err, out)
		}
	}
	args := []string{"-D", data, "-k", sock, "-c", "listen_addresses=", "-c", "max_connections=300",
		"-c", "shared_buffers=256MB"}
	if ephemeral {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logf, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 1, err
	}
	defer logf.Close()
	pg := asUser(exec.Command(filepath.Join(bin, "postgres"), args...), cred)
	pg.Stdout, pg.Stderr = logf, logf
	// Its own process group: a Ctrl-C at the terminal stops the command,
	// and the cluster is shut down after it, not under it.
	pg.SysProcAttr.Setpgid = true
	if err := pg.Start(); err != nil {
		return 1, fmt.Errorf("start postgres: %w", err)
	}
	pgDone := make(chan error, 1)
	go func() { pgDone <- pg.Wait() }()
	defer func() {
		pg.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-pgDone:
		case <-time.After(30 * time.Second):
			pg.Process.Kill()
		}
	}()

	admin := fmt.Sprintf("postgres://postgres@/postgres?host=%s", sock)
	if err := prepare(admin, pgDone); err != nil {
		return 1, fmt.Errorf("%w (log: %s)", err, logf.Name())
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"ISSUANCE_DATABASE_URL=postgres://"+registry.AppRole+"@/issuance?host="+sock,
		"ISSUANCE_DATABASE_MIGRATE_URL=postgres://"+registry.OwnerRole+"@/issuance?host="+sock,
		"ISSUANCE_TEST_DATABASE_URL="+admin)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		return 1, err
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

// prepare waits for the cluster and creates the roles and the database.
func prepare(admin string, pgDone <-chan error) error {
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var conn *pgx.Conn
	var err error
	for {
		if conn, err = pgx.Connect(ctx, admin); err == nil {
			break
		}
		select {
		case werr := <-pgDone:
			return fmt.Errorf("postgres exited: %v", werr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections: %w", err)
		}
	}
	defer conn.Close(ctx)
	if err := registry.EnsureRoles(ctx, conn); err != nil {
		return err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'issuance')`).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE issuance OWNER `+registry.OwnerRole); err != nil {
			return err
		}
	}
	return nil
}

// pgBin finds the PostgreSQL server binaries, preferring version 15.
func pgBin() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", errors.New("no PostgreSQL server found under /usr/lib/postgresql (make deps installs postgresql-15), or set PG_BIN")
	}
	sort.Strings(found)
	for _, f := range found {
		if filepath.Base(filepath.Dir(filepath.Dir(f))) == "15" {
			return filepath.Dir(f), nil
		}
	}
	return filepath.Dir(found[len(found)-1]), nil
}

// clusterUser is the postgres user's credential when running as root (initdb
// and postgres refuse to run as root), or nil to run as ourselves.
func clusterUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user (package postgresql-15): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func asUser(cmd *exec.Cmd, cred *syscall.Credential) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}
