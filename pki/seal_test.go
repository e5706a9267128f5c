package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"

	. "github.com/lgwan/issuance/pki"
	. "github.com/lgwan/issuance/pki/devpki"
)

// copyLayout gives a test its own copy of the development files, to rotate
// or break.
func copyLayout(t *testing.T) DevLayout {
	t.Helper()
	dir := t.TempDir()
	l := DevLayout{KeysDir: filepath.Join(dir, "keys"), KitDir: filepath.Join(dir, "kit")}
	if err := os.CopyFS(l.KeysDir, os.DirFS(fixLayout.KeysDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(l.KitDir, os.DirFS(fixLayout.KitDir)); err != nil {
		t.Fatal(err)
	}
	return l
}

func keyringOf(t *testing.T, l DevLayout, clock issuance.Clock) *Keyring {
	t.Helper()
	k, err := LoadKeyring([]SealFiles{l.SealFiles("131016"), l.SealFiles("272035")}, l.CodeKeys(), clock)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The published contract: keyId is the first 8 bytes of SHA-256 over the
// SPKI, sig is DER ECDSA over SHA-256(payload), and the kit's bundle holds
// the key.
func TestSignCodeContract(t *testing.T) {
	k := testKeyring(t)
	bundle, err := LoadCodeKeys(fixLayout.KitCodeKeys())
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("DOC:0f8e2c1a;LG:131016;T:JUMINHYO;D:2026-04-01;H:abcdef")
	for _, lg := range []string{"131016", "272035"} {
		keyID, sig, err := k.SignCode(lg, payload)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(keyID) {
			t.Errorf("keyId %q is not 16 lowercase hex digits", keyID)
		}
		pub, gotLG, ok := bundle.CodeKey(keyID)
		if !ok || gotLG != lg || pub.Curve != elliptic.P256() {
			t.Fatalf("%s: key %s not in the kit's bundle under its code (%v %s)", lg, keyID, ok, gotLG)
		}
		spki, _ := x509.MarshalPKIXPublicKey(pub)
		if sum := sha256.Sum256(spki); hex.EncodeToString(sum[:8]) != keyID {
			t.Errorf("keyId %s is not SHA-256(SPKI)[:8]", keyID)
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) > 0 {
			t.Fatalf("signature is not ASN.1 DER: %v", err)
		}
		digest := sha256.Sum256(payload)
		if !ecdsa.Verify(pub, digest[:], rs.R, rs.S) {
			t.Error("signature does not verify over SHA-256(payload)")
		}
		if got, err := bundle.VerifyCode(keyID, payload, sig); err != nil || got != lg {
			t.Errorf("VerifyCode: %s %v", got, err)
		}
		if _, err := bundle.VerifyCode(keyID, append(payload, '!'), sig); !errors.Is(err, ErrSignature) {
			t.Errorf("VerifyCode over other bytes: %v", err)
		}
	}
	if _, _, err := k.SignCode("999999", payload); err == nil {
		t.Error("signed for an unknown municipality")
	}
	// The bundle's exact shape, as the interface fixes it.
	var raw map[string][]map[string]string
	data, _ := os.ReadFile(fixLayout.KitCodeKeys())
	if err := json.Unmarshal(data, &raw); err != nil || len(raw["keys"]) != 2 {
		t.Fatalf("bundle %s: %v", data, err)
	}
	for _, e := range raw["keys"] {
		if len(e) != 5 || e["validFrom"] != "2026-04-01" || e["validUntil"] != "" || !strings.HasPrefix(e["publicKey"], "-----BEGIN PUBLIC KEY-----") {
			t.Errorf("bundle entry %v", e)
		}
	}
}

func TestSealCertificate(t *testing.T) {
	for _, m := range fixMunis {
		s, err := testKeyring(t).Seal(m.Code)
		if err != nil {
			t.Fatal(err)
		}
		c := s.Cert
		if c.Subject.CommonName != m.Name+"長" || len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != m.Name {
			t.Errorf("%s: subject %s", m.Code, c.Subject)
		}
		kit, err := LoadCertificates(fixLayout.KitSealCert(m.Code))
		if err != nil || !kit[0].Equal(c) {
			t.Errorf("%s: kit seal certificate differs: %v", m.Code, err)
		}
		ca, err := LoadCertificates(fixLayout.KitSealCA())
		if err != nil || c.CheckSignatureFrom(ca[0]) != nil || !ca[0].Equal(s.Chain[0]) {
			t.Errorf("%s: not issued by the kit's seal CA: %v", m.Code, err)
		}
	}
}

func TestGenerateDevSealsIdempotent(t *testing.T) {
	before := snapshot(t, fixLayout)
	if err := GenerateDevSeals(fixLayout, fixMunis, fixNow); err != nil {
		t.Fatal(err)
	}
	if changed := diff(t, before, snapshot(t, fixLayout)); len(changed) > 0 {
		t.Errorf("second run changed %v", changed)
	}
	for _, bad := range [][]DevMunicipality{{{Code: "13101", Name: "x"}}, {{Code: "131016"}}, {fixMunis[0], fixMunis[0]}} {
		if err := GenerateDevSeals(DevLayout{KeysDir: t.TempDir(), KitDir: t.TempDir()}, bad, fixNow); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

// Rotation without downtime: signing goes on during Reload, switches to the
// new keys at once, and codes signed with the old key still verify against
// the bundle.
func TestKeyringRotation(t *testing.T) {
	l := copyLayout(t)
	clock := issuance.NewManualClock(fixNow)
	k := keyringOf(t, l, clock)
	payload := []byte("before")
	oldID, oldSig, err := k.SignCode("131016", payload)
	if err != nil {
		t.Fatal(err)
	}
	oldSeal, _ := k.Seal("131016")

	later := fixNow.AddDate(0, 3, 0)
	clock.Set(later)
	if err := RotateDevSeal(l, fixMunis[0], later); err != nil {
		t.Fatal(err)
	}
	// Until Reload, the old keys sign.
	if id, _, _ := k.SignCode("131016", payload); id != oldID {
		t.Fatal("keys changed before Reload")
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var signErr error
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := k.SignCode("131016", payload); err != nil {
					mu.Lock()
					signErr = err
					mu.Unlock()
				}
				if _, err := k.SignPDF("131016", testPDF(t), signingTime); err != nil {
					mu.Lock()
					signErr = err
					mu.Unlock()
				}
			}
		})
	}
	if err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if signErr != nil {
		t.Fatalf("signing failed during Reload: %v", signErr)
	}

	newID, newSig, err := k.SignCode("131016", payload)
	if err != nil {
		t.Fatal(err)
	}
	newSeal, _ := k.Seal("131016")
	if newID == oldID || newSeal.Cert.Equal(oldSeal.Cert) {
		t.Fatal("Reload did not put the new keys in use")
	}
	if id, _, _ := k.SignCode("272035", payload); id == "" {
		t.Error("the other municipality lost its key")
	}
	bundle, err := LoadCodeKeys(l.KitCodeKeys())
	if err != nil {
		t.Fatal(err)
	}
	for id, sig := range map[string][]byte{oldID: oldSig, newID: newSig} {
		if lg, err := bundle.VerifyCode(id, payload, sig); err != nil || lg != "131016" {
			t.Errorf("key %s: %s %v", id, lg, err)
		}
	}
	for _, e := range bundle.Entries() {
		switch e.KeyID {
		case oldID:
			if e.ValidUntil != "2026-07-01" {
				t.Errorf("rotated key validUntil %q, want 2026-07-01", e.ValidUntil)
			}
		case newID:
			if e.ValidFrom != "2026-07-01" || e.ValidUntil != "" {
				t.Errorf("new key valid %q..%q", e.ValidFrom, e.ValidUntil)
			}
		}
	}
	if len(bundle.Entries()) != 3 {
		t.Errorf("bundle has %d keys, want 3", len(bundle.Entries()))
	}
}

// A reload that fails in any part leaves every key in use as it was.
func TestKeyringReloadFailureKeepsKeys(t *testing.T) {
	unpublished, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := LoadPrivateKey(fixLayout.RootKey())
	for name, breakIt := range map[string]func(l DevLayout){
		"unpublished code key": func(l DevLayout) { WriteKey(l.CodeKey("131016"), unpublished) },
		"code key not P-256":   func(l DevLayout) { WriteKey(l.CodeKey("131016"), rsaKey) },
		"seal key of another":  func(l DevLayout) { WriteKey(l.SealKey("131016"), rsaKey) },
		"bundle garbage":       func(l DevLayout) { os.WriteFile(l.CodeKeys(), []byte("{"), 0o644) },
		"seal cert missing":    func(l DevLayout) { os.Remove(l.SealCert("272035")) },
		"seal without its CA": func(l DevLayout) {
			c, _ := LoadCertificates(l.SealCert("131016"))
			os.WriteFile(l.SealCert("131016"), PEMCert(c[0]), 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := copyLayout(t)
			k := keyringOf(t, l, issuance.NewManualClock(fixNow))
			before, _, _ := k.SignCode("131016", nil)
			breakIt(l)
			if err := k.Reload(); err == nil {
				t.Fatal("Reload accepted it")
			}
			if after, _, err := k.SignCode("131016", nil); err != nil || after != before {
				t.Errorf("after a failed Reload: key %s %v, want %s", after, err, before)
			}
			if _, err := LoadKeyring([]SealFiles{l.SealFiles("131016"), l.SealFiles("272035")}, l.CodeKeys(), issuance.NewManualClock(fixNow)); err == nil {
				t.Error("LoadKeyring accepted it")
			}
		})
	}
	// An expired seal certificate is refused at load.
	if _, err := LoadKeyring([]SealFiles{fixLayout.SealFiles("131016")}, fixLayout.CodeKeys(), issuance.NewManualClock(fixNow.AddDate(3, 0, 0))); err == nil {
		t.Error("LoadKeyring accepted an expired seal certificate")
	}
}

func TestLoadCodeKeysBadInput(t *testing.T) {
	good, err := os.ReadFile(fixLayout.KitCodeKeys())
	if err != nil {
		t.Fatal(err)
	}
	var f CodeKeysFile
	if err := json.Unmarshal(good, &f); err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&p256.PublicKey)
	for name, edit := range map[string]func(e *CodeKeyEntry){
		"keyId of another key": func(e *CodeKeyEntry) { e.KeyID = "0000000000000000" },
		"P-384": func(e *CodeKeyEntry) {
			e.PublicKey = string(pemBlock("PUBLIC KEY", der))
			e.KeyID = CodeKeyID(&p256.PublicKey)
		},
		"not PEM":    func(e *CodeKeyEntry) { e.PublicKey = "xyz" },
		"lgCode":     func(e *CodeKeyEntry) { e.LGCode = "13101" },
		"validFrom":  func(e *CodeKeyEntry) { e.ValidFrom = "2026/04/01" },
		"validUntil": func(e *CodeKeyEntry) { e.ValidUntil = "soon" },
	} {
		entries := append([]CodeKeyEntry(nil), f.Keys...)
		edit(&entries[0])
		data, _ := json.Marshal(CodeKeysFile{Keys: entries})
		if _, err := ParseCodeKeys(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dup, _ := json.Marshal(CodeKeysFile{Keys: []CodeKeyEntry{f.Keys[0], f.Keys[0]}})
	if _, err := ParseCodeKeys(dup); err == nil {
		t.Error("accepted a key listed twice")
	}
	if _, err := ParseCodeKeys([]byte(`{"keys":[],"extra":1}`)); err == nil {
		t.Error("accepted an unknown field")
	}
}

// A seal key in PKCS#12 as today's OpenSSL writes it (AES-256, PBKDF2).
func TestKeyringPKCS12(t *testing.T) {
	l := copyLayout(t)
	p12 := filepath.Join(t.TempDir(), "seal.p12")
	out, err := exec.Command(testkit.Tool(t, "openssl"), "pkcs12", "-export", "-in", l.SealCert("131016"), "-inkey", l.SealKey("131016"),
		"-out", p12, "-passout", "pass:秘密のpass", "-keypbe", "AES-256-CBC", "-certpbe", "AES-256-CBC", "-macalg", "sha256").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12: %v\n%s", err, out)
	}
	files := SealFiles{LGCode: "131016", Key: p12, KeyPassword: "秘密のpass", CodeKey: l.CodeKey("131016")}
	k, err := LoadKeyring([]SealFiles{files}, l.CodeKeys(), issuance.NewManualClock(fixNow))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := k.Seal("131016")
	if s.Cert.Subject.CommonName != "千代田区長" || len(s.Chain) != 1 {
		t.Errorf("from PKCS#12: %s with %d CA certificates", s.Cert.Subject, len(s.Chain))
	}
	signed, err := k.SignPDF("131016", testPDF(t), signingTime)
	if err != nil {
		t.Fatal(err)
	}
	if out := pdfsig(t, signed); !strings.Contains(out, "Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", out)
	}
	files.KeyPassword = "wrong"
	if _, err := LoadKeyring([]SealFiles{files}, l.CodeKeys(), issuance.NewManualClock(fixNow)); err == nil {
		t.Error("PKCS#12 opened with a wrong password")
	}
	if _, _, err := LoadSigner(l.SealCert("131016"), ""); err == nil {
		t.Error("LoadSigner took a certificate for a key")
	}
}
