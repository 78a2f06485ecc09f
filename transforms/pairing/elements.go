package pairing

import "realdpo/schemas"

// Element types that flow between this package's DoFns only: not an
// on-disk or wire format, so they live here rather than in schemas.

// PairClip is a real clip entering the pairs pipeline, from either layout
// (curate's manifest or the reference layout).
type PairClip struct {
	ClipID       string              `json:"clip_id"`
	Caption      string              `json:"caption"`
	Category     string              `json:"category,omitempty"`
	Source       string              `json:"source,omitempty"`
	SourceSHA256 string              `json:"source_sha256,omitempty"`
	Profile      string              `json:"profile,omitempty"`
	Frames       int                 `json:"frames"` // 0 when unknown (reference layout): probed
	FPS          float64             `json:"fps"`
	Width        int                 `json:"width"`
	Height       int                 `json:"height"`
	Root         string              `json:"root"`        // dataset root, local or gs://
	Clip         string              `json:"clip"`        // relative to Root
	FirstFrame   string              `json:"first_frame"` // relative to Root; "" = taken from the clip
	Origin       string              `json:"origin"`      // curate | realdpo
	Scores       *schemas.ClipScores `json:"scores,omitempty"`
}

// PairNegative is a recorded negative entering the pairs pipeline; Root is
// the root its Record.Path is relative to.
type PairNegative struct {
	Root   string                 `json:"root"`
	Record schemas.NegativeRecord `json:"record"`
}

// PlannedPair is a checked pair ready to be written: its metadata (member
// sizes and checksums included) and where each member's bytes are.
type PlannedPair struct {
	Meta           schemas.PairMeta `json:"meta"`
	ChosenPath     string           `json:"chosen_path"`
	FirstFramePath string           `json:"first_frame_path,omitempty"`
	// FirstFramePNG holds a first frame extracted from the clip (reference
	// layout input, no first frame file).
	FirstFramePNG []byte   `json:"first_frame_png,omitempty"`
	RejectedPaths []string `json:"rejected_paths"`
	TarBytes      int64    `json:"tar_bytes"`
}

// ShardJob is one planned shard: its index and its pairs in write order.
type ShardJob struct {
	Index int           `json:"index"`
	Pairs []PlannedPair `json:"pairs"`
}

// PairsPlanSummary is what the planner decided, for the index.
type PairsPlanSummary struct {
	Shards int `json:"shards"`
	Pairs  int `json:"pairs"`
}
