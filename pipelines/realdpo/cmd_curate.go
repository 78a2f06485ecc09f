package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/curate"
	"realdpo/schemas"
	"realdpo/transforms/fsx"
	"realdpo/transforms/stage"
	"realdpo/transforms/topic"
)

// curateFlags hold the command's own flags; thresholds left unset take the
// profile's documented defaults.
var curateFlags struct {
	input, output, profile string
	topics                 string
	review                 schemas.ReviewConfig
}

// reviewFlagSet binds the captioning, topic and dedup flags.
func reviewFlagSet(fs *flag.FlagSet, r *schemas.ReviewConfig) {
	*r = stage.DefaultReviewConfig()
	fs.StringVar(&r.Captioner, "captioner", r.Captioner, "vlm (an OpenAI-compatible chat-completions endpoint that takes images), sidecar (NAME.txt, else the sidecar title and tags) or template (category and measured facts)")
	fs.StringVar(&r.Fallback, "caption_fallback", r.Fallback, "captioner for clips the captioner has nothing for (no sidecar text): template, sidecar, vlm or none (reject them)")
	fs.IntVar(&r.MinCaptionWords, "min_caption_words", 0, "reject captions shorter than this many words (caption); 0 = by captioner: 45 for vlm (the paper's captions run 45-185 words), 5 otherwise")
	fs.IntVar(&r.MaxCaptionWords, "max_caption_words", 0, "reject captions longer than this many words (caption); 0 = 185, the paper's longest")
	fs.Float64Var(&r.MaxRepeatShare, "max_caption_repeat", r.MaxRepeatShare, "reject captions in which more than this share of word 3-grams repeat (a model stuck in a loop)")
	fs.StringVar(&r.VLM.BaseURL, "vlm_base_url", "", "OpenAI-compatible API base URL for --captioner=vlm and --judge=vlm, e.g. http://vllm:8000/v1")
	fs.StringVar(&r.VLM.Model, "vlm_model", "", "model name sent to the endpoint, e.g. Qwen/Qwen2.5-VL-7B-Instruct")
	fs.StringVar(&r.VLM.Prompt, "vlm_prompt", r.VLM.Prompt, "captioning prompt (the RealDPO paper's by default)")
	fs.IntVar(&r.VLM.Frames, "vlm_frames", r.VLM.Frames, "evenly spaced frames sent per clip, as base64 JPEG")
	fs.IntVar(&r.VLM.FrameWidth, "vlm_frame_width", r.VLM.FrameWidth, "frames are scaled down to at most this width")
	fs.IntVar(&r.VLM.MaxTokens, "vlm_max_tokens", r.VLM.MaxTokens, "max_tokens per answer; an answer cut off at it is rejected (caption truncated)")
	fs.Float64Var(&r.VLM.Temperature, "vlm_temperature", r.VLM.Temperature, "sampling temperature")
	fs.DurationVar(&r.VLM.Timeout, "vlm_timeout", r.VLM.Timeout, "deadline per request attempt")
	fs.IntVar(&r.VLM.MaxAttempts, "vlm_max_attempts", r.VLM.MaxAttempts, "attempts per request on 429, 408, 5xx, timeouts and malformed answers (exponential backoff with jitter, Retry-After honoured)")
	fs.IntVar(&r.VLM.Concurrency, "vlm_concurrency", r.VLM.Concurrency, "requests in flight per worker process")
	fs.StringVar(&r.VLM.APIKeyEnv, "vlm_api_key_env", r.VLM.APIKeyEnv, "environment variable holding the API key (read on each worker; never logged or recorded)")
	fs.StringVar(&r.VLM.APIKeyFile, "vlm_api_key_file", "", "file (local or gs://) holding the API key; overrides --vlm_api_key_env")
	fs.StringVar(&r.Judge, "judge", "", "vlm: also ask the model whether a person does an everyday action, clearly, in real footage; a no rejects the clip (off_topic)")
	fs.BoolVar(&r.KeepUntagged, "keep_untagged", false, "keep clips with no title, tags or caption as category others instead of rejecting them off-topic")
	fs.IntVar(&r.DedupKeyframes, "dedup_keyframes", r.DedupKeyframes, "keyframes hashed per clip (64-bit difference hash each)")
	fs.IntVar(&r.DedupMaxDistance, "dedup_max_distance", r.DedupMaxDistance, "largest mean keyframe Hamming distance (of 64 bits) that is still the same footage")
	fs.IntVar(&r.DedupBands, "dedup_bands", r.DedupBands, "LSH bands per hash (1, 2, 4, 8 or 16): clips sharing a band of any keyframe hash are compared")
	fs.IntVar(&r.DedupRounds, "dedup_rounds", r.DedupRounds, "label-propagation rounds: duplicate chains up to this many hops end with one kept copy")
	fs.IntVar(&r.DedupMaxBucket, "dedup_max_bucket", r.DedupMaxBucket, "members of one LSH bucket compared pairwise; larger buckets are compared against their first N only")
	fs.IntVar(&r.DedupSourceMaxDistance, "dedup_source_max_distance", r.DedupSourceMaxDistance, "largest mean Hamming distance between two sources' prints (a hash every 0.5 s of the whole source, aligned by time) that still makes their clips the same footage, whichever windows were kept; -1 compares windows only")
	fs.BoolVar(&r.DedupOff, "no_dedup", false, "skip deduplication")
}

