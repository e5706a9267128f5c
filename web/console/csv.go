package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/lgwan/issuance/registry"
)

// The console's CSV downloads (issuances.csv, recall.csv, stats.csv) share
// the bom parameter and the writer; the two record CSVs share the rest.

// csvBOM reads ?bom=: with a byte-order mark (the default: Excel, which the
// municipalities open CSV with, needs it to read UTF-8) or without (bom=0).
func csvBOM(q url.Values) (bool, error) {
	switch bom := q.Get("bom"); bom {
	case "", "1":
		return true, nil
	case "0":
		return false, nil
	default:
		return false, fmt.Errorf("bom %q: 1（BOM 付き、既定）か 0（BOM なし）を指定してください", bom)
	}
}

// writeCSV answers with the rows as a CSV file named name (RFC 4180, CRLF),
// written into a buffer first so that a failure is a clean 500.
func writeCSV(w http.ResponseWriter, name string, withBOM bool, header []string, rows [][]string) error {
	var b bytes.Buffer
	if withBOM {
		b.WriteString("\uFEFF")
	}
	c := csv.NewWriter(&b)
	c.UseCRLF = true
	c.Write(header)
	c.WriteAll(rows) // flushes
	if err := c.Error(); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, err := w.Write(b.Bytes())
	return err
}

// recordsCSVSpec is what differs between the record CSVs: their form F and
// query Q.
type recordsCSVSpec[F interface{ values() url.Values }, Q any] struct {
	page    string   // for the access log
	params  []string // allowed besides bom
	parse   func(url.Values, *registry.ConsoleSession) (F, Q, error)
	fetch   func(context.Context, Q, *registry.Viewer) ([]registry.IssuanceRecord, bool, error) // all, up to registry.CSVLimit
	tooMany string                                                                              // the error past registry.CSVLimit
	what    string                                                                              // for the internal-error log
	header  []string
	rows    func(f F, recs []registry.IssuanceRecord, personal bool) [][]string
	name    func(F) string
}

// recordsCSV answers a record CSV: strict parameters, the clerk's
// municipalities only, the personal columns (and an access-log entry) for
// the roles that see personal data.
func recordsCSV[F interface{ values() url.Values }, Q any](h *handler, w http.ResponseWriter, r *http.Request,
	sess *registry.ConsoleSession, s recordsCSVSpec[F, Q]) {
	q, err := logParams(r, append(slices.Clone(s.params), "bom")...)
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	withBOM, err := csvBOM(q)
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	f, rq, err := s.parse(q, sess)
	if errors.Is(err, errOtherMunicipality) {
		h.fail(w, r, sess, http.StatusForbidden, err.Error())
		return
	}
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	viewer := h.personalViewer(r, sess, s.page, f.values())
	recs, _, err := s.fetch(r.Context(), rq, viewer)
	if errors.Is(err, registry.ErrTooMany) {
		h.fail(w, r, sess, http.StatusBadRequest, s.tooMany)
		return
	}
	if err != nil {
		h.internal(w, r, sess, s.what, err)
		return
	}
	personal := viewer != nil
	header := s.header
	if personal {
		header = append(slices.Clone(s.header), personalCSVColumns...)
	}
	if err := writeCSV(w, s.name(f), withBOM, header, s.rows(f, recs, personal)); err != nil {
		h.internal(w, r, sess, s.what, err)
	}
}
