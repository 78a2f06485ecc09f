package stage

import (
	"time"

	"realdpo/schemas"
)

// Curation policy: the documented defaults of a curate run. They are
// choices of the curate stage, not parts of a format, so they live here
// rather than in schemas.

// DefaultThresholds are the documented defaults for a profile.
func DefaultThresholds(p schemas.Profile) schemas.Thresholds {
	t := schemas.Thresholds{
		MaxBytes:     8 << 30,
		MaxDurationS: 3600,
		MaxDimension: 8192,

		MinShortSide: 240,
		MinFPS:       0.75 * p.FPS,

		AnalysisWidth:      256,
		AnalysisMaxFPS:     p.FPS,
		AnalysisSkipNonRef: true,

		ScreenMaxKeyframeGapS: 5,

		CutThreshold:     27,
		CutAdaptiveRatio: 3,
		MinSceneS:        0.5,
		TrimS:            0.25,
		WindowStepS:      0.25,
		MaxClipsPerShot:  1,

		MinSubjectMotion:  0.3,
		MinChangedFrac:    0.001,
		MaxSubjectMotion:  40,
		MaxCameraMotion:   25,
		MaxCameraRatio:    8,
		MinCameraForRatio: 3,
		MaxCameraShake:    20,

		MinSharpness:    40,
		MinSharpnessRel: 0.02,
		MinLuma:         40,
		MaxLuma:         215,
		MinContrast:     10,
		MaxClipped:      0.6,
		MaxOverlay:      0.02,

		ProbeTimeout:  30 * time.Second,
		DecodeTimeout: 10 * time.Minute,
		EncodeTimeout: 5 * time.Minute,
		FFmpegThreads: 1,
	}
	if p.Name == schemas.ProfileDemo {
		// The demo's tiny clips come from small footage; twice the clip
		// height still rejects thumbnails (160x90).
		t.MinShortSide = 2 * p.Height
	}
	return t
}

// DefaultReviewConfig is the documented default: sidecar captions, falling
// back to a template caption, the embedded topics, no judge, dedup on.
func DefaultReviewConfig() schemas.ReviewConfig {
	return schemas.ReviewConfig{
		Captioner:      schemas.CaptionerSidecar,
		Fallback:       schemas.CaptionerTemplate,
		MaxRepeatShare: 0.3,
		VLM: schemas.VLMConfig{
			Prompt: schemas.DefaultCaptionPrompt, Frames: 8, FrameWidth: 448, MaxTokens: 512, Temperature: 0.2,
			Timeout: 120 * time.Second, MaxAttempts: 5, Concurrency: 4, APIKeyEnv: "REALDPO_VLM_API_KEY",
		},
		DedupKeyframes:   8,
		DedupMaxDistance: 10,
		DedupBands:       4,
		DedupRounds:      4,
		DedupMaxBucket:   2000,

		DedupSourceMaxDistance: 8,
	}
}

// LowYieldShare: a run in which fewer than this share of the inputs gave
// a clip ends with the main reject reasons and what to do about each.
const LowYieldShare = 0.5
