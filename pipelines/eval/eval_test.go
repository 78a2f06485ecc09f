package eval

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"realdpo/schemas"
	"realdpo/transforms/evaluate"
	"realdpo/transforms/evaluate/evaltest"
	"realdpo/transforms/generate"
	"realdpo/transforms/shards"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// testDataset writes a curated-like dataset (three clips, a manifest line
// that does not parse and a record whose clip is missing) and a pair set
// of two pairs (the real clip chosen, a still clip rejected).
func testDataset(t *testing.T) (dataset, pairs string) {
	t.Helper()
	evaltest.RequireFFmpeg(t)
	ctx := context.Background()
	dataset, pairs = t.TempDir(), t.TempDir()
	spec := generate.Spec{Frames: evaltest.Frames, Width: evaltest.W, Height: evaltest.H, FPS: evaltest.FPS}
	clips := evaltest.WriteDataset(t, dataset, "clip", 1, []float64{2, 3, 1.5}, "{not json",
		`{"id":"gone","clip":"clips/gone.mp4","first_frame":"first_frames/gone.png","caption":"x"}`)
	var ps []shards.Pair
	for i, c := range clips[:2] {
		id, rec, mp4, first := c.Record.ID, c.Record, c.MP4, c.First
		still, err := generate.EncodeMP4(ctx, t.TempDir(), evaltest.SceneFrames(uint64(i+1), 0), spec)
		if err != nil {
			t.Fatal(err)
		}
		meta := schemas.PairMeta{Key: id, ClipID: id, Caption: rec.Caption, Frames: evaltest.Frames, FPS: evaltest.FPS, Width: evaltest.W, Height: evaltest.H,
			Chosen:     schemas.MemberInfo{Name: id + "." + shards.SuffixChosen, Bytes: int64(len(mp4)), SHA256: sha(mp4)},
			FirstFrame: schemas.MemberInfo{Name: id + "." + shards.SuffixFirstFrame, Bytes: int64(len(first)), SHA256: sha(first)},
			Rejected: []schemas.RejectedInfo{{MemberInfo: schemas.MemberInfo{Name: id + "." + shards.SuffixRejected(0),
				Bytes: int64(len(still)), SHA256: sha(still)}}},
			Origin: "test"}
		mj, _ := json.Marshal(meta)
		ps = append(ps, shards.Pair{Key: id, Members: []shards.Member{{Suffix: shards.SuffixChosen, Data: mp4},
			{Suffix: shards.SuffixFirstFrame, Data: first}, {Suffix: shards.SuffixCaption, Data: []byte(rec.Caption)},
			{Suffix: shards.SuffixRejected(0), Data: still}, {Suffix: shards.SuffixMeta, Data: mj}}})
	}

	var buf bytes.Buffer
	w := shards.NewWriter(&buf)
	for _, p := range ps {
		if err := w.WritePair(p); err != nil {
			t.Fatal(err)
		}
	}
	n, size, sum, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(pairs, shards.ShardName(0)), buf.Bytes(), 0o644)
	ix := schemas.ShardIndex{Format: schemas.ShardFormat, Pairs: n, Bytes: size, Negatives: 1,
		Shards: []schemas.ShardEntry{{Shard: shards.ShardName(0), Count: n, Bytes: size, SHA256: sum}}}
	b, _ := json.Marshal(ix)
	os.WriteFile(filepath.Join(pairs, shards.IndexFile), b, 0o644)
	return dataset, pairs
}

