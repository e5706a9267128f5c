package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// The issuance log and the recall, over issuances recorded through the
// real ledger (registry.Store: session, authentication, reservation,
// confirmation or end of session) in two municipalities that share a
// terminal name and a data version number.

// ledger is the test's issuances, by name.
type ledger struct {
	ids map[string]string
}

// person inserts a resident record (as the sync would load it) to name.
func (w *world) person(lg, id, family, given string) {
	w.t.Helper()
	if _, err := w.db.Owner.Exec(context.Background(), `INSERT INTO person (lg_code, person_id, household_id, seq,
		family_name, given_name, family_kana, given_kana, birth_date, sex, relationship, address, status)
		VALUES ($1, $2, 'H-'||$2, 1, $3, $4, 'テスト', 'テスト', '1980-01-01', 1, '世帯主', '東京都', 'resident')`,
		lg, id, family, given); err != nil {
		w.t.Fatal(err)
	}
}

// newLedger records, in 千代田区:
//
//	c4  yesterday      T-A  P2 佐藤 花子  JUMINHYO    ISSUED       resident 3
//	c1  today −3h      T-A  P1 山田 太郎  JUMINHYO    ISSUED       resident 3
//	c2  today −2h      T-B  P2 佐藤 花子  INKAN       VOIDED       resident 3
//	c3  today −1h      T-A  P1 山田 太郎  TAX_INCOME  UNCONFIRMED  resident 4
//
// and in 豊中市 o1 (today −90m, terminal T-A, Q1 大阪 次郎, resident 3, ISSUED).
func newLedger(w *world) ledger {
	w.person(chiyoda, "P1", "山田", "太郎")
	w.person(chiyoda, "P2", "佐藤", "花子")
	w.person(toyonaka, "Q1", "大阪", "次郎")
	l := ledger{ids: map[string]string{}}
	l.ids["c4"] = w.issue(issued{lg: chiyoda, terminal: "T-A", person: "P2", typ: issuance.Juminhyo, version: 3, at: t0.Add(-24 * time.Hour), outcome: issuance.Printed})
	l.ids["c1"] = w.issue(issued{lg: chiyoda, terminal: "T-A", person: "P1", typ: issuance.Juminhyo, version: 3, at: t0.Add(-3 * time.Hour), outcome: issuance.Printed})
	l.ids["c2"] = w.issue(issued{lg: chiyoda, terminal: "T-B", person: "P2", typ: issuance.Inkan, version: 3, at: t0.Add(-2 * time.Hour), outcome: issuance.Failed})
	l.ids["o1"] = w.issue(issued{lg: toyonaka, terminal: "T-A", person: "Q1", typ: issuance.Juminhyo, version: 3, at: t0.Add(-90 * time.Minute), outcome: issuance.Printed})
	l.ids["c3"] = w.issue(issued{lg: chiyoda, terminal: "T-A", person: "P1", typ: issuance.TaxIncome, version: 4, at: t0.Add(-time.Hour), outcome: ""})
	return l
}

var errorRE = regexp.MustCompile(`id="error">([^<]*)<`)

// errorText is what a page says went wrong.
func errorText(body string) string {
	if m := errorRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

var rowRE = regexp.MustCompile(`<tr data-id="([0-9a-f-]+)"`)

// rows names the issuances a page lists, in order.
func (l ledger) rows(body string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		for name, id := range l.ids {
			if id == m[1] {
				out = append(out, name)
			}
		}
	}
	return out
}

func (w *world) accessLog(user string) []registry.AccessRecord {
	w.t.Helper()
	rows, err := w.store.AccessLog(context.Background(), user, 100)
	if err != nil {
		w.t.Fatal(err)
	}
	return rows
}

