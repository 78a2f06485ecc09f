package model

import (
	"math"
	"testing"
)

func TestAdamWMatchesFormula(t *testing.T) {
	params := []*Param{{Name: "a.weight", Shape: []int{2}, Data: []float32{1, -2}}, {Name: "a.bias", Shape: []int{1}, Data: []float32{0.5}}}
	o := NewAdamW(params, 0.1, 0.01, 0, 4)
	g := Grads{{0.3, -0.4}, {2}}
	lr, norm, err := o.Update(params, g)
	if err != nil {
		t.Fatal(err)
	}
	if lr != 0.1/4 {
		t.Fatalf("warm-up lr %g, want %g", lr, 0.1/4)
	}
	if math.Abs(norm-math.Sqrt(0.09+0.16+4)) > 1e-6 {
		t.Fatalf("norm %g", norm)
	}
	// Step 1: mhat = g, vhat = g^2, so the Adam step is lr*sign(g) (up to eps).
	want := []float64{1*(1-lr*0.01) - lr, -2*(1-lr*0.01) + lr}
	for i, w := range want {
		if math.Abs(float64(params[0].Data[i])-w) > 1e-6 {
			t.Errorf("weight %d = %g, want %g", i, params[0].Data[i], w)
		}
	}
	if math.Abs(float64(params[1].Data[0])-(0.5-lr)) > 1e-6 { // no decay on biases
		t.Errorf("bias = %g, want %g", params[1].Data[0], 0.5-lr)
	}
	for s := 2; s <= 5; s++ {
		if got, want := o.LRAt(s), math.Min(1, float64(s)/4)*0.1; math.Abs(got-want) > 1e-12 {
			t.Errorf("lr at %d = %g, want %g", s, got, want)
		}
	}
}

func TestAdamWClipsGlobalNorm(t *testing.T) {
	params := []*Param{{Name: "w.weight", Shape: []int{2}, Data: []float32{0, 0}}}
	o := NewAdamW(params, 1e-3, 0, 1, 0)
	g := Grads{{3, 4}}
	if _, norm, err := o.Update(params, g); err != nil || norm != 5 {
		t.Fatalf("norm %g err %v", norm, err)
	}
	if n := g.Norm(); math.Abs(n-1) > 1e-5 {
		t.Fatalf("clipped norm %g, want 1", n)
	}
	if math.Abs(float64(o.M[0][0])-0.1*0.6) > 1e-6 {
		t.Fatalf("first moment %g, want the clipped gradient's", o.M[0][0])
	}
	bad := Grads{{float32(math.NaN()), 0}}
	before := params[0].Data[0]
	if _, _, err := o.Update(params, bad); err == nil || params[0].Data[0] != before {
		t.Fatal("non-finite gradient accepted")
	}
	if _, _, err := o.Update(params, Grads{{1}}); err == nil {
		t.Fatal("short gradient accepted")
	}
}

func TestEMAArithmetic(t *testing.T) {
	pol := testModel(t, 10)
	ref := pol.Clone()
	perturb(pol, 11, 0.1)
	want := make([][]float32, len(ref.params))
	for i, p := range ref.params {
		want[i] = make([]float32, len(p.Data))
		for j := range p.Data {
			want[i][j] = float32(0.999)*p.Data[j] + float32(0.001)*pol.params[i].Data[j]
		}
	}
	old := ref.Clone()
	if err := EMAUpdate(ref, pol, 0.001); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i, p := range ref.params {
		for j := range p.Data {
			if p.Data[j] != want[i][j] {
				t.Fatalf("%s[%d] = %g, want %g", p.Name, j, p.Data[j], want[i][j])
			}
			if p.Data[j] != old.params[i].Data[j] {
				moved++
			}
		}
	}
	// In float32 a 0.1% step of a 0.1-sized difference does not round away.
	if moved < ref.NumParams()*9/10 {
		t.Fatalf("only %d of %d reference values moved", moved, ref.NumParams())
	}
	if err := EMAUpdate(ref, pol, 1.5); err == nil {
		t.Fatal("rate 1.5 accepted")
	}
}

func TestTrainerEMASchedule(t *testing.T) {
	pol := testModel(t, 12)
	o := DefaultDPOTrainOptions()
	o.EMAEvery, o.LR = 2, 1e-3
	tr, err := NewTrainer(pol, pol.Clone(), o)
	if err != nil {
		t.Fatal(err)
	}
	ex := dpoExample(newRNG(12), pol.cfg, 1)
	for s := 1; s <= 4; s++ {
		before := tr.Ref.Clone()
		_, info, err := tr.DPOStep(ex)
		if err != nil {
			t.Fatal(err)
		}
		same := before.params[0].Data[0] == tr.Ref.params[0].Data[0]
		if info.EMA != (s%2 == 0) || info.EMA == same {
			t.Fatalf("step %d: ema=%v, reference unchanged=%v", s, info.EMA, same)
		}
	}
}
