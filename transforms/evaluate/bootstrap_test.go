package evaluate

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat"
)

func TestBootstrapMeanInterval(t *testing.T) {
	// The mean of 200 draws of N(3, 2^2): the 95% interval is about
	// mean +- 1.96 * 2 / sqrt(200) = mean +- 0.28, and over many data sets
	// it covers the true mean about 95% of the time.
	rng := rand.New(rand.NewPCG(4, 5))
	const n, sets = 200, 200
	covered := 0
	var width float64
	for k := 0; k < sets; k++ {
		x := make([]float64, n)
		for i := range x {
			x[i] = 3 + 2*rng.NormFloat64()
		}
		mean := func(idx []int) (float64, bool) {
			var s float64
			for _, i := range idx {
				s += x[i]
			}
			return s / float64(len(idx)), true
		}
		iv := Bootstrap(n, Resamples(n, 400, uint64(k)), mean)
		if iv.Excludes(iv.Value) {
			t.Fatalf("interval %+v excludes its own point", iv)
		}
		if !iv.Excludes(3) {
			covered++
		}
		width += iv.Hi - iv.Lo
		if k == 0 {
			if again := Bootstrap(n, Resamples(n, 400, uint64(k)), mean); again != iv {
				t.Errorf("same seed, different interval: %+v then %+v", iv, again)
			}
		}
	}
	if w := width / sets; math.Abs(w-2*1.96*2/math.Sqrt(n)) > 0.05 {
		t.Errorf("mean width %.3f, want about 0.554", w)
	}
	if cov := float64(covered) / sets; cov < 0.88 || cov > 0.99 {
		t.Errorf("coverage %.3f, want about 0.95", cov)
	}
	// Percentiles of 0..999 at 2.5% and 97.5%; NaN replicates left out.
	reps := make([]float64, 1001)
	for i := range reps {
		reps[i] = float64(i)
	}
	reps[1000] = math.NaN()
	p := PercentileInterval(1, reps)
	if math.Abs(p.Lo-24) > 1 || math.Abs(p.Hi-974) > 1 {
		t.Errorf("percentiles %+v, want about [24, 974]", p)
	}
	if q := PercentileInterval(1, []float64{math.NaN()}); !math.IsNaN(q.Lo) || q.Value != 1 {
		t.Errorf("no replicates: %+v", q)
	}
}

func TestSpreadOf(t *testing.T) {
	s := SpreadOf([]float64{1, 2, 3, math.NaN()})
	if s.N != 3 || s.Mean != 2 || s.SD != 1 || s.Min != 1 || s.Max != 3 {
		t.Errorf("spread %+v", s)
	}
	if one := SpreadOf([]float64{5}); one.N != 1 || one.SD != 0 || one.Mean != 5 {
		t.Errorf("one seed: %+v", one)
	}
}

func TestHistogramW1MatchesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	var a, b []float64
	for i := 0; i < 3000; i++ {
		a = append(a, math.Abs(rng.NormFloat64()))
		if i%2 == 0 {
			b = append(b, math.Abs(1.5+rng.NormFloat64()))
		}
	}
	exact := Wasserstein1(a, b)
	ha, hb := SpeedHistogram(a), SpeedHistogram(b)
	got := HistogramW1(ha, hb)
	if math.Abs(got-exact) > SpeedBin {
		t.Errorf("histogram W1 %.4f, exact %.4f", got, exact)
	}
	// The same distance as gonum's with the occupied bins as support
	// points and their counts as weights (gonum takes positive weights only).
	support := func(h []float64) (x, w []float64) {
		for i, c := range h {
			if c > 0 {
				x, w = append(x, float64(i)*SpeedBin), append(w, c)
			}
		}
		return x, w
	}
	xa, wa := support(ha)
	xb, wb := support(hb)
	if w := stat.WassersteinDistance(xa, xb, wa, wb); math.Abs(got-w) > 1e-9 {
		t.Errorf("histogram W1 %.12f, gonum over the bins %.12f", got, w)
	}
	if !math.IsNaN(HistogramW1(SpeedHistogram(nil), SpeedHistogram(b))) {
		t.Error("empty histogram: want NaN")
	}
}
