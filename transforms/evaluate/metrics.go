// Package evaluate measures generated videos against real ones on CPU: a
// Frechet distance on fixed per-clip video features (an FVD stand-in),
// motion statistics from a dense block-matching flow (magnitude
// distribution, jerk, dynamic degree), first-frame consistency and
// sharpness. Videos are RGB24 frames at the model's small size.
//
// # Features (FeatureNames, in order)
//
// Every clip becomes a fixed vector of FeatureDim numbers, computed the same
// way for real and generated clips, with no learned parts:
//
//   - appearance: mean luma, spatial luma std, mean chroma (max-min of
//     RGB), log(1 + variance of the Laplacian);
//   - change: mean absolute luma change between consecutive frames, its std
//     over time, mean absolute change between the last and first frame;
//   - motion (the flow below): mean and 90th percentile of block speeds,
//     speed of the mean flow vector (global motion), mean acceleration,
//     jerk;
//   - NumProjections fixed random projections (Gaussian directions drawn
//     from a constant seed) of the consecutive-frame luma differences
//     pooled to a 12x8 grid; each feature is the RMS over time of one
//     projection, so the motion's spatial layout enters, not just its size.
//
// Luma is BT.601 on 0..1; speeds are pixels a model frame at the model's
// resolution.
//
// # Flow
//
// transforms/quality's block matcher needs frames of at least ~200 pixels
// across; at the model's 48x32 it finds no blocks. So the flow here is a
// dense estimate made for small frames: 8x8 luma blocks on a 4-pixel grid
// (overlapping), exhaustive search within +-SearchRadius pixels for the
// least sum of absolute differences (ties to the shorter vector), then a
// parabola through the neighbouring costs for sub-pixel precision. Blocks
// too flat to match (mean absolute gradient below MinTexture, on 0..255)
// count as still.
package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"realdpo/schemas"
)

// Flow parameters (see the package comment).
const (
	BlockSize    = 8
	BlockStep    = 4
	SearchRadius = 4
	MinTexture   = 2.0
	// DynamicFrac is the dynamic-degree threshold: a clip is dynamic when
	// the mean over frame pairs of its fastest 5% of blocks moves at least
	// this share of the frame width a model frame (VBench's dynamic degree
	// thresholds RAFT flow the same way, relative to the frame size).
	DynamicFrac = 0.02
	// NumProjections is the number of random-projection features.
	NumProjections = 8
	projW, projH   = 12, 8
	projSeed       = 0x5eed_f7d
)

// FeatureNames names the feature vector's entries, in order.
var FeatureNames = func() []string {
	n := []string{"luma_mean", "luma_std", "chroma", "log_laplacian_var",
		"frame_diff", "frame_diff_std", "drift", "speed_mean", "speed_p90",
		"global_speed", "accel", "jerk"}
	for i := 0; i < NumProjections; i++ {
		n = append(n, fmt.Sprintf("diff_proj_%d", i))
	}
	return n
}()

// FeatureDim is len(FeatureNames).
var FeatureDim = len(FeatureNames)

// Video is RGB24 frames of W x H pixels.
type Video struct {
	W, H   int
	Frames [][]byte
}

// Check validates the geometry.
func (v Video) Check() error {
	if v.W < BlockSize || v.H < BlockSize {
		return fmt.Errorf("evaluate: video %dx%d is smaller than a %d-pixel block", v.W, v.H, BlockSize)
	}
	if len(v.Frames) < 4 {
		return fmt.Errorf("evaluate: %d frames; jerk needs at least 4", len(v.Frames))
	}
	for i, f := range v.Frames {
		if len(f) != v.W*v.H*3 {
			return fmt.Errorf("evaluate: frame %d has %d bytes, want %dx%dx3", i, len(f), v.W, v.H)
		}
	}
	return nil
}

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

// FlowGrid is the number of block columns and rows for a frame size.
func FlowGrid(w, h int) (int, int) {
	return (w-BlockSize)/BlockStep + 1, (h-BlockSize)/BlockStep + 1
}

