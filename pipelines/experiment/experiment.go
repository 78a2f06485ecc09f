// Package experiment is `realdpo experiment`: the test of the method's
// claim that training on real-versus-generated pairs makes a model's
// motion more real. From one base model it generates the negatives of a
// curated dataset, pairs them, trains RealDPO and the SFT baseline at each
// of several seeds (optionally regenerating negatives during training),
// and evaluates the base and every fine-tune on held-out clips from
// footage the training never saw. It writes experiment.json and
// experiment.html: the table with 95% bootstrap intervals, the paired
// differences, the spread over seeds, the training curves and frame
// strips (real | base | SFT | RealDPO).
//
// Every stage is the project's own Beam pipeline (negatives, pairs, train,
// eval) run in this process on the configured runner. A finished stage
// leaves OUT/stages/NAME.json with its settings; a rerun with the same
// settings skips it, so an interrupted experiment continues where it
// stopped (training itself resumes from its newest checkpoint).
package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"time"

	_ "realdpo/transforms/fsx/gcsfs" // every pipeline reads and writes gs:// as well as local paths

	"realdpo/pipelines/eval"
	"realdpo/pipelines/negatives"
	"realdpo/pipelines/pairs"
	"realdpo/pipelines/train"
	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/evaluate"
	"realdpo/transforms/fsx"
	"realdpo/transforms/training"
)

// Output files and directories, relative to the output.
const (
	ReportJSON = "experiment.json"
	ReportHTML = "experiment.html"
	StagesDir  = "stages"
	EvalDir    = "eval"
)

// Group names of the fine-tunes.
const (
	GroupRealDPO = "realdpo"
	GroupSFT     = "sft"
)

// Config is one experiment (defaults: DefaultConfig; checks: Validate).
type Config = schemas.ExperimentConfig

// DefaultConfig holds the documented defaults, the setting chosen on the
// validation set (README): three training seeds, 1000 steps a run, two
// negatives a clip at 8 DDIM steps, two samples a held-out clip at 10; see
// the README for what they cost.
func DefaultConfig() schemas.ExperimentConfig {
	t := training.DefaultConfig()
	return schemas.ExperimentConfig{
		Seeds:            []uint64{1, 2, 3},
		NegativesPerClip: 2, NegativeSteps: 8, NegativeGuidance: 3,
		TrainSteps: 1000, Batch: t.Batch, LR: t.LR, Beta: t.Beta, SFTWeight: t.SFTWeight,
		EMAEvery: t.EMAEvery, EMARate: t.EMARate,
		RegenerateSteps: t.RegenerateSteps, RegenerateGuidance: t.RegenerateGuidance,
		CheckpointEvery: 50,
		EvalSamples:     2, EvalSteps: 10, EvalGuidance: 3, EvalSeed: 1, Strips: 6, Bootstrap: 1000,
	}
}

// Validate checks a configuration before anything runs; every stage's own
// configuration is checked too, so a bad setting fails before the first
// hour of negatives rather than after.
func Validate(c schemas.ExperimentConfig) error {
	if err := config.Check("experiment", c); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(c.Heldout) == "":
		return config.Errorf("experiment", "Heldout", " is required (clips from footage the training never saw)")
	case fsx.JoinPath(c.Dataset, "") == fsx.JoinPath(c.Heldout, ""):
		return config.Errorf("experiment", "Heldout", " is the training dataset; evaluate on clips the training never saw")
	case len(c.Seeds) == 0:
		return config.Errorf("experiment", "Seeds", " names no seed")
	}
	seen := map[uint64]bool{}
	for _, s := range c.Seeds {
		if seen[s] {
			return fmt.Errorf("experiment: seed %d named twice", s)
		}
		seen[s] = true
	}
	if err := negativesConfig(c, c.Dataset, "negatives").Validate(); err != nil {
		return err
	}
	for _, obj := range []string{schemas.ObjectiveDPO, schemas.ObjectiveSFT} {
		if err := training.Validate(trainConfig(c, obj, c.Seeds[0])); err != nil {
			return err
		}
	}
	return eval.Validate(evalConfig(c))
}

func negativesConfig(c schemas.ExperimentConfig, dataset, dir string) negatives.Config {
	n := negatives.DefaultConfig(dataset, fsx.JoinPath(c.Output, dir))
	n.PerClip, n.Steps, n.Guidance, n.Model = c.NegativesPerClip, c.NegativeSteps, c.NegativeGuidance, c.Init
	return n
}

func pairsConfig(c schemas.ExperimentConfig, dataset, negatives, dir string) pairs.Config {
	p := pairs.DefaultConfig(dataset, fsx.JoinPath(c.Output, negatives), fsx.JoinPath(c.Output, dir))
	p.NegativesPerPair, p.TargetShardMB, p.LoaderWorkers = c.NegativesPerClip, 64, 2
	return p
}

// RunDir is a training run's directory, relative to the output.
func RunDir(group string, seed uint64) string { return fmt.Sprintf("train/%s-s%d", group, seed) }

