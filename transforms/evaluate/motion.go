package evaluate

import (
	"math"
	"sort"
)

// Flow and motion parameters (see the package comment).
const (
	BlockSize    = 8
	BlockStep    = 4
	SearchRadius = 5
	// MinTexture skips blocks too flat to match (mean absolute gradient of
	// the smoothed luma, 0..255): they count as still.
	MinTexture = 1.0
	// NoiseFloor is the least noise level assumed (mean absolute residual
	// a pixel, smoothed luma 0..255): 8-bit rounding and compression leave
	// about this much in a still clip.
	NoiseFloor = 0.5
	// MatchMargin is how many noise levels a pixel a displaced match must
	// save over no motion at all before the block counts as moving.
	MatchMargin = 1.5
	// MatchRatio caps the displaced match's cost as a share of the
	// no-motion cost: the motion must explain most of the change.
	MatchRatio = 0.6
	// AreaNoise and AreaFloor set the changed-pixel threshold of the moving
	// area: max(AreaNoise * noise level, AreaFloor) luma levels.
	AreaNoise = 4.0
	AreaFloor = 3.0
	// DynamicFrac is the dynamic-degree threshold: a clip is dynamic when
	// the mean over frame pairs of its fastest 5% of blocks moves at least
	// this share of the frame width a model frame (VBench's dynamic degree
	// thresholds RAFT flow the same way, relative to the frame size).
	DynamicFrac = 0.02
)

// Vec is a displacement in pixels.
type Vec struct{ X, Y float64 }

// Len is the vector's length.
func (v Vec) Len() float64 { return math.Hypot(v.X, v.Y) }

// Luma converts an RGB24 frame to BT.601 luma on 0..255.
func Luma(rgb []byte) []float64 {
	y := make([]float64, len(rgb)/3)
	for i := range y {
		y[i] = 0.299*float64(rgb[3*i]) + 0.587*float64(rgb[3*i+1]) + 0.114*float64(rgb[3*i+2])
	}
	return y
}

// Smooth filters a luma frame with the 5-tap binomial kernel
// [1 4 6 4 1]/16 in both directions (a Gaussian of sigma 1), edges
// replicated. Per-pixel noise drops to about a quarter of its level while
// an edge moves exactly as before, so matching sees the picture, not the
// grain.
func Smooth(y []float64, w, h int) []float64 {
	k := [5]float64{1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16}
	tmp := make([]float64, len(y))
	for r := 0; r < h; r++ {
		row := y[r*w : (r+1)*w]
		for x := 0; x < w; x++ {
			var s float64
			for i := -2; i <= 2; i++ {
				s += k[i+2] * row[min(max(x+i, 0), w-1)]
			}
			tmp[r*w+x] = s
		}
	}
	out := make([]float64, len(y))
	for r := 0; r < h; r++ {
		for x := 0; x < w; x++ {
			var s float64
			for i := -2; i <= 2; i++ {
				s += k[i+2] * tmp[min(max(r+i, 0), h-1)*w+x]
			}
			out[r*w+x] = s
		}
	}
	return out
}

// Median3 replaces each pixel of a luma frame by the median of its 3x3
// neighbourhood (edges replicated). A speck of up to 2x2 pixels covers at
// most 4 of the 9 and vanishes; edges, and lines two pixels wide or more,
// keep their place.
func Median3(y []float64, w, h int) []float64 {
	out := make([]float64, len(y))
	var win [9]float64
	for r := 0; r < h; r++ {
		for x := 0; x < w; x++ {
			k := 0
			for dy := -1; dy <= 1; dy++ {
				row := min(max(r+dy, 0), h-1) * w
				for dx := -1; dx <= 1; dx++ {
					win[k] = y[row+min(max(x+dx, 0), w-1)]
					k++
				}
			}
			// Partial selection sort up to the middle: the fifth smallest.
			for i := 0; i <= 4; i++ {
				m := i
				for j := i + 1; j < 9; j++ {
					if win[j] < win[m] {
						m = j
					}
				}
				win[i], win[m] = win[m], win[i]
			}
			out[r*w+x] = win[4]
		}
	}
	return out
}

// FlowGrid is the number of block columns and rows for a frame size.
func FlowGrid(w, h int) (int, int) {
	return (w-BlockSize)/BlockStep + 1, (h-BlockSize)/BlockStep + 1
}

// blockCentre is the centre of block (bx, by) in pixel coordinates.
func blockCentre(bx, by int) Vec {
	c := float64(BlockSize-1) / 2
	return Vec{float64(bx*BlockStep) + c, float64(by*BlockStep) + c}
}

