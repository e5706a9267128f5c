package render

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// pageMarks reads each page of a delivered PDF as a verifier does: the
// facts are the page's text objects in order without the last two, which
// are the 電子契印 box (its label with n/N, and the code).
func pageMarks(t *testing.T, pdf []byte) (facts [][]string, labels, codes []string) {
	t.Helper()
	pages, _ := readPages(t, pdf)
	for _, p := range pages {
		n := len(p.texts)
		if n < 3 {
			t.Fatalf("page with %d text objects", n)
		}
		var f []string
		for _, tx := range p.texts[:n-2] {
			f = append(f, tx.text)
		}
		facts = append(facts, f)
		labels = append(labels, p.texts[n-2].text)
		codes = append(codes, p.texts[n-1].text)
	}
	return facts, labels, codes
}

func TestKeiinVerifiesEveryPage(t *testing.T) {
	r, seal := setup(t)
	doc := testDoc(seal, household(14)...)
	doc.Options.IncludeRelationship = true
	pdf, pages := render(t, doc)
	if pages < 3 {
		t.Fatalf("want a document of at least 3 pages, got %d", pages)
	}
	facts, labels, codes := pageMarks(t, pdf)
	codeRe := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$`)
	for i := range facts {
		if want := "電子契印　" + strconv.Itoa(i+1) + "/" + strconv.Itoa(pages); labels[i] != want {
			t.Errorf("page %d: mark label %q, want %q", i+1, labels[i], want)
		}
		if !codeRe.MatchString(codes[i]) {
			t.Errorf("page %d: code %q is not two groups of five base-32 characters", i+1, codes[i])
		}
		if got := KeiinCode(r.keiinKey, doc.ID, i+1, pages, facts[i]); got != codes[i] {
			t.Errorf("page %d: printed code %s, recomputed %s", i+1, codes[i], got)
		}
	}

	// What a forger might do, each of which the mark must reveal.
	other := testDoc(seal, household(14)...)
	other.ID = "7d1c0b3e-0000-4000-8000-000000000001"
	other.Options.IncludeRelationship = true
	otherPDF, _ := render(t, other)
	otherFacts, _, otherCodes := pageMarks(t, otherPDF)
	// A birth date on page 2 moved by a day.
	altered := append([]string(nil), facts[1]...)
	for j, f := range altered {
		if strings.HasPrefix(f, "昭和") {
			altered[j] = strings.Replace(f, "年", "年1", 1)
			break
		}
	}
	if equal(altered, facts[1]) {
		t.Fatal("test did not alter page 2")
	}
	for _, tc := range []struct {
		name        string
		id          string
		page, pages int
		facts       []string
		printed     string
	}{
		{"one fact of page 2 changed", doc.ID, 2, pages, altered, codes[1]},
		{"page 2 of another certificate", doc.ID, 2, pages, otherFacts[1], otherCodes[1]},
		{"page 2 presented as page 1", doc.ID, 1, pages, facts[1], codes[1]},
		{"a page removed (count changed)", doc.ID, 2, pages - 1, facts[1], codes[1]},
		{"another key", doc.ID, 2, pages, facts[1], KeiinCode([]byte("another key"), doc.ID, 2, pages, facts[1])},
	} {
		if got := KeiinCode(r.keiinKey, tc.id, tc.page, tc.pages, tc.facts); got == tc.printed {
			t.Errorf("%s: the mark still verifies (%s)", tc.name, got)
		}
	}
}

// Changing what one page prints changes that page's mark and no other's:
// each page is bound on its own, so a single sheet can be checked.
func TestKeiinChangesWithItsPageOnly(t *testing.T) {
	_, seal := setup(t)
	a := testDoc(seal, household(14)...)
	b := testDoc(seal, household(14)...)
	last := len(b.Persons) - 1
	b.Persons[last].GivenName = "改竄"
	pdfA, pages := render(t, a)
	pdfB, _ := render(t, b)
	_, _, codesA := pageMarks(t, pdfA)
	factsB, _, codesB := pageMarks(t, pdfB)
	changed := -1
	for i := range factsB {
		for _, f := range factsB[i] {
			if f == b.Persons[last].FullName() {
				changed = i
			}
		}
	}
	if changed < 0 {
		t.Fatal("altered name not found")
	}
	for i := range pages {
		if (codesA[i] != codesB[i]) != (i == changed) {
			t.Errorf("page %d: mark %s vs %s; the altered page is %d", i+1, codesA[i], codesB[i], changed+1)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
