package backside

import (
	"errors"
	"image"
	"image/draw"
	"math"
)

// homography maps grid coordinates to scan coordinates:
// x = (h0 u + h1 v + h2) / (h6 u + h7 v + h8), y = (h3 u + h4 v + h5) / (…).
// Rotation, scale and a perspective view of a flat sheet are all
// homographies, so four points fix one and many points refine it.
type homography [9]float64

func (h *homography) apply(p pt) pt {
	w := h[6]*p.x + h[7]*p.y + h[8]
	return pt{(h[0]*p.x + h[1]*p.y + h[2]) / w, (h[3]*p.x + h[4]*p.y + h[5]) / w}
}

func mul3(a, b homography) homography {
	var r homography
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				r[3*i+j] += a[3*i+k] * b[3*k+j]
			}
		}
	}
	return r
}

// normaliser moves points to their centroid and scales them to a mean
// distance of √2, which keeps the least-squares system well conditioned.
func normaliser(ps []pt) (n, inv homography) {
	var cx, cy float64
	for _, p := range ps {
		cx += p.x
		cy += p.y
	}
	cx /= float64(len(ps))
	cy /= float64(len(ps))
	d := 0.0
	for _, p := range ps {
		d += math.Hypot(p.x-cx, p.y-cy)
	}
	s := math.Sqrt2 / max(d/float64(len(ps)), 1e-9)
	return homography{s, 0, -s * cx, 0, s, -s * cy, 0, 0, 1},
		homography{1 / s, 0, cx, 0, 1 / s, cy, 0, 0, 1}
}

var errDegenerate = errors.New("degenerate point set")

// fitHomography is the least-squares homography taking src[i] to dst[i]
// (at least four pairs).
func fitHomography(src, dst []pt) (homography, error) {
	if len(src) < 4 || len(src) != len(dst) {
		return homography{}, errDegenerate
	}
	ns, _ := normaliser(src)
	nd, ndInv := normaliser(dst)
	var ata [8][9]float64 // normal equations, augmented
	for i := range src {
		s, d := ns.apply(src[i]), nd.apply(dst[i])
		rows := [2][9]float64{
			{s.x, s.y, 1, 0, 0, 0, -s.x * d.x, -s.y * d.x, d.x},
			{0, 0, 0, s.x, s.y, 1, -s.x * d.y, -s.y * d.y, d.y},
		}
		for _, r := range rows {
			for a := range 8 {
				for b := range 9 {
					ata[a][b] += r[a] * r[b]
				}
			}
		}
	}
	// Gaussian elimination with partial pivoting.
	for col := range 8 {
		piv := col
		for r := col + 1; r < 8; r++ {
			if math.Abs(ata[r][col]) > math.Abs(ata[piv][col]) {
				piv = r
			}
		}
		if math.Abs(ata[piv][col]) < 1e-12 {
			return homography{}, errDegenerate
		}
		ata[col], ata[piv] = ata[piv], ata[col]
		for r := range 8 {
			if r == col {
				continue
			}
			f := ata[r][col] / ata[col][col]
			for k := col; k < 9; k++ {
				ata[r][k] -= f * ata[col][k]
			}
		}
	}
	var hn homography
	for i := range 8 {
		hn[i] = ata[i][8] / ata[i][i]
	}
	hn[8] = 1
	return mul3(mul3(ndInv, hn), ns), nil
}

// toGray returns img as an 8-bit grey image with its origin at (0, 0),
// without a copy when it already is one, and with fast paths for what
// image/png and image/jpeg return.
func toGray(img image.Image) *image.Gray {
	b := img.Bounds()
	if g, ok := img.(*image.Gray); ok && b.Min == (image.Point{}) {
		return g
	}
	out := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	switch m := img.(type) {
	case *image.Gray:
		for y := range b.Dy() {
			copy(out.Pix[y*out.Stride:][:b.Dx()], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.YCbCr: // JPEG: the luma plane is the grey image
		for y := range b.Dy() {
			copy(out.Pix[y*out.Stride:][:b.Dx()], m.Y[m.YOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.RGBA:
		for y := range b.Dy() {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := out.Pix[y*out.Stride:][:b.Dx()]
			for x := range dst {
				r, g, bl := uint32(src[4*x]), uint32(src[4*x+1]), uint32(src[4*x+2])
				dst[x] = uint8((19595*r + 38470*g + 7471*bl + 1<<15) >> 16)
			}
		}
	default:
		draw.Draw(out, out.Rect, img, b.Min, draw.Src)
	}
	return out
}

// sample is the bilinear value of g at continuous coordinates (x, y),
// white outside the image (a scanner's lid).
func sample(g *image.Gray, x, y float64) float64 {
	x -= 0.5
	y -= 0.5
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	ix, iy := int(x0), int(y0)
	w, h := g.Rect.Dx(), g.Rect.Dy()
	if ix < 0 || iy < 0 || ix+1 >= w || iy+1 >= h {
		return float64(grayAt(g, ix, iy)*(1-fx)*(1-fy) + grayAt(g, ix+1, iy)*fx*(1-fy) +
			grayAt(g, ix, iy+1)*(1-fx)*fy + grayAt(g, ix+1, iy+1)*fx*fy)
	}
	p := g.Pix[iy*g.Stride+ix:]
	a, b := float64(p[0]), float64(p[1])
	c, d := float64(p[g.Stride]), float64(p[g.Stride+1])
	return (a*(1-fx)+b*fx)*(1-fy) + (c*(1-fx)+d*fx)*fy
}

func grayAt(g *image.Gray, x, y int) float64 {
	if x < 0 || y < 0 || x >= g.Rect.Dx() || y >= g.Rect.Dy() {
		return 255
	}
	return float64(g.Pix[y*g.Stride+x])
}

// warp samples the scan through h into a w×h image of grid pixels
// starting at grid pixel (x0, y0), averaging n×n bilinear samples per
// pixel so that a high-resolution scan's noise is averaged, not aliased.
func warp(scan *image.Gray, h homography, x0, y0, w, hgt, n int) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, w, hgt))
	inv := 1 / float64(n*n)
	for y := range hgt {
		row := out.Pix[y*out.Stride:][:w]
		for x := range row {
			s := 0.0
			for j := range n {
				for i := range n {
					p := h.apply(pt{float64(x0+x) + (float64(i)+0.5)/float64(n), float64(y0+y) + (float64(j)+0.5)/float64(n)})
					s += sample(scan, p.x, p.y)
				}
			}
			row[x] = uint8(s*inv + 0.5)
		}
	}
	return out
}
