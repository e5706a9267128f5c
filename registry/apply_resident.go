package registry

import (
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/registry/feed"
)

// Applying the resident domain: households, people, JPKI links and renewals.

type stagedHousehold struct {
	line          int
	op            string
	head, address string
	members       []stagedMember
}

type stagedMember struct {
	seq  int64
	id   string
	line int
}

func (a *applier) resident() error {
	hhFile, pFile := fileOf(a.m, feed.Household), fileOf(a.m, feed.Person)
	households := make(map[string]*stagedHousehold, a.count(feed.Household))
	readHouseholds := func() error {
		return a.each(feed.Household, func(r *feed.Record) error {
			id := r.Str(1)
			if h, ok := households[id]; ok {
				return dup(hhFile, r.Line, "household_id", h.line)
			}
			households[id] = &stagedHousehold{line: r.Line, op: r.Str(0), head: r.Str(2), address: r.Str(3)}
			return nil
		})
	}
	// People are streamed into the table; each joins its household of this
	// batch once both files are read.
	people := make([]stagedMember, 0, a.count(feed.Person))
	personLine := make(map[string]int, a.count(feed.Person))
	hids := make([]string, 0, a.count(feed.Person))
	cols := genericCols(feed.Person)
	idxID, idxHH, idxSeq := feed.Person.Index("person_id"), feed.Person.Index("household_id"), feed.Person.Index("seq")
	copyPeople := func() error {
		return a.copyEach(feed.Person, "person", cols, func(w *rowWriter, r *feed.Record) error {
			id, seq := r.Str(idxID), r.Int(idxSeq)
			if first, ok := personLine[id]; ok {
				return dup(pFile, r.Line, "person_id", first)
			}
			personLine[id] = r.Line
			if seq < 1 || seq > 999 {
				return &feed.Error{File: pFile, Line: r.Line, Field: "seq", Msg: "not within 1..999"}
			}
			people = append(people, stagedMember{seq: seq, id: id, line: r.Line})
			hids = append(hids, r.Str(idxHH))
			return a.genericRow(w, feed.Person, r, id)
		})
	}
	if !a.delta {
		a.replaceAll("household", "person", "jpki_link", "jpki_renewal")
		// The households are read while the people load.
		if err := parallel(readHouseholds, copyPeople); err != nil {
			return err
		}
	} else {
		if err := readHouseholds(); err != nil {
			return err
		}
		// The households the delta names go, with their old members; so do
		// the people it carries (a person moving from a household it does
		// not name leaves that household's member list, which readers
		// filter by household_id).
		pkeys, err := a.keys(feed.Person, "person_id")
		if err != nil {
			return err
		}
		rows, err := a.tx.Query(a.ctx, `DELETE FROM household WHERE lg_code = $1 AND household_id = ANY($2) RETURNING members`,
			a.lg, mapKeys(households))
		if err != nil {
			return err
		}
		old, err := pgx.CollectRows(rows, pgx.RowTo[[]string])
		if err != nil {
			return err
		}
		gone := column(pkeys, 0)
		for _, ms := range old {
			gone = append(gone, ms...)
		}
		if _, err := a.exec(`DELETE FROM person WHERE lg_code = $1 AND person_id = ANY($2)`, a.lg, gone); err != nil {
			return err
		}
		if err := copyPeople(); err != nil {
			return err
		}
	}
	for i, p := range people {
		h := households[hids[i]]
		if h == nil || h.op != "U" {
			return &feed.Error{File: pFile, Line: p.line, Field: "household_id",
				Msg: "the household is not inserted by this batch (a person is delivered with its household)"}
		}
		for _, m := range h.members {
			if m.seq == p.seq {
				return dup(pFile, p.line, "seq", m.line)
			}
		}
		h.members = append(h.members, p)
	}

	// Households, now that their members are known.
	hhIDs := mapKeys(households)
	err := a.copyRows("household", []string{"lg_code", "household_id", "head_id", "address", "members"}, func(w *rowWriter) error {
		for _, id := range hhIDs {
			h := households[id]
			if h.op == "D" {
				if len(h.members) > 0 {
					return &feed.Error{File: pFile, Line: h.members[0].line, Field: "household_id", Msg: "the household is deleted by this batch"}
				}
				continue
			}
			if len(h.members) == 0 {
				return &feed.Error{File: hhFile, Line: h.line, Field: "household_id", Msg: "a household without members"}
			}
			slices.SortFunc(h.members, func(x, y stagedMember) int { return int(x.seq - y.seq) })
			members := make([]string, len(h.members))
			head := false
			for i, m := range h.members {
				members[i] = m.id
				head = head || m.id == h.head
			}
			if !head {
				return &feed.Error{File: hhFile, Line: h.line, Field: "head_id", Msg: "the 世帯主 is not a member of the household"}
			}
			w.Str(a.lg)
			w.Str(id)
			w.Str(h.head)
			w.Str(h.address)
			w.Array(members)
			if err := w.End(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if a.delta && len(personLine) > 0 {
		// A 世帯主 who moved to a household of this batch leaves their old
		// household headless unless the batch replaces that one too.
		var hid, head string
		err := a.tx.QueryRow(a.ctx, `SELECT household_id, head_id FROM household
			WHERE lg_code = $1 AND head_id = ANY($2) AND NOT household_id = ANY($3)
			  AND NOT EXISTS (SELECT 1 FROM person p WHERE p.lg_code = household.lg_code
			                  AND p.person_id = household.head_id AND p.household_id = household.household_id)
			LIMIT 1`, a.lg, mapKeys(personLine), hhIDs).Scan(&hid, &head)
		if err == nil {
			return &feed.Error{File: pFile, Line: personLine[head], Field: "household_id",
				Msg: fmt.Sprintf("the person was 世帯主 of household %s, which this delta does not replace", hid)}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	}

	if err := a.links(feed.JPKILink, "jpki_link", []string{"issuer_key_id", "serial"}, personLine); err != nil {
		return err
	}
	return a.links(feed.JPKIRenewal, "jpki_renewal", []string{"new_issuer_key_id", "new_serial"}, nil)
}

// links loads keyed rows (op U/D) of the JPKI tables. A link's person must
// be in this batch or, for a delta, already in the database.
func (a *applier) links(rt *feed.RecordType, table string, key []string, people map[string]int) error {
	file := fileOf(a.m, rt)
	if a.delta {
		ks, err := a.keys(rt, key...)
		if err != nil {
			return err
		}
		if _, err := a.exec(`DELETE FROM `+table+` WHERE lg_code = $1 AND (`+key[0]+`, `+key[1]+`)
			IN (SELECT * FROM unnest($2::text[], $3::text[]))`, a.lg, column(ks, 0), column(ks, 1)); err != nil {
			return err
		}
	}
	seen := make(map[string]int, a.count(rt))
	k0, k1 := rt.Index(key[0]), rt.Index(key[1])
	missing := map[string]int{} // person id → line, to look up in the database
	err := a.copyEach(rt, table, genericCols(rt), func(w *rowWriter, r *feed.Record) error {
		k := r.Str(k0) + "/" + r.Str(k1)
		if first, ok := seen[k]; ok {
			return dup(file, r.Line, key[1], first)
		}
		seen[k] = r.Line
		if r.Str(0) == "D" {
			return nil
		}
		if people != nil {
			pid := r.Str(rt.Index("person_id"))
			if _, ok := people[pid]; !ok {
				if !a.delta {
					return &feed.Error{File: file, Line: r.Line, Field: "person_id", Msg: "no such person in this batch"}
				}
				if _, ok := missing[pid]; !ok {
					missing[pid] = r.Line
				}
			}
		}
		return a.genericRow(w, rt, r, "")
	})
	if err != nil || len(missing) == 0 {
		return err
	}
	rows, err := a.tx.Query(a.ctx, `SELECT person_id FROM person WHERE lg_code = $1 AND person_id = ANY($2)`, a.lg, mapKeys(missing))
	if err != nil {
		return err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range found {
		delete(missing, id)
	}
	for _, line := range sortedLines(missing) {
		return &feed.Error{File: file, Line: line, Field: "person_id", Msg: "no such person in this batch nor in the registry"}
	}
	return nil
}
