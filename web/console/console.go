package console

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
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

// Path is where the console is mounted.
const Path = "/console/"

// Cookie names. The session cookie is scoped to the console; the sign-in
// form's token cookie to the sign-in path.
const (
	sessionCookie = "console_session"
	loginCookie   = "console_login"
)

// Options configure the console. Store, Clock and Municipalities are
// required; zero policies take registry's defaults.
type Options struct {
	Store *registry.Store // with the 個人番号 key (it opens facts and TOTP seeds)
	Clock issuance.Clock
	// Municipalities served here, by code: their names on the pages, and
	// the codes an administrator may give accounts.
	Municipalities map[string]issuance.Municipality
	SignIn         registry.SignInPolicy
	Session        registry.SessionPolicy
	// Sync is the console's "apply now" (web/console/sync.go); nil where
	// the sync is not configured. Inbox is where its batches wait, and
	// MaxStaleness each municipality's bound per domain, the Service's.
	Sync         SyncRunner
	Inbox        string
	MaxStaleness map[string]map[issuance.DataDomain]time.Duration
	// Stopped returns the deployment-wide stop in force (issuance
	// stop-all), nil while running; every page shows a stop in a banner.
	// A nil Stopped shows none (a console without a server around it).
	Stopped func() *registry.ServiceState
	// Log receives failures of the store (never personal data, nothing a
	// visitor typed); slog.Default() when nil.
	Log *slog.Logger
}

type handler struct {
	o   Options
	mux *http.ServeMux
}

// New returns the console's handler, to be mounted at Path. It sets the
// security headers itself (web.Secure); the style sheet it links is
// web.Assets under /assets/, which the caller mounts.
func New(o Options) (http.Handler, error) {
	var missing []string
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if o.Clock == nil {
		missing = append(missing, "Clock")
	}
	if len(o.Municipalities) == 0 {
		missing = append(missing, "Municipalities")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("console: %s required", strings.Join(missing, ", "))
	}
	if o.SignIn == (registry.SignInPolicy{}) {
		o.SignIn = registry.DefaultSignInPolicy
	}
	if o.Session == (registry.SessionPolicy{}) {
		o.Session = registry.DefaultSessionPolicy
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h := &handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /console/login", h.loginForm)
	h.mux.HandleFunc("POST /console/login", h.login)
	h.mux.HandleFunc("POST /console/logout", h.auth(h.logout))
	h.mux.HandleFunc("GET /console/{$}", h.auth(h.home))
	h.mux.HandleFunc("GET /console/honseki", h.auth(h.queue))
	h.mux.HandleFunc("GET /console/honseki/{number}", h.auth(h.application))
	h.mux.HandleFunc("POST /console/honseki/{number}", h.auth(h.decide))
	h.mux.HandleFunc("GET /console/admin", h.auth(h.admin))
	h.mux.HandleFunc("POST /console/admin", h.auth(h.adminAction))
	h.mux.HandleFunc("GET /console/sync", h.auth(h.syncPage))
	h.mux.HandleFunc("POST /console/sync", h.auth(h.applyNow))
	h.mux.HandleFunc("GET /console/stoplist", h.auth(h.stopList))
	h.mux.HandleFunc("POST /console/stoplist", h.auth(h.stopChange))
	h.mux.HandleFunc("GET /console/issuances", h.auth(h.issuances))
	h.mux.HandleFunc("GET /console/issuances.csv", h.auth(h.issuancesCSV))
	h.mux.HandleFunc("GET /console/recall", h.auth(h.recall))
	h.mux.HandleFunc("GET /console/recall.csv", h.auth(h.recallCSV))
	h.mux.HandleFunc("GET /console/stats", h.auth(h.stats))
	h.mux.HandleFunc("GET /console/stats.csv", h.auth(h.statsCSV))
	return web.Secure(h), nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The session cookie is Secure: over plain HTTP a browser would not
	// send it back, and the password would cross the network in clear.
	if r.TLS == nil {
		h.fail(w, r, nil, http.StatusForbidden, "管理画面は HTTPS でのみ利用できます（web.tls_cert と web.tls_key を設定してください）。")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// maxBody bounds a POST: the largest form is a decision with its note.
const maxBody = 32 << 10

//go:embed templates
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"number": issuance.FormatApplicationNumber,
	"date":   func(t time.Time) string { return t.In(issuance.Tokyo).Format("2006-01-02") },
	"datetime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(issuance.Tokyo).Format("2006-01-02 15:04")
	},
	"status": statusLabel,
	"reason": reasonLabel,
	"role":   roleLabel,
	"sex":    sexLabel,
	"fact":   factLabel,
	"note": func(n string) string {
		switch n {
		case issuance.NoteVariant:
			return "異体字として一致"
		case issuance.NoteNotation:
			return "表記ゆれとして一致"
		}
		return n
	},
}).ParseFS(templateFS, "templates/*.html"))

