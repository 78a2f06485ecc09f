package evaluate

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"realdpo/schemas"
)

// fakeStats is a clip's stats with random features; motion features
// scaled by motion.
func fakeStats(rng *rand.Rand, base []float64, noise, motion float64) schemas.EvalStats {
	f := make([]float64, FeatureDim)
	for i := range f {
		f[i] = base[i] + noise*rng.NormFloat64()
	}
	var speeds []float64
	for i := 0; i < 50; i++ {
		speeds = append(speeds, math.Abs(motion*(1+0.3*rng.NormFloat64())))
	}
	s := schemas.EvalStats{Features: f, Speeds: speeds, MeanSpeed: motion}
	mf := MotionFeatures(s)
	for i := range mf {
		mf[i] = math.Abs(base[7+i]) * motion
	}
	return s
}

// TestTablesSeparateModelsAndGroupSeeds builds 40 clips where one model
// moves like the real clips and a two-seed group hardly moves, and checks
// the intervals, the paired comparison, the group mean and its spread.
func TestTablesSeparateModelsAndGroupSeeds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var samples []schemas.EvalSample
	for c := 0; c < 40; c++ {
		id := string(rune('A'+c/26)) + string(rune('a'+c%26))
		base := make([]float64, FeatureDim)
		for i := range base {
			base[i] = rng.NormFloat64()
		}
		motion := 1 + rng.Float64()
		samples = append(samples, schemas.EvalSample{ClipID: id, Model: RealModel, Stats: fakeStats(rng, base, 0, motion)})
		for k := 0; k < 2; k++ {
			samples = append(samples,
				schemas.EvalSample{ClipID: id, Model: "good", Index: k, Stats: fakeStats(rng, base, 0.1, motion*(1+0.1*rng.NormFloat64()))},
				schemas.EvalSample{ClipID: id, Model: "still@1", Index: k, Stats: fakeStats(rng, base, 0.1, 0.1*motion)},
				schemas.EvalSample{ClipID: id, Model: "still@2", Index: k, Stats: fakeStats(rng, base, 0.1, 0.2*motion)})
		}
	}
	cfg := schemas.EvalConfig{Steps: 10, Guidance: 3, Samples: 1, Seed: 1, Strips: 4, Beta: 5000, Bootstrap: 1000}
	cfg.Bootstrap, cfg.Samples = 300, 2
	cfg.Models = []schemas.EvalModel{{Name: "good", Group: "good"}, {Name: "still@1", Group: "still"}, {Name: "still@2", Group: "still"}}
	d := buildStatData(samples, nil)
	tab, err := computeTables(cfg, d, metricImpls)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.groups) != 2 || len(tab.groups[1].Members) != 2 {
		t.Fatalf("groups %+v", tab.groups)
	}
	for _, key := range []string{"motion_fd", "motion_error", "speed_w1", "speed_mean_delta"} {
		g, s := tab.groups[0].Metrics[key], tab.groups[1].Metrics[key]
		if !(g.Lo <= g.Hi && s.Lo <= s.Hi) || !(g.Value < s.Value) {
			t.Errorf("%s: good %+v, still %+v: want good lower", key, g, s)
		}
		found := false
		for _, c := range tab.compare {
			if c.Metric == strings.TrimSuffix(key, "_delta") {
				found = true
				if c.A != "still" || c.B != "good" || c.Better != "good" || !(c.Diff.Lo > 0) {
					t.Errorf("%s: comparison %+v, want still - good > 0, good better", key, c)
				}
			}
		}
		if !found {
			t.Errorf("%s: no comparison", key)
		}
	}
	// The group is the mean of its seeds; the spread holds both.
	m1, m2 := tab.model["still@1"]["speed_mean"].Value, tab.model["still@2"]["speed_mean"].Value
	if g := tab.groups[1].Metrics["speed_mean"].Value; math.Abs(g-(m1+m2)/2) > 1e-12 {
		t.Errorf("group mean %g, members %g and %g", g, m1, m2)
	}
	sp := tab.groups[1].Spread["speed_mean"]
	if sp.N != 2 || sp.Min != math.Min(m1, m2) || sp.Max != math.Max(m1, m2) || !(sp.SD > 0) {
		t.Errorf("spread %+v, members %g and %g", sp, m1, m2)
	}
	// Real clips have their own values, with intervals.
	if iv, ok := tab.real["speed_mean"]; !ok || !(iv.Lo <= iv.Value && iv.Value <= iv.Hi) {
		t.Errorf("real speed %+v", iv)
	}
	// Resamples are reproducible: the same tables again.
	again, _ := computeTables(cfg, d, metricImpls)
	if again.groups[1].Metrics["motion_fd"] != tab.groups[1].Metrics["motion_fd"] {
		t.Error("tables differ between two runs on the same data")
	}
	if _, err := Comparisons(schemas.EvalConfig{Compare: []string{"good:nope"}}, []string{"good", "still"}); err == nil {
		t.Error("a comparison naming an unknown group: want an error")
	}
}

func TestParseCompare(t *testing.T) {
	c, err := ParseCompare(" realdpo:base, realdpo:sft ")
	if err != nil || len(c) != 2 || c[1] != "realdpo:sft" {
		t.Errorf("%v, %v", c, err)
	}
	for _, bad := range []string{"a", "a:", ":b", "a:a"} {
		if _, err := ParseCompare(bad); err == nil {
			t.Errorf("ParseCompare(%q): want an error", bad)
		}
	}
}