// match is one block's search result between two frames: the forward
// displacement that best explains it and the costs that decide whether to
// believe it (mean absolute difference a pixel).
type match struct {
	v        Vec
	zero     float64 // cost of no motion
	best     float64 // cost of the best displacement
	textured bool
}

func texture(y []float64, w, px, py int) float64 {
	var g float64
	for r := py; r < py+BlockSize; r++ {
		for x := px; x < px+BlockSize-1; x++ {
			g += math.Abs(y[r*w+x] - y[r*w+x+1])
		}
	}
	for r := py; r < py+BlockSize-1; r++ {
		for x := px; x < px+BlockSize; x++ {
			g += math.Abs(y[r*w+x] - y[(r+1)*w+x])
		}
	}
	return g / float64(2*BlockSize*(BlockSize-1))
}

// sad compares a's block at (px,py) with b's displaced by +v (content
// that moved by v: a(p) = b(p + v)); ok is false when the displaced block
// leaves the frame.
func sad(a, b []float64, w, h, px, py, vx, vy int) (float64, bool) {
	sx, sy := px+vx, py+vy
	if sx < 0 || sy < 0 || sx+BlockSize > w || sy+BlockSize > h {
		return 0, false
	}
	var s float64
	for r := 0; r < BlockSize; r++ {
		ra := a[(py+r)*w+px : (py+r)*w+px+BlockSize]
		rb := b[(sy+r)*w+sx : (sy+r)*w+sx+BlockSize]
		for x := range ra {
			s += math.Abs(ra[x] - rb[x])
		}
	}
	return s, true
}

func matchBlock(a, b []float64, w, h, px, py int) match {
	const n = BlockSize * BlockSize
	zero, _ := sad(a, b, w, h, px, py, 0, 0)
	m := match{zero: zero / n, best: zero / n}
	if texture(a, w, px, py) < MinTexture {
		return m
	}
	m.textured = true
	best, bx, by := zero, 0, 0
	for vy := -SearchRadius; vy <= SearchRadius; vy++ {
		for vx := -SearchRadius; vx <= SearchRadius; vx++ {
			s, ok := sad(a, b, w, h, px, py, vx, vy)
			if !ok {
				continue
			}
			// Ties go to the shorter vector, so repeated texture reads as still.
			if s < best-1e-9 || (math.Abs(s-best) <= 1e-9 && vx*vx+vy*vy < bx*bx+by*by) {
				best, bx, by = s, vx, vy
			}
		}
	}
	m.best = best / n
	m.v = Vec{float64(bx), float64(by)}
	if bx == 0 && by == 0 {
		return m
	}
	if l, ok1 := sad(a, b, w, h, px, py, bx-1, by); ok1 {
		if r, ok2 := sad(a, b, w, h, px, py, bx+1, by); ok2 {
			m.v.X += parabola(l, best, r)
		}
	}
	if u, ok1 := sad(a, b, w, h, px, py, bx, by-1); ok1 {
		if d, ok2 := sad(a, b, w, h, px, py, bx, by+1); ok2 {
			m.v.Y += parabola(u, best, d)
		}
	}
	return m
}

func parabola(l, c, r float64) float64 {
	den := l - 2*c + r
	if den <= 0 {
		return 0
	}
	return math.Max(-0.5, math.Min(0.5, (l-r)/(2*den)))
}

// rawFlow matches every block of a in b, row-major over FlowGrid.
func rawFlow(a, b []float64, w, h int) []match {
	gw, gh := FlowGrid(w, h)
	out := make([]match, 0, gw*gh)
	for by := 0; by < gh; by++ {
		for bx := 0; bx < gw; bx++ {
			out = append(out, matchBlock(a, b, w, h, bx*BlockStep, by*BlockStep))
		}
	}
	return out
}

// noiseLevel estimates a clip's noise from block matches: the median over
// blocks and frame pairs of the best match's residual (mean absolute
// difference a pixel; for a block too flat to match, the residual of no
// motion), floored at NoiseFloor. What the best displacement cannot
// explain is grain, compression and deformation: flat and static blocks
// give grain alone, and the median ignores the minority of blocks that
// deform; matching first keeps a moving camera from passing for noise.
func noiseLevel(fields [][]match) float64 {
	var r []float64
	for _, f := range fields {
		for _, m := range f {
			r = append(r, m.best)
		}
	}
	if len(r) == 0 {
		return NoiseFloor
	}
	sort.Float64s(r)
	return math.Max(NoiseFloor, r[len(r)/2])
}

