// Package quality measures the frame signals curation decides on: luma
// statistics, HSV content change (scene cuts), sharpness (variance of the
// Laplacian), block-matching motion split into a camera model and the
// subject motion left over, and a burned-in text/overlay score. It works on
// small RGB24 frames pushed one at a time, so a video is never held whole.
package quality

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// FrameStats are the figures of one analysed frame. Motion figures compare
// the frame with the one MotionStride frames earlier (about 1/8 s) and are
// per second; a frame with nothing to compare against has HasMotion false.
type FrameStats struct {
	T float64 // seconds from the start of the decode

	LumaMean   float64
	LumaStd    float64
	DarkFrac   float64 // luma < 20
	BrightFrac float64 // luma > 235
	Sharpness  float64 // variance of the 4-neighbour Laplacian of the luma

	// ContentDelta is PySceneDetect's content_val: the mean absolute change of
	// H, S and V against the previous frame (H on OpenCV's 0..179 scale).
	ContentDelta float64

	HasMotion bool
	FrameDiff float64 // mean absolute luma change per second
	// Camera model (similarity fit of the block vectors), per second:
	// translation in percent of the frame width, zoom in percent.
	CameraDX, CameraDY, CameraZoom float64
	// Subject motion: mean block displacement left after the camera model,
	// percent of the frame width per second; MovingFrac: share of textured
	// blocks whose residual is clearly above the matching noise.
	Subject    float64
	MovingFrac float64
	// After compensating the camera: mean absolute luma change per second,
	// and the share of pixels that changed (per compared pair).
	ResidualDiff float64
	ChangedFrac  float64

	// TextFrac is the share of cells dense with thin high-contrast strokes.
	TextFrac float64
}

// Options tune the analyser.
type Options struct {
	// MotionStepS is the time between the two frames compared for motion
	// (default 1/8 s): per-frame displacements at 30 fps are too small to
	// measure at analysis resolution.
	MotionStepS float64
}

// Analyzer accumulates FrameStats from pushed RGB24 frames.
type Analyzer struct {
	W, H   int
	FPS    float64
	stride int

	luma     []uint8
	hsv      []uint8 // 3 planes H,S,V interleaved by pixel
	prevHSV  []uint8
	havePrev bool
	lastRGB  []byte     // the previous frame, to know a repeat
	lastFS   FrameStats // and its figures (Frames is the caller's to read)

	mw, mh int
	ring   []motionFrame // the last stride+1 frames
	n      int

	cellsX, cellsY int
	cells          [][]uint64 // per frame: text-like cells bitmap
	cellCounts     []uint16   // textCells' counters, reused

	ms motionScratch

	Frames []FrameStats
}

// NewAnalyzer prepares for frames of w x h at fps.
func NewAnalyzer(w, h int, fps float64, o Options) (*Analyzer, error) {
	if w < 16 || h < 16 || fps <= 0 {
		return nil, fmt.Errorf("analyzer: bad frame spec %dx%d at %g fps", w, h, fps)
	}
	if o.MotionStepS <= 0 {
		o.MotionStepS = 0.125
	}
	a := &Analyzer{W: w, H: h, FPS: fps}
	a.stride = max(1, int(math.Round(o.MotionStepS*fps)))
	a.luma = make([]uint8, w*h)
	a.hsv = make([]uint8, w*h*3)
	a.prevHSV = make([]uint8, w*h*3)
	a.lastRGB = make([]byte, w*h*3)
	a.mw, a.mh = w/2, h/2
	a.ring = make([]motionFrame, a.stride+1)
	for i := range a.ring {
		a.ring[i] = motionFrame{
			luma:    make([]uint8, a.mw*a.mh),
			quarter: make([]uint8, (a.mw/2)*(a.mh/2)),
			sums:    make([]uint16, a.mw*a.mh),
		}
	}
	a.ms.colSums = make([]uint16, a.mw*a.mh)
	a.cellsX, a.cellsY = w/cellSize, h/cellSize
	a.cellCounts = make([]uint16, a.cellsX*a.cellsY)
	return a, nil
}

// Stride is the number of frames between the two compared for motion.
func (a *Analyzer) Stride() int { return a.stride }