// page is what every template gets.
type page struct {
	Title   string
	Session *registry.ConsoleSession
	CSRF    string
	Message string // a notice (done, signed out)
	Error   string // what went wrong, in words
	Munis   map[string]issuance.Municipality
	Data    any
	Stopped *registry.ServiceState // the banner of a deployment-wide stop
}

// IsRole is for templates: whether the signed-in clerk has role r.
func (p page) IsRole(r string) bool { return p.Session != nil && string(p.Session.Clerk.Role) == r }

// Muni names a municipality for the pages.
func (p page) Muni(code string) string {
	if m, ok := p.Munis[code]; ok {
		return m.Prefecture + m.Name + "（" + code + "）"
	}
	return code
}

func (h *handler) render(w http.ResponseWriter, status int, name string, p page) {
	p.Munis = h.o.Municipalities
	if p.Session != nil {
		p.CSRF = p.Session.CSRF
	}
	h.write(w, status, name, p)
}

// write renders a page whole before answering, so a template failure is a
// 500, not half a page under a 200.
func (h *handler) write(w http.ResponseWriter, status int, name string, p page) {
	if h.o.Stopped != nil {
		p.Stopped = h.o.Stopped()
	}
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, p); err != nil {
		h.o.Log.Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fail answers with a page saying what went wrong.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession, status int, msg string) {
	h.render(w, status, "message", page{Title: http.StatusText(status), Session: sess, Error: msg})
}

// internal logs a store failure (what failed, never personal data) and
// answers 503.
func (h *handler) internal(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession, what string, err error) {
	h.o.Log.Error("console: "+what, "path", r.URL.Path, "err", err)
	h.fail(w, r, sess, http.StatusServiceUnavailable, "処理できませんでした。しばらくしてからもう一度お試しください。")
}

// form reads a POST body (at most maxBody) and refuses fields other than
// allowed, naming them: a client that sends something else is wrong.
func form(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("フォームを読めません: %v", err)
	}
	if err := onlyFields(r.PostForm, allowed...); err != nil {
		return nil, err
	}
	for k, vs := range r.PostForm {
		if len(vs) > 1 && k != "lgCodes" {
			return nil, fmt.Errorf("項目 %s が複数あります", k)
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, fmt.Errorf("項目 %s が UTF-8 ではありません", k)
			}
		}
	}
	return r.PostForm, nil
}

func onlyFields(v url.Values, allowed ...string) error {
	var unknown []string
	for k := range v {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("不明な項目: %s", strings.Join(unknown, ", "))
	}
	return nil
}

// sessionFunc is a handler for a signed-in clerk.
type sessionFunc func(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession)

// auth runs f for a live session: otherwise the visitor is sent to sign in
// (and a POST does nothing). Every POST must carry the session's CSRF token
// (403 without it).
func (h *handler) auth(f sessionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(sessionCookie); err == nil {
			token = c.Value
		}
		sess, err := h.o.Store.ConsoleSession(r.Context(), token, h.o.Session, h.o.Clock.Now())
		if errors.Is(err, registry.ErrNoSession) {
			if token != "" {
				clearCookie(w, sessionCookie, Path)
			}
			http.Redirect(w, r, "/console/login?expired="+strconv.FormatBool(token != ""), http.StatusSeeOther)
			return
		}
		if err != nil {
			h.internal(w, r, nil, "session", err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, &sess, http.StatusBadRequest, "フォームを読めません。")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.CSRF)) != 1 {
				h.fail(w, r, &sess, http.StatusForbidden, "フォームの確認用トークン（csrf）がないか、正しくありません。画面を開き直してください。")
				return
			}
		}
		f(w, r, &sess)
	}
}

