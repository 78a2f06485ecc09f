package training

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/curation"
	"realdpo/transforms/dataset"
	"realdpo/transforms/fsx"
	"realdpo/transforms/media"
	"realdpo/transforms/synth"
)

// PretrainConfig is one pretraining run; the comments name the realdpo
// pretrain flag that sets each field.
type PretrainConfig struct {
	Dataset string  `flag:"dataset" help:"curated dataset (manifest.jsonl) or a folder of videos with NAME.txt / NAME.json captions, local or gs://" check:"required"`
	Output  string  `flag:"output" help:"checkpoint to write (.safetensors), local or gs://" check:"required"`
	Preset  string  `flag:"preset" help:"model preset: tiny or small"`
	Steps   int     `flag:"steps" help:"optimiser steps" check:"nonnegative"`
	Batch   int     `flag:"batch" help:"clips per step" check:"positive"`
	LR      float64 `flag:"lr" help:"peak AdamW learning rate"`
	// Seed (--seed) drives initialisation, batches, timesteps and noise (default 1).
	Seed uint64 `flag:"seed" help:"seed for initialisation, batches, timesteps and noise"`
	// Holdout (--holdout) is the share of source videos held out for the
	// v-MSE evaluation (default 0.15).
	Holdout         float64 `flag:"holdout" help:"share of source videos held out for the v-MSE evaluation"`
	EvalEvery       int     `flag:"eval_every" help:"steps between held-out evaluations" check:"nonnegative"`
	WindowsPerVideo int     `flag:"windows_per_video" help:"at most this many consecutive clips cut from each video (0: all)" check:"nonnegative"`
	EvalTimesteps   int     `flag:"eval_timesteps" help:"evaluate at this many timesteps spread over the schedule" check:"positive"`
	// SamplesPNG (--samples_png), when set, gets a strip of held-out real
	// clips and samples from their first frame and caption, made with
	// SampleSteps DDIM steps (--sample_steps, default 25) at guidance
	// Guidance (--guidance, default 3).
	SamplesPNG  string  `flag:"samples_png" help:"write a PNG strip: held-out real clips and samples from their first frame and caption"`
	SampleSteps int     `flag:"sample_steps" help:"DDIM steps for --samples_png"`
	Guidance    float64 `flag:"guidance" help:"classifier-free guidance for --samples_png"`
	WithState   bool    `flag:"with_state" help:"also save optimiser state for exact resume (triples the size)"`
	SynthCount  int     `flag:"synth_count" help:"first render this many synthetic videos into a local --dataset (when it has no ground_truth.jsonl)" check:"nonnegative"`
	SynthSeed   uint64  `flag:"synth_seed" help:"seed for --synth_count footage"`
	Resume      string  `flag:"resume" help:"continue from a checkpoint saved with --with_state"`
	Init        string  `flag:"init" help:"start from these weights instead of a fresh initialisation"`
	// MaxDuration (--max_duration) stops training after this long (0: no limit).
	MaxDuration time.Duration `flag:"max_duration" help:"stop training after this long (0: no limit)" check:"nonnegative"`
	// Command is recorded in the checkpoint's metadata (the command line that made it).
	Command string
}

// DefaultPretrainConfig is the flags' defaults: the tiny preset, 400 steps
// of 2 clips at learning rate 1e-3, seed 1, 15% held out.
func DefaultPretrainConfig() PretrainConfig {
	return PretrainConfig{
		Preset: "tiny", Steps: 400, Batch: 2, LR: 1e-3, Seed: 1, Holdout: 0.15,
		EvalEvery: 100, WindowsPerVideo: 6, EvalTimesteps: 5, SampleSteps: 25, Guidance: 3,
	}
}

