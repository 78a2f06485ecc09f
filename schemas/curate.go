package schemas

import (
	"fmt"
	"sort"
	"time"
)

// Profile is the clip specification a curation run produces: every kept clip
// has exactly Frames frames at FPS, Width x Height.
type Profile struct {
	Name   string  `json:"name"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"`
	Frames int     `json:"frames"`
	// Landscape requires sources wider than tall (after rotation).
	Landscape bool `json:"landscape"`
}

// DurationS is the length of one clip in seconds (49 frames at 8 fps = 6.125 s).
func (p Profile) DurationS() float64 { return float64(p.Frames) / p.FPS }

// Profile names.
const (
	ProfileRealAction = "realaction"
	ProfileDemo       = "demo"
)

// Profiles are the clip specs a run can ask for by name.
var Profiles = map[string]Profile{
	// The RealDPO reference training spec (CogVideoX-5B-I2V): 49 frames at 8 fps, 720x480.
	ProfileRealAction: {Name: ProfileRealAction, Width: 720, Height: 480, FPS: 8, Frames: 49, Landscape: true},
	// A small spec for the embedded demo: same rate, 17 frames, 96x64.
	ProfileDemo: {Name: ProfileDemo, Width: 96, Height: 64, FPS: 8, Frames: 17, Landscape: true},
}

// ProfileByName looks up a profile.
func ProfileByName(name string) (Profile, error) {
	p, ok := Profiles[name]
	if !ok {
		names := make([]string, 0, len(Profiles))
		for n := range Profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		return Profile{}, fmt.Errorf("unknown profile %q (have %v)", name, names)
	}
	return p, nil
}

