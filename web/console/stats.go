package console

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// The statistics page (/console/stats) and its CSV (/console/stats.csv):
// issuances by municipality × type × kiosk operator × day or month, as the
// J-LIS scheme reports them (docs/console.md, "Statistics").

// maxStatsDays bounds a day range: a year of days is the longest chart.
const maxStatsDays = 366

// readsStats: the roles that see the statistics.
func readsStats(sess *registry.ConsoleSession) bool {
	switch sess.Clerk.Role {
	case registry.RoleRegistryClerk, registry.RoleAuditor, registry.RoleAdmin:
		return true
	}
	return false
}

// statsFilter is what the query string asks for, as sent (shown again in
// the form), and what it means.
type statsFilter struct {
	LG, Month, From, To, By string

	codes    []string // the municipalities counted
	from, to time.Time
	label    string // the range in words
}

// statsError is a bad filter: its status (400, or 403 for a municipality
// outside the clerk's scope) and what to say.
type statsError struct {
	status int
	msg    string
}

// parseStatsFilter reads the filter. Empty fields are absent (a GET form
// sends them all); without a range it is the current month of Japan time.
func (h *handler) parseStatsFilter(q url.Values, sess *registry.ConsoleSession, extra ...string) (statsFilter, *statsError) {
	bad := func(format string, a ...any) *statsError {
		return &statsError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
	}
	var f statsFilter
	if err := onlyFields(q, append([]string{"lg", "month", "from", "to", "by"}, extra...)...); err != nil {
		return f, bad("%s", err.Error())
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return f, bad("項目 %s が複数あります", k)
		}
	}
	f.LG, f.Month, f.From, f.To, f.By = q.Get("lg"), q.Get("month"), q.Get("from"), q.Get("to"), q.Get("by")
	switch f.By {
	case "":
		f.By = string(registry.ByDay)
	case string(registry.ByDay), string(registry.ByMonth):
	default:
		return f, bad("by %q: day（日別）か month（月別）を指定してください", f.By)
	}
	if f.LG == "" {
		f.codes = slices.Sorted(slices.Values(sess.Clerk.LGCodes))
		if len(f.codes) == 0 {
			return f, &statsError{http.StatusForbidden, "このアカウントには担当の市区町村がありません。"}
		}
	} else {
		if !may(sess, f.LG) {
			return f, &statsError{http.StatusForbidden, fmt.Sprintf("lg %q: この市区町村を担当していません。", f.LG)}
		}
		f.codes = []string{f.LG}
	}
	switch {
	case f.Month != "" && (f.From != "" || f.To != ""):
		return f, bad("month と from/to は同時に指定できません（月か期間のどちらかを指定してください）")
	case f.From != "" && f.To == "":
		return f, bad("to がありません（期間は開始日 from と終了日 to の両方を指定してください）")
	case f.To != "" && f.From == "":
		return f, bad("from がありません（期間は開始日 from と終了日 to の両方を指定してください）")
	case f.From != "":
		from, err := time.ParseInLocation("2006-01-02", f.From, issuance.Tokyo)
		if err != nil {
			return f, bad("from %q: 日付は YYYY-MM-DD で指定してください", f.From)
		}
		to, err := time.ParseInLocation("2006-01-02", f.To, issuance.Tokyo)
		if err != nil {
			return f, bad("to %q: 日付は YYYY-MM-DD で指定してください", f.To)
		}
		if to.Before(from) {
			return f, bad("to %s が from %s より前です", f.To, f.From)
		}
		f.from, f.to = from, to.AddDate(0, 0, 1)
		if f.to.After(from.AddDate(0, 0, maxStatsDays)) {
			return f, bad("期間が長すぎます（from から to まで %d 日以内）", maxStatsDays)
		}
		f.label = f.From + " 〜 " + f.To
	default:
		if f.Month == "" {
			now := h.o.Clock.Now().In(issuance.Tokyo)
			f.from = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, issuance.Tokyo)
		} else {
			m, err := time.ParseInLocation("2006-01", f.Month, issuance.Tokyo)
			if err != nil {
				return f, bad("month %q: 月は YYYY-MM で指定してください", f.Month)
			}
			f.from = m
		}
		f.to = f.from.AddDate(0, 1, 0)
		f.label = f.from.Format("2006年1月")
	}
	return f, nil
}

// statsLine is a row of the table and of the CSV.
type statsLine struct {
	registry.StatsRow
	CertName string
}

// statsTotals sums the counts of the rows.
type statsTotals struct {
	Issued, Copies, Voided, Unconfirmed, Reserved int
	Fees                                          int64
}

func (t *statsTotals) add(r registry.StatsRow) {
	t.Issued += r.Issued
	t.Copies += r.Copies
	t.Fees += r.Fees
	t.Voided += r.Voided
	t.Unconfirmed += r.Unconfirmed
	t.Reserved += r.Reserved
}

