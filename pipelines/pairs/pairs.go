// Package pairs is the pairs pipeline (realdpo pairs): each real clip
// joined with its model-generated negatives into preference pairs, written
// as webdataset shards with an index and per-shard stats, or exported in
// the reference implementation's layout. The DoFns live in
// transforms/pairing; this package holds the graph and the run.
package pairs

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	_ "realdpo/transforms/fsx/gcsfs" // every pipeline reads and writes gs:// as well as local paths

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/fsx"
	"realdpo/transforms/generate"
	"realdpo/transforms/pairing"
	"realdpo/transforms/reflayout"
	"realdpo/transforms/runner"
	"realdpo/transforms/shards"
)

// Config is one pairs run (defaults: DefaultConfig; checks: Validate).
type Config = pairing.Config

// DefaultConfig has the defaults: 3 negatives a pair, 512 MiB shards, a
// shard count divisible by 8 loader workers.
func DefaultConfig(dataset, negatives, output string) Config {
	return pairing.DefaultConfig(dataset, negatives, output)
}

// Build adds the pairs graph: read clips and negatives, join them by clip
// id, check every member, plan shards, write them (or export the reference
// layout), then the report and index.
func Build(s beam.Scope, c Config) {
	s = s.Scope("pairs")
	clips, negs, readIssues := pairing.ReadInputs(s, c)
	planned, pairIssues := pairing.Assemble(s, c, clips, negs)
	jobs, planIssues, summary := pairing.Plan(s, c, planned)
	issues := beam.Flatten(s, readIssues, pairIssues, planIssues)
	// One shard per element, spread over the workers.
	jobs = beam.Reshuffle(s, jobs)
	if c.Export == pairing.ExportRealDPO {
		pairing.FinishExport(s, c, jobs, pairing.Export(s, c, jobs), issues)
		return
	}
	pairing.FinishShards(s, c, pairing.WriteShards(s, c, jobs), issues, summary)
}

// Result sums a run up.
type Result struct {
	Layout string
	Export string
	Pairs  int
	Shards int
	Issues int
	// Unpaired counts clips left out.
	Unpaired int
	Index    *schemas.ShardIndex
	Stats    schemas.PairsStats
}

// Pipeline resolves and validates c and builds the pairs pipeline
// without running it (the Dataflow dry run uses it too).
func Pipeline(ctx context.Context, c Config) (*beam.Pipeline, Config, error) {
	c = c.Resolve(ctx)
	if err := c.Validate(); err != nil {
		return nil, c, err
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, c)
	return p, c, nil
}

// Run runs the pairs pipeline and reads back what it wrote.
func Run(ctx context.Context, c Config) (Result, error) {
	// A refreshed dataset root means the version current at launch; the
	// dry run (Pipeline alone) reads no storage, so it shows the root.
	ds, err := dataset.Resolve(ctx, fsx.AbsRoot(c.Dataset))
	if err != nil {
		return Result{}, fmt.Errorf("pairs: %w", err)
	}
	c.Dataset = ds
	p, c, err := Pipeline(ctx, c)
	if err != nil {
		return Result{}, err
	}
	if err := runner.Run(ctx, p); err != nil {
		return Result{}, fmt.Errorf("pairs pipeline: %w", err)
	}
	res := Result{Layout: c.InputLayout, Export: c.Export}

	if res.Stats, err = pairing.ReadStats(ctx, c.Output); err != nil {
		return res, err
	}
	st := res.Stats
	res.Pairs, res.Shards, res.Issues, res.Unpaired = st.Pairs, st.Shards, st.Issues, st.Unpaired
	if c.Export == pairing.ExportRealDPO {
		v, err := fsx.ReadFile(ctx, fsx.JoinPath(c.Output, reflayout.VideoFile), generate.MaxRecordsBytes)
		if err != nil {
			return res, err
		}
		if n := bytes.Count(v, []byte("\n")); n != st.Pairs {
			return res, fmt.Errorf("pairs: %s lists %d pairs, %s says %d", reflayout.VideoFile, n, pairing.StatsFile, st.Pairs)
		}
		return res, nil
	}
	ix, err := shards.ReadIndex(ctx, c.Output)
	if err != nil {
		return res, err
	}
	if ix.Pairs != st.Pairs {
		return res, fmt.Errorf("pairs: %s holds %d pairs, %s says %d", shards.IndexFile, ix.Pairs, pairing.StatsFile, st.Pairs)
	}
	res.Shards, res.Index = len(ix.Shards), &ix
	return res, nil
}

// Summary is the line a run ends with: the totals, and when clips were left
// out for too few negatives, what to run instead.
func (r Result) Summary() string {
	st := r.Stats
	var b strings.Builder
	fmt.Fprintf(&b, "pairs=%d shards=%d issues=%d unpaired=%d (see %s)", r.Pairs, r.Shards, r.Issues, r.Unpaired, pairing.ReportFile)
	if st.TooFewNegatives > 0 {
		fmt.Fprintf(&b, "; %d clip(s) have fewer usable negatives than --negatives_per_pair=%d", st.TooFewNegatives, st.NegativesPerPair)
		if st.FewestUsable > 0 {
			fmt.Fprintf(&b, ": rerun pairs with --negatives_per_pair=%d, or negatives with --per_clip=%d", st.FewestUsable, st.NegativesPerPair)
		} else {
			fmt.Fprintf(&b, ": rerun negatives with --per_clip=%d", st.NegativesPerPair)
		}
	}
	if r.Pairs == 0 && st.TooFewNegatives == 0 {
		b.WriteString("; no pair formed")
	}
	return b.String()
}