// Thresholds are every decision the curation filters take, in the units the
// scores are recorded in. Motion is in percent of the frame width per second,
// luma in 0..255, sharpness is the variance of the Laplacian of the luma at
// the analysis width.
type Thresholds struct {
	// Input limits: larger files are rejected unread (too_large).
	MaxBytes     int64   `json:"max_bytes" flag:"max_bytes" help:"reject inputs larger than this many bytes (too_large)" check:"positive"`
	MaxDurationS float64 `json:"max_duration_s" flag:"max_duration" help:"reject inputs longer than this many seconds (too_large)" check:"positive"`
	MaxDimension int     `json:"max_dimension" flag:"max_dimension" help:"reject inputs whose width or height exceeds this (too_large)" check:"positive"`

	// Probe-level filters.
	MinShortSide int     `json:"min_short_side" flag:"min_short_side" help:"reject sources whose short side is below this (resolution); sources below the profile size are upscaled and flagged (demo profile: its height)" check:"nonnegative"`
	MinFPS       float64 `json:"min_fps" flag:"min_fps" help:"reject sources below this frame rate (frame_rate); default 0.75 x profile fps" check:"nonnegative"`

	// Analysis.
	AnalysisWidth int `json:"analysis_width" flag:"analysis_width" help:"long side of the frames analysed, pixels"`
	// Sources above AnalysisMaxFPS are sampled down to it. The default is
	// the profile's rate: clips are cut at it, motion is measured over 1/8 s
	// whatever the rate, and every analysed frame costs a scale and an
	// analyser pass (15 fps took twice the work for the same decisions).
	AnalysisMaxFPS float64 `json:"analysis_max_fps" flag:"analysis_max_fps" help:"sources above this rate are analysed at it (default: the profile's rate)" check:"positive"`
	// AnalysisSkipNonRef lets the analysis decode skip non-reference frames
	// of H.264 and HEVC sampled down to at most half their rate (see
	// stage.SkipNonRef); off decodes every frame (an encoder that references
	// fewer than every other frame would repeat frames at 8 of 30 fps).
	AnalysisSkipNonRef bool `json:"analysis_skip_nonref" flag:"analysis_skip_nonref" help:"the analysis decode skips H.264/HEVC non-reference frames when it samples at most half the source's rate"`
	// ScreenMaxKeyframeGapS turns on the keyframe screen before the
	// analysis (stage.ScreenKeyframes): a source whose keyframes are at
	// most this many seconds apart, and every one of them hopelessly
	// exposed the same way, is rejected without the full decode. 0: off.
	ScreenMaxKeyframeGapS float64 `json:"screen_max_keyframe_gap_s" flag:"screen_max_keyframe_gap" help:"reject, from its keyframes alone, a source whose keyframes are at most this many seconds apart and every one hopelessly dark, washed out, clipped or flat (exposure); 0 = off" check:"nonnegative"`

	// Scene cuts (PySceneDetect ContentDetector defaults: threshold 27, min scene 15 frames at 30 fps).
	CutThreshold float64 `json:"cut_threshold" flag:"cut_threshold" help:"scene cut when the HSV content change reaches this (PySceneDetect ContentDetector threshold)" check:"positive"`
	// CutAdaptiveRatio: a cut's change must also be this many times its
	// neighbours' (PySceneDetect AdaptiveDetector's 3.0); 0 turns the test off.
	CutAdaptiveRatio float64 `json:"cut_adaptive_ratio" flag:"cut_adaptive_ratio" help:"a cut must also be this many times the change of its 2+2 neighbours (PySceneDetect AdaptiveDetector); 0 = off" check:"nonnegative"`
	MinSceneS        float64 `json:"min_scene_s" flag:"min_scene" help:"shortest shot between two cuts, seconds (PySceneDetect's 15 frames at 30 fps)" check:"nonnegative"`
	TrimS            float64 `json:"trim_s" flag:"trim" help:"seconds dropped on each side of a scene cut" check:"nonnegative"`
	WindowStepS      float64 `json:"window_step_s" flag:"window_step" help:"granularity of the best-window search, seconds" check:"positive"`
	MaxClipsPerShot  int     `json:"max_clips_per_shot" flag:"max_clips_per_shot" help:"clips taken from one shot (non-overlapping)" check:"positive"`

	// Motion.
	// Static: subject motion below MinSubjectMotion and fewer than
	// MinChangedFrac of the pixels changing once the camera is compensated
	// (flat-shaded limbs defeat block matching but still change pixels).
	MinSubjectMotion  float64 `json:"min_subject_motion" flag:"min_subject_motion" help:"static when subject motion (percent of frame width per second) is below this..." check:"nonnegative"`
	MinChangedFrac    float64 `json:"min_changed_frac" flag:"min_changed_frac" help:"...and less than this share of pixels changes once the camera is compensated" check:"nonnegative"`
	MaxSubjectMotion  float64 `json:"max_subject_motion" flag:"max_subject_motion" help:"chaotic above this subject motion, percent of frame width per second" check:"positive"`
	MaxCameraMotion   float64 `json:"max_camera_motion" flag:"max_camera_motion" help:"camera_motion above this camera speed, percent of frame width per second" check:"positive"`
	MaxCameraRatio    float64 `json:"max_camera_ratio" flag:"max_camera_ratio" help:"camera_motion when camera/subject motion exceeds this (and the camera moves faster than --min_camera_for_ratio)" check:"positive"`
	MinCameraForRatio float64 `json:"min_camera_for_ratio" flag:"min_camera_for_ratio" help:"camera speed below which the camera/subject ratio is not judged" check:"nonnegative"`
	MaxCameraShake    float64 `json:"max_camera_shake" flag:"max_camera_shake" help:"camera_motion above this mean change of camera velocity (shaky hand-held)" check:"positive"`

	// Quality.
	MinSharpness float64 `json:"min_sharpness" flag:"min_sharpness" help:"blur when the variance of the Laplacian is below this..." check:"nonnegative"`
	// ...and relative sharpness (Laplacian variance over luma variance) below
	// this: blur. Both must fail, so dark or low-contrast footage that is in
	// focus is judged by exposure, not blur.
	MinSharpnessRel float64 `json:"min_sharpness_rel" flag:"min_sharpness_rel" help:"...and the Laplacian variance over the luma variance is below this" check:"nonnegative"`
	MinLuma         float64 `json:"min_luma" flag:"min_luma" help:"exposure (dark) when mean luma (0..255) is below this" check:"nonnegative"`
	MaxLuma         float64 `json:"max_luma" flag:"max_luma" help:"exposure (washed out) when mean luma is above this" check:"positive"`
	MinContrast     float64 `json:"min_contrast" flag:"min_contrast" help:"exposure when the luma standard deviation is below this" check:"nonnegative"`
	MaxClipped      float64 `json:"max_clipped" flag:"max_clipped" help:"exposure when more than this share of pixels is crushed black or blown white" check:"positive"`
	MaxOverlay      float64 `json:"max_overlay" flag:"max_overlay" help:"overlay when burned-in text-like strokes persist on more than this share of the frame" check:"positive"`

	// Timeouts for each external call.
	ProbeTimeout  time.Duration `json:"probe_timeout" flag:"probe_timeout" help:"ffprobe deadline per file" check:"positive"`
	DecodeTimeout time.Duration `json:"decode_timeout" flag:"decode_timeout" help:"ffmpeg deadline per decode" check:"positive"`
	EncodeTimeout time.Duration `json:"encode_timeout" flag:"encode_timeout" help:"ffmpeg deadline per clip encode" check:"positive"`

	// FFmpegThreads caps each ffmpeg's decoder and encoder threads (0 lets
	// ffmpeg choose). The pipeline runs many files at once, so one thread
	// each keeps every core busy without the cost of threads contending.
	FFmpegThreads int `json:"ffmpeg_threads" flag:"ffmpeg_threads" help:"decoder and encoder threads per ffmpeg call (0: ffmpeg chooses); files run in parallel, so 1 wastes least" check:"nonnegative"`
}

