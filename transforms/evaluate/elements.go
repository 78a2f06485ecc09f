package evaluate

// Element types that flow between this package's DoFns only: not an
// on-disk or wire format, so they live here rather than in schemas.

// EvalClip is one held-out real clip decoded to the model's size.
type EvalClip struct {
	ID      string `json:"id"`
	Caption string `json:"caption"`
	Order   int    `json:"order"` // position in the evaluated list (strips show the first ones)
	// Real is the clip's frames, RGB24, concatenated; Cond the
	// conditioning first frame (from first_frames/ID.png), RGB24.
	Real []byte `json:"-"`
	Cond []byte `json:"-"`
}

// EvalTask is one sample to draw: a clip, a model, a sample index and its seed.
type EvalTask struct {
	Clip  EvalClip
	Model string
	Index int
	Seed  uint64
}

// EvalPair is one held-out preference pair decoded to the model's size.
type EvalPair struct {
	Key     string
	Caption string
	Winner  []byte   // RGB24 frames, concatenated
	Losers  [][]byte // the same, one per rejected clip
	First   []byte   // RGB24 conditioning frame
}

// EvalPairTask scores one pair with one model as the policy.
type EvalPairTask struct {
	Pair  EvalPair
	Model string
}