func groupOf(objective string) string {
	if objective == schemas.ObjectiveSFT {
		return GroupSFT
	}
	return GroupRealDPO
}

func trainConfig(c schemas.ExperimentConfig, objective string, seed uint64) schemas.TrainConfig {
	t := train.DefaultConfig(fsx.JoinPath(c.Output, "pairs"), fsx.JoinPath(c.Output, RunDir(groupOf(objective), seed)))
	t.Init, t.Objective, t.Steps, t.Batch, t.LR, t.Seed = c.Init, objective, c.TrainSteps, c.Batch, c.LR, seed
	t.Beta, t.SFTWeight, t.EMAEvery, t.EMARate = c.Beta, c.SFTWeight, c.EMAEvery, c.EMARate
	t.DPOTShare = c.DPOTShare
	if objective == schemas.ObjectiveDPO {
		t.RegenerateEvery, t.RegenerateSteps, t.RegenerateGuidance = c.RegenerateEvery, c.RegenerateSteps, c.RegenerateGuidance
	}
	t.CheckpointEvery = c.CheckpointEvery
	return t
}

func evalConfig(c schemas.ExperimentConfig) schemas.EvalConfig {
	e := eval.DefaultConfig()
	e.Dataset, e.Output = c.Heldout, fsx.JoinPath(c.Output, EvalDir)
	e.Samples, e.Steps, e.Guidance, e.Seed = c.EvalSamples, c.EvalSteps, c.EvalGuidance, c.EvalSeed
	e.MaxClips, e.Strips, e.Bootstrap = c.EvalMaxClips, c.Strips, c.Bootstrap
	e.FreeFirstFrame = c.EvalFreeFirst
	if c.HeldoutPairs {
		e.Pairs = fsx.JoinPath(c.Output, "heldout_pairs")
	}
	e.Models = []schemas.EvalModel{{Name: evaluate.BaseName, Group: evaluate.BaseName, Checkpoint: c.Init}}
	for _, g := range []string{GroupSFT, GroupRealDPO} {
		for _, s := range c.Seeds {
			e.Models = append(e.Models, schemas.EvalModel{Name: fmt.Sprintf("%s@%d", g, s), Group: g,
				Checkpoint: fsx.JoinPath(c.Output, RunDir(g, s)+"/"+training.FinalFile)})
		}
	}
	e.Reference = e.Models[0]
	e.Compare = []string{GroupRealDPO + ":" + evaluate.BaseName, GroupRealDPO + ":" + GroupSFT, GroupSFT + ":" + evaluate.BaseName}
	// Strips: real | base | SFT | RealDPO, the first seed of each.
	e.StripModels = []string{evaluate.BaseName, fmt.Sprintf("%s@%d", GroupSFT, c.Seeds[0]), fmt.Sprintf("%s@%d", GroupRealDPO, c.Seeds[0])}
	return e
}

// runner runs stages, skipping the ones a marker says are done.
type runner struct {
	out    string
	stages []schemas.ExperimentStage
}

// negativesAndPairs generates negatives for dataset with the base model and
// pairs them, in the directories DIR+negatives and DIR+pairs, as the
// stages NAME+negatives and NAME+pairs; it returns the pairs stage's key.
func (r *runner) negativesAndPairs(ctx context.Context, c schemas.ExperimentConfig, dataset, dir, name string) (string, error) {
	nc := negativesConfig(c, dataset, dir+"negatives")
	negKey, err := r.stage(ctx, name+"negatives", nc.Output, nc, nil, func() error {
		_, err := negatives.Run(ctx, nc)
		return err
	})
	if err != nil {
		return "", err
	}
	pc := pairsConfig(c, dataset, dir+"negatives", dir+"pairs")
	return r.stage(ctx, name+"pairs", pc.Output, pc, []string{negKey}, func() error {
		_, err := pairs.Run(ctx, pc)
		return err
	})
}

// stage runs one stage unless its marker holds the same key: the
// stage's settings and the keys of the stages it reads from (deps), so
// redoing a stage redoes every stage after it. It returns the key. A
// marker with another key means the stage's output directory dir holds
// what other settings made: it is cleared first, since a training run
// refuses (rightly) to resume another run's checkpoints. Without a marker
// the stage was interrupted, and dir is kept so that it resumes.
func (r *runner) stage(ctx context.Context, name, dir string, settings any, deps []string, run func() error) (string, error) {
	kb, err := json.Marshal(struct {
		Settings any      `json:"settings"`
		Inputs   []string `json:"inputs,omitempty"`
	}{settings, deps})
	if err != nil {
		return "", fmt.Errorf("experiment: stage %s settings: %w", name, err)
	}
	marker := fsx.JoinPath(r.out, StagesDir+"/"+name+".json")
	if b, err := fsx.ReadFile(ctx, marker, maxReadBack); err == nil {
		var done schemas.ExperimentStage
		if json.Unmarshal(b, &done) == nil && done.Key == string(kb) {
			slog.Info("experiment: stage already done", "stage", name)
			done.Skipped = true
			r.stages = append(r.stages, done)
			return done.Key, nil
		}
		slog.Info("experiment: settings changed; clearing the stage's output", "stage", name, "dir", dir)
		if err := fsx.RemoveAll(ctx, dir); err != nil {
			return "", fmt.Errorf("experiment: stage %s: clearing %s: %w", name, dir, err)
		}
	}
	slog.Info("experiment: stage", "stage", name)
	t0 := time.Now()
	if err := run(); err != nil {
		return "", fmt.Errorf("experiment: stage %s: %w", name, err)
	}
	st := schemas.ExperimentStage{Name: name, Key: string(kb), WallS: time.Since(t0).Seconds()}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := fsx.WriteAtomic(ctx, marker, bytes.NewReader(b)); err != nil {
		return "", fmt.Errorf("experiment: stage %s marker: %w", name, err)
	}
	slog.Info("experiment: stage done", "stage", name, "seconds", math.Round(st.WallS))
	r.stages = append(r.stages, st)
	return st.Key, nil
}

