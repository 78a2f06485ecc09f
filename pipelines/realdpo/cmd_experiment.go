package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"realdpo/pipelines/experiment"
	"realdpo/transforms/config"
	"realdpo/transforms/fsx"
)

var experimentFlags struct {
	seeds string
}

// experimentCfg is filled by the flags; defaults are DefaultConfig's.
var experimentCfg = experiment.DefaultConfig()

func init() {
	register(&subcommand{
		Name:    "experiment",
		Summary: "negatives from the base, RealDPO and SFT from the base at several seeds, eval on held-out clips: experiment.html + experiment.json with intervals, seed spread, curves and strips",
		Flags: func(fs *flag.FlagSet) {
			bind(fs, &experimentCfg).Alias("Seeds", "seeds")
			fs.StringVar(&experimentFlags.seeds, "seeds", "1,2,3", "training seeds: one RealDPO and one SFT run each")
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
			return nil, config.Errorf("experiment", "Seeds", ": %q is not a seed", part)
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
