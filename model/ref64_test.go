package model

import (
	"fmt"
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// ref64 is the network evaluated in float64 with plain loops, written
// from the description in doc.go rather than from either engine: the
// yardstick for the engines' rounding.
type ref64 struct {
	c Config
	p map[string][]float64
}

func newRef64(m *Model) *ref64 {
	r := &ref64{c: m.cfg, p: map[string][]float64{}}
	for _, p := range m.params {
		r.p[p.Name] = toF64(p.Data)
	}
	return r
}

// lin is x[R,K] @ W[K,O] + b.
func (r *ref64) lin(x []float64, R, K int, w, b []float64) []float64 {
	O := len(w) / K
	y := make([]float64, R*O)
	for i := 0; i < R; i++ {
		yr := y[i*O : (i+1)*O]
		if b != nil {
			copy(yr, b)
		}
		for k, xv := range x[i*K : (i+1)*K] {
			for o, wv := range w[k*O : (k+1)*O] {
				yr[o] += xv * wv
			}
		}
	}
	return y
}

func silu64(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v / (1 + math.Exp(-v))
	}
	return y
}

// lnMod is LayerNorm of each row then x*(1+scale[b]) + shift[b].
func (r *ref64) lnMod(h []float64, shift, scale []float64, n int) []float64 {
	D := r.c.Dim
	y := make([]float64, len(h))
	for row := 0; row < len(h)/D; row++ {
		b := row / n
		x := h[row*D : (row+1)*D]
		mu, va := 0.0, 0.0
		for _, v := range x {
			mu += v
		}
		mu /= float64(D)
		for _, v := range x {
			va += (v - mu) * (v - mu)
		}
		rs := 1 / math.Sqrt(va/float64(D)+1e-6)
		for i, v := range x {
			y[row*D+i] = (v-mu)*rs*(1+scale[b*D+i]) + shift[b*D+i]
		}
	}
	return y
}

// attn is multi-head attention where position s of group g is row
// rowOf(g, s).
func (r *ref64) attn(xn []float64, pre string, groups, seq int, rowOf func(g, s int) int) []float64 {
	D, H := r.c.Dim, r.c.Heads
	dh := D / H
	M := len(xn) / D
	q := r.lin(xn, M, D, r.p[pre+".q.weight"], nil)
	k := r.lin(xn, M, D, r.p[pre+".k.weight"], nil)
	v := r.lin(xn, M, D, r.p[pre+".v.weight"], nil)
	o := make([]float64, len(xn))
	sc := 1 / math.Sqrt(float64(dh))
	s := make([]float64, seq)
	for g := 0; g < groups; g++ {
		for h := 0; h < H; h++ {
			for i := 0; i < seq; i++ {
				qi := q[rowOf(g, i)*D+h*dh:]
				mx := math.Inf(-1)
				for j := 0; j < seq; j++ {
					kj := k[rowOf(g, j)*D+h*dh:]
					d := 0.0
					for e := 0; e < dh; e++ {
						d += qi[e] * kj[e]
					}
					s[j] = d * sc
					mx = math.Max(mx, s[j])
				}
				tot := 0.0
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					tot += s[j]
				}
				oi := o[rowOf(g, i)*D+h*dh:]
				for j := 0; j < seq; j++ {
					vj := v[rowOf(g, j)*D+h*dh:]
					for e := 0; e < dh; e++ {
						oi[e] += s[j] / tot * vj[e]
					}
				}
			}
		}
	}
	return r.lin(o, M, D, r.p[pre+".o.weight"], r.p[pre+".o.bias"])
}

func gate64(h, a, gate []float64, n, D int) {
	for i := range h {
		h[i] += gate[(i/D/n)*D+i%D] * a[i]
	}
}

// predict returns the token-layout v prediction of each video, from the
// same float32 inputs the graphs get (Model.fill), widened to float64.
func (r *ref64) predict(m *Model, xt, first [][]float32, caps []string, ts []int) []float64 {
	c := r.c
	B, F, P, N, D, pd := len(xt), c.Frames, c.PatchesPerFrame(), c.TokensPerVideo(), c.Dim, c.PatchDim()
	ng := &netGraph{}
	ng.x = newDense32(B*N, 2*pd)
	ng.temb = newDense32(B, D)
	ng.capt = newDense32(B, c.Vocab)
	m.fill(ng, xt, first, caps, ts, nil)
	x := toF64(ng.x.Data().([]float32))
	h := r.lin(x, B*N, 2*pd, r.p["patch_embed.weight"], r.p["patch_embed.bias"])
	for i := range h {
		h[i] += r.p["pos_embed"][i%(N*D)]
	}
	ce := silu64(r.lin(toF64(ng.temb.Data().([]float32)), B, D, r.p["time_mlp.0.weight"], r.p["time_mlp.0.bias"]))
	ce = r.lin(ce, B, D, r.p["time_mlp.2.weight"], r.p["time_mlp.2.bias"])
	cap := r.lin(toF64(ng.capt.Data().([]float32)), B, c.Vocab, r.p["caption_embed.weight"], nil)
	for i := range ce {
		ce[i] += cap[i]
	}
	sc := silu64(ce)
	for i := 0; i < c.Depth; i++ {
		pre := fmt.Sprintf("blocks.%d.", i)
		mod := map[string][]float64{}
		for _, name := range modNames {
			mod[name] = r.lin(sc, B, D, r.p[pre+"mod."+name+".weight"], r.p[pre+"mod."+name+".bias"])
		}
		xn := r.lnMod(h, mod["spatial_shift"], mod["spatial_scale"], N)
		a := r.attn(xn, pre+"spatial", B*F, P, func(g, s int) int { return g*P + s })
		gate64(h, a, mod["spatial_gate"], N, D)
		xn = r.lnMod(h, mod["temporal_shift"], mod["temporal_scale"], N)
		a = r.attn(xn, pre+"temporal", B*P, F, func(g, s int) int { return (g/P)*N + s*P + g%P })
		gate64(h, a, mod["temporal_gate"], N, D)
		xn = r.lnMod(h, mod["mlp_shift"], mod["mlp_scale"], N)
		f := silu64(r.lin(xn, B*N, D, r.p[pre+"mlp.fc1.weight"], r.p[pre+"mlp.fc1.bias"]))
		f = r.lin(f, B*N, D*c.MLPRatio, r.p[pre+"mlp.fc2.weight"], r.p[pre+"mlp.fc2.bias"])
		gate64(h, f, mod["mlp_gate"], N, D)
	}
	shift := r.lin(sc, B, D, r.p["final.mod.shift.weight"], r.p["final.mod.shift.bias"])
	scl := r.lin(sc, B, D, r.p["final.mod.scale.weight"], r.p["final.mod.scale.bias"])
	return r.lin(r.lnMod(h, shift, scl, N), B*N, D, r.p["final.linear.weight"], r.p["final.linear.bias"])
}

