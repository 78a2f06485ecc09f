package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"realdpo/transforms/config"
	"realdpo/transforms/synth"
)

// synthFlags is filled by the flags: the config (defaults: DefaultConfig's)
// and the lists the command parses into it.
var synthFlags = struct {
	cfg                 synth.Config
	sizes, fps, defects string
}{cfg: synth.DefaultConfig()}

func init() {
	register(&subcommand{
		Name:    "synth",
		Summary: "render labelled footage of people doing everyday actions, with ground truth",
		Flags: func(fs *flag.FlagSet) {
			f := &synthFlags
			b := bind(fs, &f.cfg)
			fs.StringVar(&f.sizes, "sizes", "", "comma-separated landscape sizes WxH to draw from (default 640x360,854x480,960x540,1280x720)")
			fs.StringVar(&f.fps, "fps", "", "comma-separated frame rates to draw from (default 24,25,30)")
			fs.StringVar(&f.defects, "defects", "", "comma-separated defect kinds to inject (default all: "+strings.Join(synth.AllDefects, ",")+")")
			b.Alias("Sizes", "sizes")
			b.Alias("FPS", "fps")
			b.Alias("Defects", "defects")
		},
		Run: runSynth,
	})
}

func runSynth(ctx context.Context) error {
	f := &synthFlags
	cfg := f.cfg
	var err error
	if cfg.Sizes, err = parseSizes(f.sizes); err != nil {
		return err
	}
	if cfg.FPS, err = parseFloats(f.fps); err != nil {
		return config.Errorf("synth", "FPS", ": %v", err)
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
	slog.Info("synth done", "files", len(truth), "defective", defective, "ground_truth", cfg.Output+"/"+synth.GroundTruthFile)
	return nil
}

func parseSizes(s string) ([]synth.Size, error) {
	var out []synth.Size
	for _, part := range splitList(s) {
		w, h, ok := strings.Cut(part, "x")
		wi, err1 := strconv.Atoi(w)
		hi, err2 := strconv.Atoi(h)
		if !ok || err1 != nil || err2 != nil {
			return nil, config.Errorf("synth", "Sizes", ": %q is not WxH", part)
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
