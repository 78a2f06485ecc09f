package experiment

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"realdpo/schemas"
	"realdpo/transforms/evaluate"
	"realdpo/transforms/evaluate/evaltest"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// tinyConfig is the whole experiment at the least work that still runs
// every stage: two seeds (so the spread exists), two training steps a
// run, two evaluation samples a clip, one negative a clip.
func tinyConfig(dataset, heldout, out string) schemas.ExperimentConfig {
	c := DefaultConfig()
	c.Dataset, c.Heldout, c.Output = dataset, heldout, out
	c.Seeds = []uint64{1, 2}
	c.NegativesPerClip, c.NegativeSteps = 1, 2
	c.TrainSteps, c.CheckpointEvery = 2, 0
	c.EvalSamples, c.EvalSteps, c.EvalGuidance, c.Strips, c.Bootstrap = 2, 2, 1, 2, 200
	c.HeldoutPairs = true
	return c
}

// TestExperimentEndToEnd runs the experiment at tiny settings on
// synthetic clips (training and held-out sets from different seeds),
// checks experiment.json and experiment.html, then reruns it: every stage
// is skipped and the report comes out the same.
func TestExperimentEndToEnd(t *testing.T) {
	evaltest.RequireFFmpeg(t)
	dataset, heldout, out := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "exp")
	evaltest.WriteDataset(t, dataset, "train", 11, []float64{2, 1})
	evaltest.WriteDataset(t, heldout, "held", 31, []float64{1.5, 2.5, 3})
	c := tinyConfig(dataset, heldout, out)
	ctx := context.Background()
	rep, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 4 {
		t.Fatalf("%d runs, want 4 (2 seeds x RealDPO, SFT)", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		if r.Summary.Steps != 2 || r.Summary.Pairs != 2 {
			t.Errorf("run %s seed %d: %+v", r.Group, r.Seed, r.Summary)
		}
	}
	ev := rep.Eval
	if ev.Counts["clips_evaluated"] != 3 || ev.Counts["samples"] != 3*5*2 || ev.Counts["pairs"] != 3 {
		t.Errorf("eval counts %v, want 3 clips, 30 samples (5 models x 2), 3 pairs", ev.Counts)
	}
	groups := map[string]schemas.EvalGroupReport{}
	for _, g := range ev.Groups {
		groups[g.Name] = g
	}
	if len(groups["sft"].Members) != 2 || len(groups["realdpo"].Members) != 2 || len(groups["base"].Members) != 1 {
		t.Fatalf("groups %+v", ev.Groups)
	}
	if sp, ok := groups["realdpo"].Spread["motion_fd"]; !ok || sp.N != 2 {
		t.Errorf("realdpo motion_fd spread %+v", sp)
	}
	pairs := map[string]bool{}
	for _, cmp := range ev.Comparisons {
		pairs[cmp.A+":"+cmp.B] = true
	}
	for _, want := range []string{"realdpo:base", "realdpo:sft", "sft:base"} {
		if !pairs[want] {
			t.Errorf("no %s comparison (have %v)", want, pairs)
		}
	}
	if strings.Join(evalRows(t, out), ",") != "real,base,sft@1,realdpo@1" {
		t.Errorf("strip rows %v", evalRows(t, out))
	}
	html := mustRead(t, filepath.Join(out, ReportHTML))
	for _, want := range []string{"How far these numbers can be trusted", "Paired differences", "realdpo - base", "Training curves",
		"Frame strips", "real | base | sft@1 | realdpo@1", "seeds: sd"} {
		if !strings.Contains(html, want) {
			t.Errorf("experiment.html lacks %q", want)
		}
	}
	// Two strips and four curves, embedded.
	if n := strings.Count(html, `src="data:image/png;base64,`); n != 2+len(curves) {
		t.Errorf("experiment.html embeds %d images, want %d", n, 2+len(curves))
	}
	for _, c := range curves {
		if _, err := os.Stat(filepath.Join(out, c.file)); err != nil {
			t.Errorf("plot %s: %v", c.file, err)
		}
	}
	if got, err := ReadReport(ctx, out); err != nil || got.Eval.Groups == nil {
		t.Fatalf("reading experiment.json: %v", err)
	}
	notes := strings.Join(TrustNotes(rep), "\n")
	for _, want := range []string{"2 training seed(s)", "3 held-out clips", "Only 3 clips"} {
		if !strings.Contains(notes, want) {
			t.Errorf("trust notes lack %q:\n%s", want, notes)
		}
	}

	// A rerun skips every stage and gives the same figures.
	t0 := time.Now()
	again, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range again.Stages {
		if !st.Skipped {
			t.Errorf("rerun ran stage %s again", st.Name)
		}
	}
	if again.Eval.Groups[2].Metrics["motion_fd"] != ev.Groups[2].Metrics["motion_fd"] {
		t.Error("rerun changed the figures")
	}
	t.Logf("rerun took %s", time.Since(t0).Round(time.Millisecond))

	// Other training settings redo training and everything after it (one
	// seed, to keep the test short). Lambda is a setting the train stage
	// refuses to resume under, so the old run's output must be cleared.
	c2 := c
	c2.TrainSteps, c2.Seeds, c2.SFTWeight = 3, []uint64{1}, c.SFTWeight/2
	third, err := Run(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	for _, st := range third.Stages {
		ran[st.Name] = !st.Skipped
	}
	if ran["negatives"] || ran["pairs"] || !ran["train-realdpo-s1"] || !ran["eval"] {
		t.Errorf("after changing the training steps, stages run: %v", ran)
	}
	// The retrained checkpoint sits where the first one did; the eval in
	// this same process must sample the new weights (its cache is keyed by
	// them), and the report names them.
	weights := func(r *schemas.ExperimentReport, name string) string {
		for _, m := range r.Eval.Models {
			if m.Name == name {
				return m.Weights
			}
		}
		return ""
	}
	if a, b := weights(rep, "realdpo@1"), weights(third, "realdpo@1"); a == "" || a == b {
		t.Errorf("realdpo@1 weights %q then %q: want the retrained ones", a, b)
	}
}

func evalRows(t *testing.T, out string) []string {
	t.Helper()
	rep, err := evaluate.ReadReport(context.Background(), filepath.Join(out, EvalDir))
	if err != nil {
		t.Fatal(err)
	}
	return rep.StripRows
}

func TestValidate(t *testing.T) {
	c := tinyConfig("d", "h", "o")
	if err := Validate(c); err != nil {
		t.Fatal(err)
	}
	bad := []func(c *schemas.ExperimentConfig){
		func(c *schemas.ExperimentConfig) { c.Dataset = "" },
		func(c *schemas.ExperimentConfig) { c.Heldout = "" },
		func(c *schemas.ExperimentConfig) { c.Heldout = c.Dataset },
		func(c *schemas.ExperimentConfig) { c.Output = "" },
		func(c *schemas.ExperimentConfig) { c.Seeds = nil },
		func(c *schemas.ExperimentConfig) { c.Seeds = []uint64{1, 1} },
		func(c *schemas.ExperimentConfig) { c.TrainSteps = 0 },
		func(c *schemas.ExperimentConfig) { c.NegativesPerClip = 0 },
		func(c *schemas.ExperimentConfig) { c.EvalSamples = 0 },
		func(c *schemas.ExperimentConfig) { c.Bootstrap = 0 },
		func(c *schemas.ExperimentConfig) { c.RegenerateEvery = -1 },
	}
	for i, f := range bad {
		cc := tinyConfig("d", "h", "o")
		f(&cc)
		if err := Validate(cc); err == nil {
			t.Errorf("case %d: want an error for %+v", i, cc)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
