package kiosk

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	gsoap "github.com/hooklift/gowsdl/soap"

	"github.com/lgwan/issuance/soap/wsdlgen"
)

const envNS = "http://schemas.xmlsoap.org/soap/envelope/"

// Client talks to one server endpoint as one kiosk terminal. It is safe for
// concurrent use: each call builds its own envelope.
type Client struct {
	URL          string
	LGCode       string
	TerminalID   string
	OperatorCode string
	HTTP         *http.Client
	Now          func() time.Time // the kiosk's clock, for sentAt
	// URLFunc, when set, picks the endpoint for each request (several
	// nodes behind no load balancer, as in tests and load runs).
	URLFunc func() string
	// Failover are further endpoints (other nodes of the deployment): a
	// request that gets no answer at all from its endpoint (the node is
	// down, or died with the connection open) is sent again, the same
	// requestId and bytes, to each of them in turn, as the centre's load
	// balancer does. The error of a request that failed over is a
	// *FailoverError.
	Failover []string
}

// FailoverError is the outcome of a request whose first endpoint gave no
// answer: Err is what the last endpoint tried answered (often a *Fault:
// Unavailable when the dead node had claimed the requestId).
type FailoverError struct {
	First error // the transport error of the first endpoint
	Err   error
}

func (e *FailoverError) Error() string {
	return fmt.Sprintf("%v (after failing over: %v)", e.Err, e.First)
}

func (e *FailoverError) Unwrap() error { return e.Err }

// NewClient returns a client for the kit's endpoint, municipality lgCode and
// a terminal id.
func (k *Kit) NewClient(lgCode, terminalID string) *Client {
	timeout := k.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	return &Client{
		URL: k.Endpoints.SOAP, LGCode: lgCode, TerminalID: terminalID, OperatorCode: "SIM",
		HTTP: &http.Client{Timeout: timeout, Transport: &http.Transport{
			TLSClientConfig: k.TLS(), MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true}},
		Now: time.Now,
	}
}

// Fault is a SOAP fault answered by the server.
type Fault struct {
	FaultCode string // soap:Client or soap:Server
	wsdlgen.IssuanceFault
}

func (f *Fault) Error() string {
	s := "fault " + f.Code
	if f.Reason != "" {
		s += "(" + f.Reason + ")"
	}
	return s + ": " + f.Message
}

// Answer is what came back for one request besides the body.
type Answer struct {
	RequestID string
	Header    wsdlgen.ResponseHeader
	Raw       []byte
}

type reqEnvelope struct {
	XMLName xml.Name `xml:"soap:Envelope"`
	NS      string   `xml:"xmlns:soap,attr"`
	Header  struct {
		H *wsdlgen.RequestHeader
	} `xml:"soap:Header"`
	Body struct {
		Op any
	} `xml:"soap:Body"`
}

// soapFault is a SOAP 1.1 fault with the interface's detail.
type soapFault struct {
	FaultCode string `xml:"faultcode"`
	Detail    struct {
		F wsdlgen.IssuanceFault
	} `xml:"detail"`
}

// decodeAnswer reads a SOAP answer in one pass: the header, and the body's
// one element into a fault or into out (skipped when out is nil). Header
// blocks other than ResponseHeader are passed over, as SOAP allows; any
// other element out of place is refused by name. One pass matters: an
// answer carries a whole PDF in base64, and encoding/xml reads text a byte
// at a time, so capturing the body raw and decoding it again doubled the
// client's work per certificate.
func decodeAnswer(raw []byte, out any) (h wsdlgen.ResponseHeader, fault *soapFault, err error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var path []string // the open elements: Envelope, then Header or Body
	var sawBody, answered bool
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !sawBody {
				return h, nil, errors.New("no soap:Body")
			}
			return h, fault, nil
		}
		if err != nil {
			return h, nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			path = path[:len(path)-1]
		case xml.StartElement:
			var into any // the element's decoding target; nil: skip it
			switch {
			case len(path) == 0 && t.Name != xml.Name{Space: envNS, Local: "Envelope"}:
				return h, nil, fmt.Errorf("root element %s %s is not a soap:Envelope", t.Name.Space, t.Name.Local)
			case len(path) == 0 || len(path) == 1 && t.Name.Space == envNS && (t.Name.Local == "Header" || t.Name.Local == "Body"):
				sawBody = sawBody || len(path) == 1 && t.Name.Local == "Body"
				path = append(path, t.Name.Local)
				continue
			case len(path) == 1:
				return h, nil, fmt.Errorf("soap:Envelope holds %s %s, neither a soap:Header nor a soap:Body", t.Name.Space, t.Name.Local)
			case len(path) == 2 && path[1] == "Header" && t.Name.Local == "ResponseHeader": // its namespace is checked by its XMLName
				into = &h
			case len(path) == 2 && path[1] == "Body" && answered:
				return h, nil, fmt.Errorf("soap:Body holds a second element, %s %s", t.Name.Space, t.Name.Local)
			case len(path) == 2 && path[1] == "Body" && t.Name == xml.Name{Space: envNS, Local: "Fault"}:
				fault, answered = &soapFault{}, true
				into = fault
			case len(path) == 2 && path[1] == "Body":
				into, answered = out, true
			}
			if into == nil {
				err = d.Skip()
			} else {
				err = d.DecodeElement(into, &t)
			}
			if err != nil {
				return h, nil, err
			}
		}
	}
}

