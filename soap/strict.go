package soap

import (
	"bytes"
	"encoding"
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// shape is what the schema allows inside one element, read from the Go type
// the element is decoded into (a generated type, or requestHeader): its
// child elements by local name, all in TargetNS (the schema's
// elementFormDefault is qualified). A value (string, number, base64,
// xsd:dateTime) has no children map: text only.
//
// encoding/xml ignores what a type does not declare, so without this check
// a misspelt option (includeRelationShip) would simply be absent and the
// request answered as if the option had not been asked for.
type shape struct {
	children map[string]child // nil: a value
}

type child struct {
	shape *shape
	list  bool // maxOccurs > 1: may repeat
}

var (
	xmlUnmarshaler  = reflect.TypeFor[xml.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// shapeOf reads the shape of a decoding target. It panics on a struct
// feature it does not model (attributes, chardata, innerxml, embedding):
// a regenerated type using one must be taught here, not silently accepted.
func shapeOf(t reflect.Type) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(xmlUnmarshaler) ||
		reflect.PointerTo(t).Implements(textUnmarshaler) {
		return &shape{}
	}
	sh := &shape{children: map[string]child{}}
	for f := range t.Fields() {
		if f.Name == "XMLName" || !f.IsExported() {
			continue
		}
		name, flags, _ := strings.Cut(f.Tag.Get("xml"), ",")
		if name == "-" {
			continue
		}
		for flag := range strings.SplitSeq(flags, ",") {
			if flag != "" && flag != "omitempty" {
				panic(fmt.Sprintf("soap: %s.%s: xml flag %q is not modelled by the strict reader", t, f.Name, flag))
			}
		}
		if f.Anonymous || strings.ContainsAny(name, " >") {
			panic(fmt.Sprintf("soap: %s.%s: field form not modelled by the strict reader", t, f.Name))
		}
		if name == "" {
			name = f.Name
		}
		ft, list := f.Type, false
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 { // []byte is one base64 value
			ft, list = ft.Elem(), true
		}
		sh.children[name] = child{shape: shapeOf(ft), list: list}
	}
	return sh
}

// strictDecode reads the element begun by start (already read from d) to
// its end, refusing anything its shape does not declare: an unknown or
// foreign-namespace element, a single-valued element repeated, an element
// or text where there should be none, an attribute other than a namespace
// declaration (or, with soapAttrs, SOAP's own attributes of a header
// block). Only then is the element decoded into v, from the tokens read.
// The error names the element by its path, for the log; the wire says only
// MalformedRequest.
func strictDecode(d *xml.Decoder, start xml.StartElement, sh *shape, v any, soapAttrs bool) error {
	path := truncate(start.Name.Local)
	if err := checkAttrs(start, path, soapAttrs); err != nil {
		return err
	}
	// Attributes are dropped from the recorded tokens: none is decoded, and
	// without namespace declarations the second decoder translates nothing
	// (names are already resolved).
	toks := []xml.Token{xml.StartElement{Name: start.Name}}
	type frame struct {
		sh   *shape
		path string
		seen map[string]bool
	}
	stack := []frame{{sh, path, map[string]bool{}}}
	for len(stack) > 0 {
		tok, err := d.Token()
		if err != nil {
			return malformed("XML: %s", describe(err))
		}
		top := &stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			p := top.path + "/" + truncate(t.Name.Local)
			if top.sh.children == nil {
				return malformed("element %s inside a value", p)
			}
			c, ok := top.sh.children[t.Name.Local]
			switch {
			case t.Name.Space != TargetNS:
				return malformed("element %s in namespace %q, not the interface's", p, truncate(t.Name.Space))
			case !ok:
				return malformed("unknown element %s", p)
			case top.seen[t.Name.Local] && !c.list:
				return malformed("element %s repeated", p)
			}
			top.seen[t.Name.Local] = true
			if err := checkAttrs(t, p, false); err != nil {
				return err
			}
			stack = append(stack, frame{c.shape, p, map[string]bool{}})
			toks = append(toks, xml.StartElement{Name: t.Name})
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			toks = append(toks, t)
		case xml.CharData:
			if top.sh.children != nil && len(bytes.TrimSpace(t)) > 0 {
				return malformed("text in %s", top.path)
			}
			toks = append(toks, t.Copy())
		}
		// Comments carry nothing; processing instructions and
		// directives were refused by checkLexical.
	}
	if err := xml.NewTokenDecoder(&tokenList{toks: toks}).Decode(v); err != nil {
		return malformed("%s: %s", path, describe(err))
	}
	return nil
}

// checkAttrs allows namespace declarations only and, on a SOAP header
// block, the attributes SOAP 1.1 defines for it. The interface declares no
// attribute.
func checkAttrs(t xml.StartElement, path string, soapAttrs bool) error {
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "xmlns", a.Name.Space == "" && a.Name.Local == "xmlns":
		case soapAttrs && a.Name.Space == EnvelopeNS &&
			(a.Name.Local == "mustUnderstand" || a.Name.Local == "actor" || a.Name.Local == "encodingStyle"):
		default:
			return malformed("unexpected attribute %s on %s", truncate(a.Name.Local), path)
		}
	}
	return nil
}

// tokenList replays recorded tokens to a decoder.
type tokenList struct{ toks []xml.Token }

func (l *tokenList) Token() (xml.Token, error) {
	if len(l.toks) == 0 {
		return nil, io.EOF
	}
	t := l.toks[0]
	l.toks = l.toks[1:]
	return t, nil
}
