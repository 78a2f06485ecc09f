package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"

	"realdpo/transforms/synth"
)

var synthFlags struct {
	output, sizes, fps, defects string
	count, workers              int
	seed                        uint64
	defectShare, minS, maxS     float64
	contactSheet                bool
}

func init() {
	register(&subcommand{
		Name:    "synth",
		Summary: "render labelled footage of people doing everyday actions, with ground truth",
		Flags: func(fs *flag.FlagSet) {
			f := &synthFlags
			fs.StringVar(&f.output, "output", "", "directory to write the videos, sidecars and ground_truth.jsonl (required)")
			fs.IntVar(&f.count, "count", 24, "number of files to write")
			fs.Uint64Var(&f.seed, "seed", 1, "seed: the same seed gives the same frames and ground truth")
			fs.Float64Var(&f.defectShare, "defect_share", 0.35, "share of files carrying a labelled defect (0..1)")
			fs.Float64Var(&f.minS, "min_seconds", 4, "shortest clean video, seconds")
			fs.Float64Var(&f.maxS, "max_seconds", 20, "longest clean video, seconds")
			fs.StringVar(&f.sizes, "sizes", "", "comma-separated landscape sizes WxH to draw from (default 640x360,854x480,960x540,1280x720)")
			fs.StringVar(&f.fps, "fps", "", "comma-separated frame rates to draw from (default 24,25,30)")
			fs.StringVar(&f.defects, "defects", "", "comma-separated defect kinds to inject (default all: "+strings.Join(synth.AllDefects, ",")+")")
			fs.IntVar(&f.workers, "workers", 0, "files rendered at once (default: CPUs)")
			fs.BoolVar(&f.contactSheet, "contact_sheet", false, "also write contact_sheet.png, a grid of frames from every file")
		},
		Run: runSynth,
	})
}

func runSynth(ctx context.Context) error {
	f := &synthFlags
	// Nonsense is refused by name: the generator would quietly replace it
	// with its defaults.
	switch {
	case !(f.minS > 0) || math.IsInf(f.minS, 0):
		return fmt.Errorf("synth: --min_seconds=%v must be positive", f.minS)
	case !(f.maxS >= f.minS) || math.IsInf(f.maxS, 0):
		return fmt.Errorf("synth: --max_seconds=%v must be at least --min_seconds=%v", f.maxS, f.minS)
	case !(f.defectShare >= 0 && f.defectShare <= 1):
		return fmt.Errorf("synth: --defect_share=%v must be within [0, 1]", f.defectShare)
	case f.count < 0:
		return fmt.Errorf("synth: --count=%d must not be negative", f.count)
	case f.workers < 0:
		return fmt.Errorf("synth: --workers=%d must not be negative", f.workers)
	}
	cfg := synth.Config{Output: f.output, Count: f.count, Seed: f.seed, DefectShare: f.defectShare,
		MinSeconds: f.minS, MaxSeconds: f.maxS, Workers: f.workers, ContactSheet: f.contactSheet}
	var err error
	if cfg.Sizes, err = parseSizes(f.sizes); err != nil {
		return err
	}
	if cfg.FPS, err = parseFloats(f.fps); err != nil {
		return fmt.Errorf("--fps: %w", err)
	}
	if f.defects != "" {
		cfg.Defects = strings.Split(f.defects, ",")
	}
	truth, err := synth.Generate(ctx, cfg)
	if err != nil {
		return err
	}
	defective := 0
	for _, gt := range truth {
		if len(gt.Defects) > 0 {
			defective++
		}
	}
	slog.Info("synth done", "files", len(truth), "defective", defective, "ground_truth", f.output+"/"+synth.GroundTruthFile)
	return nil
}

func parseSizes(s string) ([]synth.Size, error) {
	var out []synth.Size
	for _, part := range splitList(s) {
		w, h, ok := strings.Cut(part, "x")
		wi, err1 := strconv.Atoi(w)
		hi, err2 := strconv.Atoi(h)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--sizes: %q is not WxH", part)
		}
		out = append(out, synth.Size{W: wi, H: hi})
	}
	return out, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, part := range splitList(s) {
		v, err := strconv.ParseFloat(part, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", part)
		}
		out = append(out, v)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
