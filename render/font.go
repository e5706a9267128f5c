package render

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// sfntFont is a source TrueType font, parsed once and then only read, so
// one value serves every concurrent render. It maps characters and
// variation sequences to glyphs, measures them, and builds for each
// document a subset holding only the glyphs it draws: IPAmj明朝 is 46 MB and
// 61,000 glyphs, a certificate uses a few hundred.
type sfntFont struct {
	tables      map[string][]byte
	unitsPerEm  int
	ascent      int // hhea ascender, font units
	descent     int // hhea descender, font units (negative)
	numGlyphs   int
	numHMetrics int
	locaLong    bool
	cmap        []cmapGroup // sorted, non-overlapping
	uvs         []uvsTable  // cmap format 14, sorted by selector
	psName      string
	bbox        [4]int16 // head xMin, yMin, xMax, yMax
}

// cmapGroup maps the runes start..end to consecutive glyphs from gid.
type cmapGroup struct {
	start, end rune
	gid        uint32
}

var be = binary.BigEndian

func parseFont(data []byte) (*sfntFont, error) {
	if len(data) < 12 {
		return nil, errors.New("font too short")
	}
	if v := be.Uint32(data); v != 0x00010000 && v != 0x74727565 { // 'true'
		return nil, fmt.Errorf("not a TrueType (glyf) font: sfnt version %#08x", v)
	}
	n := int(be.Uint16(data[4:]))
	if len(data) < 12+16*n {
		return nil, errors.New("truncated table directory")
	}
	f := &sfntFont{tables: make(map[string][]byte, n)}
	for i := range n {
		e := data[12+16*i:]
		off, length := int64(be.Uint32(e[8:])), int64(be.Uint32(e[12:]))
		if off+length > int64(len(data)) {
			return nil, fmt.Errorf("table %q out of bounds", e[:4])
		}
		f.tables[string(e[:4])] = data[off : off+length : off+length]
	}
	for _, tag := range []string{"head", "hhea", "maxp", "hmtx", "loca", "glyf", "cmap", "name", "OS/2", "post"} {
		if f.tables[tag] == nil {
			return nil, fmt.Errorf("font has no %q table", tag)
		}
	}
	head, hhea, maxp := f.tables["head"], f.tables["hhea"], f.tables["maxp"]
	if len(head) < 54 || len(hhea) < 36 || len(maxp) < 6 || len(f.tables["post"]) < 32 {
		return nil, errors.New("head, hhea, maxp or post table too short")
	}
	f.unitsPerEm = int(be.Uint16(head[18:]))
	for i := range f.bbox {
		f.bbox[i] = int16(be.Uint16(head[36+2*i:]))
	}
	f.locaLong = be.Uint16(head[50:]) == 1
	f.ascent = int(int16(be.Uint16(hhea[4:])))
	f.descent = int(int16(be.Uint16(hhea[6:])))
	f.numHMetrics = int(be.Uint16(hhea[34:]))
	f.numGlyphs = int(be.Uint16(maxp[4:]))
	if f.unitsPerEm == 0 || f.numHMetrics == 0 || f.numHMetrics > f.numGlyphs {
		return nil, errors.New("inconsistent head/hhea/maxp")
	}
	if len(f.tables["hmtx"]) < 4*f.numHMetrics+2*(f.numGlyphs-f.numHMetrics) {
		return nil, errors.New("hmtx table too short")
	}
	locaSize := 2
	if f.locaLong {
		locaSize = 4
	}
	if len(f.tables["loca"]) < locaSize*(f.numGlyphs+1) {
		return nil, errors.New("loca table too short")
	}
	var err error
	if f.cmap, err = parseCmap(f.tables["cmap"]); err != nil {
		return nil, err
	}
	if f.uvs, err = parseCmap14(f.tables["cmap"]); err != nil {
		return nil, err
	}
	f.psName = postScriptName(f.tables["name"])
	return f, nil
}