// Validate checks c before any work; each error names the flag (and so the
// field) at fault.
func (c PretrainConfig) Validate() error {
	if err := config.Check("pretrain", c); err != nil {
		return err
	}
	switch {
	case !(c.LR > 0) || c.LR > 1:
		return config.Errorf("pretrain", "LR", " %g outside (0, 1]", c.LR)
	case !(c.Holdout > 0 && c.Holdout < 1):
		return config.Errorf("pretrain", "Holdout", " %g outside (0, 1)", c.Holdout)
	case c.SamplesPNG != "" && c.SampleSteps < 1:
		return config.Errorf("pretrain", "SampleSteps", " %d must be at least 1", c.SampleSteps)
	case c.SamplesPNG != "" && !(c.Guidance >= 0 && !math.IsInf(c.Guidance, 0)):
		return config.Errorf("pretrain", "Guidance", " %g must be finite and not negative", c.Guidance)
	case c.SynthCount > 0 && fsx.IsRemote(c.Dataset):
		return config.Errorf("pretrain", "SynthCount", " renders local footage; {Dataset} %s is remote", c.Dataset)
	case c.Resume != "" && c.Init != "":
		return config.Errorf("pretrain", "Resume", " and {Init} exclude each other (a resumed run has its weights)")
	}
	if _, err := model.Preset(c.Preset); err != nil {
		return config.Errorf("pretrain", "Preset", ": %w", err)
	}
	if c.SamplesPNG != "" && fsx.Within(c.SamplesPNG, c.Dataset) {
		return config.Errorf("pretrain", "SamplesPNG", " %s is inside {Dataset} %s: write it elsewhere", c.SamplesPNG, c.Dataset)
	}
	return fsx.CheckOutput("pretrain", c.Output, map[string]string{"Dataset": c.Dataset})
}

// PretrainResult is what a run did: the figures it logs.
type PretrainResult struct {
	Videos       int // sources that gave at least one clip
	TrainClips   int
	HeldoutClips int
	// HeldoutMSEBefore and HeldoutMSEAfter are the held-out v-MSE before
	// the first and after the last step.
	HeldoutMSEBefore, HeldoutMSEAfter float64
	Steps                             int    // the trainer's step count at the end
	Output                            string // the checkpoint written
	SamplesPNG                        string // the strip written, if any
	// Problems are manifest lines that were not used (bad JSON, unsafe id
	// or path, repeated id).
	Problems []dataset.Problem
	// Skipped are sources that gave no clip, with the reason.
	Skipped []SkippedSource
}

// SkippedSource is a video that gave no training clip.
type SkippedSource struct {
	Source string // as listed (path or dataset-relative clip)
	Reason string
}

// ptSource is one video with its caption; key (the file's base name)
// picks its side of the held-out split.
type ptSource struct{ path, key, caption string }

// ptClip is one training window with its caption and source.
type ptClip struct {
	src  string
	clip model.Clip
}

// pretrainTemp is local scratch: remote clips and checkpoints pass through it.
func pretrainTemp() string { return filepath.Join(os.TempDir(), "realdpo-pretrain") }

