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
	Dataset string `json:"dataset"` // curated training dataset (manifest.jsonl), local or gs://
	// Heldout is a curated dataset of clips from footage the training never
	// saw (other footage seeds or sources).
	Heldout string `json:"heldout"`
	Output  string `json:"output"`
	// Init is the base checkpoint negatives come from and both fine-tunes
	// start from ("" is the built-in base model).
	Init  string   `json:"init,omitempty"`
	Seeds []uint64 `json:"seeds"` // training seeds, one RealDPO and one SFT run each

	NegativesPerClip int     `json:"negatives_per_clip"`
	NegativeSteps    int     `json:"negative_steps"`
	NegativeGuidance float64 `json:"negative_guidance"`

	TrainSteps         int     `json:"train_steps"`
	Batch              int     `json:"batch"`
	LR                 float64 `json:"lr"`
	Beta               float64 `json:"beta"`
	SFTWeight          float64 `json:"sft_weight"`
	EMAEvery           int     `json:"ema_every"`
	EMARate            float64 `json:"ema_rate"`
	RegenerateEvery    int     `json:"regenerate_every"`
	RegenerateSteps    int     `json:"regenerate_steps"`
	RegenerateGuidance float64 `json:"regenerate_guidance"`
	CheckpointEvery    int     `json:"checkpoint_every"`

	EvalSamples   int     `json:"eval_samples"` // samples per held-out clip and model
	EvalSteps     int     `json:"eval_steps"`
	EvalGuidance  float64 `json:"eval_guidance"`
	EvalSeed      uint64  `json:"eval_seed"`
	EvalMaxClips  int     `json:"eval_max_clips"` // 0: every held-out clip
	Strips        int     `json:"strips"`
	Bootstrap     int     `json:"bootstrap"`
	HeldoutPairs  bool    `json:"heldout_pairs"` // negatives and pairs for the held-out clips too: the DPO rows
	EvalReference string  `json:"eval_reference,omitempty"`
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