// losses is the per-sample v-MSE of the float64 prediction against the
// (float32) v targets.
func (r *ref64) losses(m *Model, in *noisyInputs) []float64 {
	c := r.c
	pred := r.predict(m, in.xt, in.first, in.captions, in.ts)
	per := c.TokensPerVideo() * c.PatchDim()
	tg := make([]float32, per)
	out := make([]float64, len(in.xt))
	for b := range in.xt {
		c.patchify(tg, c.PatchDim(), 0, in.v[b], c.Frames)
		s := 0.0
		for i, t := range tg {
			d := pred[b*per+i] - float64(t)
			s += d * d
		}
		out[b] = s / float64(per)
	}
	return out
}

// TestFusedMatchesFloat64: the fused engine's prediction agrees with the
// float64 evaluation to float32 rounding, on both attention kernels.
func TestFusedMatchesFloat64(t *testing.T) {
	for name, cfg := range fusedTestConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := New(cfg, 31)
			if err != nil {
				t.Fatal(err)
			}
			perturb(m, 31, 0.2)
			rng := newRNG(32)
			c := m.cfg
			var xt, first [][]float32
			for i := 0; i < 2; i++ {
				v := randVideo(rng, c)
				xt, first = append(xt, v), append(first, v[:c.FrameSize()])
			}
			caps, ts := []string{"a man runs", ""}, []int{5, 700}
			got, err := m.predictV(xt, first, caps, ts)
			if err != nil {
				t.Fatal(err)
			}
			want := newRef64(m).predict(m, xt, first, caps, ts)
			per := c.TokensPerVideo() * c.PatchDim()
			tok := make([]float32, per)
			for b := range got {
				c.patchify(tok, c.PatchDim(), 0, got[b], c.Frames)
				if e := relErr(toF64(tok), want[b*per:(b+1)*per]); e > 1e-5 {
					t.Errorf("video %d: relative error %g against float64", b, e)
				} else {
					t.Logf("video %d: relative error %.2g against float64", b, e)
				}
			}
		})
	}
}

// TestDPOLogitFloat64: at beta 5000 on the tiny preset, where beta/2 = 2500
// multiplies every rounding error of the per-sample losses, the fused
// engine's inside_i matches a float64 evaluation of the same network to
// 1e-3. (The primitive engine's float32 means missed by up to 0.16.)
func TestDPOLogitFloat64(t *testing.T) {
	if testing.Short() {
		t.Skip("float64 evaluation of the tiny preset takes a few seconds")
	}
	pol, err := New(Tiny(), 41)
	if err != nil {
		t.Fatal(err)
	}
	perturb(pol, 41, 0.02)
	ref := pol.Clone()
	perturb(pol, 42, 0.002) // policy a little away from the reference
	rng := newRNG(43)
	ex := dpoExample(rng, pol.cfg, 2)
	tt, eps := DrawDPONoise(rng, pol.cfg)
	o := DefaultDPOOptions()
	got, err := DPOLoss(pol, ref, ex, tt, eps, o, false)
	if err != nil {
		t.Fatal(err)
	}
	in, err := pol.dpoInputs(ex, tt, eps)
	if err != nil {
		t.Fatal(err)
	}
	lp, lr := newRef64(pol).losses(pol, in), newRef64(ref).losses(ref, in)
	worst := 0.0
	for i := range got.Inside {
		want := -(o.Beta / 2) * ((lp[0] - lr[0]) - (lp[i+1] - lr[i+1]))
		d := math.Abs(got.Inside[i] - want)
		worst = math.Max(worst, d)
		if d > 1e-3 {
			t.Errorf("inside_%d = %.6f, float64 evaluation %.6f (off by %.2g)", i, got.Inside[i], want, d)
		}
	}
	t.Logf("fused inside %v; worst difference from float64 %.2g", got.Inside, worst)
	prim, primRef := pol.Clone(), ref.Clone()
	prim.SetEngine(EnginePrimitive)
	primRef.SetEngine(EnginePrimitive)
	if pr, err := DPOLoss(prim, primRef, ex, tt, eps, o, false); err == nil {
		pw := 0.0
		for i := range pr.Inside {
			want := -(o.Beta / 2) * ((lp[0] - lr[0]) - (lp[i+1] - lr[i+1]))
			pw = math.Max(pw, math.Abs(pr.Inside[i]-want))
		}
		t.Logf("primitive engine's worst difference from float64: %.2g", pw)
	}
}

func newDense32(shape ...int) *tensor.Dense {
	return tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
}