// parseCmap reads the Unicode full-repertoire subtable (3,10) format 12, or
// failing that the BMP subtable (3,1) format 4.
func parseCmap(t []byte) ([]cmapGroup, error) {
	if len(t) < 4 {
		return nil, errors.New("cmap too short")
	}
	var off4, off12 int
	for i := range int(be.Uint16(t[2:])) {
		r := 4 + 8*i
		if r+8 > len(t) {
			return nil, errors.New("cmap directory truncated")
		}
		pid, eid, off := be.Uint16(t[r:]), be.Uint16(t[r+2:]), int(be.Uint32(t[r+4:]))
		if off+8 > len(t) {
			return nil, errors.New("cmap subtable out of bounds")
		}
		switch {
		case pid == 3 && eid == 10 && be.Uint16(t[off:]) == 12:
			off12 = off
		case pid == 3 && eid == 1 && be.Uint16(t[off:]) == 4:
			off4 = off
		}
	}
	switch {
	case off12 != 0:
		return parseCmap12(t[off12:])
	case off4 != 0:
		return parseCmap4(t[off4:])
	}
	return nil, errors.New("font has no Unicode cmap (3,10 format 12 or 3,1 format 4)")
}

func parseCmap12(t []byte) ([]cmapGroup, error) {
	if len(t) < 16 {
		return nil, errors.New("cmap format 12 truncated")
	}
	n := int(be.Uint32(t[12:]))
	if len(t) < 16+12*n {
		return nil, errors.New("cmap format 12 truncated")
	}
	groups := make([]cmapGroup, n)
	for i := range groups {
		g := t[16+12*i:]
		groups[i] = cmapGroup{rune(be.Uint32(g)), rune(be.Uint32(g[4:])), be.Uint32(g[8:])}
		if groups[i].end < groups[i].start {
			return nil, errors.New("cmap format 12 group reversed")
		}
	}
	return sortedGroups(groups)
}

func parseCmap4(t []byte) ([]cmapGroup, error) {
	if len(t) < 14 {
		return nil, errors.New("cmap format 4 truncated")
	}
	segs := int(be.Uint16(t[6:])) / 2
	if len(t) < 16+8*segs {
		return nil, errors.New("cmap format 4 truncated")
	}
	ends, starts := t[14:], t[16+2*segs:]
	deltas, ranges := t[16+4*segs:], t[16+6*segs:]
	var groups []cmapGroup
	for s := range segs {
		end, start := rune(be.Uint16(ends[2*s:])), rune(be.Uint16(starts[2*s:]))
		delta, ro := be.Uint16(deltas[2*s:]), int(be.Uint16(ranges[2*s:]))
		for r := start; r <= end && r != 0xFFFF; r++ {
			gid := uint16(r) + delta
			if ro != 0 {
				p := 16 + 6*segs + 2*s + ro + 2*int(r-start)
				if p+2 > len(t) {
					return nil, errors.New("cmap format 4 glyph array out of bounds")
				}
				if gid = be.Uint16(t[p:]); gid != 0 {
					gid += delta
				}
			}
			if gid != 0 {
				groups = append(groups, cmapGroup{r, r, uint32(gid)})
			}
		}
	}
	return sortedGroups(groups)
}

func sortedGroups(g []cmapGroup) ([]cmapGroup, error) {
	sort.Slice(g, func(i, j int) bool { return g[i].start < g[j].start })
	for i := 1; i < len(g); i++ {
		if g[i].start <= g[i-1].end {
			return nil, errors.New("cmap groups overlap")
		}
	}
	return g, nil
}

