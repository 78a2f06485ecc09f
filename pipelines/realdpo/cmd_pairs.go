package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/pairs"
)

// pairsCfg is filled by the flags; defaults are DefaultConfig's.
var pairsCfg = pairs.DefaultConfig("", "", "")

func init() {
	register(&subcommand{
		Name:    "pairs",
		Summary: "join clips and negatives into preference pairs: webdataset shards with stats and index.json, or the reference RealDPO layout",
		Flags:   func(fs *flag.FlagSet) { bind(fs, &pairsCfg) },
		Run:     runPairs,
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
