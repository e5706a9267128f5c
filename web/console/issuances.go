package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/web"
)

// The issuance log (/console/issuances and its CSV): the ledger searched by
// day, type, terminal, status and municipality, read-only for every role.
// Personal data (the requester and the people printed) is shown only to the
// roles whose work needs it, and each view of it is recorded in access_log
// by the store, in the transaction that read it.

// seesPersonal is the policy (docs/console.md, "Issuance log"): registry
// clerks answer residents and contact them on a recall; auditors check who
// was given what. Koseki clerks and administrators see the log without
// names: their work needs what was issued, not to whom.
func seesPersonal(sess *registry.ConsoleSession) bool {
	return sess.Clerk.Role == registry.RoleRegistryClerk || sess.Clerk.Role == registry.RoleAuditor
}

// maxLogDays bounds a search: a year of a municipality's ledger.
const maxLogDays = 366

var logCertTypes = []issuance.CertType{issuance.Juminhyo, issuance.Kisai, issuance.Inkan, issuance.TaxIncome,
	issuance.TaxAssessment, issuance.TaxPayment, issuance.KosekiZenbu, issuance.KosekiKojin, issuance.Fuhyo}

var logTypeNames = map[issuance.CertType]string{
	issuance.Juminhyo: "住民票の写し", issuance.Kisai: "住民票記載事項証明書", issuance.Inkan: "印鑑登録証明書",
	issuance.TaxIncome: "所得証明書", issuance.TaxAssessment: "課税証明書", issuance.TaxPayment: "納税証明書",
	issuance.KosekiZenbu: "戸籍全部事項証明書", issuance.KosekiKojin: "戸籍個人事項証明書", issuance.Fuhyo: "戸籍の附票の写し",
}

var logStatuses = []issuance.IssuanceStatus{issuance.Reserved, issuance.Issued, issuance.Voided, issuance.Unconfirmed}

var logStatusNames = map[issuance.IssuanceStatus]string{
	issuance.Reserved: "予約（印刷確認待ち）", issuance.Issued: "交付済み", issuance.Voided: "取消（印刷失敗）",
	issuance.Unconfirmed: "未確認",
}

// logChoice is one option of a select.
type logChoice struct{ Value, Label string }

// logParams reads the GET parameters of a console page: only allowed, each at
// most once, UTF-8, at most 200 bytes. The error names the parameter.
func logParams(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	if err := onlyFields(q, allowed...); err != nil {
		return nil, err
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, fmt.Errorf("項目 %s が複数あります", k)
		}
		if !utf8.ValidString(vs[0]) || len(vs[0]) > 200 {
			return nil, fmt.Errorf("項目 %s が正しくありません（UTF-8、200 バイトまで）", k)
		}
	}
	return q, nil
}

// logScope is the municipalities a page covers: the clerk's, or the one of
// them lg names. Another municipality is errOtherMunicipality.
func logScope(sess *registry.ConsoleSession, lg string) ([]string, error) {
	if lg == "" {
		return sess.Clerk.LGCodes, nil
	}
	if !may(sess, lg) {
		return nil, errOtherMunicipality
	}
	return []string{lg}, nil
}

var errOtherMunicipality = errors.New("この市区町村の記録を見る権限がありません。")

// logForm is the search as the clerk typed it, shown again above the rows.
type logForm struct {
	From, To, Type, Terminal, Status, LG string
}