// significant keeps a block's displacement only when it explains the
// change clearly better than no motion: by MatchMargin noise levels a
// pixel and to at most MatchRatio of the no-motion cost. Grain makes some
// displacement win by a little everywhere; real motion wins by a lot.
func significant(m match, noise float64) Vec {
	if !m.textured || m.v == (Vec{}) {
		return Vec{}
	}
	if m.zero-m.best < MatchMargin*noise || m.best > MatchRatio*m.zero {
		return Vec{}
	}
	return m.v
}

// Flow estimates the forward motion of each block of a into b on frames
// that are already filtered (content at p in a is at p + v in b),
// row-major over FlowGrid, keeping only displacements significant against
// the given noise level.
func Flow(a, b []float64, w, h int, noise float64) []Vec {
	raw := rawFlow(a, b, w, h)
	out := make([]Vec, len(raw))
	for i, m := range raw {
		out[i] = significant(m, noise)
	}
	return out
}

// Motion is the measured motion of a whole clip.
type Motion struct {
	// Noise is the clip's noise level (see NoiseLevel), luma 0..255.
	Noise float64
	// Fields[t] is the significant forward flow from frame t to t+1,
	// row-major over FlowGrid.
	Fields [][]Vec
	// Speeds pools every block's speed over every frame pair (pixels a frame).
	Speeds []float64
	// MeanSpeed is the mean of Speeds.
	MeanSpeed float64
	// Top5 is the mean over frame pairs of the mean of the fastest 5% of
	// blocks (at least one): the dynamic-degree statistic.
	Top5 float64
	// GlobalSpeed is the mean over pairs of the length of the mean vector.
	GlobalSpeed float64
	// Tracks are the paths of points started at every block centre of the
	// first frame and carried by the flow (bilinear between blocks).
	Tracks [][]Vec
	// Accel is the mean over tracks and time of the second difference of
	// position, |p(t+2) - 2p(t+1) + p(t)| (pixels a frame squared).
	Accel float64
	// Jerk is the mean over tracks and time of the third difference of
	// position, |p(t+3) - 3p(t+2) + 3p(t+1) - p(t)| (pixels a frame
	// cubed): following the moving content (Lagrangian), so smooth motion
	// keeps it low and stutter or shuffled frames raise it.
	Jerk float64
	// Area is the mean over frames 1.. of the share of pixels whose
	// filtered luma differs from the first frame's by more than
	// max(AreaNoise * Noise, AreaFloor) in that frame and a neighbouring
	// one (see movingArea): how much of the picture the motion has touched.
	Area float64
	// Flicker is the mean over frames 1.. of the share of pixels whose
	// smoothed luma (no median) leaves the first frame's by that threshold
	// in that frame alone, changed in neither neighbour: what appears and
	// vanishes within a frame, as flickering artefacts do and motion
	// rarely does. The motion metrics pass over such specks; this counts
	// them.
	Flicker float64
}

// Dynamic reports whether the clip counts as moving for the dynamic degree.
func (m Motion) Dynamic(w int) bool { return m.Top5 >= DynamicFrac*float64(w) }

// MotionOf measures the motion of a clip from its luma frames (0..255),
// median-filtered (Median3) and then smoothed (Smooth).
func MotionOf(v Video, lumas [][]float64) Motion {
	w, h := v.W, v.H
	sm, plain := make([][]float64, len(lumas)), make([][]float64, len(lumas))
	for i, y := range lumas {
		sm[i], plain[i] = Smooth(Median3(y, w, h), w, h), Smooth(y, w, h)
	}
	raw := make([][]match, 0, len(sm)-1)
	for t := 0; t+1 < len(sm); t++ {
		raw = append(raw, rawFlow(sm[t], sm[t+1], w, h))
	}
	m := Motion{Noise: noiseLevel(raw)}
	for _, rf := range raw {
		f := make([]Vec, len(rf))
		sp := make([]float64, len(rf))
		var g Vec
		for i, x := range rf {
			f[i] = significant(x, m.Noise)
			sp[i] = f[i].Len()
			g.X += f[i].X
			g.Y += f[i].Y
		}
		m.Fields = append(m.Fields, f)
		m.GlobalSpeed += math.Hypot(g.X, g.Y) / float64(len(f))
		m.Speeds = append(m.Speeds, sp...)
		sort.Sort(sort.Reverse(sort.Float64Slice(sp)))
		k := max(1, len(sp)/20)
		m.Top5 += mean(sp[:k])
	}
	n := float64(len(m.Fields))
	m.Top5 /= n
	m.GlobalSpeed /= n
	m.MeanSpeed = mean(m.Speeds)
	m.Tracks = track(m.Fields, w, h)
	m.Accel, m.Jerk = trackDiffs(m.Tracks)

	thr := math.Max(AreaNoise*m.Noise, AreaFloor)
	m.Area = movingArea(changedMasks(sm, thr))
	m.Flicker = flicker(changedMasks(plain, thr))
	return m
}

