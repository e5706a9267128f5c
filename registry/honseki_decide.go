package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
)

// Decision is a koseki clerk's decision on a 本籍 application.
type Decision struct {
	Clerk   string                // the clerk's username
	Approve bool                  // approve (Member) or reject (Reason)
	Member  issuance.MemberRef    // the 戸籍 member the applicant is, when approving
	Reason  issuance.RejectReason // when rejecting: one of issuance.RejectReasons
	Note    string                // internal note, never shown to the applicant; kept sealed
}

// maxNoteRunes bounds a clerk's internal note.
const maxNoteRunes = 2000

var (
	// ErrAlreadyDecided is what Decide wraps when another decision stands.
	ErrAlreadyDecided = errors.New("the application has already been decided")
	// ErrNotCurrentMember is what Decide returns when approving a member
	// who is not a current member of that 戸籍 here.
	ErrNotCurrentMember = errors.New("the chosen person is not a current member of that 戸籍")
	// ErrBadDecision is what Decide wraps for a decision that is not one.
	ErrBadDecision = errors.New("invalid decision")
)

// Decide records d on the RECEIVED application number of lgCode at now. An
// approval creates the registration (the applicant's certificate linked to
// the member) in the same transaction. Of two clerks deciding at once
// exactly one decision stands: the application row is locked, and the
// second finds it decided (ErrAlreadyDecided, naming the standing status).
// An unknown number (or one of another municipality) is
// issuance.ErrNoApplication. On any error nothing is changed.
func (s *Store) Decide(ctx context.Context, lgCode, number string, d Decision, now time.Time) error {
	switch {
	case d.Clerk == "":
		return fmt.Errorf("%w: no clerk", ErrBadDecision)
	case d.Approve && (d.Member.KosekiID == "" || d.Member.Seq <= 0):
		return fmt.Errorf("%w: approval without a member", ErrBadDecision)
	case !d.Approve && !slices.Contains(issuance.RejectReasons, d.Reason):
		return fmt.Errorf("%w: unknown rejection reason %q", ErrBadDecision, d.Reason)
	case !utf8.ValidString(d.Note) || utf8.RuneCountInString(d.Note) > maxNoteRunes:
		return fmt.Errorf("%w: note longer than %d characters or not UTF-8", ErrBadDecision, maxNoteRunes)
	}
	if d.Note != "" && s.key == nil {
		return errors.New("registry: a note cannot be sealed without the 個人番号 key")
	}
	return s.inScope(ctx, one(lgCode), func(tx pgx.Tx) error {
		var status, issuer, serial string
		err := tx.QueryRow(ctx, `SELECT status, issuer_key_id, serial FROM honseki_application
			WHERE application_number = $1 AND lg_code = $2 FOR UPDATE`, number, lgCode).Scan(&status, &issuer, &serial)
		if errors.Is(err, pgx.ErrNoRows) {
			return issuance.ErrNoApplication
		}
		if err != nil {
			return dbErr("decide application", err)
		}
		if status != string(issuance.ApplicationReceived) {
			return fmt.Errorf("%w (%s)", ErrAlreadyDecided, status)
		}
		var note []byte
		if d.Note != "" {
			note = s.key.SealNote(number, d.Note)
		}
		if !d.Approve {
			_, err = tx.Exec(ctx, `UPDATE honseki_application SET status = 'REJECTED', decided_at = $2,
				decided_by = $3, reject_reason = $4, note = $5 WHERE application_number = $1`,
				number, now, d.Clerk, string(d.Reason), note)
			if err == nil {
				_, err = tx.Exec(ctx, `INSERT INTO honseki_decision (application_number, decision, reason, clerk, at)
					VALUES ($1, 'reject', $2, $3, $4)`, number, string(d.Reason), d.Clerk, now)
			}
			return dbErr("decide application", err)
		}
		var current bool
		err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM koseki k, json_array_elements(k.body->'members') m
			WHERE k.lg_code = $1 AND k.koseki_id = $2 AND (m->>'seq')::int = $3
			  AND coalesce((m->>'removed')::boolean, false) = false)`, lgCode, d.Member.KosekiID, d.Member.Seq).Scan(&current)
		if err != nil {
			return dbErr("decide application", err)
		}
		if !current {
			return ErrNotCurrentMember
		}
		_, err = tx.Exec(ctx, `UPDATE honseki_application SET status = 'APPROVED', decided_at = $2,
			decided_by = $3, koseki_id = $4, member_seq = $5, note = $6 WHERE application_number = $1`,
			number, now, d.Clerk, d.Member.KosekiID, d.Member.Seq, note)
		if err == nil {
			_, err = tx.Exec(ctx, `INSERT INTO honseki_decision (application_number, decision, koseki_id, member_seq, clerk, at)
				VALUES ($1, 'approve', $2, $3, $4, $5)`, number, d.Member.KosekiID, d.Member.Seq, d.Clerk, now)
		}
		if err == nil {
			_, err = tx.Exec(ctx, `INSERT INTO honseki_registration
				(application_number, lg_code, issuer_key_id, serial, koseki_id, member_seq, registered_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, number, lgCode, issuer, serial, d.Member.KosekiID, d.Member.Seq, now)
		}
		return dbErr("decide application", err)
	})
}
