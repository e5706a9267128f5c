package status

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/web"
)

//go:embed messages/*.json templates/page.html
var files embed.FS

var pageTemplate = template.Must(template.ParseFS(files, "templates/page.html"))

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

// messages maps a language to its messages.
type messages map[string]map[string]string

var catalogue = loadCatalogue()

// loadCatalogue reads messages/<lang>.json for every language. A broken
// file is a programming error, found by any test of this package.
func loadCatalogue() messages {
	m := messages{}
	err := fs.WalkDir(files, "messages", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		var one map[string]string
		if err := json.Unmarshal(b, &one); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		m[strings.TrimSuffix(path.Base(p), ".json")] = one
		return nil
	})
	if err != nil {
		panic(err)
	}
	return m
}

// complete reports every language of web.Languages lacking a message, every
// message no page uses, and every file for another language.
func (m messages) complete() error {
	var problems []string
	keys := messageKeys()
	for _, lang := range web.Languages {
		msgs, ok := m[lang]
		if !ok {
			problems = append(problems, "no messages/"+lang+".json")
			continue
		}
		for _, k := range keys {
			if strings.TrimSpace(msgs[k]) == "" {
				problems = append(problems, lang+": missing "+k)
			}
		}
		for k := range msgs {
			if !slices.Contains(keys, k) {
				problems = append(problems, lang+": unknown key "+k)
			}
		}
	}
	for lang := range m {
		if !slices.Contains(web.Languages, lang) {
			problems = append(problems, "messages/"+lang+".json: not a language of web.Languages")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("status page messages:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// page is what the template renders.
type page struct {
	Lang      string
	Number    string // as typed, shown back in the form
	BirthDate string // as typed, shown back only when the form has errors
	Errors    []fieldError
	Result    *result
	Notice    *notice // 429, 503, or a request the page cannot read
	msgs      map[string]string
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

type language struct {
	Tag, Name string
	Current   bool
}

func newPage(lang string) *page { return &page{Lang: lang, msgs: catalogue[lang]} }

// T returns the message key in the page's language; an unknown key stops
// the template (the tests render every state in every language).
func (p *page) T(key string) (string, error) {
	m, ok := p.msgs[key]
	if !ok {
		return "", fmt.Errorf("no message %q in %s", key, p.Lang)
	}
	return m, nil
}

func (p *page) t(key string) string {
	m, err := p.T(key)
	if err != nil {
		panic(err) // keys in Go code are constants, checked by the tests
	}
	return m
}

// tf fills the {name} placeholders of a message from name/value pairs.
func (p *page) tf(key string, kv ...string) string {
	m := p.t(key)
	for i := 0; i+1 < len(kv); i += 2 {
		m = strings.ReplaceAll(m, "{"+kv[i]+"}", kv[i+1])
	}
	return m
}

// Languages is the language switcher: each language named in itself.
func (p *page) Languages() []language {
	var ls []language
	for _, l := range web.Languages {
		ls = append(ls, language{Tag: l, Name: catalogue[l]["lang.name"], Current: l == p.Lang})
	}
	return ls
}

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
		"{month}", p.t("month."+strconv.Itoa(int(t.Month()))),
		"{day}", strconv.Itoa(t.Day()),
	).Replace(p.t("date.format"))
}

// ISO is a day for the datetime attribute of <time>.
func (p *page) ISO(t time.Time) string { return t.In(issuance.Tokyo).Format(time.DateOnly) }