// thresholdFlag binds one threshold to a flag whose default is the
// realaction profile's (the demo profile differs only where noted).
type thresholdFlag struct {
	name, usage string
	ptr         func(t *schemas.Thresholds) any
}

var thresholdFlags = []thresholdFlag{
	{"max_bytes", "reject inputs larger than this many bytes (too_large)", func(t *schemas.Thresholds) any { return &t.MaxBytes }},
	{"max_duration", "reject inputs longer than this many seconds (too_large)", func(t *schemas.Thresholds) any { return &t.MaxDurationS }},
	{"max_dimension", "reject inputs whose width or height exceeds this (too_large)", func(t *schemas.Thresholds) any { return &t.MaxDimension }},
	{"min_short_side", "reject sources whose short side is below this (resolution); sources below the profile size are upscaled and flagged (demo profile: its height)", func(t *schemas.Thresholds) any { return &t.MinShortSide }},
	{"min_fps", "reject sources below this frame rate (frame_rate); default 0.75 x profile fps", func(t *schemas.Thresholds) any { return &t.MinFPS }},
	{"analysis_width", "long side of the frames analysed, pixels", func(t *schemas.Thresholds) any { return &t.AnalysisWidth }},
	{"analysis_max_fps", "sources above this rate are analysed at it (default: the profile's rate)", func(t *schemas.Thresholds) any { return &t.AnalysisMaxFPS }},
	{"analysis_skip_nonref", "the analysis decode skips H.264/HEVC non-reference frames when it samples at most half the source's rate", func(t *schemas.Thresholds) any { return &t.AnalysisSkipNonRef }},
	{"screen_max_keyframe_gap", "reject, from its keyframes alone, a source whose keyframes are at most this many seconds apart and every one hopelessly dark, washed out, clipped or flat (exposure); 0 = off", func(t *schemas.Thresholds) any { return &t.ScreenMaxKeyframeGapS }},
	{"cut_threshold", "scene cut when the HSV content change reaches this (PySceneDetect ContentDetector threshold)", func(t *schemas.Thresholds) any { return &t.CutThreshold }},
	{"cut_adaptive_ratio", "a cut must also be this many times the change of its 2+2 neighbours (PySceneDetect AdaptiveDetector); 0 = off", func(t *schemas.Thresholds) any { return &t.CutAdaptiveRatio }},
	{"min_scene", "shortest shot between two cuts, seconds (PySceneDetect's 15 frames at 30 fps)", func(t *schemas.Thresholds) any { return &t.MinSceneS }},
	{"trim", "seconds dropped on each side of a scene cut", func(t *schemas.Thresholds) any { return &t.TrimS }},
	{"window_step", "granularity of the best-window search, seconds", func(t *schemas.Thresholds) any { return &t.WindowStepS }},
	{"max_clips_per_shot", "clips taken from one shot (non-overlapping)", func(t *schemas.Thresholds) any { return &t.MaxClipsPerShot }},
	{"min_subject_motion", "static when subject motion (percent of frame width per second) is below this...", func(t *schemas.Thresholds) any { return &t.MinSubjectMotion }},
	{"min_changed_frac", "...and less than this share of pixels changes once the camera is compensated", func(t *schemas.Thresholds) any { return &t.MinChangedFrac }},
	{"max_subject_motion", "chaotic above this subject motion, percent of frame width per second", func(t *schemas.Thresholds) any { return &t.MaxSubjectMotion }},
	{"max_camera_motion", "camera_motion above this camera speed, percent of frame width per second", func(t *schemas.Thresholds) any { return &t.MaxCameraMotion }},
	{"max_camera_ratio", "camera_motion when camera/subject motion exceeds this (and the camera moves faster than --min_camera_for_ratio)", func(t *schemas.Thresholds) any { return &t.MaxCameraRatio }},
	{"min_camera_for_ratio", "camera speed below which the camera/subject ratio is not judged", func(t *schemas.Thresholds) any { return &t.MinCameraForRatio }},
	{"max_camera_shake", "camera_motion above this mean change of camera velocity (shaky hand-held)", func(t *schemas.Thresholds) any { return &t.MaxCameraShake }},
	{"min_sharpness", "blur when the variance of the Laplacian is below this...", func(t *schemas.Thresholds) any { return &t.MinSharpness }},
	{"min_sharpness_rel", "...and the Laplacian variance over the luma variance is below this", func(t *schemas.Thresholds) any { return &t.MinSharpnessRel }},
	{"min_luma", "exposure (dark) when mean luma (0..255) is below this", func(t *schemas.Thresholds) any { return &t.MinLuma }},
	{"max_luma", "exposure (washed out) when mean luma is above this", func(t *schemas.Thresholds) any { return &t.MaxLuma }},
	{"min_contrast", "exposure when the luma standard deviation is below this", func(t *schemas.Thresholds) any { return &t.MinContrast }},
	{"max_clipped", "exposure when more than this share of pixels is crushed black or blown white", func(t *schemas.Thresholds) any { return &t.MaxClipped }},
	{"max_overlay", "overlay when burned-in text-like strokes persist on more than this share of the frame", func(t *schemas.Thresholds) any { return &t.MaxOverlay }},
	{"probe_timeout", "ffprobe deadline per file", func(t *schemas.Thresholds) any { return &t.ProbeTimeout }},
	{"decode_timeout", "ffmpeg deadline per decode", func(t *schemas.Thresholds) any { return &t.DecodeTimeout }},
	{"encode_timeout", "ffmpeg deadline per clip encode", func(t *schemas.Thresholds) any { return &t.EncodeTimeout }},
	{"ffmpeg_threads", "decoder and encoder threads per ffmpeg call (0: ffmpeg chooses); files run in parallel, so 1 wastes least", func(t *schemas.Thresholds) any { return &t.FFmpegThreads }},
}

