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

// evalFlags is filled by the flags: the config (defaults: DefaultConfig's)
// and the lists the command parses into it.
var evalFlags = struct {
	cfg         schemas.EvalConfig
	models      string
	reference   string
	compare     string
	stripModels string
}{cfg: eval.DefaultConfig()}

func init() {
	register(&subcommand{
		Name:    "eval",
		Summary: "sample each model from held-out real clips and compare motion, features, first frames and sharpness with the real clips; report.html + report.json",
		Flags: func(fs *flag.FlagSet) {
			b := bind(fs, &evalFlags.cfg)
			fs.StringVar(&evalFlags.models, "models", evaluate.BaseName, "models to compare, in report order: NAME=CHECKPOINT,... (local or gs:// .safetensors); a bare 'base' is the built-in base model; GROUP@SEED names (sft@1,sft@2) form a group averaged over training seeds")
			fs.StringVar(&evalFlags.reference, "reference", evaluate.BaseName, "DPO reference model: a name from --models, or 'base' for the built-in model")
			fs.StringVar(&evalFlags.compare, "compare", "", "paired comparisons A:B,... between groups (A minus B); empty: every group against every earlier one")
			fs.StringVar(&evalFlags.stripModels, "strip_models", "", "models shown in the frame strips, comma-separated (empty: all)")
			b.Alias("Models", "models")
			b.Alias("Reference", "reference")
			b.Alias("Compare", "compare")
			b.Alias("StripModels", "strip_models")
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
