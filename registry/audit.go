package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// The audit trail (docs/audit.md, migrations/0013_audit.sql): hash chains
// of entries, one per municipality and the system chain. The database
// writes and chains every entry; this file adds the system events the
// database cannot see, and the verifier, which recomputes every hash here
// rather than trusting the database's.

// SystemChain names the system chain (lg_code ” in the table) wherever a
// chain is named: metrics, logs, -head.
const SystemChain = "system"

// auditKeysLock serialises AuditKeys across nodes starting at once, so a
// key change is recorded once.
const auditKeysLock = 0x15_5a_4e_a0

var (
	auditKindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	zeroHash    = make([]byte, sha256.Size)
)

// AuditSystem appends a deployment-wide event (kind, e.g. "key_rotation",
// "stop_all") to the system chain. subject names what it concerns (at most
// 256 characters); detail is what else the entry keeps, as JSON. Neither
// may hold personal data in clear (docs/audit.md).
func (s *Store) AuditSystem(ctx context.Context, kind, subject string, detail map[string]any) error {
	d, err := auditDetail(kind, subject, detail)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ('', $1, $2, $3::jsonb)`, kind, subject, d)
	return dbErr("audit", err)
}

func auditDetail(kind, subject string, detail map[string]any) (string, error) {
	if !auditKindRE.MatchString(kind) {
		return "", fmt.Errorf("audit: kind %q is not lower_snake_case of at most 63 characters", kind)
	}
	if utf8.RuneCountInString(subject) > 256 || !utf8.ValidString(subject) {
		return "", fmt.Errorf("audit: subject of kind %s is longer than 256 characters or not UTF-8", kind)
	}
	if detail == nil {
		detail = map[string]any{}
	}
	d, err := json.Marshal(detail)
	if err != nil {
		return "", fmt.Errorf("audit: detail of kind %s: %w", kind, err)
	}
	return string(d), nil
}

// AuditKey is a key in use, named by subject ("seal/131016") and
// identified by its fingerprint (hex SHA-256 of its public key).
type AuditKey struct {
	Subject     string
	Fingerprint string
	Detail      map[string]any // more to record with a change (never the key)
}

// AuditKeys records, as key_rotation entries of the system chain, each key
// whose fingerprint differs from the last one recorded for its subject (a
// key seen for the first time too), with the previous fingerprint. Nodes
// starting at once take turns, so a change is recorded once. It returns how
// many it recorded.
func (s *Store) AuditKeys(ctx context.Context, keys []AuditKey) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditKeysLock); err != nil {
			return err
		}
		for _, k := range keys {
			var last string
			err := tx.QueryRow(ctx, `SELECT coalesce(detail->>'fingerprint', '') FROM audit_log
				WHERE lg_code = '' AND kind = 'key_rotation' AND subject = $1 ORDER BY seq DESC LIMIT 1`, k.Subject).Scan(&last)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if last == k.Fingerprint {
				continue
			}
			detail := map[string]any{}
			for name, v := range k.Detail {
				detail[name] = v
			}
			detail["fingerprint"], detail["previous"] = k.Fingerprint, last
			d, err := auditDetail("key_rotation", k.Subject, detail)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ('', 'key_rotation', $1, $2::jsonb)`,
				k.Subject, d); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, dbErr("audit keys", err)
}

// AuditEntry is one entry of a chain.
type AuditEntry struct {
	Chain    string // a 団体コード, or SystemChain
	Seq      int64
	At       time.Time
	Kind     string
	Subject  string
	Detail   string // the JSON as stored
	PrevHash []byte
	Hash     []byte
}

// AuditHead is the last entry of a chain as published: chain, seq and
// hash, written CHAIN:SEQ:HEX.
type AuditHead struct {
	Chain string
	Seq   int64
	Hash  []byte
}

func (h AuditHead) String() string {
	return fmt.Sprintf("%s:%d:%s", h.Chain, h.Seq, hex.EncodeToString(h.Hash))
}

