package console_test

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

func at(day, hour int) time.Time { return time.Date(2026, 12, day, hour, 0, 0, 0, issuance.Tokyo) }

// statsWorld: issuances in December 2026 in both municipalities, by two
// operators, one with a code a spreadsheet would take for a formula.
func statsWorld(t *testing.T) *world {
	w := newWorld(t, registry.SignInPolicy{})
	w.issue(issued{lg: chiyoda, operator: "SEJ", typ: issuance.Juminhyo, copies: 2, fee: 400, at: at(1, 8), outcome: issuance.Printed})
	w.issue(issued{lg: chiyoda, operator: "SEJ", typ: issuance.Juminhyo, copies: 1, fee: 200, at: at(1, 9), outcome: issuance.Failed})
	w.issue(issued{lg: chiyoda, operator: "=HYPERLINK(\"x\")", typ: issuance.Inkan, copies: 1, fee: 300, at: at(2, 10), outcome: issuance.Printed})
	w.issue(issued{lg: chiyoda, operator: "LAW", typ: issuance.Juminhyo, copies: 1, fee: 200, at: at(2, 11), outcome: ""})
	w.issue(issued{lg: toyonaka, operator: "FAM", typ: issuance.KosekiZenbu, copies: 1, fee: 450, at: at(1, 12), outcome: issuance.Printed})
	return w
}

