package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// demoSecretConfig is the demo's configuration over the shared fixture's
// files, as `issuance demo` writes it.
func demoSecretConfig(t *testing.T) *Config {
	t.Helper()
	_, cfg := demoConfigFile(t)
	return cfg
}

// demoConfigFile writes the demo's configuration over the shared
// fixture's files, as `issuance demo` does, and loads it.
func demoConfigFile(t testing.TB) (string, *Config) {
	t.Helper()
	dir, data := fixture(t)
	cfgPath := filepath.Join(t.TempDir(), "issuance.yaml")
	if err := writeDemoConfig(cfgPath, layoutOf(dir), data); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg
}

// The demo creates every secret file it names 0600 and owned by whoever
// ran it, and the list covers every kind of secret key.
func TestDemoSecretFilesArePrivate(t *testing.T) {
	cfg := demoSecretConfig(t)
	var keys []string
	for _, f := range cfg.secretFiles() {
		keys = append(keys, f.key)
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatalf("%s: %v", f.key, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %s has mode %04o, want 0600", f.key, f.path, st.Mode().Perm())
		}
	}
	for _, want := range []string{"soap.tls_key", "web.tls_key", "render.keiin_key_file", "sync.my_number_key",
		"municipalities[0].seal_key", "municipalities[0].code_key", "municipalities[1].seal_key", "municipalities[1].code_key"} {
		if !slices.Contains(keys, want) {
			t.Errorf("secretFiles does not list %s: %v", want, keys)
		}
	}
	if err := checkSecretFiles(cfg.secretFiles()); err != nil {
		t.Fatal(err)
	}
}

// Each secret key, made readable by the group or owned by another user,
// stops serve (validateServe) with a message naming the key, the path and
// what is wrong; the other keys are not blamed.
func TestSecretFileChecksNameTheKey(t *testing.T) {
	base := demoSecretConfig(t)
	keys := base.secretFiles()
	// A password file is a key the demo does not use (its seal keys are
	// PEM): configure one so that it is checked too.
	pass := filepath.Join(t.TempDir(), "seal.pass")
	if err := os.WriteFile(pass, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, secretFile{"municipalities[0].seal_key_password_file", pass})
	for _, sf := range keys {
		for _, c := range []struct {
			name string
			harm func(path string) error
			want string
		}{
			{"group-readable", func(p string) error { return os.Chmod(p, 0o640) }, "mode 0640"},
			{"world-readable", func(p string) error { return os.Chmod(p, 0o604) }, "mode 0604"},
			{"executable", func(p string) error { return os.Chmod(p, 0o700) }, "mode 0700"},
			{"another owner", func(p string) error { return os.Chown(p, 65534, 65534) }, "owned by"},
		} {
			t.Run(sf.key+"/"+c.name, func(t *testing.T) {
				if c.name == "another owner" && os.Geteuid() != 0 {
					t.Skip("giving a file away needs root")
				}
				cfg := *base
				cfg.Municipalities = slices.Clone(base.Municipalities)
				cfg.Municipalities[0].SealKeyPasswordFile = pass
				// A private copy of the file, harmed, put under the key.
				copyPath := filepath.Join(t.TempDir(), filepath.Base(sf.path))
				b, err := os.ReadFile(sf.path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(copyPath, b, 0o600); err != nil {
					t.Fatal(err)
				}
				setSecret(t, &cfg, sf.key, copyPath)
				if err := checkSecretFiles(cfg.secretFiles()); err != nil {
					t.Fatalf("the private copy is refused: %v", err)
				}
				if err := c.harm(copyPath); err != nil {
					t.Fatal(err)
				}
				err = cfg.validateServe()
				if err == nil {
					t.Fatalf("%s %s accepted", c.name, sf.key)
				}
				var line string
				for _, l := range strings.Split(err.Error(), "\n") {
					if strings.Contains(l, copyPath) {
						line = l
					}
				}
				if !strings.HasPrefix(line, sf.key+": "+copyPath+": ") || !strings.Contains(line, c.want) {
					t.Errorf("want a line %q naming the path and %q, got:\n%v", sf.key+": "+copyPath, c.want, err)
				}
				for _, other := range keys {
					if other.key != sf.key && strings.Contains(err.Error(), other.key+": ") {
						t.Errorf("%s blamed too:\n%v", other.key, err)
					}
				}
				if sf.key == "sync.my_number_key" {
					// sync, clerk and keys read it through myNumberKey.
					if _, err := cfg.Sync.myNumberKey(); err == nil || !strings.Contains(err.Error(), "sync.my_number_key: "+copyPath) {
						t.Errorf("myNumberKey: %v", err)
					}
				}
			})
		}
	}
}

// setSecret points the configuration key at path.
func setSecret(t *testing.T, c *Config, key, path string) {
	t.Helper()
	switch key {
	case "soap.tls_key":
		c.SOAP.TLSKey = path
	case "web.tls_key":
		c.Web.TLSKey = path
	case "render.keiin_key_file":
		c.Render.KeiinKeyFile = path
	case "sync.my_number_key":
		c.Sync.MyNumberKey = path
	default:
		for i := range c.Municipalities {
			switch key {
			case "municipalities[" + strconv.Itoa(i) + "].seal_key":
				c.Municipalities[i].SealKey = path
				return
			case "municipalities[" + strconv.Itoa(i) + "].code_key":
				c.Municipalities[i].CodeKey = path
				return
			case "municipalities[" + strconv.Itoa(i) + "].seal_key_password_file":
				c.Municipalities[i].SealKeyPasswordFile = path
				return
			}
		}
		t.Fatalf("setSecret does not know %s", key)
	}
}
