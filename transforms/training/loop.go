// Package training owns RealDPO training as Beam transforms and the run
// directory it writes (checkpoints, metrics, summary): pair shards are
// streamed with the shard reader and decoded to the model's size in
// parallel, then one Gorgonia training DoFn takes the steps, checkpointing
// and resuming from the run directory. Pretrain, the SFT objective that
// makes the base model from footage rather than pairs, lives here too, so
// it shares the model side and the checkpoint writing.
package training

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/fsx"
	"realdpo/transforms/generate"
)

// Defaults for the tiny preset (see the README's `realdpo train` section
// for why).
const (
	DefaultSteps           = 60
	DefaultBatch           = 1
	DefaultLR              = 1e-4
	DefaultWarmup          = 5
	DefaultBeta            = 5000
	DefaultSFTWeight       = 1000
	DefaultEMAEvery        = 10
	DefaultEMARate         = 0.05
	DefaultCheckpointEvery = 20
	DefaultKeep            = 3
	DefaultRegenSteps      = 20
	DefaultRegenGuidance   = 3
	DefaultLogEvery        = 10.0
)

// DefaultConfig is a run with every default; Pairs and Output still to set.
func DefaultConfig() schemas.TrainConfig {
	return schemas.TrainConfig{
		Objective: schemas.ObjectiveDPO, Steps: DefaultSteps, Batch: DefaultBatch, LR: DefaultLR,
		Warmup: DefaultWarmup, WeightDecay: 1e-4, ClipNorm: 1, Seed: 1,
		Beta: DefaultBeta, SFTWeight: DefaultSFTWeight, Reduction: string(model.ReduceSum),
		EMAEvery: DefaultEMAEvery, EMARate: DefaultEMARate,
		RegenerateSteps: DefaultRegenSteps, RegenerateGuidance: DefaultRegenGuidance,
		CondDrop: 0.1, CheckpointEvery: DefaultCheckpointEvery, KeepCheckpoints: DefaultKeep,
		LogEverySeconds: DefaultLogEvery,
	}
}

// Validate checks a configuration before a pipeline is built from it.
func Validate(c schemas.TrainConfig) error {
	if err := config.Check("train", c); err != nil {
		return err
	}
	switch {
	case c.Objective != schemas.ObjectiveDPO && c.Objective != schemas.ObjectiveSFT:
		return config.Errorf("train", "Objective", " %q: want dpo or sft", c.Objective)
	case c.RegenerateEvery > 0 && c.Objective != schemas.ObjectiveDPO:
		return config.Errorf("train", "RegenerateEvery", " needs {Objective}=dpo")
	case c.RegenerateEvery > 0 && (c.RegenerateSteps < 1 || !(c.RegenerateGuidance >= 0)):
		return config.Errorf("train", "RegenerateSteps", " %d / {RegenerateGuidance} %g invalid", c.RegenerateSteps, c.RegenerateGuidance)
	}
	if _, err := TrainOptions(c); err != nil {
		return err
	}
	if c.Objective == schemas.ObjectiveDPO {
		o := model.DPOOptions{Beta: c.Beta, Lambda: c.SFTWeight, Reduction: model.Reduction(c.Reduction)}
		switch {
		case !(o.Beta > 0) || math.IsInf(o.Beta, 0):
			return config.Errorf("train", "Beta", " %g must be positive", c.Beta)
		case !(o.Lambda >= 0):
			return config.Errorf("train", "SFTWeight", " %g must not be negative", c.SFTWeight)
		case o.Reduction != model.ReduceSum && o.Reduction != model.ReduceMean:
			return config.Errorf("train", "Reduction", " %q: want sum or mean", c.Reduction)
		case !(c.DPOTShare >= 0 && c.DPOTShare <= 1):
			return config.Errorf("train", "DPOTShare", " %g outside [0, 1]", c.DPOTShare)
		}
	}
	return fsx.CheckOutput("train", c.Output, map[string]string{"Pairs": c.Pairs})
}

