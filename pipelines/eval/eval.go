// Package eval is the evaluation pipeline (realdpo eval): held-out real
// clips of a curated dataset are sampled by every model from their first
// frame and caption, and the samples are measured against the real clips
// (transforms/evaluate: a Frechet distance on fixed video features, motion
// statistics, first-frame consistency, sharpness); with a held-out pair set
// each model's RealDPO implicit accuracy against the reference model is
// measured too. The result is report.json and a self-contained report.html.
//
// Graph: the manifest's clips are decoded to the model's size; each (clip,
// model, sample index) becomes a task, reshuffled so sampling spreads over
// workers; a sampling DoFn loads each model once per worker process and
// samples with a seed fixed by (seed, clip, index); the real clips are
// measured alongside. Pairs are read once, fanned out per model and
// scored. Everything meets in one report writer, an impulse that reads the
// results as side inputs. Failures become reject records, shown in the report.
//
// Time: the real clip's frames span the clip; they are resampled to the
// model's frame count over that same span (generate.ResampleTime), exactly
// as the negatives stage stretches the model's frames onto the clip, so
// real clips, negatives and samples are compared at the same frame times.
package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	_ "realdpo/transforms/fsx/gcsfs" // every pipeline reads and writes gs:// as well as local paths

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/dataset"
	"realdpo/transforms/evaluate"
	"realdpo/transforms/fsx"
	"realdpo/transforms/runner"
)

// Config is one evaluation (defaults: DefaultConfig; checks: Validate).
type Config = schemas.EvalConfig

// DefaultConfig holds the documented defaults.
func DefaultConfig() Config {
	return schemas.EvalConfig{Steps: 10, Guidance: 3, Samples: 1, Seed: 1, Strips: 4, Beta: 5000, Bootstrap: 1000,
		Reference: schemas.EvalModel{Name: evaluate.BaseName}}
}

// ParseModels reads --models: NAME=CKPT entries separated by commas; a
// bare "base" (or "base=") is the built-in base model. NAME@SEED (say
// sft@1, sft@2) puts models trained from different seeds in one group
// (sft), which the report averages and shows the spread of.
func ParseModels(s string) ([]schemas.EvalModel, error) {
	var out []schemas.EvalModel
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, ckpt, _ := strings.Cut(part, "=")
		name, ckpt = strings.TrimSpace(name), strings.TrimSpace(ckpt)
		switch {
		case name == "":
			return nil, fmt.Errorf("eval: model %q has no name (want NAME=CHECKPOINT)", part)
		case name == "real":
			return nil, errors.New(`eval: "real" names the real clips; pick another model name`)
		case strings.ContainsAny(name, "<>&\"'"):
			return nil, fmt.Errorf("eval: model name %q has markup characters", name)
		case ckpt == "" && name != evaluate.BaseName:
			return nil, fmt.Errorf("eval: model %s has no checkpoint (only %q may omit it: the built-in base model)", name, evaluate.BaseName)
		case seen[name]:
			return nil, fmt.Errorf("eval: model %s named twice", name)
		}
		group, member, isMember := strings.Cut(name, "@")
		if isMember && (group == "" || member == "" || strings.Contains(member, "@")) {
			return nil, fmt.Errorf("eval: model name %q: want GROUP@SEED", name)
		}
		if group == evaluate.RealModel {
			return nil, errors.New(`eval: "real" names the real clips; pick another group name`)
		}
		seen[name] = true
		out = append(out, schemas.EvalModel{Name: name, Group: group, Checkpoint: ckpt})
	}
	if len(out) == 0 {
		return nil, config.Errorf("eval", "Models", " names no model")
	}
	return out, nil
}

// Validate checks a configuration before a pipeline is built from it.
func Validate(cfg schemas.EvalConfig) error {
	if err := config.Check("eval", cfg); err != nil {
		return err
	}
	switch {
	case cfg.Steps < 1 || cfg.Steps > 1000:
		return config.Errorf("eval", "Steps", " %d outside [1, 1000]", cfg.Steps)
	case math.IsNaN(cfg.Guidance) || cfg.Guidance < 0 || cfg.Guidance > 100:
		return config.Errorf("eval", "Guidance", " %g outside [0, 100]", cfg.Guidance)
	case cfg.Samples < 1 || cfg.Samples > 100:
		return config.Errorf("eval", "Samples", " %d outside [1, 100]", cfg.Samples)
	case !(cfg.Beta > 0) || math.IsInf(cfg.Beta, 0):
		return config.Errorf("eval", "Beta", " %g must be positive", cfg.Beta)
	case cfg.Reference.Name == "":
		return errors.New("eval: no reference model")
	case cfg.Bootstrap < 1 || cfg.Bootstrap > 100000:
		return config.Errorf("eval", "Bootstrap", " %d outside [1, 100000]", cfg.Bootstrap)
	}
	names := map[string]bool{}
	for _, m := range cfg.Models {
		names[m.Name] = true
	}
	for _, n := range cfg.StripModels {
		if !names[n] {
			return fmt.Errorf("eval: strip model %s is not one of the models", n)
		}
	}
	groups, _ := evaluate.GroupsOf(cfg.Models)
	if _, err := evaluate.Comparisons(cfg, groups); err != nil {
		return err
	}
	return fsx.CheckOutput("eval", cfg.Output, map[string]string{"Dataset": cfg.Dataset, "Pairs": cfg.Pairs})
}

