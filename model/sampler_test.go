package model

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestTimestepsTrailing(t *testing.T) {
	s, _ := NewSchedule(testConfig())
	if got := s.Timesteps(4); !reflect.DeepEqual(got, []int{999, 749, 499, 249}) {
		t.Fatalf("timesteps %v", got)
	}
	if got := s.Timesteps(1000); got[0] != 999 || got[999] != 0 {
		t.Fatalf("1000 steps: %d..%d", got[0], got[999])
	}
}

func TestSampleDeterministic(t *testing.T) {
	m := testModel(t, 30)
	c := m.cfg
	first := randVideo(newRNG(30), c)[:c.FrameSize()]
	o := SampleOptions{Steps: 4, Guidance: 6, Seed: 7}
	a, err := m.Sample(first, "a person waves", 2, o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Sample(first, "a person waves", 2, o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different videos")
	}
	if len(a) != 2 || len(a[0]) != c.VideoSize() || reflect.DeepEqual(a[0], a[1]) {
		t.Fatal("want two distinct videos of the model's size")
	}
	for _, v := range a[0] {
		if v < -1 || v > 1 {
			t.Fatalf("value %g outside [-1, 1]", v)
		}
	}
	o.Seed = 8
	d, _ := m.Sample(first, "a person waves", 2, o)
	if reflect.DeepEqual(a, d) {
		t.Fatal("different seeds gave the same videos")
	}
	o.Seed, o.Guidance = 7, 1
	e, _ := m.Sample(first, "a person waves", 2, o)
	if reflect.DeepEqual(a, e) {
		t.Fatal("guidance had no effect")
	}
	for _, bad := range []SampleOptions{{Steps: 0, Guidance: 1}, {Steps: 2000, Guidance: 1}, {Steps: 2, Guidance: -1}} {
		if _, err := m.Sample(first, "", 1, bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
	if _, err := m.Sample(first[:3], "", 1, SampleOptions{Steps: 2, Guidance: 1}); err == nil {
		t.Error("short first frame accepted")
	}
}

// With the true v, a DDIM step lands exactly on the same trajectory:
// x_prev = sqrt(abar_prev) x0 + sqrt(1-abar_prev) eps.
func TestDDIMUpdateWithOracle(t *testing.T) {
	s, _ := NewSchedule(testConfig())
	rng := newRNG(31)
	x0 := make([]float32, 50)
	for i := range x0 {
		x0[i] = float32(rng.Float64()*1.8 - 0.9)
	}
	eps := randNoise(rng, len(x0))
	ts := s.Timesteps(10)
	x, v := make([]float32, len(x0)), make([]float32, len(x0))
	s.Noise(x, v, x0, eps, ts[0])
	for k, tt := range ts {
		prev := -1
		if k+1 < len(ts) {
			prev = ts[k+1]
		}
		_, v2 := make([]float32, len(x0)), make([]float32, len(x0))
		tmp := make([]float32, len(x0))
		s.Noise(tmp, v2, x0, eps, tt) // the true v at t
		s.ddimUpdate(x, v2, tt, prev, Config{}.x0Bounds(nil, false))
		want := make([]float32, len(x0))
		if prev >= 0 {
			s.Noise(want, tmp, x0, eps, prev)
		} else {
			copy(want, x0)
		}
		for j := range x {
			if abs(float64(x[j]-want[j])) > 1e-4 {
				t.Fatalf("step %d: x[%d] = %g, want %g", k, j, x[j], want[j])
			}
		}
	}
}

// TestResidualSpaceRoundTrip: the residual space is exact around the first
// frame (a still video is all zeros), inverts back to the pixels, and the x0
// bounds are the pixel range seen from the first frame.
func TestResidualSpaceRoundTrip(t *testing.T) {
	c := Tiny()
	if c.ResidualScale == 0 {
		t.Fatal("tiny preset should diffuse the first-frame residual")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	first := make([]float32, c.FrameSize())
	for i := range first {
		first[i] = float32(rng.Float64()*2 - 1)
	}
	still := make([]float32, c.VideoSize())
	for i := range still {
		still[i] = first[i%c.FrameSize()]
	}
	z := make([]float32, c.VideoSize())
	c.toSpace(z, still, first)
	for i, v := range z {
		if v != 0 {
			t.Fatalf("still video: residual %g at %d, want 0", v, i)
		}
	}
	video := make([]float32, c.VideoSize())
	for i := range video {
		video[i] = float32(rng.Float64()*2 - 1)
	}
	c.toSpace(z, video, first)
	back := make([]float32, c.VideoSize())
	c.fromSpace(back, z, first)
	for i := range video {
		if d := math.Abs(float64(back[i] - video[i])); d > 1e-5 {
			t.Fatalf("round trip off by %g at %d", d, i)
		}
	}
	// Training noises the residual: a still clip is pure noise at any t.
	m, err := New(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	eps := randNoise(rng, c.VideoSize())
	in, err := m.noiseClips([]Clip{{Video: still, Caption: "still"}}, []int{400}, [][]float32{eps})
	if err != nil {
		t.Fatal(err)
	}
	a, sg := m.sched.coefs(400)
	for i := range eps {
		if d := math.Abs(float64(in.xt[0][i]) - sg*float64(eps[i])); d > 1e-5 {
			t.Fatalf("still clip x_t off pure noise by %g at %d", d, i)
		}
		if d := math.Abs(float64(in.v[0][i]) - a*float64(eps[i])); d > 1e-5 {
			t.Fatalf("still clip v target off by %g at %d", d, i)
		}
	}
	b := c.x0Bounds(first, false)
	for _, i := range []int{0, 7, c.VideoSize() - 1} {
		lo, hi := b(i)
		f := float64(first[i%c.FrameSize()])
		if math.Abs(f+lo/c.ResidualScale+1) > 1e-6 || math.Abs(f+hi/c.ResidualScale-1) > 1e-6 {
			t.Fatalf("bounds at %d decode to [%g, %g], want [-1, 1]", i, f+lo/c.ResidualScale, f+hi/c.ResidualScale)
		}
	}
}

// The given first frame comes back as frame 0 unless the caller frees it,
// in pixel and in residual space; the free sampler's frame 0 is the
// model's own (a random model's differs).
func TestSamplePinsFirstFrame(t *testing.T) {
	for _, scale := range []float64{0, 4} {
		c := testConfig()
		c.ResidualScale = scale
		m, err := New(c, 31)
		if err != nil {
			t.Fatal(err)
		}
		perturb(m, 31, 0.2)
		first := randVideo(newRNG(31), c)[:c.FrameSize()]
		o := SampleOptions{Steps: 4, Guidance: 6, Seed: 3}
		pinned, err := m.Sample(first, "a person sits", 1, o)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range first {
			if d := math.Abs(float64(pinned[0][i] - f)); d > 1e-6 {
				t.Fatalf("scale %g: pinned frame 0 off the first frame by %g at %d", scale, d, i)
			}
		}
		o.FreeFirstFrame = true
		free, err := m.Sample(first, "a person sits", 1, o)
		if err != nil {
			t.Fatal(err)
		}
		diff := 0.0
		for i, f := range first {
			diff += math.Abs(float64(free[0][i] - f))
		}
		if diff/float64(len(first)) < 1e-3 {
			t.Fatalf("scale %g: free frame 0 equals the first frame (mean difference %g)", scale, diff/float64(len(first)))
		}
	}
}
