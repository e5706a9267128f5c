package registry

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
)

// The clerk console's side of 本籍 applications (docs/console.md): the queue,
// one application with its facts opened and its decisions, and the 戸籍 that
// may be the applicant's. Decide (honseki_decide.go) records decisions.

// QueueLimit bounds one page of the queue.
const QueueLimit = 500

// HonsekiQueue lists the applications of the municipalities lgCodes with the
// given status ("" for every status), oldest first, at most QueueLimit. The
// facts are not opened: the queue shows no personal data.
func (s *Store) HonsekiQueue(ctx context.Context, lgCodes []string, status issuance.ApplicationStatus) ([]issuance.Application, error) {
	rows, err := s.scoped(lgCodes).Query(ctx, `SELECT `+applicationColumns+` FROM honseki_application a
		WHERE a.lg_code = ANY($1) AND ($2 = '' OR a.status = $2)
		ORDER BY a.received_at, a.application_number LIMIT $3`, lgCodes, string(status), QueueLimit)
	if err != nil {
		return nil, dbErr("application queue", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (issuance.Application, error) { return scanApplication(r) })
	return out, dbErr("application queue", err)
}

// DecisionRecord is one row of an application's decision history.
type DecisionRecord struct {
	Decision string // approve, reject, withdraw
	Member   *issuance.MemberRef
	Reason   issuance.RejectReason
	Clerk    string
	At       time.Time
}

// ApplicationDetail is one application as the console shows it.
type ApplicationDetail struct {
	issuance.Application        // Facts opened (nil once purged)
	Note                 string // the clerk's internal note, opened
	Decisions            []DecisionRecord
	// RegistrationEnded: approved, but the member is no longer a current
	// member of that 戸籍 (除籍, or the 戸籍 is gone), so the registration
	// no longer lets the card print it. Computed from the 戸籍 now.
	RegistrationEnded bool
}

// HonsekiApplication returns an application with its facts and note opened
// and its decisions in order; issuance.ErrNoApplication when there is none.
// Only an application of lgCodes (the clerk's municipalities) is seen.
func (s *Store) HonsekiApplication(ctx context.Context, lgCodes []string, number string) (ApplicationDetail, error) {
	if s.key == nil {
		return ApplicationDetail{}, errors.New("application detail: the 個人番号 key is needed to open the facts")
	}
	var d ApplicationDetail
	var facts, note []byte
	var err error
	d.Application, err = scanApplication(s.scoped(lgCodes).QueryRow(ctx, `SELECT a.facts, a.note, `+applicationColumns+`
		FROM honseki_application a WHERE a.application_number = $1 AND a.lg_code = ANY($2)`, number, lgCodes), &facts, &note)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, issuance.ErrNoApplication
	}
	if err != nil {
		return d, dbErr("application detail", err)
	}
	if facts != nil {
		f, err := s.key.OpenApplicationFacts(number, facts)
		if err != nil {
			return d, err
		}
		d.Facts = &f
	}
	if note != nil {
		if d.Note, err = s.key.OpenNote(number, note); err != nil {
			return d, err
		}
	}
	rows, err := s.scoped(one(d.LGCode)).Query(ctx, `SELECT decision, koseki_id, member_seq, coalesce(reason, ''), clerk, at
		FROM honseki_decision WHERE application_number = $1 ORDER BY id`, number)
	if err != nil {
		return d, dbErr("application decisions", err)
	}
	d.Decisions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DecisionRecord, error) {
		var rec DecisionRecord
		var kosekiID *string
		var seq *int32
		err := r.Scan(&rec.Decision, &kosekiID, &seq, &rec.Reason, &rec.Clerk, &rec.At)
		if kosekiID != nil && seq != nil {
			rec.Member = &issuance.MemberRef{KosekiID: *kosekiID, Seq: int(*seq)}
		}
		rec.At = rec.At.In(issuance.Tokyo)
		return rec, err
	})
	if err != nil {
		return d, dbErr("application decisions", err)
	}
	if d.Status == issuance.ApplicationApproved && d.Member != nil {
		var current bool
		err := s.scoped(one(d.LGCode)).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM koseki k, json_array_elements(k.body->'members') m
			WHERE k.lg_code = $1 AND k.koseki_id = $2 AND (m->>'seq')::int = $3
			  AND coalesce((m->>'removed')::boolean, false) = false)`, d.LGCode, d.Member.KosekiID, d.Member.Seq).Scan(&current)
		if err != nil {
			return d, dbErr("application detail", err)
		}
		d.RegistrationEnded = !current
	}
	return d, nil
}

// MaxCandidateKoseki bounds the 戸籍 offered for one application.
const MaxCandidateKoseki = 30

// CandidateKoseki returns the 戸籍 kept at lgCode that may hold the applicant
// of f: those with a member (current or removed) born on f's birth date, and
// those whose 本籍 is the typed one once both are normalised by normalize
// (issuance.NormalizeAddress: 丁目/番地 numerals in kanji or digits, full and
// half width). The birth date finds the person even when the typed 本籍 is
// wrong; the 本籍 finds the 戸籍 when the birth date was mistyped. A removed
// member is offered so that the clerk sees the person left (and rejects with
// NotCurrentMember). At most MaxCandidateKoseki, those with a birth-date
// match first; the caller ranks the members (issuance.MatchCandidates).
//
// It reads the 本籍 of every 戸籍 of the municipality and scans the members'
// birth dates in one statement: fine for a clerk opening an application, and
// what an index would replace should a municipality's register grow large.
func (s *Store) CandidateKoseki(ctx context.Context, lgCode string, f issuance.ApplicationFacts, normalize func(string) string) ([]*issuance.Koseki, error) {
	rows, err := s.scoped(one(lgCode)).Query(ctx, `SELECT k.koseki_id, k.honseki,
			EXISTS (SELECT 1 FROM json_array_elements(k.body->'members') m WHERE m->>'birth' = $2)
		FROM koseki k WHERE k.lg_code = $1`, lgCode, f.BirthDate)
	if err != nil {
		return nil, dbErr("candidate koseki", err)
	}
	type hit struct {
		id    string
		birth bool
	}
	want := normalize(f.HonsekiAddress)
	var hits []hit
	var id, honseki string
	var birth bool
	_, err = pgx.ForEachRow(rows, []any{&id, &honseki, &birth}, func() error {
		if birth || (want != "" && normalize(honseki) == want) {
			hits = append(hits, hit{id, birth})
		}
		return nil
	})
	if err != nil {
		return nil, dbErr("candidate koseki", err)
	}
	slices.SortStableFunc(hits, func(a, b hit) int {
		switch {
		case a.birth == b.birth:
			return 0
		case a.birth:
			return -1
		}
		return 1
	})
	if len(hits) > MaxCandidateKoseki {
		hits = hits[:MaxCandidateKoseki]
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.id)
	}
	return s.kosekiByID(ctx, lgCode, ids)
}

// kosekiByID reads the given 戸籍 of lgCode, in the order of ids.
func (s *Store) kosekiByID(ctx context.Context, lgCode string, ids []string) ([]*issuance.Koseki, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.scoped(one(lgCode)).Query(ctx, `SELECT `+kosekiColumns+` FROM koseki k
		WHERE k.lg_code = $1 AND k.koseki_id = ANY($2)`, lgCode, ids)
	if err != nil {
		return nil, dbErr("read koseki", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*issuance.Koseki, error) { return scanKoseki(row, lgCode) })
	if err != nil {
		return nil, err
	}
	byID := map[string]*issuance.Koseki{}
	for _, k := range all {
		byID[k.ID] = k
	}
	out := make([]*issuance.Koseki, 0, len(ids))
	for _, id := range ids {
		if k := byID[id]; k != nil {
			out = append(out, k)
		}
	}
	return out, nil
}
