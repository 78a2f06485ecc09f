package evaluate

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

func TestSqrtSymKnownCases(t *testing.T) {
	cases := []struct {
		a, want []float64
	}{
		{[]float64{4, 0, 0, 9}, []float64{2, 0, 0, 3}},
		// [[2,1],[1,2]]^2 = [[5,4],[4,5]]
		{[]float64{5, 4, 4, 5}, []float64{2, 1, 1, 2}},
		// Singular (rank 1): [[1,1],[1,1]] = 2 * u u^T, root sqrt(2) u u^T.
		{[]float64{1, 1, 1, 1}, []float64{1 / math.Sqrt2, 1 / math.Sqrt2, 1 / math.Sqrt2, 1 / math.Sqrt2}},
	}
	for _, c := range cases {
		got, err := SqrtSym(mat.NewSymDense(2, c.a))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			for j := 0; j < 2; j++ {
				if math.Abs(got.At(i, j)-c.want[2*i+j]) > 1e-9 {
					t.Errorf("sqrt(%v) = %v, want %v", c.a, mat.Formatted(got), c.want)
				}
			}
		}
	}
	// A random SPD matrix: the root squared gives it back.
	rng := rand.New(rand.NewPCG(1, 2))
	b := mat.NewDense(6, 6, nil)
	for i := 0; i < 6; i++ {
		for j := 0; j < 6; j++ {
			b.Set(i, j, rng.NormFloat64())
		}
	}
	var a mat.SymDense
	a.SymOuterK(1, b)
	r, err := SqrtSym(&a)
	if err != nil {
		t.Fatal(err)
	}
	var sq mat.Dense
	sq.Mul(r, r)
	if !mat.EqualApprox(&sq, &a, 1e-9) {
		t.Errorf("root squared differs:\n%v\nwant\n%v", mat.Formatted(&sq), mat.Formatted(&a))
	}
	if _, err := SqrtSym(mat.NewSymDense(2, []float64{1, 0, 0, -1})); err == nil {
		t.Error("an indefinite matrix has no real root; want an error")
	}
}

func TestFrechetGaussianClosedForm(t *testing.T) {
	// Diagonal (commuting) covariances: sum (sqrt s1 - sqrt s2)^2 + |dm|^2.
	a := Gaussian{Mean: []float64{0, 1}, Cov: mat.NewSymDense(2, []float64{4, 0, 0, 1})}
	b := Gaussian{Mean: []float64{3, 1}, Cov: mat.NewSymDense(2, []float64{1, 0, 0, 9})}
	got, err := FrechetGaussian(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := 9.0 + (2-1)*(2-1) + (1-3)*(1-3)
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("Frechet = %g, want %g", got, want)
	}
}

func randomRows(rng *rand.Rand, n, d int, shift float64) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, d)
		for j := range rows[i] {
			rows[i][j] = rng.NormFloat64() + shift
		}
	}
	return rows
}

func TestFrechetDistanceIdenticalAndShifted(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ref := randomRows(rng, 40, FeatureDim, 0)
	f, err := FrechetShrunk(ref, ref)
	if err != nil {
		t.Fatal(err)
	}
	same := f.Distance
	if same > 1e-6 {
		t.Errorf("identical sets: distance %g, want ~0", same)
	}
	prev := same
	for _, shift := range []float64{0.5, 1, 2} {
		moved := make([][]float64, len(ref))
		for i, r := range ref {
			moved[i] = append([]float64(nil), r...)
			for j := range moved[i] {
				moved[i][j] += shift
			}
		}
		f, err := FrechetShrunk(ref, moved)
		if err != nil {
			t.Fatal(err)
		}
		d := f.Distance
		// A pure shift adds |dm|^2 in standardised units (scale ~1 here).
		if d <= prev || d < 0.5*float64(FeatureDim)*shift*shift {
			t.Errorf("shift %g: distance %g (previous %g)", shift, d, prev)
		}
		prev = d
	}
	// Fewer samples than features (singular covariances) still works.
	if _, err := FrechetShrunk(ref[:5], randomRows(rng, 3, FeatureDim, 0)); err != nil {
		t.Errorf("singular covariances: %v", err)
	}
}

