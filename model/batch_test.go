package model

import (
	"math"
	"testing"
)

// A batch of one is DPOStep bit for bit; a batch of two descends the mean of
// the two examples' gradients, each at its own draw from the step's generator.
func TestDPOBatchStep(t *testing.T) {
	base := testModel(t, 7)
	c := base.cfg
	rng := newRNG(8)
	exA, exB := dpoExample(rng, c, 2), dpoExample(rng, c, 2)
	o := DefaultDPOTrainOptions()
	o.LR = 1e-3

	one, err := NewDPOTrainer(base.Clone(), o)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewDPOTrainer(base.Clone(), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := one.DPOBatchStep([]DPOExample{exA}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ref.DPOStep(exA); err != nil {
		t.Fatal(err)
	}
	for i, p := range one.Policy.params {
		for j, v := range p.Data {
			if math.Float32bits(v) != math.Float32bits(ref.Policy.params[i].Data[j]) {
				t.Fatalf("batch of one differs from DPOStep at %s[%d]", p.Name, j)
			}
		}
	}

	two, err := NewDPOTrainer(base.Clone(), o)
	if err != nil {
		t.Fatal(err)
	}
	rs := two.stepRNG()
	tA, eA := DrawDPONoise(rs, c)
	tB, eB := DrawDPONoise(rs, c)
	gA, err := DPOLoss(two.Policy, two.Ref, exA, tA, eA, o.DPO, true)
	if err != nil {
		t.Fatal(err)
	}
	gB, err := DPOLoss(two.Policy, two.Ref, exB, tB, eB, o.DPO, true)
	if err != nil {
		t.Fatal(err)
	}
	res, info, err := two.DPOBatchStep([]DPOExample{exA, exB})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Examples) != 2 || res.Examples[0].T != tA || res.Examples[1].T != tB {
		t.Fatalf("examples drew t=%d,%d, want %d,%d", res.Examples[0].T, res.Examples[1].T, tA, tB)
	}
	if want := (gA.Objective + gB.Objective) / 2; math.Abs(res.Objective-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Fatalf("objective %g, want mean %g", res.Objective, want)
	}
	mean := make(Grads, len(gA.Grads))
	for i := range gA.Grads {
		mean[i] = make([]float32, len(gA.Grads[i]))
		for j := range mean[i] {
			mean[i][j] = gA.Grads[i][j]/2 + gB.Grads[i][j]/2
		}
	}
	if got, want := info.GradNorm, mean.Norm(); math.Abs(got-want) > 1e-4*want {
		t.Fatalf("grad norm %g, want the mean gradient's %g", got, want)
	}
	if _, _, err := two.DPOBatchStep(nil); err == nil {
		t.Fatal("empty batch accepted")
	}
}
