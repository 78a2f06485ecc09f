package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/refresh"
	"realdpo/transforms/fsx"
)

// refreshCfg is filled by the flags; Curate comes from curate's flags.
var refreshCfg refresh.Config

func init() {
	register(&subcommand{
		Name:    "refresh",
		Summary: "incremental dataset refresh: curate only new or changed footage into VERSION=<timestamp>/, carry the rest, move LATEST last",
		Flags: func(fs *flag.FlagSet) {
			// Every curate flag (input, profile, thresholds) applies; --output
			// is the versioned --dataset_root instead.
			subcommands["curate"].Flags(fs)
			bind(fs, &refreshCfg)
		},
		Run:      runRefresh,
		Pipeline: refreshPipeline,
		UsesBeam: true,
	})
}

func refreshConfig() (refresh.Config, error) {
	if curateFlags.cfg.Output != "" {
		return refresh.Config{}, fmt.Errorf("refresh: use --dataset_root, not --output (each refresh writes a new version under it)")
	}
	ccfg, err := curateConfig()
	if err != nil {
		return refresh.Config{}, err
	}
	cfg := refreshCfg
	cfg.Curate = ccfg
	if !ccfg.Review.DedupOff {
		cfg.Dedup = refresh.CurateDedup{Review: ccfg.Review} // across the carried and the new clips
	}
	return cfg, nil
}

// refreshPipeline is the curate pipeline a first refresh runs (every source
// selected), for --dry_run: the selection needs the dataset's state, which
// a dry run does not read.
func refreshPipeline(ctx context.Context) (*beam.Pipeline, error) {
	cfg, err := refreshConfig()
	if err != nil {
		return nil, err
	}
	return refresh.Pipeline(cfg)
}

func runRefresh(ctx context.Context) error {
	cfg, err := refreshConfig()
	if err != nil {
		return err
	}
	res, err := refresh.Run(ctx, cfg)
	if err != nil {
		return err
	}
	r := res.Report
	if res.UpToDate {
		fmt.Printf("refresh: %s is up to date at %s (%d sources)\n", cfg.DatasetRoot, r.Version, r.Carried)
		return nil
	}
	fmt.Printf("refresh: %s -> %s (previous %q)\n", cfg.Curate.Input, fsx.JoinPath(cfg.DatasetRoot, r.Version), r.Previous)
	fmt.Printf("  new %d, changed %d, removed %d, carried %d, full rebuild %v\n", len(r.New), len(r.Changed), len(r.Removed), r.Carried, r.FullRebuild)
	fmt.Printf("  dedup: %s\n", r.Dedup)
	fmt.Println(r.Accounting)
	return nil
}
