package backside

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// printScan is one print-and-scan of a back: the printer (300 dpi, its
// ink density curve and dot spread), then the sheet on a scanner or under
// a camera (rotation, scale, perspective), the sensor (resolution, noise)
// and the file (JPEG or PNG).
type printScan struct {
	seed   uint64
	gamma  float64 // ink density curve, v^gamma
	blur   float64 // σ of the dot spread, in 300-dpi pixels
	dpi    int     // scan resolution
	rotate float64 // degrees
	flip   bool    // the sheet the other way up (a half turn more)
	scale  float64 // the printed page's scale (fit-to-page, paper shrink)
	persp  float64 // perspective: the far edge this fraction shorter
	noise  float64 // σ of the sensor noise, grey levels
	jpegQ  int     // 0: PNG
}

func (c printScan) String() string {
	s := fmt.Sprintf("%ddpi_rot%+.1f_s%.2f_p%.3f_g%.2f_b%.1f_n%.0f", c.dpi, c.rotate, c.scale, c.persp, c.gamma, c.blur, c.noise)
	if c.flip {
		s += "_180"
	}
	if c.jpegQ > 0 {
		s += fmt.Sprintf("_jpeg%d", c.jpegQ)
	} else {
		s += "_png"
	}
	return s
}

const printDPI = 300

// printAndScan prints back (at dpi) and scans it as c says.
func printAndScan(back *image.Gray, dpi int, c printScan) (image.Image, error) {
	pr := printed(back, dpi, c.gamma, c.blur)
	k := float64(printDPI) / float64(dpi)
	return scan(pr, int(float64(back.Rect.Dx())*k+0.5), int(float64(back.Rect.Dy())*k+0.5), c)
}

// The simulation's pixel loops are marked //go:norace: they work on
// buffers of their own, and under the race detector they would take most
// of the package's test budget. The code under test (Compose, Verify) stays
// instrumented.

// printed renders back (at its dpi) as a 300-dpi print: each pixel a
// square of toner, the density curve, then the spread of the dots.
//
//go:norace
func printed(back *image.Gray, dpi int, gamma, blur float64) []float32 {
	k := float64(printDPI) / float64(dpi)
	w, h := int(float64(back.Rect.Dx())*k+0.5), int(float64(back.Rect.Dy())*k+0.5)
	var lut [256]float32
	for v := range lut {
		// paper 245, toner 25
		lut[v] = float32(25 + 220*math.Pow(float64(v)/255, gamma))
	}
	img := make([]float32, w*h)
	for y := range h {
		sy := min(int(float64(y)/k), back.Rect.Dy()-1)
		for x := range w {
			img[y*w+x] = lut[back.Pix[sy*back.Stride+min(int(float64(x)/k), back.Rect.Dx()-1)]]
		}
	}
	blurF(img, w, h, blur)
	return img
}

// blurF is restore.go's gaussBlur, uninstrumented for the simulation.
//
//go:norace
func blurF(img []float32, w, h int, sigma float64) {
	r := int(math.Ceil(3 * sigma))
	kern := make([]float32, 2*r+1)
	sum := float32(0)
	for i := range kern {
		d := float64(i - r)
		kern[i] = float32(math.Exp(-d * d / (2 * sigma * sigma)))
		sum += kern[i]
	}
	for i := range kern {
		kern[i] /= sum
	}
	tmp := make([]float32, w)
	for y := range h {
		row := img[y*w : y*w+w]
		for x := range w {
			s := float32(0)
			if x >= r && x+r < w {
				for i, kv := range kern {
					s += kv * row[x+i-r]
				}
			} else {
				for i, kv := range kern {
					s += kv * row[min(max(x+i-r, 0), w-1)]
				}
			}
			tmp[x] = s
		}
		copy(row, tmp)
	}
	out := make([]float32, w*h)
	for y := range h {
		o := out[y*w : y*w+w]
		for i, kv := range kern {
			yy := min(max(y+i-r, 0), h-1)
			for x, v := range img[yy*w : yy*w+w] {
				o[x] += kv * v
			}
		}
	}
	copy(img, out)
}

