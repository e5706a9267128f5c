package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
)

// The clerk console's read side of the ledger (docs/console.md): the
// issuance log and the recall of a data version, and the access log that
// records every view of the personal data they show. Personal data is read
// and its view recorded in one transaction: the store never hands out a
// name without the row that says who saw it.

// Limits of one answer. A page of the log is LogPageSize rows; a recall
// page shows at most RecallPageLimit; a CSV holds at most CSVLimit rows (a
// larger selection is refused, to be narrowed, rather than cut short).
const (
	LogPageSize     = 100
	RecallPageLimit = 1000
	CSVLimit        = 100_000
)

// ErrTooMany is a selection larger than the limit of a query that asked
// for all of it (Whole).
var ErrTooMany = errors.New("more issuances selected than the limit")

// ErrBadQuery is what an invalid log or recall query wraps; the message
// names the parameter.
var ErrBadQuery = errors.New("invalid query")

// Subject is a person named in the ledger (a registry person id or a 戸籍
// member as issuance.KosekiSubject) with their name as the registry holds it
// now; Name is empty when the registry no longer has them.
type Subject struct {
	ID   string
	Name string
}

// IssuanceRecord is one issuance as the console lists it. Requester and
// Subjects are set only when the query asked for personal data.
type IssuanceRecord struct {
	ID           string
	LGCode       string
	TerminalID   string
	Type         issuance.CertType
	Status       issuance.IssuanceStatus
	Fee          int
	Copies       int
	ReservedAt   time.Time
	ConfirmedAt  time.Time // zero while not confirmed
	DataVersions map[string]int64
	Requester    *Subject
	Subjects     []Subject
}

// Viewer is who asks for personal data, for the access log.
type Viewer struct {
	Username string
	Role     Role
	Address  string
	Page     string // issuances, issuances.csv, recall, recall.csv
	Query    string // the page's parameters, canonical
	At       time.Time
}

// IssuanceQuery selects issuances for the log: those of LGCodes reserved in
// [From, To), optionally of one type, terminal and status, newest first.
type IssuanceQuery struct {
	LGCodes  []string
	From, To time.Time
	Type     issuance.CertType
	Terminal string
	Status   issuance.IssuanceStatus
	// After pages on: the rows after (older than) this issuance. It must be
	// an issuance of LGCodes.
	After string
	// Limit is the most rows returned (LogPageSize when 0); with Whole, a
	// selection of more is refused (ErrTooMany) rather than cut.
	Limit int
	Whole bool
	// Viewer, when set, asks for personal data (requester and subjects)
	// and records the view in access_log.
	Viewer *Viewer
}

// IssuanceLog returns the issuances the query selects, at most Limit, and
// whether there are more.
func (s *Store) IssuanceLog(ctx context.Context, q IssuanceQuery) ([]IssuanceRecord, bool, error) {
	if len(q.LGCodes) == 0 {
		return nil, false, fmt.Errorf("%w: no municipality", ErrBadQuery)
	}
	if !q.From.Before(q.To) {
		return nil, false, fmt.Errorf("%w: from must be before to", ErrBadQuery)
	}
	if q.After != "" && !uuidRE.MatchString(q.After) {
		return nil, false, fmt.Errorf("%w: after is not an issuance id", ErrBadQuery)
	}
	if q.Limit <= 0 {
		q.Limit = LogPageSize
	}
	return s.records(ctx, q.LGCodes, q.Limit, q.Whole, q.Viewer, "issuance log", func(tx pgx.Tx) (pgx.Rows, error) {
		var after []any
		cond := ""
		if q.After != "" {
			var at time.Time
			err := tx.QueryRow(ctx, issuanceReservedAt,
				q.After, q.LGCodes).Scan(&at)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("%w: after names no issuance of these municipalities", ErrBadQuery)
			}
			if err != nil {
				return nil, err
			}
			cond = ` AND (reserved_at, issuance_id) < ($8, $9::uuid)`
			after = []any{at, q.After}
		}
		return tx.Query(ctx, `SELECT `+recordColumns+` FROM issuance
			WHERE lg_code = ANY($1) AND reserved_at >= $2 AND reserved_at < $3
			  AND ($4 = '' OR cert_type = $4) AND ($5 = '' OR terminal_id = $5) AND ($6 = '' OR status = $6)`+cond+`
			ORDER BY reserved_at DESC, issuance_id DESC LIMIT $7`,
			append([]any{q.LGCodes, q.From, q.To, string(q.Type), q.Terminal, string(q.Status), q.Limit + 1}, after...)...)
	})
}

