package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/media"
	"realdpo/transforms/synth"
)

// pretrain flags.
var (
	ptDataset      string
	ptOutput       string
	ptPreset       string
	ptSteps        int
	ptBatch        int
	ptLR           float64
	ptSeed         uint64
	ptHoldout      float64
	ptEvalEvery    int
	ptMaxWindows   int
	ptSamplesPNG   string
	ptSampleSteps  int
	ptGuidance     float64
	ptWithState    bool
	ptSynthCount   int
	ptSynthSeed    uint64
	ptResume       string
	ptInitFrom     string
	ptMaxDuration  time.Duration
	ptEvalTimestep int
)

func init() {
	register(&subcommand{
		Name:    "pretrain",
		Summary: "train the built-in image-to-video model by SFT on a curated dataset or a folder of videos",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&ptDataset, "dataset", "", "curated dataset directory (manifest.jsonl) or a folder of videos with NAME.txt / NAME.json captions")
			fs.StringVar(&ptOutput, "output", "", "checkpoint to write (.safetensors)")
			fs.StringVar(&ptPreset, "preset", "tiny", "model preset: tiny or small")
			fs.IntVar(&ptSteps, "steps", 400, "optimiser steps")
			fs.IntVar(&ptBatch, "batch", 2, "clips per step")
			fs.Float64Var(&ptLR, "lr", 1e-3, "peak AdamW learning rate")
			fs.Uint64Var(&ptSeed, "seed", 1, "seed for initialisation, batches, timesteps and noise")
			fs.Float64Var(&ptHoldout, "holdout", 0.15, "share of source videos held out for the v-MSE evaluation")
			fs.IntVar(&ptEvalEvery, "eval_every", 100, "steps between held-out evaluations")
			fs.IntVar(&ptMaxWindows, "windows_per_video", 6, "at most this many consecutive clips cut from each video")
			fs.StringVar(&ptSamplesPNG, "samples_png", "", "write a PNG strip: held-out real clips and samples from their first frame and caption")
			fs.IntVar(&ptSampleSteps, "sample_steps", 25, "DDIM steps for --samples_png")
			fs.Float64Var(&ptGuidance, "guidance", 3, "classifier-free guidance for --samples_png")
			fs.BoolVar(&ptWithState, "with_state", false, "also save optimiser state for exact resume (triples the size)")
			fs.IntVar(&ptSynthCount, "synth_count", 0, "first render this many synthetic videos into --dataset (when it has no ground_truth.jsonl)")
			fs.Uint64Var(&ptSynthSeed, "synth_seed", 0, "seed for --synth_count footage")
			fs.StringVar(&ptResume, "resume", "", "continue from a checkpoint saved with --with_state")
			fs.StringVar(&ptInitFrom, "init", "", "start from these weights instead of a fresh initialisation")
			fs.DurationVar(&ptMaxDuration, "max_duration", 0, "stop training after this long (0: no limit)")
			fs.IntVar(&ptEvalTimestep, "eval_timesteps", 5, "evaluate at this many timesteps spread over the schedule")
		},
		Run: runPretrain,
	})
}

// ptClip is one training window with its caption and source.
type ptClip struct {
	src  string
	clip model.Clip
}

