package model

import (
	"reflect"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	for _, name := range []string{"tiny", "small"} {
		c, err := Preset(name)
		if err != nil || c.Validate() != nil {
			t.Fatalf("preset %s: %v %v", name, err, c.Validate())
		}
	}
	if _, err := Preset("huge"); err == nil {
		t.Fatal("unknown preset accepted")
	}
	bad := []func(*Config){
		func(c *Config) { c.Frames = 1 },
		func(c *Config) { c.Height = 30 },
		func(c *Config) { c.Heads = 5 },
		func(c *Config) { c.Dim = 0 },
		func(c *Config) { c.BetaEnd = c.BetaStart },
		func(c *Config) { c.Vocab = 1 },
	}
	for i, f := range bad {
		c := Tiny()
		f(&c)
		if c.Validate() == nil {
			t.Errorf("bad config %d accepted", i)
		}
		if _, err := New(c, 1); err == nil {
			t.Errorf("New accepted bad config %d", i)
		}
	}
}

func TestTokenizeDeterministic(t *testing.T) {
	a := Tokenize("A man, walking the dog!", 2048, 64)
	b := Tokenize("a MAN walking   the dog", 2048, 64)
	if !reflect.DeepEqual(a, b) || len(a) != 5 {
		t.Fatalf("%v vs %v", a, b)
	}
	for _, id := range a {
		if id < 1 || id >= 2048 {
			t.Fatalf("id %d out of range", id)
		}
	}
	if got := Tokenize("  ...  ", 2048, 64); !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("empty caption gives %v, want the null token", got)
	}
	if got := Tokenize("a b c d", 2048, 2); len(got) != 2 {
		t.Fatalf("max words not applied: %v", got)
	}
}

func TestPatchifyRoundTrip(t *testing.T) {
	c := testConfig()
	v := randVideo(newRNG(1), c)
	tok := make([]float32, c.TokensPerVideo()*c.PatchDim())
	c.patchify(tok, c.PatchDim(), 0, v, c.Frames)
	back := make([]float32, len(v))
	c.unpatchify(back, tok)
	if !reflect.DeepEqual(v, back) {
		t.Fatal("unpatchify(patchify(v)) != v")
	}
}

func TestScheduleScaledLinear(t *testing.T) {
	s, err := NewSchedule(Tiny())
	if err != nil {
		t.Fatal(err)
	}
	if s.T != 1000 || s.Betas[0] != 0.00085 || abs(s.Betas[999]-0.012) > 1e-12 {
		t.Fatalf("betas %g..%g over %d", s.Betas[0], s.Betas[999], s.T)
	}
	x0 := []float32{0.5, -0.25}
	eps := []float32{1, -2}
	xt, v := make([]float32, 2), make([]float32, 2)
	if err := s.Noise(xt, v, x0, eps, 300); err != nil {
		t.Fatal(err)
	}
	gx, ge := make([]float32, 2), make([]float32, 2)
	s.PredictX0Eps(gx, ge, xt, v, 300)
	for i := range x0 {
		if abs(float64(gx[i]-x0[i])) > 1e-5 || abs(float64(ge[i]-eps[i])) > 1e-5 {
			t.Fatalf("recovered %v %v from v, want %v %v", gx, ge, x0, eps)
		}
	}
	if s.Noise(xt, v, x0, eps, 1000) == nil {
		t.Fatal("t = T accepted")
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
