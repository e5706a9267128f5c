package verify

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

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/render/backside"
	"github.com/lgwan/issuance/web"
)

//go:embed messages/*.json templates/page.html
var files embed.FS

var pageTemplate = template.Must(template.ParseFS(files, "templates/page.html"))

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
		return fmt.Errorf("verification site messages:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// page is what the template renders.
type page struct {
	Lang   string
	Result *backside.Result // a scan that verified
	Front  template.URL     // its recovered front, inline
	Facts  []fact           // its facts, by key
	Reason string           // why a scan did not verify
	Notice *notice          // about the request: 400, 413, 429, 503 …
	maxMiB int64            // the upload bound, for the hint
	msgs   map[string]string
}

type fact struct{ Key, Value string }

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

// ScanHint is the upload field's hint, with the upload bound.
func (p *page) ScanHint() string {
	return p.tf("field.scan.hint", "mib", strconv.FormatInt(p.maxMiB, 10))
}

// TypeName is the certificate type's name in the page's language, or its
// code for a type this server does not know (a newer issuer's).
func (p *page) TypeName(code string) string {
	if m, ok := p.msgs["type."+code]; ok {
		return m
	}
	return code
}

// Languages is the language switcher: each language named in itself.
func (p *page) Languages() []language {
	var ls []language
	for _, l := range web.Languages {
		ls = append(ls, language{Tag: l, Name: catalogue[l]["lang.name"], Current: l == p.Lang})
	}
	return ls
}
