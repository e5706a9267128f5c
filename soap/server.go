package soap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lgwan/issuance/issuance"
)

// Path is the one endpoint of the interface.
const Path = "/wide-area/v4"

// DefaultMaxBodyBytes is the request body limit when Config leaves it zero.
const DefaultMaxBodyBytes = 256 << 10

const contentType = "text/xml; charset=utf-8"

// storeTimeout bounds Replay.Complete and Release, which run even when the
// client has gone: an answer that was produced must be recorded.
const storeTimeout = 5 * time.Second

// Config is the wire's configuration.
type Config struct {
	Node         string         // this server's name in ResponseHeader/node; default: host name
	MaxBodyBytes int64          // request body limit; default DefaultMaxBodyBytes
	Clock        issuance.Clock // processedAt; default issuance.SystemClock
	Log          *slog.Logger   // default: JSON to stderr
}

// Server answers the wide-area interface over HTTP. It is safe for
// concurrent use and keeps no state between requests.
type Server struct {
	cfg     Config
	svc     *issuance.Service
	replay  issuance.Replay
	metrics *metrics
}

// NewServer returns the SOAP endpoint for svc. replay makes requests
// idempotent; reg receives the wire's metrics (nil: not registered).
func NewServer(cfg Config, svc *issuance.Service, replay issuance.Replay, reg prometheus.Registerer) *Server {
	if svc == nil || replay == nil {
		panic("soap.NewServer: Service and Replay are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Clock == nil {
		cfg.Clock = issuance.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	return &Server{cfg: cfg, svc: svc, replay: replay, metrics: newMetrics(reg)}
}

// ServeHTTP answers POST /wide-area/v4 (SOAP) and GET /wide-area/v4?wsdl.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	switch {
	case r.Method == http.MethodPost:
		s.serveSOAP(w, r)
	case r.Method == http.MethodGet && strings.EqualFold(r.URL.RawQuery, "wsdl"):
		s.serveWSDL(w, r)
	case r.Method == http.MethodGet:
		http.NotFound(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// exchange is what is known about the request being answered, for the
// response header, the log and the metrics.
type exchange struct {
	requestID string
	hash      string
	op        string // metric label: an operation name or "unknown"
}

// answer is a complete HTTP response.
type answer struct {
	status  int
	body    []byte
	code    string // metric label: "OK", a fault code, or "Replayed"
	session string // the kiosk session the request acted in, for Replay
}

func (s *Server) serveSOAP(w http.ResponseWriter, r *http.Request) {
	start := time.Now() // wall time for the histogram; cfg.Clock is domain time
	x := &exchange{op: "unknown"}
	a := s.handle(w, r, x)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(a.status)
	w.Write(a.body)
	s.metrics.requests.WithLabelValues(x.op, a.code).Inc()
	s.metrics.duration.WithLabelValues(x.op).Observe(time.Since(start).Seconds())
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, x *exchange) answer {
	tooLarge := issuance.Fault(issuance.RequestTooLarge, "body over %d bytes", s.cfg.MaxBodyBytes)
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return s.fault(x, tooLarge)
	}
	// MaxBytesReader also tells net/http to close the connection rather
	// than read the rest of an oversized body.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return s.fault(x, tooLarge)
		}
		return s.fault(x, malformed("reading body: %T", err))
	}
	sum := sha256.Sum256(body)
	x.hash = hex.EncodeToString(sum[:])

	req := parseEnvelope(body)
	if req.header != nil {
		x.requestID = req.header.RequestID
	}
	if req.op != nil {
		x.op = req.op.name
	}
	if req.envErr != nil {
		return s.fault(x, issuance.AsError(req.envErr))
	}

	ctx := r.Context()
	// The claim is made whatever becomes of the client: one committed just
	// as the client gave up, its answer lost with the cancelled context,
	// would stay pending, unowned, and refuse every retry of the request.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	stored, err := s.replay.Claim(cctx, x.requestID, sum[:])
	ccancel()
	switch {
	case err != nil:
		// DuplicateRequest, or Unavailable while the first is answered:
		// the claim is not ours, so nothing is stored or released.
		return s.fault(x, issuance.AsError(err))
	case stored != nil:
		s.cfg.Log.Info("soap request replayed", "requestId", x.requestID, "operation", x.op)
		return answer{status: stored.Status, body: stored.Body, code: "Replayed"}
	}

	a := s.dispatch(ctx, x, req)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if a.code == string(issuance.Unavailable) {
		// Transient: a retry must be answered afresh, not get this again.
		if err := s.replay.Release(sctx, x.requestID); err != nil {
			s.cfg.Log.Error("replay release failed", "requestId", x.requestID, "operation", x.op, "detail", err.Error())
		}
	} else if err := s.replay.Complete(sctx, x.requestID, issuance.Stored{Status: a.status, Body: a.body, SessionID: a.session}); err != nil {
		// The answer is sent anyway: withholding it would not undo its
		// effect, and the client could not learn it otherwise.
		s.cfg.Log.Error("replay complete failed", "requestId", x.requestID, "operation", x.op, "detail", err.Error())
	}
	return a
}

