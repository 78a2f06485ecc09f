package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	_ "realdpo/transforms/fsx/gcsfs"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/generate"
	"realdpo/transforms/quality/testclips"
	"realdpo/transforms/training"
)

// childEnv makes the test binary run one training (config as JSON) so a
// test can kill a real process midway.
const childEnv = "REALDPO_TRAIN_TEST_CHILD"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		beam.Init()
		var c schemas.TrainConfig
		if err := json.Unmarshal([]byte(cfg), &c); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(2)
		}
		if _, err := Run(context.Background(), c); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		os.Exit(0)
	}
	ptest.Main(m)
}

// smallConfig trains briefly: one negative a pair keeps steps cheap.
func smallConfig(pairs, out string, steps int) schemas.TrainConfig {
	c := DefaultConfig(pairs, out)
	c.Steps, c.CheckpointEvery, c.KeepCheckpoints, c.Warmup = steps, 2, 0, 1
	c.EMAEvery, c.EMARate = 2, 0.1 // so the EMA reference moves within the run
	c.LogEverySeconds = 0
	return c
}

func readMetrics(t *testing.T, path string) []schemas.TrainMetric {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []schemas.TrainMetric
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m schemas.TrainMetric
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if img.Bounds().Dx() < 200 || img.Bounds().Dy() < 100 {
		t.Fatalf("%s: %v is too small for a plot", path, img.Bounds())
	}
}

