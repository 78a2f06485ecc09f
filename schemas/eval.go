package schemas

import (
	"encoding/json"
	"math"
)

// Records of the evaluation stage (realdpo eval): OUT/report.json
// (EvalReport) and OUT/report.html, which shows the same figures.

// EvalFormat names report.json's layout.
// Version 2 added intervals, groups, comparisons and notes.
const EvalFormat = "realdpo-eval/2"

// EvalModel is one model under evaluation.
type EvalModel struct {
	Name string `json:"name"`
	// Group gathers the models that differ only by their training seed
	// (NAME@SEED on the command line: group NAME); a model alone is its
	// own group. Groups are what the report compares.
	Group string `json:"group"`
	// Checkpoint is a local path or gs:// URL; empty means the built-in
	// base model (model.LoadBase).
	Checkpoint string `json:"checkpoint,omitempty"`
	// Weights is the SHA-256 of the config and weights (filled in by the
	// run), so a report names exactly what it measured.
	Weights string `json:"weights,omitempty"`
}

// EvalConfig is everything one evaluation run needs.
type EvalConfig struct {
	Dataset string      `json:"dataset" flag:"dataset" help:"held-out curated dataset: a directory or gs:// prefix with manifest.jsonl, clips/ and first_frames/" check:"required"`
	Pairs   string      `json:"pairs,omitempty" flag:"pairs" help:"held-out pair set (directory or gs:// prefix with index.json): adds the DPO implicit accuracy"`
	Output  string      `json:"output" flag:"output" help:"report directory (local or gs://): report.html and report.json" check:"required"`
	Models  []EvalModel `json:"models" check:"required"`
	// Reference is the DPO reference model for the implicit accuracy.
	Reference EvalModel `json:"reference"`
	Steps     int       `json:"steps" flag:"steps" help:"DDIM sampling steps"`
	Guidance  float64   `json:"guidance" flag:"guidance" help:"classifier-free guidance scale (1 disables it and halves the cost)"`
	Samples   int       `json:"samples" flag:"samples" help:"samples per clip and model"`
	Seed      uint64    `json:"seed" flag:"seed" help:"seed for the samples' noise and the DPO timestep and noise (same for every model)"`
	Strips    int       `json:"strips" flag:"strips" help:"clips shown as frame strips in report.html" check:"nonnegative"`
	MaxClips  int       `json:"max_clips" flag:"max_clips" help:"evaluate at most this many clips, first by id (0: all)" check:"nonnegative"`
	MaxPairs  int       `json:"max_pairs" flag:"max_pairs" help:"score at most this many pairs, in index order (0: all)" check:"nonnegative"`
	Beta      float64   `json:"beta" flag:"beta" help:"DPO beta for the reported inside values (the accuracy does not depend on it)"`
	// Bootstrap is the number of resamples behind every interval.
	Bootstrap int `json:"bootstrap" flag:"bootstrap" help:"bootstrap resamples of the held-out clips behind every 95% interval"`
	// Compare lists the group comparisons as "A:B" (A minus B); empty:
	// every later group against every earlier one.
	Compare []string `json:"compare,omitempty"`
	// FreeFirstFrame samples frame 0 like every other frame (see
	// model.SampleOptions); by default it is held at the given first frame.
	FreeFirstFrame bool `json:"free_first_frame,omitempty" flag:"free_first_frame" help:"let each model generate frame 0 rather than hold it at the given first frame, so the first-frame error measures the model's own drift"`
	// StripModels are the models shown in the frame strips (empty: all).
	StripModels []string `json:"strip_models,omitempty"`
}

// EvalStats are the per-clip figures (transforms/evaluate documents them).
type EvalStats struct {
	Features      []float64 `json:"features"`
	Speeds        []float64 `json:"-"` // every block speed, for the distribution distance
	MeanSpeed     float64   `json:"mean_speed"`
	Top5          float64   `json:"top5_speed"`
	Dynamic       bool      `json:"dynamic"`
	Jerk          float64   `json:"jerk"`
	Accel         float64   `json:"accel"`
	Area          float64   `json:"moving_area"` // share of pixels changed from the first frame
	Noise         float64   `json:"noise"`       // noise level the motion was measured against
	Flicker       float64   `json:"flicker"`     // share of pixels changed in one frame alone (artefacts)
	Sharpness     float64   `json:"sharpness"`
	FirstFrameMAE float64   `json:"first_frame_mae"`
	EarlyMAE      float64   `json:"early_mae"`
}

// EvalSample is one measured video: a real clip (Model "real") or a sample.
type EvalSample struct {
	ClipID string `json:"clip_id"`
	Model  string `json:"model"`
	Index  int    `json:"index"`
	Order  int    `json:"-"`
	// Caption is set on the real clip's record (the report's strips show it).
	Caption string    `json:"-"`
	Seed    uint64    `json:"seed,omitempty"`
	WallS   float64   `json:"wall_s,omitempty"` // sampling time
	Stats   EvalStats `json:"stats"`
	// Video holds the frames (RGB24, concatenated) only for clips shown as strips.
	Video []byte `json:"-"`
}

// EvalDPO is the RealDPO loss terms of one pair for one policy model,
// against the reference, at the pair's fixed timestep and noise.
type EvalDPO struct {
	Key      string    `json:"key"`
	Model    string    `json:"model"`
	T        int       `json:"t"`
	Lw       float64   `json:"lw"`
	LwRef    float64   `json:"lw_ref"`
	Ll       []float64 `json:"ll"`
	LlRef    []float64 `json:"ll_ref"`
	Inside   []float64 `json:"inside"`
	Accuracy float64   `json:"accuracy"`
}

