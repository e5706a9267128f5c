package registry

import (
	"bytes"
	"testing"

	"github.com/lgwan/issuance/issuance"
)

func TestSealedValuesAreBoundToTheirRow(t *testing.T) {
	k, err := NewMyNumberKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := issuance.ApplicationFacts{Name: "山田 太郎", BirthDate: "1980-01-02", Sex: issuance.Male, HonsekiAddress: "東京都千代田区一番町1番地", HeadName: "山田 一郎"}
	sealed := k.SealApplicationFacts("123456789012", f)
	if bytes.Contains(sealed, []byte("1980-01-02")) {
		t.Fatal("facts in clear")
	}
	if got, err := k.OpenApplicationFacts("123456789012", sealed); err != nil || got != f {
		t.Fatalf("open: %+v, %v", got, err)
	}
	if _, err := k.OpenApplicationFacts("123456789013", sealed); err == nil {
		t.Fatal("facts opened on another application's row")
	}
	if _, err := k.OpenNote("123456789012", sealed); err == nil {
		t.Fatal("facts opened as a note")
	}
	if _, err := k.OpenTOTP("alice", k.SealTOTP("bob", "JBSWY3DPEHPK3PXP")); err == nil {
		t.Fatal("one clerk's seed opened for another")
	}
	if bytes.Equal(k.BirthCheck("123456789012", "1980-01-02"), k.BirthCheck("123456789012", "1980-01-03")) {
		t.Fatal("birth check ignores the date")
	}
}
