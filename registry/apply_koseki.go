package registry

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/registry/feed"
)

// Applying the koseki domain: the 戸籍 document with its members, events and 附票.

// kosekiBody is the stored form of a 戸籍's content (dates as YYYY-MM-DD).
type kosekiBody struct {
	Events  []kosekiEventJSON  `json:"events,omitempty"`
	Members []kosekiMemberJSON `json:"members"`
}

type kosekiEventJSON struct {
	Seq    int64       `json:"-"`
	Kind   string      `json:"kind"`
	Date   string      `json:"date"`
	Fields [][2]string `json:"fields,omitempty"`
}

type kosekiMemberJSON struct {
	Seq          int64             `json:"seq"`
	PersonID     string            `json:"personId,omitempty"`
	FamilyName   string            `json:"family"`
	GivenName    string            `json:"given"`
	BirthDate    string            `json:"birth"`
	Sex          int64             `json:"sex"`
	Father       string            `json:"father,omitempty"`
	Mother       string            `json:"mother,omitempty"`
	Relationship string            `json:"relationship"`
	Removed      bool              `json:"removed,omitempty"`
	Support      bool              `json:"supportMeasure,omitempty"`
	Events       []kosekiEventJSON `json:"events,omitempty"`
	Fuhyo        []fuhyoJSON       `json:"fuhyo,omitempty"`
	line         int
}

type fuhyoJSON struct {
	Seq     int64  `json:"-"`
	Address string `json:"address"`
	Since   string `json:"since"`
}

type stagedKoseki struct {
	line               int
	op                 string
	honseki, hittousha string
	pending            bool
	body               kosekiBody
	members            []*kosekiMemberJSON // few: searched, not mapped
	eventKeys          [][3]int64          // member seq, seq, line
}

func (k *stagedKoseki) member(seq int64) *kosekiMemberJSON {
	for _, m := range k.members {
		if m.Seq == seq {
			return m
		}
	}
	return nil
}

type kosekiPart[T any] struct {
	line     int
	kosekiID string
	v        T
}

type eventPart struct {
	memberSeq int64
	ev        kosekiEventJSON
}

type fuhyoPart struct {
	memberSeq int64
	f         fuhyoJSON
}

