package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"realdpo/pipelines/experiment"
)

// demoFlags is filled by the flags.
var demoFlags = struct {
	Workdir     string `flag:"workdir" help:"directory for every stage's output"`
	Count       int    `flag:"count" help:"footage files to generate"`
	Seed        uint64 `flag:"seed" help:"footage seed; held-out footage uses seed+1 (the built-in base model was trained on seed 9001)"`
	Heldout     int    `flag:"heldout" help:"held-out footage files for the evaluation"`
	TrainSteps  int    `flag:"train_steps" help:"RealDPO and SFT training steps"`
	Seeds       string `flag:"seeds" help:"training seeds of each fine-tune (one: no seed spread; the experiment's default is 1,2,3)"`
	EvalSamples int    `flag:"eval_samples" help:"samples per held-out clip and model"`
	Bootstrap   int    `flag:"bootstrap" help:"bootstrap resamples behind the report's intervals"`
}{Workdir: "out/demo", Count: 24, Seed: 2026, Heldout: 8, TrainSteps: 40, Seeds: "1", EvalSamples: 1, Bootstrap: 1000}

func init() {
	register(&subcommand{
		Name:    "demo",
		Summary: "run the main job end to end on footage the project generates itself (prism runner, local files)",
		Flags:   func(fs *flag.FlagSet) { bind(fs, &demoFlags) },
		Run:     runDemo,
	})
}

// demoStage is one step of the demo, run through this same binary's CLI so
// the demo exercises exactly what a user would type.
type demoStage struct {
	name string
	args []string
}

// The demo's settings are sized for two CPU cores and 15 minutes: few DDIM
// steps for the negatives and the evaluation samples, tens of training
// steps. The held-out footage comes from its own seed, so evaluation never
// sees a training clip; the base model was trained on yet another seed.
func runDemo(ctx context.Context) error {
	wd, err := filepath.Abs(demoFlags.Workdir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: locate realdpo binary: %w", err)
	}
	p := func(name string) string { return filepath.Join(wd, name) }
	footage, dataset := p("footage"), p("dataset")
	heldFootage, held := p("heldout_footage"), p("heldout")
	stages := []demoStage{
		{"synth", []string{"synth", "--output=" + footage, fmt.Sprint("--count=", demoFlags.Count), fmt.Sprint("--seed=", demoFlags.Seed),
			"--sizes=640x360,854x480", "--max_seconds=10", "--contact_sheet"}},
		{"curate", []string{"curate", "--input=" + footage, "--output=" + dataset, "--profile=demo"}},
		{"synth held-out", []string{"synth", "--output=" + heldFootage, fmt.Sprint("--count=", demoFlags.Heldout), fmt.Sprint("--seed=", demoFlags.Seed+1),
			"--sizes=640x360", "--max_seconds=8", "--defect_share=0"}},
		{"curate held-out", []string{"curate", "--input=" + heldFootage, "--output=" + held, "--profile=demo"}},
		// One experiment at the demo's size: negatives from the base, RealDPO
		// and SFT at each seed, eval on the held-out clips with intervals.
		{"experiment", []string{"experiment", "--dataset=" + dataset, "--heldout=" + held, "--output=" + p("experiment"),
			"--seeds=" + demoFlags.Seeds, "--negatives_per_clip=2", "--negative_steps=8", "--negative_guidance=3",
			fmt.Sprint("--train_steps=", demoFlags.TrainSteps), "--lr=1e-4", "--beta=5000", "--sft_weight=1000",
			"--ema_every=10", "--ema_rate=0.05", "--checkpoint_every=20",
			fmt.Sprint("--eval_samples=", demoFlags.EvalSamples), "--eval_steps=10", "--eval_guidance=3", "--strips=4",
			fmt.Sprint("--bootstrap=", demoFlags.Bootstrap), "--heldout_pairs"}},
	}
	start := time.Now()
	for _, st := range stages {
		slog.Info("demo: stage", "stage", st.name, "args", st.args)
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, self, st.args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("demo: stage %s: %w", st.name, err)
		}
		slog.Info("demo: stage done", "stage", st.name, "elapsed", time.Since(t0).Round(time.Second))
	}
	fmt.Printf("\nrealdpo demo finished in %s\n", time.Since(start).Round(time.Second))
	fmt.Printf("  footage and ground truth: %s (contact sheet: %s)\n", footage, filepath.Join(footage, "contact_sheet.png"))
	fmt.Printf("  RealAction dataset:       %s (dataset card: %s)\n", dataset, filepath.Join(dataset, "README.md"))
	exp := p("experiment")
	fmt.Printf("  preference pairs:         %s (index: %s)\n", filepath.Join(exp, "pairs"), filepath.Join(exp, "pairs", "index.json"))
	fmt.Printf("  RealDPO and SFT runs:     %s (plots in each run's plots/)\n", filepath.Join(exp, "train"))
	fmt.Printf("  evaluation report:        %s\n", filepath.Join(exp, "eval", "report.html"))
	fmt.Printf("  experiment report:        %s\n", filepath.Join(exp, "experiment.html"))
	if rep, err := experiment.ReadReport(ctx, exp); err == nil {
		fmt.Println("\nHow far the demo's numbers can be trusted:")
		for _, n := range experiment.TrustNotes(rep) {
			fmt.Println("  - " + n)
		}
	}
	return nil
}
