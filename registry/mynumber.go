package registry

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
)

// MyNumberKey seals 個人番号 (特定個人情報) at rest with AES-256-GCM. The key
// lives in a file outside the repository and the database; the associated
// data binds each sealed number to its municipality and person, so a sealed
// value copied onto another row does not open.
//
// The same key file seals the answers kept for requestId replay (Replay),
// which hold certificates and, with them, 個人番号: under a subkey derived
// with HKDF, so that the two uses never share a key or its nonce budget.
//
// So do the facts of 本籍 applications and the clerks' TOTP seeds, each under
// a subkey of its own (honseki_seal.go).
//
// It is a keyring (docs/keys.md): the primary key seals, and older keys,
// loaded during a rotation (WithOld), still open what they sealed. Every
// value sealed carries its key's id, so opening never guesses; values of
// the first format (no id) are tried with each key.
type MyNumberKey struct {
	primary *keySet
	old     []*keySet
	checks  []*BirthCheckKey // status-check keys of retired keys (BirthMatches only)
}

// keySet is one key file's key and its subkeys.
type keySet struct {
	id          [keyIDLen]byte
	aead        cipher.AEAD // 個人番号
	replay      cipher.AEAD // stored answers
	application cipher.AEAD // 本籍 application facts and clerks' notes
	totp        cipher.AEAD // clerks' TOTP seeds
	birthMAC    []byte      // HMAC key of the status check (application number, birth date)
	numberNonce []byte      // HMAC key of the 個人番号 nonces (Seal)
	// nonceMACs holds HMACs under numberNonce, Reset between uses: a
	// snapshot seals a million numbers, and a new HMAC hashes its key
	// anew and allocates each time.
	nonceMACs sync.Pool
}

// Sealed formats: the first byte says which. Version 1 (before rotation
// existed): nonce, ciphertext with tag, under the one key. Version 2: the
// key id (keyIDLen bytes), nonce, ciphertext with tag.
const (
	sealedV1  = 1
	sealedV2  = 2
	keyIDLen  = 8
	keyIDInfo = "issuance my_number key id v1"
)

// NewMyNumberKey makes a key from 32 bytes.
func NewMyNumberKey(key []byte) (*MyNumberKey, error) {
	ks, err := newKeySet(key)
	if err != nil {
		return nil, err
	}
	return &MyNumberKey{primary: ks}, nil
}