// DPO on a fixture pair set (two shards, one pair whose negative is not a
// video): checkpoints, final checkpoint, metrics, plots, rejects, summary.
func TestTrainDPO(t *testing.T) {
	testclips.RequireFFmpeg(t)
	pairs, out := t.TempDir(), t.TempDir()
	makePairSet(t, pairs, fixture{pairs: 4, losers: 2, perShard: 2, brokenLoser: 3})
	c := smallConfig(pairs, out, 4)
	c.KeepCheckpoints = 1
	sum, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 4 || sum.Pairs != 3 || sum.Rejected != 1 || sum.Objective != schemas.ObjectiveDPO {
		t.Fatalf("summary %+v", sum)
	}
	ck, err := model.LoadCheckpoint(filepath.Join(out, training.FinalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 4 || ck.Ref == nil || ck.Opt == nil || ck.Meta["objective"] != "dpo" {
		t.Fatalf("final checkpoint step %d ref %v opt %v meta %v", ck.Step, ck.Ref != nil, ck.Opt != nil, ck.Meta)
	}
	base, err := model.LoadBase()
	if err != nil {
		t.Fatal(err)
	}
	if same(base, ck.Model) {
		t.Fatal("the policy did not move")
	}
	if same(base, ck.Ref) || same(ck.Model, ck.Ref) {
		t.Fatal("the EMA reference should sit between the base and the policy")
	}
	// keep_checkpoints=1: only the newest periodic checkpoint (step 2) remains.
	if got, _ := filepath.Glob(filepath.Join(out, training.CheckpointDir, "*.safetensors")); len(got) != 1 || filepath.Base(got[0]) != "ckpt-00000002.safetensors" {
		t.Fatalf("checkpoints %v", got)
	}
	ms := readMetrics(t, filepath.Join(out, training.MetricsFile))
	if len(ms) != 4 {
		t.Fatalf("%d metric lines, want 4", len(ms))
	}
	for i, m := range ms {
		if m.Step != i+1 || m.GradNorm <= 0 || m.LR <= 0 || m.StepS <= 0 || m.WinnerErr <= 0 || m.WinnerErrRef <= 0 || m.LoserErr <= 0 || m.DPOLoss <= 0 {
			t.Fatalf("metric %+v", m)
		}
		if m.Accuracy != 0 && m.Accuracy != 0.5 && m.Accuracy != 1 {
			t.Fatalf("accuracy %g with two negatives", m.Accuracy)
		}
	}
	if ms[0].WinnerDelta != 0 || ms[0].LoserDelta != 0 {
		t.Fatalf("first step: policy equals reference, deltas must be 0: %+v", ms[0])
	}
	if !ms[1].EMA || ms[0].EMA {
		t.Fatalf("EMA every 2 steps: %v %v", ms[0].EMA, ms[1].EMA)
	}
	for _, p := range []string{training.PlotLoss, training.PlotAccuracy, training.PlotErrorDelta} {
		checkPNG(t, filepath.Join(out, p))
	}
	b, err := os.ReadFile(filepath.Join(out, training.RejectsFile))
	if err != nil {
		t.Fatal(err)
	}
	var rej schemas.TrainReject
	if err := json.Unmarshal(b, &rej); err != nil || rej.Key != "clip-003" || rej.Reason != schemas.TrainReasonRejected || rej.Shard != "pairs-000001.tar" {
		t.Fatalf("rejects.jsonl %q (%v)", b, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(out, "*", ".*tmp*")); len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	// Running again with a higher step budget continues from final.
	c.Steps = 5
	sum, err = Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ResumedFrom != 4 || sum.Steps != 5 || len(readMetrics(t, filepath.Join(out, training.MetricsFile))) != 5 {
		t.Fatalf("extended run %+v", sum)
	}
	// A different setting in the same output is refused.
	c.Beta = 100
	if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "different run") {
		t.Fatalf("changed beta: %v", err)
	}
}

func same(a, b *model.Model) bool {
	for i, p := range a.Params() {
		q := b.Params()[i]
		for j := range p.Data {
			if p.Data[j] != q.Data[j] {
				return false
			}
		}
	}
	return true
}

// A run killed (SIGKILL, a real child process) after a checkpoint and then
// resumed ends with the same final checkpoint, byte for byte, and the same
// metrics as a run never interrupted.
func TestTrainResumeAfterKill(t *testing.T) {
	testclips.RequireFFmpeg(t)
	pairs := t.TempDir()
	makePairSet(t, pairs, fixture{pairs: 3, losers: 1, perShard: 2, brokenLoser: -1})
	const steps = 4
	whole, killed := t.TempDir(), t.TempDir()
	cw := smallConfig(pairs, whole, steps)
	cw.Batch = 2 // epochs wrap inside a batch: the order must survive a resume too
	if _, err := Run(context.Background(), cw); err != nil {
		t.Fatal(err)
	}

	ck := cw
	ck.Output = killed
	cj, _ := json.Marshal(ck)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(cj))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ckpt := filepath.Join(killed, training.CheckpointName(2))
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		select {
		case err := <-waited:
			t.Fatalf("child ended before its first checkpoint: %v\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatal("no checkpoint from the child")
		}
	}
	// Kill the child's whole process group (its ffmpeg children too).
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err == nil {
		t.Fatal("the child finished before it was killed; nothing was resumed")
	}
	if _, err := os.Stat(filepath.Join(killed, training.FinalFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("killed run has a final checkpoint (%v)", err)
	}

	sum, err := Run(context.Background(), ck)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ResumedFrom < 2 || sum.ResumedFrom >= steps {
		t.Fatalf("resumed from step %d", sum.ResumedFrom)
	}
	a, _ := os.ReadFile(filepath.Join(whole, training.FinalFile))
	b, _ := os.ReadFile(filepath.Join(killed, training.FinalFile))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("final checkpoints differ after resume from step %d (%d vs %d bytes)", sum.ResumedFrom, len(a), len(b))
	}
	ma, mb := readMetrics(t, filepath.Join(whole, training.MetricsFile)), readMetrics(t, filepath.Join(killed, training.MetricsFile))
	if len(ma) != steps || len(mb) != steps {
		t.Fatalf("metrics %d and %d lines", len(ma), len(mb))
	}
	for i := range ma {
		ma[i].StepS, mb[i].StepS = 0, 0
		if ma[i] != mb[i] {
			t.Fatalf("step %d metrics differ:\n%+v\n%+v", i+1, ma[i], mb[i])
		}
	}
	t.Logf("killed after checkpoint 2, resumed from step %d: final checkpoint identical (%d bytes)", sum.ResumedFrom, len(a))
}

// SFT on the same real clips (the paper's baseline): no reference, no DPO
// terms, a loss plot only.
func TestTrainSFT(t *testing.T) {
	testclips.RequireFFmpeg(t)
	pairs, out := t.TempDir(), t.TempDir()
	makePairSet(t, pairs, fixture{pairs: 2, losers: 1, perShard: 2, brokenLoser: -1})
	c := smallConfig(pairs, out, 3)
	c.Objective, c.Batch = schemas.ObjectiveSFT, 2
	sum, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := model.LoadCheckpoint(filepath.Join(out, training.FinalFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 3 || ck.Step != 3 || ck.Ref != nil || ck.Meta["objective"] != "sft" || ck.Train.CondDrop != 0.1 {
		t.Fatalf("sft run %+v, checkpoint step %d ref %v meta %v", sum, ck.Step, ck.Ref != nil, ck.Meta)
	}
	for _, m := range readMetrics(t, filepath.Join(out, training.MetricsFile)) {
		if m.Objective != "sft" || m.Loss <= 0 || m.Loss != m.WinnerErr || m.DPOLoss != 0 || m.Accuracy != 0 {
			t.Fatalf("sft metric %+v", m)
		}
	}
	checkPNG(t, filepath.Join(out, training.PlotLoss))
	if _, err := os.Stat(filepath.Join(out, training.PlotAccuracy)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("sft run drew an implicit accuracy plot")
	}
}

// A shard whose bytes no longer match the index, or that is cut short,
// fails the run with the shard's name and the reason; nothing is trained.
func TestTrainBadShards(t *testing.T) {
	testclips.RequireFFmpeg(t)
	pairs := t.TempDir()
	makePairSet(t, pairs, fixture{pairs: 2, losers: 1, perShard: 1, brokenLoser: -1})
	shard := filepath.Join(pairs, "pairs-000001.tar")
	orig, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), orig...)
	flipped[len(flipped)/2] ^= 0xff
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"flipped byte", flipped, "checksum"},
		{"truncated", orig[:len(orig)/3], "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(shard, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			_, err := Run(context.Background(), smallConfig(pairs, out, 1))
			if err == nil || !strings.Contains(err.Error(), "pairs-000001.tar") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming the shard and %q, got %v", tc.want, err)
			}
			if _, err := os.Stat(filepath.Join(out, training.FinalFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a final checkpoint was written from a bad pair set")
			}
		})
	}
	if _, err := Run(context.Background(), smallConfig(filepath.Join(pairs, "nowhere"), t.TempDir(), 1)); err == nil || !strings.Contains(err.Error(), "index.json") {
		t.Fatalf("missing pair set: %v", err)
	}
}

