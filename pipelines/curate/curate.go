// Package curate is the curation pipeline: raw footage in a directory or a
// gs:// prefix becomes a RealAction dataset (normalised clips, first frames,
// manifest, rejects, stats and a dataset card), every decision measured and
// recorded.
package curate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	_ "realdpo/transforms/fsx/gcsfs" // every pipeline reads and writes gs:// as well as local paths

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/curation"
	"realdpo/transforms/dataset"
	"realdpo/transforms/dedup"
	"realdpo/transforms/fsx"
	"realdpo/transforms/runner"
	"realdpo/transforms/stage"
	"realdpo/transforms/topic"
)

// Config is one curate run (defaults: NewConfig; checks: Validate).
type Config = schemas.CurateConfig

// NewConfig is the configuration for a profile with its documented default
// thresholds.
func NewConfig(input, output, profile string) (schemas.CurateConfig, error) {
	p, err := schemas.ProfileByName(profile)
	if err != nil {
		return schemas.CurateConfig{}, err
	}
	r := stage.DefaultReviewConfig()
	r.Topics, r.TopicsFile = topic.Default(), topic.DefaultFile
	return schemas.CurateConfig{Input: input, Output: output, Profile: p, Thresholds: stage.DefaultThresholds(p), Review: r}, nil
}

// ValidateReview checks the captioning, topic and dedup settings.
func ValidateReview(r schemas.ReviewConfig) error {
	known := map[string]bool{schemas.CaptionerVLM: true, schemas.CaptionerSidecar: true, schemas.CaptionerTemplate: true}
	switch {
	case !known[r.Captioner]:
		return config.Errorf("curate", "Captioner", "=%q: want vlm, sidecar or template", r.Captioner)
	case r.Fallback != "" && r.Fallback != "none" && !known[r.Fallback]:
		return config.Errorf("curate", "Fallback", "=%q: want template, sidecar, vlm or none", r.Fallback)
	case r.Judge != "" && r.Judge != "none" && r.Judge != schemas.CaptionerVLM:
		return config.Errorf("curate", "Judge", "=%q: want vlm or none", r.Judge)
	case len(r.Topics.Topics) == 0:
		return fmt.Errorf("curate: no topics (the topics file has no categories)")
	}
	if lo, hi := r.CaptionBounds(); hi > 0 && lo > hi {
		return config.Errorf("curate", "MinCaptionWords", " and {MaxCaptionWords} leave no caption length: %d..%d", lo, hi)
	}
	if curation.NeedsFrames(r) {
		v := r.VLM
		switch {
		case strings.TrimSpace(v.BaseURL) == "":
			return config.Errorf("curate", "VLM.BaseURL", " is required by the vlm captioner or judge")
		case strings.TrimSpace(v.Model) == "":
			return config.Errorf("curate", "VLM.Model", " is required by the vlm captioner or judge")
		case v.Frames < 1 || v.Frames > 64:
			return config.Errorf("curate", "VLM.Frames", "=%d: want 1..64", v.Frames)
		case v.MaxAttempts < 1:
			return config.Errorf("curate", "VLM.MaxAttempts", "=%d must be positive", v.MaxAttempts)
		case v.Concurrency < 1:
			return config.Errorf("curate", "VLM.Concurrency", "=%d must be positive", v.Concurrency)
		case v.Timeout <= 0:
			return config.Errorf("curate", "VLM.Timeout", "=%v must be positive", v.Timeout)
		}
	}
	if r.DedupKeyframes < 1 {
		return config.Errorf("curate", "DedupKeyframes", "=%d must be at least 1", r.DedupKeyframes)
	}
	if !r.DedupOff {
		if err := dedup.OptionsFrom(r).Validate(); err != nil {
			var fe *config.FieldError
			if errors.As(err, &fe) { // dedup.Options' fields are the Review's Dedup* ones
				return config.Errorf("curate", "Dedup"+fe.Field, "%s", fe.Msg)
			}
			return fmt.Errorf("curate: %w", err)
		}
	}
	return nil
}

// ValidateThresholds refuses values that make no sense (negative limits,
// timeouts or counts, NaN; each field's `check` tag says which), naming
// the field: a limit of -1 would silently turn the check off.
func ValidateThresholds(t schemas.Thresholds) error {
	if err := config.Check("curate", t); err != nil {
		return err
	}
	if t.MinLuma >= t.MaxLuma {
		return config.Errorf("curate", "MinLuma", "=%v must be below {MaxLuma}=%v", t.MinLuma, t.MaxLuma)
	}
	return nil
}

