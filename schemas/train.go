package schemas

// Records of the train stage (issue 7).
//
// OUT/run.json (TrainRun: the settings and the pair set a run trains on;
// a resumed run must match it), OUT/checkpoints/ckpt-SSSSSSSS.safetensors
// every --checkpoint_every steps (full trainer state: policy, EMA reference,
// optimiser), OUT/final.safetensors, OUT/metrics.jsonl (one TrainMetric a
// step), OUT/rejects.jsonl (TrainReject: pairs left out, with the reason),
// OUT/plots/*.png and OUT/summary.json (TrainSummary), written last.

// Training objectives.
const (
	ObjectiveDPO = "dpo" // RealDPO: real clip wins over every generated clip
	ObjectiveSFT = "sft" // supervised fine-tuning on the real clips: the paper's SFT baseline
)

// TrainConfig is everything a training run depends on.
type TrainConfig struct {
	Pairs  string `json:"pairs"`  // pair set root (index.json + shards), local or gs://
	Init   string `json:"init"`   // checkpoint to start from; "" is the built-in base model
	Output string `json:"output"` // run directory, local or gs://

	Objective string  `json:"objective"` // dpo or sft
	Steps     int     `json:"steps"`
	Batch     int     `json:"batch"`
	LR        float64 `json:"lr"`
	Warmup    int     `json:"warmup"`
	// WeightDecay and ClipNorm follow the reference setup (1e-4, 1.0).
	WeightDecay float64 `json:"weight_decay"`
	ClipNorm    float64 `json:"clip_norm"`
	Seed        uint64  `json:"seed"`

	// DPO only.
	Beta      float64 `json:"beta"`
	SFTWeight float64 `json:"sft_weight"` // lambda: adds lambda*Lw
	Reduction string  `json:"reduction"`  // sum or mean over negatives
	EMAEvery  int     `json:"ema_every"`
	EMARate   float64 `json:"ema_rate"`
	// RegenerateEvery > 0 regenerates every pair's negatives from the
	// current EMA reference every that many steps (online RealDPO).
	RegenerateEvery    int     `json:"regenerate_every"`
	RegenerateSteps    int     `json:"regenerate_steps"`
	RegenerateGuidance float64 `json:"regenerate_guidance"`

	// SFT only: probability of dropping the caption (keeps guidance working).
	CondDrop float64 `json:"cond_drop"`

	CheckpointEvery int `json:"checkpoint_every"`
	KeepCheckpoints int `json:"keep_checkpoints"` // newest kept; 0 keeps all
	// LogEverySeconds paces progress lines (the first and last step always log).
	LogEverySeconds float64 `json:"log_every_s"`
}

// TrainReject is one line of rejects.jsonl: a pair whose media could not
// be decoded, left out of training.
type TrainReject struct {
	Key    string `json:"key"`
	Shard  string `json:"shard"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Train reject reasons.
const (
	TrainReasonChosen     = "chosen_undecodable"
	TrainReasonRejected   = "rejected_undecodable"
	TrainReasonFirstFrame = "first_frame_undecodable"
)

// TrainMetric is one line of metrics.jsonl: one optimiser step. Errors are
// per-sample v-MSE; "delta" is policy minus reference (negative: the policy
// fits that clip better than the reference does).
type TrainMetric struct {
	Step      int     `json:"step"`
	Epoch     int     `json:"epoch"`
	Objective string  `json:"objective"`
	Loss      float64 `json:"loss"` // the objective descended (DPO: reduced loss + lambda*Lw)
	// DPO terms, means over the batch (and over negatives).
	DPOLoss      float64 `json:"dpo_loss,omitempty"` // mean of loss_i (what the reference code logs)
	Accuracy     float64 `json:"implicit_accuracy"`  // share of inside_i > 0
	WinnerErr    float64 `json:"winner_err"`         // Lw (SFT: the batch's v-MSE)
	WinnerErrRef float64 `json:"winner_err_ref,omitempty"`
	LoserErr     float64 `json:"loser_err,omitempty"`
	LoserErrRef  float64 `json:"loser_err_ref,omitempty"`
	WinnerDelta  float64 `json:"winner_delta"` // Lw - Lw_ref: rising means drifting from real data
	LoserDelta   float64 `json:"loser_delta"`  // Ll - Ll_ref
	Timestep     float64 `json:"t"`            // mean timestep of the batch
	GradNorm     float64 `json:"grad_norm"`
	LR           float64 `json:"lr"`
	EMA          bool    `json:"ema,omitempty"`         // the reference moved after this step
	Regenerated  bool    `json:"regenerated,omitempty"` // negatives were regenerated before this step
	StepS        float64 `json:"step_s"`                // wall time of this step (not reproducible)
}

// TrainRun is run.json: what a run is, so a resume can refuse to continue
// a different run in the same directory.
type TrainRun struct {
	Config      TrainConfig `json:"config"`
	PairsSHA256 string      `json:"pairs_index_sha256"` // of index.json
	InitSHA256  string      `json:"init_weights_sha256"`
	ModelConfig string      `json:"model_config"`
}

// TrainSummary is summary.json, written when training ends.
type TrainSummary struct {
	Objective   string  `json:"objective"`
	Steps       int     `json:"steps"`
	ResumedFrom int     `json:"resumed_from"` // step of the checkpoint this process started from (0: fresh)
	Pairs       int     `json:"pairs"`
	Rejected    int     `json:"rejected"`
	Final       string  `json:"final"`
	FinalLoss   float64 `json:"final_loss"` // mean over the last 10% of steps
	FinalAcc    float64 `json:"final_implicit_accuracy"`
	WallS       float64 `json:"wall_s"` // this process's training time
	StepsPerS   float64 `json:"steps_per_s"`
}