// postScriptName is name ID 6, which becomes the PDF BaseFont after the
// subset tag.
func postScriptName(t []byte) string {
	if len(t) < 6 {
		return "Font"
	}
	count, strOff := int(be.Uint16(t[2:])), int(be.Uint16(t[4:]))
	for i := range count {
		r := 6 + 12*i
		if r+12 > len(t) {
			break
		}
		pid, id := be.Uint16(t[r:]), be.Uint16(t[r+6:])
		length, off := int(be.Uint16(t[r+8:])), strOff+int(be.Uint16(t[r+10:]))
		if id != 6 || off+length > len(t) {
			continue
		}
		s := t[off : off+length]
		if pid == 3 || pid == 0 { // UTF-16BE
			u := make([]uint16, len(s)/2)
			for j := range u {
				u[j] = be.Uint16(s[2*j:])
			}
			return string(utf16.Decode(u))
		}
		return string(s)
	}
	return "Font"
}

// glyph returns the glyph of r, 0 when the font has none.
func (f *sfntFont) glyph(r rune) uint16 {
	i := sort.Search(len(f.cmap), func(i int) bool { return f.cmap[i].end >= r })
	if i == len(f.cmap) || f.cmap[i].start > r {
		return 0
	}
	gid := f.cmap[i].gid + uint32(r-f.cmap[i].start)
	if gid >= uint32(f.numGlyphs) {
		return 0
	}
	return uint16(gid)
}

// uvsTable is one variation selector's records of cmap format 14: the bases
// whose sequence shows the default glyph (ranges), and the bases whose
// sequence shows another glyph (sorted pairs).
type uvsTable struct {
	selector rune
	defaults [][2]rune // inclusive ranges
	special  []uvsMapping
}

type uvsMapping struct {
	base rune
	gid  uint16
}

// parseCmap14 reads the Unicode Variation Sequences subtable (0,5) format
// 14, if the font has one. IPAmj明朝 has about 11,000 sequences, most of the
// Moji_Joho collection: this is how it prints MJ characters that Unicode
// unifies with another.
func parseCmap14(t []byte) ([]uvsTable, error) {
	off := 0
	for i := range int(be.Uint16(t[2:])) {
		r := 4 + 8*i
		if pid, eid := be.Uint16(t[r:]), be.Uint16(t[r+2:]); pid == 0 && eid == 5 {
			off = int(be.Uint32(t[r+4:]))
		}
	}
	if off == 0 {
		return nil, nil
	}
	s := t[off:]
	if len(s) < 10 || be.Uint16(s) != 14 {
		return nil, errors.New("cmap (0,5) is not format 14")
	}
	u24 := func(b []byte) rune { return rune(b[0])<<16 | rune(b[1])<<8 | rune(b[2]) }
	n := int(be.Uint32(s[6:]))
	if len(s) < 10+11*n {
		return nil, errors.New("cmap format 14 truncated")
	}
	tables := make([]uvsTable, n)
	for i := range tables {
		rec := s[10+11*i:]
		u := &tables[i]
		u.selector = u24(rec)
		if d := int(be.Uint32(rec[3:])); d != 0 {
			if d+4 > len(s) || d+4+4*int(be.Uint32(s[d:])) > len(s) {
				return nil, errors.New("cmap format 14 default UVS out of bounds")
			}
			for k := range int(be.Uint32(s[d:])) {
				e := s[d+4+4*k:]
				start := u24(e)
				u.defaults = append(u.defaults, [2]rune{start, start + rune(e[3])})
			}
		}
		if d := int(be.Uint32(rec[7:])); d != 0 {
			if d+4 > len(s) || d+4+5*int(be.Uint32(s[d:])) > len(s) {
				return nil, errors.New("cmap format 14 non-default UVS out of bounds")
			}
			u.special = make([]uvsMapping, be.Uint32(s[d:]))
			for k := range u.special {
				e := s[d+4+5*k:]
				u.special[k] = uvsMapping{u24(e), be.Uint16(e[3:])}
			}
		}
		if !slices.IsSortedFunc(u.special, func(a, b uvsMapping) int { return int(a.base - b.base) }) {
			return nil, errors.New("cmap format 14 mappings not sorted")
		}
	}
	if !slices.IsSortedFunc(tables, func(a, b uvsTable) int { return int(a.selector - b.selector) }) {
		return nil, errors.New("cmap format 14 selectors not sorted")
	}
	return tables, nil
}

