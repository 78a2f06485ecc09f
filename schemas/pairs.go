package schemas

// Records of the negatives and pairs stages (issue 6).
//
// negatives: OUT/negatives/CLIP_ID/K.mp4 with a sidecar K.json (one
// NegativeRecord, written after the video, so its presence means the video
// is complete), OUT/negatives.jsonl (every record, sorted by clip id and
// index), OUT/negatives_failed.jsonl (NegativeFailure) and
// OUT/negatives_stats.json (NegativesStats).
//
// pairs: OUT/pairs-NNNNNN.tar (webdataset), OUT/pairs-NNNNNN.stats.json
// (ShardStats), OUT/pairs_report.jsonl (PairIssue), OUT/pairs_stats.json
// (PairsStats) and OUT/index.json (ShardIndex), written last.

// NegativeRecord describes one generated (rejected) video.
type NegativeRecord struct {
	ClipID string `json:"clip_id"`
	Index  int    `json:"index"`
	// Path is relative to the negatives root: negatives/CLIP_ID/K.mp4.
	Path string `json:"path"`
	Seed uint64 `json:"seed"`
	// Generator is the kind (local, http); GeneratorID names the model
	// behind it and enters the seed, so two generators never share noise.
	Generator   string  `json:"generator"`
	GeneratorID string  `json:"generator_id"`
	Checkpoint  string  `json:"checkpoint"`
	Steps       int     `json:"steps"`
	Guidance    float64 `json:"guidance"`
	Frames      int     `json:"frames"`
	FPS         float64 `json:"fps"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	// WallS is the generation time of this video (a batch's time is split
	// evenly over its videos).
	WallS  float64 `json:"wall_s"`
	Bytes  int64   `json:"bytes"`
	SHA256 string  `json:"sha256"`
}

// NegativeFailure is one line of negatives_failed.jsonl: a clip (Index -1)
// or one sample that could not be generated.
type NegativeFailure struct {
	ClipID string `json:"clip_id"`
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Negative failure reasons.
const (
	NegReasonBadManifest = "bad_manifest"  // a manifest line that does not parse or lacks fields
	NegReasonFirstFrame  = "first_frame"   // first frame missing or unreadable
	NegReasonGenerate    = "generate"      // the generator failed after its retries
	NegReasonSpec        = "spec_mismatch" // the video came back at the wrong size, rate or length
	NegReasonWrite       = "write"         // the video could not be stored
)

// NegativesStats is negatives_stats.json.
type NegativesStats struct {
	Clips       int            `json:"clips"`
	PerClip     int            `json:"per_clip"`
	Negatives   int            `json:"negatives"` // records in negatives.jsonl
	Failures    int            `json:"failures"`
	ByReason    map[string]int `json:"failures_by_reason"`
	Generator   string         `json:"generator"`
	GeneratorID string         `json:"generator_id"`
	Checkpoint  string         `json:"checkpoint"`
	Steps       int            `json:"steps"`
	Guidance    float64        `json:"guidance"`
	// WallS sums the records' generation times (resumed ones included).
	WallS float64 `json:"wall_s"`
}

// MemberInfo describes one media member of a pair.
type MemberInfo struct {
	Name   string `json:"name"` // tar member name, KEY.chosen.mp4
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Origin is where the bytes came from, relative to the dataset or
	// negatives root ("" when derived, like an extracted first frame).
	Origin string `json:"origin,omitempty"`
}

// RejectedInfo is a rejected member and its provenance.
type RejectedInfo struct {
	MemberInfo
	Index       int     `json:"index"`
	Seed        uint64  `json:"seed"`
	Generator   string  `json:"generator,omitempty"`
	GeneratorID string  `json:"generator_id,omitempty"`
	Checkpoint  string  `json:"checkpoint,omitempty"`
	Steps       int     `json:"steps,omitempty"`
	Guidance    float64 `json:"guidance,omitempty"`
}

// PairMeta is KEY.json inside a shard.
type PairMeta struct {
	Key          string         `json:"key"`
	ClipID       string         `json:"clip_id"`
	Caption      string         `json:"caption"`
	Category     string         `json:"category,omitempty"`
	Source       string         `json:"source,omitempty"`
	SourceSHA256 string         `json:"source_sha256,omitempty"`
	Profile      string         `json:"profile,omitempty"`
	Frames       int            `json:"frames"`
	FPS          float64        `json:"fps"`
	Width        int            `json:"width"`
	Height       int            `json:"height"`
	Chosen       MemberInfo     `json:"chosen"`
	FirstFrame   MemberInfo     `json:"first_frame"`
	Rejected     []RejectedInfo `json:"rejected"`
	// Origin says which layout the pair was read from: curate or realdpo.
	Origin string      `json:"origin"`
	Scores *ClipScores `json:"scores,omitempty"`
}

// PairIssue is one line of pairs_report.jsonl: a clip whose negatives are
// missing or broken (Paired false: left out of the shards), a pair that
// formed without some broken negatives (Paired true), or a negative whose
// clip is not in the dataset.
type PairIssue struct {
	ClipID  string `json:"clip_id"`
	Reason  string `json:"reason"`
	Detail  string `json:"detail,omitempty"`
	Indices []int  `json:"indices,omitempty"`
	Paired  bool   `json:"paired"`
	// Usable and Needed are set for too_few_negatives: the clip's usable
	// negatives and the --negatives_per_pair it fell short of.
	Usable int `json:"usable,omitempty"`
	Needed int `json:"needed,omitempty"`
}

// Pair issue reasons.
const (
	PairReasonNoNegatives     = "no_negatives"      // no negative recorded for the clip
	PairReasonTooFewNegatives = "too_few_negatives" // fewer usable negatives than a pair needs
	PairReasonBrokenNegative  = "broken_negative"   // a recorded negative is missing, empty or undecodable
	PairReasonBrokenClip      = "broken_clip"       // the real clip or its first frame is missing or unreadable
	PairReasonOrphanNegative  = "orphan_negative"   // a negative whose clip is not in the dataset
	PairReasonBadKey          = "bad_key"           // two clip ids map to the same shard key
)

// ShardStats is pairs-NNNNNN.stats.json, beside its shard.
type ShardStats struct {
	Shard  string `json:"shard"` // file name, pairs-000000.tar
	Index  int    `json:"index"`
	Count  int    `json:"count"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// ContentID hashes the shard's planned content (keys, member origins,
	// sizes, checksums, metadata): a rerun keeps a shard whose stats carry
	// the same ContentID and whose bytes still hash to SHA256.
	ContentID string   `json:"content_id"`
	FirstKey  string   `json:"first_key"`
	LastKey   string   `json:"last_key"`
	Keys      []string `json:"keys"`
}

