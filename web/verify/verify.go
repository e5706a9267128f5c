package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/render/backside"
	"github.com/lgwan/issuance/web"
)

// Path is where the site is mounted (docs/interface.md, "The web port").
const Path = "/verify"

// Field is the upload's form field, fixed by the interface.
const Field = "scan"

// Limiter counts tries (registry.RateLimiter in production).
type Limiter = web.Limiter

// Limit is at most Tries uploads per Window.
type Limit = web.Limit

// Defaults. A clerk checking a pile of certificates one by one is not
// stopped; a script uploading without end is. The upload bound fits a
// 600-dpi colour scan as PNG or a phone photo; Concurrency bounds the
// memory of a node (each verification decodes up to
// backside.DefaultScanLimits.MaxDecodedBytes).
var (
	DefaultPerAddress = Limit{Tries: 30, Window: 10 * time.Minute}
)

const (
	DefaultMaxUpload     = 20 << 20
	DefaultConcurrency   = 2
	DefaultQueueWait     = 10 * time.Second
	DefaultUploadTimeout = 2 * time.Minute
)

// Options configure the site. Keys, Limiter and Clock are required; zero
// values of the others take their defaults.
type Options struct {
	// Keys are the published code keys (seal.code_keys, as verify-scan
	// --keys reads them).
	Keys    backside.Keys
	Limiter Limiter
	Clock   issuance.Clock
	// PerAddress limits the uploads (POSTs) from one client address.
	PerAddress Limit
	// MaxUpload bounds the request body, in bytes (413 beyond).
	MaxUpload int64
	// Concurrency is how many uploads a node reads and verifies at once;
	// one more waits up to QueueWait for a turn, then is told to retry
	// (503 with Retry-After).
	Concurrency int
	QueueWait   time.Duration
	// UploadTimeout bounds reading one upload, so that a slow sender does
	// not hold a turn.
	UploadTimeout time.Duration
	// Scan bounds decoding (pixels, PDF pages and time).
	Scan backside.ScanLimits
	// Log receives failures of the limiter and of the server's own tools,
	// never anything uploaded; slog.Default() when nil.
	Log *slog.Logger
}

type handler struct {
	o    Options
	sem  chan struct{}
	busy func() // test hook: called when an upload found no turn
}

// New returns the site's handler, to be mounted at Path. It sets the
// security headers itself (web.Secure); the style sheet it links is
// web.Assets, under /assets/.
func New(o Options) (http.Handler, error) {
	h, err := newHandler(o)
	if err != nil {
		return nil, err
	}
	return web.Secure(h), nil
}

