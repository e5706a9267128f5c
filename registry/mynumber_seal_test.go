package registry

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

// Seal reuses its nonce HMACs (a pool, Reset between uses): sealing from
// many goroutines at once gives, for every row, the bytes of a nonce made
// by a fresh HMAC, and so the same bytes every time.
func TestSealNonceReusedHMACs(t *testing.T) {
	k, err := NewMyNumberKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	want := func(lg, pid, number string) []byte {
		ad := myNumberAD(lg, pid)
		m := hmac.New(sha256.New, k.primary.numberNonce)
		m.Write(ad)
		m.Write([]byte{0})
		m.Write([]byte(number))
		return seal(k.primary.id, k.primary.aead, m.Sum(nil)[:k.primary.aead.NonceSize()], []byte(number), ad)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				pid, number := fmt.Sprintf("P%09d", i), fmt.Sprintf("%012d", g*1000+i)
				got := k.Seal("131016", pid, number)
				if !bytes.Equal(got, want("131016", pid, number)) {
					t.Errorf("goroutine %d row %d: sealed %x", g, i, got)
					return
				}
				if back, err := k.Open("131016", pid, got); err != nil || back != number {
					t.Errorf("goroutine %d row %d: opens to %q, %v", g, i, back, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
