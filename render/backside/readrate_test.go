package backside

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// The back side's code must read from any clean rasterisation of the page
// as issued: poppler at 200 and 300 dpi, no print, no scan. A reader that
// fails on one code in fifty is found only by reading many codes of varied
// content, and the whole path (render, pdftoppm, Verify) costs seconds a
// page under the race detector; so the codes are read from code sheets,
// and the fixture's certificate goes the whole way.
//
// A code sheet is a back-sized page of codes, each drawn as drawCode
// draws a back's code, one of them where a back has it and the others a
// square and a pixel further, embedded in a PDF over the whole A4 page as
// render embeds a back. Poppler rasterises fifteen codes for the price of
// one page, and each is read with qrRead through the registration the
// geometry gives: what Verify reads after it has found the page.

// codesPerTest is how many codes TestBackSideCodesRead issues; each is
// read at 200 and at 300 dpi.
const codesPerTest = 1000

// codeDocument is a document as the server puts it in a code
// (cmd/issuance/sealed.go): the holder's name, with "ほか n名" for the
// others printed, the birth date, the address or, for a koseki, the
// honseki, and the digest of the page's printed text.
func codeDocument(rng *rand.Rand) (Document, int, int) {
	types := []issuance.CertType{issuance.Juminhyo, issuance.Kisai, issuance.Inkan, issuance.TaxIncome,
		issuance.TaxAssessment, issuance.TaxPayment, issuance.KosekiZenbu, issuance.KosekiKojin, issuance.Fuhyo}
	families := []string{"山田", "𠮷田", "髙橋", "渡邊", "齋藤", "佐藤", "鈴木", "グエン", "金", "小田切"}
	givens := []string{"太郎", "花子", "一", "葵", "陽翔", "結衣", "ヴァン アン", "さくら", "惣右衛門", "美智子"}
	places := []string{"東京都千代田区千代田", "大阪府豊中市中桜塚", "北海道札幌市中央区北一条西",
		"京都府京都市左京区一乗寺竹ノ内町", "鹿児島県熊毛郡屋久島町宮之浦", "沖縄県島尻郡南大東村字在所"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	day := func(y0, years int) time.Time {
		return time.Date(y0+rng.IntN(years), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 9+rng.IntN(8), 0, 0, 0, issuance.Tokyo)
	}
	typ := types[rng.IntN(len(types))]
	name := pick(families) + " " + pick(givens)
	if n := rng.IntN(8); n > 4 {
		name += fmt.Sprintf(" ほか%d名", n-4)
	}
	place := pick(places) + strconv.Itoa(1+rng.IntN(9)) + "丁目" + strconv.Itoa(1+rng.IntN(40)) + "番"
	if rng.IntN(2) == 0 {
		place += strconv.Itoa(1+rng.IntN(30)) + "号"
	}
	if rng.IntN(3) == 0 { // a building and room: the longest addresses
		place += " " + strings.Repeat("コーポ", 1+rng.IntN(3)) + "千代田" + strconv.Itoa(100+rng.IntN(900)) + "号室"
	}
	placeKey := "住所"
	if strings.HasPrefix(string(typ), "KOSEKI") || typ == issuance.Fuhyo {
		placeKey = "本籍"
	}
	digest := make([]byte, 16)
	for i := range digest {
		digest[i] = byte(rng.UintN(256))
	}
	id := make([]byte, 16)
	for i := range id {
		id[i] = byte(rng.UintN(256))
	}
	h := hex.EncodeToString(id)
	facts := []Fact{{"氏名", name}, {"生年月日", issuance.Wareki(day(1920, 100))}, {placeKey, place}}
	// Codes of every size the layout holds: some with the holder only,
	// some with more facts than the server puts in.
	switch rng.IntN(6) {
	case 0:
		facts = facts[:rng.IntN(3)]
	case 1:
		facts = append(facts, Fact{"旧氏", pick(families)}, Fact{"方書", pick(places) + pick(givens) + "方"})
	}
	doc := Document{
		ID:       h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:],
		LGCode:   []string{"131016", "272035"}[rng.IntN(2)],
		Type:     string(typ),
		IssuedOn: day(2020, 10),
		Facts:    append(facts, Fact{"印字内容SHA-256", hex.EncodeToString(digest)}),
	}
	pages := 1 + rng.IntN(3)
	if rng.IntN(10) == 0 {
		pages += rng.IntN(10) // a long koseki or a large household
	}
	return doc, 1 + rng.IntN(pages), pages
}