// Pretrain trains the built-in image-to-video model by SFT on c.Dataset
// and writes the checkpoint to c.Output: the objective that makes the
// base model, plain v-prediction training on real (or synthetic) footage
// with no pair set. Footage is read as every other stage reads it
// (dataset.ReadManifest for a curated dataset, curate's listing and
// sidecar reads for a folder of videos), local or gs://, and every file
// is written through fsx, temp-then-rename.
func Pretrain(ctx context.Context, c PretrainConfig) (PretrainResult, error) {
	res := PretrainResult{Output: c.Output}
	if err := c.Validate(); err != nil {
		return res, err
	}
	cfg, err := model.Preset(c.Preset)
	if err != nil {
		return res, fmt.Errorf("pretrain: %w", err)
	}
	if c.SynthCount > 0 {
		if err := ensureSynth(ctx, c.Dataset, c.SynthCount, c.SynthSeed); err != nil {
			return res, err
		}
	}
	// A refreshed dataset root means its current version.
	root, err := dataset.Resolve(ctx, c.Dataset)
	if err != nil {
		return res, fmt.Errorf("pretrain: %w", err)
	}
	srcs, probs, err := listFootage(ctx, root)
	res.Problems = probs
	if err != nil {
		return res, err
	}
	train, held, skipped, err := loadWindows(ctx, c, cfg, srcs)
	res.Skipped = skipped
	if err != nil {
		return res, err
	}
	res.Videos = len(srcs) - len(skipped)
	res.TrainClips, res.HeldoutClips = len(train), len(held)
	slog.Info("pretrain data", "videos", len(srcs), "skipped", len(skipped), "manifest_problems", len(probs),
		"train_clips", len(train), "heldout_clips", len(held))

	tr, err := newPretrainer(ctx, c, cfg)
	if err != nil {
		return res, err
	}
	slog.Info("pretrain model", "preset", c.Preset, "params", tr.Policy.NumParams(), "gflop_per_step", 3*cfg.ForwardFLOPs(c.Batch)/1e9)

	evalTS, evalEps := evalSet(cfg, len(held), c.EvalTimesteps)
	if res.HeldoutMSEBefore, err = heldoutMSE(tr.Policy, held, evalTS, evalEps); err != nil {
		return res, err
	}
	slog.Info("heldout v-MSE", "step", tr.Step(), "mse", res.HeldoutMSEBefore)

	order := rand.New(rand.NewPCG(c.Seed, 0xba7c4))
	perm := order.Perm(len(train))
	pos := 0
	start := time.Now()
	for tr.Step() < c.Steps {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if c.MaxDuration > 0 && time.Since(start) > c.MaxDuration {
			slog.Info("pretrain: time limit reached", "step", tr.Step())
			break
		}
		batch := make([]model.Clip, c.Batch)
		for i := range batch {
			if pos == len(perm) {
				perm, pos = order.Perm(len(train)), 0
			}
			batch[i] = train[perm[pos]].clip
			pos++
		}
		r, info, err := tr.SFTStep(batch)
		if err != nil {
			return res, fmt.Errorf("pretrain: step %d: %w", tr.Step()+1, err)
		}
		if info.Step%20 == 0 || info.Step == 1 {
			slog.Info("sft", "step", info.Step, "loss", r.Loss, "lr", info.LR, "grad_norm", info.GradNorm,
				"s_per_step", time.Since(start).Seconds()/float64(info.Step))
		}
		if c.EvalEvery > 0 && info.Step%c.EvalEvery == 0 && info.Step < c.Steps {
			mse, err := heldoutMSE(tr.Policy, held, evalTS, evalEps)
			if err != nil {
				return res, err
			}
			slog.Info("heldout v-MSE", "step", info.Step, "mse", mse)
		}
	}
	res.Steps = tr.Step()
	if res.HeldoutMSEAfter, err = heldoutMSE(tr.Policy, held, evalTS, evalEps); err != nil {
		return res, err
	}
	slog.Info("heldout v-MSE", "step", tr.Step(), "mse", res.HeldoutMSEAfter, "before", res.HeldoutMSEBefore)

	meta := map[string]string{
		"heldout_mse":      fmt.Sprintf("%.6f", res.HeldoutMSEAfter),
		"heldout_mse_init": fmt.Sprintf("%.6f", res.HeldoutMSEBefore),
		"train_clips":      fmt.Sprint(len(train)),
	}
	if c.Command != "" {
		meta["command"] = c.Command
	}
	if err := savePretrained(ctx, tr, c.WithState, c.Output, meta); err != nil {
		return res, err
	}
	slog.Info("pretrain: saved", "path", c.Output, "step", tr.Step())

	if c.SamplesPNG != "" {
		if err := writeSamples(ctx, c, tr.Policy, held); err != nil {
			return res, err
		}
		res.SamplesPNG = c.SamplesPNG
	}
	return res, nil
}

// newPretrainer resumes a trainer, or starts one from given weights or a
// fresh initialisation.
func newPretrainer(ctx context.Context, c PretrainConfig, cfg model.Config) (*model.Trainer, error) {
	if c.Resume != "" {
		p, done, err := localCheckpoint(ctx, c.Resume)
		if err != nil {
			return nil, config.Errorf("pretrain", "Resume", ": %w", err)
		}
		defer done()
		tr, err := model.ResumeTrainer(p)
		if err != nil {
			return nil, config.Errorf("pretrain", "Resume", ": %w", err)
		}
		if tr.Policy.Config() != cfg {
			return nil, config.Errorf("pretrain", "Resume", " %s is not a %s model", c.Resume, c.Preset)
		}
		return tr, nil
	}
	var m *model.Model
	if c.Init != "" {
		p, done, err := localCheckpoint(ctx, c.Init)
		if err != nil {
			return nil, config.Errorf("pretrain", "Init", ": %w", err)
		}
		defer done()
		ck, err := model.LoadCheckpoint(p, &cfg)
		if err != nil {
			return nil, config.Errorf("pretrain", "Init", ": %w", err)
		}
		m = ck.Model
	} else {
		var err error
		if m, err = model.New(cfg, c.Seed); err != nil {
			return nil, fmt.Errorf("pretrain: %w", err)
		}
	}
	o := model.DefaultSFTOptions()
	o.LR, o.Seed = c.LR, c.Seed
	tr, err := model.NewTrainer(m, nil, o)
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	return tr, nil
}

