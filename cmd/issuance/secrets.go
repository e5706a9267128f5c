package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// secretFile is a file the configuration names that holds a secret, with
// the key that names it.
type secretFile struct{ key, path string }

// secretFiles lists every secret file the configuration names: private keys
// (TLS, seals, 2D codes), the 電子契印 key, the 個人番号 key (which also seals
// stored answers, 本籍 facts and the clerks' TOTP seeds) and seal key
// passwords. Certificates, CA bundles and the published code keys are
// public and not listed.
func (c *Config) secretFiles() []secretFile {
	var out []secretFile
	add := func(key, path string) {
		if path != "" {
			out = append(out, secretFile{key, path})
		}
	}
	add("soap.tls_key", c.SOAP.TLSKey)
	add("web.tls_key", c.Web.TLSKey)
	add("render.keiin_key_file", c.Render.KeiinKeyFile)
	add("sync.my_number_key", c.Sync.MyNumberKey)
	for i, p := range c.Sync.MyNumberKeyOld {
		add(fmt.Sprintf("sync.my_number_key_old[%d]", i), p)
	}
	for i, p := range c.Sync.BirthCheckKeys {
		add(fmt.Sprintf("sync.birth_check_keys[%d]", i), p)
	}
	for i, m := range c.Municipalities {
		add(fmt.Sprintf("municipalities[%d].seal_key", i), m.SealKey)
		add(fmt.Sprintf("municipalities[%d].seal_key_password_file", i), m.SealKeyPasswordFile)
		add(fmt.Sprintf("municipalities[%d].code_key", i), m.CodeKey)
	}
	return out
}

// checkSecretFiles refuses secret files that another local account could
// read or replace: each must be a regular file of mode 0600 or stricter,
// owned by the user this process runs as. A missing file is left to the
// loader, which names it too.
func checkSecretFiles(files []secretFile) error {
	var errs []error
	for _, f := range files {
		if err := checkSecretFile(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", f.key, f.path, err))
		}
	}
	return errors.Join(errs...)
}

func checkSecretFile(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%v)", st.Mode().Type())
	}
	var problems []string
	if perm := st.Mode().Perm(); perm&0o177 != 0 {
		problems = append(problems, fmt.Sprintf("mode %04o allows more than its owner reading and writing it; chmod 600", perm))
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if uid := os.Geteuid(); int(sys.Uid) != uid {
			problems = append(problems, fmt.Sprintf("owned by %s, but the service runs as %s; chown it", account(int(sys.Uid)), account(uid)))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// account is a user id with its name, when it has one.
func account(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// reloadSeals re-reads the seal and code keys on SIGHUP, after checking the
// secret files again: a key replaced by a file others can read is refused,
// and the keys in use stay.
func (s *server) reloadSeals() error {
	if err := checkSecretFiles(s.cfg.secretFiles()); err != nil {
		return err
	}
	return s.keyring.Reload()
}
