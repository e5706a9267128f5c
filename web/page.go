package web

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// What every translated page (web/status, web/verify) shares: a catalogue
// of messages per language, the page's lookups in it, the language
// switcher and the head of the page (templates/page.html). Each site keeps
// its own messages, keys and body.

//go:embed templates/page.html
var pageFiles embed.FS

// PageTemplate parses a site's page template (file in site) with the
// shared head: the site's template calls {{template "page-head" .}} and
// may define "title" (the head's <title>; .T "title" when it does not).
func PageTemplate(site fs.FS, file string) *template.Template {
	t := template.Must(template.ParseFS(pageFiles, "templates/page.html"))
	template.Must(t.ParseFS(site, file))
	return t.Lookup(path.Base(file))
}

// Catalogue maps a language to its messages, key -> text.
type Catalogue map[string]map[string]string

// LoadCatalogue reads messages/<lang>.json of files. A broken file is a
// programming error, found by any test of the site, hence the panic.
func LoadCatalogue(files fs.FS) Catalogue {
	c := Catalogue{}
	err := fs.WalkDir(files, "messages", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		var one map[string]string
		if err := json.Unmarshal(b, &one); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		c[strings.TrimSuffix(path.Base(p), ".json")] = one
		return nil
	})
	if err != nil {
		panic(err)
	}
	return c
}

// Complete reports every language of Languages lacking one of keys, every
// message not among keys, and every file for another language; site names
// the catalogue in the error.
func (c Catalogue) Complete(site string, keys []string) error {
	var problems []string
	for _, lang := range Languages {
		msgs, ok := c[lang]
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
	for lang := range c {
		if !slices.Contains(Languages, lang) {
			problems = append(problems, "messages/"+lang+".json: not a language of web.Languages")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%s messages:\n  %s", site, strings.Join(problems, "\n  "))
	}
	return nil
}

// Copy is a deep copy, for tests that damage one.
func (c Catalogue) Copy() Catalogue {
	d := Catalogue{}
	for lang, msgs := range c {
		d[lang] = map[string]string{}
		for k, v := range msgs {
			d[lang][k] = v
		}
	}
	return d
}

// Page is the translated part of a page: embedded in a site's page type,
// it gives the templates .Lang, .T and .Languages.
type Page struct {
	Lang string
	path string // the site's, for the switcher's links
	cat  Catalogue
}

// NewPage is a page of the site at sitePath in lang.
func NewPage(c Catalogue, sitePath, lang string) Page {
	return Page{Lang: lang, path: sitePath, cat: c}
}

// T returns the message key in the page's language; an unknown key stops
// the template (the tests render every state in every language).
func (p *Page) T(key string) (string, error) {
	m, ok := p.cat[p.Lang][key]
	if !ok {
		return "", fmt.Errorf("no message %q in %s", key, p.Lang)
	}
	return m, nil
}

// Has reports whether the page's language has the message key.
func (p *Page) Has(key string) bool {
	_, ok := p.cat[p.Lang][key]
	return ok
}

// Msg is T for keys in Go code: constants, checked by the tests.
func (p *Page) Msg(key string) string {
	m, err := p.T(key)
	if err != nil {
		panic(err)
	}
	return m
}

// Msgf fills the {name} placeholders of a message from name/value pairs.
func (p *Page) Msgf(key string, kv ...string) string {
	m := p.Msg(key)
	for i := 0; i+1 < len(kv); i += 2 {
		m = strings.ReplaceAll(m, "{"+kv[i]+"}", kv[i+1])
	}
	return m
}

// LanguageLink is one entry of the language switcher.
type LanguageLink struct {
	Tag, Name, Href string
	Current         bool
}

// Languages is the language switcher: each language named in itself.
func (p *Page) Languages() []LanguageLink {
	var ls []LanguageLink
	for _, l := range Languages {
		ls = append(ls, LanguageLink{Tag: l, Name: p.cat[l]["lang.name"], Href: p.path + "?lang=" + l, Current: l == p.Lang})
	}
	return ls
}

// Limiter counts tries (registry.RateLimiter in production, shared by every
// node through PostgreSQL).
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, time.Duration, error)
}

// Limit is at most Tries per Window.
type Limit struct {
	Tries  int
	Window time.Duration
}

// OrDefault is l, or def when l is zero; an error naming the option
// (site: name) when l is set but allows nothing or counts under a second.
func (l Limit) OrDefault(site, name string, def Limit) (Limit, error) {
	switch {
	case l == Limit{}:
		return def, nil
	case l.Tries < 1 || l.Window < time.Second:
		return l, fmt.Errorf("%s: %s: want at least 1 try per at least 1s, got %d per %s", site, name, l.Tries, l.Window)
	}
	return l, nil
}

// Option is a required option of a site, and whether it is set.
type Option struct {
	Name string
	Set  bool
}

// Required is an error naming every option not set, or nil.
func Required(site string, opts []Option) error {
	var missing []string
	for _, o := range opts {
		if !o.Set {
			missing = append(missing, o.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %s required", site, strings.Join(missing, ", "))
	}
	return nil
}