// Who sees what: every role reads the log of its own municipalities; only
// registry clerks and auditors see names, and each of their views is in
// access_log; nothing of another municipality is shown to anyone.
func TestIssuanceLogRoles(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	l := newLedger(w)
	names := []string{"山田 太郎", "佐藤 花子", "大阪 次郎"}
	for _, c := range []struct {
		user     string
		role     registry.Role
		codes    []string
		rows     []string
		personal bool
	}{
		{"reg01", registry.RoleRegistryClerk, []string{chiyoda}, []string{"c3", "c2", "c1"}, true},
		{"aud01", registry.RoleAuditor, []string{chiyoda}, []string{"c3", "c2", "c1"}, true},
		{"adm01", registry.RoleAdmin, []string{chiyoda}, []string{"c3", "c2", "c1"}, false},
		{"kos01", registry.RoleKosekiClerk, []string{chiyoda}, []string{"c3", "c2", "c1"}, false},
		{"reg02", registry.RoleRegistryClerk, []string{toyonaka}, []string{"o1"}, true},
		{"aud02", registry.RoleAuditor, []string{chiyoda, toyonaka}, []string{"c3", "o1", "c2", "c1"}, true},
	} {
		cr := w.account(c.user, c.role, c.codes...)
		cl := w.client()
		cl.signIn(cr)
		a := cl.do("GET", "/console/issuances", nil)
		if a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", c.user, a.status, a.body)
		}
		if got := l.rows(a.body); !slices.Equal(got, c.rows) {
			t.Errorf("%s: rows %v, want %v", c.user, got, c.rows)
		}
		for _, n := range names {
			shown := strings.Contains(a.body, n)
			want := c.personal && slices.ContainsFunc(c.rows, func(r string) bool {
				return map[string]string{"c1": "山田 太郎", "c3": "山田 太郎", "c2": "佐藤 花子", "o1": "大阪 次郎"}[r] == n
			})
			if shown != want {
				t.Errorf("%s: name %s shown %v, want %v", c.user, n, shown, want)
			}
		}
		logged := w.accessLog(c.user)
		if !c.personal {
			if len(logged) != 0 {
				t.Errorf("%s saw no personal data but was logged: %+v", c.user, logged)
			}
			continue
		}
		var want []string
		for _, r := range c.rows {
			want = append(want, l.ids[r])
		}
		if len(logged) != 1 || !slices.Equal(logged[0].IssuanceIDs, want) || logged[0].Page != "issuances" ||
			logged[0].Address != "127.0.0.1" || logged[0].Role != c.role || !logged[0].At.Equal(w.clock.Now()) ||
			!strings.Contains(logged[0].Query, "from=2026-12-01") {
			t.Errorf("%s: access log %+v, want one row of %v", c.user, logged, want)
		}
		// Another municipality, asked for by name: refused, nothing shown.
		if slices.Equal(c.codes, []string{chiyoda}) {
			for _, path := range []string{"/console/issuances?lg=" + toyonaka, "/console/issuances.csv?lg=" + toyonaka,
				"/console/recall?lg=" + toyonaka + "&domain=resident&version=3", "/console/recall.csv?lg=" + toyonaka + "&domain=resident&version=3"} {
				a := cl.do("GET", path, nil)
				if a.status != http.StatusForbidden || strings.Contains(a.body, "大阪 次郎") || strings.Contains(a.body, l.ids["o1"]) {
					t.Errorf("%s: %s: %d", c.user, path, a.status)
				}
			}
			// The log's pages are read-only: nothing to post.
			for _, path := range []string{"/console/issuances", "/console/recall", "/console/issuances.csv"} {
				if a := cl.do("POST", path, url.Values{"csrf": {cl.csrf("/console/recall")}}); a.status != http.StatusMethodNotAllowed {
					t.Errorf("%s: POST %s: %d, want 405", c.user, path, a.status)
				}
			}
			if n := len(w.accessLog(c.user)); n != 1 {
				t.Errorf("%s: %d access log rows after refused requests", c.user, n)
			}
		}
	}
}