func newHandler(o Options) (*handler, error) {
	if err := web.Required("verification site", []web.Option{
		{Name: "Keys", Set: o.Keys != nil}, {Name: "Limiter", Set: o.Limiter != nil}, {Name: "Clock", Set: o.Clock != nil}}); err != nil {
		return nil, err
	}
	var err error
	if o.PerAddress, err = o.PerAddress.OrDefault("verification site", "PerAddress", DefaultPerAddress); err != nil {
		return nil, err
	}
	if o.MaxUpload < 0 || o.Concurrency < 0 || o.QueueWait < 0 || o.UploadTimeout < 0 {
		return nil, errors.New("verification site: MaxUpload, Concurrency, QueueWait and UploadTimeout cannot be negative")
	}
	if o.MaxUpload == 0 {
		o.MaxUpload = DefaultMaxUpload
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.QueueWait == 0 {
		o.QueueWait = DefaultQueueWait
	}
	if o.UploadTimeout == 0 {
		o.UploadTimeout = DefaultUploadTimeout
	}
	if o.Scan == (backside.ScanLimits{}) {
		o.Scan = backside.DefaultScanLimits
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := complete(catalogue); err != nil {
		return nil, err
	}
	return &handler{o: o, sem: make(chan struct{}, o.Concurrency), busy: func() {}}, nil
}

// answer is one response: a result of a verification, or a notice about
// the request. JSON callers get the Result alone, as verify-scan prints it.
type answer struct {
	status int
	res    backside.Result
	front  *image.Gray
	err    error // why the scan does not verify
	notice *noticeKey
}

// noticeKey is a message of the catalogue about the request itself, with
// the English text JSON callers get as the Result's error.
type noticeKey struct {
	title, text string
	args        []string
	english     string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	lang := web.Language(r)
	if bad := unexpected(r.URL.Query(), "lang"); bad != "" {
		h.respond(w, r, lang, requestError(http.StatusBadRequest, "error.unexpected", "a field this site does not have was sent: "+bad, "name", bad))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.respond(w, r, lang, answer{status: http.StatusOK})
	case http.MethodPost:
		h.respond(w, r, lang, h.verify(w, r))
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.respond(w, r, lang, requestError(http.StatusMethodNotAllowed, "error.form", "use GET for the form and POST to upload"))
	}
}

func requestError(status int, key, english string, args ...string) answer {
	return answer{status: status, notice: &noticeKey{title: "error.request.title", text: key, args: args, english: english}}
}

// verify reads one upload and verifies it.
func (h *handler) verify(w http.ResponseWriter, r *http.Request) answer {
	ctx := r.Context()
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "multipart/form-data" {
		return requestError(http.StatusUnsupportedMediaType, "error.form", "send the scan as multipart/form-data in the field "+Field)
	}
	// Every upload counts against its address before anything is read.
	ok, after, err := h.o.Limiter.Allow(ctx, registry.RateKey("verify-addr", web.ClientAddress(r)),
		h.o.PerAddress.Tries, h.o.PerAddress.Window, h.o.Clock.Now())
	if err != nil {
		h.o.Log.ErrorContext(ctx, "verification site: rate limit", "err", err)
		return answer{status: http.StatusServiceUnavailable,
			notice: &noticeKey{title: "unavailable.title", text: "unavailable.text", english: "the site cannot verify right now: try again later"}}
	}
	if !ok {
		secs := max(1, int(math.Ceil(after.Seconds())))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return answer{status: http.StatusTooManyRequests, notice: &noticeKey{title: "tooMany.title", text: "tooMany.text",
			args: []string{"minutes", strconv.Itoa((secs + 59) / 60)}, english: "too many uploads from this address: try again later"}}
	}
	// A turn among the node's verifications: reading the upload too, so
	// that memory is bounded by Concurrency × (MaxUpload + decoded pixels).
	wait := time.NewTimer(h.o.QueueWait)
	defer wait.Stop()
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-wait.C:
		h.busy()
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(h.o.QueueWait.Seconds()))))
		return answer{status: http.StatusServiceUnavailable,
			notice: &noticeKey{title: "busy.title", text: "busy.text", english: "the site is busy: try again in a moment"}}
	case <-ctx.Done():
		return answer{status: http.StatusServiceUnavailable,
			notice: &noticeKey{title: "busy.title", text: "busy.text", english: "the request ended while waiting"}}
	}
	// A network deadline, not a fact of the domain: wall-clock time. A
	// writer that cannot take deadlines (a test recorder) has no network.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.o.UploadTimeout))
	data, bad := h.readUpload(w, r)
	if bad != nil {
		return *bad
	}
	res, front, err := backside.VerifyScan(ctx, data, h.o.Keys, h.o.Scan)
	if err == nil && res.Valid {
		return answer{status: http.StatusOK, res: res, front: front}
	}
	if err == nil {
		err = errors.New("not valid")
	}
	if reasonOf(err) == "other" {
		// Not the upload's fault (a missing tool, say): the operator must
		// know. The error names no content of the upload.
		h.o.Log.ErrorContext(ctx, "verification site: cannot verify", "err", err)
	}
	return answer{status: http.StatusUnprocessableEntity, res: res, err: err}
}