// parseLog reads the log's parameters. Days are calendar days in
// Asia/Tokyo, both included; the default is today.
func (h *handler) parseLog(q url.Values, sess *registry.ConsoleSession) (logForm, registry.IssuanceQuery, error) {
	f := logForm{From: q.Get("from"), To: q.Get("to"), Type: q.Get("type"), Terminal: strings.TrimSpace(q.Get("terminal")),
		Status: q.Get("status"), LG: q.Get("lg")}
	today := civilDay(h.o.Clock.Now()).Format(time.DateOnly)
	if f.From == "" {
		f.From = today
	}
	if f.To == "" {
		f.To = today
	}
	var rq registry.IssuanceQuery
	from, err := time.ParseInLocation(time.DateOnly, f.From, issuance.Tokyo)
	if err != nil {
		return f, rq, fmt.Errorf("from %q: 日付を YYYY-MM-DD で指定してください", f.From)
	}
	to, err := time.ParseInLocation(time.DateOnly, f.To, issuance.Tokyo)
	if err != nil {
		return f, rq, fmt.Errorf("to %q: 日付を YYYY-MM-DD で指定してください", f.To)
	}
	switch {
	case to.Before(from):
		return f, rq, fmt.Errorf("to %s が from %s より前です", f.To, f.From)
	case to.Sub(from) >= maxLogDays*24*time.Hour:
		return f, rq, fmt.Errorf("from から to までは %d 日以内にしてください", maxLogDays)
	case f.Type != "" && !slices.Contains(logCertTypes, issuance.CertType(f.Type)):
		return f, rq, fmt.Errorf("type %q: 証明書の種類ではありません", f.Type)
	case f.Status != "" && !slices.Contains(logStatuses, issuance.IssuanceStatus(f.Status)):
		return f, rq, fmt.Errorf("status %q: RESERVED, ISSUED, VOIDED, UNCONFIRMED のいずれかを指定してください", f.Status)
	case len(f.Terminal) > 64:
		return f, rq, errors.New("terminal: 64 バイトまでです")
	}
	codes, err := logScope(sess, f.LG)
	if err != nil {
		return f, rq, err
	}
	rq = registry.IssuanceQuery{LGCodes: codes, From: from, To: to.AddDate(0, 0, 1), Type: issuance.CertType(f.Type),
		Terminal: f.Terminal, Status: issuance.IssuanceStatus(f.Status)}
	return f, rq, nil
}

// values is the form as parameters, for the next page and the CSV link and
// for the access log (canonical: every parameter, in order).
func (f logForm) values() url.Values {
	return url.Values{"from": {f.From}, "to": {f.To}, "type": {f.Type}, "terminal": {f.Terminal}, "status": {f.Status}, "lg": {f.LG}}
}

// personalViewer is the signed-in clerk as the access log records them, or nil
// for a role that sees no personal data.
func (h *handler) personalViewer(r *http.Request, sess *registry.ConsoleSession, page string, q url.Values) *registry.Viewer {
	if !seesPersonal(sess) {
		return nil
	}
	return &registry.Viewer{Username: sess.Clerk.Username, Role: sess.Clerk.Role, Address: web.ClientAddress(r),
		Page: page, Query: q.Encode(), At: h.o.Clock.Now()}
}

// recordView is an issuance as a page shows it.
type recordView struct {
	registry.IssuanceRecord
	TypeName, StatusName string
	SubjectNames         string
}

func recordViews(recs []registry.IssuanceRecord) []recordView {
	out := make([]recordView, 0, len(recs))
	for _, r := range recs {
		out = append(out, recordView{IssuanceRecord: r, TypeName: logTypeNames[r.Type], StatusName: logStatusNames[r.Status],
			SubjectNames: subjectList(r.Subjects)})
	}
	return out
}

