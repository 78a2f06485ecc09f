package schemas

import "time"

// Captioners.
const (
	CaptionerVLM      = "vlm"
	CaptionerSidecar  = "sidecar"
	CaptionerTemplate = "template"
)

// DefaultCaptionPrompt is the RealDPO paper's captioning prompt.
const DefaultCaptionPrompt = "Please describe this video in detail."

// ReviewConfig configures the semantic stages that follow normalisation:
// captioning, the topic filter and deduplication.
type ReviewConfig struct {
	// Captioner is vlm, sidecar or template; Fallback ("" or template)
	// captions clips the captioner has nothing for (no sidecar text).
	Captioner string `json:"captioner"`
	Fallback  string `json:"caption_fallback"`
	// Caption gates, in words. Zero takes the captioner's default: the
	// paper's 45-185 for vlm, 5-185 for sidecar and template captions.
	MinCaptionWords int `json:"min_caption_words"`
	MaxCaptionWords int `json:"max_caption_words"`
	// MaxRepeatShare rejects captions whose most repeated word 3-gram
	// covers more than this share of the 3-grams (a model stuck in a loop).
	MaxRepeatShare float64 `json:"max_repeat_share"`

	VLM VLMConfig `json:"vlm"`

	// Topics are the category keyword lists (from the embedded default or --topics).
	Topics TopicList `json:"topics"`
	// TopicsFile names where Topics came from, for the record.
	TopicsFile string `json:"topics_file"`
	// KeepUntagged keeps clips with no title, tags or caption text to
	// match as "others" instead of rejecting them off-topic.
	KeepUntagged bool `json:"keep_untagged"`
	// Judge is "" or vlm: ask the model whether the clip shows a person
	// doing an everyday action; "no" rejects it off-topic.
	Judge string `json:"judge"`

	// Dedup: keyframes hashed per clip, the largest mean keyframe Hamming
	// distance (of 64 bits) that still counts as the same footage, the LSH
	// bands each hash is cut into, label-propagation rounds and the bucket
	// size above which a bucket is only partly compared.
	DedupKeyframes   int  `json:"dedup_keyframes"`
	DedupMaxDistance int  `json:"dedup_max_distance"`
	DedupBands       int  `json:"dedup_bands"`
	DedupRounds      int  `json:"dedup_rounds"`
	DedupMaxBucket   int  `json:"dedup_max_bucket"`
	DedupOff         bool `json:"dedup_off"`
	// DedupSourceMaxDistance: clips of two different sources whose source
	// prints (hashes over the whole source, see dedup.SourceDistance) line
	// up within this mean distance are the same footage, whichever windows
	// were kept; -1 compares windows only.
	DedupSourceMaxDistance int `json:"dedup_source_max_distance"`
}

// VLMConfig is an OpenAI-compatible chat-completions endpoint that accepts
// images. The API key itself is never part of a configuration: workers
// read it from the environment variable APIKeyEnv or from APIKeyFile.
type VLMConfig struct {
	BaseURL     string        `json:"base_url"`
	Model       string        `json:"model"`
	Prompt      string        `json:"prompt"`
	Frames      int           `json:"frames"`
	FrameWidth  int           `json:"frame_width"` // keyframes are scaled to at most this width
	MaxTokens   int           `json:"max_tokens"`
	Temperature float64       `json:"temperature"`
	Timeout     time.Duration `json:"timeout"` // per request
	MaxAttempts int           `json:"max_attempts"`
	Concurrency int           `json:"concurrency"` // requests in flight per worker process
	APIKeyEnv   string        `json:"api_key_env"`
	APIKeyFile  string        `json:"api_key_file"`
}

// CaptionBounds are the effective word bounds for the configured captioner.
func (r ReviewConfig) CaptionBounds() (lo, hi int) {
	lo, hi = 5, 185
	if r.Captioner == CaptionerVLM {
		lo = 45
	}
	if r.MinCaptionWords > 0 {
		lo = r.MinCaptionWords
	}
	if r.MaxCaptionWords > 0 {
		hi = r.MaxCaptionWords
	}
	return lo, hi
}

// Topic is one RealAction category and the keywords that assign it.
type Topic struct {
	Category string   `json:"category"`
	Keywords []string `json:"keywords"`
}

// TopicList is the parsed topics file: categories in priority order and
// the phrases that mark footage as off-topic whatever else matches.
type TopicList struct {
	Topics  []Topic  `json:"topics"`
	Exclude []string `json:"exclude"`
}

// DedupItem is one clip's fingerprint as deduplication sees it. Key is
// unique per clip record (several sources can hold the same clip id);
// Rank orders copies, smallest best, and names their source (see
// dedup.RankKey and dedup.SourceRank).
type DedupItem struct {
	Key    string   `json:"key"`
	ID     string   `json:"id"`
	Hashes []uint64 `json:"hashes"`
	Rank   string   `json:"rank"`
	// SourcePrint is the source's print, SourceStepS seconds a hash (see
	// dedup.SourceDistance); empty for records made before prints.
	SourcePrint []uint64 `json:"source_print,omitempty"`
	SourceStepS float64  `json:"source_step_s,omitempty"`
}

// DedupDecision says whether a clip is kept, and if not which clip (by
// Key and ID) is kept in its place.
type DedupDecision struct {
	Key      string `json:"key"`
	Keep     bool   `json:"keep"`
	KeptKey  string `json:"kept_key,omitempty"`
	KeptID   string `json:"kept_id,omitempty"`
	Distance int    `json:"distance"` // to the kept copy when it is a direct neighbour, else -1
	// BySource: the kept copy was found by the source prints (the same
	// footage, another window) rather than by the windows' keyframes.
	BySource bool `json:"by_source,omitempty"`
}
