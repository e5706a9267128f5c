package render

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"io"
	"regexp"
	"strconv"
	"testing"
	"unicode/utf16"
)

// A reader of what a verifier sees in the PDF: each page's text objects in
// order, decoded through the fonts' ToUnicode CMaps, and the embedded font
// programs. It reads only the PDF's bytes (nothing of the renderer), so the
// keiin and IVS tests check the document as delivered.

type pdfObject struct {
	dict   string
	stream []byte // decoded
}

var (
	objRe    = regexp.MustCompile(`(?s)(\d+) 0 obj\n(.*?)\nendobj\n`)
	refRe    = regexp.MustCompile(`(\d+) 0 R`)
	lengthRe = regexp.MustCompile(`/Length (\d+)`)
)

func readObjects(t *testing.T, pdf []byte) map[int]pdfObject {
	t.Helper()
	objs := map[int]pdfObject{}
	for _, m := range objRe.FindAllSubmatchIndex(pdf, -1) {
		n, _ := strconv.Atoi(string(pdf[m[2]:m[3]]))
		body := pdf[m[4]:m[5]]
		o := pdfObject{dict: string(body)}
		if i := bytes.Index(body, []byte(">>\nstream\n")); i >= 0 {
			o.dict = string(body[:i+2])
			l, _ := strconv.Atoi(lengthRe.FindStringSubmatch(o.dict)[1])
			data := body[i+len(">>\nstream\n"):][:l]
			if bytes.Contains([]byte(o.dict), []byte("/FlateDecode")) {
				zr, err := zlib.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatalf("object %d: %v", n, err)
				}
				if data, err = io.ReadAll(zr); err != nil {
					t.Fatalf("object %d: %v", n, err)
				}
			}
			o.stream = data
		}
		objs[n] = o
	}
	return objs
}

func ref(t *testing.T, dict, key string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(key) + `\s*\[?(\d+) 0 R`).FindStringSubmatch(dict)
	if m == nil {
		t.Fatalf("no %s in %s", key, dict)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// pdfText is one text object: the font resource, its glyph numbers and
// their text through ToUnicode.
type pdfText struct {
	font string
	cids []uint16
	text string
}

type pdfPage struct {
	texts  []pdfText
	images []string // XObject names drawn
}

var (
	textRe  = regexp.MustCompile(`BT (/F\d+) [\d.]+ Tf [-\d. ]+ Tm <([0-9A-Fa-f]*)> Tj ET`)
	imageRe = regexp.MustCompile(`/(\w+) Do`)
	bfRe    = regexp.MustCompile(`<([0-9A-F]{4})> <([0-9A-F]+)>`)
)

// readPages returns the pages of pdf in order, with the fonts' ToUnicode
// maps and font programs by resource name.
func readPages(t *testing.T, pdf []byte) (pages []pdfPage, fontFiles map[string][]byte) {
	t.Helper()
	objs := readObjects(t, pdf)
	trailer := pdf[bytes.LastIndex(pdf, []byte("trailer")):]
	root := objs[ref(t, string(trailer), "/Root")]
	kids := objs[ref(t, root.dict, "/Pages")].dict
	kids = kids[bytes.IndexByte([]byte(kids), '['):]
	fontFiles = map[string][]byte{}
	for _, k := range refRe.FindAllStringSubmatch(kids, -1) {
		n, _ := strconv.Atoi(k[1])
		pg := objs[n].dict
		var res string
		if regexp.MustCompile(`/Resources \d+ 0 R`).MatchString(pg) {
			res = objs[ref(t, pg, "/Resources")].dict
		} else {
			res = pg
		}
		toUni := map[string]map[uint16]string{}
		for _, m := range regexp.MustCompile(`/(F\d+) (\d+) 0 R`).FindAllStringSubmatch(res, -1) {
			fn, _ := strconv.Atoi(m[2])
			type0 := objs[fn].dict
			cmap := map[uint16]string{}
			for _, bf := range bfRe.FindAllStringSubmatch(string(objs[ref(t, type0, "/ToUnicode")].stream), -1) {
				cid, _ := strconv.ParseUint(bf[1], 16, 16)
				raw, _ := hex.DecodeString(bf[2])
				u := make([]uint16, len(raw)/2)
				for i := range u {
					u[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
				}
				cmap[uint16(cid)] = string(utf16.Decode(u))
			}
			toUni["/"+m[1]] = cmap
			desc := objs[ref(t, objs[ref(t, type0, "/DescendantFonts")].dict, "/FontDescriptor")].dict
			fontFiles["/"+m[1]] = objs[ref(t, desc, "/FontFile2")].stream
		}
		content := objs[ref(t, pg, "/Contents")].stream
		var p pdfPage
		for _, m := range textRe.FindAllStringSubmatch(string(content), -1) {
			raw, _ := hex.DecodeString(m[2])
			tx := pdfText{font: m[1]}
			for i := 0; i+1 < len(raw); i += 2 {
				cid := uint16(raw[i])<<8 | uint16(raw[i+1])
				tx.cids = append(tx.cids, cid)
				s, ok := toUni[m[1]][cid]
				if !ok {
					t.Fatalf("glyph %d of %s has no ToUnicode entry", cid, m[1])
				}
				tx.text += s
			}
			p.texts = append(p.texts, tx)
		}
		for _, m := range imageRe.FindAllStringSubmatch(string(content), -1) {
			p.images = append(p.images, m[1])
		}
		pages = append(pages, p)
	}
	return pages, fontFiles
}
