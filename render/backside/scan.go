package backside

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Why a file cannot be read as a scan. ReadScan's and VerifyScan's errors
// wrap one of these (or one of Verify's).
var (
	// ErrScanFormat: the file is none of PNG, JPEG or PDF.
	ErrScanFormat = errors.New("the file is not a PNG, JPEG or PDF file")
	// ErrScanDamaged: the file starts as one of them but cannot be decoded:
	// truncated, corrupt, or a PDF without a page.
	ErrScanDamaged = errors.New("the file is damaged or incomplete")
	// ErrScanTooLarge: the image (or PDF page at PDFDPI) has more pixels,
	// or a longer side, than the limits allow. Nothing is decoded.
	ErrScanTooLarge = errors.New("the image is too large")
	// ErrScanActive: the PDF holds scripts or actions that launch
	// something. No PDF viewer is involved here, but such a file is not a
	// scanner's, and nothing in it is looked at further.
	ErrScanActive = errors.New("the PDF contains scripts or actions")
)

// PDFDPI is the resolution a PDF scan's page is rasterised at.
const PDFDPI = 300

// ScanLimits bound what reading one scan may cost, so that a hostile file
// (a decompression bomb, a page the size of a field) is refused from its
// header before anything large is allocated.
type ScanLimits struct {
	// MaxPixels bounds the decoded image's pixels; MaxSide its width and
	// height; MaxDecodedBytes its size in memory, by colour depth.
	MaxPixels       int64
	MaxSide         int
	MaxDecodedBytes int64
	// PDFPages is how many pages of a PDF are looked at for a back side
	// (a duplex scan puts the front first).
	PDFPages int
	// PDFTimeout bounds all the tools run over one PDF together.
	PDFTimeout time.Duration
}

// DefaultScanLimits admit an A4 or legal page scanned at 600 dpi (36 and
// 43 million pixels) and a 48-megapixel phone photo; at most 256 MiB of
// decoded pixels.
var DefaultScanLimits = ScanLimits{MaxPixels: 50_000_000, MaxSide: 16384, MaxDecodedBytes: 256 << 20,
	PDFPages: 4, PDFTimeout: 30 * time.Second}

// VerifyScan is verify-scan on a file's bytes: it reads the scan (PNG, JPEG,
// or the first PDFPages pages of a PDF until one is a back side) within lim
// and verifies it against keys. The Result is the one to print: on failure
// it carries only the error, whatever the failure was. Nothing is written
// to disk but, for a PDF, a temporary file unlinked as soon as it is open.
func VerifyScan(ctx context.Context, data []byte, keys Keys, lim ScanLimits) (Result, *image.Gray, error) {
	if lim == (ScanLimits{}) {
		lim = DefaultScanLimits
	}
	fail := func(err error) (Result, *image.Gray, error) {
		return Result{Error: err.Error(), Facts: map[string]string{}}, nil, err
	}
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		img, err := decodeImage(data, lim)
		if err != nil {
			return fail(err)
		}
		return Verify(img, keys)
	}
	pdf, err := openPDF(ctx, data, lim)
	if err != nil {
		return fail(err)
	}
	defer pdf.close()
	for page := 1; page <= min(pdf.pages, lim.PDFPages); page++ {
		img, err := pdf.page(page)
		if err != nil {
			return fail(err)
		}
		res, front, err := Verify(img, keys)
		// Only "no back side here" moves on: a back side that fails is
		// the answer.
		if !errors.Is(err, ErrNoBackSide) || page == min(pdf.pages, lim.PDFPages) {
			return res, front, err
		}
	}
	return fail(fmt.Errorf("%w: the PDF has no page", ErrScanDamaged))
}

// LoadScan reads a scan file: PNG, JPEG, or the first page of a PDF at
// PDFDPI, within DefaultScanLimits.
func LoadScan(path string) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("backside: %w", err)
	}
	img, err := readScan(context.Background(), data, DefaultScanLimits)
	if err != nil {
		return nil, fmt.Errorf("backside: %s: %w", path, err)
	}
	return img, nil
}

func readScan(ctx context.Context, data []byte, lim ScanLimits) (image.Image, error) {
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return decodeImage(data, lim)
	}
	pdf, err := openPDF(ctx, data, lim)
	if err != nil {
		return nil, err
	}
	defer pdf.close()
	return pdf.page(1)
}