// TrainOptions are the model's optimiser and loss settings for c.
func TrainOptions(c schemas.TrainConfig) (model.TrainOptions, error) {
	o := model.TrainOptions{LR: c.LR, WeightDecay: c.WeightDecay, ClipNorm: c.ClipNorm, Warmup: c.Warmup, Seed: c.Seed}
	if c.Objective == schemas.ObjectiveSFT {
		o.CondDrop = c.CondDrop
	} else {
		o.DPO = model.DPOOptions{Beta: c.Beta, Lambda: c.SFTWeight, Reduction: model.Reduction(c.Reduction), TShare: c.DPOTShare}
		o.EMAEvery, o.EMARate = c.EMAEvery, c.EMARate
	}
	if !(c.LR > 0) || c.LR > 1 {
		return o, config.Errorf("train", "LR", " %g outside (0, 1]", c.LR)
	}
	switch {
	case c.Warmup < 0:
		return o, config.Errorf("train", "Warmup", " %d must not be negative", c.Warmup)
	case !(c.WeightDecay >= 0):
		return o, config.Errorf("train", "WeightDecay", " %g must not be negative", c.WeightDecay)
	case !(c.ClipNorm >= 0):
		return o, config.Errorf("train", "ClipNorm", " %g must not be negative", c.ClipNorm)
	case o.EMAEvery < 0:
		return o, config.Errorf("train", "EMAEvery", " %d must not be negative", c.EMAEvery)
	case !(o.EMARate >= 0 && o.EMARate <= 1):
		return o, config.Errorf("train", "EMARate", " %g outside [0, 1]", c.EMARate)
	case !(o.CondDrop >= 0 && o.CondDrop <= 1):
		return o, config.Errorf("train", "CondDrop", " %g outside [0, 1]", c.CondDrop)
	}
	return o, nil
}

// LoadInit loads the starting weights: a checkpoint (local or gs://) or,
// for "", the built-in base model.
func LoadInit(ctx context.Context, init string) (*model.Model, error) {
	if init == "" {
		return model.LoadBase()
	}
	p := init
	if fsx.IsRemote(init) {
		l, err := fsx.Localize(ctx, init, filepath.Join(os.TempDir(), "realdpo-train"), 0, false)
		if err != nil {
			return nil, config.Errorf("train", "Init", ": %w", err)
		}
		defer l.Cleanup()
		p = l.Path
	}
	m, err := model.LoadModel(p)
	if err != nil {
		return nil, config.Errorf("train", "Init", ": %w", err)
	}
	return m, nil
}

// data is the decoded training set in a fixed order.
type data struct {
	keys  []string
	first [][]float32
	capt  []string
	win   [][]float32
	lose  [][][]float32
}

func toData(cfg model.Config, exs []TrainExample) (*data, error) {
	// Bundles arrive in any order: sort so every run sees the same set.
	slices.SortFunc(exs, func(a, b TrainExample) int {
		return cmp.Or(
			cmp.Compare(a.Key, b.Key),
			cmp.Compare(a.Shard, b.Shard),
		)
	})
	d := &data{}
	for i, e := range exs {
		if i > 0 && exs[i-1].Key == e.Key {
			return nil, fmt.Errorf("train: pair key %s appears in %s and %s", e.Key, exs[i-1].Shard, e.Shard)
		}
		f, err := cfg.FrameFromRGB24(e.FirstFrame)
		if err != nil {
			return nil, fmt.Errorf("train: pair %s first frame: %w", e.Key, err)
		}
		w, err := videoFromRGB24(cfg, e.Winner)
		if err != nil {
			return nil, fmt.Errorf("train: pair %s chosen: %w", e.Key, err)
		}
		var ls [][]float32
		for j, l := range e.Losers {
			v, err := videoFromRGB24(cfg, l)
			if err != nil {
				return nil, fmt.Errorf("train: pair %s rejected %d: %w", e.Key, j, err)
			}
			ls = append(ls, v)
		}
		d.keys, d.first, d.capt, d.win, d.lose = append(d.keys, e.Key), append(d.first, f), append(d.capt, e.Caption), append(d.win, w), append(d.lose, ls)
	}
	return d, nil
}

func videoFromRGB24(cfg model.Config, b []byte) ([]float32, error) {
	frames, err := cfg.SplitRGB24(b)
	if err != nil {
		return nil, err
	}
	return cfg.VideoFromRGB24(frames)
}

// order maps the i-th example drawn in the run to an index: each epoch is
// a fresh permutation from (seed, epoch), so a resumed run draws the same
// examples at the same steps.
type order struct {
	seed  uint64
	n     int
	epoch int
	perm  []int
}