// readUpload reads the one field of the form into memory; a part is never
// written to disk (no ParseMultipartForm, whose large files go to temp
// files).
func (h *handler) readUpload(w http.ResponseWriter, r *http.Request) ([]byte, *answer) {
	r.Body = http.MaxBytesReader(w, r.Body, h.o.MaxUpload)
	fail := func(err error) ([]byte, *answer) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			a := requestError(http.StatusRequestEntityTooLarge, "error.tooBig",
				fmt.Sprintf("the upload is larger than %d MiB", h.o.MaxUpload>>20), "mib", strconv.FormatInt(h.o.MaxUpload>>20, 10))
			return nil, &a
		}
		a := requestError(http.StatusBadRequest, "error.form", "the upload cannot be read: "+err.Error())
		return nil, &a
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return fail(err)
	}
	var data []byte
	seen := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
		name := part.FormName()
		switch {
		case name != Field:
			a := requestError(http.StatusBadRequest, "error.unexpected", "a field this form does not have was sent: "+name, "name", name)
			return nil, &a
		case seen:
			a := requestError(http.StatusBadRequest, "error.repeated", "the field "+Field+" was sent more than once", "name", Field)
			return nil, &a
		}
		seen = true
		if data, err = readPart(part); err != nil {
			return fail(err)
		}
	}
	if len(data) == 0 {
		a := requestError(http.StatusBadRequest, "error.noFile", "no file was uploaded in the field "+Field)
		return nil, &a
	}
	return data, nil
}

func readPart(p *multipart.Part) ([]byte, error) {
	defer p.Close()
	var b bytes.Buffer
	_, err := b.ReadFrom(p)
	return b.Bytes(), err
}

// reasons name, for the page, why a scan does not verify.
var reasons = []struct {
	err error
	key string
}{
	{backside.ErrNoBackSide, "noBackSide"},
	{backside.ErrNoCode, "unreadable"},
	{backside.ErrMalformedCode, "malformed"},
	{backside.ErrUnknownKey, "unknownKey"},
	{backside.ErrWrongMunicipality, "wrongMunicipality"},
	{backside.ErrBadSignature, "badSignature"},
	{backside.ErrScanFormat, "format"},
	{backside.ErrScanDamaged, "damaged"},
	{backside.ErrScanTooLarge, "tooLarge"},
	{backside.ErrScanActive, "active"},
}

func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.key
		}
	}
	return "other"
}

// wantsJSON: Accept names application/json (with a q above 0).
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "application/json" && params["q"] != "0" {
			return true
		}
	}
	return false
}

func (h *handler) respond(w http.ResponseWriter, r *http.Request, lang string, a answer) {
	// The form itself is a page whatever the caller accepts.
	if wantsJSON(r) && (a.notice != nil || a.err != nil || a.front != nil) {
		res := a.res
		if a.notice != nil {
			res = backside.Result{Error: a.notice.english, Facts: map[string]string{}}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		// As verify-scan prints it (cmd/issuance/verifyscan.go).
		json.NewEncoder(w).Encode(res)
		return
	}
	p := newPage(lang)
	p.maxMiB = h.o.MaxUpload >> 20
	switch {
	case a.notice != nil:
		p.Notice = &notice{Title: p.Msg(a.notice.title), Text: p.Msgf(a.notice.text, a.notice.args...)}
	case a.front != nil:
		p.Result = &a.res
		front, err := dataURI(a.front)
		if err != nil {
			h.o.Log.ErrorContext(r.Context(), "verification site: encode front", "err", err)
		}
		p.Front = front
		for k, v := range a.res.Facts {
			p.Facts = append(p.Facts, fact{k, v})
		}
		slices.SortFunc(p.Facts, func(a, b fact) int { return strings.Compare(a.Key, b.Key) })
	case a.err != nil:
		p.Reason = reasonOf(a.err)
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		h.o.Log.ErrorContext(r.Context(), "verification site: page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.WriteHeader(a.status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// dataURI is the front as an inline PNG (the CSP allows img-src data:): it
// is sent once, with the answer, and never stored to be fetched later.
func dataURI(front *image.Gray) (template.URL, error) {
	var b bytes.Buffer
	b.WriteString("data:image/png;base64,")
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(enc, front); err != nil {
		return "", err
	}
	enc.Close()
	return template.URL(b.String()), nil
}

// unexpected returns the keys of v (sorted) not among allowed, or "".
func unexpected(v map[string][]string, allowed ...string) string {
	var bad []string
	for k := range v {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	slices.Sort(bad)
	return strings.Join(bad, ", ")
}
