package model

import "testing"

// A hundred SFT steps on fixed clips lower their v-MSE at fixed (t, noise).
func TestSFTTrainingReducesLoss(t *testing.T) {
	m, err := New(testConfig(), 40)
	if err != nil {
		t.Fatal(err)
	}
	c := m.cfg
	rng := newRNG(40)
	// Smooth videos (a gradient that moves), so there is something to learn.
	var clips []Clip
	for k := 0; k < 2; k++ {
		v := make([]float32, c.VideoSize())
		for f := 0; f < c.Frames; f++ {
			for y := 0; y < c.Height; y++ {
				for x := 0; x < c.Width; x++ {
					for ch := 0; ch < 3; ch++ {
						v[((f*c.Height+y)*c.Width+x)*3+ch] = float32(x+f+k*ch)/float32(c.Width+c.Frames+6) - 0.5
					}
				}
			}
		}
		clips = append(clips, Clip{Video: v, Caption: "a gradient"})
	}
	ts := []int{100, 600}
	eps := [][]float32{randNoise(rng, c.VideoSize()), randNoise(rng, c.VideoSize())}
	before, err := SFTLoss(m, clips, ts, eps, false)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultSFTOptions()
	o.LR, o.Warmup = 3e-3, 5
	tr, err := NewTrainer(m, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 120; i++ {
		if _, _, err := tr.SFTStep(clips); err != nil {
			t.Fatal(err)
		}
	}
	after, err := SFTLoss(m, clips, ts, eps, false)
	if err != nil {
		t.Fatal(err)
	}
	if !(after.Loss < 0.7*before.Loss) {
		t.Fatalf("v-MSE %g -> %g after 120 steps", before.Loss, after.Loss)
	}
	t.Logf("v-MSE %g -> %g", before.Loss, after.Loss)
}