// variant returns the glyph of the variation sequence base+selector, 0 when
// the font does not define that sequence. A sequence the font does not list
// is never printed as its base character: for a name, the selector is what
// says which character it is.
func (f *sfntFont) variant(base, selector rune) uint16 {
	i, ok := slices.BinarySearchFunc(f.uvs, selector, func(u uvsTable, s rune) int { return int(u.selector - s) })
	if !ok {
		return 0
	}
	u := &f.uvs[i]
	if j, ok := slices.BinarySearchFunc(u.special, base, func(m uvsMapping, b rune) int { return int(m.base - b) }); ok {
		if g := u.special[j].gid; int(g) < f.numGlyphs {
			return g
		}
		return 0
	}
	for _, r := range u.defaults {
		if base >= r[0] && base <= r[1] {
			return f.glyph(base)
		}
	}
	return 0
}

func isVariationSelector(c rune) bool {
	return (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0100 && c <= 0xE01EF)
}

// nextCluster splits off the first printed unit of s: a character with the
// variation selector that follows it, if any. A line is never broken inside
// a cluster, and each cluster is one glyph.
func nextCluster(s string) (cluster string, base, selector rune, rest string) {
	base, n := utf8.DecodeRuneInString(s)
	if !isVariationSelector(base) {
		if vs, m := utf8.DecodeRuneInString(s[n:]); isVariationSelector(vs) {
			return s[:n+m], base, vs, s[n+m:]
		}
	}
	return s[:n], base, 0, s[n:]
}

// shape appends the glyph of every cluster of s to gids. When a cluster has
// none it returns that cluster and ok false.
func (f *sfntFont) shape(s string, gids []uint16) (_ []uint16, bad string, ok bool) {
	for s != "" {
		cl, base, vs, rest := nextCluster(s)
		var g uint16
		switch {
		case base == utf8.RuneError && len(cl) == 1, base < 0x20, base >= 0x7F && base < 0xA0, isVariationSelector(base):
			// invalid UTF-8, control characters and a selector with no base
		case vs != 0:
			g = f.variant(base, vs)
		default:
			g = f.glyph(base)
		}
		if g == 0 {
			return gids, cl, false
		}
		gids = append(gids, g)
		s = rest
	}
	return gids, "", true
}

// describe names a cluster by its code points, e.g. "U+845B U+E0102".
func describe(cluster string) string {
	var parts []string
	for _, c := range cluster {
		parts = append(parts, fmt.Sprintf("U+%04X", c))
	}
	return strings.Join(parts, " ")
}

// whyMissing says why a cluster returned by shape cannot be printed.
func (f *sfntFont) whyMissing(cluster string) string {
	_, base, vs, _ := nextCluster(cluster)
	switch {
	case base == utf8.RuneError && len(cluster) == 1:
		return "invalid UTF-8"
	case isVariationSelector(base):
		return "variation selector without a base character"
	case base < 0x20 || (base >= 0x7F && base < 0xA0):
		return "control character"
	case vs != 0 && f.glyph(base) != 0:
		return "the font has no glyph for this ideographic variation sequence (its base character alone would be a different character)"
	}
	return "no glyph in the font"
}

// advance returns a glyph's advance width in font units.
func (f *sfntFont) advance(gid uint16) int {
	adv, _ := f.metrics(gid)
	return int(adv)
}

// metrics returns a glyph's advance width and left side bearing.
func (f *sfntFont) metrics(gid uint16) (adv uint16, lsb []byte) {
	hmtx := f.tables["hmtx"]
	g := int(gid)
	if g < f.numHMetrics {
		return be.Uint16(hmtx[4*g:]), hmtx[4*g+2 : 4*g+4]
	}
	p := 4*f.numHMetrics + 2*(g-f.numHMetrics)
	return be.Uint16(hmtx[4*(f.numHMetrics-1):]), hmtx[p : p+2]
}

