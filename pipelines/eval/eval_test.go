package eval

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/generate"
	"realdpo/transforms/shards"
)

func TestMain(m *testing.M) { ptest.Main(m) }

const clipW, clipH, clipFrames = 96, 64, 17

// sceneFrames draws a textured background with a coloured block moving
// speed pixels a frame (0: a still scene).
func sceneFrames(seed uint64, speed float64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 9))
	bg := make([]byte, clipW*clipH*3)
	for y := 0; y < clipH; y += 4 {
		for x := 0; x < clipW; x += 4 {
			r, g, b := byte(60+rng.IntN(140)), byte(60+rng.IntN(140)), byte(60+rng.IntN(140))
			for dy := 0; dy < 4; dy++ {
				for dx := 0; dx < 4; dx++ {
					i := 3 * ((y+dy)*clipW + x + dx)
					bg[i], bg[i+1], bg[i+2] = r, g, b
				}
			}
		}
	}
	var out [][]byte
	for t := 0; t < clipFrames; t++ {
		f := append([]byte(nil), bg...)
		x0 := 10 + int(speed*float64(t))
		for y := 20; y < 44; y++ {
			for x := x0; x < x0+16 && x < clipW; x++ {
				i := 3 * (y*clipW + x)
				f[i], f[i+1], f[i+2] = 230, 40, 40
			}
		}
		out = append(out, f)
	}
	return out
}

func pngOf(t *testing.T, rgb []byte) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, clipW, clipH))
	for i := 0; i < clipW*clipH; i++ {
		img.Set(i%clipW, i/clipW, color.NRGBA{rgb[3*i], rgb[3*i+1], rgb[3*i+2], 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// testDataset writes a curated-like dataset (three clips, a manifest line
// that does not parse and a record whose clip is missing) and a pair set
// of two pairs (the real clip chosen, a still clip rejected).
func testDataset(t *testing.T) (dataset, pairs string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	ctx := context.Background()
	dataset, pairs = t.TempDir(), t.TempDir()
	spec := generate.Spec{Frames: clipFrames, Width: clipW, Height: clipH, FPS: 8}
	os.MkdirAll(filepath.Join(dataset, "clips"), 0o755)
	os.MkdirAll(filepath.Join(dataset, "first_frames"), 0o755)
	var man bytes.Buffer
	var ps []shards.Pair
	for i, speed := range []float64{2, 3, 1.5} {
		id := []string{"clip-a", "clip-b", "clip-c"}[i]
		frames := sceneFrames(uint64(i+1), speed)
		mp4, err := generate.EncodeMP4(ctx, t.TempDir(), frames, spec)
		if err != nil {
			t.Fatal(err)
		}
		first := pngOf(t, frames[0])
		os.WriteFile(filepath.Join(dataset, "clips", id+".mp4"), mp4, 0o644)
		os.WriteFile(filepath.Join(dataset, "first_frames", id+".png"), first, 0o644)
		rec := schemas.ManifestRecord{ID: id, Clip: "clips/" + id + ".mp4", FirstFrame: "first_frames/" + id + ".png",
			Caption: "a person moves a red box to the right", Frames: clipFrames, FPS: 8, Width: clipW, Height: clipH, Profile: "demo"}
		b, _ := json.Marshal(rec)
		man.Write(append(b, '\n'))
		if i == 2 {
			continue
		}
		still, err := generate.EncodeMP4(ctx, t.TempDir(), sceneFrames(uint64(i+1), 0), spec)
		if err != nil {
			t.Fatal(err)
		}
		meta := schemas.PairMeta{Key: id, ClipID: id, Caption: rec.Caption, Frames: clipFrames, FPS: 8, Width: clipW, Height: clipH,
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
	man.WriteString("{not json\n")
	man.WriteString(`{"id":"gone","clip":"clips/gone.mp4","first_frame":"first_frames/gone.png","caption":"x"}` + "\n")
	os.WriteFile(filepath.Join(dataset, "manifest.jsonl"), man.Bytes(), 0o644)

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

// perturbedBase saves the base model with every weight nudged by noise.
func perturbedBase(t *testing.T) string {
	t.Helper()
	m, err := model.LoadBase()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range m.Params() {
		for i := range p.Data {
			p.Data[i] += float32(0.05 * rng.NormFloat64())
		}
	}
	path := filepath.Join(t.TempDir(), "perturbed.safetensors")
	if err := m.Save(path, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalEndToEnd(t *testing.T) {
	dataset, pairs := testDataset(t)
	out := filepath.Join(t.TempDir(), "report")
	cfg := DefaultConfig()
	cfg.Dataset, cfg.Pairs, cfg.Output = dataset, pairs, out
	cfg.Steps, cfg.Guidance, cfg.Strips = 3, 2, 2
	var err error
	if cfg.Models, err = ParseModels("base,perturbed=" + perturbedBase(t)); err != nil {
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
		for _, k := range []string{"fd", "speed_w1", "speed_mean", "speed_mean_delta", "jerk", "jerk_delta", "dynamic_degree",
			"first_frame_mae", "sharpness", "dpo_accuracy", "dpo_winner_mse", "dpo_loser_mse", "sample_s"} {
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
	// Every model draws the same seed for a clip (common random numbers).
	for _, c := range rep.Clips {
		if c.Caption == "" {
			t.Errorf("clip %s: no caption in the report", c.ID)
		}
		seeds := map[uint64]bool{}
		for _, s := range c.Samples {
			if s.Model != RealModel {
				seeds[s.Seed] = true
			}
		}
		if len(seeds) != 1 {
			t.Errorf("clip %s: seeds %v", c.ID, seeds)
		}
	}

	page, err := os.ReadFile(filepath.Join(out, ReportHTML))
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
		for _, k := range []string{"fd", "speed_w1", "jerk", "first_frame_mae", "sharpness"} {
			if m.Metrics[k] != rep2.Models[i].Metrics[k] {
				t.Errorf("model %s metric %s: %v then %v", m.Name, k, m.Metrics[k], rep2.Models[i].Metrics[k])
			}
		}
	}
	if strings.Contains(mustRead(t, filepath.Join(cfg2.Output, ReportHTML)), "DPO implicit accuracy") {
		t.Error("report without --pairs shows DPO rows")
	}
	t.Logf("\n%s", FormatTable(rep))
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
	if len(ms) != 3 || ms[0] != (schemas.EvalModel{Name: "base"}) || ms[2].Checkpoint != "gs://b/r.safetensors" {
		t.Errorf("parsed %+v", ms)
	}
	for _, bad := range []string{"", "sft", "=x", "a=x,a=y", "real=x", "<b>=x"} {
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
	if SampleSeed(1, "a", 0) == SampleSeed(1, "a", 1) || SampleSeed(1, "a", 0) == SampleSeed(2, "a", 0) || SampleSeed(1, "a", 0) != SampleSeed(1, "a", 0) {
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
