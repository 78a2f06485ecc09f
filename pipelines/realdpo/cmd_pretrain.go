package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"realdpo/transforms/training"
)

// pretrainCfg is filled by the flags; defaults are DefaultPretrainConfig's.
var pretrainCfg = training.DefaultPretrainConfig()

func init() {
	register(&subcommand{
		Name:    "pretrain",
		Summary: "train the built-in image-to-video model by SFT on a curated dataset or a folder of videos",
		Flags:   func(fs *flag.FlagSet) { bind(fs, &pretrainCfg) },
		Run:     runPretrain,
	})
}

func runPretrain(ctx context.Context) error {
	c := pretrainCfg
	c.Command = "realdpo pretrain " + strings.Join(os.Args[2:], " ")
	r, err := training.Pretrain(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf("pretrain: %d steps on %d train clips from %d videos (%d skipped, %d manifest lines not used); held-out v-MSE %.5f -> %.5f on %d clips\n  checkpoint: %s\n",
		r.Steps, r.TrainClips, r.Videos, len(r.Skipped), len(r.Problems), r.HeldoutMSEBefore, r.HeldoutMSEAfter, r.HeldoutClips, r.Output)
	if r.SamplesPNG != "" {
		fmt.Printf("  samples:    %s\n", r.SamplesPNG)
	}
	return nil
}
