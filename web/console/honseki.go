package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// The 本籍 applications: the queue, one application beside its candidates,
// and the decision.

// queueStatuses are the filters of the queue, the first the default.
var queueStatuses = []string{string(issuance.ApplicationReceived), string(issuance.ApplicationApproved),
	string(issuance.ApplicationRejected), string(issuance.ApplicationWithdrawn), "all"}

func statusLabel(v any) string {
	s := issuance.ApplicationStatus(fmt.Sprint(v))
	switch s {
	case issuance.ApplicationReceived:
		return "受付（未決定）"
	case issuance.ApplicationApproved:
		return "登録済み"
	case issuance.ApplicationRejected:
		return "却下"
	case issuance.ApplicationWithdrawn:
		return "取下げ"
	case "all":
		return "すべて"
	}
	return string(s)
}

// reasonLabels are the rejection reasons as the clerk reads them (the
// resident reads them in their language on the status page).
var reasonLabels = map[issuance.RejectReason]string{
	issuance.RejectNoRecord:        "該当する戸籍がない",
	issuance.RejectHonsekiMismatch: "本籍が戸籍と一致しない",
	issuance.RejectHeadMismatch:    "筆頭者が戸籍と一致しない",
	issuance.RejectFactsMismatch:   "氏名・生年月日・性別が戸籍と一致しない",
	issuance.RejectNotMember:       "除籍されている（現在の在籍者ではない）",
}

func reasonLabel(r issuance.RejectReason) string {
	if l, ok := reasonLabels[r]; ok {
		return l
	}
	return string(r)
}

func sexLabel(s issuance.Sex) string {
	switch s {
	case issuance.Male:
		return "男"
	case issuance.Female:
		return "女"
	}
	return "不明"
}

func factLabel(f string) string {
	switch f {
	case "name":
		return "氏名"
	case "birthDate":
		return "生年月日"
	case "sex":
		return "性別"
	case "honseki":
		return "本籍"
	case "headName":
		return "筆頭者"
	}
	return f
}

func roleLabel(r registry.Role) string {
	switch r {
	case registry.RoleKosekiClerk:
		return "戸籍担当"
	case registry.RoleRegistryClerk:
		return "住民記録担当"
	case registry.RoleAuditor:
		return "監査"
	case registry.RoleAdmin:
		return "管理者"
	}
	return string(r)
}

// reads: the roles that see applications.
func reads(sess *registry.ConsoleSession) bool {
	return sess.Clerk.Role == registry.RoleKosekiClerk || sess.Clerk.Role == registry.RoleAuditor
}

type queueRow struct {
	issuance.Application
	AgeDays int
	Overdue bool
}

func (h *handler) queue(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if !reads(sess) {
		h.fail(w, r, sess, http.StatusForbidden, "この画面を利用する権限がありません。")
		return
	}
	q := r.URL.Query()
	if err := onlyFields(q, "status"); err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	status := q.Get("status")
	if status == "" {
		status = queueStatuses[0]
	}
	if !slices.Contains(queueStatuses, status) {
		h.fail(w, r, sess, http.StatusBadRequest, fmt.Sprintf("status %q: %s のいずれかを指定してください", status, strings.Join(queueStatuses, ", ")))
		return
	}
	filter := issuance.ApplicationStatus(status)
	if status == "all" {
		filter = ""
	}
	apps, err := h.o.Store.HonsekiQueue(r.Context(), sess.Clerk.LGCodes, filter)
	if err != nil {
		h.internal(w, r, sess, "queue", err)
		return
	}
	now := h.o.Clock.Now()
	today := civilDay(now)
	rows := make([]queueRow, 0, len(apps))
	for _, a := range apps {
		rows = append(rows, queueRow{Application: a, AgeDays: int(today.Sub(civilDay(a.ReceivedAt)).Hours() / 24),
			Overdue: a.Status == issuance.ApplicationReceived && today.After(a.ExpectedBy)})
	}
	h.render(w, http.StatusOK, "queue", page{Title: "本籍地利用登録申請", Session: sess, Data: struct {
		Status   string
		Statuses []string
		Rows     []queueRow
		Limit    int
	}{status, queueStatuses, rows, registry.QueueLimit}})
}

