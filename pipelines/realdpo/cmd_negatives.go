package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/negatives"
)

// negFlags is filled by the flags: the config (defaults: DefaultConfig's)
// and the resource hint it is given.
var negFlags = struct {
	cfg              negatives.Config
	acceleratorType  string
	acceleratorCount int
}{cfg: negatives.DefaultConfig("", "")}

func init() {
	register(&subcommand{
		Name:    "negatives",
		Summary: "generate the rejected samples: per_clip videos per curated clip from its first frame and caption (local model or a generation service)",
		Flags: func(fs *flag.FlagSet) {
			bind(fs, &negFlags.cfg)
			fs.StringVar(&negFlags.acceleratorType, "accelerator_type", "", "GPU type for the job's workers as a Beam accelerator resource hint (Dataflow: nvidia-tesla-t4, nvidia-l4, ...); empty: no hint")
			fs.IntVar(&negFlags.acceleratorCount, "accelerator_count", 1, "GPUs per worker with --accelerator_type")
		},
		Run: runNegatives,
		Pipeline: func(ctx context.Context) (*beam.Pipeline, error) {
			p, _, err := negatives.Pipeline(ctx, negativesConfig())
			return p, err
		},
		UsesBeam: true,
	})
}

// negativesConfig is the configuration the negatives flags describe.
func negativesConfig() negatives.Config {
	c := negFlags.cfg
	c.Accelerator = negatives.AcceleratorHint(negFlags.acceleratorType, negFlags.acceleratorCount)
	return c
}

func runNegatives(ctx context.Context) error {
	c := negativesConfig()
	t0 := time.Now()
	st, err := negatives.Run(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf("negatives: %s -> %s (%s %s, %d steps, guidance %g)\n", c.Dataset, c.Output, st.Generator, st.GeneratorID, st.Steps, st.Guidance)
	printByReason("failed", st.ByReason)
	fmt.Printf("clips=%d negatives=%d (of %d) failures=%d generation=%.1fs wall=%.1fs\n",
		st.Clips, st.Negatives, st.Clips*st.PerClip, st.Failures, st.WallS, time.Since(t0).Seconds())
	return nil
}
