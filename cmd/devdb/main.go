// Command devdb runs a command beside a private PostgreSQL cluster
// (internal/pgcluster): it initialises the cluster if needed (initdb as the
// postgres user when run as root, since initdb refuses root), starts it on a
// Unix socket only, creates the roles and the issuance database, runs the
// command with the connection URLs in its environment, and stops the
// cluster when the command ends.
//
//	devdb -dir var/pg -- issuance serve          # persistent, for make run
//	devdb -ephemeral -- go test -race ./...      # on tmpfs, fsync off, removed after
//
// The command gets ISSUANCE_DATABASE_URL (as issuance_app),
// ISSUANCE_DATABASE_MIGRATE_URL (as the owner) and ISSUANCE_TEST_DATABASE_URL
// (as the superuser, for the tests' throwaway databases).
package main

import (
	"errors"
	"flag"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/lgwan/issuance/internal/pgcluster"
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
	if ephemeral {
		base := "/dev/shm"
		if _, err := os.Stat(base); err != nil {
			base = os.TempDir()
		}
		var err error
		if dir, err = os.MkdirTemp(base, "issuance-pg-"); err != nil {
			return 1, err
		}
		defer os.RemoveAll(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		log.Printf("initdb %s", filepath.Join(dir, "data"))
	}
	cluster, err := pgcluster.Start(dir, ephemeral)
	if err != nil {
		return 1, err
	}
	defer cluster.Stop()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"ISSUANCE_DATABASE_URL="+cluster.AppURL(),
		"ISSUANCE_DATABASE_MIGRATE_URL="+cluster.OwnerURL(),
		"ISSUANCE_TEST_DATABASE_URL="+cluster.AdminURL())
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
