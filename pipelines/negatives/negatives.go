// Package negatives is the negatives pipeline (realdpo negatives): the
// model's own generations from each real clip's first frame and caption,
// RealDPO's rejected samples. The DoFns live in transforms/generate; this
// package holds the graph, its configuration and the run.
package negatives

import (
	"context"
	"fmt"
	"strings"
	"time"

	_ "realdpo/transforms/fsx/gcsfs" // every pipeline reads and writes gs:// as well as local paths

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"

	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/fsx"
	"realdpo/transforms/generate"
	"realdpo/transforms/runner"
)

// Config is one negatives run (defaults: DefaultConfig; checks: Validate).
type Config = generate.NegativesConfig

// defaultAcceleratorOp is the Dataflow hint's driver option.
const defaultAcceleratorOp = "install-nvidia-driver"

// DefaultConfig has the reference settings: 3 negatives a clip,
// 50 DDIM steps, guidance 6.0.
func DefaultConfig(dataset, output string) Config {
	return Config{Dataset: dataset, Output: output, PerClip: 3, Steps: 50, Guidance: 6.0,
		HTTPConcurrency: 4, HTTPTimeout: 10 * time.Minute, HTTPRetries: 5}
}

// AcceleratorHint renders the Dataflow accelerator hint for a GPU type and
// count ("" when typ is empty).
func AcceleratorHint(typ string, count int) string {
	if typ == "" {
		return ""
	}
	if count < 1 {
		count = 1
	}
	return fmt.Sprintf("type:%s;count:%d;%s", typ, count, defaultAcceleratorOp)
}

// Build adds the negatives graph: read the manifest, generate per_clip
// videos per clip (the GPU stage), write the records.
func Build(s beam.Scope, c Config) {
	s = s.Scope("negatives")
	clips, bad := generate.ReadClips(s, c.Dataset)
	// One clip per element, spread over the workers.
	clips = beam.Reshuffle(s, clips)
	recs, fails := generate.GenerateNegatives(s, c, clips)
	generate.WriteNegatives(s, c, clips, recs, beam.Flatten(s, bad, fails))
}

// Pipeline validates c, applies its accelerator hint and builds
// the negatives pipeline without running it (the Dataflow dry run uses it
// too). It returns c with its roots resolved.
func Pipeline(ctx context.Context, c Config) (*beam.Pipeline, Config, error) {
	c.Dataset, c.Output = fsx.AbsRoot(c.Dataset), fsx.AbsRoot(c.Output)
	if err := c.Validate(); err != nil {
		return nil, c, err
	}
	if c.Accelerator != "" {
		ApplyAcceleratorHint(c.Accelerator)
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, c)
	return p, c, nil
}

// Run runs the negatives pipeline on the runner Beam's flags choose and
// reads back its stats.
func Run(ctx context.Context, c Config) (schemas.NegativesStats, error) {
	// A refreshed dataset root means the version current at launch; the
	// dry run (Pipeline alone) reads no storage, so it shows the root.
	ds, err := dataset.Resolve(ctx, fsx.AbsRoot(c.Dataset))
	if err != nil {
		return schemas.NegativesStats{}, fmt.Errorf("negatives: %w", err)
	}
	c.Dataset = ds
	p, c, err := Pipeline(ctx, c)
	if err != nil {
		return schemas.NegativesStats{}, err
	}
	if err := runner.Run(ctx, p); err != nil {
		return schemas.NegativesStats{}, fmt.Errorf("negatives pipeline: %w", err)
	}
	return generate.ReadNegativesStats(ctx, c.Output)
}

// ApplyAcceleratorHint adds an accelerator resource hint to the job. The Go
// SDK (v2.77) carries resource hints on the pipeline's environment only (no
// per-transform hints yet, apache/beam#23893), so the hint applies to the
// whole negatives job: it is its own job, and curate and pairs run as CPU
// jobs. A hint already given with --resource_hints=accelerator=... wins.
func ApplyAcceleratorHint(h string) {
	for _, rh := range jobopts.ResourceHints {
		if strings.HasPrefix(rh, "accelerator=") || strings.HasPrefix(rh, "beam:resources:accelerator:v1=") {
			return
		}
	}
	jobopts.ResourceHints = append(jobopts.ResourceHints, "accelerator="+h)
}
