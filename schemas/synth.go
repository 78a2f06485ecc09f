package schemas

// Defect kinds the footage generator can inject; each is recorded in
// GroundTruth.Defects.
const (
	DefectPortrait  = "portrait"
	DefectTooShort  = "too_short"
	DefectTooSmall  = "too_small"
	DefectStatic    = "static"
	DefectDark      = "dark"
	DefectWashedOut = "washed_out"
	DefectBlur      = "blur"
	DefectOverlay   = "overlay"
	DefectSceneCuts = "scene_cuts"
	DefectExactDup  = "exact_duplicate"
	DefectNearDup   = "near_duplicate"
	DefectTruncated = "truncated"
	DefectZeroByte  = "zero_byte"
	DefectNotVideo  = "not_video"
	DefectShaky     = "shaky"
	DefectOffTopic  = "off_topic"
	// DefectReencode is the same source as another file, as a stock library
	// ships it again: rendered smaller, encoded VP9 at a low bitrate and
	// starting later, so curation keeps another window of it.
	DefectReencode = "reencode"
)

// Outcome is what curation is expected to decide for a file under one profile.
type Outcome struct {
	Accept bool   `json:"accept"`
	Reason string `json:"reason,omitempty"` // a Reason* constant when rejected
	// DuplicateOf names the file kept in this file's place, for duplicates.
	DuplicateOf string `json:"duplicate_of,omitempty"`
}

// GroundTruth is one line of ground_truth.jsonl: everything the generator
// knows about one file it wrote.
type GroundTruth struct {
	File       string   `json:"file"`                  // relative to the output directory
	Sidecar    string   `json:"sidecar,omitempty"`     // NAME.json, relative
	CaptionTxt string   `json:"caption_txt,omitempty"` // NAME.txt when written, relative
	Container  string   `json:"container"`             // mp4, mkv, webm, avi ("" for non-video)
	Codec      string   `json:"codec"`                 // h264, vp9, mpeg4 ("" for non-video)
	Width      int      `json:"width"`
	Height     int      `json:"height"`
	FPS        float64  `json:"fps"`
	Frames     int      `json:"frames"`
	DurationS  float64  `json:"duration_s"`
	Action     string   `json:"action"`   // e.g. walking, jumping_jacks; "" when nobody is in shot
	Category   string   `json:"category"` // a Category* constant, "" for off-topic footage
	People     int      `json:"people"`
	Camera     string   `json:"camera"` // static, pan, zoom, handheld, shaky
	Scene      string   `json:"scene"`  // background kind
	Defects    []string `json:"defects"`
	// CutFrames are the indices of the first frame of each new shot.
	CutFrames []int `json:"cut_frames,omitempty"`
	// Shots describe each cut-free segment: its action and frame range.
	Shots       []Shot `json:"shots,omitempty"`
	DuplicateOf string `json:"duplicate_of,omitempty"`
	// OffsetS: a re-encoded copy's first frame is its original's frame at
	// this time.
	OffsetS  float64            `json:"offset_s,omitempty"`
	Title    string             `json:"title,omitempty"`
	Tags     []string           `json:"tags,omitempty"`
	Caption  string             `json:"caption,omitempty"`
	Expected map[string]Outcome `json:"expected"` // by curation profile name
	// FramesSHA256 hashes the raw RGB frames before encoding; the same seed
	// must give the same value.
	FramesSHA256 string `json:"frames_sha256,omitempty"`
	Seed         uint64 `json:"seed"`
}

// Shot is one cut-free segment of a generated video.
type Shot struct {
	Start  int    `json:"start"` // first frame index
	End    int    `json:"end"`   // one past the last frame
	Action string `json:"action"`
	People int    `json:"people"`
	Scene  string `json:"scene"`
}

// Sidecar is NAME.json beside a video, as a stock-footage source gives it.
type Sidecar struct {
	Title       string   `json:"title"`
	Tags        []string `json:"tags"`
	Description string   `json:"description,omitempty"`
	Source      string   `json:"source,omitempty"`
	License     string   `json:"license,omitempty"`
}
