package training

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/dataset"
	"realdpo/transforms/fsx/fsxtest"
	"realdpo/transforms/synth"
)

var (
	footageOnce sync.Once
	footageDir  string
	footageGT   []schemas.GroundTruth
	footageErr  error
)

// testFootage renders four clean synthetic videos once per test binary:
// small frames, seven seconds (what every curation profile accepts, so the
// ground truth marks none of them), of which two 9-frame windows of the
// tiny preset at 8 fps are decoded.
func testFootage(t *testing.T) (string, []schemas.GroundTruth) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	footageOnce.Do(func() {
		footageDir, footageErr = os.MkdirTemp("", "pretrain-footage-")
		if footageErr != nil {
			return
		}
		footageGT, footageErr = synth.Generate(context.Background(), synth.Config{Output: footageDir, Count: 4, Seed: 41,
			DefectShare: 0, Sizes: []synth.Size{{W: 160, H: 90}}, FPS: []float64{24}, MinSeconds: 7, MaxSeconds: 7.5, Workers: 2})
	})
	if footageErr != nil {
		t.Fatal(footageErr)
	}
	return footageDir, footageGT
}

func TestMain(m *testing.M) {
	code := m.Run()
	if footageDir != "" {
		os.RemoveAll(footageDir)
	}
	os.Exit(code)
}

// shortConfig is a run of a few tiny-preset steps.
func shortConfig(dataset, output string) PretrainConfig {
	c := DefaultPretrainConfig()
	c.Dataset, c.Output = dataset, output
	c.Steps, c.Batch, c.EvalEvery, c.EvalTimesteps, c.WindowsPerVideo = 3, 2, 2, 2, 2
	c.Holdout, c.Seed = 0.5, 7
	return c
}

func loadWeights(t *testing.T, p string) *model.Model {
	t.Helper()
	cfg, err := model.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	ck, err := model.LoadCheckpoint(p, &cfg)
	if err != nil {
		t.Fatalf("checkpoint %s does not load: %v", p, err)
	}
	return ck.Model
}

func checkResult(t *testing.T, r PretrainResult, steps int) {
	t.Helper()
	if r.Steps != steps || r.TrainClips == 0 || r.HeldoutClips == 0 {
		t.Fatalf("result %+v: want %d steps and clips on both sides", r, steps)
	}
	for _, v := range []float64{r.HeldoutMSEBefore, r.HeldoutMSEAfter} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			t.Fatalf("held-out v-MSE %g -> %g: want finite and positive", r.HeldoutMSEBefore, r.HeldoutMSEAfter)
		}
	}
}