func civilDay(t time.Time) time.Time {
	t = t.In(issuance.Tokyo)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, issuance.Tokyo)
}

// candidateValue is a candidate as the value of the member field.
func candidateValue(m issuance.MemberRef) string { return m.KosekiID + ":" + strconv.Itoa(m.Seq) }

type candidateView struct {
	issuance.Candidate
	Value string
}

type applicationView struct {
	registry.ApplicationDetail
	Candidates []candidateView
	Reasons    []issuance.RejectReason
	CanDecide  bool
	Form       decisionForm // what was sent, shown again after an error
}

type decisionForm struct {
	Decision, Member, Reason, Note string
}

// load reads an application the clerk may see: the answer is written (and
// ok false) when it may not be shown.
func (h *handler) load(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) (applicationView, bool) {
	var v applicationView
	if !reads(sess) {
		h.fail(w, r, sess, http.StatusForbidden, "この画面を利用する権限がありません。")
		return v, false
	}
	number, err := issuance.ParseApplicationNumber(r.PathValue("number"))
	if err != nil {
		h.fail(w, r, sess, http.StatusNotFound, "申請番号が正しくありません（12 桁、最後の桁は検査数字）。")
		return v, false
	}
	d, err := h.o.Store.HonsekiApplication(r.Context(), sess.Clerk.LGCodes, number)
	if errors.Is(err, issuance.ErrNoApplication) {
		h.fail(w, r, sess, http.StatusNotFound, "この申請番号の申請はありません。")
		return v, false
	}
	if err != nil {
		h.internal(w, r, sess, "application", err)
		return v, false
	}
	if !may(sess, d.LGCode) {
		h.fail(w, r, sess, http.StatusForbidden, "この申請の市区町村を担当していません。")
		return v, false
	}
	v.ApplicationDetail = d
	v.Reasons = issuance.RejectReasons
	v.CanDecide = sess.Clerk.Role == registry.RoleKosekiClerk && d.Status == issuance.ApplicationReceived
	if d.Facts != nil && d.Status == issuance.ApplicationReceived {
		ks, err := h.o.Store.CandidateKoseki(r.Context(), d.LGCode, *d.Facts, issuance.NormalizeAddress)
		if err != nil {
			h.internal(w, r, sess, "candidates", err)
			return v, false
		}
		for _, c := range issuance.MatchCandidates(*d.Facts, ks) {
			v.Candidates = append(v.Candidates, candidateView{Candidate: c, Value: candidateValue(c.Member)})
		}
	}
	return v, true
}

func (h *handler) application(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if err := onlyFields(r.URL.Query(), "done"); err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	v, ok := h.load(w, r, sess)
	if !ok {
		return
	}
	p := page{Title: "申請 " + issuance.FormatApplicationNumber(v.Number), Session: sess, Data: v}
	if r.URL.Query().Get("done") == "true" {
		p.Message = "決定を記録しました。"
	}
	h.render(w, http.StatusOK, "application", p)
}

// maxNote is the longest internal note (registry.Decide's bound).
const maxNote = 2000

