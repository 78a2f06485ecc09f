// Package train is the `realdpo train` pipeline: pair shards (local or
// gs://) are read and verified by the shard reader and decoded to the
// model's size in parallel; a single Gorgonia DoFn then trains the model
// with the RealDPO loss (or SFT on the real clips, the paper's baseline),
// checkpointing to the output and resuming from its newest checkpoint.
package train

import (
	"context"
	"encoding/json"
	"fmt"

	_ "realdpo/transforms/fsx/gcsfs" // every pipeline reads and writes gs:// as well as local paths

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/runner"
	"realdpo/transforms/shards"
	"realdpo/transforms/training"
)

// Config is one training run (defaults: DefaultConfig; checks: Validate).
type Config = schemas.TrainConfig

// DefaultConfig is a run with the tiny preset's defaults.
func DefaultConfig(pairs, output string) Config {
	c := training.DefaultConfig()
	c.Pairs, c.Output = pairs, output
	return c
}

// Validate checks a configuration; its errors name the flags.
func Validate(cfg Config) error { return training.Validate(cfg) }

// Build adds the training graph for a model of geometry geo: read and
// decode the pairs, then one training DoFn.
func Build(s beam.Scope, cfg Config, geo model.Config) {
	examples, rejects := training.ReadPairs(s, cfg.Pairs, geo)
	training.Train(s, cfg, geo, examples, rejects)
}

// Pipeline builds the training pipeline without running it (the Dataflow
// dry run uses it too).
func Pipeline(ctx context.Context, cfg Config) (*beam.Pipeline, error) {
	if err := training.Validate(cfg); err != nil {
		return nil, err
	}
	// The model's geometry decides the decode size; read it before
	// building the graph so a bad --init fails here, not on a worker.
	m, err := training.LoadInit(ctx, cfg.Init)
	if err != nil {
		return nil, err
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, m.Config())
	return p, nil
}

// Run builds the pipeline and runs it on the runner chosen by Beam's flags
// (prism by default), then reads back summary.json.
func Run(ctx context.Context, cfg Config) (schemas.TrainSummary, error) {
	var sum schemas.TrainSummary
	if err := training.Validate(cfg); err != nil {
		return sum, err
	}
	// Fail before starting a runner when the pair set is not there; the
	// shards themselves are verified as they stream.
	ix, err := shards.ReadIndex(ctx, cfg.Pairs)
	if err != nil {
		return sum, fmt.Errorf("train: pair set %s: %w", cfg.Pairs, err)
	}
	if ix.Pairs == 0 {
		// A pairs run that formed no pair still writes its index; say what
		// to look at rather than start a runner with nothing to train on.
		return sum, fmt.Errorf("train: pair set %s holds no pairs (its %s lists no shard; pairs_report.jsonl there says why each clip was left out)",
			cfg.Pairs, shards.IndexFile)
	}
	p, err := Pipeline(ctx, cfg)
	if err != nil {
		return sum, err
	}
	if err := runner.Run(ctx, p); err != nil {
		return sum, fmt.Errorf("train pipeline: %w", err)
	}
	b, err := training.ReadFile(ctx, cfg.Output, training.SummaryFile)
	if err != nil {
		return sum, fmt.Errorf("train: reading the summary: %w", err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return sum, fmt.Errorf("train: %s: %w", training.SummaryFile, err)
	}
	return sum, nil
}