// localCheckpoint gives a local path for a checkpoint (the file itself
// when local, a temp copy of a gs:// object) and its cleanup.
func localCheckpoint(ctx context.Context, p string) (string, func(), error) {
	l, err := fsx.Localize(ctx, p, pretrainTemp(), 0, false)
	if err != nil {
		return "", nil, err
	}
	return l.Path, l.Cleanup, nil
}

// savePretrained writes the weights (with the optimiser state when
// withState) to a local temp file, then moves it to dst: a reader of dst
// never sees a partial checkpoint, local or gs://.
func savePretrained(ctx context.Context, tr *model.Trainer, withState bool, dst string, meta map[string]string) error {
	dir := pretrainTemp()
	if !fsx.IsRemote(dst) {
		dir = filepath.Dir(dst) // the final move is a rename
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pretrain: saving %s: %w: %w", dst, fsx.ErrWrite, err)
	}
	f, err := os.CreateTemp(dir, ".pretrain-*.safetensors")
	if err != nil {
		return fmt.Errorf("pretrain: saving %s: %w: %w", dst, fsx.ErrWrite, err)
	}
	f.Close()
	if withState {
		err = tr.Save(f.Name(), meta)
	} else {
		err = tr.Policy.Save(f.Name(), meta)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("pretrain: saving %s: %w", dst, err)
	}
	if err := fsx.MoveLocal(ctx, f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("pretrain: storing %s: %w", dst, err)
	}
	return nil
}

// ensureSynth renders clean synthetic footage into dir unless it is there.
func ensureSynth(ctx context.Context, dir string, count int, seed uint64) error {
	ok, err := fsx.Exists(ctx, fsx.JoinPath(dir, synth.GroundTruthFile))
	if err != nil {
		return config.Errorf("pretrain", "SynthCount", ": %w", err)
	}
	if ok {
		slog.Info("pretrain: synthetic footage already present", "dir", dir)
		return nil
	}
	slog.Info("pretrain: rendering synthetic footage", "dir", dir, "count", count, "seed", seed)
	_, err = synth.Generate(ctx, synth.Config{
		Output: dir, Count: count, Seed: seed, DefectShare: 0,
		// Long enough for every curation profile to accept the clean files.
		Sizes: []synth.Size{{W: 640, H: 360}}, MinSeconds: 7, MaxSeconds: 10,
	})
	if err != nil {
		return fmt.Errorf("pretrain: rendering footage: %w", err)
	}
	return nil
}

