package verify

import (
	"net/http"

	"github.com/lgwan/issuance/web"
)

// Message is a message of the catalogue, for tests that read the page as a
// visitor would.
func Message(lang, key string) string { return catalogue[lang][key] }

// MessageKeys is every key each language must have.
var MessageKeys = messageKeys

// CheckCatalogue runs the completeness check on a catalogue given as
// language -> key -> message (the real one, or a damaged copy).
func CheckCatalogue(m map[string]map[string]string) error { return complete(m) }

// Catalogue returns a deep copy of the real catalogue.
func Catalogue() map[string]map[string]string { return catalogue.Copy() }

// NewWithTurns is New, also returning the node's turns: a test takes them
// all to see an upload find none.
func NewWithTurns(o Options) (http.Handler, chan struct{}, error) {
	h, err := newHandler(o)
	if err != nil {
		return nil, nil, err
	}
	return web.Secure(h), h.sem, nil
}
