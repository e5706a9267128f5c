package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// Namespaces of the wire.
const (
	// EnvelopeNS is SOAP 1.1's; a SOAP 1.2 envelope is refused.
	EnvelopeNS = "http://schemas.xmlsoap.org/soap/envelope/"
	// TargetNS is the interface's namespace (docs/interface.md).
	TargetNS = "urn:jp:lg:issuance:wide-area:v4"
)

// requestHeader is soap:Header/RequestHeader. It is decoded into strings and
// checked here rather than through the generated type, whose date parser
// ignores errors.
type requestHeader struct {
	RequestID    string `xml:"requestId"`
	LGCode       string `xml:"lgCode"`
	TerminalID   string `xml:"terminalId"`
	OperatorCode string `xml:"operatorCode"`
	SentAt       string `xml:"sentAt"`
}

var headerShape = shapeOf(reflect.TypeFor[requestHeader]())

var (
	uuidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	lgCodeRE = regexp.MustCompile(`^[0-9]{6}$`)
)

func (h *requestHeader) check() error {
	switch {
	case !uuidRE.MatchString(h.RequestID):
		return errors.New("requestId is not a UUID")
	case !lgCodeRE.MatchString(h.LGCode):
		return errors.New("lgCode is not 6 digits")
	case h.TerminalID == "":
		return errors.New("terminalId missing")
	case h.OperatorCode == "":
		return errors.New("operatorCode missing")
	}
	if _, err := parseDateTime(h.SentAt); err != nil {
		return errors.New("sentAt is not an xsd:dateTime")
	}
	return nil
}

// parseDateTime reads an xsd:dateTime; one without a zone is taken as
// Japan time, the kiosks' zone.
func parseDateTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05.999999999", s, issuance.Tokyo)
}

// request is a parsed envelope. Errors are split by what is known when they
// happen: envErr before a valid RequestHeader (the answer cannot be tied to
// a requestId, so it is never stored), bodyErr after it (the answer belongs
// to the requestId and is stored like any other).
type request struct {
	header  *requestHeader // nil until a valid header was read
	op      *operation     // nil when the body element is not an operation
	payload any            // the decoded generated type of op
	envErr  error
	bodyErr error
}

func malformed(format string, args ...any) *issuance.Error {
	return issuance.Fault(issuance.MalformedRequest, format, args...)
}

// parseEnvelope reads a request body. It never panics and never resolves
// anything outside the bytes given.
func parseEnvelope(body []byte) *request {
	req := &request{}
	if err := checkLexical(body); err != nil {
		req.envErr = err
		return req
	}
	d := newDecoder(body)
	root, err := firstElement(d)
	if err != nil {
		req.envErr = err
		return req
	}
	if root.Name.Space != EnvelopeNS || root.Name.Local != "Envelope" {
		req.envErr = malformed("root is {%s}%s, not a SOAP 1.1 Envelope", truncate(root.Name.Space), truncate(root.Name.Local))
		return req
	}
	req.readEnvelope(d)
	return req
}

func newDecoder(body []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true // undefined entities and unclosed tags are errors
	// No CharsetReader: only UTF-8 is accepted, as the interface says.
	return d
}

// checkLexical reads every token once: the document must be well formed,
// one element at the top, and hold no DOCTYPE, entity declaration or
// processing instruction other than the XML declaration. encoding/xml
// resolves no external entities anyway; refusing DTDs outright means no
// parser downstream is ever given one.
func checkLexical(body []byte) error {
	d := newDecoder(body)
	roots, depth := 0, 0
	for first := true; ; first = false {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return malformed("XML: %s", describe(err))
		}
		switch t := tok.(type) {
		case xml.Directive:
			return malformed("DTD or declaration refused")
		case xml.ProcInst:
			if t.Target != "xml" || !first {
				return malformed("processing instruction refused")
			}
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return malformed("text outside the envelope")
			}
		}
	}
	if roots != 1 {
		return malformed("%d top-level elements", roots)
	}
	return nil
}