// Push analyses the next frame (packed RGB24, W*H*3 bytes).
func (a *Analyzer) Push(rgb []byte) error {
	if len(rgb) < a.W*a.H*3 {
		return fmt.Errorf("analyzer: frame has %d bytes, want %d", len(rgb), a.W*a.H*3)
	}
	var fs FrameStats
	fs.T = float64(a.n) / a.FPS
	frame := rgb[:a.W*a.H*3]
	cur := &a.ring[a.n%len(a.ring)]
	var bits []uint64
	// A frame equal to the one before (a source of lower rate than the
	// analysis repeats frames) has that frame's luma, HSV and text cells,
	// so its own figures are copied, and its HSV change is 0 (as summing
	// the equal planes gave). Only the motion pair is new.
	if a.havePrev && bytes.Equal(frame, a.lastRGB) {
		last := &a.lastFS
		fs.LumaMean, fs.LumaStd, fs.DarkFrac, fs.BrightFrac = last.LumaMean, last.LumaStd, last.DarkFrac, last.BrightFrac
		fs.Sharpness, fs.TextFrac = last.Sharpness, last.TextFrac
		bits = append([]uint64(nil), a.cells[a.n-1]...)
		// a.luma and a.prevHSV already hold this frame's planes.
		lastM := &a.ring[(a.n-1)%len(a.ring)]
		copy(cur.luma, lastM.luma)
		copy(cur.quarter, lastM.quarter)
		copy(cur.sums, lastM.sums)
	} else {
		copy(a.lastRGB, frame)
		var hist [256]int
		lumaHist(frame, a.luma, &hist)
		toHSV(frame, a.hsv)
		fs.LumaMean, fs.LumaStd, fs.DarkFrac, fs.BrightFrac = lumaStats(&hist, len(a.luma))
		fs.Sharpness = laplacianVar(a.luma, a.W, a.H)
		if a.havePrev {
			fs.ContentDelta = contentDelta(a.hsv, a.prevHSV)
		}
		a.hsv, a.prevHSV = a.prevHSV, a.hsv
		a.havePrev = true

		downsample2(a.luma, a.W, a.H, cur.luma, a.mw, a.mh)
		// What the search needs of a frame is made once, here, rather
		// than again for every pair it is in.
		downsample2(cur.luma, a.mw, a.mh, cur.quarter, a.mw/2, a.mh/2)
		windowSums(cur.luma, a.mw, a.mh, cur.sums, a.ms.colSums)

		bits = make([]uint64, (a.cellsX*a.cellsY+63)/64)
		fs.TextFrac = textCells(a.luma, a.W, a.H, a.cellsX, a.cellsY, bits, a.cellCounts)
	}
	if a.n >= a.stride {
		prev := &a.ring[(a.n-a.stride)%len(a.ring)]
		m := estimateMotion(prev, cur, a.mw, a.mh, &a.ms)
		dt := float64(a.stride) / a.FPS
		toPct := 100 / float64(a.mw) / dt
		fs.HasMotion = true
		fs.FrameDiff = m.meanAbsDiff / dt
		fs.CameraDX = m.tx * toPct
		fs.CameraDY = m.ty * toPct
		fs.CameraZoom = m.zoom * 100 / dt
		fs.Subject = m.subject * toPct
		fs.MovingFrac = m.movingFrac
		fs.ResidualDiff = m.residualDiff / dt
		fs.ChangedFrac = m.changedFrac
	}
	a.cells = append(a.cells, bits)
	a.Frames = append(a.Frames, fs)
	a.lastFS = fs
	a.n++
	return nil
}

// OverlayScore is the share of cells that look like text in at least half of
// the frames [from, to): burned-in text and logos stay put while footage
// changes, so persistence separates them from passing texture. It also
// returns the mean per-frame text share.
func (a *Analyzer) OverlayScore(from, to int) (persistent, mean float64) {
	from = max(from, 0)
	to = min(to, len(a.cells))
	n := to - from
	if n <= 0 || a.cellsX*a.cellsY == 0 {
		return 0, 0
	}
	total := a.cellsX * a.cellsY
	counts := make([]int, total)
	for f := from; f < to; f++ {
		bits := a.cells[f]
		for c := 0; c < total; c++ {
			if bits[c>>6]&(1<<(c&63)) != 0 {
				counts[c]++
			}
		}
		mean += a.Frames[f].TextFrac
	}
	need := (n + 1) / 2
	hits := 0
	for _, c := range counts {
		if c >= need {
			hits++
		}
	}
	return float64(hits) / float64(total), mean / float64(n)
}

// recip[k] is floor(2**32/k)+1, so that n*recip[k]>>32 == n/k exactly for
// every n with n*k < 2**32 (here n <= 255*255+127): the per-pixel divisions
// of the HSV conversion become multiplies. recip[0] is 0, which yields the
// 0 the conversion wants wherever it would divide by zero (the numerator is
// 0 there too).
var recip = func() (t [256]uint64) {
	for k := 1; k < 256; k++ {
		t[k] = 1<<32/uint64(k) + 1
	}
	return t
}()

// lumaHist converts packed RGB to BT.601 luma and counts the luma values
// into hist.
func lumaHist(rgb []byte, luma []uint8, hist *[256]int) {
	// Two histograms, one for even and one for odd pixels, so that runs of
	// equal luma do not each wait on one counter's previous increment.
	var h0, h1 [256]int32
	n := len(luma)
	rgb = rgb[:3*n]
	j := 0
	for ; j+2 <= n; j += 2 {
		p := rgb[3*j : 3*j+6 : 3*j+6]
		y0 := uint8((77*int(p[0]) + 150*int(p[1]) + 29*int(p[2]) + 128) >> 8)
		y1 := uint8((77*int(p[3]) + 150*int(p[4]) + 29*int(p[5]) + 128) >> 8)
		l := luma[j : j+2 : j+2]
		l[0], l[1] = y0, y1
		h0[y0]++
		h1[y1]++
	}
	for ; j < n; j++ {
		y := uint8((77*int(rgb[3*j]) + 150*int(rgb[3*j+1]) + 29*int(rgb[3*j+2]) + 128) >> 8)
		luma[j] = y
		h0[y]++
	}
	for v := range hist {
		hist[v] = int(h0[v] + h1[v])
	}
}

