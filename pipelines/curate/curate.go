// Package curate is the curation pipeline: raw footage in a directory or a
// gs:// prefix becomes a RealAction dataset (normalised clips, first frames,
// manifest, rejects, stats and a dataset card), every decision measured and
// recorded.
package curate

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/schemas"
	tc "realdpo/transforms/curate"
	"realdpo/transforms/dedup"
	"realdpo/transforms/runner"
	"realdpo/transforms/stage"
	"realdpo/transforms/topic"
)

// NewConfig is the configuration for a profile with its documented default
// thresholds.
func NewConfig(input, output, profile string) (schemas.CurateConfig, error) {
	p, err := schemas.ProfileByName(profile)
	if err != nil {
		return schemas.CurateConfig{}, err
	}
	r := schemas.DefaultReviewConfig()
	r.Topics, r.TopicsFile = topic.Default(), topic.DefaultFile
	return schemas.CurateConfig{Input: input, Output: output, Profile: p, Thresholds: schemas.DefaultThresholds(p), Review: r}, nil
}

// ValidateReview checks the captioning, topic and dedup settings.
func ValidateReview(r schemas.ReviewConfig) error {
	known := map[string]bool{schemas.CaptionerVLM: true, schemas.CaptionerSidecar: true, schemas.CaptionerTemplate: true}
	switch {
	case !known[r.Captioner]:
		return fmt.Errorf("curate: --captioner=%q: want vlm, sidecar or template", r.Captioner)
	case r.Fallback != "" && r.Fallback != "none" && !known[r.Fallback]:
		return fmt.Errorf("curate: --caption_fallback=%q: want template, sidecar, vlm or none", r.Fallback)
	case r.Judge != "" && r.Judge != "none" && r.Judge != schemas.CaptionerVLM:
		return fmt.Errorf("curate: --judge=%q: want vlm or none", r.Judge)
	case len(r.Topics.Topics) == 0:
		return fmt.Errorf("curate: no topics (the topics file has no categories)")
	}
	if lo, hi := r.CaptionBounds(); hi > 0 && lo > hi {
		return fmt.Errorf("curate: caption word bounds %d..%d are empty", lo, hi)
	}
	if tc.NeedsFrames(r) {
		v := r.VLM
		switch {
		case strings.TrimSpace(v.BaseURL) == "" || strings.TrimSpace(v.Model) == "":
			return fmt.Errorf("curate: the vlm captioner or judge needs --vlm_base_url and --vlm_model")
		case v.Frames < 1 || v.Frames > 64:
			return fmt.Errorf("curate: --vlm_frames=%d: want 1..64", v.Frames)
		case v.MaxAttempts < 1 || v.Concurrency < 1 || v.Timeout <= 0:
			return fmt.Errorf("curate: --vlm_max_attempts, --vlm_concurrency and --vlm_timeout must be positive")
		}
	}
	if r.DedupKeyframes < 1 {
		return fmt.Errorf("curate: --dedup_keyframes must be at least 1")
	}
	if !r.DedupOff {
		if err := dedup.OptionsFrom(r).Validate(); err != nil {
			return fmt.Errorf("curate: %w", err)
		}
	}
	return nil
}

// Validate checks a configuration before a pipeline is built from it.
func Validate(cfg schemas.CurateConfig) error {
	switch {
	case strings.TrimSpace(cfg.Input) == "":
		return fmt.Errorf("curate: --input is required")
	case strings.TrimSpace(cfg.Output) == "":
		return fmt.Errorf("curate: --output is required")
	case cfg.Profile.Frames <= 0 || cfg.Profile.FPS <= 0 || cfg.Profile.Width <= 0 || cfg.Profile.Height <= 0:
		return fmt.Errorf("curate: bad profile %+v", cfg.Profile)
	case cfg.Profile.Width%2 != 0 || cfg.Profile.Height%2 != 0:
		return fmt.Errorf("curate: profile size %dx%d must be even for yuv420p", cfg.Profile.Width, cfg.Profile.Height)
	case cfg.Thresholds.AnalysisWidth < 32:
		return fmt.Errorf("curate: analysis width %d is too small", cfg.Thresholds.AnalysisWidth)
	}
	if err := ValidateReview(cfg.Review); err != nil {
		return err
	}
	in, out := absPath(cfg.Input), absPath(cfg.Output)
	if in == out || strings.HasPrefix(out, in+"/") {
		return fmt.Errorf("curate: output %s must not be inside the input %s (its clips would be read back as inputs)", cfg.Output, cfg.Input)
	}
	return nil
}

// Build adds the curation graph to s: match (with sidecars), probe, analyse
// and split, filter, normalise (with fingerprints), caption, topic filter,
// deduplicate, settle the clip files, write. Call Validate first: an
// invalid dedup setting cannot be built.
func Build(s beam.Scope, cfg schemas.CurateConfig) {
	BuildFrom(s, cfg, tc.MatchInputs(s, cfg.Input))
}

// BuildFrom adds the curation graph after the match: sources is a
// PCollection of schemas.SourceFile (a refresh passes only the new and
// changed ones).
func BuildFrom(s beam.Scope, cfg schemas.CurateConfig, sources beam.PCollection) {
	probed, probeRejects := tc.Probe(s, cfg, sources)
	candidates, analyseRejects := tc.Analyse(s, cfg, probed)
	kept, filterRejects := tc.Filter(s, cfg, candidates)
	records, normRejects := tc.Normalise(s, cfg, kept)
	captioned, captionRejects := tc.Caption(s, cfg, records)
	onTopic, topicRejects := tc.Topic(s, cfg, captioned)
	semantic := []beam.PCollection{captionRejects, topicRejects}
	final := onTopic
	if !cfg.Review.DedupOff {
		unique, dupRejects, err := tc.Dedup(s, cfg, onTopic)
		if err != nil {
			panic(fmt.Sprintf("curate: %v (Validate the configuration before Build)", err))
		}
		final = unique
		semantic = append(semantic, dupRejects)
	}
	clipRejects := beam.Flatten(s, semantic...)
	final = tc.Finalise(s, cfg, final, clipRejects)
	rejects := beam.Flatten(s, probeRejects, analyseRejects, filterRejects, normRejects, clipRejects)
	tc.WriteDataset(s, cfg, sources, final, rejects)
}

// Run builds and runs the pipeline on the runner chosen by Beam's flags
// (prism by default), then reads back stats.json.
func Run(ctx context.Context, cfg schemas.CurateConfig) (schemas.CurateStats, error) {
	if err := Validate(cfg); err != nil {
		return schemas.CurateStats{}, err
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg)
	if err := runner.Run(ctx, p); err != nil {
		return schemas.CurateStats{}, fmt.Errorf("curate pipeline: %w", err)
	}
	st, err := tc.ReadStats(ctx, cfg.Output)
	if err != nil {
		return st, err
	}
	if st.Inputs != st.InputsAccepted+st.InputsRejected {
		return st, fmt.Errorf("curate: accounting broken: %s", st.AccountingLine())
	}
	return st, nil
}

func absPath(p string) string {
	p = strings.TrimSuffix(p, "/")
	if stage.IsRemote(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