func runPretrain(ctx context.Context) error {
	if ptDataset == "" || ptOutput == "" {
		return errors.New("pretrain: --dataset and --output are required")
	}
	if ptSteps < 0 || ptBatch < 1 || ptHoldout <= 0 || ptHoldout >= 1 || ptEvalTimestep < 1 {
		return fmt.Errorf("pretrain: invalid --steps %d, --batch %d, --holdout %g or --eval_timesteps %d", ptSteps, ptBatch, ptHoldout, ptEvalTimestep)
	}
	cfg, err := model.Preset(ptPreset)
	if err != nil {
		return err
	}
	if ptSynthCount > 0 {
		if err := ensureSynth(ctx, ptDataset, ptSynthCount, ptSynthSeed); err != nil {
			return err
		}
	}
	srcs, err := listFootage(ptDataset)
	if err != nil {
		return err
	}
	train, held, err := loadWindows(ctx, cfg, srcs)
	if err != nil {
		return err
	}
	slog.Info("pretrain data", "videos", len(srcs), "train_clips", len(train), "heldout_clips", len(held))

	var tr *model.Trainer
	switch {
	case ptResume != "":
		if tr, err = model.ResumeTrainer(ptResume); err != nil {
			return err
		}
		if tr.Policy.Config() != cfg {
			return fmt.Errorf("pretrain: %s is not a %s model", ptResume, ptPreset)
		}
	default:
		var m *model.Model
		if ptInitFrom != "" {
			ck, err := model.LoadCheckpoint(ptInitFrom, &cfg)
			if err != nil {
				return err
			}
			m = ck.Model
		} else if m, err = model.New(cfg, ptSeed); err != nil {
			return err
		}
		o := model.DefaultSFTOptions()
		o.LR, o.Seed = ptLR, ptSeed
		if tr, err = model.NewTrainer(m, nil, o); err != nil {
			return err
		}
	}
	slog.Info("pretrain model", "preset", ptPreset, "params", tr.Policy.NumParams(), "gflop_per_step", 3*cfg.ForwardFLOPs(ptBatch)/1e9)

	evalTS, evalEps := evalSet(cfg, len(held), ptEvalTimestep)
	before, err := heldoutMSE(tr.Policy, held, evalTS, evalEps)
	if err != nil {
		return err
	}
	slog.Info("heldout v-MSE", "step", tr.Step(), "mse", before)

	order := rand.New(rand.NewPCG(ptSeed, 0xba7c4))
	perm := order.Perm(len(train))
	pos := 0
	start := time.Now()
	for tr.Step() < ptSteps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ptMaxDuration > 0 && time.Since(start) > ptMaxDuration {
			slog.Info("pretrain: time limit reached", "step", tr.Step())
			break
		}
		batch := make([]model.Clip, ptBatch)
		for i := range batch {
			if pos == len(perm) {
				perm, pos = order.Perm(len(train)), 0
			}
			batch[i] = train[perm[pos]].clip
			pos++
		}
		r, info, err := tr.SFTStep(batch)
		if err != nil {
			return fmt.Errorf("pretrain: step %d: %w", tr.Step()+1, err)
		}
		if info.Step%20 == 0 || info.Step == 1 {
			slog.Info("sft", "step", info.Step, "loss", r.Loss, "lr", info.LR, "grad_norm", info.GradNorm,
				"s_per_step", time.Since(start).Seconds()/float64(info.Step))
		}
		if ptEvalEvery > 0 && info.Step%ptEvalEvery == 0 && info.Step < ptSteps {
			mse, err := heldoutMSE(tr.Policy, held, evalTS, evalEps)
			if err != nil {
				return err
			}
			slog.Info("heldout v-MSE", "step", info.Step, "mse", mse)
		}
	}
	after, err := heldoutMSE(tr.Policy, held, evalTS, evalEps)
	if err != nil {
		return err
	}
	slog.Info("heldout v-MSE", "step", tr.Step(), "mse", after, "before", before)

	meta := map[string]string{
		"command":          "realdpo pretrain " + strings.Join(os.Args[2:], " "),
		"heldout_mse":      fmt.Sprintf("%.6f", after),
		"heldout_mse_init": fmt.Sprintf("%.6f", before),
		"train_clips":      fmt.Sprint(len(train)),
	}
	if ptWithState {
		err = tr.Save(ptOutput, meta)
	} else {
		err = tr.Policy.Save(ptOutput, meta)
	}
	if err != nil {
		return err
	}
	slog.Info("pretrain: saved", "path", ptOutput, "step", tr.Step())

	if ptSamplesPNG != "" {
		if err := writeSamples(tr.Policy, held, ptSamplesPNG); err != nil {
			return err
		}
	}
	return nil
}

// ensureSynth renders clean synthetic footage into dir unless it is there.
func ensureSynth(ctx context.Context, dir string, count int, seed uint64) error {
	if _, err := os.Stat(filepath.Join(dir, synth.GroundTruthFile)); err == nil {
		slog.Info("pretrain: synthetic footage already present", "dir", dir)
		return nil
	}
	slog.Info("pretrain: rendering synthetic footage", "dir", dir, "count", count, "seed", seed)
	_, err := synth.Generate(ctx, synth.Config{
		Output: dir, Count: count, Seed: seed, DefectShare: 0,
		// Long enough for every curation profile to accept the clean files.
		Sizes: []synth.Size{{W: 640, H: 360}}, MinSeconds: 7, MaxSeconds: 10,
	})
	if err != nil {
		return fmt.Errorf("pretrain: rendering footage: %w", err)
	}
	return nil
}

// ptSource is one video with its caption.
type ptSource struct{ path, caption string }

var videoExts = map[string]bool{".mp4": true, ".mkv": true, ".webm": true, ".avi": true, ".mov": true, ".m4v": true}

