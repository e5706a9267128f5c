package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// Recall (/console/recall and its CSV): every certificate built from one
// version of one domain's data of a municipality that may be in someone's
// hands (ISSUED or UNCONFIRMED), so that when a batch turns out wrong the
// municipality can reach those who received certificates built from it.

var recallDomainNames = map[issuance.DataDomain]string{
	issuance.DomainResident: "住民記録", issuance.DomainSeal: "印鑑登録", issuance.DomainTax: "税", issuance.DomainKoseki: "戸籍",
}

type recallForm struct {
	LG, Domain, Version string
}

func (f recallForm) values() url.Values {
	return url.Values{"lg": {f.LG}, "domain": {f.Domain}, "version": {f.Version}}
}

// recallVersion is a domain's applied version, shown beside the form.
type recallVersion struct {
	LG, Domain string
	Seq        int64
	AsOf       string
}

type recallPage struct {
	Form     recallForm
	LGs      []logChoice
	Domains  []logChoice
	Current  []recallVersion
	Rows     []recordView
	Searched bool
	More     bool
	Limit    int
	Personal bool
	CSV      string
}

// parseRecall reads the recall's parameters. The municipality may be left
// out by a clerk of one municipality only: versions are per municipality.
func parseRecall(q url.Values, sess *registry.ConsoleSession) (recallForm, registry.RecallQuery, error) {
	f := recallForm{LG: q.Get("lg"), Domain: q.Get("domain"), Version: q.Get("version")}
	if f.LG == "" && len(sess.Clerk.LGCodes) == 1 {
		f.LG = sess.Clerk.LGCodes[0]
	}
	var rq registry.RecallQuery
	switch {
	case f.LG == "":
		return f, rq, errors.New("lg: 市区町村を選んでください")
	case !may(sess, f.LG):
		return f, rq, errOtherMunicipality
	case !slices.Contains(issuance.Domains, issuance.DataDomain(f.Domain)):
		return f, rq, fmt.Errorf("domain %q: resident, seal, tax, koseki のいずれかを指定してください", f.Domain)
	}
	v, err := strconv.ParseInt(f.Version, 10, 64)
	if err != nil || v <= 0 {
		return f, rq, fmt.Errorf("version %q: 版（1 以上の整数）を指定してください", f.Version)
	}
	f.Version = strconv.FormatInt(v, 10)
	return f, registry.RecallQuery{LGCode: f.LG, Domain: issuance.DataDomain(f.Domain), Version: v}, nil
}

func (h *handler) recallPage(r *http.Request, sess *registry.ConsoleSession, f recallForm) (recallPage, error) {
	p := recallPage{Form: f, Personal: seesPersonal(sess), Limit: registry.RecallPageLimit}
	for _, lg := range sess.Clerk.LGCodes {
		p.LGs = append(p.LGs, logChoice{lg, page{Munis: h.o.Municipalities}.Muni(lg)})
		vs, err := h.o.Store.DataVersions(r.Context(), lg)
		if err != nil {
			return p, err
		}
		for _, d := range issuance.Domains {
			if i := slices.IndexFunc(vs, func(v issuance.DataVersion) bool { return v.Domain == d }); i >= 0 {
				p.Current = append(p.Current, recallVersion{LG: lg, Domain: string(d), Seq: vs[i].Seq,
					AsOf: vs[i].AsOf.In(issuance.Tokyo).Format("2006-01-02 15:04")})
			}
		}
	}
	for _, d := range issuance.Domains {
		p.Domains = append(p.Domains, logChoice{string(d), recallDomainNames[d] + "（" + string(d) + "）"})
	}
	return p, nil
}

func (h *handler) recall(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	title := "リコール（版ごとの交付）"
	q, err := logParams(r, "lg", "domain", "version")
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	f := recallForm{LG: q.Get("lg"), Domain: q.Get("domain"), Version: q.Get("version")}
	empty := len(q) == 0
	var rq registry.RecallQuery
	if !empty {
		f, rq, err = parseRecall(q, sess)
	}
	data, derr := h.recallPage(r, sess, f)
	if derr != nil {
		h.internal(w, r, sess, "data versions", derr)
		return
	}
	switch {
	case errors.Is(err, errOtherMunicipality):
		h.fail(w, r, sess, http.StatusForbidden, err.Error())
		return
	case err != nil:
		h.render(w, http.StatusBadRequest, "recall", page{Title: title, Session: sess, Error: err.Error(), Data: data})
		return
	case empty:
		h.render(w, http.StatusOK, "recall", page{Title: title, Session: sess, Data: data})
		return
	}
	rq.Viewer = h.personalViewer(r, sess, "recall", f.values())
	recs, more, err := h.o.Store.Recall(r.Context(), rq)
	if err != nil {
		h.internal(w, r, sess, "recall", err)
		return
	}
	data.Rows, data.More, data.Searched = recordViews(recs), more, true
	data.CSV = "/console/recall.csv?" + f.values().Encode()
	h.render(w, http.StatusOK, "recall", page{Title: title, Session: sess, Data: data})
}

var recallHeader = []string{"issuanceId", "lgCode", "type", "terminal", "status", "fee", "copies", "reservedAt", "confirmedAt",
	"domain", "version"}

func (h *handler) recallCSV(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	recordsCSV(h, w, r, sess, recordsCSVSpec[recallForm, registry.RecallQuery]{
		page:   "recall.csv",
		params: []string{"lg", "domain", "version"},
		parse:  parseRecall,
		fetch: func(ctx context.Context, rq registry.RecallQuery, v *registry.Viewer) ([]registry.IssuanceRecord, bool, error) {
			rq.Limit, rq.Whole, rq.Viewer = registry.CSVLimit, true, v
			return h.o.Store.Recall(ctx, rq)
		},
		tooMany: fmt.Sprintf("%d 件を超えます。", registry.CSVLimit),
		what:    "recall CSV",
		header:  recallHeader,
		rows: func(f recallForm, recs []registry.IssuanceRecord, personal bool) [][]string {
			rows := make([][]string, 0, len(recs))
			for _, rec := range recs {
				row := append(logCSVRow(rec, false), f.Domain, f.Version)
				if personal {
					row = append(row, rec.Requester.ID, rec.Requester.Name, subjectList(rec.Subjects))
				}
				rows = append(rows, row)
			}
			return rows
		},
		name: func(f recallForm) string { return fmt.Sprintf("recall-%s-%s-%s.csv", f.LG, f.Domain, f.Version) },
	})
}