func newKeySet(key []byte) (*keySet, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("個人番号 key: %d bytes, need 32 (AES-256)", len(key))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	k := &keySet{aead: aead}
	// The id is derived like a subkey: it names the key and reveals nothing
	// of it.
	id, err := hkdf.Key(sha256.New, key, nil, keyIDInfo, keyIDLen)
	if err != nil {
		return nil, err
	}
	copy(k.id[:], id)
	for _, sub := range []struct {
		info string
		aead *cipher.AEAD
		raw  *[]byte
	}{
		{"issuance request_replay v1", &k.replay, nil},
		{"issuance honseki_application v1", &k.application, nil},
		{"issuance clerk totp v1", &k.totp, nil},
		{"issuance honseki birth_check v1", nil, &k.birthMAC},
		{"issuance my_number nonce v1", nil, &k.numberNonce},
	} {
		b, err := hkdf.Key(sha256.New, key, nil, sub.info, 32)
		if err != nil {
			return nil, err
		}
		if sub.raw != nil {
			*sub.raw = b
			continue
		}
		if *sub.aead, err = newGCM(b); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// WithOld is k with old keys loaded to open (never to seal) what they
// sealed: the state of every node during a rotation.
func (k *MyNumberKey) WithOld(old ...*MyNumberKey) *MyNumberKey {
	out := &MyNumberKey{primary: k.primary, old: slices.Clone(k.old), checks: k.checks}
	for _, o := range old {
		for _, ks := range append([]*keySet{o.primary}, o.old...) {
			if ks.id != out.primary.id && !slices.ContainsFunc(out.old, func(x *keySet) bool { return x.id == ks.id }) {
				out.old = append(out.old, ks)
			}
		}
	}
	return out
}

// ID is the primary key's id, in hexadecimal (as docs/keys.md and the
// keys commands show it).
func (k *MyNumberKey) ID() string { return hex.EncodeToString(k.primary.id[:]) }

// OldIDs are the ids of the keys loaded to open only.
func (k *MyNumberKey) OldIDs() []string {
	var out []string
	for _, ks := range k.old {
		out = append(out, hex.EncodeToString(ks.id[:]))
	}
	return out
}

// primaryPrefix is how a value sealed under the primary key begins.
func (k *MyNumberKey) primaryPrefix() []byte {
	return append([]byte{sealedV2}, k.primary.id[:]...)
}

// all is the primary key and then the old ones.
func (k *MyNumberKey) all() []*keySet { return append([]*keySet{k.primary}, k.old...) }

// sealWith seals under the primary key's subkey that use picks.
func (k *MyNumberKey) sealWith(use func(*keySet) cipher.AEAD, plaintext, ad []byte) []byte {
	return seal(k.primary.id, use(k.primary), nil, plaintext, ad)
}

// openWith opens a value sealed under any loaded key's subkey that use
// picks: by its key id, or, for the first format, with each key.
func (k *MyNumberKey) openWith(use func(*keySet) cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) > 0 && sealed[0] == sealedV1 {
		for _, ks := range k.all() {
			if b, err := openV1(use(ks), sealed, ad); err == nil {
				return b, nil
			} else if errors.Is(err, errSealedFormat) {
				return nil, err
			}
		}
		return nil, errors.New("message authentication failed")
	}
	if len(sealed) < 1+keyIDLen || sealed[0] != sealedV2 {
		return nil, errSealedFormat
	}
	for _, ks := range k.all() {
		if bytes.Equal(ks.id[:], sealed[1:1+keyIDLen]) {
			return openV2(use(ks), sealed, ad)
		}
	}
	return nil, fmt.Errorf("%w: sealed under key %x, which is not loaded", errKeyNotLoaded, sealed[1:1+keyIDLen])
}

// errKeyNotLoaded: a value sealed under a key that is neither the primary
// nor an old key loaded (a rotation retired it too early).
var errKeyNotLoaded = errors.New("key not loaded")

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// LoadMyNumberKey reads a key file: 64 hexadecimal digits. The file must not
// be readable by group or others.
func LoadMyNumberKey(path string) (*MyNumberKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("個人番号 key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("個人番号 key %s: readable by group or others (mode %v); chmod 600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("個人番号 key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("個人番号 key %s: not hexadecimal", path)
	}
	return NewMyNumberKey(key)
}

// GenerateMyNumberKey writes a new random key file (mode 0600); it refuses
// to overwrite one.
func GenerateMyNumberKey(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func myNumberAD(lgCode, personID string) []byte {
	return []byte("my_number\x00" + lgCode + "\x00" + personID)
}

// Seal encrypts a 個人番号 for one person's row.
//
// It is deterministic: the nonce is an HMAC (under a subkey of its own) of
// the row's associated data and the number, so the same number of the same
// person seals to the same bytes under the same key. That is what lets a
// daily snapshot leave the rows of unchanged people alone (a random nonce
// would make every row holding a 個人番号 differ from its stored copy, and
// be rewritten, every night). It is safe as a synthetic IV: two seals share
// a nonce only if they share the person and the number, and then they are
// the same ciphertext; what it shows is only that a person's number did
// not change between two seals, which the unchanged row shows anyway.
func (k *MyNumberKey) Seal(lgCode, personID, number string) []byte {
	ks := k.primary
	ad := myNumberAD(lgCode, personID)
	m, _ := ks.nonceMACs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, ks.numberNonce)
	} else {
		m.Reset()
	}
	m.Write(ad)
	m.Write([]byte{0})
	io.WriteString(m, number)
	var sum [sha256.Size]byte
	nonce := m.Sum(sum[:0])[:ks.aead.NonceSize()]
	ks.nonceMACs.Put(m)
	return seal(ks.id, ks.aead, nonce, []byte(number), ad)
}

func useMyNumber(ks *keySet) cipher.AEAD    { return ks.aead }
func useReplay(ks *keySet) cipher.AEAD      { return ks.replay }
func useApplication(ks *keySet) cipher.AEAD { return ks.application }
func useTOTP(ks *keySet) cipher.AEAD        { return ks.totp }

// Open decrypts what Seal produced for the same row.
func (k *MyNumberKey) Open(lgCode, personID string, sealed []byte) (string, error) {
	b, err := k.openWith(useMyNumber, sealed, myNumberAD(lgCode, personID))
	if errors.Is(err, errSealedFormat) || errors.Is(err, errKeyNotLoaded) {
		return "", fmt.Errorf("個人番号: %w", err)
	}
	if err != nil {
		return "", errors.New("個人番号: does not open with this key for this person")
	}
	return string(b), nil
}

var errSealedFormat = errors.New("unknown sealed format")

// seal encrypts plaintext bound to ad, in the sealed format of version 2:
// version, key id, nonce, ciphertext with tag. The nonce is random unless
// one is given.
func seal(id [keyIDLen]byte, aead cipher.AEAD, nonce, plaintext, ad []byte) []byte {
	head := 1 + keyIDLen + aead.NonceSize()
	out := make([]byte, head, head+len(plaintext)+aead.Overhead())
	out[0] = sealedV2
	copy(out[1:], id[:])
	if nonce != nil {
		copy(out[1+keyIDLen:], nonce)
	} else if _, err := rand.Read(out[1+keyIDLen:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return aead.Seal(out, out[1+keyIDLen:], plaintext, ad)
}

// openV2 decrypts a version 2 value whose key id was found.
func openV2(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+keyIDLen+n {
		return nil, errSealedFormat
	}
	return aead.Open(nil, sealed[1+keyIDLen:1+keyIDLen+n], sealed[1+keyIDLen+n:], ad)
}

// openV1 decrypts a version 1 value (no key id).
func openV1(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealedV1 {
		return nil, errSealedFormat
	}
	return aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
}

// BirthCheckKey is the status-check (HMAC) subkey of a 個人番号 key, alone:
// the status check of an application whose facts were purged cannot be
// recomputed under a new key (the birth date is gone), so after a rotation
// the old key's check subkey is kept for those, and the old key itself,
// which opens 個人番号, is retired (docs/keys.md). It opens nothing.
type BirthCheckKey struct {
	id  [keyIDLen]byte
	key []byte
}

func (c *BirthCheckKey) mac(number, birthDate string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(number + "\x00" + birthDate))
	return m.Sum(nil)
}

// ID is the id of the key the check subkey was derived from.
func (c *BirthCheckKey) ID() string { return hex.EncodeToString(c.id[:]) }

// BirthCheckKey is the status-check subkey of k's primary key.
func (k *MyNumberKey) BirthCheckKey() *BirthCheckKey {
	return &BirthCheckKey{id: k.primary.id, key: slices.Clone(k.primary.birthMAC)}
}

// WithBirthChecks is k with retired keys' status-check subkeys loaded.
func (k *MyNumberKey) WithBirthChecks(c ...*BirthCheckKey) *MyNumberKey {
	out := *k
	out.checks = append(slices.Clone(k.checks), c...)
	return &out
}

// CheckIDs are the ids of the status-check subkeys loaded.
func (k *MyNumberKey) CheckIDs() []string {
	var out []string
	for _, c := range k.checks {
		out = append(out, c.ID())
	}
	return out
}

// WriteBirthCheckKey writes c to a new file (mode 0600): "<key id> <subkey>",
// both hexadecimal. It refuses to overwrite one.
func WriteBirthCheckKey(path string, c *BirthCheckKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%x %x\n", c.id, c.key); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadBirthCheckKey reads what WriteBirthCheckKey wrote.
func LoadBirthCheckKey(path string) (*BirthCheckKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("status-check key: %w", err)
	}
	idHex, keyHex, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	id, err1 := hex.DecodeString(idHex)
	key, err2 := hex.DecodeString(keyHex)
	if !ok || err1 != nil || err2 != nil || len(id) != keyIDLen || len(key) != 32 {
		return nil, fmt.Errorf("status-check key %s: not \"<16 hex digits> <64 hex digits>\"", path)
	}
	c := &BirthCheckKey{key: key}
	copy(c.id[:], id)
	return c, nil
}