// ShardEntry is one shard in index.json.
type ShardEntry struct {
	Shard  string `json:"shard"`
	Count  int    `json:"count"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// ShardIndex is index.json: written after every shard, so its presence
// means the set is complete.
type ShardIndex struct {
	Format        string       `json:"format"` // ShardFormat
	Pairs         int          `json:"pairs"`
	Bytes         int64        `json:"bytes"`
	Negatives     int          `json:"negatives_per_pair"`
	TargetShardMB float64      `json:"target_shard_mb"`
	LoaderWorkers int          `json:"loader_workers"`
	Shards        []ShardEntry `json:"shards"`
	// Issues counts pairs_report.jsonl lines; Unpaired counts clips left out.
	Issues   int `json:"issues"`
	Unpaired int `json:"unpaired"`
}

// ShardFormat names the pair shard layout.
const ShardFormat = "realdpo-pairs/1"

// PairReasonBadRecord marks a negatives.jsonl or manifest line that does not
// parse or lacks fields (its clip, if it can be named, is reported apart).
const PairReasonBadRecord = "bad_record"

// PairsStats is pairs_stats.json: a run's totals, written on every run
// (zero pairs included) before index.json.
type PairsStats struct {
	Pairs            int            `json:"pairs"`
	Shards           int            `json:"shards"` // shards, or export parts with --export=realdpo
	NegativesPerPair int            `json:"negatives_per_pair"`
	Issues           int            `json:"issues"`   // pairs_report.jsonl lines
	Unpaired         int            `json:"unpaired"` // clips (and manifest lines) left out
	IssuesByReason   map[string]int `json:"issues_by_reason"`
	// TooFewNegatives counts clips left out for fewer usable negatives than
	// NegativesPerPair; FewestUsable is the smallest usable count (at least
	// one) among them, the --negatives_per_pair that would pair them all.
	TooFewNegatives int `json:"too_few_negatives"`
	FewestUsable    int `json:"fewest_usable,omitempty"`
}