// CurateConfig is everything one curation run needs.
type CurateConfig struct {
	Input      string     `json:"input" flag:"input" help:"raw footage: a local directory (searched recursively) or gs://BUCKET/PREFIX" check:"required"`
	Output     string     `json:"output" flag:"output" help:"dataset root: a local directory or gs://BUCKET/PREFIX" check:"required"`
	Profile    Profile    `json:"profile"`
	Thresholds Thresholds `json:"thresholds"`
	// Review configures the semantic stages: captioning, the topic filter
	// and deduplication.
	Review ReviewConfig `json:"review"`
}

// SourceFile is one matched input with whatever its sidecars said.
type SourceFile struct {
	Path      string   `json:"path"` // full path or gs:// URL
	Rel       string   `json:"rel"`  // relative to the input root
	SizeBytes int64    `json:"size_bytes"`
	Title     string   `json:"title,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Caption   string   `json:"caption,omitempty"`
	// CaptionSource says where Caption came from: txt, description, title.
	CaptionSource string `json:"caption_source,omitempty"`
	Category      string `json:"category,omitempty"`
	// MatchError is set when the file was listed but could not be sized or read.
	MatchError string `json:"match_error,omitempty"`
	// SidecarError notes an unreadable or malformed sidecar (the video still goes on).
	SidecarError string `json:"sidecar_error,omitempty"`
}

// SourceInfo is what ffprobe and the content hash say about a source.
type SourceInfo struct {
	SHA256    string  `json:"sha256"`
	Container string  `json:"container"`
	Codec     string  `json:"codec"`
	Width     int     `json:"width"`  // as displayed (rotation applied)
	Height    int     `json:"height"` // as displayed
	Rotation  int     `json:"rotation"`
	FPS       float64 `json:"fps"`
	DurationS float64 `json:"duration_s"`
	Frames    int     `json:"frames"`
	SizeBytes int64   `json:"size_bytes"`
}

// ClipScores are every figure measured for a candidate clip, kept whether it
// passes or not. Motion in percent of frame width per second; luma 0..255.
type ClipScores struct {
	// Whole-source figures.
	AnalysedFrames int     `json:"analysed_frames"`
	AnalysisFPS    float64 `json:"analysis_fps"`
	Shots          int     `json:"shots"`
	DecodeWarnings int     `json:"decode_warnings"`

	// The candidate's shot and window.
	Shot        int     `json:"shot"`
	ShotStartS  float64 `json:"shot_start_s"`
	ShotEndS    float64 `json:"shot_end_s"`
	WindowScore float64 `json:"window_score"`

	// Exposure.
	LumaMean   float64 `json:"luma_mean"`
	LumaStd    float64 `json:"luma_std"`
	DarkFrac   float64 `json:"dark_frac"`
	BrightFrac float64 `json:"bright_frac"`
	// Sharpness: variance of the Laplacian (mean over frames and 10th percentile).
	Sharpness    float64 `json:"sharpness"`
	SharpnessP10 float64 `json:"sharpness_p10"`
	SharpnessRel float64 `json:"sharpness_rel"` // Laplacian variance / luma variance
	// Motion.
	FrameDiff     float64 `json:"frame_diff"`     // mean absolute luma change per second
	SubjectMotion float64 `json:"subject_motion"` // block motion left after the camera model
	MovingFrac    float64 `json:"moving_frac"`    // share of blocks that move against the camera
	ResidualDiff  float64 `json:"residual_diff"`  // mean luma change per second after compensating the camera
	ChangedFrac   float64 `json:"changed_frac"`   // share of pixels that change (about 1/8 s apart) after compensating the camera
	CameraMotion  float64 `json:"camera_motion"`  // camera translation speed
	CameraZoom    float64 `json:"camera_zoom"`    // zoom rate, percent per second
	CameraShake   float64 `json:"camera_shake"`   // mean change of the camera motion
	CameraRatio   float64 `json:"camera_ratio"`   // camera / subject motion
	// Largest content change (HSV) inside the window; at or above the cut threshold means a cut was crossed.
	MaxContentDelta float64 `json:"max_content_delta"`
	// Overlay: share of the frame covered by persistent text-like strokes.
	Overlay     float64 `json:"overlay"`
	OverlayMean float64 `json:"overlay_mean"`
}

// ManifestRecord is one line of manifest.jsonl: one kept, normalised clip.
type ManifestRecord struct {
	ID            string     `json:"id"`
	Source        string     `json:"source"`    // relative to the input root
	Candidate     int        `json:"candidate"` // the window's candidate number within its source
	SourceSHA256  string     `json:"source_sha256"`
	Clip          string     `json:"clip"`        // relative to the output root
	FirstFrame    string     `json:"first_frame"` // relative to the output root
	Caption       string     `json:"caption"`
	CaptionSource string     `json:"caption_source,omitempty"`
	Title         string     `json:"title,omitempty"`
	Tags          []string   `json:"tags,omitempty"`
	Category      string     `json:"category"`
	Profile       string     `json:"profile"`
	StartS        float64    `json:"start_s"`
	EndS          float64    `json:"end_s"`
	Frames        int        `json:"frames"`
	FPS           float64    `json:"fps"`
	Width         int        `json:"width"`
	Height        int        `json:"height"`
	Upscaled      bool       `json:"upscaled"`
	PaddedFrames  int        `json:"padded_frames,omitempty"` // last frame repeated at the very end of a source
	SourceInfo    SourceInfo `json:"source_info"`
	Scores        ClipScores `json:"scores"`

	// Captioner, CaptionModel and CaptionPrompt say how Caption was made.
	Captioner     string `json:"captioner,omitempty"`
	CaptionModel  string `json:"caption_model,omitempty"`
	CaptionPrompt string `json:"caption_prompt,omitempty"`
	CaptionWords  int    `json:"caption_words,omitempty"`
	// TopicHits are the keywords that decided Category ("field:keyword").
	TopicHits []string `json:"topic_hits,omitempty"`
	// Judge is the vlm judge's verdict when --judge=vlm.
	Judge *JudgeVerdict `json:"judge,omitempty"`
	// Fingerprint is the clip's perceptual hash: one 64-bit difference hash
	// per keyframe, as 16 hex digits, so a later refresh can deduplicate
	// against this dataset without decoding it again.
	Fingerprint []string `json:"fingerprint,omitempty"`
	// SourcePrint and SourcePrintStepS fingerprint the whole source the
	// clip was cut from (see Candidate), for the same reason.
	SourcePrint      string  `json:"source_print,omitempty"`
	SourcePrintStepS float64 `json:"source_print_step_s,omitempty"`
	// KeyFrames are evenly spaced JPEG frames for the vlm captioner and
	// judge; they travel between stages only and are never written.
	KeyFrames [][]byte `json:"-"`
}

// JudgeVerdict is the vlm judge's answer to "is this a person doing an
// everyday action, clearly, in real footage?".
type JudgeVerdict struct {
	Model  string `json:"model"`
	Answer string `json:"answer"` // yes, no or unclear
	Text   string `json:"text"`   // the model's whole answer
}

// RejectRecord is one line of rejected.jsonl: a rejected input or candidate.
type RejectRecord struct {
	Source       string `json:"source"`
	SourceSHA256 string `json:"source_sha256,omitempty"`
	Stage        string `json:"stage"`
	Reason       string `json:"reason"`
	Detail       string `json:"detail,omitempty"`
	// Failed lists every failing filter check, first (deciding) one first.
	Failed []string `json:"failed,omitempty"`
	// Candidate is the candidate number for clip-level rejects, -1 for the whole input.
	Candidate  int        `json:"candidate"`
	StartS     float64    `json:"start_s,omitempty"`
	EndS       float64    `json:"end_s,omitempty"`
	SourceInfo SourceInfo `json:"source_info"`
	Scores     ClipScores `json:"scores"`
	// Clip-level semantic rejects (caption, topic, dedup) name the clip
	// and what was decided about it.
	ClipID   string `json:"clip_id,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Category string `json:"category,omitempty"`
	// DuplicateOf is the id of the clip kept in this one's place, and
	// DuplicateOfSource its source; Distance the fingerprint distance.
	DuplicateOf       string        `json:"duplicate_of,omitempty"`
	DuplicateOfSource string        `json:"duplicate_of_source,omitempty"`
	Distance          *int          `json:"distance,omitempty"`
	Judge             *JudgeVerdict `json:"judge,omitempty"`
}

