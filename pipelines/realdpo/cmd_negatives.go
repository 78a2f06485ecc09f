package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/negatives"
)

var negFlags struct {
	cfg              negatives.Config
	acceleratorType  string
	acceleratorCount int
}

func init() {
	register(&subcommand{
		Name:    "negatives",
		Summary: "generate the rejected samples: per_clip videos per curated clip from its first frame and caption (local model or a generation service)",
		Flags: func(fs *flag.FlagSet) {
			c := &negFlags.cfg
			d := negatives.DefaultConfig("", "")
			fs.StringVar(&c.Dataset, "dataset", "", "curated dataset root (manifest.jsonl, first_frames/): a local directory or gs://BUCKET/PREFIX")
			fs.StringVar(&c.Output, "output", "", "negatives root (negatives/CLIP_ID/K.mp4, negatives.jsonl, negatives_failed.jsonl, negatives_stats.json): local or gs://")
			fs.IntVar(&c.PerClip, "per_clip", d.PerClip, "negatives generated per clip (RealDPO: 3)")
			fs.IntVar(&c.Steps, "steps", d.Steps, "DDIM sampling steps (RealDPO: 50)")
			fs.Float64Var(&c.Guidance, "guidance", d.Guidance, "classifier-free guidance scale (RealDPO: 6.0)")
			fs.StringVar(&c.Model, "model", "", "local generator checkpoint (.safetensors); empty: the built-in base model")
			fs.StringVar(&c.GeneratorURL, "generator_url", "", "use a remote generation service (realdpo-generate/1 JSON API, see transforms/generate) instead of the local model")
			fs.StringVar(&c.GeneratorKeyFile, "generator_api_key_file", "", "file holding the --generator_url API key (sent as a bearer token); default: the REALDPO_GENERATOR_API_KEY environment variable. Read on each worker, never logged or recorded")
			fs.IntVar(&c.HTTPConcurrency, "generator_concurrency", 4, "requests in flight per worker to --generator_url")
			fs.DurationVar(&c.HTTPTimeout, "generator_timeout", 10*time.Minute, "deadline of one request to --generator_url")
			fs.IntVar(&c.HTTPRetries, "generator_retries", 5, "retries of a failed request to --generator_url (exponential backoff)")
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
	reasons := make([]string, 0, len(st.ByReason))
	for r := range st.ByReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Printf("  failed %-14s %d\n", r, st.ByReason[r])
	}
	fmt.Printf("clips=%d negatives=%d (of %d) failures=%d generation=%.1fs wall=%.1fs\n",
		st.Clips, st.Negatives, st.Clips*st.PerClip, st.Failures, st.WallS, time.Since(t0).Seconds())
	return nil
}
