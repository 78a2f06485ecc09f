package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// SampleOptions control DDIM sampling.
type SampleOptions struct {
	Steps    int     // DDIM steps (50 in the paper's negative generation)
	Guidance float64 // classifier-free guidance scale (6.0 in the paper); 1 disables
	Seed     uint64  // fixes the initial noise: same seed, same videos
	// FreeFirstFrame lets the model generate frame 0 like every other
	// frame. By default each step's predicted x0 holds frame 0 at the
	// conditioning frame: that frame is given, so the sampler projects onto
	// the videos that start with it (replacement conditioning, as inpainting
	// samplers fill a known region), and fine-tuning cannot make it drift.
	FreeFirstFrame bool
}

// SamplerRevision changes whenever the same weights, seed and options
// would give different videos (2: frame 0 held at the given first frame),
// so stored samples of another revision are not taken for this one's.
const SamplerRevision = "2"

// DefaultSampleOptions are the paper's negative-generation settings.
func DefaultSampleOptions() SampleOptions { return SampleOptions{Steps: 50, Guidance: 6, Seed: 1} }

// Timesteps returns the DDIM timesteps, trailing spacing from T-1 down
// (so the first step sees pure noise at the schedule's end).
func (s *Schedule) Timesteps(steps int) []int {
	ts := make([]int, steps)
	for k := range ts {
		ts[k] = int(math.Round(float64(s.T)-float64(k)*float64(s.T)/float64(steps))) - 1
	}
	return ts
}

// Sample generates n videos from one first frame and caption with
// deterministic DDIM (eta = 0) and classifier-free guidance:
// v = v_uncond + g (v_cond - v_uncond), where the unconditional branch keeps
// the first frame and uses the null caption (the token dropped during
// training). The predicted x0 is clipped to the pixel range each step. In
// residual space (Config.ResidualScale) the videos are decoded from the
// residual around firstFrame at the end. The
// conditional and unconditional branches of all n videos run as one batch.
func (m *Model) Sample(firstFrame []float32, caption string, n int, o SampleOptions) ([][]float32, error) {
	return m.SampleWithProgress(firstFrame, caption, n, o, nil)
}

// SampleWithProgress is Sample with a callback after each step (may be nil).
func (m *Model) SampleWithProgress(firstFrame []float32, caption string, n int, o SampleOptions, progress func(step, total int)) ([][]float32, error) {
	if n < 1 {
		return nil, fmt.Errorf("model: sample count %d < 1", n)
	}
	if o.Steps < 1 || o.Steps > m.cfg.TrainSteps {
		return nil, fmt.Errorf("model: sampling steps %d outside [1, %d]", o.Steps, m.cfg.TrainSteps)
	}
	if math.IsNaN(o.Guidance) || math.IsInf(o.Guidance, 0) || o.Guidance < 0 {
		return nil, fmt.Errorf("model: guidance %g must be finite and non-negative", o.Guidance)
	}
	if err := m.checkFrame("first frame", firstFrame); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5a3b1e))
	x := make([][]float32, n)
	for i := range x {
		x[i] = make([]float32, m.cfg.VideoSize())
		for j := range x[i] {
			x[i][j] = float32(rng.NormFloat64())
		}
	}
	ts := m.sched.Timesteps(o.Steps)
	for k, t := range ts {
		prev := -1
		if k+1 < len(ts) {
			prev = ts[k+1]
		}
		if err := m.ddimStep(x, firstFrame, caption, t, prev, o.Guidance, !o.FreeFirstFrame); err != nil {
			return nil, fmt.Errorf("model: sampling step %d (t=%d): %w", k, t, err)
		}
		if progress != nil {
			progress(k+1, len(ts))
		}
	}
	for _, v := range x {
		m.cfg.fromSpace(v, v, firstFrame)
	}
	return x, nil
}

// ddimStep moves x (n noisy videos at t) to prev (-1: the clean end) in
// place; pinFirst holds the predicted x0's frame 0 at first.
func (m *Model) ddimStep(x [][]float32, first []float32, caption string, t, prev int, guidance float64, pinFirst bool) error {
	n := len(x)
	if n == 0 {
		return errors.New("model: empty sampling batch")
	}
	cfg := guidance != 1
	var xs, fs [][]float32
	var caps []string
	var tt []int
	for i := 0; i < n; i++ {
		xs, fs, caps, tt = append(xs, x[i]), append(fs, first), append(caps, caption), append(tt, t)
	}
	if cfg {
		for i := 0; i < n; i++ {
			xs, fs, caps, tt = append(xs, x[i]), append(fs, first), append(caps, ""), append(tt, t)
		}
	}
	v, err := m.predictV(xs, fs, caps, tt)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		vi := v[i]
		if cfg {
			vi = make([]float32, len(v[i]))
			for j := range vi {
				u := float64(v[n+i][j])
				vi[j] = float32(u + guidance*(float64(v[i][j])-u))
			}
		}
		m.sched.ddimUpdate(x[i], vi, t, prev, m.cfg.x0Bounds(first, pinFirst))
	}
	return nil
}

// ddimUpdate moves x from t to prev (-1: clean) in place given v, with
// eta = 0 and the predicted x0 clipped to bounds (those that keep its pixels
// in [-1, 1]).
func (s *Schedule) ddimUpdate(x, v []float32, t, prev int, bounds func(i int) (lo, hi float64)) {
	abPrev := 1.0
	if prev >= 0 {
		abPrev = s.AlphaBars[prev]
	}
	a, sg := s.coefs(t)
	ap, sp := math.Sqrt(abPrev), math.Sqrt(1-abPrev)
	for j := range x {
		xt, vj := float64(x[j]), float64(v[j])
		lo, hi := bounds(j)
		x0 := math.Max(lo, math.Min(hi, a*xt-sg*vj))
		eps := sg*xt + a*vj
		x[j] = float32(ap*x0 + sp*eps)
	}
}

func clamp1(v float32) float32 {
	if v < -1 {
		return -1
	}
	if v > 1 {
		return 1
	}
	return v
}
