package registry

import (
	"bytes"
	"crypto/rand"
	"testing"
)

// Values sealed before rotation existed (format 1: no key id) still open,
// with whichever loaded key sealed them, and so do their bare status-check
// HMACs; format 2 names its key, and a value under a key not loaded says
// so.
func TestSealedFormats(t *testing.T) {
	k1, _ := NewMyNumberKey(bytes.Repeat([]byte{1}, 32))
	k2, _ := NewMyNumberKey(bytes.Repeat([]byte{2}, 32))
	ad := myNumberAD("131016", "P1")
	v1 := make([]byte, 1+12)
	v1[0] = sealedV1
	rand.Read(v1[1:])
	v1 = k1.primary.aead.Seal(v1, v1[1:], []byte("123456789018"), ad)
	ring := k2.WithOld(k1)
	for name, k := range map[string]*MyNumberKey{"old alone": k1, "ring": ring} {
		if n, err := k.Open("131016", "P1", v1); err != nil || n != "123456789018" {
			t.Errorf("%s: format 1: %q %v", name, n, err)
		}
	}
	if _, err := k2.Open("131016", "P1", v1); err == nil {
		t.Error("format 1 opened with a key that did not seal it")
	}
	v2 := ring.Seal("131016", "P1", "123456789018")
	if v2[0] != sealedV2 || !bytes.Equal(v2[1:9], k2.primary.id[:]) {
		t.Fatalf("format 2 does not carry the primary's id: % x", v2[:9])
	}
	if _, err := k1.Open("131016", "P1", v2); err == nil || !bytes.Contains([]byte(err.Error()), []byte("not loaded")) {
		t.Errorf("a value under a key not loaded: %v", err)
	}
	bare := birthMAC(k1.primary, "N1", "1985-06-07")
	if !ring.BirthMatches("N1", "1985-06-07", bare) || ring.BirthMatches("N1", "1985-06-08", bare) {
		t.Error("a format 1 status check")
	}
	if k2.BirthMatches("N1", "1985-06-07", bare) || !k2.WithBirthChecks(k1.BirthCheckKey()).BirthMatches("N1", "1985-06-07", bare) {
		t.Error("a retired key's status check needs its check subkey, and only it")
	}
}

// A 個人番号 seals to the same bytes for the same person, number and key
// (so an unchanged row of a snapshot compares equal to its stored copy), and
// to different bytes, with different nonces, when any of them differs; the
// other sealed values keep random nonces.
func TestMyNumberSealIsDeterministicPerRow(t *testing.T) {
	k1, _ := NewMyNumberKey(bytes.Repeat([]byte{1}, 32))
	k2, _ := NewMyNumberKey(bytes.Repeat([]byte{2}, 32))
	a := k1.Seal("131016", "P1", "123456789018")
	if !bytes.Equal(a, k1.Seal("131016", "P1", "123456789018")) {
		t.Fatal("the same row sealed twice differs")
	}
	nonce := func(v []byte) []byte { return v[1+keyIDLen : 1+keyIDLen+12] }
	for name, v := range map[string][]byte{
		"another number":       k1.Seal("131016", "P1", "123456789026"),
		"another person":       k1.Seal("131016", "P2", "123456789018"),
		"another municipality": k1.Seal("131024", "P1", "123456789018"),
		"another key":          k2.Seal("131016", "P1", "123456789018"),
	} {
		if bytes.Equal(v, a) || bytes.Equal(nonce(v), nonce(a)) {
			t.Errorf("%s: the same sealed value or nonce", name)
		}
	}
	if n, err := k1.Open("131016", "P1", a); err != nil || n != "123456789018" {
		t.Errorf("does not open: %q %v", n, err)
	}
	if _, err := k1.Open("131016", "P2", a); err == nil {
		t.Error("opened for another person")
	}
	if bytes.Equal(k1.SealNote("N1", "x"), k1.SealNote("N1", "x")) {
		t.Error("a note sealed twice is the same: its nonce is not random")
	}
}