func (h *handler) decide(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if sess.Clerk.Role != registry.RoleKosekiClerk {
		h.fail(w, r, sess, http.StatusForbidden, "申請を決定できるのは戸籍担当の職員だけです。")
		return
	}
	f, err := form(w, r, "csrf", "decision", "member", "reason", "note")
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	v, ok := h.load(w, r, sess) // 403 for another municipality, 404 for no such application
	if !ok {
		return
	}
	if v.Status != issuance.ApplicationReceived {
		// Decided since the clerk opened the page (Decide would say so too,
		// but the candidates are only offered while undecided).
		h.alreadyDecided(w, sess, v)
		return
	}
	sent := decisionForm{Decision: f.Get("decision"), Member: f.Get("member"), Reason: f.Get("reason"), Note: f.Get("note")}
	v.Form = sent
	again := func(status int, msg string) {
		h.render(w, status, "application", page{Title: "申請 " + issuance.FormatApplicationNumber(v.Number),
			Session: sess, Error: msg, Data: v})
	}
	d := registry.Decision{Clerk: sess.Clerk.Username, Note: strings.TrimSpace(sent.Note)}
	if msg := checkNote(d.Note); msg != "" {
		again(http.StatusBadRequest, msg)
		return
	}
	switch sent.Decision {
	case "approve":
		if f.Has("reason") {
			again(http.StatusBadRequest, "reason: 却下（decision=reject）のときだけ指定します。")
			return
		}
		i := slices.IndexFunc(v.Candidates, func(c candidateView) bool { return c.Value == sent.Member })
		switch {
		case sent.Member == "":
			again(http.StatusBadRequest, "member: 登録する戸籍の在籍者を選んでください。")
			return
		case i < 0:
			again(http.StatusBadRequest, fmt.Sprintf("member %q: この申請の候補ではありません。", sent.Member))
			return
		case !v.Candidates[i].Current:
			again(http.StatusBadRequest, "member: この人は除籍されています。登録できません（却下の理由「除籍されている」を選んでください）。")
			return
		}
		d.Approve, d.Member = true, v.Candidates[i].Member
	case "reject":
		if f.Has("member") {
			again(http.StatusBadRequest, "member: 登録（decision=approve）のときだけ指定します。")
			return
		}
		d.Reason = issuance.RejectReason(sent.Reason)
		if !slices.Contains(issuance.RejectReasons, d.Reason) {
			again(http.StatusBadRequest, "reason: 却下の理由を一覧から選んでください。")
			return
		}
	default:
		again(http.StatusBadRequest, "decision: approve（登録）か reject（却下）を指定してください。")
		return
	}
	err = h.o.Store.Decide(r.Context(), v.LGCode, v.Number, d, h.o.Clock.Now())
	switch {
	case errors.Is(err, registry.ErrAlreadyDecided):
		// Another clerk's decision stands: show it.
		if v2, ok := h.load(w, r, sess); ok {
			h.alreadyDecided(w, sess, v2)
		}
	case errors.Is(err, registry.ErrNotCurrentMember):
		again(http.StatusConflict, "選んだ人は、いま戸籍の在籍者ではありません（除籍、または戸籍が更新されました）。候補を確認してください。")
	case err != nil:
		h.internal(w, r, sess, "decide", err)
	default:
		h.o.Log.Info("console: application decided", "clerk", sess.Clerk.Username, "lgCode", v.LGCode, "decision", sent.Decision)
		http.Redirect(w, r, "/console/honseki/"+v.Number+"?done=true", http.StatusSeeOther)
	}
}

// alreadyDecided answers a decision on an application decided meanwhile:
// 409, and the page with the decision that stands.
func (h *handler) alreadyDecided(w http.ResponseWriter, sess *registry.ConsoleSession, v applicationView) {
	h.render(w, http.StatusConflict, "application", page{Title: "申請 " + issuance.FormatApplicationNumber(v.Number),
		Session: sess, Data: v, Error: "この申請は、ほかの職員がすでに決定しました。あなたの決定は記録されていません。下の決定履歴を確認してください。"})
}

// checkNote says what is wrong with an internal note, or "".
func checkNote(n string) string {
	if utf8.RuneCountInString(n) > maxNote {
		return fmt.Sprintf("note: 内部メモは %d 文字までです。", maxNote)
	}
	for _, c := range n {
		if unicode.IsControl(c) && c != '\n' && c != '\r' && c != '\t' {
			return "note: 内部メモに制御文字が含まれています。"
		}
	}
	return ""
}
