package status

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/web"
)

// Path is where the page is mounted (docs/interface.md, "The web port").
const Path = "/status"

// The form's field names, fixed by the interface.
const (
	fieldNumber    = "applicationNumber"
	fieldBirthDate = "birthDate"
)

// Store is what the page needs of the applications: the status check only
// (issuance.Applications.ApplicationStatus; registry.Store in production),
// among the applications of the municipalities the page serves.
type Store interface {
	ApplicationStatus(ctx context.Context, lgCodes []string, number, birthDate string) (issuance.Application, error)
}

// Limiter counts tries (registry.RateLimiter in production).
type Limiter = web.Limiter

// Limit is at most Tries status checks per Window.
type Limit = web.Limit

// The default limits: a person mistyping a few times is never stopped; a
// caller trying birth dates for one number, or numbers from one address,
// is stopped long before finding anything (12 digits with a check digit,
// and some 36,500 birth dates a century).
var (
	DefaultPerAddress = Limit{Tries: 10, Window: 10 * time.Minute}
	DefaultPerNumber  = Limit{Tries: 5, Window: 15 * time.Minute}
)

// Options configure the page. Store, Limiter, Clock and Municipalities are
// required; a zero Limit takes its default.
type Options struct {
	Store Store
	// Municipalities are the 団体コード whose applications the page checks
	// (the deployment's): the store reads in their tenant scope only.
	Municipalities []string
	Limiter        Limiter
	Clock          issuance.Clock
	// PerAddress limits the checks (POSTs) from one client address
	// (web.ClientAddress); PerNumber the checks of one application number,
	// whatever the address.
	PerAddress, PerNumber Limit
	// Log receives failures of the store or the limiter (never what a
	// visitor typed); slog.Default() when nil.
	Log *slog.Logger
}

type handler struct {
	o Options
}

// New returns the page's handler, to be mounted at Path. It sets the
// security headers itself (web.Secure); the style sheet it links is
// web.Assets, under /assets/.
func New(o Options) (http.Handler, error) {
	if err := web.Required("status page", []web.Option{
		{Name: "Store", Set: o.Store != nil}, {Name: "Limiter", Set: o.Limiter != nil}, {Name: "Clock", Set: o.Clock != nil},
		{Name: "Municipalities", Set: len(o.Municipalities) > 0}}); err != nil {
		return nil, err
	}
	var err error
	if o.PerAddress, err = o.PerAddress.OrDefault("status page", "PerAddress", DefaultPerAddress); err != nil {
		return nil, err
	}
	if o.PerNumber, err = o.PerNumber.OrDefault("status page", "PerNumber", DefaultPerNumber); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := complete(catalogue); err != nil {
		return nil, err
	}
	return web.Secure(&handler{o: o}), nil
}

// maxBody bounds a POST: two short fields.
const maxBody = 4 << 10

// unknownProbe stands in for a malformed number at the store: twelve digits
// whose check digit is wrong, so no application ever has it, and the store
// does the same work as for an unknown number.
const unknownProbe = "000000000001"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	p := newPage(web.Language(r))
	if bad := unexpected(r.URL.Query(), "lang"); bad != "" {
		p.Errors = append(p.Errors, fieldError{Message: p.Msgf("error.unexpected", "name", bad)})
		h.render(w, http.StatusBadRequest, p)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.render(w, http.StatusOK, p)
	case http.MethodPost:
		h.check(w, r, p)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		p.Notice = &notice{Title: p.Msg("error.request.title"), Text: p.Msg("error.request.text")}
		h.render(w, http.StatusMethodNotAllowed, p)
	}
}

// check answers a submitted form.
func (h *handler) check(w http.ResponseWriter, r *http.Request, p *page) {
	ctx := r.Context()
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		p.Notice = &notice{Title: p.Msg("error.request.title"), Text: p.Msg("error.request.text")}
		h.render(w, http.StatusUnsupportedMediaType, p)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		p.Notice = &notice{Title: p.Msg("error.request.title"), Text: p.Msg("error.request.text")}
		h.render(w, status, p)
		return
	}
	now := h.o.Clock.Now()
	// Every check counts against the address, a malformed one too, before
	// anything is looked at: an address cannot probe for free.
	if !h.allow(w, p, registry.RateKey("status-addr", web.ClientAddress(r)), h.o.PerAddress, now, ctx) {
		return
	}
	form := r.PostForm
	typedNumber := strings.TrimSpace(form.Get(fieldNumber))
	typedBirth := strings.TrimSpace(form.Get(fieldBirthDate))
	p.Number, p.BirthDate = typedNumber, typedBirth
	if bad := unexpected(form, fieldNumber, fieldBirthDate); bad != "" {
		p.Errors = append(p.Errors, fieldError{Message: p.Msgf("error.unexpected", "name", bad)})
	}
	for _, f := range []string{fieldNumber, fieldBirthDate} {
		if len(form[f]) > 1 {
			p.Errors = append(p.Errors, fieldError{Field: f, Message: p.Msgf("error.repeated", "name", f)})
		}
	}
	if typedNumber == "" {
		p.Errors = append(p.Errors, fieldError{Field: fieldNumber, Message: p.Msg("error.applicationNumber.missing")})
	}
	birth, err := parseBirthDate(typedBirth, now)
	switch {
	case typedBirth == "":
		p.Errors = append(p.Errors, fieldError{Field: fieldBirthDate, Message: p.Msg("error.birthDate.missing")})
	case err != nil:
		p.Errors = append(p.Errors, fieldError{Field: fieldBirthDate, Message: p.Msg("error.birthDate.format")})
	}
	if len(p.Errors) > 0 {
		h.render(w, http.StatusBadRequest, p)
		return
	}
	// A malformed number is an unknown one: same limit, same store work,
	// same answer. Only its rate key differs (it has no canonical form).
	number, perr := issuance.ParseApplicationNumber(typedNumber)
	key := number
	if perr != nil {
		key, number = "malformed\x00"+typedNumber, unknownProbe
	}
	if !h.allow(w, p, registry.RateKey("status-number", key), h.o.PerNumber, now, ctx) {
		return
	}
	a, err := h.o.Store.ApplicationStatus(ctx, h.o.Municipalities, number, birth)
	if err == nil && perr != nil {
		err = fmt.Errorf("the store found an application for a malformed number")
	}
	// Nothing typed is shown back but the number, in the form of an
	// unknown answer: the birth date stays out of the page.
	p.BirthDate = ""
	switch {
	case errors.Is(err, issuance.ErrNoApplication):
		p.Result = &result{Status: "UNKNOWN"}
		h.render(w, http.StatusOK, p)
	case err != nil:
		h.o.Log.ErrorContext(ctx, "status page: application status", "err", err)
		p.Notice = &notice{Title: p.Msg("unavailable.title"), Text: p.Msg("unavailable.text")}
		h.render(w, http.StatusServiceUnavailable, p)
	default:
		p.Number = ""
		p.Result = answer(a)
		h.render(w, http.StatusOK, p)
	}
}

