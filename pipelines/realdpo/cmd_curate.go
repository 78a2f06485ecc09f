package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/curate"
	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/fsx"
	"realdpo/transforms/stage"
	"realdpo/transforms/topic"
)

// curateFlags hold the command's own flags and the configuration the
// others fill. Only the flags given override the --profile's defaults
// (curateConfig), so the thresholds follow the profile chosen.
var curateFlags struct {
	profile, topics string
	printTopics     bool
	cfg             schemas.CurateConfig
	binding         *config.Binding
}

func init() {
	register(&subcommand{
		Name:    "curate",
		Summary: "turn a folder or gs:// prefix of raw footage into a RealAction dataset (clips, first frames, manifest, rejects, stats, card)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&curateFlags.profile, "profile", schemas.ProfileRealAction, "clip spec: realaction (49 frames at 8 fps, 720x480) or demo (17 frames at 8 fps, 96x64)")
			fs.StringVar(&curateFlags.topics, "topics", "", "topics file (categories and their keywords, see `realdpo curate --print_topics`); default: the embedded RealAction topics")
			fs.BoolVar(&curateFlags.printTopics, "print_topics", false, "print the embedded topics file (to copy and edit) and exit")
			// The defaults shown are the realaction profile's.
			curateFlags.cfg, _ = curate.NewConfig("", "", schemas.ProfileRealAction)
			curateFlags.binding = bind(fs, &curateFlags.cfg)
		},
		Run:      runCurate,
		Pipeline: curatePipeline,
		UsesBeam: true,
	})
}

// curateConfig is the configuration the curate flags describe (refresh
// takes the same flags).
func curateConfig() (schemas.CurateConfig, error) {
	cfg, err := curate.NewConfig("", "", curateFlags.profile)
	if err != nil {
		return cfg, err
	}
	curateFlags.binding.CopySet(&cfg)
	if curateFlags.topics != "" {
		data, err := fsx.ReadFile(context.Background(), curateFlags.topics, topic.MaxFileBytes)
		if err != nil {
			return cfg, fmt.Errorf("curate: --topics: %w", err)
		}
		if cfg.Review.Topics, err = topic.Parse(data); err != nil {
			return cfg, fmt.Errorf("curate: --topics %s: %w", curateFlags.topics, err)
		}
		cfg.Review.TopicsFile = curateFlags.topics
	}
	return cfg, nil
}

// curatePipeline builds the curate pipeline from the flags without running
// it (--dry_run).
func curatePipeline(ctx context.Context) (*beam.Pipeline, error) {
	cfg, err := curateConfig()
	if err != nil {
		return nil, err
	}
	return curate.Pipeline(cfg)
}

func runCurate(ctx context.Context) error {
	if curateFlags.printTopics {
		fmt.Print(topic.DefaultText())
		return nil
	}
	cfg, err := curateConfig()
	if err != nil {
		return err
	}
	st, err := curate.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("curate: %s -> %s (profile %s)\n", cfg.Input, cfg.Output, cfg.Profile.Name)
	printByReason("rejected", st.InputsRejectedByReason)
	fmt.Println(st.AccountingLine())
	if advice := stage.AdviceText(st); advice != "" {
		fmt.Fprint(os.Stderr, "curate: "+advice)
	}
	return nil
}
