package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/lgwan/issuance/issuance"
)

// Sealing what the 本籍 applications and the console keep. Each value is
// bound (as associated data) to the row it belongs to, so a value copied
// onto another row does not open.

// SealApplicationFacts seals an application's facts for its number.
func (k *MyNumberKey) SealApplicationFacts(number string, f issuance.ApplicationFacts) []byte {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err) // strings and an int
	}
	return k.sealWith(useApplication, b, []byte("honseki_application.facts\x00"+number))
}

// OpenApplicationFacts opens what SealApplicationFacts sealed for number.
func (k *MyNumberKey) OpenApplicationFacts(number string, sealed []byte) (issuance.ApplicationFacts, error) {
	var f issuance.ApplicationFacts
	b, err := k.openWith(useApplication, sealed, []byte("honseki_application.facts\x00"+number))
	if err != nil {
		return f, fmt.Errorf("open facts of an application: %w", err)
	}
	return f, json.Unmarshal(b, &f)
}

// SealNote seals a clerk's internal note on an application.
func (k *MyNumberKey) SealNote(number, note string) []byte {
	return k.sealWith(useApplication, []byte(note), []byte("honseki_application.note\x00"+number))
}

// OpenNote opens what SealNote sealed for number.
func (k *MyNumberKey) OpenNote(number string, sealed []byte) (string, error) {
	b, err := k.openWith(useApplication, sealed, []byte("honseki_application.note\x00"+number))
	if err != nil {
		return "", fmt.Errorf("open note of an application: %w", err)
	}
	return string(b), nil
}

// BirthCheck is what the status check compares (with hmac.Equal): a keyed
// hash of the application number and the birth date, so the birth date is
// not kept in clear and the check still works after the facts are purged.
//
// The value is the primary key's id and the HMAC under its subkey; a value
// of the first format is the HMAC alone (BirthMatches tells them apart).
func (k *MyNumberKey) BirthCheck(number, birthDate string) []byte {
	return append(k.primary.id[:len(k.primary.id):len(k.primary.id)], birthMAC(k.primary, number, birthDate)...)
}

func birthMAC(ks *keySet, number, birthDate string) []byte {
	m := hmac.New(sha256.New, ks.birthMAC)
	m.Write([]byte(number + "\x00" + birthDate))
	return m.Sum(nil)
}

// BirthMatches reports whether stored (a BirthCheck of any loaded key, or
// of the first format) is the check of number and birthDate. Its work does
// not depend on whether it matches.
func (k *MyNumberKey) BirthMatches(number, birthDate string, stored []byte) bool {
	match := 0
	for _, ks := range k.all() {
		mac := birthMAC(ks, number, birthDate)
		v1 := hmac.Equal(mac, stored)
		v2 := hmac.Equal(append(ks.id[:len(ks.id):len(ks.id)], mac...), stored)
		if v1 || v2 {
			match |= 1
		}
	}
	for _, c := range k.checks {
		mac := c.mac(number, birthDate)
		if hmac.Equal(mac, stored) || hmac.Equal(append(c.id[:len(c.id):len(c.id)], mac...), stored) {
			match |= 1
		}
	}
	return match == 1
}

// SealTOTP seals a clerk's TOTP seed (base32) for the username.
func (k *MyNumberKey) SealTOTP(username, secret string) []byte {
	return k.sealWith(useTOTP, []byte(secret), []byte("clerk.totp_secret\x00"+username))
}

// OpenTOTP opens what SealTOTP sealed for username.
func (k *MyNumberKey) OpenTOTP(username string, sealed []byte) (string, error) {
	b, err := k.openWith(useTOTP, sealed, []byte("clerk.totp_secret\x00"+username))
	if err != nil {
		return "", fmt.Errorf("open TOTP seed: %w", err)
	}
	return string(b), nil
}
