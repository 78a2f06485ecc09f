package model

import (
	"errors"
	"fmt"
)

// DPOBatchResult is one optimiser update over several RealDPO examples.
type DPOBatchResult struct {
	Examples  []*DPOResult // per example, gradients dropped
	Objective float64      // mean of the examples' objectives: what the update descends
}

// DPOBatchStep takes one RealDPO update on a batch: each example draws its
// own timestep and shared noise (in order, from the step's generator) and
// the gradient is the mean of the examples' gradients, as a data-parallel
// batch of one example per device gives. A batch of one is exactly DPOStep.
func (tr *Trainer) DPOBatchStep(exs []DPOExample) (*DPOBatchResult, StepInfo, error) {
	if tr.Ref == nil {
		return nil, StepInfo{}, errors.New("model: dpo step needs a reference model")
	}
	if len(exs) == 0 {
		return nil, StepInfo{}, errors.New("model: empty dpo batch")
	}
	rng := tr.stepRNG()
	out := &DPOBatchResult{}
	var sum Grads
	inv := 1 / float32(len(exs))
	for i, ex := range exs {
		t, eps := tr.Opts.DPO.DrawNoise(rng, tr.Policy.cfg)
		r, err := DPOLoss(tr.Policy, tr.Ref, ex, t, eps, tr.Opts.DPO, true)
		if err != nil {
			return nil, StepInfo{}, fmt.Errorf("example %d: %w", i, err)
		}
		if len(exs) == 1 {
			sum = r.Grads // bit-identical to DPOStep
		} else {
			if sum == nil {
				sum = make(Grads, len(r.Grads))
				for j, g := range r.Grads {
					sum[j] = make([]float32, len(g))
				}
			}
			for j, g := range r.Grads {
				for k, v := range g {
					sum[j][k] += v * inv
				}
			}
		}
		r.Grads = nil
		out.Examples = append(out.Examples, r)
		out.Objective += r.Objective / float64(len(exs))
	}
	info, err := tr.update(sum)
	return out, info, err
}
