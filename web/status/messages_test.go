package status_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/status"
)

// TestEveryLanguageHasEveryMessage: each of the seven languages has every
// message of the page, a label and an explanation for every status and a
// text for every rejection reason, with the same placeholders as Japanese;
// and the check itself fails when a language lacks one.
func TestEveryLanguageHasEveryMessage(t *testing.T) {
	cat := status.Catalogue()
	if err := status.CheckCatalogue(cat); err != nil {
		t.Fatal(err)
	}
	keys := status.MessageKeys()
	for _, r := range issuance.RejectReasons {
		if !slices.Contains(keys, "reason."+string(r)) {
			t.Errorf("rejection reason %s is not among the required messages", r)
		}
	}
	for _, s := range []issuance.ApplicationStatus{issuance.ApplicationReceived, issuance.ApplicationApproved,
		issuance.ApplicationRejected, issuance.ApplicationWithdrawn, "UNKNOWN"} {
		if !slices.Contains(keys, "status."+string(s)) || !slices.Contains(keys, "status."+string(s)+".help") {
			t.Errorf("status %s is not among the required messages", s)
		}
	}
	placeholder := regexp.MustCompile(`\{[a-z]+\}`)
	for _, lang := range web.Languages {
		for _, k := range keys {
			got, want := placeholder.FindAllString(cat[lang][k], -1), placeholder.FindAllString(cat["en"][k], -1)
			if k == "date.format" {
				continue // each language orders the parts its own way
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: placeholders %v, want %v", lang, k, got, want)
			}
			if lang != "ja" && strings.HasPrefix(k, "reason.") && cat[lang][k] == cat["ja"][k] {
				t.Errorf("%s %s is the Japanese text, not a translation", lang, k)
			}
		}
	}

	// The check fails for a missing message, an empty one, an unknown key
	// and a missing language.
	for name, damage := range map[string]func(map[string]map[string]string){
		"missing reason": func(c map[string]map[string]string) { delete(c["ko"], "reason."+string(issuance.RejectNotMember)) },
		"missing status": func(c map[string]map[string]string) { delete(c["pt"], "status.WITHDRAWN.help") },
		"empty message":  func(c map[string]map[string]string) { c["es"]["submit"] = " " },
		"unknown key":    func(c map[string]map[string]string) { c["zh-Hant"]["reason.Typo"] = "x" },
		"no language":    func(c map[string]map[string]string) { delete(c, "zh-Hans") },
		"extra language": func(c map[string]map[string]string) { c["fr"] = c["en"] },
	} {
		c := status.Catalogue()
		damage(c)
		if err := status.CheckCatalogue(c); err == nil {
			t.Errorf("%s: the completeness check passed", name)
		}
	}
}

func TestParseBirthDate(t *testing.T) {
	now := time.Date(2026, 1, 15, 12, 0, 0, 0, issuance.Tokyo)
	for in, want := range map[string]string{
		"1990-04-01":    "1990-04-01",
		"1990-4-1":      "1990-04-01",
		"1990/04/01":    "1990-04-01",
		"１９９０－０４－０１":    "1990-04-01",
		"1990年4月1日":     "1990-04-01",
		"2000-02-29":    "2000-02-29",
		"2026-01-15":    "2026-01-15",
		"1990-02-30":    "",
		"1900-02-29":    "",
		"2026-01-16":    "", // tomorrow
		"1867-12-31":    "",
		"19900401":      "",
		"90-04-01":      "",
		"1990-04-01-02": "",
		"1990-004-01":   "",
		"1990-+4-01":    "",
		"abcd-ef-gh":    "",
	} {
		got, err := status.ParseBirthDate(in, now)
		if (err == nil) != (want != "") || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}