// allow counts one try under key and, when over the limit, answers 429
// with Retry-After (whole seconds, rounded up) and reports false. A failing
// limiter fails closed: no check goes unlimited.
func (h *handler) allow(w http.ResponseWriter, p *page, key string, l Limit, now time.Time, ctx context.Context) bool {
	ok, after, err := h.o.Limiter.Allow(ctx, key, l.Tries, l.Window, now)
	if err != nil {
		h.o.Log.ErrorContext(ctx, "status page: rate limit", "err", err)
		p.Notice = &notice{Title: p.Msg("unavailable.title"), Text: p.Msg("unavailable.text")}
		h.render(w, http.StatusServiceUnavailable, p)
		return false
	}
	if ok {
		return true
	}
	secs := max(1, int(math.Ceil(after.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	p.Number, p.BirthDate = "", ""
	p.Notice = &notice{Title: p.Msg("tooMany.title"),
		Text: p.Msgf("tooMany.text", "minutes", strconv.Itoa((secs+59)/60))}
	h.render(w, http.StatusTooManyRequests, p)
	return false
}

// answer is what the page shows of an application: its state and dates,
// never its facts, its member or who decided.
func answer(a issuance.Application) *result {
	res := &result{Status: string(a.Status), Number: issuance.FormatApplicationNumber(a.Number),
		Received: a.ReceivedAt, Decided: a.DecidedAt}
	switch a.Status {
	case issuance.ApplicationReceived:
		res.ExpectedBy = a.ExpectedBy
	case issuance.ApplicationRejected:
		res.Reason = string(a.Reason)
	}
	return res
}

// unexpected returns the first key of v (sorted) not among allowed, or "".
func unexpected(v url.Values, allowed ...string) string {
	var bad []string
	for k := range v {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	slices.Sort(bad)
	return strings.Join(bad, ", ")
}

// parseBirthDate reads a birth date as the browser's date input sends it
// (YYYY-MM-DD) or as a person types it in a plain field: full-width digits,
// "/" or "." between the parts, one-digit month and day, 年月日. It
// returns the canonical YYYY-MM-DD of a real calendar day between 1868
// (明治) and today.
func parseBirthDate(s string, now time.Time) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r == '/' || r == '.' || r == '年' || r == '月' || r == '－' || r == '／':
			b.WriteByte('-')
		case r == '日' || r == ' ':
		default:
			b.WriteRune(r)
		}
	}
	parts := strings.Split(b.String(), "-")
	if len(parts) != 3 || len(parts[0]) != 4 || len(parts[1]) < 1 || len(parts[1]) > 2 || len(parts[2]) < 1 || len(parts[2]) > 2 {
		return "", fmt.Errorf("birth date: want YYYY-MM-DD")
	}
	var n [3]int
	for i, part := range parts {
		for _, c := range part {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("birth date: want YYYY-MM-DD")
			}
		}
		n[i], _ = strconv.Atoi(part)
	}
	d := time.Date(n[0], time.Month(n[1]), n[2], 0, 0, 0, 0, issuance.Tokyo)
	if d.Year() != n[0] || int(d.Month()) != n[1] || d.Day() != n[2] {
		return "", fmt.Errorf("birth date: no such day")
	}
	if d.Year() < 1868 || d.After(now.In(issuance.Tokyo)) {
		return "", fmt.Errorf("birth date: out of range")
	}
	return d.Format(time.DateOnly), nil
}

// render writes the page with status; the template runs into a buffer
// first so that a failure is a clean 500, never half a page.
func (h *handler) render(w http.ResponseWriter, status int, p *page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		h.o.Log.Error("status page: render", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.Lang)
	w.Header().Set("Vary", "Accept-Language")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
