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
	Captioner string `json:"captioner" flag:"captioner" help:"vlm (an OpenAI-compatible chat-completions endpoint that takes images), sidecar (NAME.txt, else the sidecar title and tags) or template (category and measured facts)"`
	Fallback  string `json:"caption_fallback" flag:"caption_fallback" help:"captioner for clips the captioner has nothing for (no sidecar text): template, sidecar, vlm or none (reject them)"`
	// Caption gates, in words. Zero takes the captioner's default: the
	// paper's 45-185 for vlm, 5-185 for sidecar and template captions.
	MinCaptionWords int `json:"min_caption_words" flag:"min_caption_words" help:"reject captions shorter than this many words (caption); 0 = by captioner: 45 for vlm (the paper's captions run 45-185 words), 5 otherwise"`
	MaxCaptionWords int `json:"max_caption_words" flag:"max_caption_words" help:"reject captions longer than this many words (caption); 0 = 185, the paper's longest"`
	// MaxRepeatShare rejects captions whose most repeated word 3-gram
	// covers more than this share of the 3-grams (a model stuck in a loop).
	MaxRepeatShare float64 `json:"max_repeat_share" flag:"max_caption_repeat" help:"reject captions in which more than this share of word 3-grams repeat (a model stuck in a loop)"`

	VLM VLMConfig `json:"vlm"`

	// Topics are the category keyword lists (from the embedded default or --topics).
	Topics TopicList `json:"topics"`
	// TopicsFile names where Topics came from, for the record.
	TopicsFile string `json:"topics_file"`
	// KeepUntagged keeps clips with no title, tags or caption text to
	// match as "others" instead of rejecting them off-topic.
	KeepUntagged bool `json:"keep_untagged" flag:"keep_untagged" help:"keep clips with no title, tags or caption as category others instead of rejecting them off-topic"`
	// Judge is "" or vlm: ask the model whether the clip shows a person
	// doing an everyday action; "no" rejects it off-topic.
	Judge string `json:"judge" flag:"judge" help:"vlm: also ask the model whether a person does an everyday action, clearly, in real footage; a no rejects the clip (off_topic)"`

	// Dedup: keyframes hashed per clip, the largest mean keyframe Hamming
	// distance (of 64 bits) that still counts as the same footage, the LSH
	// bands each hash is cut into, label-propagation rounds and the bucket
	// size above which a bucket is only partly compared.
	DedupKeyframes   int  `json:"dedup_keyframes" flag:"dedup_keyframes" help:"keyframes hashed per clip (64-bit difference hash each)"`
	DedupMaxDistance int  `json:"dedup_max_distance" flag:"dedup_max_distance" help:"largest mean keyframe Hamming distance (of 64 bits) that is still the same footage"`
	DedupBands       int  `json:"dedup_bands" flag:"dedup_bands" help:"LSH bands per hash (1, 2, 4, 8 or 16): clips sharing a band of any keyframe hash are compared"`
	DedupRounds      int  `json:"dedup_rounds" flag:"dedup_rounds" help:"label-propagation rounds: duplicate chains up to this many hops end with one kept copy"`
	DedupMaxBucket   int  `json:"dedup_max_bucket" flag:"dedup_max_bucket" help:"members of one LSH bucket compared pairwise; larger buckets are compared against their first N only"`
	DedupOff         bool `json:"dedup_off" flag:"no_dedup" help:"skip deduplication"`
	// DedupSourceMaxDistance: clips of two different sources whose source
	// prints (hashes over the whole source, see dedup.SourceDistance) line
	// up within this mean distance are the same footage, whichever windows
	// were kept; -1 compares windows only.
	DedupSourceMaxDistance int `json:"dedup_source_max_distance" flag:"dedup_source_max_distance" help:"largest mean Hamming distance between two sources' prints (a hash every 0.5 s of the whole source, aligned by time) that still makes their clips the same footage, whichever windows were kept; -1 compares windows only"`
}

// VLMConfig is an OpenAI-compatible chat-completions endpoint that accepts
// images. The API key itself is never part of a configuration: workers
// read it from the environment variable APIKeyEnv or from APIKeyFile.
type VLMConfig struct {
	BaseURL     string        `json:"base_url" flag:"vlm_base_url" help:"OpenAI-compatible API base URL for --captioner=vlm and --judge=vlm, e.g. http://vllm:8000/v1"`
	Model       string        `json:"model" flag:"vlm_model" help:"model name sent to the endpoint, e.g. Qwen/Qwen2.5-VL-7B-Instruct"`
	Prompt      string        `json:"prompt" flag:"vlm_prompt" help:"captioning prompt (the RealDPO paper's by default)"`
	Frames      int           `json:"frames" flag:"vlm_frames" help:"evenly spaced frames sent per clip, as base64 JPEG"`
	FrameWidth  int           `json:"frame_width" flag:"vlm_frame_width" help:"frames are scaled down to at most this width"`
	MaxTokens   int           `json:"max_tokens" flag:"vlm_max_tokens" help:"max_tokens per answer; an answer cut off at it is rejected (caption truncated)"`
	Temperature float64       `json:"temperature" flag:"vlm_temperature" help:"sampling temperature"`
	Timeout     time.Duration `json:"timeout" flag:"vlm_timeout" help:"deadline per request attempt"`
	MaxAttempts int           `json:"max_attempts" flag:"vlm_max_attempts" help:"attempts per request on 429, 408, 5xx, timeouts and malformed answers (exponential backoff with jitter, Retry-After honoured)"`
	Concurrency int           `json:"concurrency" flag:"vlm_concurrency" help:"requests in flight per worker process"`
	APIKeyEnv   string        `json:"api_key_env" flag:"vlm_api_key_env" help:"environment variable holding the API key (read on each worker; never logged or recorded)"`
	APIKeyFile  string        `json:"api_key_file" flag:"vlm_api_key_file" help:"file (local or gs://) holding the API key; overrides --vlm_api_key_env"`
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