// ParseAuditHead reads CHAIN:SEQ:HEX (as AuditHead.String writes it).
func ParseAuditHead(s string) (AuditHead, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return AuditHead{}, fmt.Errorf("audit head %q: not CHAIN:SEQ:HASH", s)
	}
	h := AuditHead{Chain: parts[0]}
	if h.Chain != SystemChain && !lgCodeRE.MatchString(h.Chain) {
		return AuditHead{}, fmt.Errorf("audit head %q: chain %q is neither a 団体コード nor %q", s, h.Chain, SystemChain)
	}
	seq, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || seq < 1 {
		return AuditHead{}, fmt.Errorf("audit head %q: seq %q is not a positive number", s, parts[1])
	}
	h.Seq = seq
	if h.Hash, err = hex.DecodeString(parts[2]); err != nil || len(h.Hash) != sha256.Size {
		return AuditHead{}, fmt.Errorf("audit head %q: hash is not 64 hex digits", s)
	}
	return h, nil
}

func chainName(lgCode string) string {
	if lgCode == "" {
		return SystemChain
	}
	return lgCode
}

func chainCode(chain string) string {
	if chain == SystemChain {
		return ""
	}
	return chain
}

// AuditHeads returns the head of every chain as the database keeps it.
func (s *Store) AuditHeads(ctx context.Context) ([]AuditHead, error) {
	heads, err := auditHeads(ctx, s.pool)
	return heads, dbErr("audit heads", err)
}

func auditHeads(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]AuditHead, error) {
	rows, err := q.Query(ctx, `SELECT lg_code, seq, hash FROM audit_heads()`)
	if err != nil {
		return nil, err
	}
	heads, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditHead, error) {
		var h AuditHead
		err := r.Scan(&h.Chain, &h.Seq, &h.Hash)
		h.Chain = chainName(h.Chain)
		return h, err
	})
	slices.SortFunc(heads, func(a, b AuditHead) int { return strings.Compare(a.Chain, b.Chain) })
	return heads, err
}

// The problems VerifyAudit names.
const (
	AuditChanged  = "changed"  // the entry's hash is not that of its contents
	AuditDeleted  = "deleted"  // entries are missing before this one
	AuditInserted = "inserted" // the entry does not link to the one before it
	AuditCut      = "cut"      // entries are missing at the end (a published or recorded head is gone)
)

// AuditBreak is the first bad entry of a chain.
type AuditBreak struct {
	Chain   string
	Seq     int64
	Problem string      // AuditChanged, AuditDeleted, AuditInserted, AuditCut
	Why     string      // in words
	Entry   *AuditEntry // the entry at Seq, when there is one
}

func (b *AuditBreak) String() string {
	return fmt.Sprintf("chain %s, entry %d: %s: %s", b.Chain, b.Seq, b.Problem, b.Why)
}

// AuditChain is one chain as verified.
type AuditChain struct {
	Chain   string
	Entries int64
	Head    AuditHead   // its last entry
	Break   *AuditBreak // nil when it verifies
}

// AuditReport is the result of VerifyAudit, chains in order of name.
type AuditReport struct {
	Chains []AuditChain
}

// OK says whether every chain verified.
func (r AuditReport) OK() bool {
	return !slices.ContainsFunc(r.Chains, func(c AuditChain) bool { return c.Break != nil })
}

// VerifyAudit walks every chain, recomputing each entry's hash from its
// contents, and names each chain's first bad entry: changed (its hash is
// not that of its contents), deleted (a gap in seq), inserted (it does not
// link to the entry before it; when the next one links past it, that one
// was inserted), or cut (the chain ends before the head the database
// records, or before a head in published, which were heads published
// earlier: entries deleted from the end, where no later entry shows the
// gap). A chain ending after the recorded head has entries appended
// around the chaining (inserted).
func (s *Store) VerifyAudit(ctx context.Context, published ...AuditHead) (AuditReport, error) {
	before, err := auditHeads(ctx, s.pool)
	if err != nil {
		return AuditReport{}, dbErr("verify audit", err)
	}
	v := &auditVerifier{chains: map[string]*chainWalk{}}
	var codes []string
	for i, h := range append(slices.Clone(before), published...) {
		c := v.chain(h.Chain)
		if h.Chain != SystemChain && !slices.Contains(codes, h.Chain) {
			codes = append(codes, h.Chain)
		}
		c.want = append(c.want, wantHead{h, i >= len(before)})
	}
	walk := func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT lg_code, seq, at, kind, subject, detail::text, prev_hash, hash
			FROM audit_log ORDER BY lg_code, seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e AuditEntry
			if err := rows.Scan(&e.Chain, &e.Seq, &e.At, &e.Kind, &e.Subject, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
				return err
			}
			e.Chain = chainName(e.Chain)
			if err := v.chain(e.Chain).add(&e); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		after, err := auditHeads(ctx, tx)
		for _, h := range after {
			v.chain(h.Chain).after = &h
		}
		return err
	}
	if len(codes) > 0 {
		err = s.inScope(ctx, codes, walk)
	} else {
		err = pgx.BeginFunc(ctx, s.pool, walk)
	}
	if err != nil {
		return AuditReport{}, dbErr("verify audit", err)
	}
	return v.report(), nil
}

