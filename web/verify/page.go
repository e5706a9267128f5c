package verify

import (
	"embed"
	"html/template"
	"slices"
	"strconv"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/render/backside"
	"github.com/lgwan/issuance/web"
)

//go:embed messages/*.json templates/page.html
var files embed.FS

var pageTemplate = web.PageTemplate(files, "templates/page.html")

// uiKeys are the messages the page itself uses; messageKeys adds one text
// per reason a scan does not verify and one name per certificate type.
var uiKeys = []string{
	"lang.name", "title", "skip", "languages", "intro", "privacy",
	"field.scan", "field.scan.hint", "submit", "again",
	"result.valid.title", "result.valid.text", "result.front", "result.front.alt",
	"result.documentId", "result.lgCode", "result.type", "result.issuedOn",
	"result.invalid.title", "result.invalid.text",
	"error.request.title", "error.form", "error.unexpected", "error.repeated", "error.noFile", "error.tooBig",
	"tooMany.title", "tooMany.text", "busy.title", "busy.text", "unavailable.title", "unavailable.text",
}

// Reasons are every value of data-reason: why a scan does not verify.
func Reasons() []string {
	var rs []string
	for _, r := range reasons {
		rs = append(rs, r.key)
	}
	return append(rs, "other")
}

// messageKeys is every key each language must have, no more, no less.
func messageKeys() []string {
	keys := slices.Clone(uiKeys)
	for _, r := range Reasons() {
		keys = append(keys, "reason."+r)
	}
	for t := range issuance.Issuable {
		keys = append(keys, "type."+string(t))
	}
	slices.Sort(keys)
	return keys
}

var catalogue = web.LoadCatalogue(files)

// complete checks the catalogue against messageKeys.
func complete(c web.Catalogue) error { return c.Complete("verification site", messageKeys()) }

// page is what the template renders.
type page struct {
	web.Page
	Result *backside.Result // a scan that verified
	Front  template.URL     // its recovered front, inline
	Facts  []fact           // its facts, by key
	Reason string           // why a scan did not verify
	Notice *notice          // about the request: 400, 413, 429, 503 …
	maxMiB int64            // the upload bound, for the hint
}

type fact struct{ Key, Value string }

type notice struct{ Title, Text string }

func newPage(lang string) *page { return &page{Page: web.NewPage(catalogue, Path, lang)} }

// ScanHint is the upload field's hint, with the upload bound.
func (p *page) ScanHint() string {
	return p.Msgf("field.scan.hint", "mib", strconv.FormatInt(p.maxMiB, 10))
}

// TypeName is the certificate type's name in the page's language, or its
// code for a type this server does not know (a newer issuer's).
func (p *page) TypeName(code string) string {
	if p.Has("type." + code) {
		return p.Msg("type." + code)
	}
	return code
}
