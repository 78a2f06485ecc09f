package evaluate

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// Level is the coverage of every interval the evaluation reports.
const Level = 0.95

// Interval is a point estimate with a bootstrap confidence interval.
type Interval struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// Excludes reports whether x lies outside the interval.
func (iv Interval) Excludes(x float64) bool { return x < iv.Lo || x > iv.Hi }

// Resamples draws reps bootstrap resamples of n units (clips, pairs):
// each is n indices drawn with replacement. The same resamples are used
// for every model, so differences between models are paired: the clips
// that make one model look good in a resample are there for the other
// one too. Seeded, so a report is reproducible.
func Resamples(n, reps int, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, 0xb007))
	out := make([][]int, reps)
	for b := range out {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		out[b] = idx
	}
	return out
}

// Identity is the index list of the whole sample (the point estimate).
func Identity(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// PercentileInterval is the point estimate with the percentile bootstrap
// interval of the replicates at Level (gonum's linearly interpolated
// quantiles). Replicates that are NaN (a statistic undefined on that
// resample) are left out; with none left the bounds are NaN.
func PercentileInterval(point float64, reps []float64) Interval {
	xs := make([]float64, 0, len(reps))
	for _, r := range reps {
		if !math.IsNaN(r) {
			xs = append(xs, r)
		}
	}
	iv := Interval{Value: point, Lo: math.NaN(), Hi: math.NaN()}
	if len(xs) == 0 {
		return iv
	}
	slices.Sort(xs)
	a := (1 - Level) / 2
	iv.Lo = stat.Quantile(a, stat.LinInterp, xs, nil)
	iv.Hi = stat.Quantile(1-a, stat.LinInterp, xs, nil)
	return iv
}

// BootstrapFunc computes a statistic on a list of unit indices (possibly
// repeated); ok false means undefined there (no data).
type BootstrapFunc func(idx []int) (float64, bool)

// Bootstrap is f's point estimate on every unit with its percentile
// interval over the resamples.
func Bootstrap(n int, resamples [][]int, f BootstrapFunc) Interval {
	point, ok := f(Identity(n))
	if !ok {
		point = math.NaN()
	}
	reps := make([]float64, len(resamples))
	for b, idx := range resamples {
		v, ok := f(idx)
		if !ok {
			v = math.NaN()
		}
		reps[b] = v
	}
	return PercentileInterval(point, reps)
}

// Spread summarises one figure over training seeds.
type Spread struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"` // sample standard deviation (0 for one seed)
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// SpreadOf is the spread of xs (NaNs left out).
func SpreadOf(xs []float64) Spread {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	s := Spread{N: len(v), Mean: math.NaN(), SD: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	if len(v) == 0 {
		return s
	}
	s.Min, s.Max = slices.Min(v), slices.Max(v)
	if len(v) == 1 {
		s.Mean, s.SD = v[0], 0
		return s
	}
	s.Mean, s.SD = stat.MeanStdDev(v, nil)
	return s
}
