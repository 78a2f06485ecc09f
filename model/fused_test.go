package model

import (
	"fmt"
	"math"
	"testing"
)

// fusedTestConfigs cover both attention kernels: testConfig's 4-patch
// frames use the plain loops, wideConfig's 64-patch frames go to BLAS.
func fusedTestConfigs() map[string]Config {
	wide := testConfig()
	wide.Height, wide.Width, wide.Heads, wide.Dim = 32, 32, 2, 24
	wide.ResidualScale = 4
	return map[string]Config{"small-seq": testConfig(), "blas-seq": wide}
}

// relErr is |a - b| / |b| over two flat vectors.
func relErr(a, b []float64) float64 {
	var d, n float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

func f32to64(x []float32) []float64 { return toF64(x) }

// gradErrs returns, per parameter, the relative error of a against b.
func gradErrs(t *testing.T, m *Model, a, b Grads) (worst float64, name string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d gradients against %d", len(a), len(b))
	}
	for i := range a {
		e := relErr(f32to64(a[i]), f32to64(b[i]))
		if e > worst {
			worst, name = e, m.params[i].Name
		}
	}
	return worst, name
}

// TestFusedMatchesPrimitive: the fused engine computes the primitive
// engine's function. Predictions, per-sample losses and objectives agree
// to float32 rounding (relative 1e-5); every parameter's SFT gradient
// agrees to a relative 1e-4 of its norm. For DPO the primitive engine's
// float32 loss means move inside_i (TestDPOLogitFloat64), and with it the
// sigmoid weight of each loser's gradient: objective 1e-4, gradients 1e-3.
// Otherwise the engines differ only in summation order.
func TestFusedMatchesPrimitive(t *testing.T) {
	for name, cfg := range fusedTestConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := New(cfg, 11)
			if err != nil {
				t.Fatal(err)
			}
			perturb(m, 11, 0.2)
			prim := m.Clone()
			prim.SetEngine(EnginePrimitive)
			ref := m.Clone()
			perturb(ref, 12, 0.01)
			rng := newRNG(13)
			c := m.cfg

			// Prediction, batch of 3 with different captions and times.
			var xt, first [][]float32
			for i := 0; i < 3; i++ {
				v := randVideo(rng, c)
				xt, first = append(xt, v), append(first, v[:c.FrameSize()])
			}
			caps, ts := []string{"a man runs", "", "two dogs"}, []int{5, 500, 999}
			pf, err := m.predictV(xt, first, caps, ts)
			if err != nil {
				t.Fatal(err)
			}
			pp, err := prim.predictV(xt, first, caps, ts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range pf {
				if e := relErr(f32to64(pf[i]), f32to64(pp[i])); e > 1e-5 {
					t.Errorf("prediction %d: relative error %g", i, e)
				}
			}

			// SFT loss and gradient.
			clips := []Clip{{Video: randVideo(rng, c), Caption: "x"}, {Video: randVideo(rng, c)}}
			sts := []int{30, 800}
			eps := [][]float32{randNoise(rng, c.VideoSize()), randNoise(rng, c.VideoSize())}
			sf, err := SFTLoss(m, clips, sts, eps, true)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := SFTLoss(prim, clips, sts, eps, true)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(sf.PerSample, sp.PerSample); e > 1e-5 {
				t.Errorf("sft per-sample losses %v vs %v", sf.PerSample, sp.PerSample)
			}
			if e := math.Abs(sf.Loss-sp.Loss) / sp.Loss; e > 1e-5 {
				t.Errorf("sft loss %g vs %g", sf.Loss, sp.Loss)
			}
			if w, n := gradErrs(t, m, sf.Grads, sp.Grads); w > 1e-4 {
				t.Errorf("sft gradient of %s: relative error %g", n, w)
			} else {
				t.Logf("sft: worst gradient relative error %.2g (%s)", w, n)
			}

			// DPO (3 losers, lambda on) loss terms and gradient, at a beta
			// small enough that float32 rounding of the primitive engine's
			// losses does not dominate inside_i.
			ex := dpoExample(rng, c, 3)
			tt, deps := DrawDPONoise(rng, c)
			o := DPOOptions{Beta: 50, Lambda: 0.3}
			df, err := DPOLoss(m, ref, ex, tt, deps, o, true)
			if err != nil {
				t.Fatal(err)
			}
			primRef := ref.Clone()
			primRef.SetEngine(EnginePrimitive)
			dp, err := DPOLoss(prim, primRef, ex, tt, deps, o, true)
			if err != nil {
				t.Fatal(err)
			}
			for i := range df.Inside {
				if d := math.Abs(df.Inside[i] - dp.Inside[i]); d > 1e-3*math.Max(1, math.Abs(dp.Inside[i])) {
					t.Errorf("inside_%d %g vs %g", i, df.Inside[i], dp.Inside[i])
				}
			}
			if e := math.Abs(df.Objective-dp.Objective) / dp.Objective; e > 1e-4 {
				t.Errorf("dpo objective %g vs %g", df.Objective, dp.Objective)
			}
			if w, n := gradErrs(t, m, df.Grads, dp.Grads); w > 1e-3 {
				t.Errorf("dpo gradient of %s: relative error %g", n, w)
			} else {
				t.Logf("dpo: worst gradient relative error %.2g (%s)", w, n)
			}
		})
	}
}

// TestFusedRepeatable: a graph run twice on the same inputs gives the same
// bits (buffers are reused between runs, and nothing may leak from one run
// into the next), and a run on other inputs in between changes nothing.
func TestFusedRepeatable(t *testing.T) {
	for name, cfg := range fusedTestConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := New(cfg, 21)
			if err != nil {
				t.Fatal(err)
			}
			perturb(m, 21, 0.2)
			ref := m.Clone()
			perturb(ref, 22, 0.01)
			rng := newRNG(23)
			ex := dpoExample(rng, m.cfg, 2)
			other := dpoExample(rng, m.cfg, 2)
			tt, eps := DrawDPONoise(rng, m.cfg)
			o := DefaultDPOOptions()
			a, err := DPOLoss(m, ref, ex, tt, eps, o, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DPOLoss(m, ref, other, 400, eps, o, true); err != nil {
				t.Fatal(err)
			}
			b, err := DPOLoss(m, ref, ex, tt, eps, o, true)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(a.Inside, a.Objective) != fmt.Sprint(b.Inside, b.Objective) {
				t.Fatalf("objective %v then %v", a.Inside, b.Inside)
			}
			for i := range a.Grads {
				for j := range a.Grads[i] {
					if a.Grads[i][j] != b.Grads[i][j] {
						t.Fatalf("%s[%d]: %g then %g", m.params[i].Name, j, a.Grads[i][j], b.Grads[i][j])
					}
				}
			}
		})
	}
}