// EvalReject is an input or a step that could not be evaluated.
type EvalReject struct {
	Stage  string `json:"stage"` // manifest, decode, sample, pairs, dpo
	Item   string `json:"item"`  // clip id, pair key, shard or manifest line
	Model  string `json:"model,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Evaluation reject reasons.
const (
	EvalReasonBadManifest = "bad_manifest" // a manifest line that does not parse or lacks fields
	EvalReasonClip        = "clip"         // the clip is missing or does not decode
	EvalReasonFirstFrame  = "first_frame"  // the first frame is missing or unreadable
	EvalReasonSample      = "sample"       // the model failed to sample
	EvalReasonShard       = "shard"        // a pair shard failed verification
	EvalReasonPair        = "pair"         // a pair's videos do not decode
	EvalReasonDPO         = "dpo"          // the loss could not be computed
)

// EvalMetric documents one row of the report's table.
type EvalMetric struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Unit  string `json:"unit,omitempty"`
	// Better is "lower", "higher" or "closer" (closer to the real clips'
	// value, which Real holds; the distance is Key+"_delta").
	Better string `json:"better"`
	Help   string `json:"help"`
	// Best names the group with the best value ("" when none has one).
	Best string `json:"best,omitempty"`
}

// EvalInterval is a point estimate and its 95% percentile bootstrap
// interval over the held-out clips (or pairs, for the DPO rows).
type EvalInterval struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// MarshalJSON writes bounds that do not exist (NaN: no interval, as for
// timings) as null, which JSON can carry.
func (iv EvalInterval) MarshalJSON() ([]byte, error) {
	f := func(x float64) *float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return &x
	}
	return json.Marshal(struct {
		Value *float64 `json:"value"`
		Lo    *float64 `json:"lo"`
		Hi    *float64 `json:"hi"`
	}{f(iv.Value), f(iv.Lo), f(iv.Hi)})
}

// UnmarshalJSON reads null bounds back as NaN.
func (iv *EvalInterval) UnmarshalJSON(b []byte) error {
	var raw struct {
		Value, Lo, Hi *float64
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	g := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*iv = EvalInterval{Value: g(raw.Value), Lo: g(raw.Lo), Hi: g(raw.Hi)}
	return nil
}

// EvalSpread is one figure's spread over a group's training seeds.
type EvalSpread struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// EvalModelReport is one model of the report.
type EvalModelReport struct {
	EvalModel
	Samples int                `json:"samples"`
	Pairs   int                `json:"pairs,omitempty"`
	Metrics map[string]float64 `json:"metrics"`
	// Intervals hold every metric (and every "closer" metric's _delta)
	// with its interval.
	Intervals map[string]EvalInterval `json:"intervals"`
}

// EvalGroupReport is one column of the report's table: a model, or the
// mean of the models that differ only by training seed.
type EvalGroupReport struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
	// Metrics: the mean over members, with an interval from the same
	// resamples (keys as in EvalModelReport.Intervals).
	Metrics map[string]EvalInterval `json:"metrics"`
	// Spread of the members' point values, when there are several.
	Spread map[string]EvalSpread `json:"spread,omitempty"`
}

// EvalComparison is the paired difference of one metric between two
// groups on the same clips and sampling seeds: A's score minus B's (the
// value for lower/higher metrics, the distance to the real clips' value
// for "closer" ones), with its interval from the same resamples.
type EvalComparison struct {
	A      string       `json:"a"`
	B      string       `json:"b"`
	Metric string       `json:"metric"`
	Diff   EvalInterval `json:"diff"`
	// Better names the group the interval favours ("" when it includes 0).
	Better string `json:"better,omitempty"`
}

// EvalClipReport lists one clip's per-model figures.
type EvalClipReport struct {
	ID      string       `json:"id"`
	Caption string       `json:"caption"`
	Samples []EvalSample `json:"samples"` // real first, then models in order, by sample index
}

// EvalReport is report.json.
type EvalReport struct {
	Format      string            `json:"format"`
	Config      EvalConfig        `json:"config"`
	ModelConfig string            `json:"model_config"` // the models' shared architecture (JSON)
	Features    []string          `json:"features"`
	Metrics     []EvalMetric      `json:"metrics"`
	Real        EvalModelReport   `json:"real"`
	Models      []EvalModelReport `json:"models"`
	Clips       []EvalClipReport  `json:"clips"`
	Rejects     []EvalReject      `json:"rejects"`
	// Counts: clips listed, clips evaluated, samples, pairs, rejects.
	Counts map[string]int `json:"counts"`
	// RealIntervals are the real clips' own values with intervals.
	RealIntervals map[string]EvalInterval `json:"real_intervals"`
	Groups        []EvalGroupReport       `json:"groups"`
	Comparisons   []EvalComparison        `json:"comparisons"`
	// Notes say how far the figures can be trusted (clip and seed counts,
	// Frechet dimensions and shrinkage, which comparisons are resolved).
	Notes []string `json:"notes"`
	// Strips lists the frame-strip images written beside the report
	// (strips/*.png), one a clip, rows in StripRows order.
	Strips    []EvalStrip `json:"strips,omitempty"`
	StripRows []string    `json:"strip_rows,omitempty"`
}

// EvalStrip is one clip's frame-strip image.
type EvalStrip struct {
	Clip    string `json:"clip"`
	Caption string `json:"caption"`
	File    string `json:"file"` // relative to the report directory
}