// --regenerate_every: every R steps each pair's negatives are replaced by
// samples of the current EMA reference from its first frame and caption;
// they are recorded, so they can be checked against the reference in the
// checkpoint of that step.
func TestTrainRegenerate(t *testing.T) {
	testclips.RequireFFmpeg(t)
	pairs, out := t.TempDir(), t.TempDir()
	makePairSet(t, pairs, fixture{pairs: 2, losers: 1, perShard: 2, brokenLoser: -1})
	c := smallConfig(pairs, out, 3)
	c.RegenerateEvery, c.RegenerateSteps, c.RegenerateGuidance = 2, 2, 2
	if _, err := Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	ms := readMetrics(t, filepath.Join(out, training.MetricsFile))
	if len(ms) != 3 || ms[0].Regenerated || ms[1].Regenerated || !ms[2].Regenerated {
		t.Fatalf("regeneration flags %+v", ms)
	}
	b, err := os.ReadFile(filepath.Join(out, training.RegenName(2)))
	if err != nil {
		t.Fatal(err)
	}
	var neg map[string][][]byte
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&neg); err != nil {
		t.Fatal(err)
	}
	ck, err := model.LoadCheckpoint(filepath.Join(out, training.CheckpointName(2)), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ck.Ref.Config()
	if len(neg) != 2 {
		t.Fatalf("%d pairs regenerated", len(neg))
	}
	for i := 0; i < 2; i++ {
		key := fmt.Sprintf("clip-%03d", i)
		vs := neg[key]
		if len(vs) != 1 || len(vs[0]) != cfg.Frames*cfg.FrameSize() {
			t.Fatalf("pair %s: %d negatives", key, len(vs))
		}
		// The same draw from the step-2 EMA reference, from the pair's
		// first frame and caption, gives these bytes.
		first, err := generate.DecodeFirstFrame(pngOf(t, realClip(i)[0], demoSpec.Width, demoSpec.Height), cfg)
		if err != nil {
			t.Fatal(err)
		}
		fv, err := cfg.FrameFromRGB24(first)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ck.Ref.Sample(fv, caption(i), 1, model.SampleOptions{Steps: 2, Guidance: 2, Seed: training.RegenSeed(c.Seed, 2, key)})
		if err != nil {
			t.Fatal(err)
		}
		frames, err := cfg.FramesToRGB24(want[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bytes.Join(frames, nil), vs[0]) {
			t.Fatalf("pair %s: regenerated negative is not the step-2 reference's sample", key)
		}
	}
	// Regenerated negatives come from the reference, not the policy, and
	// differ from the shards' negatives.
	if ms[2].LoserErrRef == ms[1].LoserErrRef {
		t.Fatal("loser errors unchanged after regeneration")
	}
}
