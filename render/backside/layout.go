package backside

import (
	"fmt"
	"image"
	"math"
	"sync"
)

// DPI is the resolution the front must be rasterised at for Compose, and the
// resolution of the back image and of the front Verify recovers. 150 dpi is
// the lowest at which the recovered front stays comfortably legible (a
// 10.5 pt kanji is 22 px tall) and its cost per page is small enough for the
// render budget; docs/backside.md gives the measurements.
const DPI = 150

// The block and cell sizes at DPI: the front is cut into blockPx-square
// blocks, and each is printed shrunk to a cellPx-square cell of the back,
// which makes room for the marks and the code around and among the cells.
const (
	blockPx = 10 // 1.7 mm at 150 dpi: smaller than a character, so no word survives in one block
	cellPx  = 9
)

// Physical sizes of the marks, in millimetres.
const (
	marginMM    = 5.0 // paper edge to the ticks: kiosk printers print to within about 4 mm
	qrModuleMM  = 0.5 // a QR module: about 6 px at 300 dpi, 4 px at 200 dpi
	finderModMM = 1.0 // a finder module: 1 mm, unlike anything the 1.5 mm cells make
	a4WidthMM   = 210.0
	a4HeightMM  = 297.0
)

// params are what the verifier must know to find and undo the layout; the
// code carries them, and Verify refuses a code whose params differ from the
// layout it registered the scan with.
type params struct {
	dpi, block, cell int
}

var defaultParams = params{dpi: DPI, block: blockPx, cell: cellPx}

func (p params) px(mm float64) int { return int(math.Round(mm * float64(p.dpi) / 25.4)) }

// pageSize is A4 at the params' resolution, rounded as pdftoppm rounds it.
func (p params) pageSize() (int, int) {
	return int(math.Round(595.276 * float64(p.dpi) / 72)), int(math.Round(841.89 * float64(p.dpi) / 72))
}

// pt is a point in continuous pixel coordinates: pixel (i, j) covers
// [i, i+1) × [j, j+1), so its centre is (i+0.5, j+0.5).
type pt struct{ x, y float64 }

// layout is the geometry of a back, in grid coordinates: pixels at the
// params' dpi with the origin at the top-left corner of the cell grid. It
// depends on the params only (not on the exact size of the front), so a
// verifier can compute it before it has read the code.
//
// The four finders are alike, so they fix the page up to a half turn; the
// code, which reads only one way up, decides.
type layout struct {
	params
	cols, rows int
	// free lists the cells that carry blocks (row*cols+col), in row-major
	// order: every cell but the finders', the code's and the wedge's.
	free        []int32
	finders     [4]pt // centres: top-left, top-right, bottom-right, bottom-left
	finderMod   int   // px
	finderCells int   // cells a finder and its separator take, each way
	ticks       []pt  // centres of the registration ticks around the grid
	qr          image.Rectangle
	qrModule    int             // px
	wedge       image.Rectangle // cells: wedgeSteps grey patches, 2×2 cells each
}

const (
	finderModules = 7  // a QR-style finder: 1:1:3:1:1
	qrQuiet       = 4  // QR quiet zone, modules
	qrMaxVersion  = 18 // at level M: about 290 bytes of facts
	wedgeSteps    = 16 // grey patches 0, 17, …, 255: the print-and-scan tone curve
)

var (
	layoutMu    sync.Mutex
	layoutCache = map[params]*layout{}
)

// layoutFor returns the (shared, read-only) layout of p.
func layoutFor(p params) (*layout, error) {
	layoutMu.Lock()
	defer layoutMu.Unlock()
	if l, ok := layoutCache[p]; ok {
		return l, nil
	}
	l, err := newLayout(p)
	if err != nil {
		return nil, err
	}
	layoutCache[p] = l
	return l, nil
}

