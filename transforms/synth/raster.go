package synth

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// rgb is a linear-ish colour in 0..255 floats; kept as floats so shading and
// lighting compose without banding.
type rgb struct{ R, G, B float64 }

func (c rgb) scale(k float64) rgb { return rgb{c.R * k, c.G * k, c.B * k} }
func (c rgb) mix(d rgb, t float64) rgb {
	return rgb{c.R + (d.R-c.R)*t, c.G + (d.G-c.G)*t, c.B + (d.B-c.B)*t}
}

// canvas is a packed RGB24 frame, the exact bytes handed to ffmpeg.
type canvas struct {
	W, H int
	Pix  []byte
}

func newCanvas(w, h int) *canvas { return &canvas{W: w, H: h, Pix: make([]byte, w*h*3)} }

func clamp8(v float64) byte {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return byte(v + 0.5)
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

// blend paints colour c over pixel (x, y) with coverage a.
func (cv *canvas) blend(x, y int, c rgb, a float64) {
	o := (y*cv.W + x) * 3
	p := cv.Pix[o : o+3 : o+3]
	if a >= 1 {
		p[0], p[1], p[2] = clamp8(c.R), clamp8(c.G), clamp8(c.B)
		return
	}
	p[0] = clamp8(float64(p[0]) + (c.R-float64(p[0]))*a)
	p[1] = clamp8(float64(p[1]) + (c.G-float64(p[1]))*a)
	p[2] = clamp8(float64(p[2]) + (c.B-float64(p[2]))*a)
}

// sdfShape fills the pixels where dist < 0 with anti-aliased edges. dist
// returns the signed distance in pixels and a shading factor for that point.
// Shapes are drawn by signed distance because one routine then gives smooth
// edges, tapered limbs and rounded boxes alike, at a cost bounded by the
// shape's bounding box.
func (cv *canvas) sdfShape(minX, minY, maxX, maxY float64, col rgb, alpha float64, dist func(x, y float64) (d, shade float64)) {
	x0, y0 := max(0, int(math.Floor(minX-1))), max(0, int(math.Floor(minY-1)))
	x1, y1 := min(cv.W-1, int(math.Ceil(maxX+1))), min(cv.H-1, int(math.Ceil(maxY+1)))
	for y := y0; y <= y1; y++ {
		py := float64(y) + 0.5
		for x := x0; x <= x1; x++ {
			d, shade := dist(float64(x)+0.5, py)
			if d >= 0.5 {
				continue
			}
			a := clamp01(0.5-d) * alpha
			cv.blend(x, y, col.scale(shade), a)
		}
	}
}

// capsule draws a limb: a segment from a to b with radius ra at a and rb at b,
// shaded darker toward its silhouette so it reads as round.
func (cv *canvas) capsule(ax, ay, bx, by, ra, rb float64, col rgb) {
	r := math.Max(ra, rb)
	cv.sdfShape(math.Min(ax, bx)-r, math.Min(ay, by)-r, math.Max(ax, bx)+r, math.Max(ay, by)+r, col, 1,
		func(x, y float64) (float64, float64) {
			d, rl := unevenCapsule(x-ax, y-ay, bx-ax, by-ay, ra, rb)
			depth := clamp01(-d / (0.6*rl + 0.5))
			return d, 0.72 + 0.28*math.Sqrt(depth)
		})
}

// unevenCapsule is the signed distance from p to a capsule from the origin to
// b with end radii ra and rb (Inigo Quilez's formulation); it also returns the
// local radius for shading.
func unevenCapsule(px, py, bx, by, ra, rb float64) (float64, float64) {
	h := bx*bx + by*by
	if h < 1e-9 || math.Abs(ra-rb) >= math.Sqrt(h) {
		// Degenerate: one end swallows the other; a circle is the honest shape.
		r := math.Max(ra, rb)
		cx, cy := 0.0, 0.0
		if rb > ra {
			cx, cy = bx, by
		}
		return math.Hypot(px-cx, py-cy) - r, r
	}
	qx := math.Abs(px*by-py*bx) / h
	qy := (px*bx + py*by) / h
	b := ra - rb
	cx, cy := math.Sqrt(h-b*b), b
	k := cx*qy - cy*qx
	m := cx*qx + cy*qy
	n := qx*qx + qy*qy
	t := clamp01(qy)
	rl := ra + (rb-ra)*t
	switch {
	case k < 0:
		return math.Sqrt(h*n) - ra, ra
	case k > cx:
		return math.Sqrt(h*(n+1-2*qy)) - rb, rb
	default:
		return m - ra, rl
	}
}

// disc draws a filled circle with soft shading.
func (cv *canvas) disc(cx, cy, r float64, col rgb) {
	cv.sdfShape(cx-r, cy-r, cx+r, cy+r, col, 1, func(x, y float64) (float64, float64) {
		d := math.Hypot(x-cx, y-cy) - r
		return d, 0.8 + 0.2*math.Sqrt(clamp01(-d/(0.6*r+0.5)))
	})
}

// ellipse draws a filled axis-aligned ellipse (approximate distance).
func (cv *canvas) ellipse(cx, cy, rx, ry float64, col rgb, alpha float64) {
	cv.sdfShape(cx-rx, cy-ry, cx+rx, cy+ry, col, alpha, func(x, y float64) (float64, float64) {
		dx, dy := (x-cx)/rx, (y-cy)/ry
		k := math.Hypot(dx, dy)
		return (k - 1) * math.Min(rx, ry), 1
	})
}

// box draws a rectangle with rounded corners (radius rr), flat shaded.
func (cv *canvas) box(x0, y0, x1, y1, rr float64, col rgb, alpha float64) {
	cx, cy := (x0+x1)/2, (y0+y1)/2
	hx, hy := math.Abs(x1-x0)/2, math.Abs(y1-y0)/2
	rr = math.Min(rr, math.Min(hx, hy))
	cv.sdfShape(cx-hx, cy-hy, cx+hx, cy+hy, col, alpha, func(x, y float64) (float64, float64) {
		qx, qy := math.Abs(x-cx)-hx+rr, math.Abs(y-cy)-hy+rr
		out := math.Hypot(math.Max(qx, 0), math.Max(qy, 0))
		return out + math.Min(math.Max(qx, qy), 0) - rr, 1
	})
}

// rectOutline draws a hollow rectangle of the given line width.
func (cv *canvas) rectOutline(x0, y0, x1, y1, lw float64, col rgb) {
	cv.box(x0, y0, x1, y0+lw, 0, col, 1)
	cv.box(x0, y1-lw, x1, y1, 0, col, 1)
	cv.box(x0, y0, x0+lw, y1, 0, col, 1)
	cv.box(x1-lw, y0, x1, y1, 0, col, 1)
}

// textMask renders s with the 7x13 bitmap face, scaled by an integer factor,
// into an alpha mask: burned-in captions and logos for the overlay defect.
func textMask(s string, scale int) *image.Alpha {
	face := basicfont.Face7x13
	w := font.MeasureString(face, s).Ceil()
	h := face.Metrics().Height.Ceil()
	small := image.NewAlpha(image.Rect(0, 0, max(w, 1), max(h, 1)))
	d := font.Drawer{Dst: small, Src: image.NewUniform(color.Alpha{255}), Face: face,
		Dot: fixed.P(0, face.Metrics().Ascent.Ceil())}
	d.DrawString(s)
	if scale <= 1 {
		return small
	}
	big := image.NewAlpha(image.Rect(0, 0, small.Rect.Dx()*scale, small.Rect.Dy()*scale))
	for y := 0; y < big.Rect.Dy(); y++ {
		for x := 0; x < big.Rect.Dx(); x++ {
			big.Pix[y*big.Stride+x] = small.Pix[(y/scale)*small.Stride+x/scale]
		}
	}
	return big
}

// stamp blends colour c through mask m with its top-left at (ox, oy).
func (cv *canvas) stamp(m *image.Alpha, ox, oy int, c rgb, alpha float64) {
	for y := 0; y < m.Rect.Dy(); y++ {
		cy := oy + y
		if cy < 0 || cy >= cv.H {
			continue
		}
		for x := 0; x < m.Rect.Dx(); x++ {
			cx := ox + x
			if cx < 0 || cx >= cv.W {
				continue
			}
			if a := m.Pix[y*m.Stride+x]; a != 0 {
				cv.blend(cx, cy, c, float64(a)/255*alpha)
			}
		}
	}
}

// boxBlur blurs the frame in place with two separable box passes (close to a
// Gaussian), the heavy-blur defect. tmp must hold W*H*3 bytes.
func (cv *canvas) boxBlur(radius int, tmp []byte) {
	if radius < 1 {
		return
	}
	for pass := 0; pass < 2; pass++ {
		blurLine(cv.Pix, tmp, cv.W, cv.H, radius, true)
		blurLine(tmp, cv.Pix, cv.W, cv.H, radius, false)
	}
}

// blurLine runs a moving-average along rows (horizontal) or columns.
func blurLine(src, dst []byte, w, h, r int, horizontal bool) {
	n, lines := w, h
	if !horizontal {
		n, lines = h, w
	}
	idx := func(line, i int) int {
		if horizontal {
			return (line*w + i) * 3
		}
		return (i*w + line) * 3
	}
	win := float64(2*r + 1)
	for line := 0; line < lines; line++ {
		for c := 0; c < 3; c++ {
			sum := 0
			for i := -r; i <= r; i++ {
				sum += int(src[idx(line, min(max(i, 0), n-1))+c])
			}
			for i := 0; i < n; i++ {
				dst[idx(line, i)+c] = byte(float64(sum)/win + 0.5)
				add := min(i+r+1, n-1)
				sub := max(i-r, 0)
				sum += int(src[idx(line, add)+c]) - int(src[idx(line, sub)+c])
			}
		}
	}
}

// toImage copies the canvas into an image for thumbnails and PNGs.
func (cv *canvas) toImage() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, cv.W, cv.H))
	for i, j := 0, 0; i < len(cv.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = cv.Pix[i], cv.Pix[i+1], cv.Pix[i+2], 255
	}
	return img
}