// subjectList lists the people a certificate prints, by name, or by id
// when the registry no longer has them. A resident who is also a member of
// the 戸籍 printed is in the ledger twice (their record and their 戸籍
// entry): listed once.
func subjectList(ss []registry.Subject) string {
	var names []string
	for _, s := range ss {
		if n := subjectName(s); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return strings.Join(names, "、")
}

func subjectName(s registry.Subject) string {
	if s.Name == "" {
		return "（" + s.ID + "：記録なし）"
	}
	return s.Name
}

type logPage struct {
	Form      logForm
	Types     []logChoice
	Statuses  []logChoice
	LGs       []logChoice
	Rows      []recordView
	Searched  bool
	Personal  bool
	Next, CSV string
}

func (h *handler) logPage(sess *registry.ConsoleSession, f logForm) logPage {
	p := logPage{Form: f, Personal: seesPersonal(sess)}
	for _, t := range logCertTypes {
		p.Types = append(p.Types, logChoice{string(t), logTypeNames[t]})
	}
	for _, s := range logStatuses {
		p.Statuses = append(p.Statuses, logChoice{string(s), logStatusNames[s]})
	}
	for _, lg := range sess.Clerk.LGCodes {
		p.LGs = append(p.LGs, logChoice{lg, page{Munis: h.o.Municipalities}.Muni(lg)})
	}
	return p
}

func (h *handler) issuances(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	title := "交付記録"
	q, err := logParams(r, "from", "to", "type", "terminal", "status", "lg", "after")
	if err != nil {
		h.render(w, http.StatusBadRequest, "issuances", page{Title: title, Session: sess, Error: err.Error(), Data: h.logPage(sess, logForm{})})
		return
	}
	f, rq, err := h.parseLog(q, sess)
	data := h.logPage(sess, f)
	if errors.Is(err, errOtherMunicipality) {
		h.fail(w, r, sess, http.StatusForbidden, err.Error())
		return
	}
	if err != nil {
		h.render(w, http.StatusBadRequest, "issuances", page{Title: title, Session: sess, Error: err.Error(), Data: data})
		return
	}
	rq.After = q.Get("after")
	v := f.values()
	if rq.After != "" {
		v.Set("after", rq.After)
	}
	rq.Viewer = h.personalViewer(r, sess, "issuances", v)
	recs, more, err := h.o.Store.IssuanceLog(r.Context(), rq)
	if errors.Is(err, registry.ErrBadQuery) {
		h.render(w, http.StatusBadRequest, "issuances", page{Title: title, Session: sess, Error: err.Error(), Data: data})
		return
	}
	if err != nil {
		h.internal(w, r, sess, "issuance log", err)
		return
	}
	data.Rows, data.Searched = recordViews(recs), true
	if more {
		next := f.values()
		next.Set("after", recs[len(recs)-1].ID)
		data.Next = "/console/issuances?" + next.Encode()
	}
	data.CSV = "/console/issuances.csv?" + f.values().Encode()
	h.render(w, http.StatusOK, "issuances", page{Title: title, Session: sess, Data: data})
}

// logCSVHeader is the log's CSV columns; names are added for the roles that
// see them.
var logCSVHeader = []string{"issuanceId", "lgCode", "type", "terminal", "status", "fee", "copies", "reservedAt", "confirmedAt"}

var personalCSVColumns = []string{"requesterId", "requesterName", "subjects"}

func logCSVTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(issuance.Tokyo).Format(time.RFC3339)
}

func logCSVRow(r registry.IssuanceRecord, personal bool) []string {
	row := []string{r.ID, r.LGCode, string(r.Type), r.TerminalID, string(r.Status), strconv.Itoa(r.Fee),
		strconv.Itoa(r.Copies), logCSVTime(r.ReservedAt), logCSVTime(r.ConfirmedAt)}
	if personal {
		row = append(row, r.Requester.ID, r.Requester.Name, subjectList(r.Subjects))
	}
	return row
}

func (h *handler) issuancesCSV(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	recordsCSV(h, w, r, sess, recordsCSVSpec[logForm, registry.IssuanceQuery]{
		page:   "issuances.csv",
		params: []string{"from", "to", "type", "terminal", "status", "lg"},
		parse:  h.parseLog,
		fetch: func(ctx context.Context, rq registry.IssuanceQuery, v *registry.Viewer) ([]registry.IssuanceRecord, bool, error) {
			rq.Limit, rq.Whole, rq.Viewer = registry.CSVLimit, true, v
			return h.o.Store.IssuanceLog(ctx, rq)
		},
		tooMany: fmt.Sprintf("%d 件を超えます。期間を短くしてください。", registry.CSVLimit),
		what:    "issuance log CSV",
		header:  logCSVHeader,
		rows: func(f logForm, recs []registry.IssuanceRecord, personal bool) [][]string {
			rows := make([][]string, 0, len(recs))
			// The ledger's order for reconciliation: oldest first.
			for i := len(recs) - 1; i >= 0; i-- {
				rows = append(rows, logCSVRow(recs[i], personal))
			}
			return rows
		},
		name: func(f logForm) string { return fmt.Sprintf("issuances-%s-%s.csv", f.From, f.To) },
	})
}
