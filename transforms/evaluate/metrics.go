// Package evaluate measures generated videos against real ones on CPU:
// motion measured so that per-pixel noise does not pass for it (block flow
// on smoothed frames with a noise-scaled significance test, tracks carried
// by the flow, the area that leaves the first frame), Frechet distances on
// fixed per-clip features with shrunk covariances (an FVD stand-in, and
// one on the motion features alone), first-frame consistency and
// sharpness, and the bootstrap statistics the evaluation reports. Videos
// are RGB24 frames at the model's small size. It also holds the eval
// stage's DoFns (decode, sample, measure, DPO scores, the one report
// writer), its model cache, its statistics and its HTML report; the graph
// is pipelines/eval.
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
//   - motion (MotionFeatureNames, from the flow below): mean and 90th
//     percentile of block speeds, mean speed of the fastest 5% of blocks,
//     speed of the mean flow vector (global motion), acceleration and jerk
//     along tracks, moving area;
//   - NumProjections fixed random projections (Gaussian directions drawn
//     from a constant seed) of the consecutive-frame luma differences
//     pooled to a 12x8 grid; each feature is the RMS over time of one
//     projection, so the motion's spatial layout enters, not just its size.
//
// Luma is BT.601 on 0..1 in the appearance and change features; speeds are
// pixels a model frame at the model's resolution.
//
// # Motion that noise cannot fake
//
// A generated clip that holds its first frame still under a fine speckle
// of noise must measure as still. Raw block matching at 48x32 pixels reads
// that speckle as motion (every block finds some displacement that
// matches the noise a little better), so:
//
//   - frames are median-filtered (3x3) and then smoothed (5-tap binomial,
//     a Gaussian of sigma 1): the median removes specks of up to 2x2
//     pixels, such as the coloured blocks that fine-tuned models flicker
//     over a held frame, which block matching otherwise reads as motion;
//     the smoothing takes grain down to about a quarter; edges, and lines
//     two pixels wide or more, keep their positions;
//   - 8x8 blocks on a 4-pixel grid are matched exhaustively within
//     +-SearchRadius pixels (least sum of absolute differences, ties to the
//     shorter vector, a parabola through the neighbouring costs for
//     sub-pixel precision); blocks too flat to match count as still;
//   - the clip's noise level is the median residual of the best matches
//     (what motion cannot explain), and a block's displacement is kept only
//     when it beats no motion at all by MatchMargin noise levels a pixel and
//     explains most of the change (MatchRatio): noise wins by a little
//     everywhere, real motion by a lot;
//   - jerk and acceleration follow points carried by the flow from every
//     block of the first frame (Lagrangian tracks), not fixed blocks;
//   - the moving area is the share of pixels whose filtered luma leaves
//     the first frame's by more than AreaNoise noise levels in a frame and
//     in a neighbouring one: motion leaves a change that lasts from one
//     frame to the next, a flicker at random places does not.
//
// validation_test.go checks every motion metric on held-out real and
// synthetic clips against known perturbations (noise, a still first
// frame, the same with noise or flickering 2x2 blocks, slow motion,
// shuffled frames) and asserts the ordering a person would give.
package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"realdpo/schemas"
)

// Feature parameters (see the package comment).
const (
	// NumProjections is the number of random-projection features.
	NumProjections = 8
	projW, projH   = 12, 8
	projSeed       = 0x5eed_f7d
)

// FeatureNames names the feature vector's entries, in order.
var FeatureNames = func() []string {
	n := []string{"luma_mean", "luma_std", "chroma", "log_laplacian_var",
		"frame_diff", "frame_diff_std", "drift"}
	n = append(n, MotionFeatureNames...)
	for i := 0; i < NumProjections; i++ {
		n = append(n, fmt.Sprintf("diff_proj_%d", i))
	}
	return n
}()

// FeatureDim is len(FeatureNames).
var FeatureDim = len(FeatureNames)

// MotionFeatureNames are the motion entries of the feature vector, in
// order: what the motion Frechet distance and the per-clip motion error
// compare.
var MotionFeatureNames = []string{"speed_mean", "speed_p90", "top5_speed", "global_speed", "accel", "jerk", "moving_area"}

func motionFeatures(m Motion) []float64 {
	return []float64{m.MeanSpeed, Quantile(m.Speeds, 0.9), m.Top5, m.GlobalSpeed, m.Accel, m.Jerk, m.Area}
}

// motionOffset is where the motion entries start in the feature vector.
const motionOffset = 7

// MotionFeatures is the motion part of a clip's feature vector.
func MotionFeatures(s Stats) []float64 {
	return s.Features[motionOffset : motionOffset+len(MotionFeatureNames)]
}

// MotionError is how far a sample's motion is from its real clip's: the
// root mean square over the motion features of their difference in units
// of scale (the real clips' standard deviation of each feature).
func MotionError(sample, real Stats, scale []float64) float64 {
	a, b := MotionFeatures(sample), MotionFeatures(real)
	var s float64
	for i := range a {
		d := (a[i] - b[i]) / scale[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(a)))
}

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
	f = append(f, motionFeatures(m)...)
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
		Area:      m.Area,
		Noise:     m.Noise,
		Flicker:   m.Flicker,
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