// decodeImage decodes a PNG or JPEG after checking its declared size
// against lim: a small file declaring a huge image costs nothing.
func decodeImage(data []byte, lim ScanLimits) (image.Image, error) {
	var decode func(io.Reader) (image.Image, error)
	var config func(io.Reader) (image.Config, error)
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		decode, config = png.Decode, png.DecodeConfig
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8}):
		decode, config = jpeg.Decode, jpeg.DecodeConfig
	default:
		return nil, ErrScanFormat
	}
	cfg, err := config(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScanDamaged, err)
	}
	if err := lim.fits(cfg.Width, cfg.Height, bytesPerPixel(cfg.ColorModel)); err != nil {
		return nil, err
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScanDamaged, err)
	}
	return img, nil
}

func (lim ScanLimits) fits(w, h int, bpp int64) error {
	px := int64(w) * int64(h)
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("%w: it declares %d×%d pixels", ErrScanDamaged, w, h)
	case w > lim.MaxSide || h > lim.MaxSide:
		return fmt.Errorf("%w: %d×%d pixels, at most %d a side", ErrScanTooLarge, w, h, lim.MaxSide)
	case px > lim.MaxPixels:
		return fmt.Errorf("%w: %d×%d pixels, at most %d million", ErrScanTooLarge, w, h, lim.MaxPixels/1_000_000)
	case px*bpp > lim.MaxDecodedBytes:
		return fmt.Errorf("%w: %d×%d pixels at %d bytes each, at most %d MiB", ErrScanTooLarge, w, h, bpp, lim.MaxDecodedBytes>>20)
	}
	return nil
}

// bytesPerPixel is what the decoders allocate per pixel for a colour model.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // at most: 4:4:4
	case color.CMYKModel, color.RGBAModel, color.NRGBAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// scanPDF is a PDF being read: the poppler tools and qpdf read it from an
// unlinked temporary file, passed to them as an open descriptor, so that no
// upload stays on disk even if the process dies.
type scanPDF struct {
	ctx    context.Context
	cancel context.CancelFunc
	f      *os.File
	lim    ScanLimits
	pages  int
	sizes  map[int][2]float64 // page -> width, height in points
}

func openPDF(ctx context.Context, data []byte, lim ScanLimits) (*scanPDF, error) {
	f, err := os.CreateTemp("", "scan-*.pdf")
	if err != nil {
		return nil, fmt.Errorf("backside: %w", err)
	}
	os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("backside: %w", err)
	}
	p := &scanPDF{f: f, lim: lim}
	p.ctx, p.cancel = context.WithTimeout(ctx, lim.PDFTimeout)
	if err := p.refuseActive(); err != nil {
		p.close()
		return nil, err
	}
	if err := p.info(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *scanPDF) close() {
	p.cancel()
	p.f.Close()
}

// run runs a tool on the PDF (given as /dev/fd/3), and returns at most max
// bytes of its standard output.
func (p *scanPDF) run(max int, tool string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(tool)
	if err != nil {
		return nil, fmt.Errorf("backside: reading a PDF scan needs %s: %w", tool, err)
	}
	var out capped
	var stderr bytes.Buffer
	out.max = max
	cmd := exec.CommandContext(p.ctx, path, append(args, "/dev/fd/3")...)
	cmd.ExtraFiles = []*os.File{p.f}
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	switch {
	case p.ctx.Err() != nil:
		return nil, fmt.Errorf("%w: reading the PDF took longer than %s", ErrScanTooLarge, p.lim.PDFTimeout)
	case out.over:
		return nil, fmt.Errorf("%w: %s wrote more than %d MiB", ErrScanTooLarge, tool, max>>20)
	case err != nil:
		// qpdf exits 3 when it read the file with warnings: still read.
		if ee, ok := errors.AsType[*exec.ExitError](err); !ok || tool != "qpdf" || ee.ExitCode() != 3 {
			return nil, fmt.Errorf("%w: %s: %s", ErrScanDamaged, tool, firstLine(stderr.String(), err))
		}
	}
	return out.Bytes(), nil
}

func firstLine(s string, err error) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return err.Error()
	}
	return s
}