// readEnvelope reads Envelope's children: Header (with RequestHeader), then
// Body with exactly one operation element.
func (req *request) readEnvelope(d *xml.Decoder) {
	for {
		tok, err := d.Token()
		if err != nil {
			req.fail(malformed("XML: %s", describe(err)))
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == EnvelopeNS && t.Name.Local == "Header" && req.header == nil:
				if err := req.readHeader(d); err != nil {
					req.envErr = err
					return
				}
			case t.Name.Space == EnvelopeNS && t.Name.Local == "Body":
				if req.header == nil {
					req.envErr = malformed("RequestHeader missing")
					return
				}
				req.readBody(d)
				return
			default:
				req.envErr = malformed("unexpected element %s in Envelope", truncate(t.Name.Local))
				return
			}
		case xml.EndElement:
			req.envErr = malformed("Body missing")
			return
		}
	}
}

func (req *request) fail(err error) {
	if req.header == nil {
		req.envErr = err
	} else if req.bodyErr == nil {
		req.bodyErr = err
	}
}

func (req *request) readHeader(d *xml.Decoder) error {
	var h *requestHeader
	for {
		tok, err := d.Token()
		if err != nil {
			return malformed("XML: %s", describe(err))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == TargetNS && t.Name.Local == "RequestHeader" {
				if h != nil {
					return malformed("RequestHeader repeated")
				}
				h = new(requestHeader)
				if err := strictDecode(d, t, headerShape, h, true); err != nil {
					return err
				}
				continue
			}
			// SOAP 1.1 §4.2.3: a header block we do not know and must
			// understand makes the request one we cannot process.
			if mustUnderstand(t) {
				return malformed("header %s must be understood", truncate(t.Name.Local))
			}
			if err := d.Skip(); err != nil {
				return malformed("XML: %s", describe(err))
			}
		case xml.EndElement:
			if h == nil {
				return malformed("RequestHeader missing")
			}
			if err := h.check(); err != nil {
				return malformed("RequestHeader: %s", err)
			}
			req.header = h
			return nil
		}
	}
}

func mustUnderstand(t xml.StartElement) bool {
	for _, a := range t.Attr {
		if a.Name.Space == EnvelopeNS && a.Name.Local == "mustUnderstand" {
			return a.Value == "1" || a.Value == "true"
		}
	}
	return false
}

// readBody decodes the one operation element. From here on the requestId is
// known, so every error is a bodyErr.
func (req *request) readBody(d *xml.Decoder) {
	for {
		tok, err := d.Token()
		if err != nil {
			req.fail(malformed("XML: %s", describe(err)))
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if req.payload != nil || req.bodyErr != nil {
				req.fail(malformed("more than one element in Body"))
				return
			}
			op := operations[t.Name.Local]
			if t.Name.Space != TargetNS || op == nil {
				req.fail(malformed("unknown operation {%s}%s", truncate(t.Name.Space), truncate(t.Name.Local)))
				return
			}
			req.op = op
			v := op.newRequest()
			if err := strictDecode(d, t, op.shape, v, false); err != nil {
				// The decoder is now somewhere inside the element: stop.
				req.fail(err)
				return
			}
			req.payload = v
		case xml.EndElement:
			if req.payload == nil && req.bodyErr == nil {
				req.fail(malformed("Body is empty"))
			}
			return
		}
	}
}

// firstElement returns the root start element.
func firstElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, malformed("XML: %s", describe(err))
		}
		if t, ok := tok.(xml.StartElement); ok {
			return t, nil
		}
	}
}

// describe turns a decoding error into a log line that names no content of
// the body: parse errors echo element names, entity names and values.
func describe(err error) string {
	var se *xml.SyntaxError
	var ne *strconv.NumError
	var ue xml.UnmarshalError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error on line %d", se.Line)
	case errors.As(err, &ne):
		return fmt.Sprintf("%s: %v", ne.Func, ne.Err)
	case errors.As(err, &ue):
		return "unexpected element"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of document"
	}
	return fmt.Sprintf("%T", err)
}

// truncate bounds a name taken from the request before it is logged.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