// TestWasserstein1MatchesGonum checks the hand-written W1 on cases with
// known answers and against gonum's stat.WassersteinDistance (quadratic,
// so only on small sets) on random ones with ties and unequal sizes.
func TestWasserstein1MatchesGonum(t *testing.T) {
	a := []float64{0, 1, 2, 3}
	if d := Wasserstein1(a, a); d != 0 {
		t.Errorf("W1(a, a) = %g", d)
	}
	if d := Wasserstein1(a, []float64{1.5, 2.5, 3.5, 4.5}); math.Abs(d-1.5) > 1e-12 {
		t.Errorf("W1 of a shift by 1.5 = %g", d)
	}
	// Unequal sizes: point mass at 0 against {0, 2}: half the mass moves 2.
	if d := Wasserstein1([]float64{0}, []float64{0, 2}); math.Abs(d-1) > 1e-12 {
		t.Errorf("W1 = %g, want 1", d)
	}
	if d := Wasserstein1(nil, a); !math.IsNaN(d) {
		t.Errorf("W1 of an empty set = %g, want NaN", d)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for k := 0; k < 200; k++ {
		x := make([]float64, 1+rng.IntN(40))
		y := make([]float64, 1+rng.IntN(40))
		for i := range x {
			x[i] = float64(rng.IntN(10)) // ties
		}
		for i := range y {
			y[i] = float64(rng.IntN(12)) - 1
		}
		if got, want := Wasserstein1(x, y), stat.WassersteinDistance(append([]float64(nil), x...), append([]float64(nil), y...), nil, nil); math.Abs(got-want) > 1e-12 {
			t.Fatalf("set %d: W1 %g, gonum %g", k, got, want)
		}
	}
}

// noiseGrid is random luma every 4 pixels, interpolated bilinearly by
// texturedFrame: texture without the periodicity that aliases a block search.
var noiseGrid = func() [][]float64 {
	rng := rand.New(rand.NewPCG(7, 8))
	g := make([][]float64, 40)
	for i := range g {
		g[i] = make([]float64, 40)
		for j := range g[i] {
			g[i][j] = 30 + 200*rng.Float64()
		}
	}
	return g
}()

// texturedFrame draws the noise texture shifted by (dx, dy) pixels.
func texturedFrame(w, h int, dx, dy float64) []byte {
	f := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			u, v := (float64(x)-dx)/4+10, (float64(y)-dy)/4+10
			i, j := int(math.Floor(v)), int(math.Floor(u))
			a, c := v-float64(i), u-float64(j)
			l := (1-a)*((1-c)*noiseGrid[i][j]+c*noiseGrid[i][j+1]) + a*((1-c)*noiseGrid[i+1][j]+c*noiseGrid[i+1][j+1])
			b := byte(l)
			f[3*(y*w+x)], f[3*(y*w+x)+1], f[3*(y*w+x)+2] = b, b/2+40, 255-b
		}
	}
	return f
}

func video(w, h int, pos func(t int) (float64, float64)) Video {
	v := Video{W: w, H: h}
	for t := 0; t < 9; t++ {
		dx, dy := pos(t)
		v.Frames = append(v.Frames, texturedFrame(w, h, dx, dy))
	}
	return v
}