// thumbnail scales img to fit w x h (letterboxed, box filter) for the contact sheet.
func thumbnail(img image.Image, w, h int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.RGBA{24, 24, 24, 255}), image.Point{}, draw.Src)
	b := img.Bounds()
	k := math.Min(float64(w)/float64(b.Dx()), float64(h)/float64(b.Dy()))
	tw, th := int(float64(b.Dx())*k), int(float64(b.Dy())*k)
	ox, oy := (w-tw)/2, (h-th)/2
	for y := 0; y < th; y++ {
		sy0, sy1 := b.Min.Y+int(float64(y)/k), b.Min.Y+int(float64(y+1)/k)
		for x := 0; x < tw; x++ {
			sx0, sx1 := b.Min.X+int(float64(x)/k), b.Min.X+int(float64(x+1)/k)
			var r, g, bl, n uint32
			for sy := sy0; sy < max(sy1, sy0+1); sy++ {
				for sx := sx0; sx < max(sx1, sx0+1); sx++ {
					cr, cg, cb, _ := img.At(sx, sy).RGBA()
					r, g, bl, n = r+cr>>8, g+cg>>8, bl+cb>>8, n+1
				}
			}
			out.Set(ox+x, oy+y, color.RGBA{uint8(r / n), uint8(g / n), uint8(bl / n), 255})
		}
	}
	return out
}
