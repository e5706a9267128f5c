package console

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/lgwan/issuance/registry"
)

// The administration page: an administrator adds, disables and resets the
// accounts of their municipalities. An account is theirs to manage when
// every municipality it is scoped to is one of the administrator's.

func manages(admin *registry.ConsoleSession, c registry.Clerk) bool {
	for _, code := range c.LGCodes {
		if !may(admin, code) {
			return false
		}
	}
	return true
}

type adminView struct {
	Clerks []registry.Clerk
	Roles  []registry.Role
	Codes  []string // the municipalities the administrator may give
	Form   struct {
		Username string
		Role     string
		LGCodes  []string
	}
}

func (h *handler) adminData(r *http.Request, sess *registry.ConsoleSession) (adminView, error) {
	var v adminView
	all, err := h.o.Store.Clerks(r.Context())
	if err != nil {
		return v, err
	}
	for _, c := range all {
		if manages(sess, c) {
			v.Clerks = append(v.Clerks, c)
		}
	}
	v.Roles = registry.Roles
	for _, code := range slices.Sorted(maps.Keys(h.o.Municipalities)) {
		if may(sess, code) {
			v.Codes = append(v.Codes, code)
		}
	}
	return v, nil
}

func (h *handler) admin(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if sess.Clerk.Role != registry.RoleAdmin {
		h.fail(w, r, sess, http.StatusForbidden, "アカウントの管理は管理者だけが行えます。")
		return
	}
	if err := onlyFields(r.URL.Query()); err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	v, err := h.adminData(r, sess)
	if err != nil {
		h.internal(w, r, sess, "accounts", err)
		return
	}
	h.render(w, http.StatusOK, "admin", page{Title: "アカウント管理", Session: sess, Data: v})
}

// credentialsView is shown once, after an account is added or reset.
type credentialsView struct {
	registry.Credentials
	Reset bool
	QR    template.URL // data:image/png;base64,...
}

func (h *handler) adminAction(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if sess.Clerk.Role != registry.RoleAdmin {
		h.fail(w, r, sess, http.StatusForbidden, "アカウントの管理は管理者だけが行えます。")
		return
	}
	f, err := form(w, r, "csrf", "action", "username", "role", "lgCodes")
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	v, err := h.adminData(r, sess)
	if err != nil {
		h.internal(w, r, sess, "accounts", err)
		return
	}
	again := func(status int, msg string) {
		v.Form.Username, v.Form.Role, v.Form.LGCodes = f.Get("username"), f.Get("role"), f["lgCodes"]
		h.render(w, status, "admin", page{Title: "アカウント管理", Session: sess, Error: msg, Data: v})
	}
	username, action := strings.TrimSpace(f.Get("username")), f.Get("action")
	now := h.o.Clock.Now()
	var cr registry.Credentials
	switch action {
	case "add":
		role := registry.Role(f.Get("role"))
		codes := f["lgCodes"]
		for _, c := range codes {
			if !slices.Contains(v.Codes, c) {
				again(http.StatusBadRequest, fmt.Sprintf("lgCodes: %q はあなたが管理する市区町村ではありません。", c))
				return
			}
		}
		cr, err = h.o.Store.AddClerk(r.Context(), username, role, codes, now)
		if errors.Is(err, registry.ErrClerkExists) {
			again(http.StatusConflict, fmt.Sprintf("username: %s はすでに使われています。", username))
			return
		}
		if errors.Is(err, registry.ErrBadAccount) {
			again(http.StatusBadRequest, err.Error())
			return
		}
	case "disable", "reset":
		if f.Has("role") || f.Has("lgCodes") {
			again(http.StatusBadRequest, "role, lgCodes: アカウントの追加（action=add）のときだけ指定します。")
			return
		}
		if username == sess.Clerk.Username && action == "disable" {
			again(http.StatusBadRequest, "username: 自分のアカウントは無効にできません。")
			return
		}
		i := slices.IndexFunc(v.Clerks, func(c registry.Clerk) bool { return c.Username == username })
		if i < 0 {
			again(http.StatusNotFound, fmt.Sprintf("username: %q はあなたが管理するアカウントではありません。", username))
			return
		}
		if action == "disable" {
			err = h.o.Store.DisableClerk(r.Context(), username, now)
		} else {
			cr, err = h.o.Store.ResetClerk(r.Context(), username, now)
		}
	default:
		again(http.StatusBadRequest, "action: add, disable, reset のいずれかを指定してください。")
		return
	}
	if err != nil {
		h.internal(w, r, sess, "account "+action, err)
		return
	}
	h.o.Log.Info("console: account "+action, "admin", sess.Clerk.Username, "account", username)
	if action == "disable" {
		v, err = h.adminData(r, sess)
		if err != nil {
			h.internal(w, r, sess, "accounts", err)
			return
		}
		h.render(w, http.StatusOK, "admin", page{Title: "アカウント管理", Session: sess,
			Message: username + " を無効にしました（サインイン中のセッションも終了しました）。", Data: v})
		return
	}
	png, err := cr.QRCode(240)
	if err != nil {
		h.internal(w, r, sess, "enrolment QR code", err)
		return
	}
	h.render(w, http.StatusOK, "credentials", page{Title: "アカウントの初期設定情報", Session: sess, Data: credentialsView{
		Credentials: cr, Reset: action == "reset",
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))}})
}