// flagValues holds what the user typed; only flags actually set override
// the profile defaults.
var flagValues schemas.Thresholds

func init() {
	register(&subcommand{
		Name:    "curate",
		Summary: "turn a folder or gs:// prefix of raw footage into a RealAction dataset (clips, first frames, manifest, rejects, stats, card)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&curateFlags.input, "input", "", "raw footage: a local directory (searched recursively) or gs://BUCKET/PREFIX")
			fs.StringVar(&curateFlags.output, "output", "", "dataset root: a local directory or gs://BUCKET/PREFIX")
			fs.StringVar(&curateFlags.profile, "profile", schemas.ProfileRealAction, "clip spec: realaction (49 frames at 8 fps, 720x480) or demo (17 frames at 8 fps, 96x64)")
			fs.StringVar(&curateFlags.topics, "topics", "", "topics file (categories and their keywords, see `realdpo curate --print_topics`); default: the embedded RealAction topics")
			fs.BoolVar(&curatePrintTopics, "print_topics", false, "print the embedded topics file (to copy and edit) and exit")
			reviewFlagSet(fs, &curateFlags.review)
			flagValues = stage.DefaultThresholds(schemas.Profiles[schemas.ProfileRealAction])
			for _, tf := range thresholdFlags {
				switch p := tf.ptr(&flagValues).(type) {
				case *int:
					fs.IntVar(p, tf.name, *p, tf.usage)
				case *int64:
					fs.Int64Var(p, tf.name, *p, tf.usage)
				case *float64:
					fs.Float64Var(p, tf.name, *p, tf.usage)
				case *time.Duration:
					fs.DurationVar(p, tf.name, *p, tf.usage)
				case *bool:
					fs.BoolVar(p, tf.name, *p, tf.usage)
				}
			}
		},
		Run:      runCurate,
		Pipeline: curatePipeline,
		UsesBeam: true,
	})
}

var curatePrintTopics bool

// curateConfig is the configuration the curate flags describe (refresh
// takes the same flags).
func curateConfig() (schemas.CurateConfig, error) {
	cfg, err := curate.NewConfig(curateFlags.input, curateFlags.output, curateFlags.profile)
	if err != nil {
		return cfg, err
	}
	topics, topicsFile := cfg.Review.Topics, cfg.Review.TopicsFile
	if curateFlags.topics != "" {
		data, err := fsx.ReadFile(context.Background(), curateFlags.topics, topic.MaxFileBytes)
		if err != nil {
			return cfg, fmt.Errorf("curate: --topics: %w", err)
		}
		if topics, err = topic.Parse(data); err != nil {
			return cfg, fmt.Errorf("curate: --topics %s: %w", curateFlags.topics, err)
		}
		topicsFile = curateFlags.topics
	}
	cfg.Review = curateFlags.review
	cfg.Review.Topics, cfg.Review.TopicsFile = topics, topicsFile
	set := map[string]bool{}
	flag.CommandLine.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, tf := range thresholdFlags {
		if !set[tf.name] {
			continue
		}
		switch dst := tf.ptr(&cfg.Thresholds).(type) {
		case *int:
			*dst = *tf.ptr(&flagValues).(*int)
		case *int64:
			*dst = *tf.ptr(&flagValues).(*int64)
		case *float64:
			*dst = *tf.ptr(&flagValues).(*float64)
		case *time.Duration:
			*dst = *tf.ptr(&flagValues).(*time.Duration)
		case *bool:
			*dst = *tf.ptr(&flagValues).(*bool)
		}
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
	if curatePrintTopics {
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
	reasons := make([]string, 0, len(st.InputsRejectedByReason))
	for r := range st.InputsRejectedByReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Printf("  rejected %-14s %d\n", r, st.InputsRejectedByReason[r])
	}
	fmt.Println(st.AccountingLine())
	if advice := stage.AdviceText(st); advice != "" {
		fmt.Fprint(os.Stderr, "curate: "+advice)
	}
	return nil
}
