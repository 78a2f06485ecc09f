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
		Name:    "train",
		Summary: "RealDPO (or SFT baseline) training of the model on a pair set, as a Beam pipeline with checkpoints, resume, metrics and plots",
		Flags: func(fs *flag.FlagSet) {
			c := &trainCfg
			fs.StringVar(&c.Pairs, "pairs", "", "pair set: a directory or gs:// prefix holding index.json and pairs-NNNNNN.tar shards")
			fs.StringVar(&c.Init, "init", "", "checkpoint to start from (local or gs://); empty: the built-in base model")
			fs.StringVar(&c.Output, "output", "", "run directory (local or gs://): checkpoints, final.safetensors, metrics.jsonl, plots; an existing run there resumes")
			fs.StringVar(&c.Objective, "objective", c.Objective, "dpo (RealDPO: real clip wins over each generated one) or sft (fine-tune on the real clips: the paper's SFT baseline)")
			fs.IntVar(&c.Steps, "steps", c.Steps, "optimiser steps in all (a resumed run continues up to this)")
			fs.IntVar(&c.Batch, "batch", c.Batch, "pairs (dpo) or clips (sft) per step")
			fs.Float64Var(&c.LR, "lr", c.LR, "peak AdamW learning rate (same default for dpo and sft, for a fair baseline)")
			fs.IntVar(&c.Warmup, "warmup", c.Warmup, "linear learning-rate warm-up steps")
			fs.Float64Var(&c.WeightDecay, "weight_decay", c.WeightDecay, "AdamW decoupled weight decay")
			fs.Float64Var(&c.ClipNorm, "clip_norm", c.ClipNorm, "global gradient-norm clipping (0: off)")
			fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed for the data order, timesteps and noise")
			fs.Float64Var(&c.Beta, "beta", c.Beta, "dpo: beta, the implicit reward scale for per-sample v-MSE averaged over elements")
			fs.Float64Var(&c.SFTWeight, "sft_weight", c.SFTWeight, "dpo: lambda, weight of the added SFT term lambda*Lw on the real clip (0: pure DPO)")
			fs.StringVar(&c.Reduction, "reduction", c.Reduction, "dpo: sum (reference code) or mean of the per-negative losses")
			fs.IntVar(&c.EMAEvery, "ema_every", c.EMAEvery, "dpo: move the reference toward the policy every this many steps (0: frozen reference)")
			fs.Float64Var(&c.EMARate, "ema_rate", c.EMARate, "dpo: EMA rate: ref = (1-rate) ref + rate policy")
			fs.IntVar(&c.RegenerateEvery, "regenerate_every", 0, "dpo: regenerate every pair's negatives from the current EMA reference every this many steps (0: off)")
			fs.IntVar(&c.RegenerateSteps, "regenerate_steps", c.RegenerateSteps, "DDIM steps for regenerated negatives")
			fs.Float64Var(&c.RegenerateGuidance, "regenerate_guidance", c.RegenerateGuidance, "classifier-free guidance for regenerated negatives")
			fs.Float64Var(&c.CondDrop, "cond_drop", c.CondDrop, "sft: probability of dropping the caption (keeps guidance working)")
			fs.IntVar(&c.CheckpointEvery, "checkpoint_every", c.CheckpointEvery, "write a resumable checkpoint every this many steps (0: only the final one)")
			fs.IntVar(&c.KeepCheckpoints, "keep_checkpoints", c.KeepCheckpoints, "keep this many newest checkpoints (0: all)")
			fs.Float64Var(&c.LogEverySeconds, "log_every", c.LogEverySeconds, "seconds between progress lines")
		},
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