func (o *order) at(i int) (idx, epoch int) {
	e := i / o.n
	if o.perm == nil || e != o.epoch {
		o.perm = rand.New(rand.NewPCG(o.seed, 0xda7a0000+uint64(e))).Perm(o.n)
		o.epoch = e
	}
	return o.perm[i%o.n], e
}

// Trainer runs one training job over decoded examples.
type Trainer struct {
	Cfg   schemas.TrainConfig
	Model model.Config
}

// Run trains on exs, resuming from the newest checkpoint in the output.
func (t *Trainer) Run(ctx context.Context, exs []TrainExample, rejected int) (*schemas.TrainSummary, error) {
	c := t.Cfg
	if err := Validate(c); err != nil {
		return nil, err
	}
	if len(exs) == 0 {
		return nil, fmt.Errorf("train: no usable pairs in %s (%d rejected, see %s)", c.Pairs, rejected, RejectsFile)
	}
	d, err := toData(t.Model, exs)
	if err != nil {
		return nil, err
	}
	st := &store{root: c.Output, tmp: filepath.Join(os.TempDir(), "realdpo-train")}
	if err := os.MkdirAll(st.tmp, 0o755); err != nil {
		return nil, err
	}
	opts, err := TrainOptions(c)
	if err != nil {
		return nil, err
	}
	tr, start, err := t.resumeOrStart(ctx, st, opts)
	if err != nil {
		return nil, err
	}
	metrics, err := readMetrics(ctx, st, start)
	if err != nil {
		return nil, err
	}
	nLosers := len(d.lose[0])
	lastRegen := -1
	if c.RegenerateEvery > 0 && start > 0 {
		if lastRegen, err = loadRegen(ctx, st, t.Model, d, start); err != nil {
			return nil, err
		}
	}
	slog.Info("train: start", "objective", c.Objective, "pairs", len(d.keys), "negatives_per_pair", nLosers,
		"rejected", rejected, "from_step", start, "steps", c.Steps, "batch", c.Batch, "params", tr.Policy.NumParams())

	ord := &order{seed: c.Seed, n: len(d.keys)}
	t0 := time.Now()
	lastLog := time.Time{}
	done := start
	for step := start; step < c.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		regen := false
		if c.RegenerateEvery > 0 && step > 0 && step%c.RegenerateEvery == 0 && lastRegen != step {
			if err := regenerate(ctx, st, tr, d, c, step); err != nil {
				return nil, err
			}
			lastRegen, regen = step, true
		}
		ts := time.Now()
		m, err := t.step(tr, d, ord, step)
		if err != nil {
			return nil, fmt.Errorf("train: step %d: %w", step+1, err)
		}
		m.StepS = time.Since(ts).Seconds()
		m.Regenerated = regen
		metrics = append(metrics, m)
		done = step + 1
		if done == start+1 || done == c.Steps || time.Since(lastLog).Seconds() >= c.LogEverySeconds {
			lastLog = time.Now()
			rate := float64(done-start) / time.Since(t0).Seconds()
			slog.Info("train", "step", fmt.Sprintf("%d/%d", done, c.Steps), "loss", round(m.Loss, 5),
				"acc", round(m.Accuracy, 3), "winner_delta", round(m.WinnerDelta, 6), "loser_delta", round(m.LoserDelta, 6),
				"grad_norm", round(m.GradNorm, 4), "lr", strconv.FormatFloat(m.LR, 'g', 3, 64), "steps_per_s", round(rate, 3),
				"eta", (time.Duration(float64(c.Steps-done) / rate * float64(time.Second))).Round(time.Second).String())
		}
		if done < c.Steps && c.CheckpointEvery > 0 && done%c.CheckpointEvery == 0 {
			if err := t.checkpoint(ctx, st, tr, metrics); err != nil {
				return nil, err
			}
		}
	}
	wall := time.Since(t0).Seconds()
	if err := writeMetrics(ctx, st, metrics); err != nil {
		return nil, err
	}
	if err := saveTrainer(ctx, st, tr, FinalFile, c); err != nil {
		return nil, err
	}
	plots, err := writePlots(ctx, st, c.Objective, metrics)
	if err != nil {
		return nil, err
	}
	sum := &schemas.TrainSummary{Objective: c.Objective, Steps: tr.Step(), ResumedFrom: start, Pairs: len(d.keys),
		Rejected: rejected, Final: st.path(FinalFile), WallS: wall}
	if done > start {
		sum.StepsPerS = float64(done-start) / wall
	}
	tail := metrics[len(metrics)-max(1, len(metrics)/10):]
	for _, m := range tail {
		sum.FinalLoss += m.Loss / float64(len(tail))
		sum.FinalAcc += m.Accuracy / float64(len(tail))
	}
	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := st.write(ctx, SummaryFile, append(b, '\n')); err != nil {
		return nil, err
	}
	slog.Info("train: done", "final", sum.Final, "steps", sum.Steps, "final_loss", round(sum.FinalLoss, 5),
		"steps_per_s", round(sum.StepsPerS, 3), "plots", strings.Join(plots, ","))
	return sum, nil
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// step takes one optimiser step on the batch drawn at step.
func (t *Trainer) step(tr *model.Trainer, d *data, ord *order, step int) (schemas.TrainMetric, error) {
	c := t.Cfg
	m := schemas.TrainMetric{Step: step + 1, Objective: c.Objective}
	idx := make([]int, c.Batch)
	for b := range idx {
		idx[b], m.Epoch = ord.at(step*c.Batch + b)
	}
	if c.Objective == schemas.ObjectiveSFT {
		clips := make([]model.Clip, len(idx))
		for b, i := range idx {
			clips[b] = model.Clip{Video: d.win[i], FirstFrame: d.first[i], Caption: d.capt[i]}
		}
		r, info, err := tr.SFTStep(clips)
		if err != nil {
			return m, err
		}
		m.Loss, m.WinnerErr, m.GradNorm, m.LR = r.Loss, r.Loss, info.GradNorm, info.LR
		return m, nil
	}
	exs := make([]model.DPOExample, len(idx))
	for b, i := range idx {
		exs[b] = model.DPOExample{Winner: d.win[i], Losers: d.lose[i], FirstFrame: d.first[i], Caption: d.capt[i]}
	}
	r, info, err := tr.DPOBatchStep(exs)
	if err != nil {
		return m, err
	}
	m.Loss, m.GradNorm, m.LR, m.EMA = r.Objective, info.GradNorm, info.LR, info.EMA
	n := float64(len(r.Examples))
	for _, e := range r.Examples {
		m.DPOLoss += e.MeanLoss / n
		m.Accuracy += e.Accuracy / n
		m.WinnerErr += e.Lw / n
		m.WinnerErrRef += e.LwRef / n
		m.Timestep += float64(e.T) / n
		for i := range e.Ll {
			k := n * float64(len(e.Ll))
			m.LoserErr += e.Ll[i] / k
			m.LoserErrRef += e.LlRef[i] / k
		}
	}
	m.WinnerDelta = m.WinnerErr - m.WinnerErrRef
	m.LoserDelta = m.LoserErr - m.LoserErrRef
	return m, nil
}

