package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/eval"
	"realdpo/schemas"
	"realdpo/transforms/evaluate"
)

var evalFlags struct {
	cfg         schemas.EvalConfig
	models      string
	reference   string
	compare     string
	stripModels string
}

func init() {
	register(&subcommand{
		Name:    "eval",
		Summary: "sample each model from held-out real clips and compare motion, features, first frames and sharpness with the real clips; report.html + report.json",
		Flags: func(fs *flag.FlagSet) {
			d := eval.DefaultConfig()
			c := &evalFlags.cfg
			fs.StringVar(&c.Dataset, "dataset", "", "held-out curated dataset: a directory or gs:// prefix with manifest.jsonl, clips/ and first_frames/")
			fs.StringVar(&evalFlags.models, "models", evaluate.BaseName, "models to compare, in report order: NAME=CHECKPOINT,... (local or gs:// .safetensors); a bare 'base' is the built-in base model; GROUP@SEED names (sft@1,sft@2) form a group averaged over training seeds")
			fs.StringVar(&c.Output, "output", "", "report directory (local or gs://): report.html and report.json")
			fs.StringVar(&c.Pairs, "pairs", "", "held-out pair set (directory or gs:// prefix with index.json): adds the DPO implicit accuracy")
			fs.StringVar(&evalFlags.reference, "reference", evaluate.BaseName, "DPO reference model: a name from --models, or 'base' for the built-in model")
			fs.IntVar(&c.Samples, "samples", d.Samples, "samples per clip and model")
			fs.IntVar(&c.Steps, "steps", d.Steps, "DDIM sampling steps")
			fs.Float64Var(&c.Guidance, "guidance", d.Guidance, "classifier-free guidance scale (1 disables it and halves the cost)")
			fs.Uint64Var(&c.Seed, "seed", d.Seed, "seed for the samples' noise and the DPO timestep and noise (same for every model)")
			fs.IntVar(&c.Strips, "strips", d.Strips, "clips shown as frame strips in report.html")
			fs.IntVar(&c.MaxClips, "max_clips", 0, "evaluate at most this many clips, first by id (0: all)")
			fs.IntVar(&c.MaxPairs, "max_pairs", 0, "score at most this many pairs, in index order (0: all)")
			fs.Float64Var(&c.Beta, "beta", d.Beta, "DPO beta for the reported inside values (the accuracy does not depend on it)")
			fs.IntVar(&c.Bootstrap, "bootstrap", d.Bootstrap, "bootstrap resamples of the held-out clips behind every 95% interval")
			fs.StringVar(&evalFlags.compare, "compare", "", "paired comparisons A:B,... between groups (A minus B); empty: every group against every earlier one")
			fs.StringVar(&evalFlags.stripModels, "strip_models", "", "models shown in the frame strips, comma-separated (empty: all)")
		},
		Run: runEval,
		Pipeline: func(ctx context.Context) (*beam.Pipeline, error) {
			cfg, err := evalConfig()
			if err != nil {
				return nil, err
			}
			return eval.Pipeline(ctx, cfg)
		},
		UsesBeam: true,
	})
}

// evalConfig is the configuration the eval flags describe.
func evalConfig() (schemas.EvalConfig, error) {
	cfg := evalFlags.cfg
	ms, err := eval.ParseModels(evalFlags.models)
	if err != nil {
		return cfg, err
	}
	cfg.Models = ms
	if cfg.Compare, err = evaluate.ParseCompare(evalFlags.compare); err != nil {
		return cfg, err
	}
	cfg.StripModels = nil
	for _, n := range strings.Split(evalFlags.stripModels, ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.StripModels = append(cfg.StripModels, n)
		}
	}
	return cfg, eval.ResolveReference(&cfg, evalFlags.reference)
}

func runEval(ctx context.Context) error {
	cfg, err := evalConfig()
	if err != nil {
		return err
	}
	rep, err := eval.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("eval: %d real clips, %d samples, %d pairs, %d rejects\n\n", rep.Counts["clips_evaluated"], rep.Counts["samples"],
		rep.Counts["pairs"], rep.Counts["rejects"])
	fmt.Print(evaluate.FormatTable(rep))
	fmt.Printf("\nreport: %s\n        %s\n", joinOut(cfg.Output, evaluate.ReportHTML), joinOut(cfg.Output, evaluate.ReportJSON))
	return nil
}

func joinOut(dir, name string) string {
	if len(dir) > 0 && dir[len(dir)-1] == '/' {
		return dir + name
	}
	return dir + "/" + name
}
