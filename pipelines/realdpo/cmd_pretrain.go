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
		Flags: func(fs *flag.FlagSet) {
			c := &pretrainCfg
			fs.StringVar(&c.Dataset, "dataset", "", "curated dataset (manifest.jsonl) or a folder of videos with NAME.txt / NAME.json captions, local or gs://")
			fs.StringVar(&c.Output, "output", "", "checkpoint to write (.safetensors), local or gs://")
			fs.StringVar(&c.Preset, "preset", c.Preset, "model preset: tiny or small")
			fs.IntVar(&c.Steps, "steps", c.Steps, "optimiser steps")
			fs.IntVar(&c.Batch, "batch", c.Batch, "clips per step")
			fs.Float64Var(&c.LR, "lr", c.LR, "peak AdamW learning rate")
			fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed for initialisation, batches, timesteps and noise")
			fs.Float64Var(&c.Holdout, "holdout", c.Holdout, "share of source videos held out for the v-MSE evaluation")
			fs.IntVar(&c.EvalEvery, "eval_every", c.EvalEvery, "steps between held-out evaluations")
			fs.IntVar(&c.WindowsPerVideo, "windows_per_video", c.WindowsPerVideo, "at most this many consecutive clips cut from each video (0: all)")
			fs.StringVar(&c.SamplesPNG, "samples_png", "", "write a PNG strip: held-out real clips and samples from their first frame and caption")
			fs.IntVar(&c.SampleSteps, "sample_steps", c.SampleSteps, "DDIM steps for --samples_png")
			fs.Float64Var(&c.Guidance, "guidance", c.Guidance, "classifier-free guidance for --samples_png")
			fs.BoolVar(&c.WithState, "with_state", false, "also save optimiser state for exact resume (triples the size)")
			fs.IntVar(&c.SynthCount, "synth_count", 0, "first render this many synthetic videos into a local --dataset (when it has no ground_truth.jsonl)")
			fs.Uint64Var(&c.SynthSeed, "synth_seed", 0, "seed for --synth_count footage")
			fs.StringVar(&c.Resume, "resume", "", "continue from a checkpoint saved with --with_state")
			fs.StringVar(&c.Init, "init", "", "start from these weights instead of a fresh initialisation")
			fs.DurationVar(&c.MaxDuration, "max_duration", 0, "stop training after this long (0: no limit)")
			fs.IntVar(&c.EvalTimesteps, "eval_timesteps", c.EvalTimesteps, "evaluate at this many timesteps spread over the schedule")
		},
		Run: runPretrain,
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