// resumeOrStart continues from the newest checkpoint of the run (the final
// one included), or starts from --init and records run.json.
func (t *Trainer) resumeOrStart(ctx context.Context, st *store, opts model.TrainOptions) (*model.Trainer, int, error) {
	c := t.Cfg
	steps, err := st.steps(ctx, CheckpointDir, "ckpt-", ".safetensors")
	if err != nil {
		return nil, 0, err
	}
	var cands []string
	for _, s := range steps {
		cands = append(cands, CheckpointName(s))
	}
	if _, err := st.read(ctx, RunFile); err == nil {
		cands = append(cands, FinalFile)
	}
	var best *model.Trainer
	for _, rel := range cands {
		if rel == FinalFile {
			if _, err := st.read(ctx, FinalFile); err != nil {
				continue
			}
		}
		p, done, err := st.localCopy(ctx, rel)
		if err != nil {
			return nil, 0, err
		}
		tr, err := model.ResumeTrainer(p)
		done()
		if err != nil {
			return nil, 0, fmt.Errorf("train: resuming from %s: %w", st.path(rel), err)
		}
		if best == nil || tr.Step() > best.Step() {
			best = tr
		}
	}
	run, err := t.runRecord(ctx)
	if err != nil {
		return nil, 0, err
	}
	if prev, err := st.read(ctx, RunFile); err == nil {
		var old schemas.TrainRun
		if err := json.Unmarshal(prev, &old); err != nil {
			return nil, 0, fmt.Errorf("train: %s: %w", st.path(RunFile), err)
		}
		if diff := sameRun(old, run); diff != "" {
			return nil, 0, config.Errorf("train", "Output", " %s holds a different run (%s): choose another", c.Output, diff)
		}
	} else if best != nil {
		return nil, 0, fmt.Errorf("train: %s has checkpoints but no %s", c.Output, RunFile)
	}
	b, _ := json.MarshalIndent(run, "", "  ")
	if err := st.write(ctx, RunFile, append(b, '\n')); err != nil {
		return nil, 0, err
	}
	if best != nil {
		if !reflect.DeepEqual(best.Opts, opts) {
			return nil, 0, config.Errorf("train", "Output", " holds a checkpoint whose options %+v differ from these, %+v: choose another", best.Opts, opts)
		}
		if best.Policy.Config() != t.Model {
			return nil, 0, config.Errorf("train", "Output", " holds a checkpoint whose model config differs from {Init}'s: choose another")
		}
		slog.Info("train: resuming", "step", best.Step(), "output", c.Output)
		return best, best.Step(), nil
	}
	m, err := LoadInit(ctx, c.Init)
	if err != nil {
		return nil, 0, err
	}
	var tr *model.Trainer
	if c.Objective == schemas.ObjectiveSFT {
		tr, err = model.NewTrainer(m, nil, opts)
	} else {
		tr, err = model.NewDPOTrainer(m, opts)
	}
	return tr, 0, err
}