func TestEvalEndToEnd(t *testing.T) {
	dataset, pairs := testDataset(t)
	out := filepath.Join(t.TempDir(), "report")
	cfg := DefaultConfig()
	cfg.Dataset, cfg.Pairs, cfg.Output = dataset, pairs, out
	cfg.Steps, cfg.Guidance, cfg.Strips = 3, 2, 2
	var err error
	if cfg.Models, err = ParseModels("base,perturbed=" + evaltest.PerturbedBase(t)); err != nil {
		t.Fatal(err)
	}
	if err := ResolveReference(&cfg, "base"); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}

	if rep.Counts["clips_evaluated"] != 3 || rep.Counts["samples"] != 6 || rep.Counts["pairs"] != 2 {
		t.Errorf("counts %v, want 3 clips, 6 samples, 2 pairs", rep.Counts)
	}
	reasons := map[string]int{}
	for _, r := range rep.Rejects {
		reasons[r.Reason]++
	}
	if reasons[schemas.EvalReasonBadManifest] != 1 || reasons[schemas.EvalReasonClip] != 1 || len(rep.Rejects) != 2 {
		t.Errorf("rejects %+v, want one bad manifest line and one missing clip", rep.Rejects)
	}
	if len(rep.Models) != 2 || rep.Models[0].Name != "base" || rep.Models[1].Name != "perturbed" {
		t.Fatalf("models %+v", rep.Models)
	}
	if rep.Models[0].Weights == rep.Models[1].Weights || len(rep.Models[0].Weights) != 64 {
		t.Errorf("weights hashes %q, %q", rep.Models[0].Weights, rep.Models[1].Weights)
	}
	for _, m := range rep.Models {
		for _, k := range []string{"motion_fd", "motion_error", "fd", "speed_w1", "speed_mean", "speed_mean_delta", "moving_area", "flicker", "jerk",
			"jerk_delta", "dynamic_degree", "noise", "first_frame_mae", "sharpness", "dpo_accuracy", "dpo_winner_mse", "dpo_loser_mse", "sample_s"} {
			v, ok := m.Metrics[k]
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Errorf("model %s: metric %s = %v (present %v)", m.Name, k, v, ok)
			}
		}
	}
	// base against itself as the reference: every inside is exactly 0.
	if b := rep.Models[0]; b.Metrics["dpo_accuracy"] != 0 || b.Metrics["dpo_winner_margin"] != 0 || b.Pairs != 2 {
		t.Errorf("base as its own reference: %v (pairs %d)", b.Metrics, b.Pairs)
	}
	if rep.Models[1].Metrics["dpo_winner_margin"] == 0 {
		t.Error("perturbed model: winner margin exactly 0")
	}
	// The real clips move (a block over a still background): dynamic, with
	// some speed on average.
	if rep.Real.Metrics["speed_mean"] < 0.05 || rep.Real.Metrics["dynamic_degree"] != 1 {
		t.Errorf("real clips: %v", rep.Real.Metrics)
	}
	for _, d := range rep.Metrics {
		if d.Best == "" || d.Better == "" {
			t.Errorf("metric %s: best %q, better %q", d.Key, d.Best, d.Better)
		}
	}
	// Every metric of every group has an interval; the one comparison
	// (perturbed - base) covers every metric but the timing.
	if len(rep.Groups) != 2 || rep.Groups[0].Name != "base" || rep.Groups[1].Name != "perturbed" {
		t.Fatalf("groups %+v", rep.Groups)
	}
	for _, g := range rep.Groups {
		for _, d := range rep.Metrics {
			iv, ok := g.Metrics[d.Key]
			if d.Key == "sample_s" {
				continue
			}
			if !ok || !(iv.Lo <= iv.Hi) || math.IsNaN(iv.Value) {
				t.Errorf("group %s metric %s: interval %+v (present %v)", g.Name, d.Key, iv, ok)
			}
		}
	}
	if want := len(rep.Metrics) - 1; len(rep.Comparisons) != want {
		t.Errorf("%d comparisons, want %d", len(rep.Comparisons), want)
	}
	for _, c := range rep.Comparisons {
		if c.A != "perturbed" || c.B != "base" || !(c.Diff.Lo <= c.Diff.Hi) {
			t.Errorf("comparison %+v", c)
		}
	}
	if len(rep.Notes) < 3 || len(rep.RealIntervals) == 0 {
		t.Errorf("notes %q, real intervals %v", rep.Notes, rep.RealIntervals)
	}
	if len(rep.Strips) != 2 || strings.Join(rep.StripRows, ",") != "real,base,perturbed" {
		t.Errorf("strips %+v rows %v", rep.Strips, rep.StripRows)
	}
	for _, st := range rep.Strips {
		if b, err := os.ReadFile(filepath.Join(out, st.File)); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("strip %s: %v", st.File, err)
		}
	}
	// Every model draws the same seed for a clip (common random numbers).
	for _, c := range rep.Clips {
		if c.Caption == "" {
			t.Errorf("clip %s: no caption in the report", c.ID)
		}
		seeds := map[uint64]bool{}
		for _, s := range c.Samples {
			if s.Model != evaluate.RealModel {
				seeds[s.Seed] = true
			}
		}
		if len(seeds) != 1 {
			t.Errorf("clip %s: seeds %v", c.ID, seeds)
		}
	}

	page, err := os.ReadFile(filepath.Join(out, evaluate.ReportHTML))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	// Two strips of three rows (real, base, perturbed).
	if n := strings.Count(html, `src="data:image/png;base64,`); n != 6 {
		t.Errorf("report.html embeds %d images, want 6", n)
	}
	for _, want := range []string{"Frechet distance", "DPO implicit accuracy", "perturbed", "clip-a", "bad_manifest", "closer to real",
		"a person moves a red box to the right"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(out, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// A second run gives the same figures (timings aside).
	cfg2 := cfg
	cfg2.Output = filepath.Join(t.TempDir(), "again")
	cfg2.Pairs = ""
	rep2, err := Run(context.Background(), cfg2)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range rep.Models {
		for _, k := range []string{"motion_fd", "fd", "speed_w1", "jerk", "first_frame_mae", "sharpness"} {
			if m.Metrics[k] != rep2.Models[i].Metrics[k] || m.Intervals[k] != rep2.Models[i].Intervals[k] {
				t.Errorf("model %s metric %s: %v then %v", m.Name, k, m.Metrics[k], rep2.Models[i].Metrics[k])
			}
		}
	}
	if strings.Contains(mustRead(t, filepath.Join(cfg2.Output, evaluate.ReportHTML)), "DPO implicit accuracy") {
		t.Error("report without --pairs shows DPO rows")
	}
	t.Logf("\n%s", evaluate.FormatTable(rep))
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseModelsAndReference(t *testing.T) {
	ms, err := ParseModels("base, sft=/x/sft.safetensors ,realdpo=gs://b/r.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0] != (schemas.EvalModel{Name: "base", Group: "base"}) || ms[2].Checkpoint != "gs://b/r.safetensors" {
		t.Errorf("parsed %+v", ms)
	}
	seeded, err := ParseModels("base,sft@1=a,sft@2=b")
	if err != nil || seeded[1].Group != "sft" || seeded[2].Group != "sft" || seeded[2].Name != "sft@2" {
		t.Errorf("grouped models %+v, %v", seeded, err)
	}
	for _, bad := range []string{"", "sft", "=x", "a=x,a=y", "real=x", "<b>=x", "@1=x", "sft@=x", "real@1=x", "a@1@2=x"} {
		if _, err := ParseModels(bad); err == nil {
			t.Errorf("ParseModels(%q): want an error", bad)
		}
	}
	cfg := schemas.EvalConfig{Models: ms}
	if err := ResolveReference(&cfg, "sft"); err != nil || cfg.Reference.Checkpoint != "/x/sft.safetensors" {
		t.Errorf("reference sft: %+v, %v", cfg.Reference, err)
	}
	if err := ResolveReference(&cfg, "nope"); err == nil {
		t.Error("unknown reference: want an error")
	}
	if evaluate.SampleSeed(1, "a", 0) == evaluate.SampleSeed(1, "a", 1) || evaluate.SampleSeed(1, "a", 0) == evaluate.SampleSeed(2, "a", 0) || evaluate.SampleSeed(1, "a", 0) != evaluate.SampleSeed(1, "a", 0) {
		t.Error("sample seeds must differ by index and run seed and repeat exactly")
	}
}

func TestRunRejectsBadCheckpoint(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(bad, []byte("not a checkpoint"), 0o644)
	cfg := DefaultConfig()
	cfg.Dataset, cfg.Output = t.TempDir(), t.TempDir()
	cfg.Models = []schemas.EvalModel{{Name: "base"}, {Name: "broken", Checkpoint: bad}}
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("error %v, want one naming the broken model", err)
	}
}
