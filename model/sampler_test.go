package model

import (
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
		s.ddimUpdate(x, v2, tt, prev)
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