// runRecord describes this run for run.json.
func (t *Trainer) runRecord(ctx context.Context) (schemas.TrainRun, error) {
	c := t.Cfg
	ix, err := (&store{root: c.Pairs}).read(ctx, "index.json")
	if err != nil {
		return schemas.TrainRun{}, fmt.Errorf("train: pair index: %w", err)
	}
	m, err := LoadInit(ctx, c.Init)
	if err != nil {
		return schemas.TrainRun{}, err
	}
	sum := sha256.Sum256(ix)
	return schemas.TrainRun{Config: c, PairsSHA256: hex.EncodeToString(sum[:]),
		InitSHA256: generate.WeightsHash(m), ModelConfig: m.Config().JSON()}, nil
}

// sameRun names what differs between two runs, ignoring what may change
// between a run and its resume: the step budget, checkpoint cadence and
// logging, and where the pairs and output are mounted.
func sameRun(a, b schemas.TrainRun) string {
	norm := func(r schemas.TrainRun) schemas.TrainRun {
		r.Config.Steps, r.Config.CheckpointEvery, r.Config.KeepCheckpoints, r.Config.LogEverySeconds = 0, 0, 0, 0
		r.Config.Pairs, r.Config.Output, r.Config.Init = "", "", ""
		return r
	}
	a, b = norm(a), norm(b)
	switch {
	case a.PairsSHA256 != b.PairsSHA256:
		return "another pair set"
	case a.InitSHA256 != b.InitSHA256:
		return "other initial weights"
	case a.ModelConfig != b.ModelConfig:
		return "another model config"
	case a.Config != b.Config:
		ab, _ := json.Marshal(a.Config)
		bb, _ := json.Marshal(b.Config)
		return fmt.Sprintf("settings %s, now %s", ab, bb)
	}
	return ""
}

func saveTrainer(ctx context.Context, st *store, tr *model.Trainer, rel string, c schemas.TrainConfig) error {
	f, err := os.CreateTemp(st.tmp, "ckpt-*.safetensors")
	if err != nil {
		return err
	}
	f.Close()
	meta := map[string]string{"producer": "realdpo train", "objective": c.Objective, "pairs": c.Pairs}
	if err := tr.Save(f.Name(), meta); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := st.writeLocal(ctx, rel, f.Name()); err != nil {
		return fmt.Errorf("train: storing %s: %w", rel, err)
	}
	return nil
}