// listFootage reads a curated dataset's manifest, or lists a folder of
// videos (captions from NAME.txt, else the title in NAME.json), skipping
// files that ground_truth.jsonl marks defective or not accepted.
func listFootage(dir string) ([]ptSource, error) {
	if f, err := os.Open(filepath.Join(dir, "manifest.jsonl")); err == nil {
		defer f.Close()
		var out []ptSource
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for line := 1; sc.Scan(); line++ {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var rec struct {
				Clip    string `json:"clip"`
				Caption string `json:"caption"`
			}
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Clip == "" {
				return nil, fmt.Errorf("pretrain: manifest line %d: bad record (%v)", line, err)
			}
			out = append(out, ptSource{filepath.Join(dir, rec.Clip), rec.Caption})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("pretrain: reading manifest: %w", err)
		}
		return out, nil
	}
	skip := map[string]bool{}
	if f, err := os.Open(filepath.Join(dir, synth.GroundTruthFile)); err == nil {
		gts, err := synth.ReadGroundTruth(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("pretrain: ground truth: %w", err)
		}
		for _, g := range gts {
			if badTruth(g) {
				skip[g.File] = true
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pretrain: listing %s: %w", dir, err)
	}
	var out []ptSource
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.IsDir() || !videoExts[ext] || skip[name] {
			continue
		}
		out = append(out, ptSource{filepath.Join(dir, name), captionFor(filepath.Join(dir, strings.TrimSuffix(name, filepath.Ext(name))))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	if len(out) == 0 {
		return nil, fmt.Errorf("pretrain: no usable videos in %s", dir)
	}
	return out, nil
}

func badTruth(g schemas.GroundTruth) bool {
	if len(g.Defects) > 0 {
		return true
	}
	for _, o := range g.Expected {
		if !o.Accept {
			return true
		}
	}
	return false
}

func captionFor(stem string) string {
	if b, err := os.ReadFile(stem + ".txt"); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(stem + ".json"); err == nil {
		var side struct {
			Title string `json:"title"`
		}
		if json.Unmarshal(b, &side) == nil {
			return side.Title
		}
	}
	return ""
}

// loadWindows decodes every source at the model's size and 8 fps and cuts
// consecutive non-overlapping windows of Frames frames; whole sources go
// to the held-out set by a hash of their name, so no held-out clip shares
// footage with training.
func loadWindows(ctx context.Context, cfg model.Config, srcs []ptSource) (train, held []ptClip, err error) {
	for _, s := range srcs {
		frames, err := media.ReadFrames(ctx, s.path, media.DecodeOptions{Width: cfg.Width, Height: cfg.Height, FPS: 8,
			MaxFrames: ptMaxWindows * cfg.Frames, Format: media.RGB24, Timeout: 2 * time.Minute})
		if err != nil {
			if len(frames) == 0 {
				slog.Warn("pretrain: skipping undecodable video", "path", s.path, "err", err)
				continue
			}
			slog.Warn("pretrain: decode stopped early", "path", s.path, "err", err)
		}
		h := fnv.New32a()
		h.Write([]byte(filepath.Base(s.path)))
		isHeld := float64(h.Sum32()%1000)/1000 < ptHoldout
		for i := 0; i+cfg.Frames <= len(frames); i += cfg.Frames {
			v, err := cfg.VideoFromRGB24(frames[i : i+cfg.Frames])
			if err != nil {
				return nil, nil, err
			}
			c := ptClip{src: s.path, clip: model.Clip{Video: v, Caption: s.caption}}
			if isHeld {
				held = append(held, c)
			} else {
				train = append(train, c)
			}
		}
	}
	if len(train) == 0 || len(held) == 0 {
		return nil, nil, fmt.Errorf("pretrain: need clips for both training and held-out evaluation, got %d and %d (more videos, or change --holdout)", len(train), len(held))
	}
	return train, held, nil
}

// evalSet fixes the evaluation timesteps (evenly spread) and noise, so
// every evaluation of the run measures the same thing.
func evalSet(cfg model.Config, n, k int) ([]int, [][]float32) {
	rng := rand.New(rand.NewPCG(12345, 678))
	var ts []int
	var eps [][]float32
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			ts = append(ts, (2*j+1)*cfg.TrainSteps/(2*k))
			e := make([]float32, cfg.VideoSize())
			for x := range e {
				e[x] = float32(rng.NormFloat64())
			}
			eps = append(eps, e)
		}
	}
	return ts, eps
}

// heldoutMSE is the mean per-sample v-MSE over held-out clips x timesteps.
func heldoutMSE(m *model.Model, held []ptClip, ts []int, eps [][]float32) (float64, error) {
	k := len(ts) / len(held)
	sum, n := 0.0, 0
	const chunk = 4
	for i := 0; i < len(ts); i += chunk {
		end := min(i+chunk, len(ts))
		var clips []model.Clip
		for j := i; j < end; j++ {
			clips = append(clips, held[j/k].clip)
		}
		r, err := model.SFTLoss(m, clips, ts[i:end], eps[i:end], false)
		if err != nil {
			return 0, fmt.Errorf("pretrain: evaluation: %w", err)
		}
		for _, l := range r.PerSample {
			sum += l
			n++
		}
	}
	return sum / float64(n), nil
}

// writeSamples renders two held-out clips from different sources and one
// sample from each one's first frame and caption: rows real, sample, real,
// sample.
func writeSamples(m *model.Model, held []ptClip, path string) error {
	cfg := m.Config()
	var rows [][]float32
	seen := map[string]bool{}
	for _, h := range held {
		if seen[h.src] || len(seen) == 2 {
			continue
		}
		seen[h.src] = true
		t0 := time.Now()
		vs, err := m.Sample(h.clip.Video[:cfg.FrameSize()], h.clip.Caption, 1,
			model.SampleOptions{Steps: ptSampleSteps, Guidance: ptGuidance, Seed: ptSeed})
		if err != nil {
			return err
		}
		slog.Info("pretrain: sampled", "caption", h.clip.Caption, "seconds", time.Since(t0).Seconds())
		rows = append(rows, h.clip.Video, vs[0])
	}
	if err := cfg.WriteStrip(path, rows, 3); err != nil {
		return err
	}
	slog.Info("pretrain: wrote sample strip", "path", path, "rows", "real, sample, real, sample")
	return nil
}