// dispatch answers a request whose header is valid and claimed.
func (s *Server) dispatch(ctx context.Context, x *exchange, req *request) (a answer) {
	if req.bodyErr != nil {
		return s.fault(x, issuance.AsError(req.bodyErr))
	}
	defer func() {
		// A bug must still produce a fault and release the claim.
		if p := recover(); p != nil {
			a = s.fault(x, issuance.Fault(issuance.Unavailable, "panic: %v", p))
		}
	}()
	c := issuance.Caller{LGCode: req.header.LGCode, TerminalID: req.header.TerminalID, OperatorCode: req.header.OperatorCode}
	resp, err := req.op.call(s, ctx, c, req.payload)
	var session string
	if req.op.session != nil {
		// A fault in a session is tied to it too: its repeat after the
		// session ends is refused like any other.
		session = req.op.session(s, ctx, c, req.payload, resp)
	}
	if err != nil {
		a = s.fault(x, issuance.AsError(err))
		a.session = session
		return a
	}
	body, err := s.envelope(x, resp)
	if err != nil {
		return s.fault(x, issuance.Wrap(issuance.Unavailable, err))
	}
	s.cfg.Log.Info("soap request", "requestId", x.requestID, "operation", x.op, "code", "OK")
	return answer{status: http.StatusOK, body: body, code: "OK", session: session}
}

// fault logs e with its internal detail and answers it without.
func (s *Server) fault(x *exchange, e *issuance.Error) answer {
	level := slog.LevelWarn
	if !e.ClientFault() {
		level = slog.LevelError
	}
	attrs := []any{"requestId", x.requestID, "operation", x.op, "code", string(e.Code), "detail", internalDetail(e)}
	if e.Reason != "" {
		attrs = append(attrs, "reason", string(e.Reason))
	}
	s.cfg.Log.Log(context.Background(), level, "soap fault", attrs...)

	faultCode := "soap:Client"
	if !e.ClientFault() {
		faultCode = "soap:Server"
	}
	f := &soapFault{
		Code:   faultCode,
		String: e.Message(),
		Detail: faultDetail{Fault: issuanceFault{
			Code:      string(e.Code),
			Message:   e.Message(),
			RequestID: x.requestID,
			Reason:    string(e.Reason),
		}},
	}
	body, err := s.envelope(x, f)
	if err != nil { // cannot happen with these plain strings; never answer nothing
		body = []byte(xml.Header)
	}
	return answer{status: http.StatusInternalServerError, body: body, code: string(e.Code)}
}

func internalDetail(e *issuance.Error) string {
	d := e.Detail
	if e.Cause != nil {
		if d != "" {
			d += ": "
		}
		d += e.Cause.Error()
	}
	return d
}

// envelope writes a response: the XML declaration, soap:Header with
// ResponseHeader, and content (a generated response type or a fault) in
// soap:Body.
func (s *Server) envelope(x *exchange, content any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<soap:Envelope xmlns:soap="` + EnvelopeNS + `"><soap:Header>`)
	enc := xml.NewEncoder(&b)
	h := responseHeader{
		RequestID:   x.requestID,
		RequestHash: x.hash,
		ProcessedAt: s.cfg.Clock.Now().In(issuance.Tokyo).Format(time.RFC3339Nano),
		Node:        s.cfg.Node,
	}
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	b.WriteString(`</soap:Header><soap:Body>`)
	if err := enc.Encode(content); err != nil {
		return nil, err
	}
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.Bytes(), nil
}

// responseHeader is written by hand rather than with the generated type:
// every field is required, even when empty, and gowsdl's fields are all
// omitempty.
type responseHeader struct {
	XMLName     xml.Name `xml:"urn:jp:lg:issuance:wide-area:v4 ResponseHeader"`
	RequestID   string   `xml:"requestId"`
	RequestHash string   `xml:"requestHash"`
	ProcessedAt string   `xml:"processedAt"`
	Node        string   `xml:"node"`
}

// soapFault is SOAP 1.1's Fault; its children are unqualified. The soap
// prefix is the one declared on the Envelope.
type soapFault struct {
	XMLName xml.Name    `xml:"soap:Fault"`
	Code    string      `xml:"faultcode"`
	String  string      `xml:"faultstring"`
	Detail  faultDetail `xml:"detail"`
}

type faultDetail struct {
	Fault issuanceFault
}

type issuanceFault struct {
	XMLName   xml.Name `xml:"urn:jp:lg:issuance:wide-area:v4 IssuanceFault"`
	Code      string   `xml:"code"`
	Message   string   `xml:"message"`
	RequestID string   `xml:"requestId"`
	Reason    string   `xml:"reason,omitempty"`
}