// RecallQuery selects the certificates built from one version of one
// domain's data of a municipality: those ISSUED or UNCONFIRMED (possibly in
// the resident's hands), oldest first.
type RecallQuery struct {
	LGCode  string
	Domain  issuance.DataDomain
	Version int64
	Limit   int // the most rows returned (RecallPageLimit when 0)
	Whole   bool
	Viewer  *Viewer
}

// Recall returns the certificates the query selects, at most Limit, and
// whether there are more.
func (s *Store) Recall(ctx context.Context, q RecallQuery) ([]IssuanceRecord, bool, error) {
	if !slices.Contains(issuance.Domains, q.Domain) {
		return nil, false, fmt.Errorf("%w: domain %q", ErrBadQuery, q.Domain)
	}
	if q.Version <= 0 {
		return nil, false, fmt.Errorf("%w: version must be a positive number", ErrBadQuery)
	}
	if q.Limit <= 0 {
		q.Limit = RecallPageLimit
	}
	return s.records(ctx, []string{q.LGCode}, q.Limit, q.Whole, q.Viewer, "recall", func(tx pgx.Tx) (pgx.Rows, error) {
		// @> with the GIN index issuance_data_versions (migration 0009).
		return tx.Query(ctx, `SELECT `+recordColumns+` FROM issuance
			WHERE lg_code = $1 AND data_versions @> jsonb_build_object($2::text, $3::bigint)
			  AND status IN ('ISSUED', 'UNCONFIRMED')
			ORDER BY reserved_at, issuance_id LIMIT $4`, q.LGCode, string(q.Domain), q.Version, q.Limit+1)
	})
}

// records runs query (which selects at most limit+1 rows) in a
// transaction scoped to lgCodes, cuts the answer to limit (or, whole, refuses it with
// ErrTooMany, recording nothing) and deals with its personal data.
func (s *Store) records(ctx context.Context, lgCodes []string, limit int, whole bool, v *Viewer, what string,
	query func(pgx.Tx) (pgx.Rows, error)) ([]IssuanceRecord, bool, error) {
	var (
		out  []IssuanceRecord
		more bool
	)
	err := s.inScope(ctx, lgCodes, func(tx pgx.Tx) error {
		rows, err := query(tx)
		if err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, scanRecord); err != nil {
			return err
		}
		if len(out) > limit {
			if whole {
				return ErrTooMany
			}
			out, more = out[:limit], true
		}
		return s.personal(ctx, tx, out, v)
	})
	if errors.Is(err, ErrBadQuery) || errors.Is(err, ErrTooMany) {
		return nil, false, err
	}
	if err != nil {
		return nil, false, dbErr(what, err)
	}
	return out, more, nil
}

const recordColumns = `issuance_id::text, lg_code, terminal_id, cert_type, status, fee, copies, reserved_at,
	confirmed_at, person_id, subjects, data_versions`

func scanRecord(row pgx.CollectableRow) (IssuanceRecord, error) {
	var (
		r         IssuanceRecord
		confirmed *time.Time
		person    string
		subjects  []string
	)
	err := row.Scan(&r.ID, &r.LGCode, &r.TerminalID, &r.Type, &r.Status, &r.Fee, &r.Copies, &r.ReservedAt,
		&confirmed, &person, &subjects, &r.DataVersions)
	r.ReservedAt = r.ReservedAt.In(issuance.Tokyo)
	if confirmed != nil {
		r.ConfirmedAt = confirmed.In(issuance.Tokyo)
	}
	// Held in the record until personal decides; cleared there unless a
	// viewer asked (and is recorded).
	r.Requester = &Subject{ID: person}
	for _, id := range subjects {
		r.Subjects = append(r.Subjects, Subject{ID: id})
	}
	return r, err
}