// capped is a buffer that stops taking bytes past max, failing the write so
// that the tool writing into it stops.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(b []byte) (int, error) {
	if c.Len()+len(b) > c.max {
		c.over = true
		return 0, errors.New("output over its limit")
	}
	return c.Buffer.Write(b)
}

// refuseActive reads every object of the PDF, those inside object streams
// and under escaped names too, as qpdf parses them, and refuses JavaScript
// (actions, name trees, form scripts) and launch actions.
func (p *scanPDF) refuseActive() error {
	out, err := p.run(64<<20, "qpdf", "--json=2", "--json-key=qpdf")
	if err != nil {
		return err
	}
	var doc struct {
		QPDF []json.RawMessage `json:"qpdf"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.QPDF) != 2 {
		return fmt.Errorf("%w: qpdf: unexpected output", ErrScanDamaged)
	}
	var objects any
	if err := json.Unmarshal(doc.QPDF[1], &objects); err != nil {
		return fmt.Errorf("%w: qpdf: %v", ErrScanDamaged, err)
	}
	if what := active(objects); what != "" {
		return fmt.Errorf("%w (%s)", ErrScanActive, what)
	}
	return nil
}

// active names the first active content found in qpdf's JSON of the
// objects, or "".
func active(v any) string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch k {
			case "/JS", "/JavaScript":
				return k
			case "/S":
				if x == "/JavaScript" || x == "/Launch" {
					return x.(string)
				}
			}
			if a := active(x); a != "" {
				return a
			}
		}
	case []any:
		for _, x := range v {
			if a := active(x); a != "" {
				return a
			}
		}
	}
	return ""
}

var pdfinfoPage = regexp.MustCompile(`^Page +([0-9]+) size: +([0-9.]+) x ([0-9.]+) pts`)

// info reads the number of pages and the size of the first ones.
func (p *scanPDF) info() error {
	out, err := p.run(1<<20, "pdfinfo", "-f", "1", "-l", strconv.Itoa(p.lim.PDFPages))
	if err != nil {
		return err
	}
	p.sizes = map[int][2]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "Pages:"); ok {
			p.pages, _ = strconv.Atoi(strings.TrimSpace(n))
		}
		if m := pdfinfoPage.FindStringSubmatch(line); m != nil {
			page, _ := strconv.Atoi(m[1])
			w, _ := strconv.ParseFloat(m[2], 64)
			h, _ := strconv.ParseFloat(m[3], 64)
			p.sizes[page] = [2]float64{w, h}
		}
	}
	if p.pages < 1 {
		return fmt.Errorf("%w: the PDF has no page", ErrScanDamaged)
	}
	return nil
}

// page rasterises one page at PDFDPI, grey, after checking its size.
func (p *scanPDF) page(n int) (image.Image, error) {
	size, ok := p.sizes[n]
	if !ok {
		return nil, fmt.Errorf("%w: page %d has no size", ErrScanDamaged, n)
	}
	w, h := math.Ceil(size[0]*PDFDPI/72), math.Ceil(size[1]*PDFDPI/72)
	if w > float64(p.lim.MaxSide) || h > float64(p.lim.MaxSide) {
		return nil, fmt.Errorf("%w: page %d is %.0f×%.0f pixels at %d dpi, at most %d a side", ErrScanTooLarge, n, w, h, PDFDPI, p.lim.MaxSide)
	}
	if err := p.lim.fits(int(w), int(h), 1); err != nil {
		return nil, fmt.Errorf("page %d at %d dpi: %w", n, PDFDPI, err)
	}
	// -W and -H crop whatever the page turns out to be to the limit.
	out, err := p.run(int(min(p.lim.MaxDecodedBytes, 1<<30)), "pdftoppm", "-r", strconv.Itoa(PDFDPI), "-gray", "-png",
		"-f", strconv.Itoa(n), "-l", strconv.Itoa(n), "-singlefile",
		"-x", "0", "-y", "0", "-W", strconv.Itoa(p.lim.MaxSide), "-H", strconv.Itoa(p.lim.MaxSide))
	if err != nil {
		return nil, err
	}
	img, err := decodeImage(out, p.lim)
	if err != nil {
		return nil, fmt.Errorf("page %d: %w", n, err)
	}
	return img, nil
}
