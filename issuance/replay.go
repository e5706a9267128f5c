package issuance

import "context"

// Stored is a response kept for replay: the HTTP status and the exact bytes,
// and the kiosk session the answer belongs to.
type Stored struct {
	Status int
	Body   []byte
	// SessionID is the session the request acted in, as the request or
	// its answer names it ("" when none): the stored answer lives no
	// longer than that session.
	SessionID string
}

// Replay makes requests idempotent by requestId across every node. The wire
// (package soap) claims and completes through it; the database
// implementation is registry.Replay. It lives here, in the core, so that the
// database need not import the wire to implement it.
type Replay interface {
	// Claim records requestID with the SHA-256 of its body. It returns
	// (nil, nil) when the caller now owns the request and must answer it;
	// the stored response when the same id and body were answered before;
	// an *Error with DuplicateRequest when the id was used with
	// another body; an *Error with Unavailable while the first
	// request with that id is still being answered; an *Error with
	// SessionUnknown when the stored answer's session has ended (its answer
	// is withdrawn, never returned).
	Claim(ctx context.Context, requestID string, bodySHA256 []byte) (*Stored, error)
	// Complete stores the answer of a claimed request. Answers hold
	// personal data: the implementation keeps them encrypted.
	Complete(ctx context.Context, requestID string, answer Stored) error
	// Release forgets a claim whose answer must not be replayed (a
	// transient Unavailable), so a retry is answered afresh.
	Release(ctx context.Context, requestID string) error
}