// personal either removes the personal data from the records (no viewer)
// or names the requester and subjects and records the view in access_log,
// in the transaction that read them.
func (s *Store) personal(ctx context.Context, tx pgx.Tx, recs []IssuanceRecord, v *Viewer) error {
	if v == nil {
		for i := range recs {
			recs[i].Requester, recs[i].Subjects = nil, nil
		}
		return nil
	}
	if len(recs) == 0 {
		return nil // nothing personal was shown
	}
	ids := map[string][]string{} // by municipality
	var issuanceIDs []string
	for _, r := range recs {
		issuanceIDs = append(issuanceIDs, r.ID)
		ids[r.LGCode] = append(ids[r.LGCode], r.Requester.ID)
		for _, sub := range r.Subjects {
			ids[r.LGCode] = append(ids[r.LGCode], sub.ID)
		}
	}
	names := map[[2]string]string{} // (lg, id) → name
	for lg, list := range ids {
		if err := subjectNames(ctx, tx, lg, list, names); err != nil {
			return err
		}
	}
	for i := range recs {
		r := &recs[i]
		r.Requester.Name = names[[2]string{r.LGCode, r.Requester.ID}]
		for j := range r.Subjects {
			r.Subjects[j].Name = names[[2]string{r.LGCode, r.Subjects[j].ID}]
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO access_log (at, username, role, address, page, query, issuance_ids)
		VALUES ($1, $2, $3, $4, $5, $6, $7::uuid[])`, v.At, v.Username, string(v.Role), v.Address, v.Page, v.Query, issuanceIDs)
	return err
}

// subjectNames adds to names the names of the ids of municipality lg: a
// registry person by their person row, a 戸籍 member (issuance.KosekiSubject)
// by their entry in the 戸籍. Names are the registry's now: the ledger keeps
// ids, not names.
func subjectNames(ctx context.Context, tx pgx.Tx, lg string, ids []string, names map[[2]string]string) error {
	var people, koseki []string
	for _, id := range ids {
		if k, _, ok := parseKosekiSubject(id); ok {
			koseki = append(koseki, k)
		} else {
			people = append(people, id)
		}
	}
	var id, name string
	rows, err := tx.Query(ctx, `SELECT person_id, family_name || ' ' || given_name FROM person
		WHERE lg_code = $1 AND person_id = ANY($2)`, lg, people)
	if err != nil {
		return err
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { names[[2]string{lg, id}] = name; return nil }); err != nil {
		return err
	}
	if len(koseki) == 0 {
		return nil
	}
	var seq int
	rows, err = tx.Query(ctx, `SELECT k.koseki_id, (m->>'seq')::int, concat_ws(' ', m->>'family', m->>'given')
		FROM koseki k CROSS JOIN json_array_elements(k.body->'members') m
		WHERE k.lg_code = $1 AND k.koseki_id = ANY($2)`, lg, koseki)
	if err != nil {
		return err
	}
	_, err = pgx.ForEachRow(rows, []any{&id, &seq, &name}, func() error {
		names[[2]string{lg, issuance.KosekiSubject(id, seq)}] = name
		return nil
	})
	return err
}

// parseKosekiSubject splits "koseki:<id>:<seq>" (issuance.KosekiSubject).
func parseKosekiSubject(s string) (string, int, bool) {
	rest, ok := strings.CutPrefix(s, "koseki:")
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", 0, false
	}
	seq, err := strconv.Atoi(rest[i+1:])
	return rest[:i], seq, err == nil
}

// AccessRecord is one row of access_log.
type AccessRecord struct {
	ID          int64
	At          time.Time
	Username    string
	Role        Role
	Address     string
	Page        string
	Query       string
	IssuanceIDs []string
}

// AccessLog returns the newest access-log rows of the given account ("" for
// every account), newest first, at most limit.
func (s *Store) AccessLog(ctx context.Context, username string, limit int) ([]AccessRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, at, username, role, address, page, query, issuance_ids::text[]
		FROM access_log WHERE $1 = '' OR username = $1 ORDER BY id DESC LIMIT $2`, username, limit)
	if err != nil {
		return nil, dbErr("access log", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccessRecord, error) {
		var a AccessRecord
		err := row.Scan(&a.ID, &a.At, &a.Username, &a.Role, &a.Address, &a.Page, &a.Query, &a.IssuanceIDs)
		a.At = a.At.In(issuance.Tokyo)
		return a, err
	})
	return out, dbErr("access log", err)
}