// checkpoint writes the metrics so far, then the trainer state, then prunes
// old checkpoints. Metrics go first: a resume drops lines past the
// checkpoint it starts from, so a kill between the two loses nothing.
func (t *Trainer) checkpoint(ctx context.Context, st *store, tr *model.Trainer, ms []schemas.TrainMetric) error {
	if err := writeMetrics(ctx, st, ms); err != nil {
		return err
	}
	if err := saveTrainer(ctx, st, tr, CheckpointName(tr.Step()), t.Cfg); err != nil {
		return err
	}
	slog.Info("train: checkpoint", "step", tr.Step(), "path", st.path(CheckpointName(tr.Step())))
	if k := t.Cfg.KeepCheckpoints; k > 0 {
		steps, err := st.steps(ctx, CheckpointDir, "ckpt-", ".safetensors")
		if err != nil {
			return err
		}
		for i := 0; i+k < len(steps); i++ {
			if err := st.remove(ctx, CheckpointName(steps[i])); err != nil {
				return fmt.Errorf("train: pruning checkpoints: %w", err)
			}
		}
	}
	return nil
}

func writeMetrics(ctx context.Context, st *store, ms []schemas.TrainMetric) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, m := range ms {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return st.write(ctx, MetricsFile, buf.Bytes())
}

// readMetrics keeps the lines of an earlier run up to step upTo.
func readMetrics(ctx context.Context, st *store, upTo int) ([]schemas.TrainMetric, error) {
	if upTo == 0 {
		return nil, nil
	}
	b, err := st.read(ctx, MetricsFile)
	if err != nil {
		if fsx.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []schemas.TrainMetric
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var m schemas.TrainMetric
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("train: %s: %w", MetricsFile, err)
		}
		if m.Step <= upTo {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// RegenSeed is the sampling seed of a pair's negatives regenerated at
// step: every regeneration and every pair draws its own noise.
func RegenSeed(seed uint64, step int, key string) uint64 {
	h := sha256.New()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(step))
	h.Write(b[:])
	h.Write([]byte(key))
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

// regenerate replaces every pair's negatives by samples of the current EMA
// reference from the pair's first frame and caption (the paper's iterative
// self-correction), quantised to RGB24 as stored clips are, and records
// them so a resumed run trains on the same negatives.
func regenerate(ctx context.Context, st *store, tr *model.Trainer, d *data, c schemas.TrainConfig, step int) error {
	t0 := time.Now()
	cfg := tr.Ref.Config()
	out := map[string][][]byte{}
	for i, key := range d.keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		vs, err := tr.Ref.Sample(d.first[i], d.capt[i], len(d.lose[i]), model.SampleOptions{
			Steps: c.RegenerateSteps, Guidance: c.RegenerateGuidance, Seed: RegenSeed(c.Seed, step, key)})
		if err != nil {
			return fmt.Errorf("train: regenerating negatives of %s: %w", key, err)
		}
		for _, v := range vs {
			frames, err := cfg.FramesToRGB24(v)
			if err != nil {
				return err
			}
			out[key] = append(out[key], bytes.Join(frames, nil))
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(out); err != nil {
		return err
	}
	if err := st.write(ctx, RegenName(step), buf.Bytes()); err != nil {
		return err
	}
	if err := applyRegen(cfg, d, out); err != nil {
		return err
	}
	slog.Info("train: regenerated negatives from the EMA reference", "step", step, "pairs", len(d.keys),
		"seconds", round(time.Since(t0).Seconds(), 1))
	return nil
}

func applyRegen(cfg model.Config, d *data, neg map[string][][]byte) error {
	for i, key := range d.keys {
		vs, ok := neg[key]
		if !ok || len(vs) != len(d.lose[i]) {
			return fmt.Errorf("train: regenerated negatives lack pair %s", key)
		}
		for j, b := range vs {
			v, err := videoFromRGB24(cfg, b)
			if err != nil {
				return fmt.Errorf("train: regenerated negative %s/%d: %w", key, j, err)
			}
			d.lose[i][j] = v
		}
	}
	return nil
}

// loadRegen restores the negatives in force at step start: the newest
// regeneration at or before it. It returns that regeneration's step, or -1.
func loadRegen(ctx context.Context, st *store, cfg model.Config, d *data, start int) (int, error) {
	steps, err := st.steps(ctx, RegenDir, "negatives-", ".gob")
	if err != nil {
		return -1, err
	}
	last := -1
	for _, s := range steps {
		if s <= start {
			last = s
		}
	}
	if last < 0 {
		return -1, nil
	}
	b, err := st.read(ctx, RegenName(last))
	if err != nil {
		return -1, err
	}
	var neg map[string][][]byte
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&neg); err != nil {
		return -1, fmt.Errorf("train: %s: %w", RegenName(last), err)
	}
	return last, applyRegen(cfg, d, neg)
}
