package console

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// The stop list: registry clerks add and lift entries, each with a note;
// auditors read. An entry is a row in PostgreSQL that every request and
// every reservation reads (registry.Store.Stopped, ReserveIssuance), so it
// takes effect on every node as soon as it is committed.

// readsStopList: the roles that see the stop list. It names persons and
// why they are stopped: a koseki clerk works 本籍 applications and an
// administrator accounts, so neither sees it.
func readsStopList(sess *registry.ConsoleSession) bool {
	return sess.Clerk.Role == registry.RoleRegistryClerk || sess.Clerk.Role == registry.RoleAuditor
}

// A registry id (docs/feeds.md; cmd/issuance/stoplist.go registryID), or a
// 戸籍 member as issuance.KosekiSubject names them.
var (
	personIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	memberRE   = regexp.MustCompile(`^koseki:([A-Za-z0-9._-]{1,64}):([1-9][0-9]{0,3})$`)
)

type stopForm struct {
	Action, LGCode, Person, Note string
}

type stopMuni struct {
	LGCode string
	Active []registry.StopEntry
	Lifted []registry.StopEntry
}

type stopView struct {
	Munis     []stopMuni
	Codes     []string
	CanChange bool
	Form      stopForm // what was sent, shown again after an error
}

func (h *handler) stopData(r *http.Request, sess *registry.ConsoleSession) (stopView, error) {
	v := stopView{Codes: h.scope(sess), CanChange: sess.Clerk.Role == registry.RoleRegistryClerk}
	for _, code := range v.Codes {
		all, err := h.o.Store.StopList(r.Context(), code, true)
		if err != nil {
			return v, err
		}
		m := stopMuni{LGCode: code}
		for _, e := range all {
			if e.LiftedAt.IsZero() {
				m.Active = append(m.Active, e)
			} else {
				m.Lifted = append(m.Lifted, e)
			}
		}
		v.Munis = append(v.Munis, m)
	}
	return v, nil
}

func (h *handler) stopList(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if !readsStopList(sess) {
		h.fail(w, r, sess, http.StatusForbidden, "この画面を利用する権限がありません。")
		return
	}
	if err := onlyFields(r.URL.Query()); err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	h.showStopList(w, r, sess, http.StatusOK, "", "", stopForm{})
}

func (h *handler) showStopList(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession, status int, msg, errMsg string, sent stopForm) {
	v, err := h.stopData(r, sess)
	if err != nil {
		h.internal(w, r, sess, "stop list", err)
		return
	}
	v.Form = sent
	h.render(w, status, "stoplist", page{Title: "交付停止リスト", Session: sess, Message: msg, Error: errMsg, Data: v})
}

