package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lgwan/issuance/issuance"
)

// StopEntry is one entry of the stop list: while it is active, nothing
// concerning the person is issued, on any node. The stop list is read by
// every request (Stopped, and again in the reservation's transaction), so an
// entry takes effect as soon as it is committed and survives restarts.
type StopEntry struct {
	LGCode string
	// PersonID is the person's registry id, or for a 戸籍 member without a
	// resident record here their subject id (issuance.KosekiSubject).
	PersonID string
	Note     string // the clerk's reason; shown to clerks only
	By       string // who added it
	At       time.Time
	LiftedBy string
	LiftedAt time.Time // zero while active
	LiftNote string    // why it was lifted (the console asks; older entries have none)
}

// ErrAlreadyStopped and ErrNotStopped are returned by Stop and Lift;
// ErrNoKosekiMember by StopKosekiMember.
var (
	ErrAlreadyStopped = errors.New("the person is already on the stop list")
	ErrNotStopped     = errors.New("the person is not on the stop list")
	ErrNoKosekiMember = errors.New("no such 戸籍 member")
)

// Stop puts a person on the stop list.
func (s *Store) Stop(ctx context.Context, e StopEntry) error {
	if e.LGCode == "" || e.PersonID == "" || e.By == "" || e.At.IsZero() {
		return errors.New("stop list: municipality, person, who and when are required")
	}
	_, err := s.scoped(one(e.LGCode)).Exec(ctx, `INSERT INTO stop_list (lg_code, person_id, note, added_by, added_at)
		VALUES ($1, $2, $3, $4, $5)`, e.LGCode, e.PersonID, e.Note, e.By, e.At)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return ErrAlreadyStopped
	}
	if err != nil {
		return fmt.Errorf("stop list: %w", err)
	}
	return nil
}

// StopKosekiMember puts on the stop list a member of a 戸籍 kept here who has
// no resident record here (they live elsewhere). The entry names them by
// their subject id, issuance.KosekiSubject(kosekiID, seq), which is what
// every certificate printing them records, so it is checked as a person's
// is (e.PersonID is set to it). A member with a resident record is stopped
// by their person id instead: that stops everything concerning them, not
// only what prints their 戸籍 entry.
func (s *Store) StopKosekiMember(ctx context.Context, e StopEntry, kosekiID string, seq int) error {
	k, err := s.Koseki(ctx, e.LGCode, kosekiID)
	if err != nil {
		return fmt.Errorf("stop list: %w", err)
	}
	if k == nil {
		return fmt.Errorf("stop list: %w: no 戸籍 %s is kept in %s", ErrNoKosekiMember, kosekiID, e.LGCode)
	}
	i := slices.IndexFunc(k.Members, func(m issuance.KosekiMember) bool { return m.Seq == seq })
	switch {
	case i < 0:
		return fmt.Errorf("stop list: %w: 戸籍 %s has no member %d", ErrNoKosekiMember, kosekiID, seq)
	case k.Members[i].PersonID != "":
		return fmt.Errorf("stop list: member %d of 戸籍 %s has a resident record here: stop person %s", seq, kosekiID, k.Members[i].PersonID)
	}
	e.PersonID = issuance.KosekiSubject(kosekiID, seq)
	return s.Stop(ctx, e)
}

// Lift ends a person's active entry; the entry is kept as history.
func (s *Store) Lift(ctx context.Context, lgCode, personID, by string, at time.Time) error {
	return s.LiftWithNote(ctx, lgCode, personID, by, "", at)
}

// LiftWithNote is Lift recording why (an empty note records none).
func (s *Store) LiftWithNote(ctx context.Context, lgCode, personID, by, note string, at time.Time) error {
	if by == "" || at.IsZero() {
		return errors.New("stop list: who and when are required")
	}
	tag, err := s.scoped(one(lgCode)).Exec(ctx, `UPDATE stop_list SET lifted_by = $3, lifted_at = $4, lift_note = nullif($5, '')
		WHERE lg_code = $1 AND person_id = $2 AND lifted_at IS NULL`, lgCode, personID, by, at, note)
	if err != nil {
		return fmt.Errorf("stop list: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotStopped
	}
	return nil
}

// StopList returns a municipality's entries, active ones first, newest
// first; with history, lifted ones too.
func (s *Store) StopList(ctx context.Context, lgCode string, history bool) ([]StopEntry, error) {
	rows, err := s.scoped(one(lgCode)).Query(ctx, `SELECT lg_code, person_id, note, added_by, added_at,
		coalesce(lifted_by, ''), lifted_at, coalesce(lift_note, '') FROM stop_list
		WHERE lg_code = $1 AND ($2 OR lifted_at IS NULL)
		ORDER BY lifted_at IS NOT NULL, added_at DESC, id DESC`, lgCode, history)
	if err != nil {
		return nil, fmt.Errorf("stop list: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (StopEntry, error) {
		var e StopEntry
		var lifted *time.Time
		err := row.Scan(&e.LGCode, &e.PersonID, &e.Note, &e.By, &e.At, &e.LiftedBy, &lifted, &e.LiftNote)
		if lifted != nil {
			e.LiftedAt = *lifted
		}
		return e, err
	})
}