// issueCodes signs n codes of varied documents as Compose does, with a
// fresh scramble key each, and returns their texts and modules.
func issueCodes(t testing.TB, n int, seed uint64, s Signer) ([]string, [][][]bool) {
	t.Helper()
	w, h := defaultParams.pageSize()
	texts, modules := make([]string, n), make([][][]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for part := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(part)))
			for i := part; i < n; i += 2 {
				// A document whose facts do not fit is refused (a test of
				// its own); another is drawn, so the largest codes are
				// those the layout just holds.
				for errs[i] = errCodeTooBig; errors.Is(errs[i], errCodeTooBig); {
					doc, page, pages := codeDocument(rng)
					var key [keySize]byte
					for k := range key {
						key[k] = byte(rng.UintN(256))
					}
					if texts[i], errs[i] = codeText(doc, page, pages, s, key, defaultParams, w, h, payloadVersion); errs[i] == nil {
						modules[i], errs[i] = qrModules(texts[i])
					}
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
	}
	return texts, modules
}

// sheetPlaces are the top-left pixels of the code squares on a sheet: a
// back's own, and every place a square and a pixel further up or left. On
// a back every module edge is at a multiple of 3 px, which 200 dpi turns
// into whole device pixels; the extra pixel puts the others at every phase.
func sheetPlaces(l *layout, w, h int) []image.Point {
	step := l.qr.Dx()*l.cell + 1
	o := l.origin(w, h)
	at := image.Pt(o.X+l.qr.Min.X*l.cell, o.Y+l.qr.Min.Y*l.cell)
	var ps []image.Point
	for y := at.Y; y >= 0; y -= step {
		for x := at.X; x >= 0; x -= step {
			ps = append(ps, image.Pt(x, y))
		}
	}
	return ps
}