// Flow estimates where each block of cur came from in prev (content moved
// by v means cur(p) = prev(p - v)), row-major over FlowGrid.
func Flow(prev, cur []float64, w, h int) []Vec {
	gw, gh := FlowGrid(w, h)
	out := make([]Vec, 0, gw*gh)
	for by := 0; by < gh; by++ {
		for bx := 0; bx < gw; bx++ {
			out = append(out, matchBlock(prev, cur, w, h, bx*BlockStep, by*BlockStep))
		}
	}
	return out
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

// sad compares cur's block at (px,py) with prev displaced by -v; ok is
// false when the displaced block leaves the frame.
func sad(prev, cur []float64, w, h, px, py, vx, vy int) (float64, bool) {
	sx, sy := px-vx, py-vy
	if sx < 0 || sy < 0 || sx+BlockSize > w || sy+BlockSize > h {
		return 0, false
	}
	var s float64
	for r := 0; r < BlockSize; r++ {
		rc := cur[(py+r)*w+px : (py+r)*w+px+BlockSize]
		rp := prev[(sy+r)*w+sx : (sy+r)*w+sx+BlockSize]
		for x := range rc {
			s += math.Abs(rc[x] - rp[x])
		}
	}
	return s, true
}

func matchBlock(prev, cur []float64, w, h, px, py int) Vec {
	if texture(cur, w, px, py) < MinTexture {
		return Vec{}
	}
	best, bx, by := math.Inf(1), 0, 0
	for vy := -SearchRadius; vy <= SearchRadius; vy++ {
		for vx := -SearchRadius; vx <= SearchRadius; vx++ {
			s, ok := sad(prev, cur, w, h, px, py, vx, vy)
			if !ok {
				continue
			}
			// Ties go to the shorter vector, so repeated texture reads as still.
			if s < best-1e-9 || (math.Abs(s-best) <= 1e-9 && vx*vx+vy*vy < bx*bx+by*by) {
				best, bx, by = s, vx, vy
			}
		}
	}
	if math.IsInf(best, 1) {
		return Vec{}
	}
	v := Vec{float64(bx), float64(by)}
	if l, ok1 := sad(prev, cur, w, h, px, py, bx-1, by); ok1 {
		if r, ok2 := sad(prev, cur, w, h, px, py, bx+1, by); ok2 {
			v.X += parabola(l, best, r)
		}
	}
	if u, ok1 := sad(prev, cur, w, h, px, py, bx, by-1); ok1 {
		if d, ok2 := sad(prev, cur, w, h, px, py, bx, by+1); ok2 {
			v.Y += parabola(u, best, d)
		}
	}
	return v
}

func parabola(l, c, r float64) float64 {
	den := l - 2*c + r
	if den <= 0 {
		return 0
	}
	return math.Max(-0.5, math.Min(0.5, (l-r)/(2*den)))
}

// Motion is the flow of a whole clip.
type Motion struct {
	// Fields[t] is the flow from frame t to t+1, row-major over FlowGrid.
	Fields [][]Vec
	// Speeds pools every block's speed over every frame pair (pixels a frame).
	Speeds []float64
	// MeanSpeed is the mean of Speeds.
	MeanSpeed float64
	// Top5 is the mean over frame pairs of the mean of the fastest 5% of
	// blocks (at least one): the dynamic-degree statistic.
	Top5 float64
	// Accel is the mean over blocks and time of |v(t+1) - v(t)|.
	Accel float64
	// Jerk is the mean over blocks and time of |v(t+2) - 2 v(t+1) + v(t)|,
	// the third difference of position at each block (Eulerian): smooth
	// motion keeps it low, jitter raises it.
	Jerk float64
	// GlobalSpeed is the mean over pairs of the length of the mean vector.
	GlobalSpeed float64
}

// Dynamic reports whether the clip counts as moving for the dynamic degree.
func (m Motion) Dynamic(w int) bool { return m.Top5 >= DynamicFrac*float64(w) }

// MotionOf estimates the flow between consecutive frames of v.
func MotionOf(v Video, lumas [][]float64) Motion {
	var m Motion
	for t := 0; t+1 < len(lumas); t++ {
		f := Flow(lumas[t], lumas[t+1], v.W, v.H)
		m.Fields = append(m.Fields, f)
		sp := make([]float64, len(f))
		var g Vec
		for i, x := range f {
			sp[i] = x.Len()
			g.X += x.X
			g.Y += x.Y
		}
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
	var acc, jerk float64
	na, nj := 0, 0
	for t := 0; t+1 < len(m.Fields); t++ {
		for i := range m.Fields[t] {
			a, b := m.Fields[t][i], m.Fields[t+1][i]
			acc += math.Hypot(b.X-a.X, b.Y-a.Y)
			na++
			if t+2 < len(m.Fields) {
				c := m.Fields[t+2][i]
				jerk += math.Hypot(c.X-2*b.X+a.X, c.Y-2*b.Y+a.Y)
				nj++
			}
		}
	}
	if na > 0 {
		m.Accel = acc / float64(na)
	}
	if nj > 0 {
		m.Jerk = jerk / float64(nj)
	}
	return m
}

// projections are the fixed random directions over the pooled difference grid.
var projections = func() [][]float64 {
	rng := rand.New(rand.NewPCG(projSeed, 1))
	p := make([][]float64, NumProjections)
	for i := range p {
		p[i] = make([]float64, projW*projH)
		for j := range p[i] {
			p[i][j] = rng.NormFloat64()
		}
	}
	return p
}()

// pool averages a luma frame over a projW x projH grid of cells.
func pool(y []float64, w, h int) []float64 {
	out := make([]float64, projW*projH)
	cnt := make([]float64, projW*projH)
	for r := 0; r < h; r++ {
		cy := r * projH / h
		for x := 0; x < w; x++ {
			c := cy*projW + x*projW/w
			out[c] += y[r*w+x]
			cnt[c]++
		}
	}
	for i := range out {
		if cnt[i] > 0 {
			out[i] /= cnt[i]
		}
	}
	return out
}

// Features computes the fixed feature vector of a clip (see the package
// comment) from its lumas (0..255), motion and per-frame sharpness.
func Features(v Video, lumas [][]float64, m Motion, sharp []float64) []float64 {
	f := make([]float64, 0, FeatureDim)
	var lm, ls, chroma float64
	for t, fr := range v.Frames {
		mu := mean(lumas[t])
		lm += mu / 255
		ls += std(lumas[t], mu) / 255
		var c float64
		for i := 0; i+2 < len(fr); i += 3 {
			c += float64(max(fr[i], fr[i+1], fr[i+2]) - min(fr[i], fr[i+1], fr[i+2]))
		}
		chroma += c / float64(len(fr)/3) / 255
	}
	nf := float64(len(v.Frames))
	f = append(f, lm/nf, ls/nf, chroma/nf, math.Log1p(mean(sharp)))

	diffs := make([]float64, 0, len(lumas)-1)
	proj := make([]float64, NumProjections)
	prevPool := pool(lumas[0], v.W, v.H)
	for t := 1; t < len(lumas); t++ {
		diffs = append(diffs, meanAbsDiff(lumas[t], lumas[t-1])/255)
		cur := pool(lumas[t], v.W, v.H)
		for k, p := range projections {
			var s float64
			for j := range p {
				s += p[j] * (cur[j] - prevPool[j]) / 255
			}
			s /= math.Sqrt(float64(len(p)))
			proj[k] += s * s
		}
		prevPool = cur
	}
	md := mean(diffs)
	f = append(f, md, std(diffs, md), meanAbsDiff(lumas[len(lumas)-1], lumas[0])/255)
	f = append(f, m.MeanSpeed, Quantile(m.Speeds, 0.9), m.GlobalSpeed, m.Accel, m.Jerk)
	for _, s := range proj {
		f = append(f, math.Sqrt(s/float64(len(lumas)-1)))
	}
	return f
}

// Stats are every per-clip figure the evaluation uses (the record type
// lives in schemas, where the pipeline's elements are defined).
type Stats = schemas.EvalStats

// Analyze computes a clip's Stats. cond is the conditioning frame (RGB24,
// same size); sharp holds the per-frame variance of the Laplacian (from
// transforms/quality's analyser, so evaluation and curation agree).
func Analyze(v Video, cond []byte, sharp []float64) (Stats, error) {
	if err := v.Check(); err != nil {
		return Stats{}, err
	}
	if len(cond) != v.W*v.H*3 {
		return Stats{}, fmt.Errorf("evaluate: conditioning frame has %d bytes, want %d", len(cond), v.W*v.H*3)
	}
	if len(sharp) != len(v.Frames) {
		return Stats{}, fmt.Errorf("evaluate: %d sharpness values for %d frames", len(sharp), len(v.Frames))
	}
	lumas := make([][]float64, len(v.Frames))
	for i, fr := range v.Frames {
		lumas[i] = Luma(fr)
	}
	m := MotionOf(v, lumas)
	s := Stats{
		Features:  Features(v, lumas, m, sharp),
		Speeds:    m.Speeds,
		MeanSpeed: m.MeanSpeed,
		Top5:      m.Top5,
		Dynamic:   m.Dynamic(v.W),
		Jerk:      m.Jerk,
		Accel:     m.Accel,
		Sharpness: mean(sharp),
	}
	s.FirstFrameMAE = byteMAE(v.Frames[0], cond)
	s.EarlyMAE = (byteMAE(v.Frames[1], cond) + byteMAE(v.Frames[2], cond)) / 2
	return s, nil
}

func byteMAE(a, b []byte) float64 {
	var s int64
	for i := range a {
		d := int64(a[i]) - int64(b[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return float64(s) / float64(len(a))
}

func meanAbsDiff(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += math.Abs(a[i] - b[i])
	}
	return s / float64(len(a))
}

func mean(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func std(x []float64, mu float64) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += (v - mu) * (v - mu)
	}
	return math.Sqrt(s / float64(len(x)))
}

// Quantile is the q-quantile of x by linear interpolation (x is not changed).
func Quantile(x []float64, q float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}
