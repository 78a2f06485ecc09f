package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"realdpo/pipelines/experiment"
	"realdpo/transforms/fsx"
)

var experimentFlags struct {
	seeds string
}

// experimentCfg is filled by the flags.
var experimentCfg = experiment.DefaultConfig()

func init() {
	register(&subcommand{
		Name:    "experiment",
		Summary: "negatives from the base, RealDPO and SFT from the base at several seeds, eval on held-out clips: experiment.html + experiment.json with intervals, seed spread, curves and strips",
		Flags: func(fs *flag.FlagSet) {
			c := &experimentCfg
			fs.StringVar(&c.Dataset, "dataset", "", "curated training dataset (manifest.jsonl): a directory or gs:// prefix")
			fs.StringVar(&c.Heldout, "heldout", "", "curated held-out dataset from footage the training never saw (other seeds or sources)")
			fs.StringVar(&c.Output, "output", "", "experiment directory (local or gs://): every stage's output, experiment.html, experiment.json; a rerun skips finished stages")
			fs.StringVar(&c.Init, "init", "", "base checkpoint (negatives come from it, both fine-tunes start from it); empty: the built-in base model")
			fs.StringVar(&experimentFlags.seeds, "seeds", "1,2,3", "training seeds: one RealDPO and one SFT run each")
			fs.IntVar(&c.NegativesPerClip, "negatives_per_clip", c.NegativesPerClip, "negatives generated per training clip (RealDPO: 3)")
			fs.IntVar(&c.NegativeSteps, "negative_steps", c.NegativeSteps, "DDIM steps of the negatives (RealDPO: 50)")
			fs.Float64Var(&c.NegativeGuidance, "negative_guidance", c.NegativeGuidance, "classifier-free guidance of the negatives (RealDPO: 6)")
			fs.IntVar(&c.TrainSteps, "train_steps", c.TrainSteps, "optimiser steps of every training run")
			fs.IntVar(&c.Batch, "batch", c.Batch, "pairs (dpo) or clips (sft) a step")
			fs.Float64Var(&c.LR, "lr", c.LR, "peak AdamW learning rate, both objectives")
			fs.Float64Var(&c.Beta, "beta", c.Beta, "RealDPO beta")
			fs.Float64Var(&c.SFTWeight, "sft_weight", c.SFTWeight, "RealDPO lambda: weight of the SFT term on the real clip")
			fs.IntVar(&c.EMAEvery, "ema_every", c.EMAEvery, "RealDPO: move the reference toward the policy every this many steps (0: frozen)")
			fs.Float64Var(&c.EMARate, "ema_rate", c.EMARate, "RealDPO: EMA rate of the reference")
			fs.IntVar(&c.RegenerateEvery, "regenerate_every", 0, "RealDPO: regenerate the negatives from the EMA reference every this many steps (the paper's iterative self-correction; 0: off)")
			fs.IntVar(&c.RegenerateSteps, "regenerate_steps", c.RegenerateSteps, "DDIM steps of regenerated negatives")
			fs.Float64Var(&c.RegenerateGuidance, "regenerate_guidance", c.RegenerateGuidance, "guidance of regenerated negatives")
			fs.IntVar(&c.CheckpointEvery, "checkpoint_every", c.CheckpointEvery, "resumable checkpoint every this many training steps (0: only the final one)")
			fs.IntVar(&c.EvalSamples, "eval_samples", c.EvalSamples, "samples per held-out clip and model")
			fs.IntVar(&c.EvalSteps, "eval_steps", c.EvalSteps, "DDIM steps of the evaluation samples")
			fs.Float64Var(&c.EvalGuidance, "eval_guidance", c.EvalGuidance, "guidance of the evaluation samples")
			fs.Uint64Var(&c.EvalSeed, "eval_seed", c.EvalSeed, "seed of the evaluation samples and bootstrap (the same for every model)")
			fs.IntVar(&c.EvalMaxClips, "eval_max_clips", 0, "evaluate at most this many held-out clips (0: all)")
			fs.IntVar(&c.Strips, "strips", c.Strips, "held-out clips shown as frame strips")
			fs.IntVar(&c.Bootstrap, "bootstrap", c.Bootstrap, "bootstrap resamples behind every interval")
			fs.BoolVar(&c.HeldoutPairs, "heldout_pairs", false, "also generate negatives for the held-out clips and report the DPO implicit accuracy on them")
		},
		Run:       runExperiment,
		UsesBeam:  true,
		Composite: true,
	})
}

// parseSeeds reads a comma-separated list of seeds.
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		v, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seeds: %q is not a seed", part)
		}
		out = append(out, v)
	}
	return out, nil
}

func runExperiment(ctx context.Context) error {
	c := experimentCfg
	var err error
	if c.Seeds, err = parseSeeds(experimentFlags.seeds); err != nil {
		return err
	}
	rep, err := experiment.Run(ctx, c)
	if err != nil {
		return err
	}
	fmt.Print(experiment.Summary(rep))
	fmt.Printf("\nreport: %s\n        %s\n", fsx.JoinPath(c.Output, experiment.ReportHTML), fsx.JoinPath(c.Output, experiment.ReportJSON))
	return nil
}
