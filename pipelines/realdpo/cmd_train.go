package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/train"
	"realdpo/schemas"
)

// trainCfg is filled by the flags; defaults are the tiny preset's.
var trainCfg = train.DefaultConfig("", "")

func init() {
	register(&subcommand{
		Name:     "train",
		Summary:  "RealDPO (or SFT baseline) training of the model on a pair set, as a Beam pipeline with checkpoints, resume, metrics and plots",
		Flags:    func(fs *flag.FlagSet) { bind(fs, &trainCfg) },
		Run:      runTrain,
		Pipeline: func(ctx context.Context) (*beam.Pipeline, error) { return train.Pipeline(ctx, trainCfg) },
		UsesBeam: true,
	})
}

func runTrain(ctx context.Context) error {
	sum, err := train.Run(ctx, trainCfg)
	if err != nil {
		return err
	}
	fmt.Printf("train (%s): %d steps on %d pairs (%d left out), final loss %.5f", sum.Objective, sum.Steps, sum.Pairs, sum.Rejected, sum.FinalLoss)
	if sum.Objective == schemas.ObjectiveDPO {
		fmt.Printf(", implicit accuracy %.2f", sum.FinalAcc)
	}
	fmt.Printf("\n  final checkpoint: %s\n  metrics, plots:   %s\n", sum.Final, trainCfg.Output)
	return nil
}
