package status

import (
	"embed"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/web"
)

//go:embed messages/*.json templates/page.html
var files embed.FS

var pageTemplate = web.PageTemplate(files, "templates/page.html")

// Statuses are every value of data-status: the application states and
// UNKNOWN (no application with that number and birth date).
var Statuses = []string{string(issuance.ApplicationReceived), string(issuance.ApplicationApproved),
	string(issuance.ApplicationRejected), string(issuance.ApplicationWithdrawn), "UNKNOWN"}

// uiKeys are the messages the page itself uses; messageKeys adds one label
// and one explanation per status and one text per rejection reason.
var uiKeys = []string{
	"lang.name", "title", "skip", "languages", "intro",
	"field.applicationNumber", "field.applicationNumber.hint", "field.birthDate", "field.birthDate.hint",
	"submit", "again",
	"error.summary", "error.titlePrefix", "error.unexpected", "error.repeated",
	"error.applicationNumber.missing", "error.birthDate.missing", "error.birthDate.format",
	"error.request.title", "error.request.text",
	"result.title", "result.number", "result.status", "result.receivedAt", "result.expectedBy",
	"result.decidedAt", "result.reason",
	"tooMany.title", "tooMany.text", "unavailable.title", "unavailable.text",
	"date.format", "month.1", "month.2", "month.3", "month.4", "month.5", "month.6",
	"month.7", "month.8", "month.9", "month.10", "month.11", "month.12",
}

// messageKeys is every key each language must have, no more, no less.
func messageKeys() []string {
	keys := slices.Clone(uiKeys)
	for _, s := range Statuses {
		keys = append(keys, "status."+s, "status."+s+".help")
	}
	for _, r := range issuance.RejectReasons {
		keys = append(keys, "reason."+string(r))
	}
	return keys
}

var catalogue = web.LoadCatalogue(files)

// complete checks the catalogue against messageKeys.
func complete(c web.Catalogue) error { return c.Complete("status page", messageKeys()) }

// page is what the template renders.
type page struct {
	web.Page
	Number    string // as typed, shown back in the form
	BirthDate string // as typed, shown back only when the form has errors
	Errors    []fieldError
	Result    *result
	Notice    *notice // 429, 503, or a request the page cannot read
}

type fieldError struct {
	Field   string // the input's id, "" for an error of the whole form
	Message string
}

type result struct {
	Status     string
	Number     string // formatted; empty for UNKNOWN
	Received   time.Time
	ExpectedBy time.Time
	Decided    time.Time
	Reason     string
}

type notice struct{ Title, Text string }

func newPage(lang string) *page { return &page{Page: web.NewPage(catalogue, Path, lang)} }

// ErrorFor is the message of the field's error, or "".
func (p *page) ErrorFor(field string) string {
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

// Date formats a day in the page's language: 和暦 in Japanese (as the
// municipality's own letters do), the language's usual order and month
// names elsewhere. Instants are read in Asia/Tokyo, the municipality's day.
func (p *page) Date(t time.Time) string {
	t = t.In(issuance.Tokyo)
	return strings.NewReplacer(
		"{wareki}", issuance.Wareki(t),
		"{year}", strconv.Itoa(t.Year()),
		"{month}", p.Msg("month."+strconv.Itoa(int(t.Month()))),
		"{day}", strconv.Itoa(t.Day()),
	).Replace(p.Msg("date.format"))
}

// ISO is a day for the datetime attribute of <time>.
func (p *page) ISO(t time.Time) string { return t.In(issuance.Tokyo).Format(time.DateOnly) }