// toHSV converts packed RGB to OpenCV-style HSV (H 0..179, S and V
// 0..255), as PySceneDetect sees frames. (A pass of its own: together with
// the luma, the loop's values did not fit the registers.)
func toHSV(rgb []byte, hsv []uint8) {
	hsv = hsv[:len(rgb)]
	for i := 0; i+3 <= len(rgb); i += 3 {
		p := rgb[i : i+3 : i+3]
		r, g, b := int(p[0]), int(p[1]), int(p[2])
		v := max(r, g, b)
		d := v - min(r, g, b)
		s := uint64(255*d+v/2) * recip[uint8(v)] >> 32
		// The hue's sector: the first channel equal to the maximum.
		num, off := r-g, 120
		if v == g {
			num, off = b-r, 60
		}
		if v == r {
			num, off = g-b, 0
		}
		// 30*num/d, truncated toward zero as Go's division does.
		q := int(uint64(30*abs(num)) * recip[uint8(d)] >> 32)
		if num < 0 {
			q = -q
		}
		h := off + q
		if h < 0 {
			h += 180
		}
		o := hsv[i : i+3 : i+3]
		o[0], o[1], o[2] = uint8(h), uint8(s), uint8(v)
	}
}

// lumaStats derives the luma figures from the histogram of a frame of n
// pixels.
func lumaStats(hist *[256]int, npix int) (mean, std, dark, bright float64) {
	var sum, sum2 float64
	nd, nb := 0, 0
	for v, c := range hist {
		f := float64(c)
		sum += f * float64(v)
		sum2 += f * float64(v*v)
		if v < 20 {
			nd += c
		} else if v > 235 {
			nb += c
		}
	}
	n := float64(npix)
	mean = sum / n
	std = math.Sqrt(math.Max(0, sum2/n-mean*mean))
	return mean, std, float64(nd) / n, float64(nb) / n
}

// laplacianVar is OpenCV's cv2.Laplacian(ksize=1).var() on the interior.
func laplacianVar(y []uint8, w, h int) float64 {
	// Integer sums: they were added up as floats row by row, but every
	// partial sum is an integer below 2**53 (|l| <= 1020, so for any frame
	// under 8e9 pixels), which floats hold exactly, so the totals are the
	// same.
	var sum, sum2 int
	for r := 1; r < h-1; r++ {
		row := y[r*w : (r+1)*w]
		up := y[(r-1)*w : r*w]
		dn := y[(r+1)*w : (r+2)*w]
		up, dn = up[:len(row)], dn[:len(row)]
		for x := 1; x < len(row)-1; x++ {
			l := int(up[x]) + int(dn[x]) + int(row[x-1]) + int(row[x+1]) - 4*int(row[x])
			sum += l
			sum2 += l * l
		}
	}
	n := float64((w - 2) * (h - 2))
	m := float64(sum) / n
	return float64(sum2)/n - m*m
}

// contentDelta is PySceneDetect's ContentDetector score with its default
// weights (hue, saturation, value equally; edges off). The mean of the three
// channel means is the mean over all interleaved bytes: the channel sums are
// integers far below 2**53, so adding them as floats was exact and one
// integer total gives the same figure.
func contentDelta(a, b []uint8) float64 {
	n := float64(len(a) / 3)
	return float64(sad(a, b)) / (3 * n)
}

// downsample2 halves src (w x h) into dst (dw x dh), each pixel the rounded
// mean of a 2x2 square.
func downsample2(src []uint8, w, h int, dst []uint8, dw, dh int) {
	for y := 0; y < dh; y++ {
		r0 := src[2*y*w : 2*y*w+2*dw]
		r1 := src[(2*y+1)*w : (2*y+1)*w+2*dw]
		d := dst[y*dw : (y+1)*dw]
		x := 0
		// Four pixels at a time: each pair of bytes summed in a 16-bit
		// lane (at most 4*255+2 with both rows and the rounding), then the
		// four quotients packed back into bytes.
		for ; x+4 <= dw; x += 4 {
			a := binary.LittleEndian.Uint64(r0[2*x:])
			b := binary.LittleEndian.Uint64(r1[2*x:])
			s := (pairSum16(a) + pairSum16(b) + 0x0002000200020002) >> 2 & lanesEven
			s = (s | s>>8) & 0x0000ffff0000ffff
			binary.LittleEndian.PutUint32(d[x:], uint32(s|s>>16))
		}
		for ; x < dw; x++ {
			d[x] = uint8((int(r0[2*x]) + int(r0[2*x+1]) + int(r1[2*x]) + int(r1[2*x+1]) + 2) >> 2)
		}
	}
}