// listFootage reads a curated dataset's manifest (bad lines come back as
// problems), or lists a folder of videos as curate does (captions from the
// NAME.txt / NAME.json sidecars), leaving out files ground_truth.jsonl
// marks defective or not accepted. Sources are sorted by relative path.
func listFootage(ctx context.Context, root string) ([]ptSource, []dataset.Problem, error) {
	recs, probs, err := dataset.ReadManifest(ctx, root, nil)
	switch {
	case err == nil:
		for _, p := range probs {
			slog.Warn("pretrain: manifest line not used", "dataset", root, "line", p.Line, "id", p.ID, "err", p.Err)
		}
		out := make([]ptSource, 0, len(recs))
		for _, r := range recs {
			out = append(out, ptSource{path: fsx.JoinPath(root, r.Clip), key: path.Base(r.Clip), caption: r.Caption})
		}
		if len(out) == 0 {
			return nil, probs, fmt.Errorf("pretrain: %s has no usable manifest record (%d lines not used)", dataset.ManifestFile, len(probs))
		}
		return out, probs, nil
	case !fsx.IsNotFound(err):
		return nil, nil, fmt.Errorf("pretrain: reading the manifest of %s: %w", root, err)
	}
	skip, err := badGroundTruth(ctx, root)
	if err != nil {
		return nil, nil, err
	}
	var files []fsx.File
	if err := fsx.List(ctx, root, func(f fsx.File) { files = append(files, f) }); err != nil {
		return nil, nil, fmt.Errorf("pretrain: listing %s: %w", root, err)
	}
	groups := curation.GroupByStem(files)
	var out []ptSource
	for _, g := range groups {
		for _, s := range curation.SourcesOf(ctx, g) {
			switch {
			case skip[s.Rel]:
				continue
			case s.MatchError != "":
				slog.Warn("pretrain: skipping unreadable file", "path", s.Path, "err", s.MatchError)
				continue
			case s.SidecarError != "":
				slog.Warn("pretrain: sidecar problem", "path", s.Path, "err", s.SidecarError)
			}
			out = append(out, ptSource{path: s.Path, key: path.Base(s.Rel), caption: s.Caption})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("pretrain: no usable videos in %s", root)
	}
	return out, nil, nil
}

// badGroundTruth is the set of files a synthetic corpus's ground truth
// marks defective or not accepted (empty without ground_truth.jsonl).
func badGroundTruth(ctx context.Context, root string) (map[string]bool, error) {
	skip := map[string]bool{}
	data, err := fsx.ReadFile(ctx, fsx.JoinPath(root, synth.GroundTruthFile), dataset.MaxFileBytes)
	if fsx.IsNotFound(err) {
		return skip, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pretrain: ground truth: %w", err)
	}
	gts, err := synth.ReadGroundTruth(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("pretrain: ground truth of %s: %w", root, err)
	}
	for _, g := range gts {
		if badTruth(g) {
			skip[g.File] = true
		}
	}
	return skip, nil
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

// loadWindows decodes every source at the model's size and 8 fps and cuts
// consecutive non-overlapping windows of Frames frames; whole sources go
// to the held-out set by a hash of their name, so no held-out clip shares
// footage with training. A source that gives no window is skipped.
func loadWindows(ctx context.Context, c PretrainConfig, cfg model.Config, srcs []ptSource) (train, held []ptClip, skipped []SkippedSource, err error) {
	for _, s := range srcs {
		frames, err := decodeSource(ctx, s.path, media.DecodeOptions{Width: cfg.Width, Height: cfg.Height, FPS: 8,
			MaxFrames: c.WindowsPerVideo * cfg.Frames, Format: media.RGB24, Timeout: 2 * time.Minute})
		if err != nil {
			if len(frames) == 0 {
				slog.Warn("pretrain: skipping undecodable video", "path", s.path, "err", err)
				skipped = append(skipped, SkippedSource{Source: s.path, Reason: err.Error()})
				continue
			}
			slog.Warn("pretrain: decode stopped early", "path", s.path, "err", err)
		}
		if len(frames) < cfg.Frames {
			slog.Warn("pretrain: skipping short video", "path", s.path, "frames", len(frames))
			skipped = append(skipped, SkippedSource{Source: s.path, Reason: fmt.Sprintf("%d frames at 8 fps, fewer than a clip's %d", len(frames), cfg.Frames)})
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(s.key))
		isHeld := float64(h.Sum32()%1000)/1000 < c.Holdout
		for i := 0; i+cfg.Frames <= len(frames); i += cfg.Frames {
			v, err := cfg.VideoFromRGB24(frames[i : i+cfg.Frames])
			if err != nil {
				return nil, nil, skipped, fmt.Errorf("pretrain: %s: %w", s.path, err)
			}
			pc := ptClip{src: s.path, clip: model.Clip{Video: v, Caption: s.caption}}
			if isHeld {
				held = append(held, pc)
			} else {
				train = append(train, pc)
			}
		}
	}
	if len(train) == 0 || len(held) == 0 {
		return nil, nil, skipped, config.Errorf("pretrain", "Dataset", " gives %d training and %d held-out clips: both are needed (more videos, or change {Holdout})", len(train), len(held))
	}
	return train, held, skipped, nil
}

// decodeSource decodes a local video in place, a gs:// one from a temp copy.
func decodeSource(ctx context.Context, p string, o media.DecodeOptions) ([][]byte, error) {
	l, err := fsx.Localize(ctx, p, pretrainTemp(), 0, false)
	if err != nil {
		return nil, err
	}
	defer l.Cleanup()
	return media.ReadFrames(ctx, l.Path, o)
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
func writeSamples(ctx context.Context, c PretrainConfig, m *model.Model, held []ptClip) error {
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
			model.SampleOptions{Steps: c.SampleSteps, Guidance: c.Guidance, Seed: c.Seed})
		if err != nil {
			return fmt.Errorf("pretrain: sampling: %w", err)
		}
		slog.Info("pretrain: sampled", "caption", h.clip.Caption, "seconds", time.Since(t0).Seconds())
		rows = append(rows, h.clip.Video, vs[0])
	}
	png, err := cfg.StripPNG(rows, 3)
	if err != nil {
		return fmt.Errorf("pretrain: sample strip: %w", err)
	}
	if err := fsx.WriteFile(ctx, c.SamplesPNG, png); err != nil {
		return fmt.Errorf("pretrain: writing %s: %w", c.SamplesPNG, err)
	}
	slog.Info("pretrain: wrote sample strip", "path", c.SamplesPNG, "rows", "real, sample, real, sample")
	return nil
}
