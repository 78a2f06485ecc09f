package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// dpoExample builds a random example with n losers for the test config.
func dpoExample(rng *rand.Rand, c Config, n int) DPOExample {
	ex := DPOExample{Winner: randVideo(rng, c), Caption: "a woman chops onions"}
	for i := 0; i < n; i++ {
		ex.Losers = append(ex.Losers, randVideo(rng, c))
	}
	return ex
}

func gradDiffNorm(a, b Grads, sb float64) (diff, ref float64) {
	for i := range a {
		for j := range a[i] {
			d := float64(a[i][j]) - sb*float64(b[i][j])
			diff += d * d
			ref += float64(a[i][j]) * float64(a[i][j])
		}
	}
	return math.Sqrt(diff), math.Sqrt(ref)
}

// Check 1: policy == reference gives inside_i = 0 and loss_i = log 2.
func TestDPOLossIsLog2AtReference(t *testing.T) {
	pol := testModel(t, 1)
	ref := pol.Clone()
	rng := rand.New(rand.NewPCG(1, 1))
	ex := dpoExample(rng, pol.cfg, 3)
	tt, eps := DrawDPONoise(rng, pol.cfg)
	for _, grad := range []bool{false, true} {
		r, err := DPOLoss(pol, ref, ex, tt, eps, DefaultDPOOptions(), grad)
		if err != nil {
			t.Fatal(err)
		}
		for i := range r.Inside {
			if math.Abs(r.Inside[i]) > 1e-9 || math.Abs(r.Losses[i]-math.Ln2) > 1e-9 {
				t.Errorf("grad=%v loser %d: inside %g loss %g, want 0 and log 2", grad, i, r.Inside[i], r.Losses[i])
			}
		}
		if math.Abs(r.MeanLoss-math.Ln2) > 1e-9 || math.Abs(r.Objective-3*math.Ln2) > 1e-8 {
			t.Errorf("grad=%v mean %g objective %g, want log 2 and 3 log 2 (sum reduction)", grad, r.MeanLoss, r.Objective)
		}
	}
}