// stopChange adds or lifts an entry.
func (h *handler) stopChange(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if sess.Clerk.Role != registry.RoleRegistryClerk {
		h.fail(w, r, sess, http.StatusForbidden, "交付停止リストを変更できるのは住民記録担当の職員だけです。")
		return
	}
	f, err := form(w, r, "csrf", "action", "lgCode", "person", "note")
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	sent := stopForm{Action: f.Get("action"), LGCode: f.Get("lgCode"), Person: strings.TrimSpace(f.Get("person")),
		Note: strings.TrimSpace(f.Get("note"))}
	again := func(status int, msg string) { h.showStopList(w, r, sess, status, "", msg, sent) }
	if sent.LGCode == "" {
		again(http.StatusBadRequest, "lgCode: 市区町村を指定してください。")
		return
	}
	if !slices.Contains(h.scope(sess), sent.LGCode) {
		h.fail(w, r, sess, http.StatusForbidden, fmt.Sprintf("lgCode %q: あなたが担当する市区町村ではありません。", sent.LGCode))
		return
	}
	if sent.Action != "add" && sent.Action != "lift" {
		again(http.StatusBadRequest, "action: add（追加）か lift（解除）を指定してください。")
		return
	}
	member := memberRE.FindStringSubmatch(sent.Person)
	switch {
	case sent.Person == "":
		again(http.StatusBadRequest, "person: 宛名番号、または戸籍の在籍者（koseki:<戸籍の番号>:<順位>）を入力してください。")
		return
	case member == nil && !personIDRE.MatchString(sent.Person):
		again(http.StatusBadRequest, fmt.Sprintf("person %q: 宛名番号（英数字と . _ -、64 文字まで）か koseki:<戸籍の番号>:<順位> の形で入力してください。", sent.Person))
		return
	case sent.Note == "":
		if sent.Action == "add" {
			again(http.StatusBadRequest, "note: 交付を停止する理由を入力してください。")
		} else {
			again(http.StatusBadRequest, "note: 停止を解除する理由を入力してください。")
		}
		return
	}
	if msg := checkNote(sent.Note); msg != "" {
		again(http.StatusBadRequest, msg)
		return
	}
	muni, now := h.muniName(sent.LGCode), h.o.Clock.Now()
	if sent.Action == "lift" {
		err := h.o.Store.LiftWithNote(r.Context(), sent.LGCode, sent.Person, sess.Clerk.Username, sent.Note, now)
		switch {
		case errors.Is(err, registry.ErrNotStopped):
			again(http.StatusConflict, fmt.Sprintf("person %s: %s の交付停止リストにありません（すでに解除されています）。", sent.Person, muni))
		case err != nil:
			h.internal(w, r, sess, "stop list lift", err)
		default:
			h.o.Log.Info("console: stop-list entry lifted", "clerk", sess.Clerk.Username, "lgCode", sent.LGCode)
			h.showStopList(w, r, sess, http.StatusOK, fmt.Sprintf("%s の交付停止を解除しました。", sent.Person), "", stopForm{})
		}
		return
	}
	// The name is shown once, in the confirmation, so that the clerk sees
	// whom the id they typed names; the list itself shows ids.
	e := registry.StopEntry{LGCode: sent.LGCode, PersonID: sent.Person, Note: sent.Note, By: sess.Clerk.Username, At: now}
	var name string
	if member != nil {
		seq, _ := strconv.Atoi(member[2])
		k, err := h.o.Store.Koseki(r.Context(), sent.LGCode, member[1])
		if err != nil {
			h.internal(w, r, sess, "stop list koseki", err)
			return
		}
		if k == nil {
			again(http.StatusBadRequest, fmt.Sprintf("person %s: 戸籍 %s は %s にありません。", sent.Person, member[1], muni))
			return
		}
		i := slices.IndexFunc(k.Members, func(m issuance.KosekiMember) bool { return m.Seq == seq })
		if i < 0 {
			again(http.StatusBadRequest, fmt.Sprintf("person %s: 戸籍 %s に第 %d 順位の人はいません。", sent.Person, member[1], seq))
			return
		}
		if id := k.Members[i].PersonID; id != "" {
			// Their person id stops everything concerning them, not only
			// what prints their 戸籍 entry.
			again(http.StatusBadRequest, fmt.Sprintf("person %s: この人は %s に住民記録があります。宛名番号 %s で停止してください。", sent.Person, muni, id))
			return
		}
		name = k.Members[i].FamilyName + " " + k.Members[i].GivenName
		err = h.o.Store.StopKosekiMember(r.Context(), e, member[1], seq)
		if errors.Is(err, registry.ErrNoKosekiMember) { // changed since it was read
			again(http.StatusConflict, fmt.Sprintf("person %s: 戸籍 %s が更新されました。もう一度確認してください。", sent.Person, member[1]))
			return
		}
		h.stopped(w, r, sess, sent, name, err, again)
		return
	}
	err = h.o.Store.StopPerson(r.Context(), e)
	if errors.Is(err, registry.ErrNoPerson) {
		again(http.StatusBadRequest, fmt.Sprintf("person %s: この宛名番号の住民記録は %s にありません。", sent.Person, muni))
		return
	}
	if err == nil {
		ps, perr := h.o.Store.People(r.Context(), sent.LGCode, []string{sent.Person})
		if perr == nil && len(ps) == 1 {
			name = ps[0].FamilyName + " " + ps[0].GivenName
		}
	}
	h.stopped(w, r, sess, sent, name, err, again)
}

// stopped answers an add: done, or already on the list.
func (h *handler) stopped(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession, sent stopForm, name string, err error, again func(int, string)) {
	switch {
	case errors.Is(err, registry.ErrAlreadyStopped):
		again(http.StatusConflict, fmt.Sprintf("person %s: すでに交付停止中です（ほかの職員が追加した可能性があります）。下の一覧を確認してください。", sent.Person))
	case err != nil:
		h.internal(w, r, sess, "stop list add", err)
	default:
		h.o.Log.Info("console: stop-list entry added", "clerk", sess.Clerk.Username, "lgCode", sent.LGCode)
		who := sent.Person
		if name != "" {
			who += "（" + name + "）"
		}
		h.showStopList(w, r, sess, http.StatusOK, who+" の交付を停止しました。すべてのノードで、いまから交付されません。", "", stopForm{})
	}
}
