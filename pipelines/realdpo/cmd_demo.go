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
)

var demoFlags struct {
	workdir string
	count   int
	seed    uint64
	runner  string
}

func init() {
	register(&subcommand{
		Name:    "demo",
		Summary: "run the main job end to end on footage the project generates itself (prism runner, local files)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&demoFlags.workdir, "workdir", "out/demo", "directory for every stage's output")
			fs.IntVar(&demoFlags.count, "count", 24, "footage files to generate")
			fs.Uint64Var(&demoFlags.seed, "seed", 2026, "footage seed (the built-in base model was trained on other seeds)")
		},
		Run: runDemo,
	})
}

// demoStage is one step of the demo, run through this same binary's CLI so
// the demo exercises exactly what a user would type.
type demoStage struct {
	name string
	args []string
	// needs names the subcommand that must exist; stages of later issues are
	// skipped with a message until their subcommand lands.
	needs string
}

func runDemo(ctx context.Context) error {
	wd, err := filepath.Abs(demoFlags.workdir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo: locate realdpo binary: %w", err)
	}
	footage := filepath.Join(wd, "footage")
	dataset := filepath.Join(wd, "dataset")
	stages := []demoStage{
		{"synth", []string{"synth", "--output=" + footage, fmt.Sprint("--count=", demoFlags.count), fmt.Sprint("--seed=", demoFlags.seed),
			"--sizes=640x360,854x480", "--max_seconds=10", "--contact_sheet"}, "synth"},
		{"curate", []string{"curate", "--input=" + footage, "--output=" + dataset, "--profile=demo"}, "curate"},
	}
	start := time.Now()
	for _, st := range stages {
		if _, ok := subcommands[st.needs]; !ok {
			slog.Warn("demo: stage not built yet, skipped", "stage", st.name)
			continue
		}
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
	if _, ok := subcommands["curate"]; ok {
		fmt.Printf("  RealAction dataset:       %s (dataset card: %s)\n", dataset, filepath.Join(dataset, "README.md"))
	}
	return nil
}
