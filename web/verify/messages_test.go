package verify_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/verify"
)

// TestEveryLanguageHasEveryMessage: each of the seven languages has every
// message of the site — a text for every reason a scan does not verify and
// a name for every certificate type — with the same placeholders as
// English, and a translation where one is due; the check itself fails when
// a language lacks one.
func TestEveryLanguageHasEveryMessage(t *testing.T) {
	cat := verify.Catalogue()
	if err := verify.CheckCatalogue(cat); err != nil {
		t.Fatal(err)
	}
	keys := verify.MessageKeys()
	for _, r := range verify.Reasons() {
		if !slices.Contains(keys, "reason."+r) {
			t.Errorf("reason %s is not among the required messages", r)
		}
	}
	for ct := range issuance.Issuable {
		if !slices.Contains(keys, "type."+string(ct)) {
			t.Errorf("type %s is not among the required messages", ct)
		}
	}
	placeholder := regexp.MustCompile(`\{[a-z]+\}`)
	for _, lang := range web.Languages {
		for _, k := range keys {
			got, want := placeholder.FindAllString(cat[lang][k], -1), placeholder.FindAllString(cat["en"][k], -1)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: placeholders %v, want %v", lang, k, got, want)
			}
			if lang != "ja" && k != "lang.name" && cat[lang][k] == cat["ja"][k] && !regexp.MustCompile(`^type\.`).MatchString(k) {
				t.Errorf("%s %s is the Japanese text, not a translation", lang, k)
			}
		}
	}
	for name, damage := range map[string]func(map[string]map[string]string){
		"missing reason": func(c map[string]map[string]string) { delete(c["ko"], "reason.badSignature") },
		"missing type":   func(c map[string]map[string]string) { delete(c["pt"], "type.KOSEKI_ZENBU") },
		"empty message":  func(c map[string]map[string]string) { c["es"]["submit"] = " " },
		"unknown key":    func(c map[string]map[string]string) { c["zh-Hant"]["reason.typo"] = "x" },
		"no language":    func(c map[string]map[string]string) { delete(c, "zh-Hans") },
		"extra language": func(c map[string]map[string]string) { c["fr"] = c["en"] },
	} {
		c := verify.Catalogue()
		damage(c)
		if err := verify.CheckCatalogue(c); err == nil {
			t.Errorf("%s: the completeness check passed", name)
		}
	}
}