func (a *applier) koseki() error {
	kFile, mFile := fileOf(a.m, feed.Koseki), fileOf(a.m, feed.KosekiMember)
	eFile, fFile := fileOf(a.m, feed.KosekiEvent), fileOf(a.m, feed.Fuhyo)
	// The four files are read and checked side by side, then put together.
	all := make(map[string]*stagedKoseki, a.count(feed.Koseki))
	var members []kosekiPart[kosekiMemberJSON]
	var events []kosekiPart[eventPart]
	var fuhyo []kosekiPart[fuhyoPart]
	// A batch of layout 1 has no support_measure: its members carry none.
	support := feed.KosekiMember.Index("support_measure")
	err := parallel(
		func() error {
			return a.each(feed.Koseki, func(r *feed.Record) error {
				if k, ok := all[r.Str(1)]; ok {
					return dup(kFile, r.Line, "koseki_id", k.line)
				}
				all[r.Str(1)] = &stagedKoseki{line: r.Line, op: r.Str(0), honseki: r.Str(2), hittousha: r.Str(3), pending: r.Bool(4)}
				return nil
			})
		},
		func() error {
			return a.each(feed.KosekiMember, func(r *feed.Record) error {
				if seq := r.Int(1); seq < 1 || seq > 999 {
					return &feed.Error{File: mFile, Line: r.Line, Field: "seq", Msg: "not within 1..999"}
				}
				members = append(members, kosekiPart[kosekiMemberJSON]{r.Line, r.Str(0), kosekiMemberJSON{Seq: r.Int(1),
					PersonID: r.Str(2), FamilyName: r.Str(3), GivenName: r.Str(4), BirthDate: r.Str(5), Sex: r.Int(6),
					Father: r.Str(7), Mother: r.Str(8), Relationship: r.Str(9), Removed: r.Bool(10),
					Support: len(r.Values) > support && r.Bool(support), line: r.Line}})
				return nil
			})
		},
		func() error {
			return a.each(feed.KosekiEvent, func(r *feed.Record) error {
				ev := kosekiEventJSON{Seq: r.Int(2), Kind: r.Str(3), Date: r.Str(4)}
				for _, f := range r.Pairs(5) {
					ev.Fields = append(ev.Fields, [2]string{f.Label, f.Value})
				}
				events = append(events, kosekiPart[eventPart]{r.Line, r.Str(0), eventPart{r.Int(1), ev}})
				return nil
			})
		},
		func() error {
			return a.each(feed.Fuhyo, func(r *feed.Record) error {
				fuhyo = append(fuhyo, kosekiPart[fuhyoPart]{r.Line, r.Str(0), fuhyoPart{r.Int(1), fuhyoJSON{Seq: r.Int(2), Address: r.Str(3), Since: r.Str(4)}}})
				return nil
			})
		},
	)
	if err != nil {
		return err
	}
	of := func(file string, line int, id string) (*stagedKoseki, error) {
		k := all[id]
		if k == nil || k.op != "U" {
			return nil, &feed.Error{File: file, Line: line, Field: "koseki_id",
				Msg: "the 戸籍 is not inserted by this batch (its parts are delivered with it)"}
		}
		return k, nil
	}
	linked := make(map[string]int, a.count(feed.KosekiMember)) // person id → member line
	for i := range members {
		p := &members[i]
		k, err := of(mFile, p.line, p.kosekiID)
		if err != nil {
			return err
		}
		m := &p.v
		if other := k.member(m.Seq); other != nil {
			return dup(mFile, p.line, "seq", other.line)
		}
		if m.PersonID != "" && !m.Removed {
			if first, ok := linked[m.PersonID]; ok {
				return &feed.Error{File: mFile, Line: p.line, Field: "person_id",
					Msg: fmt.Sprintf("duplicate key: the person is a current member of another 戸籍 too (line %d)", first)}
			}
			linked[m.PersonID] = p.line
		}
		k.members = append(k.members, m)
	}
	for _, p := range events {
		k, err := of(eFile, p.line, p.kosekiID)
		if err != nil {
			return err
		}
		for _, key := range k.eventKeys {
			if key[0] == p.v.memberSeq && key[1] == p.v.ev.Seq {
				return dup(eFile, p.line, "seq", int(key[2]))
			}
		}
		k.eventKeys = append(k.eventKeys, [3]int64{p.v.memberSeq, p.v.ev.Seq, int64(p.line)})
		if p.v.memberSeq == 0 {
			k.body.Events = append(k.body.Events, p.v.ev)
			continue
		}
		m := k.member(p.v.memberSeq)
		if m == nil {
			return &feed.Error{File: eFile, Line: p.line, Field: "member_seq", Msg: "no such member of the 戸籍 in this batch"}
		}
		m.Events = append(m.Events, p.v.ev)
	}
	for _, p := range fuhyo {
		k, err := of(fFile, p.line, p.kosekiID)
		if err != nil {
			return err
		}
		m := k.member(p.v.memberSeq)
		if m == nil {
			return &feed.Error{File: fFile, Line: p.line, Field: "member_seq", Msg: "no such member of the 戸籍 in this batch"}
		}
		for _, f := range m.Fuhyo {
			if f.Seq == p.v.f.Seq {
				return &feed.Error{File: fFile, Line: p.line, Field: "seq", Msg: "duplicate key"}
			}
		}
		m.Fuhyo = append(m.Fuhyo, p.v.f)
	}

	ids := mapKeys(all)
	if a.delta {
		if _, err := a.exec(`DELETE FROM koseki WHERE lg_code = $1 AND koseki_id = ANY($2)`, a.lg, ids); err != nil {
			return err
		}
		if _, err := a.exec(`DELETE FROM koseki_link WHERE lg_code = $1 AND koseki_id = ANY($2)`, a.lg, ids); err != nil {
			return err
		}
		// A person is a current member of one 戸籍 only.
		var pid, kid string
		err := a.tx.QueryRow(a.ctx, `SELECT person_id, koseki_id FROM koseki_link WHERE lg_code = $1 AND person_id = ANY($2) LIMIT 1`,
			a.lg, mapKeys(linked)).Scan(&pid, &kid)
		if err == nil {
			return &feed.Error{File: mFile, Line: linked[pid], Field: "person_id",
				Msg: fmt.Sprintf("the person is a current member of 戸籍 %s, which this delta does not replace", kid)}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	} else {
		a.replaceAll("koseki", "koseki_link")
	}
	err = a.copyRows("koseki", []string{"lg_code", "koseki_id", "honseki", "hittousha", "pending", "body"}, func(w *rowWriter) error {
		for _, id := range ids {
			k := all[id]
			if k.op == "D" {
				continue
			}
			if len(k.members) == 0 {
				return &feed.Error{File: kFile, Line: k.line, Field: "koseki_id", Msg: "a 戸籍 without members"}
			}
			slices.SortFunc(k.members, func(x, y *kosekiMemberJSON) int { return int(x.Seq - y.Seq) })
			for _, m := range k.members {
				slices.SortFunc(m.Events, func(x, y kosekiEventJSON) int { return int(x.Seq - y.Seq) })
				slices.SortFunc(m.Fuhyo, func(x, y fuhyoJSON) int { return int(x.Seq - y.Seq) })
				k.body.Members = append(k.body.Members, *m)
			}
			slices.SortFunc(k.body.Events, func(x, y kosekiEventJSON) int { return int(x.Seq - y.Seq) })
			body := k.body.appendJSON(nil)
			for _, v := range []string{a.lg, id, k.honseki, k.hittousha} {
				w.Str(v)
			}
			w.Bool(k.pending)
			w.Bytea(body) // json: its binary form is its text
			if err := w.End(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.copyRows("koseki_link", []string{"lg_code", "person_id", "koseki_id"}, func(w *rowWriter) error {
		for _, id := range ids {
			k := all[id]
			if k.op == "D" {
				continue
			}
			for _, m := range k.body.Members {
				if m.PersonID != "" && !m.Removed {
					w.Str(a.lg)
					w.Str(m.PersonID)
					w.Str(id)
					if err := w.End(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// appendJSON encodes the body as encoding/json would (and reads back),
// without reflection: a million people's 戸籍 are encoded in every snapshot.
func (b *kosekiBody) appendJSON(dst []byte) []byte {
	events := func(dst []byte, key string, evs []kosekiEventJSON) []byte {
		if len(evs) == 0 {
			return dst
		}
		dst = append(dst, `,"`+key+`":[`...)
		for i, e := range evs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"kind":`...)
			dst = jsonString(dst, e.Kind)
			dst = append(dst, `,"date":`...)
			dst = jsonString(dst, e.Date)
			if len(e.Fields) > 0 {
				dst = append(dst, `,"fields":[`...)
				for j, f := range e.Fields {
					if j > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, '[')
					dst = jsonString(dst, f[0])
					dst = append(dst, ',')
					dst = jsonString(dst, f[1])
					dst = append(dst, ']')
				}
				dst = append(dst, ']')
			}
			dst = append(dst, '}')
		}
		return append(dst, ']')
	}
	dst = append(dst, `{"members":[`...)
	for i, m := range b.Members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"seq":`...)
		dst = strconv.AppendInt(dst, m.Seq, 10)
		for _, f := range [][2]string{{"personId", m.PersonID}, {"family", m.FamilyName}, {"given", m.GivenName},
			{"birth", m.BirthDate}, {"father", m.Father}, {"mother", m.Mother}, {"relationship", m.Relationship}} {
			if f[1] != "" {
				dst = append(dst, `,"`+f[0]+`":`...)
				dst = jsonString(dst, f[1])
			}
		}
		dst = append(dst, `,"sex":`...)
		dst = strconv.AppendInt(dst, m.Sex, 10)
		if m.Removed {
			dst = append(dst, `,"removed":true`...)
		}
		if m.Support {
			dst = append(dst, `,"supportMeasure":true`...)
		}
		dst = events(dst, "events", m.Events)
		if len(m.Fuhyo) > 0 {
			dst = append(dst, `,"fuhyo":[`...)
			for j, a := range m.Fuhyo {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, `{"address":`...)
				dst = jsonString(dst, a.Address)
				dst = append(dst, `,"since":`...)
				dst = jsonString(dst, a.Since)
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = events(dst, "events", b.Events)
	return append(dst, '}')
}

// jsonString appends s as a JSON string. Checked text has no control
// characters; quotes and backslashes are escaped, the rest is UTF-8 as is.
func jsonString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