func analyze(t *testing.T, v Video) Stats {
	t.Helper()
	sharp := make([]float64, len(v.Frames))
	s, err := Analyze(v, v.Frames[0], sharp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFlowFindsATranslation(t *testing.T) {
	const w, h = 48, 32
	a, b := Smooth(Luma(texturedFrame(w, h, 0, 0)), w, h), Smooth(Luma(texturedFrame(w, h, 1.5, -1)), w, h)
	f := Flow(a, b, w, h, NoiseFloor)
	var sx, sy float64
	for _, v := range f {
		sx += v.X
		sy += v.Y
	}
	sx /= float64(len(f))
	sy /= float64(len(f))
	if math.Abs(sx-1.5) > 0.3 || math.Abs(sy+1) > 0.3 {
		t.Errorf("mean flow (%.2f, %.2f), want (1.5, -1)", sx, sy)
	}
}

func TestMotionStaticVersusMovingAndJitter(t *testing.T) {
	const w, h = 48, 32
	static := analyze(t, video(w, h, func(int) (float64, float64) { return 0, 0 }))
	moving := analyze(t, video(w, h, func(t int) (float64, float64) { return 1.2 * float64(t), 0 }))
	jitter := []float64{0, 2, 1, 3.5, 2, 5, 3.5, 7, 5}
	jittery := analyze(t, video(w, h, func(t int) (float64, float64) { return jitter[t], 0 }))

	if static.MeanSpeed > 0.05 || static.Dynamic {
		t.Errorf("static video: mean speed %g, dynamic %v", static.MeanSpeed, static.Dynamic)
	}
	if moving.MeanSpeed < 0.9 || !moving.Dynamic {
		t.Errorf("moving video: mean speed %g, dynamic %v", moving.MeanSpeed, moving.Dynamic)
	}
	if w1 := Wasserstein1(static.Speeds, moving.Speeds); w1 < 0.9 {
		t.Errorf("W1(static, moving speeds) = %g, want about 1.2", w1)
	}
	// Same mean velocity (about 0.9 px a frame) but jittered: higher jerk.
	if jittery.Jerk < 1 || moving.Jerk > 0.3 || jittery.Jerk < 4*moving.Jerk {
		t.Errorf("jerk: smooth %g, jittery %g", moving.Jerk, jittery.Jerk)
	}
	if static.Jerk > 0.05 {
		t.Errorf("static jerk %g", static.Jerk)
	}
	// The fixed features tell the three apart and are reproducible.
	again := analyze(t, video(w, h, func(t int) (float64, float64) { return 1.2 * float64(t), 0 }))
	for i := range moving.Features {
		if moving.Features[i] != again.Features[i] {
			t.Fatalf("feature %s not deterministic", FeatureNames[i])
		}
	}
	if len(moving.Features) != FeatureDim {
		t.Fatalf("%d features, want %d", len(moving.Features), FeatureDim)
	}
}

func TestFirstFrameConsistency(t *testing.T) {
	const w, h = 48, 32
	v := video(w, h, func(t int) (float64, float64) { return float64(t), 0 })
	sharp := make([]float64, len(v.Frames))
	good, err := Analyze(v, v.Frames[0], sharp)
	if err != nil {
		t.Fatal(err)
	}
	other := texturedFrame(w, h, 10, 7)
	bad, err := Analyze(v, other, sharp)
	if err != nil {
		t.Fatal(err)
	}
	if good.FirstFrameMAE != 0 || bad.FirstFrameMAE < 10 || good.EarlyMAE <= 0 {
		t.Errorf("first-frame MAE: same %g, different %g; early %g", good.FirstFrameMAE, bad.FirstFrameMAE, good.EarlyMAE)
	}
	if _, err := Analyze(Video{W: w, H: h, Frames: v.Frames[:3]}, v.Frames[0], sharp[:3]); err == nil {
		t.Error("3 frames: want an error (jerk needs 4)")
	}
}

func TestShrinkCorrelations(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	// Independent features: the sample correlations are noise, shrunk
	// almost all the way.
	indep := randomRows(rng, 400, 6, 0)
	_, lam, err := ShrinkCorrelations(indep)
	if err != nil {
		t.Fatal(err)
	}
	if lam < 0.6 {
		t.Errorf("independent features: lambda %.2f, want near 1", lam)
	}
	// Strongly correlated features keep their correlation.
	corr := make([][]float64, 400)
	for i := range corr {
		z := rng.NormFloat64()
		corr[i] = []float64{z, z + 0.1*rng.NormFloat64(), -z + 0.1*rng.NormFloat64()}
	}
	g, lam, err := ShrinkCorrelations(corr)
	if err != nil {
		t.Fatal(err)
	}
	if lam > 0.05 || g.Cov.At(0, 1) < 0.9 || g.Cov.At(0, 2) > -0.9 {
		t.Errorf("correlated features: lambda %.3f, cov %v", lam, mat.Formatted(g.Cov))
	}
	// Fewer rows than features: the sample covariance is singular, the
	// shrunk one is not.
	few := randomRows(rng, 6, FeatureDim, 0)
	raw, _ := Fit(few)
	sh, lam, err := ShrinkCorrelations(few)
	if err != nil {
		t.Fatal(err)
	}
	minEig := func(s mat.Symmetric) float64 {
		var es mat.EigenSym
		es.Factorize(s, false)
		v := es.Values(nil)
		return v[0]
	}
	if minEig(raw.Cov) > 1e-9 || minEig(sh.Cov) <= 1e-6 || lam <= 0 {
		t.Errorf("6 rows, %d features: eigenvalue %.3g raw, %.3g shrunk (lambda %.2f)", FeatureDim, minEig(raw.Cov), minEig(sh.Cov), lam)
	}
	for j := 0; j < FeatureDim; j++ {
		if sh.Cov.At(j, j) != raw.Cov.At(j, j) {
			t.Fatalf("variance %d changed: %g -> %g", j, raw.Cov.At(j, j), sh.Cov.At(j, j))
		}
	}
}