// Validate checks a configuration before a pipeline is built from it.
func Validate(cfg schemas.CurateConfig) error {
	if err := config.Check("curate", cfg); err != nil {
		return err
	}
	switch {
	case cfg.Profile.Frames <= 0 || cfg.Profile.FPS <= 0 || cfg.Profile.Width <= 0 || cfg.Profile.Height <= 0:
		return fmt.Errorf("curate: bad profile %+v", cfg.Profile)
	case cfg.Profile.Width%2 != 0 || cfg.Profile.Height%2 != 0:
		return fmt.Errorf("curate: profile size %dx%d must be even for yuv420p", cfg.Profile.Width, cfg.Profile.Height)
	case cfg.Thresholds.AnalysisWidth < 32:
		return config.Errorf("curate", "Thresholds.AnalysisWidth", "=%d is too small (at least 32)", cfg.Thresholds.AnalysisWidth)
	}
	if err := ValidateThresholds(cfg.Thresholds); err != nil {
		return config.Nest("Thresholds", err)
	}
	if err := ValidateReview(cfg.Review); err != nil {
		return config.Nest("Review", err)
	}
	// Resolved: an output that is a symlink into the input is inside it.
	if fsx.Within(cfg.Output, cfg.Input) {
		return config.Errorf("curate", "Output", " %s must not be inside the input {Input} %s (its clips would be read back as inputs; resolved: %s)",
			cfg.Output, cfg.Input, fsx.ResolvePath(cfg.Output))
	}
	return nil
}

// Build adds the curation graph to s: match (with sidecars), probe, analyse
// and split, filter, normalise (with fingerprints), caption, topic filter,
// deduplicate, settle the clip files, write. Call Validate first: an
// invalid dedup setting cannot be built.
func Build(s beam.Scope, cfg schemas.CurateConfig) {
	BuildFrom(s, cfg, curation.MatchInputs(s, cfg.Input))
}

// BuildFrom adds the curation graph after the match: sources is a
// PCollection of schemas.SourceFile (a refresh passes only the new and
// changed ones).
func BuildFrom(s beam.Scope, cfg schemas.CurateConfig, sources beam.PCollection) {
	probed, probeRejects := curation.Probe(s, cfg, sources)
	candidates, analyseRejects := curation.Analyse(s, cfg, probed)
	kept, filterRejects := curation.Filter(s, cfg, candidates)
	records, normRejects := curation.Normalise(s, cfg, kept)
	captioned, captionRejects := curation.Caption(s, cfg, records)
	onTopic, topicRejects := curation.Topic(s, cfg, captioned)
	semantic := []beam.PCollection{captionRejects, topicRejects}
	final := onTopic
	if !cfg.Review.DedupOff {
		unique, dupRejects, err := curation.Dedup(s, cfg, onTopic)
		if err != nil {
			panic(fmt.Sprintf("curate: %v (Validate the configuration before Build)", err))
		}
		final = unique
		semantic = append(semantic, dupRejects)
	}
	clipRejects := beam.Flatten(s, semantic...)
	final = curation.Finalise(s, cfg, final, clipRejects)
	rejects := beam.Flatten(s, probeRejects, analyseRejects, filterRejects, normRejects, clipRejects)
	curation.WriteDataset(s, cfg, sources, final, rejects)
}

// Pipeline validates cfg and builds the curation pipeline without running
// it (the Dataflow dry run uses it too).
func Pipeline(cfg Config) (*beam.Pipeline, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg)
	return p, nil
}

// Run builds and runs the pipeline on the runner chosen by Beam's flags
// (prism by default), then reads back stats.json.
func Run(ctx context.Context, cfg Config) (schemas.CurateStats, error) {
	p, err := Pipeline(cfg)
	if err != nil {
		return schemas.CurateStats{}, err
	}
	if err := runner.Run(ctx, p); err != nil {
		return schemas.CurateStats{}, fmt.Errorf("curate pipeline: %w", err)
	}
	st, err := dataset.ReadStats(ctx, cfg.Output)
	if err != nil {
		return st, err
	}
	if st.Inputs != st.InputsAccepted+st.InputsRejected {
		return st, fmt.Errorf("curate: accounting broken: %s", st.AccountingLine())
	}
	return st, nil
}
