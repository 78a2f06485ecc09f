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
	Pairs  string `json:"pairs" flag:"pairs" help:"pair set: a directory or gs:// prefix holding index.json and pairs-NNNNNN.tar shards" check:"required"`
	Init   string `json:"init" flag:"init" help:"checkpoint to start from (local or gs://); empty: the built-in base model"`
	Output string `json:"output" flag:"output" help:"run directory (local or gs://): checkpoints, final.safetensors, metrics.jsonl, plots; an existing run there resumes" check:"required"`

	Objective string  `json:"objective" flag:"objective" help:"dpo (RealDPO: real clip wins over each generated one) or sft (fine-tune on the real clips: the paper's SFT baseline)"`
	Steps     int     `json:"steps" flag:"steps" help:"optimiser steps in all (a resumed run continues up to this)" check:"positive"`
	Batch     int     `json:"batch" flag:"batch" help:"pairs (dpo) or clips (sft) per step" check:"positive"`
	LR        float64 `json:"lr" flag:"lr" help:"peak AdamW learning rate (same default for dpo and sft, for a fair baseline)"`
	Warmup    int     `json:"warmup" flag:"warmup" help:"linear learning-rate warm-up steps"`
	// WeightDecay and ClipNorm follow the reference setup (1e-4, 1.0).
	WeightDecay float64 `json:"weight_decay" flag:"weight_decay" help:"AdamW decoupled weight decay"`
	ClipNorm    float64 `json:"clip_norm" flag:"clip_norm" help:"global gradient-norm clipping (0: off)"`
	Seed        uint64  `json:"seed" flag:"seed" help:"seed for the data order, timesteps and noise"`

	// DPO only.
	Beta      float64 `json:"beta" flag:"beta" help:"dpo: beta, the implicit reward scale for per-sample v-MSE averaged over elements"`
	SFTWeight float64 `json:"sft_weight" flag:"sft_weight" help:"dpo: lambda, weight of the added SFT term lambda*Lw on the real clip (0: pure DPO)"`
	Reduction string  `json:"reduction" flag:"reduction" help:"dpo: sum (reference code) or mean of the per-negative losses"`
	DPOTShare float64 `json:"dpo_t_share,omitempty" flag:"dpo_t_share" help:"dpo: share of the noise schedule, from the low-noise end, the shared timestep is drawn from (0: the reference code's lower half, 0.5; 1: every timestep, as Diffusion-DPO)"`
	EMAEvery  int     `json:"ema_every" flag:"ema_every" help:"dpo: move the reference toward the policy every this many steps (0: frozen reference)"`
	EMARate   float64 `json:"ema_rate" flag:"ema_rate" help:"dpo: EMA rate: ref = (1-rate) ref + rate policy"`
	// RegenerateEvery > 0 regenerates every pair's negatives from the
	// current EMA reference every that many steps (online RealDPO).
	RegenerateEvery    int     `json:"regenerate_every" flag:"regenerate_every" help:"dpo: regenerate every pair's negatives from the current EMA reference every this many steps (0: off)" check:"nonnegative"`
	RegenerateSteps    int     `json:"regenerate_steps" flag:"regenerate_steps" help:"DDIM steps for regenerated negatives"`
	RegenerateGuidance float64 `json:"regenerate_guidance" flag:"regenerate_guidance" help:"classifier-free guidance for regenerated negatives"`

	// SFT only: probability of dropping the caption (keeps guidance working).
	CondDrop float64 `json:"cond_drop" flag:"cond_drop" help:"sft: probability of dropping the caption (keeps guidance working)"`

	CheckpointEvery int `json:"checkpoint_every" flag:"checkpoint_every" help:"write a resumable checkpoint every this many steps (0: only the final one)" check:"nonnegative"`
	KeepCheckpoints int `json:"keep_checkpoints" flag:"keep_checkpoints" help:"keep this many newest checkpoints (0: all)" check:"nonnegative"`
	// LogEverySeconds paces progress lines (the first and last step always log).
	LogEverySeconds float64 `json:"log_every_s" flag:"log_every" help:"seconds between progress lines"`
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
