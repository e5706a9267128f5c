package render

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lgwan/issuance/issuance"
)

// Nothing is ever drawn outside the printable body (the footer and the
// 電子契印 excepted, which have their own place), whatever the number of
// persons, events or the length of the labels: text that does not fit has
// wrapped or moved to the next page, never run off the paper.
func TestLayoutStaysInsideThePage(t *testing.T) {
	r, seal := setup(t)
	var docs []*issuance.Document
	for _, n := range []int{1, 2, 5, 8, 9, 10, 11, 17, 25} {
		for _, lang := range []string{"", "es", "ko"} {
			d := testDoc(seal, household(n)...)
			d.Options.IncludeRelationship = n%2 == 0
			d.Language = lang
			docs = append(docs, d)
		}
	}
	for _, events := range []int{0, 5, 12, 25, 40} {
		d := kosekiDoc(seal, issuance.KosekiZenbu, "戸籍全部事項証明書")
		for i := range events {
			m := &d.Koseki.Members[i%3]
			m.Events = append(m.Events, issuance.KosekiEvent{Kind: "記録", Date: day(2000, 1, 1),
				Fields: []issuance.Field{{Label: "事項", Value: strings.Repeat("長い", i)}}})
		}
		docs = append(docs, d)
	}
	long := fullPerson()
	long.Address = strings.Repeat("東京都千代田区千代田一丁目一番一号", 12)
	long.GivenName = strings.Repeat("寿限無", 30)
	docs = append(docs, testDoc(seal, long), inkanDoc(seal), taxDoc(seal, issuance.TaxAssessment, "課税証明書"))
	for i, d := range docs {
		pages, err := r.layout(d, mustPrepare(t, impressionPNG()))
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		for n, p := range pages {
			body := p.ops[:len(p.ops)-4] // then the page number and the 電子契印 box
			for _, o := range body {
				x0, y0, x1, y1 := o.x, o.y, o.x+o.w, o.y+o.h
				if o.kind == opText {
					x1 = o.x + r.fonts[o.font].width(o.gids, o.h)
					y0, y1 = o.y-0.88*o.h, o.y+0.12*o.h
				}
				if x0 < marginX-1 || x1 > pageW-marginX+1 || y0 < marginTop-1 || y1 > pageH-marginBottom+1 {
					t.Errorf("document %d (%s %q) page %d: %s at (%.0f,%.0f)-(%.0f,%.0f) outside the body",
						i, d.Type, d.Language, n+1, describeOp(o), x0, y0, x1, y1)
				}
			}
		}
	}
}

func describeOp(o op) string {
	if o.kind == opText {
		return fmt.Sprintf("text %q", o.s)
	}
	return fmt.Sprintf("op %d", o.kind)
}