type wantHead struct {
	AuditHead
	published bool // from the caller; else recorded in audit_head
}

type chainWalk struct {
	name       string
	n          int64
	last, prev *AuditEntry // the last entry walked and the one before it
	brk        *AuditBreak
	want       []wantHead
	seen       map[int64][]byte // hashes of the entries at the wanted seqs
	after      *AuditHead       // the recorded head, read after the walk
}

type auditVerifier struct {
	chains map[string]*chainWalk
}

func (v *auditVerifier) chain(name string) *chainWalk {
	c := v.chains[name]
	if c == nil {
		c = &chainWalk{name: name, seen: map[int64][]byte{}}
		v.chains[name] = c
	}
	return c
}

// add checks e, the next entry of the chain; after the first break the
// chain is only counted.
func (c *chainWalk) add(e *AuditEntry) error {
	c.n++
	for _, w := range c.want {
		if w.Seq == e.Seq {
			c.seen[e.Seq] = e.Hash
		}
	}
	defer func() { c.prev, c.last = c.last, e }()
	if c.brk != nil {
		return nil
	}
	prevSeq, prevHash := int64(0), zeroHash
	if c.last != nil {
		prevSeq, prevHash = c.last.Seq, c.last.Hash
	}
	h, err := AuditHash(e)
	if err != nil {
		return fmt.Errorf("chain %s, entry %d: %w", c.name, e.Seq, err)
	}
	switch {
	case e.Seq != prevSeq+1:
		c.brk = &AuditBreak{Chain: c.name, Seq: prevSeq + 1, Problem: AuditDeleted,
			Why: fmt.Sprintf("entries %d to %d are missing: entry %d follows entry %d", prevSeq+1, e.Seq-1, e.Seq, prevSeq)}
	case !bytes.Equal(e.PrevHash, prevHash) && c.prev != nil && bytes.Equal(e.PrevHash, c.prev.Hash):
		c.brk = &AuditBreak{Chain: c.name, Seq: c.last.Seq, Problem: AuditInserted, Entry: c.last,
			Why: fmt.Sprintf("entry %d links to entry %d, past this one", e.Seq, c.prev.Seq)}
	case !bytes.Equal(e.PrevHash, prevHash):
		c.brk = &AuditBreak{Chain: c.name, Seq: e.Seq, Problem: AuditInserted, Entry: e,
			Why: fmt.Sprintf("its prev_hash is not the hash of entry %d (or entry %d was changed and its hash recomputed)", prevSeq, prevSeq)}
	case !bytes.Equal(h, e.Hash):
		c.brk = &AuditBreak{Chain: c.name, Seq: e.Seq, Problem: AuditChanged, Entry: e,
			Why: "its hash is not the SHA-256 of its contents"}
	}
	return nil
}

func (v *auditVerifier) report() AuditReport {
	var rep AuditReport
	names := make([]string, 0, len(v.chains))
	for name := range v.chains {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := v.chains[name]
		out := AuditChain{Chain: name, Entries: c.n, Break: c.brk}
		var lastSeq int64
		if c.last != nil {
			lastSeq = c.last.Seq
			out.Head = AuditHead{Chain: name, Seq: c.last.Seq, Hash: c.last.Hash}
		}
		// A problem at the end counts only if no earlier entry broke.
		worse := func(b *AuditBreak) {
			if out.Break == nil || b.Seq < out.Break.Seq {
				out.Break = b
			}
		}
		for _, w := range c.want {
			what := "the head recorded in audit_head"
			if w.published {
				what = "the published head " + w.String()
			}
			switch got, ok := c.seen[w.Seq]; {
			case !ok && w.Seq > lastSeq:
				worse(&AuditBreak{Chain: name, Seq: lastSeq + 1, Problem: AuditCut,
					Why: fmt.Sprintf("the chain ends at entry %d, before %s (entry %d): entries were deleted from its end", lastSeq, what, w.Seq)})
			case !ok:
				// missing in the middle: the walk named the gap
			case !bytes.Equal(got, w.Hash):
				worse(&AuditBreak{Chain: name, Seq: w.Seq, Problem: AuditChanged,
					Why: fmt.Sprintf("its hash differs from %s: the chain was rewritten from here or before", what)})
			}
		}
		if c.after == nil && lastSeq > 0 || c.after != nil && lastSeq > c.after.Seq {
			recorded := int64(0)
			if c.after != nil {
				recorded = c.after.Seq
			}
			worse(&AuditBreak{Chain: name, Seq: recorded + 1, Problem: AuditInserted,
				Why: fmt.Sprintf("entries %d to %d lie beyond the head recorded in audit_head (%d): appended outside the chaining", recorded+1, lastSeq, recorded)})
		}
		rep.Chains = append(rep.Chains, out)
	}
	return rep
}

