package model

import (
	"errors"
	"fmt"
	"math"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), global
// gradient-norm clipping and a linear learning-rate warm-up, with PyTorch's
// update order: p -= lr*wd*p; p -= lr * mhat / (sqrt(vhat) + eps). State is
// float32 (saved in checkpoints); the arithmetic is float64.
type AdamW struct {
	LR          float64 // peak learning rate
	Beta1       float64
	Beta2       float64
	Eps         float64
	WeightDecay float64 // applied to linear weights only (see Param.decays)
	ClipNorm    float64 // clip the global gradient norm to this; 0 disables
	Warmup      int     // steps of linear warm-up from LR/Warmup to LR; 0 disables

	Step int         // updates taken so far
	M, V [][]float32 // first and second moments, aligned with the parameters
}

// NewAdamW returns an optimiser with zero state for params.
func NewAdamW(params []*Param, lr, weightDecay, clip float64, warmup int) *AdamW {
	o := &AdamW{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay, ClipNorm: clip, Warmup: warmup}
	for _, p := range params {
		o.M = append(o.M, make([]float32, len(p.Data)))
		o.V = append(o.V, make([]float32, len(p.Data)))
	}
	return o
}

// LRAt is the learning rate of the update numbered step (1-based).
func (o *AdamW) LRAt(step int) float64 {
	if o.Warmup > 0 && step < o.Warmup {
		return o.LR * float64(step) / float64(o.Warmup)
	}
	return o.LR
}

func (o *AdamW) validate(params []*Param, g Grads) error {
	if !(o.LR >= 0) || !(o.Beta1 >= 0 && o.Beta1 < 1) || !(o.Beta2 >= 0 && o.Beta2 < 1) || !(o.Eps > 0) ||
		o.WeightDecay < 0 || o.ClipNorm < 0 || o.Warmup < 0 {
		return fmt.Errorf("model: invalid AdamW settings %+v", *o)
	}
	if len(g) != len(params) || len(o.M) != len(params) || len(o.V) != len(params) {
		return fmt.Errorf("model: adamw: %d params, %d grads, %d/%d moments", len(params), len(g), len(o.M), len(o.V))
	}
	for i, p := range params {
		if len(g[i]) != len(p.Data) || len(o.M[i]) != len(p.Data) || len(o.V[i]) != len(p.Data) {
			return fmt.Errorf("model: adamw: size mismatch for %s", p.Name)
		}
	}
	return nil
}

// Update applies one step to params with gradients g (g is clipped in
// place). It returns the learning rate used and the pre-clip gradient norm.
// A non-finite gradient is refused, leaving params and state untouched.
func (o *AdamW) Update(params []*Param, g Grads) (lr, norm float64, err error) {
	if err := o.validate(params, g); err != nil {
		return 0, 0, err
	}
	norm = g.Norm()
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return 0, norm, errors.New("model: adamw: non-finite gradient")
	}
	if o.ClipNorm > 0 && norm > o.ClipNorm {
		s := float32(o.ClipNorm / (norm + 1e-6))
		for _, x := range g {
			for j := range x {
				x[j] *= s
			}
		}
	}
	o.Step++
	lr = o.LRAt(o.Step)
	bc1 := 1 - math.Pow(o.Beta1, float64(o.Step))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.Step))
	for i, p := range params {
		decay := 1.0
		if p.decays() {
			decay = 1 - lr*o.WeightDecay
		}
		m, v, gi := o.M[i], o.V[i], g[i]
		for j := range p.Data {
			gj := float64(gi[j])
			mj := o.Beta1*float64(m[j]) + (1-o.Beta1)*gj
			vj := o.Beta2*float64(v[j]) + (1-o.Beta2)*gj*gj
			m[j], v[j] = float32(mj), float32(vj)
			pj := float64(p.Data[j]) * decay
			pj -= lr * (mj / bc1) / (math.Sqrt(vj/bc2) + o.Eps)
			p.Data[j] = float32(pj)
		}
	}
	return lr, norm, nil
}

// EMAUpdate moves ref toward policy: ref = (1-rate)*ref + rate*policy,
// computed and stored in float32 (in bfloat16 a 0.1% step would round away).
func EMAUpdate(ref, policy *Model, rate float64) error {
	if ref.cfg != policy.cfg || len(ref.params) != len(policy.params) {
		return errors.New("model: ema between different configs")
	}
	if !(rate >= 0 && rate <= 1) {
		return fmt.Errorf("model: ema rate %g outside [0, 1]", rate)
	}
	keep, r := float32(1-rate), float32(rate)
	for i, p := range ref.params {
		q := policy.params[i].Data
		for j := range p.Data {
			p.Data[j] = keep*p.Data[j] + r*q[j]
		}
	}
	return nil
}
