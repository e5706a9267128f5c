package console_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// issued describes one issuance a test records through the ledger.
// Left-out fields: a terminal of its own, person "p1", one copy, 300 yen,
// no data version.
type issued struct {
	lg, terminal, operator, person string
	typ                            issuance.CertType
	copies, fee                    int
	version                        int64 // of the resident data, recorded as current
	at                             time.Time
	outcome                        issuance.Outcome // "": the session ends, the issuance UNCONFIRMED
}

var terminals atomic.Int64

// issue records an issuance as the service does: a session begun on the
// terminal with the operator's code, authenticated, the certificate
// reserved at i.at, and the kiosk's outcome recorded (or the session ended).
// It returns the issuance id.
func (w *world) issue(i issued) string {
	w.t.Helper()
	ctx := context.Background()
	if i.terminal == "" {
		i.terminal = fmt.Sprintf("T%d", terminals.Add(1))
	}
	if i.person == "" {
		i.person = "p1"
	}
	if i.copies == 0 {
		i.copies = 1
	}
	if i.fee == 0 {
		i.fee = 300
	}
	var versions []issuance.DataVersion
	if i.version > 0 {
		if _, err := w.db.Owner.Exec(ctx, `INSERT INTO data_version (lg_code, domain, seq, kind, as_of, applied_at)
			VALUES ($1, 'resident', $2, 'delta', $3, $3) ON CONFLICT (lg_code, domain) DO UPDATE SET seq = $2`, i.lg, i.version, i.at); err != nil {
			w.t.Fatal(err)
		}
		versions = []issuance.DataVersion{{Domain: issuance.DomainResident, Seq: i.version}}
	}
	s := issuance.Session{ID: issuance.NewID(), LGCode: i.lg, TerminalID: i.terminal, OperatorCode: i.operator,
		Challenge: bytes.Repeat([]byte{1}, 32), CreatedAt: i.at, ExpiresAt: i.at.Add(10 * time.Minute), State: issuance.SessionOpen}
	cert := issuance.CertIdentity{IssuerKeyID: "ab01", Serial: i.person}
	is := issuance.Issuance{ID: issuance.NewID(), SessionID: s.ID, LGCode: i.lg, TerminalID: i.terminal, PersonID: i.person,
		Cert: cert, Type: i.typ, Copies: i.copies, Fee: i.fee, PageCount: 1, PDFSHA256: bytes.Repeat([]byte{2}, 32),
		Subjects: []string{i.person}, DataVersions: versions}
	err := w.store.CreateSession(ctx, s)
	if err == nil {
		err = w.store.Authenticate(ctx, s.LGCode, s.ID, i.person, cert, i.at)
	}
	if err == nil {
		err = w.store.ReserveIssuance(ctx, is, i.at)
	}
	if err == nil && i.outcome == "" {
		err = w.store.EndSession(ctx, s.LGCode, s.ID, i.at.Add(time.Minute))
	} else if err == nil {
		_, err = w.store.ConfirmIssuance(ctx, is.LGCode, is.ID, i.outcome, "", i.at.Add(time.Minute))
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return is.ID
}