// AuditHash recomputes an entry's hash from its contents: SHA-256 of the
// canonical JSON of [1, lg_code, seq, at, kind, subject, detail,
// prev_hash] (docs/audit.md), as migrations/0013_audit.sql computes it.
func AuditHash(e *AuditEntry) ([]byte, error) {
	b, err := AuditHashInput(e)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// AuditHashInput is the byte form an entry's hash is taken over.
func AuditHashInput(e *AuditEntry) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(e.Detail))
	dec.UseNumber()
	var detail any
	if err := dec.Decode(&detail); err != nil {
		return nil, fmt.Errorf("detail: %w", err)
	}
	var buf bytes.Buffer
	err := CanonicalJSON(&buf, []any{json.Number("1"), chainCode(e.Chain), json.Number(strconv.FormatInt(e.Seq, 10)),
		e.At.UTC().Format("2006-01-02T15:04:05.000000Z"), e.Kind, e.Subject, detail, hex.EncodeToString(e.PrevHash)})
	return buf.Bytes(), err
}

// CanonicalJSON writes v (as encoding/json decodes into any, with
// UseNumber) in the trail's canonical form: object keys in byte order, no
// white space, strings escaped as PostgreSQL escapes them, numbers as
// written.
func CanonicalJSON(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case json.Number:
		buf.WriteString(string(x))
	case string:
		canonicalString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := CanonicalJSON(buf, item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			canonicalString(buf, k)
			buf.WriteByte(':')
			if err := CanonicalJSON(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("canonical JSON: %T is not a decoded JSON value", v)
	}
	return nil
}

// canonicalString escapes as PostgreSQL's escape_json: the two-character
// escapes, other control characters as \u00xx, every other byte as is.
func canonicalString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(buf, `\u%04x`, c)
			} else {
				buf.WriteByte(c)
			}
		}
	}
	buf.WriteByte('"')
}

// AuditPublication is what the audit-publish job recorded last (an
// audit_published entry of the system chain): when, and each chain's head
// and whether it verified.
type AuditPublication struct {
	At     time.Time
	Chains []AuditPublished
}

// AuditPublished is one chain's line of an AuditPublication.
type AuditPublished struct {
	Chain    string `json:"chain"`
	Seq      int64  `json:"seq"`
	Hash     string `json:"hash"`
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"` // the first break, as AuditBreak.String
}

// PublishAudit records rep's heads and verdicts as an audit_published entry
// of the system chain, where every node's metrics read them.
func (s *Store) PublishAudit(ctx context.Context, rep AuditReport) error {
	var chains []any
	for _, c := range rep.Chains {
		p := map[string]any{"chain": c.Chain, "seq": c.Head.Seq, "hash": hex.EncodeToString(c.Head.Hash), "verified": c.Break == nil}
		if c.Break != nil {
			p["problem"] = c.Break.String()
		}
		chains = append(chains, p)
	}
	return s.AuditSystem(ctx, "audit_published", "", map[string]any{"chains": chains, "verified": rep.OK()})
}

// LastAuditPublication returns the last audit_published entry; ok is
// false when there is none.
func (s *Store) LastAuditPublication(ctx context.Context) (p AuditPublication, ok bool, err error) {
	var detail []byte
	err = s.pool.QueryRow(ctx, `SELECT at, detail->'chains' FROM audit_log
		WHERE lg_code = '' AND kind = 'audit_published' ORDER BY seq DESC LIMIT 1`).Scan(&p.At, &detail)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, dbErr("audit publication", err)
	}
	if err := json.Unmarshal(detail, &p.Chains); err != nil {
		return p, false, fmt.Errorf("audit publication: %w", err)
	}
	return p, true, nil
}