func setCookie(w http.ResponseWriter, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter, name, path string) { setCookie(w, name, "", path, -1) }

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// loginForm shows the sign-in form. Before a session exists the form's
// CSRF token is a double-submit one: a random value in a cookie
// (SameSite=Strict, so another site's form cannot send it) and in the form.
func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	if err := onlyFields(r.URL.Query(), "expired", "signedOut"); err != nil {
		h.fail(w, r, nil, http.StatusBadRequest, err.Error())
		return
	}
	p := page{Title: "サインイン"}
	switch {
	case r.URL.Query().Get("expired") == "true":
		p.Message = "セッションが終了しました（15 分間操作がなかったか、サインインから 8 時間が過ぎました）。もう一度サインインしてください。"
	case r.URL.Query().Get("signedOut") == "true":
		p.Message = "サインアウトしました。"
	}
	h.showLogin(w, http.StatusOK, p, "")
}

func (h *handler) showLogin(w http.ResponseWriter, status int, p page, username string) {
	token := randomToken()
	setCookie(w, loginCookie, token, "/console/login", 3600)
	p.CSRF = token
	p.Data = struct{ Username string }{username}
	p.Munis = h.o.Municipalities
	h.write(w, status, "login", p)
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	f, err := form(w, r, "username", "password", "otp", "csrf")
	if err != nil {
		h.fail(w, r, nil, http.StatusBadRequest, err.Error())
		return
	}
	c, cerr := r.Cookie(loginCookie)
	if cerr != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(f.Get("csrf"))) != 1 {
		h.fail(w, r, nil, http.StatusForbidden, "フォームの確認用トークン（csrf）がないか、正しくありません。サインイン画面を開き直してください。")
		return
	}
	username, password, otp := strings.TrimSpace(f.Get("username")), f.Get("password"), strings.TrimSpace(f.Get("otp"))
	switch {
	case len(username) > 64:
		h.fail(w, r, nil, http.StatusBadRequest, "ユーザー名が長すぎます（64 文字まで）。")
		return
	case len(password) > 256:
		h.fail(w, r, nil, http.StatusBadRequest, "パスワードが長すぎます（256 バイトまで）。")
		return
	}
	token, sess, err := h.o.Store.SignIn(r.Context(), username, password, otp, web.ClientAddress(r), h.o.SignIn, h.o.Clock.Now())
	var te *registry.ThrottledError
	switch {
	case errors.As(err, &te):
		wait := int(te.RetryAfter.Round(time.Second) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(wait, 1)))
		msg := fmt.Sprintf("サインインの失敗が続いたため、%d 秒間はサインインできません。", max(wait, 1))
		if te.Locked {
			msg = fmt.Sprintf("サインインの失敗が続いたため、ロックしました。約 %d 分後にもう一度お試しください。解除を急ぐ場合は管理者に連絡してください。", (wait+59)/60)
		}
		h.showLogin(w, http.StatusTooManyRequests, page{Title: "サインイン", Error: msg}, username)
	case errors.Is(err, registry.ErrSignIn):
		h.showLogin(w, http.StatusUnauthorized, page{Title: "サインイン",
			Error: "ユーザー名、パスワード、確認コードのいずれかが正しくありません。"}, username)
	case err != nil:
		h.internal(w, r, nil, "sign in", err)
	default:
		h.o.Log.Info("console: signed in", "clerk", sess.Clerk.Username)
		clearCookie(w, loginCookie, "/console/login")
		setCookie(w, sessionCookie, token, Path, 0)
		http.Redirect(w, r, Path, http.StatusSeeOther)
	}
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	c, _ := r.Cookie(sessionCookie)
	if err := h.o.Store.ConsoleSignOut(r.Context(), c.Value, h.o.Clock.Now()); err != nil {
		h.internal(w, r, sess, "sign out", err)
		return
	}
	clearCookie(w, sessionCookie, Path)
	http.Redirect(w, r, "/console/login?signedOut=true", http.StatusSeeOther)
}

func (h *handler) home(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	switch sess.Clerk.Role {
	case registry.RoleKosekiClerk, registry.RoleAuditor:
		http.Redirect(w, r, "/console/honseki", http.StatusSeeOther)
	case registry.RoleAdmin:
		http.Redirect(w, r, "/console/admin", http.StatusSeeOther)
	case registry.RoleRegistryClerk:
		http.Redirect(w, r, "/console/stoplist", http.StatusSeeOther)
	default:
		h.render(w, http.StatusOK, "home", page{Title: "ホーム", Session: sess})
	}
}

// may says whether the clerk's scope includes lgCode.
func may(sess *registry.ConsoleSession, lgCode string) bool {
	return slices.Contains(sess.Clerk.LGCodes, lgCode)
}