// scan images a print (pw×ph at 300 dpi) as c says, and returns the file's
// decoded image.
func scan(print []float32, pw, ph int, c printScan) (image.Image, error) {
	rng := rand.New(rand.NewPCG(c.seed, 0x5ca11))
	r := float64(c.dpi) / printDPI // scan px per print px
	// The scanner bed: the sheet plus a few millimetres around it.
	sw, sh := int(float64(pw)*r*1.08), int(float64(ph)*r*1.08)
	// Forward map print → scan: about the sheet's centre, scale, rotate
	// (the perspective tilts the far edge), then to the bed's centre.
	th := c.rotate * math.Pi / 180
	if c.flip {
		th += math.Pi
	}
	s := r * c.scale
	cos, sin := math.Cos(th)*s, math.Sin(th)*s
	cx, cy := float64(pw)/2, float64(ph)/2
	// perspective term: w = 1 + p·(y-cy)/ph, so the top edge is (1+p/2)
	// times as wide as… a tilted sheet's far edge is shorter.
	pv := c.persp / float64(ph)
	ph2 := 0.3 * pv * (rng.Float64() - 0.5) // and a little sideways tilt
	fwd := homography{cos, -sin, 0, sin, cos, 0, ph2, pv, 1}
	fwd = mul3(homography{1, 0, float64(sw) / 2, 0, 1, float64(sh) / 2, 0, 0, 1}, mul3(fwd, homography{1, 0, -cx, 0, 1, -cy, 0, 0, 1}))
	inv := invert3(fwd)
	n := 1
	if r < 1 {
		n = 2 // the sensor integrates over its pixel
	}
	out := image.NewGray(image.Rect(0, 0, sw, sh))
	sensor(out, print, pw, ph, inv, n, c.noise, rng)
	if c.jpegQ == 0 {
		return out, nil // PNG is lossless: the file would give back these pixels
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, out, &jpeg.Options{Quality: c.jpegQ}); err != nil {
		return nil, err
	}
	return jpeg.Decode(&b)
}

// sensor samples the print through inv (scan → print), n×n samples a
// pixel, and adds the sensor's noise.
//
//go:norace
func sensor(out *image.Gray, print []float32, pw, ph int, inv homography, n int, noise float64, rng *rand.Rand) {
	lid := float32(250)
	sw, sh := out.Rect.Dx(), out.Rect.Dy()
	// Noise from an inline xorshift (the sum of four uniforms, scaled to
	// σ 1): a call per pixel into math/rand would be instrumented.
	state := rng.Uint64() | 1
	unif := func() float64 {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		return float64(state>>11) / (1 << 53)
	}
	h := [9]float64(inv)
	for y := range sh {
		for x := range sw {
			acc := float32(0)
			for j := range n {
				for i := range n {
					u, v := float64(x)+(float64(i)+0.5)/float64(n), float64(y)+(float64(j)+0.5)/float64(n)
					w := h[6]*u + h[7]*v + h[8]
					acc += bilinearF(print, pw, ph, (h[0]*u+h[1]*v+h[2])/w, (h[3]*u+h[4]*v+h[5])/w, lid)
				}
			}
			g := (unif() + unif() + unif() + unif() - 2) * math.Sqrt(3)
			v := float64(acc)/float64(n*n) + g*noise
			out.Pix[y*out.Stride+x] = uint8(min(max(v+0.5, 0), 255))
		}
	}
}

//go:norace
func bilinearF(img []float32, w, h int, x, y float64, outside float32) float32 {
	x -= 0.5
	y -= 0.5
	x0, y0 := int(math.Floor(x)), int(math.Floor(y))
	if x0 < 0 || y0 < 0 || x0+1 >= w || y0+1 >= h {
		return outside
	}
	fx, fy := float32(x-float64(x0)), float32(y-float64(y0))
	i := y0*w + x0
	return (img[i]*(1-fx)+img[i+1]*fx)*(1-fy) + (img[i+w]*(1-fx)+img[i+w+1]*fx)*fy
}

func invert3(m homography) homography {
	a, b, c, d, e, f, g, h, i := m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]
	det := a*(e*i-f*h) - b*(d*i-f*g) + c*(d*h-e*g)
	return homography{
		(e*i - f*h) / det, (c*h - b*i) / det, (b*f - c*e) / det,
		(f*g - d*i) / det, (a*i - c*g) / det, (c*d - a*f) / det,
		(d*h - e*g) / det, (b*g - a*h) / det, (a*e - b*d) / det,
	}
}

// ssim is the mean structural similarity of a and b (same size) over
// each of the rectangles rs, with the usual 11×11 Gaussian window of σ 1.5
// and constants (0.01·255)², (0.03·255)² (Wang et al. 2004).
//
//go:norace
func ssim(a, b *image.Gray, rs ...image.Rectangle) []float64 {
	w, h := a.Rect.Dx(), a.Rect.Dy()
	n := w * h
	mx, my := make([]float32, n), make([]float32, n)
	xx, yy, xy := make([]float32, n), make([]float32, n), make([]float32, n)
	for y := range h {
		for x := range w {
			i := y*w + x
			va, vb := float32(a.Pix[y*a.Stride+x]), float32(b.Pix[y*b.Stride+x])
			mx[i], my[i], xx[i], yy[i], xy[i] = va, vb, va*va, vb*vb, va*vb
		}
	}
	for _, m := range [][]float32{mx, my, xx, yy, xy} {
		blurF(m, w, h, 1.5)
	}
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var out []float64
	for _, r := range rs {
		sum := 0.0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				i := y*w + x
				ux, uy := float64(mx[i]), float64(my[i])
				sx, sy, sxy := float64(xx[i])-ux*ux, float64(yy[i])-uy*uy, float64(xy[i])-ux*uy
				sum += (2*ux*uy + c1) * (2*sxy + c2) / ((ux*ux + uy*uy + c1) * (sx + sy + c2))
			}
		}
		out = append(out, sum/float64(r.Dx()*r.Dy()))
	}
	return out
}