// NewRequestID returns a fresh UUID for a request header.
func NewRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Call sends op under a fresh requestId and decodes the answer into out.
func (c *Client) Call(ctx context.Context, op, out any) (*Answer, error) {
	return c.CallID(ctx, NewRequestID(), op, out)
}

// CallID sends op with the given requestId. The answer must echo the
// requestId and carry the SHA-256 of exactly the bytes sent; otherwise it is
// not this request's answer and is rejected.
func (c *Client) CallID(ctx context.Context, requestID string, op, out any) (*Answer, error) {
	body, err := c.Envelope(requestID, op)
	if err != nil {
		return nil, err
	}
	return c.Post(ctx, requestID, body, out)
}

// Envelope builds the request bytes for op.
func (c *Client) Envelope(requestID string, op any) ([]byte, error) {
	env := reqEnvelope{NS: envNS}
	env.Header.H = &wsdlgen.RequestHeader{RequestId: requestID, LgCode: c.LGCode, TerminalId: c.TerminalID,
		OperatorCode: c.OperatorCode, SentAt: gsoap.CreateXsdDateTime(c.Now(), true)}
	env.Body.Op = op
	b, err := xml.Marshal(env)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

// Post sends prepared request bytes and checks the binding of the answer;
// with Failover, a request no endpoint answered is sent to the next.
func (c *Client) Post(ctx context.Context, requestID string, body []byte, out any) (*Answer, error) {
	url := c.URL
	if c.URLFunc != nil {
		url = c.URLFunc()
	}
	a, err := c.post(ctx, url, requestID, body, out)
	var first error
	for _, next := range c.Failover {
		var transport *transportError
		if !errors.As(err, &transport) || ctx.Err() != nil {
			break
		}
		if first == nil {
			first = err
		}
		a, err = c.post(ctx, next, requestID, body, out)
	}
	if first != nil && err != nil {
		return a, &FailoverError{First: first, Err: err}
	}
	var transport *transportError
	if errors.As(err, &transport) {
		return a, transport.err
	}
	return a, err
}

// transportError is a request that got no answer (nothing, or not a whole
// one) from its endpoint.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (c *Client) post(ctx context.Context, url, requestID string, body []byte, out any) (*Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, &transportError{err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &transportError{err}
	}
	h, fault, err := decodeAnswer(raw, out)
	if err != nil {
		return nil, fmt.Errorf("answer is not a SOAP envelope (HTTP %d): %w", resp.StatusCode, err)
	}
	a := &Answer{RequestID: requestID, Header: h, Raw: raw}
	sum := sha256.Sum256(body)
	if a.Header.RequestId != requestID || string(a.Header.RequestHash) != hex.EncodeToString(sum[:]) {
		return a, fmt.Errorf("answer not bound to this request: requestId %q hash %q", a.Header.RequestId, a.Header.RequestHash)
	}
	if fault != nil {
		return a, &Fault{FaultCode: fault.FaultCode, IssuanceFault: fault.Detail.F}
	}
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("HTTP %d without a fault", resp.StatusCode)
	}
	return a, nil
}

// Signature is what the card computes at the kiosk: RSA PKCS#1 v1.5 SHA-256
// over challenge || sessionId.
func (c *Card) Signature(challenge []byte, sessionID string) ([]byte, error) {
	h := sha256.Sum256(append(append([]byte{}, challenge...), sessionID...))
	return c.key.Sign(rand.Reader, h[:], crypto.SHA256)
}

// b64 is the lexical form the generated types carry for base64Binary.
func b64(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }

func unb64(b []byte) ([]byte, error) {
	return base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
}