// Check 2: at policy == reference, grad loss_i = beta/4 (grad Lw - grad Ll_i).
func TestDPOGradientIdentity(t *testing.T) {
	pol := testModel(t, 2)
	ref := pol.Clone()
	rng := rand.New(rand.NewPCG(2, 2))
	ex := dpoExample(rng, pol.cfg, 1)
	tt, eps := DrawDPONoise(rng, pol.cfg)
	beta := 5000.0
	r, err := DPOLoss(pol, ref, ex, tt, eps, DPOOptions{Beta: beta}, true)
	if err != nil {
		t.Fatal(err)
	}
	clips := []Clip{{Video: ex.Winner, Caption: ex.Caption}, {Video: ex.Losers[0], FirstFrame: ex.Winner[:pol.cfg.FrameSize()], Caption: ex.Caption}}
	// One weighted graph gives grad(Lw - Ll) directly.
	w, err := weightedLoss(pol, clips, []int{tt, tt}, [][]float32{eps, eps}, []float32{1, -1}, true)
	if err != nil {
		t.Fatal(err)
	}
	diff, norm := gradDiffNorm(r.Grads, w.Grads, beta/4)
	if norm == 0 || diff/norm > 1e-4 {
		t.Fatalf("|g_dpo - beta/4 (g_w - g_l)| / |g_dpo| = %g (|g_dpo| = %g)", diff/norm, norm)
	}
	// And from two separate single-loss gradients.
	gw, err := weightedLoss(pol, clips, []int{tt, tt}, [][]float32{eps, eps}, []float32{1, 0}, true)
	if err != nil {
		t.Fatal(err)
	}
	gl, err := weightedLoss(pol, clips, []int{tt, tt}, [][]float32{eps, eps}, []float32{0, 1}, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gw.Grads {
		for j := range gw.Grads[i] {
			gw.Grads[i][j] -= gl.Grads[i][j]
		}
	}
	if diff, norm = gradDiffNorm(r.Grads, gw.Grads, beta/4); diff/norm > 1e-4 {
		t.Fatalf("separate gradients: relative error %g", diff/norm)
	}
}

// Check 3: swapping winner and loser flips the sign of inside_i.
func TestDPOSwapFlipsSign(t *testing.T) {
	pol := testModel(t, 3)
	ref := pol.Clone()
	perturb(pol, 33, 0.02) // policy != reference
	rng := rand.New(rand.NewPCG(3, 3))
	ex := dpoExample(rng, pol.cfg, 1)
	first := ex.Winner[:pol.cfg.FrameSize()]
	ex.FirstFrame = first
	tt, eps := DrawDPONoise(rng, pol.cfg)
	o := DPOOptions{Beta: 500}
	a, err := DPOLoss(pol, ref, ex, tt, eps, o, false)
	if err != nil {
		t.Fatal(err)
	}
	sw := DPOExample{Winner: ex.Losers[0], Losers: [][]float32{ex.Winner}, FirstFrame: first, Caption: ex.Caption}
	b, err := DPOLoss(pol, ref, sw, tt, eps, o, false)
	if err != nil {
		t.Fatal(err)
	}
	// Equal up to float32 rounding of the per-sample losses, which the batch
	// order changes and beta/2 amplifies.
	if a.Inside[0] == 0 || math.Abs(a.Inside[0]+b.Inside[0]) > 2e-4*math.Abs(a.Inside[0]) {
		t.Fatalf("inside %g, swapped %g: want opposite signs, equal size", a.Inside[0], b.Inside[0])
	}
	if math.Abs(a.Losses[0]-b.Losses[0]-(-a.Inside[0])) > 1e-5 {
		// softplus(-x) - softplus(x) = -x
		t.Fatalf("losses %g, %g inconsistent with inside %g", a.Losses[0], b.Losses[0], a.Inside[0])
	}
}

// Check 4: winner == loser gives zero gradient (even when policy != reference).
func TestDPOWinnerEqualsLoserZeroGrad(t *testing.T) {
	pol := testModel(t, 4)
	ref := pol.Clone()
	perturb(pol, 44, 0.02)
	rng := rand.New(rand.NewPCG(4, 4))
	ex := dpoExample(rng, pol.cfg, 0)
	ex.Losers = [][]float32{append([]float32(nil), ex.Winner...), append([]float32(nil), ex.Winner...)}
	tt, eps := DrawDPONoise(rng, pol.cfg)
	r, err := DPOLoss(pol, ref, ex, tt, eps, DPOOptions{Beta: 5000}, true)
	if err != nil {
		t.Fatal(err)
	}
	sft, err := SFTLoss(pol, []Clip{{Video: ex.Winner, Caption: ex.Caption}}, []int{tt}, [][]float32{eps}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Scale: what one loser term's gradient would be were the loser different.
	scale := 5000.0 / 4 * sft.Grads.Norm()
	if n := r.Grads.Norm(); n > 1e-5*scale {
		t.Fatalf("gradient norm %g with winner == loser (scale %g)", n, scale)
	}
	for i := range r.Inside {
		if r.Inside[i] != 0 {
			t.Errorf("inside_%d = %g, want 0", i, r.Inside[i])
		}
	}
}

// Check 5: finite differences agree with the analytic (Gorgonia) gradient,
// for the DPO objective with an SFT term and for the plain SFT loss.
func TestFiniteDifferences(t *testing.T) {
	pol := testModel(t, 5)
	ref := pol.Clone()
	perturb(pol, 55, 0.03)
	rng := rand.New(rand.NewPCG(5, 5))
	ex := dpoExample(rng, pol.cfg, 2)
	tt, eps := DrawDPONoise(rng, pol.cfg)
	o := DPOOptions{Beta: 50, Lambda: 0.5, Reduction: ReduceMean}

	dpo := func() (float64, Grads) {
		r, err := DPOLoss(pol, ref, ex, tt, eps, o, true)
		if err != nil {
			t.Fatal(err)
		}
		return r.Objective, r.Grads
	}
	clips := []Clip{{Video: ex.Winner, Caption: "x"}, {Video: ex.Losers[0], Caption: ""}}
	ts := []int{tt, 900}
	noise := [][]float32{eps, randNoise(rng, len(eps))}
	sft := func() (float64, Grads) {
		r, err := SFTLoss(pol, clips, ts, noise, true)
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss, r.Grads
	}
	for name, f := range map[string]func() (float64, Grads){"dpo": dpo, "sft": sft} {
		f0, g := f()
		for trial := 0; trial < 3; trial++ {
			// A random unit direction over every parameter.
			dir := make(Grads, len(g))
			nn := 0.0
			for i := range g {
				dir[i] = randNoise(rng, len(g[i]))
				for _, v := range dir[i] {
					nn += float64(v) * float64(v)
				}
			}
			analytic := 0.0
			for i := range dir {
				for j := range dir[i] {
					dir[i][j] /= float32(math.Sqrt(nn))
					analytic += float64(dir[i][j]) * float64(g[i][j])
				}
			}
			h := 1e-2
			step := func(s float64) {
				for i, p := range pol.params {
					for j := range p.Data {
						p.Data[j] += float32(s * float64(dir[i][j]))
					}
				}
			}
			saved := pol.Clone()
			step(h)
			fp, _ := f()
			pol.CopyFrom(saved)
			step(-h)
			fm, _ := f()
			pol.CopyFrom(saved)
			numeric := (fp - fm) / (2 * h)
			tol := 0.02*math.Abs(analytic) + 1e-4*math.Abs(f0)
			if math.Abs(numeric-analytic) > tol {
				t.Errorf("%s direction %d: numeric %g analytic %g", name, trial, numeric, analytic)
			} else {
				t.Logf("%s direction %d: numeric %g analytic %g", name, trial, numeric, analytic)
			}
		}
	}
}

// The winner and every loser share one t (from the lower half) and one eps.
func TestDPOSharesNoiseAndTimestep(t *testing.T) {
	m := testModel(t, 6)
	c := m.cfg
	rng := rand.New(rand.NewPCG(6, 6))
	ex := dpoExample(rng, c, 3)
	seen := map[bool]bool{}
	for i := 0; i < 2000; i++ {
		tt, _ := DrawDPONoise(rng, c)
		if tt < 0 || tt >= c.TrainSteps/2 {
			t.Fatalf("drew t=%d outside [0, %d)", tt, c.TrainSteps/2)
		}
		seen[tt < c.TrainSteps/4] = true
	}
	if !seen[true] || !seen[false] {
		t.Fatal("t does not cover the lower half")
	}
	tt, eps := DrawDPONoise(rng, c)
	in, err := m.dpoInputs(ex, tt, eps)
	if err != nil {
		t.Fatal(err)
	}
	a, s := m.sched.coefs(tt)
	for i := range in.xt {
		if in.ts[i] != tt || &in.eps[i][0] != &eps[0] {
			t.Fatalf("sample %d: t=%d or noise not shared", i, in.ts[i])
		}
		x0 := ex.Winner
		if i > 0 {
			x0 = ex.Losers[i-1]
		}
		for j := range x0 {
			// x_t - sqrt(abar) x0 must be the same sqrt(1-abar) eps for every sample.
			if d := float64(in.xt[i][j]) - a*float64(x0[j]) - s*float64(eps[j]); math.Abs(d) > 1e-5 {
				t.Fatalf("sample %d element %d: noise residual %g", i, j, d)
			}
		}
	}
	// The trainer draws the same way.
	pol := testModel(t, 7)
	tr, err := NewTrainer(pol, pol.Clone(), DefaultDPOTrainOptions())
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := tr.DPOStep(ex)
	if err != nil {
		t.Fatal(err)
	}
	if r.T < 0 || r.T >= c.TrainSteps/2 {
		t.Fatalf("trainer used t=%d", r.T)
	}
}

// TestDPOTimestepShare: TShare 0 draws exactly as the reference's lower
// half (the same stream as DrawDPONoise); 1 covers the whole schedule, high
// noise included; a share in between stops at its share of T; and the
// trainer draws with its options.
func TestDPOTimestepShare(t *testing.T) {
	c := testModel(t, 9).cfg
	T := c.TrainSteps
	a, b := rand.New(rand.NewPCG(9, 9)), rand.New(rand.NewPCG(9, 9))
	for range 200 {
		t1, e1 := DrawDPONoise(a, c)
		t2, e2 := DPOOptions{}.DrawNoise(b, c)
		if t1 != t2 || e1[0] != e2[0] {
			t.Fatal("TShare 0 draws differently from the reference's lower half")
		}
	}
	for _, tc := range []struct {
		share float64
		n     int
	}{{0, T / 2}, {0.5, T / 2}, {1, T}, {0.25, T / 4}, {1e-9, 1}} {
		o := DPOOptions{Beta: 1, TShare: tc.share}
		if got := o.Timesteps(c); got != tc.n {
			t.Errorf("share %g: %d timesteps, want %d", tc.share, got, tc.n)
		}
	}
	rng := rand.New(rand.NewPCG(10, 10))
	high := false
	for range 2000 {
		tt, _ := DPOOptions{TShare: 1}.DrawNoise(rng, c)
		if tt < 0 || tt >= T {
			t.Fatalf("drew t=%d outside [0, %d)", tt, T)
		}
		high = high || tt >= T*3/4
	}
	if !high {
		t.Error("share 1 never draws a high-noise timestep")
	}
	pol := testModel(t, 11)
	opts := DefaultDPOTrainOptions()
	opts.DPO.TShare = 1
	tr, err := NewTrainer(pol, pol.Clone(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ex := dpoExample(rng, c, 1)
	high = false
	for range 40 {
		r, _, err := tr.DPOStep(ex)
		if err != nil {
			t.Fatal(err)
		}
		high = high || r.T >= T/2
	}
	if !high {
		t.Error("the trainer with share 1 never drew from the upper half")
	}
}

func TestDPOOptionsValidated(t *testing.T) {
	m := testModel(t, 8)
	rng := rand.New(rand.NewPCG(8, 8))
	ex := dpoExample(rng, m.cfg, 1)
	tt, eps := DrawDPONoise(rng, m.cfg)
	bad := []DPOOptions{{Beta: 0}, {Beta: -1}, {Beta: 1, Lambda: -1}, {Beta: 1, Reduction: "max"},
		{Beta: 1, TShare: -0.1}, {Beta: 1, TShare: 1.5}, {Beta: 1, TShare: math.NaN()}}
	for _, o := range bad {
		if _, err := DPOLoss(m, m.Clone(), ex, tt, eps, o, false); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	if _, err := DPOLoss(m, m.Clone(), DPOExample{Winner: ex.Winner}, tt, eps, DefaultDPOOptions(), false); err == nil {
		t.Error("no losers accepted")
	}
	if _, err := DPOLoss(m, m.Clone(), DPOExample{Winner: ex.Winner[:10], Losers: ex.Losers}, tt, eps, DefaultDPOOptions(), false); err == nil {
		t.Error("short winner accepted")
	}
	if _, err := DPOLoss(m, m.Clone(), ex, tt, eps[:5], DefaultDPOOptions(), false); err == nil {
		t.Error("short noise accepted")
	}
}

// The SFT loss is the per-sample mean v-MSE; check it against a direct
// computation through the prediction graph.
func TestSFTLossMatchesPrediction(t *testing.T) {
	m := testModel(t, 9)
	c := m.cfg
	rng := rand.New(rand.NewPCG(9, 9))
	clips := []Clip{{Video: randVideo(rng, c), Caption: "a"}, {Video: randVideo(rng, c), Caption: "b c"}}
	ts := []int{10, 700}
	eps := [][]float32{randNoise(rng, c.VideoSize()), randNoise(rng, c.VideoSize())}
	r, err := SFTLoss(m, clips, ts, eps, false)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := m.noiseClips(clips, ts, eps)
	v, err := m.predictV(in.xt, in.first, in.captions, in.ts)
	if err != nil {
		t.Fatal(err)
	}
	mean := 0.0
	for b := range clips {
		s := 0.0
		for j := range v[b] {
			d := float64(v[b][j]) - float64(in.v[b][j])
			s += d * d
		}
		s /= float64(len(v[b]))
		if math.Abs(s-r.PerSample[b]) > 1e-5*s {
			t.Errorf("sample %d: loss %g, direct %g", b, r.PerSample[b], s)
		}
		mean += s / 2
	}
	if math.Abs(mean-r.Loss) > 1e-5*mean {
		t.Errorf("batch loss %g, direct %g", r.Loss, mean)
	}
}