func newLayout(p params) (*layout, error) {
	if p.dpi < 50 || p.dpi > 1200 || p.block < 2 || p.cell < 2 || p.cell > p.block || p.block > 64 {
		return nil, fmt.Errorf("backside: unsupported layout (dpi %d, block %d, cell %d)", p.dpi, p.block, p.cell)
	}
	pw, ph := p.pageSize()
	c := p.cell
	// Between the paper edge and the grid: the margin, a row of ticks one
	// cell wide, and a one-cell white gap.
	edge := p.px(marginMM) + 2*c
	l := &layout{params: p, qrModule: max(1, p.px(qrModuleMM)), finderMod: max(2, p.px(finderModMM))}
	l.cols = (pw - 2*edge) / c
	l.rows = (ph - 2*edge) / c
	l.finderCells = ((finderModules+1)*l.finderMod + c - 1) / c
	fc := l.finderCells
	qrModules := 17 + 4*qrMaxVersion + 2*qrQuiet
	qrCells := (qrModules*l.qrModule + c - 1) / c
	if l.cols < 2*fc+max(qrCells, 2*wedgeSteps) || l.rows < 2*fc+qrCells+2 {
		return nil, fmt.Errorf("backside: page too small for the layout (dpi %d, cell %d)", p.dpi, c)
	}
	gw, gh := float64(l.cols*c), float64(l.rows*c)
	f := float64(finderModules*l.finderMod) / 2
	l.finders = [4]pt{{f, f}, {gw - f, f}, {gw - f, gh - f}, {f, gh - f}}
	// The code's square sits at the bottom of the grid, just left of the
	// bottom-right finder: away from the folds of a page folded in three.
	// The grey wedge sits on top of it.
	l.qr = image.Rect(l.cols-fc-qrCells, l.rows-qrCells, l.cols-fc, l.rows)
	l.wedge = image.Rect(l.qr.Max.X-2*wedgeSteps, l.qr.Min.Y-2, l.qr.Max.X, l.qr.Min.Y)
	reserved := func(col, row int) bool {
		nearX := col < fc || col >= l.cols-fc
		nearY := row < fc || row >= l.rows-fc
		at := image.Pt(col, row)
		return (nearX && nearY) || at.In(l.qr) || at.In(l.wedge)
	}
	for row := range l.rows {
		for col := range l.cols {
			if !reserved(col, row) {
				l.free = append(l.free, int32(row*l.cols+col))
			}
		}
	}
	half := float64(c) / 2
	for j := 0; j < l.cols; j += 2 {
		x := float64(j*c) + half
		l.ticks = append(l.ticks, pt{x, -2*float64(c) + half}, pt{x, gh + float64(c) + half})
	}
	for i := 0; i < l.rows; i += 2 {
		y := float64(i*c) + half
		l.ticks = append(l.ticks, pt{-2*float64(c) + half, y}, pt{gw + float64(c) + half, y})
	}
	return l, nil
}

// blocks is the number of front blocks of a w×h front.
func (l *layout) blocks(w, h int) (bcols, brows int) {
	return (w + l.block - 1) / l.block, (h + l.block - 1) / l.block
}

// origin is where the grid sits on a w×h page: centred.
func (l *layout) origin(w, h int) image.Point {
	return image.Pt((w-l.cols*l.cell)/2, (h-l.rows*l.cell)/2)
}

// fits says whether a w×h front can be composed with this layout: near A4
// at the layout's dpi, and with at least one cell per block.
func (l *layout) fits(w, h int) error {
	pw, ph := l.pageSize()
	if abs(w-pw) > pw/100 || abs(h-ph) > ph/100 {
		return fmt.Errorf("backside: the front is %d×%d px; want A4 at %d dpi (%d×%d)", w, h, l.dpi, pw, ph)
	}
	if bc, br := l.blocks(w, h); bc*br > len(l.free) {
		return fmt.Errorf("backside: %d blocks do not fit in %d cells", bc*br, len(l.free))
	}
	return nil
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}