// certNames are the certificates' names when a municipality's offers do
// not name the type.
var certNames = map[issuance.CertType]string{
	issuance.Juminhyo:      "住民票の写し",
	issuance.Kisai:         "住民票記載事項証明書",
	issuance.Inkan:         "印鑑登録証明書",
	issuance.TaxIncome:     "所得証明書",
	issuance.TaxAssessment: "課税証明書",
	issuance.TaxPayment:    "納税証明書",
	issuance.KosekiZenbu:   "戸籍全部事項証明書",
	issuance.KosekiKojin:   "戸籍個人事項証明書",
	issuance.Fuhyo:         "戸籍の附票の写し",
}

// certName is the name a municipality gives a type on its kiosks.
func (h *handler) certName(lg string, t issuance.CertType) string {
	for _, o := range h.o.Municipalities[lg].Offers {
		if o.Type == t && o.Name != "" {
			return o.Name
		}
	}
	if n, ok := certNames[t]; ok {
		return n
	}
	return string(t)
}

// readStats reads the filter and the statistics: the answer is written (and ok
// false) when there is nothing to show.
func (h *handler) readStats(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession, extra ...string) (statsFilter, []statsLine, *statsError, bool) {
	if !readsStats(sess) {
		h.fail(w, r, sess, http.StatusForbidden, "この画面を利用する権限がありません（住民記録担当・監査・管理者の画面です）。")
		return statsFilter{}, nil, nil, false
	}
	f, bad := h.parseStatsFilter(r.URL.Query(), sess, extra...)
	if bad != nil {
		return f, nil, bad, true
	}
	rows, err := h.o.Store.IssuanceStats(r.Context(), registry.StatsQuery{LGCodes: f.codes, From: f.from, To: f.to,
		By: registry.StatsPeriod(f.By)})
	if err != nil {
		h.internal(w, r, sess, "statistics", err)
		return f, nil, nil, false
	}
	lines := make([]statsLine, len(rows))
	for i, x := range rows {
		lines[i] = statsLine{StatsRow: x, CertName: h.certName(x.LGCode, x.CertType)}
	}
	return f, lines, nil, true
}

type statsView struct {
	Filter statsFilter
	Codes  []string // the clerk's municipalities, for the form
	Range  string
	Rows   []statsLine
	Totals statsTotals
	Chart  chart
	CSV    string // the CSV's URL for this filter
}

func (h *handler) stats(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	f, lines, bad, ok := h.readStats(w, r, sess)
	if !ok {
		return
	}
	v := statsView{Filter: f, Codes: slices.Sorted(slices.Values(sess.Clerk.LGCodes))}
	p := page{Title: "交付統計", Session: sess}
	if bad != nil {
		if bad.status == http.StatusForbidden {
			h.fail(w, r, sess, bad.status, bad.msg)
			return
		}
		p.Error, p.Data = bad.msg, v
		h.render(w, bad.status, "stats", p)
		return
	}
	v.Range, v.Rows = f.label, lines
	for _, l := range lines {
		v.Totals.add(l.StatsRow)
	}
	v.Chart = newChart(f, lines)
	q := url.Values{"by": {f.By}}
	for k, s := range map[string]string{"lg": f.LG, "month": f.Month, "from": f.From, "to": f.To} {
		if s != "" {
			q.Set(k, s)
		}
	}
	if f.Month == "" && f.From == "" {
		// The month shown, named: the CSV is that month's even if it is
		// downloaded after midnight on the last day. The form stays empty,
		// so that typing a range there needs no clearing of the month.
		q.Set("month", f.from.Format("2006-01"))
	}
	v.CSV = "/console/stats.csv?" + q.Encode()
	p.Data = v
	h.render(w, http.StatusOK, "stats", p)
}

// csvHeader names the CSV's columns.
var csvHeader = []string{"期間", "団体コード", "団体名", "証明書種別", "証明書名", "事業者コード",
	"交付件数", "交付通数", "手数料", "取消件数", "未確認件数", "処理中件数"}

// statsCSV answers the statistics as CSV: UTF-8 with a byte-order mark by
// default (bom=1), which Excel needs to read UTF-8 rather than Shift_JIS;
// plain UTF-8 with bom=0, for programs. CRLF line ends (RFC 4180).
func (h *handler) statsCSV(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	f, lines, bad, ok := h.readStats(w, r, sess, "bom")
	if !ok {
		return
	}
	if bad != nil {
		h.fail(w, r, sess, bad.status, bad.msg)
		return
	}
	withBOM, err := csvBOM(r.URL.Query())
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	rows := make([][]string, 0, len(lines))
	for _, l := range lines {
		rows = append(rows, []string{l.Period, l.LGCode, cell(h.o.Municipalities[l.LGCode].Name), cell(string(l.CertType)),
			cell(l.CertName), cell(l.OperatorCode), strconv.Itoa(l.Issued), strconv.Itoa(l.Copies),
			strconv.FormatInt(l.Fees, 10), strconv.Itoa(l.Voided), strconv.Itoa(l.Unconfirmed), strconv.Itoa(l.Reserved)})
	}
	name := "issuance-stats-" + strings.ReplaceAll(f.from.Format("2006-01-02")+"_"+f.to.AddDate(0, 0, -1).Format("2006-01-02"), "-", "") + "-" + f.By + ".csv"
	if err := writeCSV(w, name, withBOM, csvHeader, rows); err != nil {
		h.internal(w, r, sess, "statistics csv", err)
	}
}