// InputDecision is the verdict on one input, as stats.json lists it.
type InputDecision struct {
	Source string `json:"source"`
	Accept bool   `json:"accept"`
	Clips  int    `json:"clips"`
	Reason string `json:"reason,omitempty"` // a Reason* constant when rejected
	Stage  string `json:"stage,omitempty"`
	// Check is the failed check behind the reason (for example
	// topic_no_text for off_topic), when the reject names one.
	Check string `json:"check,omitempty"`
	// SidecarError says why a sidecar was not used (unreadable, not a
	// regular file, over the size limit, malformed): the video still went on.
	SidecarError string `json:"sidecar_error,omitempty"`
}

// Advice is one of the main reasons inputs were rejected, with what to do
// about it.
type Advice struct {
	Reason string  `json:"reason"`
	Check  string  `json:"check,omitempty"`
	Inputs int     `json:"inputs"`
	Share  float64 `json:"share"` // of all inputs
	Hint   string  `json:"hint"`
}

// CurateStats is stats.json.
type CurateStats struct {
	Profile        Profile    `json:"profile"`
	Thresholds     Thresholds `json:"thresholds"`
	Inputs         int        `json:"inputs"`
	InputsAccepted int        `json:"inputs_accepted"`
	InputsRejected int        `json:"inputs_rejected"`
	Candidates     int        `json:"candidates"`
	Clips          int        `json:"clips"`
	Rejects        int        `json:"rejects"` // records in rejected.jsonl
	// RejectsByStage and RejectsByReason count rejected.jsonl records.
	RejectsByStage  map[string]int `json:"rejects_by_stage"`
	RejectsByReason map[string]int `json:"rejects_by_reason"`
	// InputsRejectedByReason counts rejected inputs by their deciding reason.
	InputsRejectedByReason map[string]int `json:"inputs_rejected_by_reason"`
	// FailedChecks counts every failing filter check across candidates.
	FailedChecks    map[string]int `json:"failed_checks"`
	ClipsByCategory map[string]int `json:"clips_by_category"`
	// ClipsByCaptioner counts kept clips by the captioner that captioned them.
	ClipsByCaptioner map[string]int `json:"clips_by_captioner,omitempty"`
	ClipSeconds      float64        `json:"clip_seconds"`
	SourceSeconds    float64        `json:"source_seconds"` // of the inputs that probed
	// LowYield is set when less than stage.LowYieldShare of the inputs gave a
	// clip; Advice then lists the main reasons, most inputs first.
	LowYield  bool            `json:"low_yield,omitempty"`
	Advice    []Advice        `json:"advice,omitempty"`
	Decisions []InputDecision `json:"decisions"`
}

// AccountingLine is the line a curation run ends with.
func (s CurateStats) AccountingLine() string {
	return fmt.Sprintf("inputs=%d = accepted=%d + rejected=%d (clips=%d, candidates=%d, rejects=%d)",
		s.Inputs, s.InputsAccepted, s.InputsRejected, s.Clips, s.Candidates, s.Rejects)
}