// ResolveReference sets the reference model from its name: a model of the
// run, or "base" for the built-in base model.
func ResolveReference(cfg *schemas.EvalConfig, name string) error {
	if m, ok := evaluate.ModelByName(schemas.EvalConfig{Models: cfg.Models}, name); ok {
		cfg.Reference = schemas.EvalModel{Name: m.Name, Checkpoint: m.Checkpoint}
		return nil
	}
	if name == evaluate.BaseName {
		cfg.Reference = schemas.EvalModel{Name: evaluate.BaseName}
		return nil
	}
	return config.Errorf("eval", "Reference", " %s is not one of {Models} (or %q, the built-in model)", name, evaluate.BaseName)
}

// ReadManifest reads manifest.jsonl of a curated dataset with the checks
// every stage applies (dataset.ParseManifest: safe ids, clip and first
// frame inside the dataset, one record per id). Lines that fail become
// rejects; the records come back sorted by id, so the evaluated set never
// depends on line order.
func ReadManifest(ctx context.Context, root string) ([]schemas.ManifestRecord, []schemas.EvalReject, error) {
	recs, probs, err := dataset.ReadManifest(ctx, root, func(r schemas.ManifestRecord) error {
		if r.FirstFrame == "" {
			return errors.New("record lacks a first_frame")
		}
		return dataset.CheckRecord(r)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("eval: dataset: %w", err)
	}
	var rejects []schemas.EvalReject
	for _, p := range probs {
		rejects = append(rejects, schemas.EvalReject{Stage: "manifest", Item: fmt.Sprintf("%s:%d", dataset.ManifestFile, p.Line),
			Reason: schemas.EvalReasonBadManifest, Detail: p.Err})
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	return recs, rejects, nil
}

// Build adds the evaluation graph to s for the given clips.
func Build(s beam.Scope, cfg schemas.EvalConfig, geo model.Config, clips []schemas.ManifestRecord, manifestRejects []schemas.EvalReject) {
	s = s.Scope("eval")
	order := map[string]int{}
	for i, c := range clips {
		order[c.ID] = i
	}
	clipCol := beam.CreateList(s, clips)
	decoded, decodeRejects := beam.ParDo2(s, &evaluate.DecodeFn{Root: cfg.Dataset, Geo: geo, Order: order}, clipCol)

	names := make([]string, len(cfg.Models))
	for i, m := range cfg.Models {
		names[i] = m.Name
	}
	tasks := beam.ParDo(s, &evaluate.FanOutFn{Models: names, Samples: cfg.Samples, Seed: cfg.Seed}, decoded)
	tasks = beam.Reshuffle(s, tasks)
	samples, sampleRejects := beam.ParDo2(s, &evaluate.SampleFn{Cfg: cfg, Geo: geo}, tasks)
	real := beam.ParDo(s, &evaluate.RealFn{Geo: geo, Strips: cfg.Strips}, decoded)
	measured := beam.Flatten(s, samples, real)

	rejectCols := []beam.PCollection{decodeRejects, sampleRejects}
	if len(manifestRejects) > 0 {
		rejectCols = append(rejectCols, beam.CreateList(s, manifestRejects))
	}
	var dpo beam.PCollection
	if cfg.Pairs != "" {
		pairs, pairRejects := beam.ParDo2(s, &evaluate.ReadPairsFn{Geo: geo, MaxPairs: cfg.MaxPairs}, beam.Create(s, cfg.Pairs))
		pairTasks := beam.Reshuffle(s, beam.ParDo(s, &evaluate.PairFanOutFn{Models: names}, pairs))
		var dpoRejects beam.PCollection
		dpo, dpoRejects = beam.ParDo2(s, &evaluate.DPOFn{Cfg: cfg}, pairTasks)
		rejectCols = append(rejectCols, pairRejects, dpoRejects)
	} else {
		dpo = beam.CreateList(s, []schemas.EvalDPO{})
	}
	rejects := beam.Flatten(s, rejectCols...)

	// The report is written exactly once, whatever reaches it: an impulse
	// with every result as a side input.
	beam.ParDo0(s, &evaluate.ReportFn{Cfg: cfg, Geo: geo}, beam.Impulse(s),
		beam.SideInput{Input: measured}, beam.SideInput{Input: dpo}, beam.SideInput{Input: rejects})
}

// Pipeline checks the models, reads the held-out manifest and builds the
// evaluation pipeline without running it (the Dataflow dry run uses it too).
func Pipeline(ctx context.Context, cfg schemas.EvalConfig) (*beam.Pipeline, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	// A refreshed dataset root means its current version.
	ds, err := dataset.Resolve(ctx, cfg.Dataset)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	cfg.Dataset = ds
	mc, err := evaluate.CheckModels(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	clips, rejects, err := ReadManifest(ctx, cfg.Dataset)
	if err != nil {
		return nil, err
	}
	if len(clips) == 0 {
		return nil, fmt.Errorf("eval: %s lists no usable clips", cfg.Dataset)
	}
	if cfg.MaxClips > 0 && len(clips) > cfg.MaxClips {
		clips = clips[:cfg.MaxClips]
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, mc, clips, rejects)
	return p, nil
}

// Run evaluates on the runner chosen by Beam's flags (prism by default)
// and reads report.json back.
func Run(ctx context.Context, cfg schemas.EvalConfig) (*schemas.EvalReport, error) {
	p, err := Pipeline(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := runner.Run(ctx, p); err != nil {
		return nil, fmt.Errorf("eval pipeline: %w", err)
	}
	return evaluate.ReadReport(ctx, cfg.Output)
}