// maxReadBack bounds a marker, report or plot read back whole.
const maxReadBack = 64 << 20

// Run runs every stage (skipping finished ones) and writes the report.
func Run(ctx context.Context, c schemas.ExperimentConfig) (*schemas.ExperimentReport, error) {
	if err := Validate(c); err != nil {
		return nil, err
	}
	t0 := time.Now()
	r := &runner{out: c.Output}
	pairKey, err := r.negativesAndPairs(ctx, c, c.Dataset, "", "")
	if err != nil {
		return nil, err
	}
	var evalDeps []string
	if c.HeldoutPairs {
		hpKey, err := r.negativesAndPairs(ctx, c, c.Heldout, "heldout_", "heldout-")
		if err != nil {
			return nil, err
		}
		evalDeps = append(evalDeps, hpKey)
	}
	var runs []schemas.ExperimentRun
	for _, seed := range c.Seeds {
		for _, obj := range []string{schemas.ObjectiveDPO, schemas.ObjectiveSFT} {
			tc := trainConfig(c, obj, seed)
			run := schemas.ExperimentRun{Group: groupOf(obj), Seed: seed, Objective: obj, Dir: RunDir(groupOf(obj), seed)}
			key, err := r.stage(ctx, fmt.Sprintf("train-%s-s%d", run.Group, seed), tc.Output, tc, []string{pairKey}, func() error {
				_, err := train.Run(ctx, tc)
				return err
			})
			if err != nil {
				return nil, err
			}
			evalDeps = append(evalDeps, key)
			b, err := training.ReadFile(ctx, tc.Output, training.SummaryFile)
			if err != nil {
				return nil, fmt.Errorf("experiment: %s: %w", run.Dir, err)
			}
			if err := json.Unmarshal(b, &run.Summary); err != nil {
				return nil, fmt.Errorf("experiment: %s/%s: %w", run.Dir, training.SummaryFile, err)
			}
			runs = append(runs, run)
		}
	}
	ec := evalConfig(c)
	if _, err := r.stage(ctx, "eval", ec.Output, ec, evalDeps, func() error {
		_, err := eval.Run(ctx, ec)
		return err
	}); err != nil {
		return nil, err
	}
	rep, err := evaluate.ReadReport(ctx, ec.Output)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	out := &schemas.ExperimentReport{Format: schemas.ExperimentFormat, Config: c, Stages: r.stages,
		WallS: time.Since(t0).Seconds(), CPUs: runtime.NumCPU(), Runs: runs, Eval: *rep}
	out.Eval.Clips = nil
	curves, err := readCurves(ctx, c.Output, runs)
	if err != nil {
		return nil, err
	}
	if err := write(ctx, out, rep, curves); err != nil {
		return nil, err
	}
	return out, nil
}

// readCurves reads every run's metrics.jsonl.
func readCurves(ctx context.Context, root string, runs []schemas.ExperimentRun) ([][]schemas.TrainMetric, error) {
	out := make([][]schemas.TrainMetric, len(runs))
	for i, run := range runs {
		b, err := training.ReadFile(ctx, fsx.JoinPath(root, run.Dir), training.MetricsFile)
		if err != nil {
			return nil, fmt.Errorf("experiment: %s: %w", run.Dir, err)
		}
		for n, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var m schemas.TrainMetric
			if err := json.Unmarshal(line, &m); err != nil {
				return nil, fmt.Errorf("experiment: %s/%s line %d: %w", run.Dir, training.MetricsFile, n+1, err)
			}
			out[i] = append(out[i], m)
		}
	}
	return out, nil
}

// ReadReport reads experiment.json from an experiment's output.
func ReadReport(ctx context.Context, dir string) (*schemas.ExperimentReport, error) {
	b, err := fsx.ReadFile(ctx, fsx.JoinPath(dir, ReportJSON), maxReadBack)
	if err != nil {
		return nil, err
	}
	var rep schemas.ExperimentReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", ReportJSON, err)
	}
	if rep.Format != schemas.ExperimentFormat {
		return nil, fmt.Errorf("experiment: %s has format %q, want %q", ReportJSON, rep.Format, schemas.ExperimentFormat)
	}
	return &rep, nil
}