// changedMasks marks, for frames 1.., the pixels that differ from the
// first frame by more than thr (frame 0's mask is empty).
func changedMasks(frames [][]float64, thr float64) [][]bool {
	changed := make([][]bool, len(frames))
	changed[0] = make([]bool, len(frames[0]))
	for t := 1; t < len(frames); t++ {
		changed[t] = make([]bool, len(frames[t]))
		for i, y := range frames[t] {
			changed[t][i] = math.Abs(y-frames[0][i]) > thr
		}
	}
	return changed
}

// movingArea is the mean over frames 1.. of the share of pixels changed
// in that frame and in a neighbouring one (frames 1..): what motion
// touches stays changed from one frame to the next, a flicker at random
// places does not.
func movingArea(changed [][]bool) float64 {
	return meanShare(changed, func(t, i int) bool {
		return changed[t][i] && (t+1 < len(changed) && changed[t+1][i] || t > 1 && changed[t-1][i])
	})
}

// flicker is the mean over frames 1.. of the share of pixels changed in
// that frame and in neither neighbour.
func flicker(changed [][]bool) float64 {
	return meanShare(changed, func(t, i int) bool {
		return changed[t][i] && !changed[t-1][i] && !(t+1 < len(changed) && changed[t+1][i])
	})
}

// meanShare is the mean over frames 1.. of the share of pixels where keep
// holds.
func meanShare(changed [][]bool, keep func(t, i int) bool) float64 {
	var sum float64
	for t := 1; t < len(changed); t++ {
		k := 0
		for i := range changed[t] {
			if keep(t, i) {
				k++
			}
		}
		sum += float64(k) / float64(len(changed[t]))
	}
	return sum / float64(len(changed)-1)
}

// sampleField interpolates a block flow field bilinearly at point p
// (pixels), clamped to the grid of block centres.
func sampleField(f []Vec, gw, gh int, p Vec) Vec {
	c := float64(BlockSize-1) / 2
	gx := math.Max(0, math.Min(float64(gw-1), (p.X-c)/BlockStep))
	gy := math.Max(0, math.Min(float64(gh-1), (p.Y-c)/BlockStep))
	x0, y0 := int(gx), int(gy)
	x1, y1 := min(x0+1, gw-1), min(y0+1, gh-1)
	fx, fy := gx-float64(x0), gy-float64(y0)
	at := func(x, y int) Vec { return f[y*gw+x] }
	a, b, cc, d := at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1)
	return Vec{
		X: (1-fy)*((1-fx)*a.X+fx*b.X) + fy*((1-fx)*cc.X+fx*d.X),
		Y: (1-fy)*((1-fx)*a.Y+fx*b.Y) + fy*((1-fx)*cc.Y+fx*d.Y),
	}
}

// track carries a point from every block centre of the first frame
// through the forward flow fields.
func track(fields [][]Vec, w, h int) [][]Vec {
	gw, gh := FlowGrid(w, h)
	var tracks [][]Vec
	for by := 0; by < gh; by++ {
		for bx := 0; bx < gw; bx++ {
			p := blockCentre(bx, by)
			tr := make([]Vec, 0, len(fields)+1)
			tr = append(tr, p)
			for _, f := range fields {
				d := sampleField(f, gw, gh, p)
				p = Vec{math.Max(0, math.Min(float64(w-1), p.X+d.X)), math.Max(0, math.Min(float64(h-1), p.Y+d.Y))}
				tr = append(tr, p)
			}
			tracks = append(tracks, tr)
		}
	}
	return tracks
}

// trackDiffs is the mean second and third difference of position over
// every track and time.
func trackDiffs(tracks [][]Vec) (accel, jerk float64) {
	na, nj := 0, 0
	for _, p := range tracks {
		for t := 0; t+2 < len(p); t++ {
			accel += math.Hypot(p[t+2].X-2*p[t+1].X+p[t].X, p[t+2].Y-2*p[t+1].Y+p[t].Y)
			na++
			if t+3 < len(p) {
				jerk += math.Hypot(p[t+3].X-3*p[t+2].X+3*p[t+1].X-p[t].X, p[t+3].Y-3*p[t+2].Y+3*p[t+1].Y-p[t].Y)
				nj++
			}
		}
	}
	if na > 0 {
		accel /= float64(na)
	}
	if nj > 0 {
		jerk /= float64(nj)
	}
	return accel, jerk
}
