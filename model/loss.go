package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Clip is one video with its conditioning.
type Clip struct {
	// Video is Frames x Height x Width x Channels values in [-1, 1]
	// (row-major, channels last: RGB24 bytes mapped by b/127.5 - 1).
	Video []float32
	// FirstFrame is the conditioning image (Height x Width x Channels); nil
	// means the video's own first frame.
	FirstFrame []float32
	// Caption is free text; "" is the unconditional (null) caption.
	Caption string
}

// Grads holds one gradient slice per parameter, aligned with Model.Params.
type Grads [][]float32

// Norm is the global L2 norm.
func (g Grads) Norm() float64 {
	s := 0.0
	for _, x := range g {
		for _, v := range x {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// noisyInputs is a batch ready for a graph: per video, the noisy video x_t,
// the v target, the conditioning frame, caption and timestep.
type noisyInputs struct {
	xt, v, first [][]float32
	captions     []string
	ts           []int
	eps          [][]float32 // the noise used, kept so tests can check sharing
}

// noiseClips noises each clip at its own t with its own eps. The DPO path
// passes the same t and the same eps slice for every clip.
func (m *Model) noiseClips(clips []Clip, ts []int, eps [][]float32) (*noisyInputs, error) {
	if len(clips) == 0 {
		return nil, errors.New("model: empty batch")
	}
	if len(ts) != len(clips) || len(eps) != len(clips) {
		return nil, fmt.Errorf("model: %d clips but %d timesteps and %d noise tensors", len(clips), len(ts), len(eps))
	}
	in := &noisyInputs{ts: ts, eps: eps}
	for i, c := range clips {
		if err := m.checkVideo(fmt.Sprintf("clip %d", i), c.Video); err != nil {
			return nil, err
		}
		if len(eps[i]) != len(c.Video) {
			return nil, fmt.Errorf("model: noise %d has %d values, want %d", i, len(eps[i]), len(c.Video))
		}
		first := c.FirstFrame
		if first == nil {
			first = c.Video[:m.cfg.FrameSize()]
		} else if err := m.checkFrame(fmt.Sprintf("clip %d first frame", i), first); err != nil {
			return nil, err
		}
		x0 := c.Video
		if m.cfg.ResidualScale != 0 {
			x0 = make([]float32, len(c.Video))
			m.cfg.toSpace(x0, c.Video, first)
		}
		xt := make([]float32, len(c.Video))
		v := make([]float32, len(c.Video))
		if err := m.sched.Noise(xt, v, x0, eps[i], ts[i]); err != nil {
			return nil, err
		}
		in.xt = append(in.xt, xt)
		in.v = append(in.v, v)
		in.first = append(in.first, first)
		in.captions = append(in.captions, c.Caption)
	}
	return in, nil
}

// fill writes a batch into a graph's input tensors. targets may be nil
// (prediction graphs).
func (m *Model) fill(ng *netGraph, xt, first [][]float32, captions []string, ts []int, targets [][]float32) {
	c := m.cfg
	N, pd, P, D := c.TokensPerVideo(), c.PatchDim(), c.PatchesPerFrame(), c.Dim
	x := ng.x.Data().([]float32)
	for i := range x {
		x[i] = 0 // frames after the first get zeros in the conditioning half
	}
	temb := ng.temb.Data().([]float32)
	capt := ng.capt.Data().([]float32)
	for b := range xt {
		rows := x[b*N*2*pd:]
		c.patchify(rows, 2*pd, 0, xt[b], c.Frames)
		c.patchify(rows[:P*2*pd], 2*pd, pd, first[b], 1)
		timeFeatures(temb[b*D:(b+1)*D], ts[b])
		captionRow(capt[b*c.Vocab:(b+1)*c.Vocab], captions[b], c.Vocab, c.MaxWords)
	}
	if targets != nil && ng.target != nil {
		tg := ng.target.Data().([]float32)
		for b := range targets {
			c.patchify(tg[b*N*pd:], pd, 0, targets[b], c.Frames)
		}
	}
}

// readGrads copies the gradient of every parameter after a training run.
func (ng *netGraph) readGrads() (Grads, error) {
	g := make(Grads, len(ng.gradOut))
	for i, r := range ng.gradOut {
		d, err := out(r)
		if err != nil {
			return nil, err
		}
		g[i] = d
	}
	return g, nil
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// perSampleLosses runs a loss graph (no gradient) and returns each video's
// mean v-MSE.
func (m *Model) perSampleLosses(in *noisyInputs) ([]float64, error) {
	ng, err := m.graph(graphKey{kind: kindLoss, batch: len(in.xt)})
	if err != nil {
		return nil, err
	}
	m.fill(ng, in.xt, in.first, in.captions, in.ts, in.v)
	if err := ng.run(); err != nil {
		return nil, err
	}
	return ng.perSampleOut.float64s()
}

// SFTResult is the supervised loss of a batch.
type SFTResult struct {
	Loss      float64   // mean over the batch of the per-sample losses
	PerSample []float64 // mean over all elements of (v_pred - v_target)^2, per video
	Grads     Grads     // d Loss / d params, when asked for
}

// SFTLoss is the supervised fine-tuning loss: for video i at timestep ts[i]
// with noise eps[i], the per-sample mean v-MSE; the batch loss is their
// mean. The caller draws ts (uniform over the schedule for SFT) and eps.
func SFTLoss(m *Model, clips []Clip, ts []int, eps [][]float32, withGrad bool) (*SFTResult, error) {
	return weightedLoss(m, clips, ts, eps, nil, withGrad)
}

// weightedLoss is SFTLoss with explicit per-sample weights (nil: 1/B).
func weightedLoss(m *Model, clips []Clip, ts []int, eps [][]float32, w []float32, withGrad bool) (*SFTResult, error) {
	in, err := m.noiseClips(clips, ts, eps)
	if err != nil {
		return nil, err
	}
	B := len(clips)
	if w == nil {
		w = make([]float32, B)
		for i := range w {
			w[i] = 1 / float32(B)
		}
	}
	if !withGrad {
		ps, err := m.perSampleLosses(in)
		if err != nil {
			return nil, err
		}
		r := &SFTResult{PerSample: ps}
		for i, l := range ps {
			r.Loss += float64(w[i]) * l
		}
		return r, nil
	}
	ng, err := m.graph(graphKey{kind: kindTrain, batch: B})
	if err != nil {
		return nil, err
	}
	m.fill(ng, in.xt, in.first, in.captions, in.ts, in.v)
	ng.setObjective(toF64(w), nil, 0, 0)
	if err := ng.run(); err != nil {
		return nil, err
	}
	ps, err := ng.perSampleOut.float64s()
	if err != nil {
		return nil, err
	}
	obj, err := ng.objOut.float64s()
	if err != nil {
		return nil, err
	}
	g, err := ng.readGrads()
	if err != nil {
		return nil, err
	}
	return &SFTResult{Loss: obj[0], PerSample: ps, Grads: g}, nil
}

// Reduction says how the N per-loser losses combine into the objective.
type Reduction string

const (
	// ReduceSum backpropagates the sum of loss_i, as the reference code
	// does (it calls backward on each loss_i in turn). The default.
	ReduceSum Reduction = "sum"
	// ReduceMean uses the mean, which keeps the gradient scale independent of N.
	ReduceMean Reduction = "mean"
)

// DPOOptions are the RealDPO loss settings.
type DPOOptions struct {
	// Beta scales the implicit reward. Its meaning depends on L being the
	// mean over elements (5000 in the reference code; Diffusion-DPO uses
	// 2000-5000). Must be positive.
	Beta float64
	// Lambda adds Lambda * Lw (the winner's plain v-MSE) to the objective:
	// the DPO+SFT guard against drifting away from real data. 0 disables.
	Lambda float64
	// Reduction over negatives; "" means ReduceSum.
	Reduction Reduction
	// TShare is the share of the noise schedule, from the low-noise end,
	// the shared timestep is drawn from: 0 is the reference code's lower
	// half {0, ..., T/2-1}; 1 draws from every timestep, as Diffusion-DPO
	// does. Coarse motion is decided at high noise, which the lower half
	// never trains.
	TShare float64 `json:",omitempty"`
}

// DefaultDPOOptions follows the reference code: beta 5000, summed over
// negatives, no SFT term.
func DefaultDPOOptions() DPOOptions { return DPOOptions{Beta: 5000, Reduction: ReduceSum} }

func (o DPOOptions) scale(n int) (float64, error) {
	if !(o.Beta > 0) || math.IsInf(o.Beta, 0) {
		return 0, fmt.Errorf("model: dpo beta must be positive and finite, got %g", o.Beta)
	}
	if o.Lambda < 0 || math.IsNaN(o.Lambda) || math.IsInf(o.Lambda, 0) {
		return 0, fmt.Errorf("model: dpo lambda must be non-negative and finite, got %g", o.Lambda)
	}
	if !(o.TShare >= 0 && o.TShare <= 1) {
		return 0, fmt.Errorf("model: dpo timestep share must be within [0, 1], got %g", o.TShare)
	}
	switch o.Reduction {
	case "", ReduceSum:
		return 1, nil
	case ReduceMean:
		return 1 / float64(n), nil
	}
	return 0, fmt.Errorf("model: unknown dpo reduction %q (sum or mean)", o.Reduction)
}

// DPOExample is one RealDPO training sample: the real clip wins, every
// generated clip loses; all share the first frame and the caption.
type DPOExample struct {
	Winner     []float32   // real clip (Frames x Height x Width x Channels)
	Losers     [][]float32 // N >= 1 generated clips
	FirstFrame []float32   // Height x Width x Channels; nil: the winner's first frame
	Caption    string
}

// DPOResult reports every term of the RealDPO loss.
type DPOResult struct {
	T            int       // the shared timestep
	Lw, LwRef    float64   // winner v-MSE under policy and reference
	Ll, LlRef    []float64 // per-loser v-MSE under policy and reference
	Inside       []float64 // inside_i
	Losses       []float64 // loss_i = softplus(-inside_i)
	MeanLoss     float64   // mean of loss_i (what the reference code logs)
	Objective    float64   // reduced DPO loss + Lambda*Lw: what the gradient is of
	Accuracy     float64   // fraction of inside_i > 0 (a weak signal, see REALDPO.md)
	WinnerMargin float64   // Lw - Lw_ref: watch it; rising means drifting from real data
	Grads        Grads     // d Objective / d policy params, when asked for
}

// DrawDPONoise draws the shared timestep, uniform over the lower-noise half
// {0, ..., T/2-1}, and the one noise tensor shared by winner and losers.
func DrawDPONoise(rng *rand.Rand, c Config) (int, []float32) {
	return DPOOptions{}.DrawNoise(rng, c)
}

// Timesteps is how many timesteps, from the low-noise end, the shared
// timestep is drawn from (TShare of T; T/2 when TShare is 0).
func (o DPOOptions) Timesteps(c Config) int {
	if o.TShare <= 0 {
		return c.TrainSteps / 2
	}
	return min(c.TrainSteps, max(1, int(math.Round(o.TShare*float64(c.TrainSteps)))))
}

// DrawNoise draws the shared timestep, uniform over o.Timesteps(c), and
// the one noise tensor shared by winner and losers.
func (o DPOOptions) DrawNoise(rng *rand.Rand, c Config) (int, []float32) {
	t := rng.IntN(o.Timesteps(c))
	eps := make([]float32, c.VideoSize())
	for i := range eps {
		eps[i] = float32(rng.NormFloat64())
	}
	return t, eps
}

// dpoInputs noises winner and losers with the same t and the same eps.
func (m *Model) dpoInputs(ex DPOExample, t int, eps []float32) (*noisyInputs, error) {
	if len(ex.Losers) == 0 {
		return nil, errors.New("model: dpo example has no losers")
	}
	first := ex.FirstFrame
	if first == nil {
		if len(ex.Winner) < m.cfg.FrameSize() {
			return nil, fmt.Errorf("model: dpo winner has %d values, want %d", len(ex.Winner), m.cfg.VideoSize())
		}
		first = ex.Winner[:m.cfg.FrameSize()]
	}
	clips := []Clip{{Video: ex.Winner, FirstFrame: first, Caption: ex.Caption}}
	for _, l := range ex.Losers {
		clips = append(clips, Clip{Video: l, FirstFrame: first, Caption: ex.Caption})
	}
	ts := make([]int, len(clips))
	epss := make([][]float32, len(clips))
	for i := range clips {
		ts[i], epss[i] = t, eps
	}
	return m.noiseClips(clips, ts, epss)
}

// DPOLoss is the RealDPO loss of one example at timestep t with noise eps,
// both shared by the winner and every loser (draw them with DrawDPONoise):
//
//	L = mean over elements of (v_pred - v_target)^2, for policy and reference
//	inside_i = -(beta/2) * ((Lw - Lw_ref) - (Ll_i - Ll_ref_i))
//	loss_i   = softplus(-inside_i)
//	objective = reduce_i(loss_i) + lambda * Lw
//
// The reference runs without gradient; with withGrad the whole objective
// is differentiated by Gorgonia with respect to the policy's parameters.
func DPOLoss(policy, ref *Model, ex DPOExample, t int, eps []float32, o DPOOptions, withGrad bool) (*DPOResult, error) {
	if policy.cfg != ref.cfg {
		return nil, errors.New("model: dpo policy and reference configs differ")
	}
	nNeg := len(ex.Losers)
	red, err := o.scale(nNeg)
	if err != nil {
		return nil, err
	}
	if t < 0 || t >= policy.cfg.TrainSteps {
		return nil, fmt.Errorf("model: dpo timestep %d outside [0, %d)", t, policy.cfg.TrainSteps)
	}
	in, err := policy.dpoInputs(ex, t, eps)
	if err != nil {
		return nil, err
	}
	refL, err := ref.perSampleLosses(in)
	if err != nil {
		return nil, fmt.Errorf("model: dpo reference: %w", err)
	}
	res := &DPOResult{T: t, LwRef: refL[0], LlRef: refL[1:]}
	var pol []float64
	if withGrad {
		ng, err := policy.graph(graphKey{kind: kindTrain, batch: 1 + nNeg, neg: nNeg})
		if err != nil {
			return nil, err
		}
		policy.fill(ng, in.xt, in.first, in.captions, in.ts, in.v)
		w := make([]float64, 1+nNeg)
		w[0] = o.Lambda
		ng.setObjective(w, refL, o.Beta, red)
		if err := ng.run(); err != nil {
			return nil, err
		}
		if pol, err = ng.perSampleOut.float64s(); err != nil {
			return nil, err
		}
		if res.Grads, err = ng.readGrads(); err != nil {
			return nil, err
		}
	} else if pol, err = policy.perSampleLosses(in); err != nil {
		return nil, err
	}
	res.Lw, res.Ll = pol[0], pol[1:]
	res.WinnerMargin = res.Lw - res.LwRef
	// The reported terms are recomputed in float64 from the per-sample
	// losses; the gradient comes from the identical in-graph formula.
	sum := 0.0
	for i := 0; i < nNeg; i++ {
		in := -(o.Beta / 2) * ((res.Lw - res.LwRef) - (res.Ll[i] - res.LlRef[i]))
		l := softplus(-in)
		res.Inside = append(res.Inside, in)
		res.Losses = append(res.Losses, l)
		sum += l
		if in > 0 {
			res.Accuracy += 1 / float64(nNeg)
		}
	}
	res.MeanLoss = sum / float64(nNeg)
	res.Objective = red*sum + o.Lambda*res.Lw
	return res, nil
}

// softplus is log(1 + e^x), stable for large |x|.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}