// width is the advance of the glyphs at size points (no kerning: CJK text
// is set solid).
func (f *sfntFont) width(gids []uint16, size float64) float64 {
	units := 0
	for _, g := range gids {
		units += f.advance(g)
	}
	return float64(units) * size / float64(f.unitsPerEm)
}

func (f *sfntFont) glyphData(gid uint16) ([]byte, error) {
	loca, g := f.tables["loca"], int(gid)
	var start, end int
	if f.locaLong {
		start, end = int(be.Uint32(loca[4*g:])), int(be.Uint32(loca[4*g+4:]))
	} else {
		start, end = 2*int(be.Uint16(loca[2*g:])), 2*int(be.Uint16(loca[2*g+2:]))
	}
	if start > end || end > len(f.tables["glyf"]) {
		return nil, fmt.Errorf("glyph %d out of bounds", gid)
	}
	return f.tables["glyf"][start:end], nil
}

// Composite glyph flags (OpenType glyf table).
const (
	argsAreWords    = 0x0001
	haveScale       = 0x0008
	moreComponents  = 0x0020
	haveXYScale     = 0x0040
	haveTwoByTwo    = 0x0080
	compositeHeader = 10
)

// components calls fn with the offset of every component glyph index in a
// composite glyph; simple glyphs have none.
func components(data []byte, fn func(off int)) error {
	if len(data) < compositeHeader || int16(be.Uint16(data)) >= 0 {
		return nil
	}
	for p := compositeHeader; ; {
		if p+4 > len(data) {
			return errors.New("composite glyph truncated")
		}
		flags := be.Uint16(data[p:])
		fn(p + 2)
		p += 4
		switch {
		case flags&argsAreWords != 0:
			p += 4
		default:
			p += 2
		}
		switch {
		case flags&haveScale != 0:
			p += 2
		case flags&haveXYScale != 0:
			p += 4
		case flags&haveTwoByTwo != 0:
			p += 8
		}
		if flags&moreComponents == 0 {
			return nil
		}
	}
}

// subsetFont is a font made for one document. Glyph i+1 of data is the
// glyph of slot i; glyph 0 is .notdef, and composite glyphs' components
// follow the slots.
type subsetFont struct {
	data []byte
	name string // PostScript name with a subset tag
}