// sheetsPDF draws the codes on sheets and returns a PDF of them, one A4
// page each, with the sheet drawn over the whole page as render draws a
// back (at 1 bit per pixel, as render stores a black-and-white back).
func sheetsPDF(l *layout, modules [][][]bool, places []image.Point) []byte {
	w, h := l.pageSize()
	stride := (w + 7) / 8
	var pdf bytes.Buffer
	var offsets []int
	obj := func(body string, stream []byte) {
		offsets = append(offsets, pdf.Len())
		fmt.Fprintf(&pdf, "%d 0 obj\n%s", len(offsets), body)
		if stream != nil {
			fmt.Fprintf(&pdf, "\nstream\n%s\nendstream", stream)
		}
		pdf.WriteString("\nendobj\n")
	}
	pdf.WriteString("%PDF-1.7\n")
	sheets := (len(modules) + len(places) - 1) / len(places)
	kids := ""
	for i := range sheets {
		kids += fmt.Sprintf("%d 0 R ", 3+3*i)
	}
	obj("<</Type /Catalog /Pages 2 0 R>>", nil)
	obj(fmt.Sprintf("<</Type /Pages /Kids [%s] /Count %d>>", kids, sheets), nil)
	sheet := image.NewGray(image.Rect(0, 0, w, h))
	for i := range sheets {
		fill(sheet.Pix, 0xFF)
		for k, at := range places {
			if c := i*len(places) + k; c < len(modules) {
				drawCode(sheet, l, at.X, at.Y, modules[c])
			}
		}
		bits := make([]byte, stride*h)
		for y := range h {
			for x, v := range sheet.Pix[y*sheet.Stride : y*sheet.Stride+w] {
				if v != 0 {
					bits[y*stride+x>>3] |= 0x80 >> (x & 7)
				}
			}
		}
		n := 3 + 3*i
		obj(fmt.Sprintf("<</Type /Page /Parent 2 0 R /MediaBox [0 0 595.28 841.89] /Resources <</XObject <</B %d 0 R>>>> /Contents %d 0 R>>", n+2, n+1), nil)
		content := []byte("q 595.28 0 0 841.89 0 0 cm /B Do Q")
		obj(fmt.Sprintf("<</Length %d>>", len(content)), content)
		obj(fmt.Sprintf("<</Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 1 /Length %d>>", w, h, len(bits)), bits)
	}
	xref := pdf.Len()
	fmt.Fprintf(&pdf, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, off := range offsets {
		fmt.Fprintf(&pdf, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&pdf, "trailer\n<</Size %d /Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return pdf.Bytes()
}

// pdftoppm rasterises pages first to last of the PDF at path (grey, 8
// bits), the part crop of each, into dir and returns the PGM files in page
// order.
func pdftoppm(path, dir string, dpi, first, last int, crop image.Rectangle) ([]string, error) {
	tool, err := exec.LookPath("pdftoppm")
	if err != nil {
		return nil, fmt.Errorf("pdftoppm not installed (poppler-utils): %w", err)
	}
	prefix := filepath.Join(dir, fmt.Sprintf("r%d-%d", dpi, first))
	args := []string{"-gray", "-r", strconv.Itoa(dpi), "-f", strconv.Itoa(first), "-l", strconv.Itoa(last),
		"-x", strconv.Itoa(crop.Min.X), "-y", strconv.Itoa(crop.Min.Y), "-W", strconv.Itoa(crop.Dx()), "-H", strconv.Itoa(crop.Dy()),
		path, prefix}
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pdftoppm: %v\n%s", err, out)
	}
	// pdftoppm pads the page numbers to one width, so they sort.
	files, err := filepath.Glob(prefix + "-*.pgm")
	if err == nil && len(files) != last-first+1 {
		err = fmt.Errorf("pdftoppm wrote %d pages of %d", len(files), last-first+1)
	}
	return files, err
}

// mapPGM maps an 8-bit binary PGM as pdftoppm writes it, until unmap.
// Mapped, not read: under the race detector, copying some 500 MB of pages
// into the heap cost a quarter of the test, and the codes need a tenth of
// the pixels.
func mapPGM(path string) (g *image.Gray, unmap func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	unmap = func() { syscall.Munmap(data) }
	var nums [4]int // "P5", width, height, maxval, each ended by one blank
	at := 0
	for k := range nums {
		start := at
		for at < len(data) && at < 64 && !strings.ContainsRune(" \t\r\n", rune(data[at])) {
			at++
		}
		if k == 0 && string(data[start:at]) != "P5" {
			unmap()
			return nil, nil, fmt.Errorf("%s is not a binary PGM", path)
		}
		if k > 0 {
			nums[k], _ = strconv.Atoi(string(data[start:at]))
		}
		at++
	}
	w, h := nums[1], nums[2]
	if nums[3] != 255 || w <= 0 || at > len(data) || len(data)-at != w*h {
		unmap()
		return nil, nil, fmt.Errorf("%s: not a %d×%d PGM of maxval %d (%d bytes)", path, w, h, nums[3], len(data))
	}
	return &image.Gray{Pix: data[at:], Stride: w, Rect: image.Rect(0, 0, w, h)}, unmap, nil
}

// unreadable is one code that did not read.
type unreadable struct {
	dpi  int
	code int
	text string
	err  error
}

// readSheets issues n codes, puts them on sheets, has poppler rasterise
// the sheets at each dpi, reads every code and returns those that did not
// read back exactly, and how many codes of each version were issued.
func readSheets(t testing.TB, n int, seed uint64, s Signer, dpis []int) ([]unreadable, map[int]int) {
	t.Helper()
	l, err := layoutFor(defaultParams)
	if err != nil {
		t.Fatal(err)
	}
	texts, modules := issueCodes(t, n, seed, s)
	versions := map[int]int{}
	for _, m := range modules {
		versions[(len(m)-17)/4]++
	}
	w, h := l.pageSize()
	places := sheetPlaces(l, w, h)
	side := l.qr.Dx() * l.cell
	var area image.Rectangle // the squares, in sheet pixels
	for _, at := range places {
		area = area.Union(image.Rect(at.X, at.Y, at.X+side, at.Y+side))
	}
	dir := t.TempDir()
	pdf := filepath.Join(dir, "sheets.pdf")
	if err := os.WriteFile(pdf, sheetsPDF(l, modules, places), 0o600); err != nil {
		t.Fatal(err)
	}
	// Each resolution in two halves: four jobs, two at a time, each
	// pdftoppm and then the reading of its pages, so that one job's
	// poppler runs while another's pages are read.
	sheets := (n + len(places) - 1) / len(places)
	type job struct{ dpi, first, last int }
	jobs := make(chan job, 2*len(dpis))
	for _, dpi := range dpis {
		jobs <- job{dpi, 1, sheets / 2}
		jobs <- job{dpi, sheets/2 + 1, sheets}
	}
	close(jobs)
	var mu sync.Mutex
	var bad []unreadable
	var errs []error
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				b, err := readJob(l, places, area, pdf, dir, j.dpi, j.first, j.last, texts)
				mu.Lock()
				bad = append(bad, b...)
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return bad, versions
}

// readJob rasterises sheets first to last of the PDF at dpi and reads
// their codes, which are texts[(sheet-1)*len(places):].
func readJob(l *layout, places []image.Point, area image.Rectangle, pdf, dir string, dpi, first, last int, texts []string) ([]unreadable, error) {
	// Device pixels per sheet pixel: the sheet spans the page. Only the
	// part with the codes is rasterised.
	w, h := l.pageSize()
	sx, sy := 595.28/72*float64(dpi)/float64(w), 841.89/72*float64(dpi)/float64(h)
	crop := image.Rect(int(float64(area.Min.X)*sx), int(float64(area.Min.Y)*sy),
		int(math.Ceil(float64(area.Max.X)*sx)), int(math.Ceil(float64(area.Max.Y)*sy)))
	pages, err := pdftoppm(pdf, dir, dpi, first, last, crop)
	if err != nil {
		return nil, err
	}
	var bad []unreadable
	for i, page := range pages {
		g, unmap, err := mapPGM(page)
		if err != nil {
			return bad, err
		}
		for k, at := range places {
			c := (first-1+i)*len(places) + k
			if c >= len(texts) {
				break
			}
			// Grid to scan: the sheet's square at at is the layout's
			// code square.
			dx, dy := float64(at.X-l.qr.Min.X*l.cell), float64(at.Y-l.qr.Min.Y*l.cell)
			got, err := qrRead(g, l, homography{sx, 0, sx*dx - float64(crop.Min.X), 0, sy, sy*dy - float64(crop.Min.Y), 0, 0, 1})
			if err == nil && got != texts[c] {
				err = fmt.Errorf("read %q", got)
			}
			if err != nil {
				bad = append(bad, unreadable{dpi, c, texts[c], err})
			}
		}
		unmap()
		if err := os.Remove(page); err != nil {
			return bad, err
		}
	}
	return bad, nil
}

// TestBackSideCodesRead issues codesPerTest codes of varied content and
// reads every one from poppler's rasterisation at 200 and at 300 dpi.
func TestBackSideCodesRead(t *testing.T) {
	key, err := newCodeKey("131016")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bad, versions := readSheets(t, codesPerTest, uint64(start.UnixNano()), key, []int{200, 300})
	for _, u := range bad {
		t.Errorf("%d dpi: code %d does not read (%v); its text: %s", u.dpi, u.code, u.err, u.text)
	}
	// The codes must be of many sizes: where a code sits on its square,
	// and so its phase on the pixel grid, depends on its version.
	if len(versions) < 4 {
		t.Errorf("the codes are of versions %v only", versions)
	}
	t.Logf("%d codes of versions %v, each read at 200 and 300 dpi: %d unreadable (%v)", codesPerTest, versions, len(bad), time.Since(start).Round(time.Millisecond))
}

// TestIssuedBackVerifies: the fixture's certificate as render issues it,
// its back rasterised by poppler at 200 and at 300 dpi, verifies as
// verify-scan verifies it.
func TestIssuedBackVerifies(t *testing.T) {
	f := setup(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "issued.pdf")
	write(t, path, f.pdf)
	for _, dpi := range []int{200, 300} {
		pages, err := pdftoppm(path, dir, dpi, 2, 2, image.Rectangle{}) // page 2: the back
		if err != nil {
			t.Fatal(err)
		}
		g, unmap, err := mapPGM(pages[0])
		if err != nil {
			t.Fatal(err)
		}
		res, _, err := Verify(g, f.keys)
		unmap()
		if err != nil || !res.Valid || res.DocumentID != f.doc.ID || res.Facts["住所"] != f.doc.Facts[2].Value {
			t.Errorf("%d dpi: %+v, %v", dpi, res, err)
		}
	}
}