// The search: date range (Asia/Tokyo days, both included), type, terminal,
// status, municipality, the page after an issuance; bad parameters are 400
// naming the parameter.
func TestIssuanceLogSearch(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	l := newLedger(w)
	cr := w.account("aud01", registry.RoleAuditor, chiyoda, toyonaka)
	c := w.client()
	c.signIn(cr)
	for q, want := range map[string][]string{
		"":                              {"c3", "o1", "c2", "c1"},
		"from=2026-11-30":               {"c3", "o1", "c2", "c1", "c4"},
		"from=2026-11-30&to=2026-11-30": {"c4"},
		"from=2026-11-29&to=2026-11-29": nil,
		"status=ISSUED&from=2026-11-01": {"o1", "c1", "c4"},
		"status=VOIDED":                 {"c2"},
		"status=UNCONFIRMED":            {"c3"},
		"type=TAX_INCOME":               {"c3"},
		"terminal=T-A":                  {"c3", "o1", "c1"},
		"terminal=T-A&lg=" + chiyoda:    {"c3", "c1"},
		"lg=" + toyonaka:                {"o1"},
		"after=" + l.ids["o1"]:          {"c2", "c1"},
		"type=JUMINHYO&status=ISSUED&lg=" + chiyoda + "&from=2026-11-30&to=2026-12-01&terminal=T-A": {"c1", "c4"},
	} {
		a := c.do("GET", "/console/issuances?"+q, nil)
		if a.status != http.StatusOK {
			t.Errorf("%s: %d", q, a.status)
			continue
		}
		if got := l.rows(a.body); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	before := len(w.accessLog(""))
	for q, field := range map[string]string{
		"from=2026-13-01":                     "from",
		"to=yesterday":                        "to",
		"from=2026-12-02&to=2026-12-01":       "to",
		"from=2025-01-01&to=2026-12-01":       "366",
		"type=PASSPORT":                       "type",
		"status=LOST":                         "status",
		"colour=red":                          "colour",
		"status=ISSUED&status=VOIDED":         "status",
		"after=not-a-uuid":                    "after",
		"terminal=" + strings.Repeat("x", 65): "terminal",
	} {
		a := c.do("GET", "/console/issuances?"+q, nil)
		if a.status != http.StatusBadRequest || !strings.Contains(errorText(a.body), field) {
			t.Errorf("%s: %d, want 400 naming %s", q, a.status, field)
		}
		if l.rows(a.body) != nil {
			t.Errorf("%s: rows shown with an error", q)
		}
	}
	if after := len(w.accessLog("")); after != before {
		t.Errorf("refused searches were logged: %d → %d", before, after)
	}
	// The form keeps what was asked, and the CSV link carries it.
	a := c.do("GET", "/console/issuances?status=VOIDED&terminal=T-B", nil)
	if !strings.Contains(a.body, `<option value="VOIDED" selected>`) || !strings.Contains(a.body, `value="T-B"`) ||
		!strings.Contains(a.body, `href="/console/issuances.csv?from=2026-12-01&amp;lg=&amp;status=VOIDED&amp;terminal=T-B`) {
		t.Errorf("form or CSV link lost the search:\n%s", a.body)
	}
}

// parseCSV reads a CSV file with Python's csv module (one we did not
// write), in the given encoding, and returns its rows as dicts.
func parseCSV(t *testing.T, body []byte, encoding string) []map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.csv")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "-c", `import csv, json, sys
with open(sys.argv[1], newline="", encoding=sys.argv[2]) as f:
    print(json.dumps(list(csv.DictReader(f)), ensure_ascii=False))`, path, encoding).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 csv: %v\n%s", err, out)
	}
	var rows []map[string]string
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return rows
}

func TestIssuanceLogCSV(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	l := newLedger(w)
	reg := w.account("reg01", registry.RoleRegistryClerk, chiyoda)
	adm := w.account("adm01", registry.RoleAdmin, chiyoda, toyonaka)
	c := w.client()
	c.signIn(reg)

	a := c.do("GET", "/console/issuances.csv?from=2026-11-30", nil)
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "text/csv; charset=utf-8; header=present" ||
		!strings.Contains(a.header.Get("Content-Disposition"), `filename="issuances-2026-11-30-2026-12-01.csv"`) {
		t.Fatalf("CSV: %d %v", a.status, a.header)
	}
	if !strings.HasPrefix(a.body, "\ufeff") {
		t.Fatal("the default CSV has no byte-order mark")
	}
	rows := parseCSV(t, []byte(a.body), "utf-8-sig")
	var got []string
	for _, r := range rows {
		for name, id := range l.ids {
			if id == r["issuanceId"] {
				got = append(got, name)
			}
		}
	}
	if want := []string{"c4", "c1", "c2", "c3"}; !slices.Equal(got, want) { // oldest first
		t.Fatalf("CSV rows %v, want %v", got, want)
	}
	c2 := rows[2]
	for k, v := range map[string]string{"lgCode": chiyoda, "type": "INKAN", "terminal": "T-B", "status": "VOIDED", "fee": "300",
		"copies": "1", "reservedAt": "2026-12-01T07:00:00+09:00", "confirmedAt": "2026-12-01T07:01:00+09:00",
		"requesterId": "P2", "requesterName": "佐藤 花子", "subjects": "佐藤 花子"} {
		if c2[k] != v {
			t.Errorf("c2 %s = %q, want %q", k, c2[k], v)
		}
	}
	if rows[3]["confirmedAt"] != "" || rows[3]["status"] != "UNCONFIRMED" {
		t.Errorf("unconfirmed row: %v", rows[3])
	}
	if logged := w.accessLog("reg01"); len(logged) != 1 || logged[0].Page != "issuances.csv" || len(logged[0].IssuanceIDs) != 4 {
		t.Errorf("CSV view not logged: %+v", logged)
	}

	// bom=0: plain UTF-8; read as such the header is clean (with the BOM
	// it would not be).
	a = c.do("GET", "/console/issuances.csv?from=2026-11-30&bom=0", nil)
	if strings.HasPrefix(a.body, "\ufeff") {
		t.Fatal("bom=0 has a byte-order mark")
	}
	if plain := parseCSV(t, []byte(a.body), "utf-8"); len(plain) != 4 || plain[0]["issuanceId"] != l.ids["c4"] || plain[0]["requesterName"] != "佐藤 花子" {
		t.Fatalf("plain CSV: %v", plain)
	}
	if withBOM := parseCSV(t, []byte(c.do("GET", "/console/issuances.csv", nil).body), "utf-8"); len(withBOM) == 0 || withBOM[0]["issuanceId"] != "" {
		t.Fatalf("read as plain UTF-8 the BOM should stay in the first header: %v", withBOM)
	}
	for _, q := range []string{"bom=2", "after=" + l.ids["c1"], "status=NOPE"} {
		if a := c.do("GET", "/console/issuances.csv?"+q, nil); a.status != http.StatusBadRequest {
			t.Errorf("CSV %s: %d, want 400", q, a.status)
		}
	}

	// An administrator's CSV: both municipalities, no personal columns, no log.
	ac := w.client()
	ac.signIn(adm)
	a = ac.do("GET", "/console/issuances.csv?bom=0", nil)
	rows = parseCSV(t, []byte(a.body), "utf-8")
	if len(rows) != 4 {
		t.Fatalf("admin CSV rows: %v", rows)
	}
	for _, k := range []string{"requesterId", "requesterName", "subjects"} {
		if _, ok := rows[0][k]; ok {
			t.Errorf("admin CSV has %s", k)
		}
	}
	if strings.Contains(a.body, "山田") || len(w.accessLog("adm01")) != 0 {
		t.Error("admin CSV carries or logs personal data")
	}
}

func TestRecallPage(t *testing.T) {
	w := newWorld(t, registry.SignInPolicy{})
	l := newLedger(w)
	reg := w.account("reg01", registry.RoleRegistryClerk, chiyoda)
	adm := w.account("adm01", registry.RoleAdmin, chiyoda)
	c := w.client()
	c.signIn(reg)

	// The form alone shows the current versions, logs nothing.
	a := c.do("GET", "/console/recall", nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, `id="current"`) || l.rows(a.body) != nil {
		t.Fatalf("recall form: %d", a.status)
	}
	for q, want := range map[string][]string{
		"domain=resident&version=3":                     {"c4", "c1"}, // c2 voided; 豊中市's version 3 is another batch
		"domain=resident&version=4":                     {"c3"},
		"lg=" + chiyoda + "&domain=resident&version=03": {"c4", "c1"},
		"domain=seal&version=3":                         nil,
		"domain=resident&version=5":                     nil,
	} {
		a := c.do("GET", "/console/recall?"+q, nil)
		if a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, a.status, a.body)
		}
		if got := l.rows(a.body); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
		if slices.Contains(want, "c4") && !strings.Contains(a.body, "佐藤 花子") {
			t.Errorf("%s: names not shown", q)
		}
	}
	// Three views showed names (the searches above run in map order).
	logged := w.accessLog("reg01")
	if len(logged) != 3 {
		t.Errorf("recall views in the access log: %+v", logged)
	}
	for _, r := range logged {
		want := []string{l.ids["c4"], l.ids["c1"]}
		if strings.Contains(r.Query, "version=4") {
			want = []string{l.ids["c3"]}
		}
		if r.Page != "recall" || !slices.Equal(r.IssuanceIDs, want) || !strings.Contains(r.Query, "lg="+chiyoda) {
			t.Errorf("recall view logged as %+v, want %v", r, want)
		}
	}
	for q, field := range map[string]string{
		"domain=census&version=3":       "domain",
		"domain=resident":               "version",
		"domain=resident&version=-1":    "version",
		"domain=resident&version=3&x=1": "x",
	} {
		if a := c.do("GET", "/console/recall?"+q, nil); a.status != http.StatusBadRequest || !strings.Contains(errorText(a.body), field) {
			t.Errorf("%s: %d, want 400 naming %s", q, a.status, field)
		}
	}

	a = c.do("GET", "/console/recall.csv?domain=resident&version=3", nil)
	rows := parseCSV(t, []byte(a.body), "utf-8-sig")
	if len(rows) != 2 || rows[0]["issuanceId"] != l.ids["c4"] || rows[0]["requesterId"] != "P2" || rows[0]["requesterName"] != "佐藤 花子" ||
		rows[1]["terminal"] != "T-A" || rows[1]["domain"] != "resident" || rows[1]["version"] != "3" || rows[1]["status"] != "ISSUED" {
		t.Fatalf("recall CSV: %v", rows)
	}
	if logged := w.accessLog("reg01"); logged[0].Page != "recall.csv" {
		t.Errorf("recall CSV not logged: %+v", logged[0])
	}

	// An administrator: the list without names, nothing logged.
	ac := w.client()
	ac.signIn(adm)
	a = ac.do("GET", "/console/recall?domain=resident&version=3", nil)
	if got := l.rows(a.body); !slices.Equal(got, []string{"c4", "c1"}) || strings.Contains(a.body, "佐藤 花子") || strings.Contains(a.body, ">P2<") {
		t.Errorf("admin recall: %v", got)
	}
	if len(w.accessLog("adm01")) != 0 {
		t.Error("admin recall logged")
	}
}