// cell keeps a text a spreadsheet would take for a formula as text: the
// operator code comes from the kiosk's request, and "=..." opened in Excel
// would run (OWASP "CSV injection").
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// The chart: one stacked bar per day or month of the range — issued,
// unconfirmed, voided — drawn as inline SVG with presentation attributes
// (fill=, not style=, which the Content-Security-Policy forbids).

const (
	chartWidth  = 720
	chartHeight = 240
	chartLeft   = 44 // room for the scale
	chartBottom = 28 // room for the dates
	chartTop    = 10
)

type chart struct {
	Width, Height   int
	Left, Base, Top int // the plot's edges (Base is the zero line's y)
	Right           int
	Ticks           []chartTick
	Bars            []chartBar
	Max             int
}

type chartTick struct {
	Y     float64
	Label string
}

type chartBar struct {
	Period                      string
	Label                       string // the date under the bar, for some bars
	X, W, LabelX                float64
	Issued, Unconfirmed, Voided chartSegment
}

type chartSegment struct {
	N    int
	Y, H float64
}

// periods lists every day or month of [from, to), so that a day without
// issuances shows as an empty place, not a missing one.
func periods(f statsFilter) []string {
	var out []string
	if f.By == string(registry.ByMonth) {
		for m := time.Date(f.from.Year(), f.from.Month(), 1, 0, 0, 0, 0, issuance.Tokyo); m.Before(f.to); m = m.AddDate(0, 1, 0) {
			out = append(out, m.Format("2006-01"))
		}
		return out
	}
	for d := f.from; d.Before(f.to); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format("2006-01-02"))
	}
	return out
}

// niceCeil is the least of 1, 2, 5 × 10^k at or above n.
func niceCeil(n int) int {
	if n <= 1 {
		return 1
	}
	p := int(math.Pow(10, math.Floor(math.Log10(float64(n)))))
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

func newChart(f statsFilter, lines []statsLine) chart {
	type sum struct{ issued, unconfirmed, voided int }
	sums := map[string]*sum{}
	for _, l := range lines {
		s := sums[l.Period]
		if s == nil {
			s = &sum{}
			sums[l.Period] = s
		}
		s.issued += l.Issued
		s.unconfirmed += l.Unconfirmed
		s.voided += l.Voided
	}
	ps := periods(f)
	c := chart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartWidth - 8,
		Base: chartHeight - chartBottom, Top: chartTop}
	for _, s := range sums {
		c.Max = max(c.Max, s.issued+s.unconfirmed+s.voided)
	}
	top := niceCeil(c.Max)
	scale := float64(c.Base-c.Top) / float64(top)
	for _, v := range []int{0, top / 2, top} {
		if v == top/2 && (top < 2 || top%2 != 0) {
			continue
		}
		c.Ticks = append(c.Ticks, chartTick{Y: r1(float64(c.Base) - float64(v)*scale), Label: strconv.Itoa(v)})
	}
	slot := float64(c.Right-c.Left) / float64(len(ps))
	every := int(math.Ceil(float64(len(ps)) * 40 / float64(c.Right-c.Left))) // a label per 40 units at least
	for i, p := range ps {
		b := chartBar{Period: p, X: r1(float64(c.Left) + float64(i)*slot + slot*0.15), W: r1(slot * 0.7),
			LabelX: r1(float64(c.Left) + (float64(i)+0.5)*slot)}
		if i%every == 0 {
			b.Label = p
			if f.By == string(registry.ByDay) {
				b.Label = p[5:] // MM-DD
			}
		}
		y := float64(c.Base)
		if s := sums[p]; s != nil {
			for _, seg := range []struct {
				n   int
				dst *chartSegment
			}{{s.issued, &b.Issued}, {s.unconfirmed, &b.Unconfirmed}, {s.voided, &b.Voided}} {
				h := float64(seg.n) * scale
				y -= h
				*seg.dst = chartSegment{N: seg.n, Y: r1(y), H: r1(h)}
			}
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}

// r1 rounds a coordinate to a tenth: enough for a screen, short in the page.
func r1(x float64) float64 { return math.Round(x*10) / 10 }

// Yen is the fees in yen with thousands separators, for the page.
func (l statsLine) Yen() string { return yen(l.Fees) }

// Yen is the total fees, as statsLine.Yen.
func (t statsTotals) Yen() string { return yen(t.Fees) }

func yen(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