// TestPretrainFolder trains on a folder of videos with sidecars: the
// checkpoint is written and loads, the figures are reported, and the same
// seed gives the same weights.
func TestPretrainFolder(t *testing.T) {
	dir, _ := testFootage(t)
	out := t.TempDir()
	c := shortConfig(dir, filepath.Join(out, "a", "tiny.safetensors"))
	c.SamplesPNG, c.SampleSteps = filepath.Join(out, "samples.png"), 2
	r, err := Pretrain(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, r, 3)
	if r.Videos != 4 || len(r.Skipped) != 0 || len(r.Problems) != 0 || r.TrainClips+r.HeldoutClips != 8 {
		t.Fatalf("result %+v: want 4 videos giving 8 clips, nothing skipped", r)
	}
	if st, err := os.Stat(c.SamplesPNG); err != nil || st.Size() == 0 {
		t.Fatalf("sample strip: %v", err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(out, "a", ".*")); len(tmps) > 0 {
		t.Fatalf("temp files left beside the checkpoint: %v", tmps)
	}
	first := loadWeights(t, c.Output)

	c2 := c
	c2.Output, c2.SamplesPNG = filepath.Join(out, "b.safetensors"), ""
	r2, err := Pretrain(context.Background(), c2)
	if err != nil {
		t.Fatal(err)
	}
	if r2.HeldoutMSEAfter != r.HeldoutMSEAfter {
		t.Fatalf("rerun held-out v-MSE %g, first run %g", r2.HeldoutMSEAfter, r.HeldoutMSEAfter)
	}
	second := loadWeights(t, c2.Output)
	a, b := first.Params(), second.Params()
	for i := range a {
		if !equalFloats(a[i].Data, b[i].Data) {
			t.Fatalf("parameter %s differs between runs with seed %d", a[i].Name, c.Seed)
		}
	}
	fresh, err := model.New(first.Config(), c.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if equalFloats(fresh.Params()[0].Data, a[0].Data) && equalFloats(fresh.Params()[len(a)-1].Data, a[len(a)-1].Data) {
		t.Fatal("the checkpoint holds the initial weights: no step was taken")
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// curatedDataset lays the footage out as a curated dataset: clips/ID.mp4
// and a manifest with the given extra lines appended.
func curatedDataset(t *testing.T, gts []schemas.GroundTruth, src string, extra ...string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "clips"), 0o755); err != nil {
		t.Fatal(err)
	}
	var man bytes.Buffer
	for i, g := range gts {
		id := fmt.Sprintf("clip%02d", i)
		data, err := os.ReadFile(filepath.Join(src, g.File))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "clips", id+".mp4"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&man, `{"id":%q,"clip":"clips/%s.mp4","caption":"a person moving %d"}`+"\n", id, id, i)
	}
	for _, l := range extra {
		man.WriteString(l + "\n")
	}
	if err := os.WriteFile(filepath.Join(root, dataset.ManifestFile), man.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestPretrainManifestProblems: bad manifest lines are reported, a clip
// that does not decode is skipped with its reason, the good records still
// train.
func TestPretrainManifestProblems(t *testing.T) {
	src, gts := testFootage(t)
	root := curatedDataset(t, gts, src,
		`{"id":"escape","clip":"../outside.mp4","caption":"x"}`,
		`{not json`,
		`{"id":"junk","clip":"clips/junk.mp4","caption":"not a video"}`)
	if err := os.WriteFile(filepath.Join(root, "clips", "junk.mp4"), []byte("<html>not a video</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := shortConfig(root, filepath.Join(t.TempDir(), "m.safetensors"))
	c.Steps = 2
	r, err := Pretrain(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, r, 2)
	if len(r.Problems) != 2 || r.Problems[0].Line != 5 || r.Problems[1].Line != 6 {
		t.Fatalf("problems %+v: want lines 5 and 6", r.Problems)
	}
	if r.Videos != 4 || len(r.Skipped) != 1 || !strings.HasSuffix(r.Skipped[0].Source, "junk.mp4") || r.Skipped[0].Reason == "" {
		t.Fatalf("trained on %d videos, skipped %+v: want the 4 good records, junk.mp4 skipped with a reason", r.Videos, r.Skipped)
	}
	loadWeights(t, c.Output)

	// Nothing usable left: an error that says so.
	bad := curatedDataset(t, nil, src, `{"id":"a/b","clip":"clips/x.mp4"}`)
	_, err = Pretrain(context.Background(), shortConfig(bad, filepath.Join(t.TempDir(), "n.safetensors")))
	if err == nil || !strings.Contains(err.Error(), "no usable manifest record") {
		t.Fatalf("manifest with no good line: err %v", err)
	}
}

// TestPretrainGCS reads the footage from and writes the checkpoint to
// gs:// (fake-gcs-server in this process, spoken to by the real clients).
func TestPretrainGCS(t *testing.T) {
	src, gts := testFootage(t)
	srv := fsxtest.GCS(t, true, "footage")
	for _, g := range gts {
		for _, name := range []string{g.File, g.Sidecar, g.CaptionTxt} {
			if name == "" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				t.Fatal(err)
			}
			fsxtest.Put(srv, "footage", "raw/"+name, data)
		}
	}
	c := shortConfig("gs://footage/raw", "gs://footage/models/tiny.safetensors")
	c.Steps = 1
	r, err := Pretrain(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, r, 1)
	if r.Videos != 4 {
		t.Fatalf("result %+v: want 4 videos", r)
	}
	obj, err := srv.GetObject("footage", "models/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := model.Preset("tiny")
	if _, err := model.ParseCheckpoint(obj.Content, &cfg); err != nil {
		t.Fatalf("checkpoint on gs:// does not parse: %v", err)
	}
}

// TestPretrainConfigValidate: each bad setting is refused naming its field,
// which the command's flags turn into the flag's name.
func TestPretrainConfigValidate(t *testing.T) {
	dir := t.TempDir()
	good := DefaultPretrainConfig()
	good.Dataset, good.Output = filepath.Join(dir, "data"), filepath.Join(dir, "out.safetensors")
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults with a dataset and output: %v", err)
	}
	var scratch PretrainConfig
	flags := config.Bind(flag.NewFlagSet("pretrain", flag.ContinueOnError), &scratch)
	for _, tc := range []struct {
		field string
		edit  func(c *PretrainConfig)
	}{
		{"Dataset", func(c *PretrainConfig) { c.Dataset = " " }},
		{"Output", func(c *PretrainConfig) { c.Output = "" }},
		{"Output", func(c *PretrainConfig) { c.Output = filepath.Join(c.Dataset, "x.safetensors") }},
		{"Preset", func(c *PretrainConfig) { c.Preset = "huge" }},
		{"Steps", func(c *PretrainConfig) { c.Steps = -1 }},
		{"Batch", func(c *PretrainConfig) { c.Batch = 0 }},
		{"LR", func(c *PretrainConfig) { c.LR = 0 }},
		{"LR", func(c *PretrainConfig) { c.LR = math.NaN() }},
		{"Holdout", func(c *PretrainConfig) { c.Holdout = 1 }},
		{"Holdout", func(c *PretrainConfig) { c.Holdout = 0 }},
		{"EvalEvery", func(c *PretrainConfig) { c.EvalEvery = -5 }},
		{"WindowsPerVideo", func(c *PretrainConfig) { c.WindowsPerVideo = -1 }},
		{"EvalTimesteps", func(c *PretrainConfig) { c.EvalTimesteps = 0 }},
		{"SampleSteps", func(c *PretrainConfig) { c.SamplesPNG, c.SampleSteps = filepath.Join(dir, "s.png"), 0 }},
		{"Guidance", func(c *PretrainConfig) { c.SamplesPNG, c.Guidance = filepath.Join(dir, "s.png"), math.Inf(1) }},
		{"SamplesPNG", func(c *PretrainConfig) { c.SamplesPNG = filepath.Join(c.Dataset, "s.png") }},
		{"SynthCount", func(c *PretrainConfig) { c.SynthCount = -1 }},
		{"SynthCount", func(c *PretrainConfig) { c.SynthCount, c.Dataset = 3, "gs://b/footage" }},
		{"Resume", func(c *PretrainConfig) { c.Resume, c.Init = "a", "b" }},
		{"MaxDuration", func(c *PretrainConfig) { c.MaxDuration = -1 }},
	} {
		c := good
		tc.edit(&c)
		err := c.Validate()
		var fe *config.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: err %v, want one naming %s", tc.field, err, tc.field)
			continue
		}
		if name, ok := flags.Flag(tc.field); !ok || !strings.Contains(config.Message(err, flags), "--"+name) {
			t.Errorf("%s: %q names no flag", tc.field, config.Message(err, flags))
		}
	}
	if _, err := Pretrain(context.Background(), PretrainConfig{}); err == nil || !strings.Contains(err.Error(), "Dataset") {
		t.Errorf("Pretrain of an empty config: err %v, want Dataset named", err)
	}
}