// subset builds a TrueType font with .notdef and the glyphs gids (of f),
// renumbered from 1 in that order; a glyph may appear twice, when two
// clusters print the same outline but must extract as different text. The
// cmap maps cmapRunes[i] to glyph i+1 (0: not mapped); the PDF itself
// addresses glyphs by number, so the cmap is only for tools that read the
// font alone. Its name carries a subset tag derived from key: PDF readers
// recognise an embedded subset by a six-letter prefix, and different
// subsets must have different tags.
func (f *sfntFont) subset(gids []uint16, cmapRunes []rune, key string) (*subsetFont, error) {
	if len(gids)+1 > 0xFFFF {
		return nil, errors.New("too many glyphs")
	}
	old := append([]uint16{0}, gids...)
	newID := map[uint16]uint16{0: 0}
	add := func(g uint16) uint16 {
		if n, ok := newID[g]; ok {
			return n
		}
		newID[g] = uint16(len(old))
		old = append(old, g)
		return newID[g]
	}
	// Composite glyphs draw other glyphs, which must come along; the loop
	// runs over a growing list so nested composites are followed too.
	glyphs := make([][]byte, 0, len(old))
	for i := 0; i < len(old); i++ {
		data, err := f.glyphData(old[i])
		if err != nil {
			return nil, err
		}
		if len(data) >= compositeHeader && int16(be.Uint16(data)) < 0 {
			data = slices.Clone(data)
			err = components(data, func(off int) {
				be.PutUint16(data[off:], add(be.Uint16(data[off:])))
			})
			if err != nil {
				return nil, err
			}
		}
		glyphs = append(glyphs, data)
		if len(old) > 0xFFFF {
			return nil, errors.New("too many glyphs")
		}
	}

	size := 0
	for _, g := range glyphs {
		size += (len(g) + 3) &^ 3
	}
	glyf := make([]byte, 0, size)
	loca := make([]byte, 0, 4*len(glyphs)+4)
	hmtx := make([]byte, 0, 4*len(glyphs))
	for i, data := range glyphs {
		loca = be.AppendUint32(loca, uint32(len(glyf)))
		glyf = append(glyf, data...)
		for len(glyf)%4 != 0 {
			glyf = append(glyf, 0)
		}
		adv, lsb := f.metrics(old[i])
		hmtx = be.AppendUint16(hmtx, adv)
		hmtx = append(hmtx, lsb...)
	}
	loca = be.AppendUint32(loca, uint32(len(glyf)))

	head := slices.Clone(f.tables["head"])
	be.PutUint32(head[8:], 0) // checkSumAdjustment, set below
	be.PutUint16(head[50:], 1)
	hhea := slices.Clone(f.tables["hhea"])
	be.PutUint16(hhea[34:], uint16(len(old)))
	maxp := slices.Clone(f.tables["maxp"])
	be.PutUint16(maxp[4:], uint16(len(old)))
	// post format 3 has no glyph names: IPAmj's names alone are 650 KB.
	post := slices.Clone(f.tables["post"][:32])
	be.PutUint32(post, 0x00030000)

	type pair struct {
		r   rune
		gid uint16
	}
	var pairs []pair
	for i, r := range cmapRunes {
		if r != 0 {
			pairs = append(pairs, pair{r, uint16(i + 1)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int { return int(a.r - b.r) })
	pairs = slices.CompactFunc(pairs, func(a, b pair) bool { return a.r == b.r })
	runes := make([]rune, len(pairs))
	mapped := make([]uint16, len(pairs))
	for i, p := range pairs {
		runes[i], mapped[i] = p.r, p.gid
	}
	tables := map[string][]byte{
		"cmap": subsetCmap(runes, mapped),
		"glyf": glyf, "head": head, "hhea": hhea, "hmtx": hmtx, "loca": loca,
		"maxp": maxp, "name": f.tables["name"], "OS/2": f.tables["OS/2"], "post": post,
	}
	// Hinting programs are global (they never name glyph ids), so they
	// carry over unchanged.
	for _, tag := range []string{"cvt ", "fpgm", "prep"} {
		if t := f.tables[tag]; t != nil {
			tables[tag] = t
		}
	}
	font := assemble(tables)
	be.PutUint32(font[headOffset(font):][8:], 0xB1B0AFBA-checksum(font))

	h := fnv.New64a()
	h.Write([]byte(key))
	sum := h.Sum64()
	tag := make([]byte, 6)
	for i := range tag {
		tag[i] = 'A' + byte(sum%26)
		sum /= 26
	}
	return &subsetFont{font, string(tag) + "+" + f.psName}, nil
}

// subsetCmap writes a (3,1) format 4 subtable and a (3,10) format 12
// subtable for runes beyond the BMP; runes must be sorted and distinct.
func subsetCmap(runes []rune, gids []uint16) []byte {
	type run struct {
		start, end rune
		gid        uint16
	}
	var runs []run
	for i, r := range runes {
		if n := len(runs); n > 0 && runs[n-1].end+1 == r && rune(runs[n-1].gid)+r-runs[n-1].start == rune(gids[i]) {
			runs[n-1].end = r
			continue
		}
		runs = append(runs, run{r, r, gids[i]})
	}

	var bmp []run
	for _, r := range runs {
		if r.end <= 0xFFFE {
			bmp = append(bmp, r)
		}
	}
	bmp = append(bmp, run{0xFFFF, 0xFFFF, 0}) // required final segment
	segs := len(bmp)
	sr := 2
	for sr*2 <= 2*segs {
		sr *= 2
	}
	es := 0
	for 1<<(es+1) <= sr/2 {
		es++
	}
	f4 := make([]byte, 0, 16+8*segs)
	f4 = be.AppendUint16(f4, 4)
	f4 = be.AppendUint16(f4, uint16(16+8*segs))
	f4 = be.AppendUint16(f4, 0)
	f4 = be.AppendUint16(f4, uint16(2*segs))
	f4 = be.AppendUint16(f4, uint16(sr))
	f4 = be.AppendUint16(f4, uint16(es))
	f4 = be.AppendUint16(f4, uint16(2*segs-sr))
	for _, r := range bmp {
		f4 = be.AppendUint16(f4, uint16(r.end))
	}
	f4 = be.AppendUint16(f4, 0)
	for _, r := range bmp {
		f4 = be.AppendUint16(f4, uint16(r.start))
	}
	for _, r := range bmp {
		delta := uint16(r.gid) - uint16(r.start)
		if r.start == 0xFFFF {
			delta = 1 // maps U+FFFF to glyph 0
		}
		f4 = be.AppendUint16(f4, delta)
	}
	for range bmp {
		f4 = be.AppendUint16(f4, 0)
	}

	f12 := make([]byte, 0, 16+12*len(runs))
	f12 = be.AppendUint16(f12, 12)
	f12 = be.AppendUint16(f12, 0)
	f12 = be.AppendUint32(f12, uint32(16+12*len(runs)))
	f12 = be.AppendUint32(f12, 0)
	f12 = be.AppendUint32(f12, uint32(len(runs)))
	for _, r := range runs {
		f12 = be.AppendUint32(f12, uint32(r.start))
		f12 = be.AppendUint32(f12, uint32(r.end))
		f12 = be.AppendUint32(f12, uint32(r.gid))
	}

	c := make([]byte, 0, 20+len(f4)+len(f12))
	c = be.AppendUint16(c, 0)
	c = be.AppendUint16(c, 2)
	c = append(c, 0, 3, 0, 1)
	c = be.AppendUint32(c, 20)
	c = append(c, 0, 3, 0, 10)
	c = be.AppendUint32(c, uint32(20+len(f4)))
	c = append(c, f4...)
	return append(c, f12...)
}

// assemble writes an sfnt file with the tables in tag order, each 4-byte
// aligned and checksummed.
func assemble(tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	for t := range tables {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	n := len(tags)
	es := 0
	for 1<<(es+1) <= n {
		es++
	}
	out := be.AppendUint32(nil, 0x00010000)
	out = be.AppendUint16(out, uint16(n))
	out = be.AppendUint16(out, uint16(16<<es))
	out = be.AppendUint16(out, uint16(es))
	out = be.AppendUint16(out, uint16(16*n-16<<es))
	off := 12 + 16*n
	for _, t := range tags {
		data := tables[t]
		out = append(out, t...)
		out = be.AppendUint32(out, checksum(data))
		out = be.AppendUint32(out, uint32(off))
		out = be.AppendUint32(out, uint32(len(data)))
		off += (len(data) + 3) &^ 3
	}
	for _, t := range tags {
		out = append(out, tables[t]...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out
}

func headOffset(font []byte) int {
	for i := range int(be.Uint16(font[4:])) {
		if e := font[12+16*i:]; string(e[:4]) == "head" {
			return int(be.Uint32(e[8:]))
		}
	}
	panic("assemble wrote no head table")
}

func checksum(b []byte) uint32 {
	var sum uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		sum += be.Uint32(w[:])
	}
	return sum
}
