package schemas

// Records of `realdpo experiment`: OUT/experiment.json (ExperimentReport)
// and OUT/experiment.html, beside every stage's own output (negatives/,
// pairs/, train/GROUP-sSEED/, eval/) and OUT/stages/NAME.json, one marker a
// finished stage (ExperimentStage) so a rerun skips it.

// ExperimentFormat names experiment.json's layout.
const ExperimentFormat = "realdpo-experiment/1"

// ExperimentConfig is one experiment: RealDPO against SFT, both from the
// same base, each from several training seeds, measured on held-out clips.
type ExperimentConfig struct {
	Dataset string `json:"dataset" flag:"dataset" help:"curated training dataset (manifest.jsonl): a directory or gs:// prefix" check:"required"`
	// Heldout is a curated dataset of clips from footage the training never
	// saw (other footage seeds or sources).
	Heldout string `json:"heldout" flag:"heldout" help:"curated held-out dataset from footage the training never saw (other seeds or sources)"`
	Output  string `json:"output" flag:"output" help:"experiment directory (local or gs://): every stage's output, experiment.html, experiment.json; a rerun skips finished stages" check:"required"`
	// Init is the base checkpoint negatives come from and both fine-tunes
	// start from ("" is the built-in base model).
	Init  string   `json:"init,omitempty" flag:"init" help:"base checkpoint (negatives come from it, both fine-tunes start from it); empty: the built-in base model"`
	Seeds []uint64 `json:"seeds"` // training seeds, one RealDPO and one SFT run each

	NegativesPerClip int     `json:"negatives_per_clip" flag:"negatives_per_clip" help:"negatives generated per training clip (RealDPO: 3)"`
	NegativeSteps    int     `json:"negative_steps" flag:"negative_steps" help:"DDIM steps of the negatives (RealDPO: 50)"`
	NegativeGuidance float64 `json:"negative_guidance" flag:"negative_guidance" help:"classifier-free guidance of the negatives (RealDPO: 6)"`

	TrainSteps         int     `json:"train_steps" flag:"train_steps" help:"optimiser steps of every training run"`
	Batch              int     `json:"batch" flag:"batch" help:"pairs (dpo) or clips (sft) a step"`
	LR                 float64 `json:"lr" flag:"lr" help:"peak AdamW learning rate, both objectives"`
	Beta               float64 `json:"beta" flag:"beta" help:"RealDPO beta"`
	SFTWeight          float64 `json:"sft_weight" flag:"sft_weight" help:"RealDPO lambda: weight of the SFT term on the real clip"`
	DPOTShare          float64 `json:"dpo_t_share,omitempty" flag:"dpo_t_share" help:"RealDPO: share of the noise schedule, from the low-noise end, its timesteps are drawn from (0: the reference code's lower half; 1: all)"`
	EMAEvery           int     `json:"ema_every" flag:"ema_every" help:"RealDPO: move the reference toward the policy every this many steps (0: frozen)"`
	EMARate            float64 `json:"ema_rate" flag:"ema_rate" help:"RealDPO: EMA rate of the reference"`
	RegenerateEvery    int     `json:"regenerate_every" flag:"regenerate_every" help:"RealDPO: regenerate the negatives from the EMA reference every this many steps (the paper's iterative self-correction; 0: off)"`
	RegenerateSteps    int     `json:"regenerate_steps" flag:"regenerate_steps" help:"DDIM steps of regenerated negatives"`
	RegenerateGuidance float64 `json:"regenerate_guidance" flag:"regenerate_guidance" help:"guidance of regenerated negatives"`
	CheckpointEvery    int     `json:"checkpoint_every" flag:"checkpoint_every" help:"resumable checkpoint every this many training steps (0: only the final one)"`

	EvalSamples   int     `json:"eval_samples" flag:"eval_samples" help:"samples per held-out clip and model"`
	EvalSteps     int     `json:"eval_steps" flag:"eval_steps" help:"DDIM steps of the evaluation samples"`
	EvalGuidance  float64 `json:"eval_guidance" flag:"eval_guidance" help:"guidance of the evaluation samples"`
	EvalSeed      uint64  `json:"eval_seed" flag:"eval_seed" help:"seed of the evaluation samples and bootstrap (the same for every model)"`
	EvalMaxClips  int     `json:"eval_max_clips" flag:"eval_max_clips" help:"evaluate at most this many held-out clips (0: all)"`
	Strips        int     `json:"strips" flag:"strips" help:"held-out clips shown as frame strips"`
	Bootstrap     int     `json:"bootstrap" flag:"bootstrap" help:"bootstrap resamples behind every interval"`
	HeldoutPairs  bool    `json:"heldout_pairs" flag:"heldout_pairs" help:"also generate negatives for the held-out clips and report the DPO implicit accuracy on them"`
	EvalReference string  `json:"eval_reference,omitempty"`
	// EvalFreeFirst: see EvalConfig.FreeFirstFrame.
	EvalFreeFirst bool `json:"eval_free_first_frame,omitempty" flag:"eval_free_first_frame" help:"let every model generate frame 0 in the evaluation rather than hold it at the given first frame, so the first-frame error measures the model's own drift"`
}

// ExperimentStage is one finished stage (OUT/stages/NAME.json): what it
// ran with, so a rerun with other settings redoes it.
type ExperimentStage struct {
	Name string `json:"name"`
	// Key is the stage's settings and inputs as JSON; a marker whose key
	// differs does not count.
	Key   string  `json:"key"`
	WallS float64 `json:"wall_s"`
	// Skipped: finished by an earlier run (its wall time is that run's).
	Skipped bool `json:"skipped,omitempty"`
}

// ExperimentRun is one training run of the experiment.
type ExperimentRun struct {
	Group     string       `json:"group"` // realdpo or sft
	Seed      uint64       `json:"seed"`
	Objective string       `json:"objective"`
	Dir       string       `json:"dir"` // relative to the experiment's output
	Summary   TrainSummary `json:"summary"`
}

// ExperimentReport is experiment.json.
type ExperimentReport struct {
	Format string            `json:"format"`
	Config ExperimentConfig  `json:"config"`
	Stages []ExperimentStage `json:"stages"`
	// WallS is this run's wall time; CPUs the processors it had.
	WallS float64         `json:"wall_s"`
	CPUs  int             `json:"cpus"`
	Runs  []ExperimentRun `json:"runs"`
	// Eval is the evaluation's report without its per-clip records (those
	// stay in eval/report.json).
	Eval EvalReport `json:"eval"`
}