// TestStatsRoles: registry clerks, auditors and administrators see the
// statistics of their municipalities; a koseki clerk does not; a clerk of
// another municipality sees nothing of this one, and asking for it is 403.
func TestStatsRoles(t *testing.T) {
	w := statsWorld(t)
	for _, c := range []struct {
		user    string
		role    registry.Role
		lgs     []string
		status  int
		sees    []string // text the page shows
		notSees []string
	}{
		{"reg01", registry.RoleRegistryClerk, []string{chiyoda}, 200, []string{"千代田区", "SEJ", "LAW", "印鑑登録証明書", "手数料 700 円"}, []string{"豊中市（", "FAM", `data-lg="272035"`}},
		{"aud01", registry.RoleAuditor, []string{chiyoda, toyonaka}, 200, []string{"千代田区", "豊中市", "FAM", "戸籍全部事項証明書", "手数料 1,150 円"}, nil},
		{"adm01", registry.RoleAdmin, []string{toyonaka}, 200, []string{"豊中市", "FAM", "手数料 450 円"}, []string{"SEJ", "LAW", "千代田区（", `data-lg="131016"`}},
		{"kos01", registry.RoleKosekiClerk, []string{chiyoda}, 403, nil, []string{"SEJ"}},
	} {
		t.Run(c.user, func(t *testing.T) {
			cr := w.account(c.user, c.role, c.lgs...)
			cl := w.client()
			w.clock.Advance(31 * time.Second) // a fresh TOTP step for each sign-in
			cl.signIn(cr)
			a := cl.do("GET", "/console/stats?month=2026-12", nil)
			if a.status != c.status {
				t.Fatalf("GET stats: %d, want %d\n%s", a.status, c.status, a.body)
			}
			for _, s := range c.sees {
				if !strings.Contains(a.body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range c.notSees {
				if strings.Contains(a.body, s) {
					t.Errorf("page shows %q", s)
				}
			}
			csv := cl.do("GET", "/console/stats.csv?month=2026-12", nil)
			if csv.status != c.status {
				t.Fatalf("GET stats.csv: %d, want %d", csv.status, c.status)
			}
			if c.status != 200 {
				return
			}
			nav := strings.Contains(a.body, `<a href="/console/stats">`)
			if !nav {
				t.Errorf("no link to the statistics in the menu")
			}
			// A municipality outside the scope is refused, whichever way asked.
			for _, lg := range []string{chiyoda, toyonaka} {
				want := http.StatusOK
				if !contains(c.lgs, lg) {
					want = http.StatusForbidden
				}
				for _, p := range []string{"/console/stats", "/console/stats.csv"} {
					if a := cl.do("GET", p+"?lg="+lg, nil); a.status != want {
						t.Errorf("%s?lg=%s: %d, want %d", p, lg, a.status, want)
					}
				}
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestStatsBadFilters: a filter the page cannot use is 400 naming the field,
// on the page and on the CSV.
func TestStatsBadFilters(t *testing.T) {
	w := statsWorld(t)
	cl := w.client()
	cl.signIn(w.account("aud01", registry.RoleAuditor, chiyoda))
	for q, field := range map[string]string{
		"month=2026-13":                          "month",
		"month=2026-12&from=2026-12-01":          "month と from/to",
		"from=2026-12-01":                        "to がありません",
		"to=2026-12-01":                          "from がありません",
		"from=2026-12-05&to=2026-12-01":          "to 2026-12-01 が from",
		"from=2025-01-01&to=2026-12-31":          "366 日",
		"from=2026-12-1&to=2026-12-31":           "from",
		"by=week":                                "by",
		"month=2026-12&month=2026-11":            "month が複数",
		"month=2026-12&operator=SEJ":             "不明な項目: operator",
		"month=2026-12&lg=131016&lg=272035&by=x": "lg が複数",
	} {
		for _, p := range []string{"/console/stats?", "/console/stats.csv?"} {
			a := cl.do("GET", p+q, nil)
			if a.status != http.StatusBadRequest || !strings.Contains(a.body, field) {
				t.Errorf("%s%s: %d, want 400 naming %q\n%s", p, q, a.status, field, a.body)
			}
		}
	}
	if a := cl.do("GET", "/console/stats.csv?month=2026-12&bom=yes", nil); a.status != http.StatusBadRequest || !strings.Contains(a.body, "bom") {
		t.Errorf("bom=yes: %d", a.status)
	}
	if a := cl.do("GET", "/console/stats?month=2026-12&bom=1", nil); a.status != http.StatusBadRequest || !strings.Contains(a.body, "bom") {
		t.Errorf("bom on the page: %d", a.status)
	}
}

// TestStatsCSV: the CSV read by Python's csv module, with and without the
// byte-order mark: the header, the rows in order, the figures, and a formula
// kept as text.
func TestStatsCSV(t *testing.T) {
	w := statsWorld(t)
	cl := w.client()
	cl.signIn(w.account("aud01", registry.RoleAuditor, chiyoda, toyonaka))

	// Python reads the bytes from stdin in the encoding given and prints
	// the rows as tab-separated lines, the first cell's first character
	// as its code point (a BOM left in would show as 65279).
	const reader = `import csv, io, sys
data = sys.stdin.buffer.read()
rows = list(csv.reader(io.StringIO(data.decode(sys.argv[1]), newline='')))
print(ord(rows[0][0][0]))
for r in rows:
    print("\t".join(r))`
	parse := func(body, encoding string) []string {
		t.Helper()
		cmd := exec.Command("python3", "-c", reader, encoding)
		cmd.Stdin = strings.NewReader(body)
		cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python3 csv (%s): %v\n%s", encoding, err, out)
		}
		return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	}
	want := []string{
		"26399", // 期
		"期間\t団体コード\t団体名\t証明書種別\t証明書名\t事業者コード\t交付件数\t交付通数\t手数料\t取消件数\t未確認件数\t処理中件数",
		"2026-12-01\t131016\t千代田区\tJUMINHYO\t住民票の写し\tSEJ\t1\t2\t400\t1\t0\t0",
		"2026-12-01\t272035\t豊中市\tKOSEKI_ZENBU\t戸籍全部事項証明書\tFAM\t1\t1\t450\t0\t0\t0",
		"2026-12-02\t131016\t千代田区\tINKAN\t印鑑登録証明書\t'=HYPERLINK(\"x\")\t1\t1\t300\t0\t0\t0",
		"2026-12-02\t131016\t千代田区\tJUMINHYO\t住民票の写し\tLAW\t0\t0\t0\t0\t1\t0",
	}
	check := func(what string, got []string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", what, got, want)
		}
	}

	a := cl.do("GET", "/console/stats.csv?month=2026-12", nil)
	if a.status != 200 || !strings.HasPrefix(a.body, "\uFEFF") || !strings.Contains(a.body, "\r\n") {
		t.Fatalf("default CSV: %d, starts %q", a.status, a.body[:min(len(a.body), 8)])
	}
	if ct, cd := a.header.Get("Content-Type"), a.header.Get("Content-Disposition"); !strings.HasPrefix(ct, "text/csv; charset=utf-8") ||
		cd != `attachment; filename="issuance-stats-20261201_20261231-day.csv"` {
		t.Errorf("headers: %q, %q", ct, cd)
	}
	check("BOM, utf-8-sig", parse(a.body, "utf-8-sig"))
	// Read as plain UTF-8 the BOM stays in the first cell: it is there.
	if got := parse(a.body, "utf-8"); got[0] != "65279" {
		t.Errorf("plain utf-8 reading of the BOM CSV starts with %s, want the BOM (65279)", got[0])
	}
	if b := cl.do("GET", "/console/stats.csv?month=2026-12&bom=1", nil); b.body != a.body {
		t.Errorf("bom=1 differs from the default")
	}

	plain := cl.do("GET", "/console/stats.csv?month=2026-12&bom=0", nil)
	if plain.status != 200 || strings.HasPrefix(plain.body, "\uFEFF") {
		t.Fatalf("bom=0: %d, starts %q", plain.status, plain.body[:min(len(plain.body), 8)])
	}
	check("no BOM, utf-8", parse(plain.body, "utf-8"))
	if plain.body != strings.TrimPrefix(a.body, "\uFEFF") {
		t.Errorf("the two encodings differ beyond the BOM")
	}

	// By month, one municipality: one row per type and operator.
	m := parse(cl.do("GET", "/console/stats.csv?from=2026-11-15&to=2026-12-31&by=month&lg=131016&bom=0", nil).body, "utf-8")
	if len(m) != 5 || !strings.HasPrefix(m[2], "2026-12\t131016\t千代田区\tINKAN") {
		t.Errorf("by month: %q", m)
	}
	// A month without issuances: the header only.
	if e := parse(cl.do("GET", "/console/stats.csv?month=2026-11", nil).body, "utf-8-sig"); len(e) != 2 {
		t.Errorf("empty month: %q", e)
	}
}
