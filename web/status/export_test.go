package status

// Message is a message of the catalogue, for tests that read the page as a
// visitor would and compare with what it must say.
func Message(lang, key string) string { return catalogue[lang][key] }

// MessageKeys is every key each language must have.
var MessageKeys = messageKeys

// CheckCatalogue runs the completeness check on a catalogue given as
// language -> key -> message (the real one, or a damaged copy).
func CheckCatalogue(m map[string]map[string]string) error { return complete(m) }

// Catalogue returns a deep copy of the real catalogue.
func Catalogue() map[string]map[string]string { return catalogue.Copy() }

// ParseBirthDate is parseBirthDate.
var ParseBirthDate = parseBirthDate
