package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/registry"
)

// Cluster is a running private PostgreSQL cluster under Dir: its data in
// Dir/data, its socket in Dir/run, its log in Dir/postgres.log.
type Cluster struct {
	Dir, Data, Socket string
	// Fast turns durability off (fsync, synchronous commit, full-page
	// writes): for throwaway clusters.
	fast bool
	bin  string
	cred *syscall.Credential

	mu   sync.Mutex
	proc *exec.Cmd
	done chan error
}

// Start initialises the cluster under dir if needed, starts it and creates
// the roles and the issuance database. fast turns durability off.
func Start(dir string, fast bool) (*Cluster, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	cred, err := clusterUser()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Data: filepath.Join(dir, "data"), Socket: filepath.Join(dir, "run"), fast: fast, bin: bin, cred: cred}
	for _, d := range []string{dir, c.Socket} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	if _, err := os.Stat(filepath.Join(c.Data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		init := exec.Command(filepath.Join(bin, "initdb"), "-D", c.Data, "-U", "postgres", "--auth=trust",
			"--no-locale", "-E", "UTF8", "--no-sync")
		if out, err := c.asUser(init).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %v\n%s", err, out)
		}
	}
	if err := c.start(); err != nil {
		return nil, err
	}
	if err := c.prepare(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%w (log: %s)", err, c.LogPath())
	}
	return c, nil
}

// LogPath is the server's log.
func (c *Cluster) LogPath() string { return filepath.Join(c.Dir, "postgres.log") }

// AdminURL connects as the superuser; AppURL as issuance_app and OwnerURL
// as the schema owner, to the issuance database.
func (c *Cluster) AdminURL() string { return "postgres://postgres@/postgres?host=" + c.Socket }
func (c *Cluster) AppURL() string {
	return "postgres://" + registry.AppRole + "@/issuance?host=" + c.Socket
}
func (c *Cluster) OwnerURL() string {
	return "postgres://" + registry.OwnerRole + "@/issuance?host=" + c.Socket
}

// start runs the server as a child in its own process group (a Ctrl-C at
// the terminal stops the command using it first, and the cluster after).
func (c *Cluster) start() error {
	args := []string{"-D", c.Data, "-k", c.Socket, "-c", "listen_addresses=", "-c", "max_connections=300",
		"-c", "shared_buffers=256MB"}
	if c.fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logf, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	pg := c.asUser(exec.Command(filepath.Join(c.bin, "postgres"), args...))
	pg.Stdout, pg.Stderr = logf, logf
	pg.SysProcAttr.Setpgid = true
	if err := pg.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- pg.Wait(); logf.Close() }()
	c.mu.Lock()
	c.proc, c.done = pg, done
	c.mu.Unlock()
	return c.waitAccepting(done)
}

// waitAccepting waits until the server accepts connections.
func (c *Cluster) waitAccepting(done <-chan error) error {
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.AdminURL())
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case werr := <-done:
			return fmt.Errorf("postgres exited: %v (log: %s)", werr, c.LogPath())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections: %w (log: %s)", err, c.LogPath())
		}
	}
}

// prepare creates the roles and the database.
func (c *Cluster) prepare() error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		return err
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

func (c *Cluster) exited() <-chan error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// StopMode stops the server with pg_ctl's shutdown mode ("smart", "fast"
// or "immediate": the last is a crash, recovered from at the next start)
// and waits for it to be gone.
func (c *Cluster) StopMode(mode string) error {
	out, err := c.asUser(exec.Command(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.Data, "-m", mode, "-w", "-t", "60")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	select {
	case <-c.exited():
	case <-time.After(60 * time.Second):
		return errors.New("postgres did not exit after pg_ctl stop")
	}
	return nil
}

// Up starts the server again after StopMode.
func (c *Cluster) Up() error { return c.start() }

// Stop shuts the server down (fast), killing it if it lingers.
func (c *Cluster) Stop() {
	c.mu.Lock()
	pg, done := c.proc, c.done
	c.mu.Unlock()
	if pg == nil {
		return
	}
	pg.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		pg.Process.Kill()
	}
}

// Exited yields the server's exit status once it has exited of itself.
func (c *Cluster) Exited() <-chan error { return c.exited() }

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

func (c *Cluster) asUser(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}
