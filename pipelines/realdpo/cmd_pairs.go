package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/pairs"
)

var pairsCfg pairs.Config

func init() {
	register(&subcommand{
		Name:    "pairs",
		Summary: "join clips and negatives into preference pairs: webdataset shards with stats and index.json, or the reference RealDPO layout",
		Flags: func(fs *flag.FlagSet) {
			c := &pairsCfg
			d := pairs.DefaultConfig("", "", "")
			fs.StringVar(&c.Dataset, "dataset", "", "curated dataset root (manifest.jsonl), or a reference-layout data set (prompt.txt, video.txt, videos/, negative_samples/): local or gs://")
			fs.StringVar(&c.Negatives, "negatives", "", "negatives root (negatives.jsonl) for a curated dataset")
			fs.StringVar(&c.Output, "output", "", "output root: pairs-NNNNNN.tar shards, their .stats.json, pairs_report.jsonl and index.json (written last)")
			fs.StringVar(&c.InputLayout, "input_layout", d.InputLayout, "auto, curate or realdpo (auto: realdpo when prompt.txt and video.txt are in --dataset)")
			fs.StringVar(&c.Export, "export", d.Export, "webdataset (shards) or realdpo (prompt.txt, video.txt, videos/ID.mp4, negative_samples/ID/K.mp4)")
			fs.IntVar(&c.NegativesPerPair, "negatives_per_pair", d.NegativesPerPair, "rejected clips in every pair; clips with fewer usable negatives are reported in pairs_report.jsonl")
			fs.Float64Var(&c.TargetShardMB, "target_shard_mb", d.TargetShardMB, "target shard size, MiB")
			fs.IntVar(&c.LoaderWorkers, "loader_workers", d.LoaderWorkers, "training data-loader workers: the shard count is a multiple of this")
		},
		Run: runPairs,
		Pipeline: func(ctx context.Context) (*beam.Pipeline, error) {
			p, _, err := pairs.Pipeline(ctx, pairsCfg)
			return p, err
		},
		UsesBeam: true,
	})
}

func runPairs(ctx context.Context) error {
	res, err := pairs.Run(ctx, pairsCfg)
	if err != nil {
		return err
	}
	fmt.Printf("pairs: %s (%s layout) -> %s (%s)\n", pairsCfg.Dataset, res.Layout, pairsCfg.Output, res.Export)
	fmt.Println(res.Summary())
	return nil
}
