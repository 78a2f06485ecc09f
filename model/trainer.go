package model

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// TrainOptions configure a Trainer. They are stored in checkpoints.
type TrainOptions struct {
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	ClipNorm    float64 `json:"clip_norm"`
	Warmup      int     `json:"warmup"`
	// Seed fixes all training randomness: step s draws from PCG(Seed, s),
	// so a resumed run repeats exactly the steps it would have taken.
	Seed uint64 `json:"seed"`
	// CondDrop is the SFT probability of replacing a caption by the null
	// caption, which teaches the unconditional branch for classifier-free
	// guidance (DPO steps keep captions, as Diffusion-DPO does).
	CondDrop float64    `json:"cond_drop"`
	DPO      DPOOptions `json:"dpo"`
	// EMAEvery moves the DPO reference toward the policy every EMAEvery
	// optimiser steps at rate EMARate; 0 keeps the reference frozen.
	EMAEvery int     `json:"ema_every"`
	EMARate  float64 `json:"ema_rate"`
}

// DefaultSFTOptions suit pretraining the tiny preset from scratch.
func DefaultSFTOptions() TrainOptions {
	return TrainOptions{LR: 1e-3, WeightDecay: 1e-4, ClipNorm: 1, Warmup: 50, Seed: 1, CondDrop: 0.1}
}

// DefaultDPOOptions follow the reference setup (AdamW, weight decay 1e-4,
// clipping 1.0, beta 5000, EMA 0.001 every 100 steps) with a learning rate
// raised from 1e-6 to 1e-5 for a model this small.
func DefaultDPOTrainOptions() TrainOptions {
	return TrainOptions{LR: 1e-5, WeightDecay: 1e-4, ClipNorm: 1, Warmup: 10, Seed: 1,
		DPO: DefaultDPOOptions(), EMAEvery: 100, EMARate: 0.001}
}

func (o TrainOptions) validate() error {
	if !(o.LR >= 0) || o.WeightDecay < 0 || o.ClipNorm < 0 || o.Warmup < 0 {
		return fmt.Errorf("model: invalid optimiser options lr=%g wd=%g clip=%g warmup=%d", o.LR, o.WeightDecay, o.ClipNorm, o.Warmup)
	}
	if !(o.CondDrop >= 0 && o.CondDrop <= 1) {
		return fmt.Errorf("model: cond_drop %g outside [0, 1]", o.CondDrop)
	}
	if o.EMAEvery < 0 || !(o.EMARate >= 0 && o.EMARate <= 1) {
		return fmt.Errorf("model: invalid ema every=%d rate=%g", o.EMAEvery, o.EMARate)
	}
	return nil
}

// Trainer owns a policy, an optional frozen reference (DPO) and the
// optimiser state, and takes SFT or DPO steps.
type Trainer struct {
	Policy *Model
	Ref    *Model // nil for SFT-only training
	Opt    *AdamW
	Opts   TrainOptions
}

// StepInfo describes one optimiser update.
type StepInfo struct {
	Step     int     // updates taken, this one included
	LR       float64 // learning rate used
	GradNorm float64 // global norm before clipping
	EMA      bool    // whether the reference moved after this step
}

// NewTrainer starts training policy. ref may be nil (SFT only); for DPO
// pass policy.Clone() (or a loaded reference).
func NewTrainer(policy, ref *Model, o TrainOptions) (*Trainer, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if ref != nil && ref.cfg != policy.cfg {
		return nil, errors.New("model: reference config differs from policy")
	}
	return &Trainer{Policy: policy, Ref: ref, Opts: o,
		Opt: NewAdamW(policy.params, o.LR, o.WeightDecay, o.ClipNorm, o.Warmup)}, nil
}

// Step is the number of updates taken.
func (tr *Trainer) Step() int { return tr.Opt.Step }

func (tr *Trainer) stepRNG() *rand.Rand {
	return rand.New(rand.NewPCG(tr.Opts.Seed, uint64(tr.Opt.Step)+1))
}

// SFTStep takes one supervised step on a batch: independent uniform
// timesteps and noise per clip, captions dropped with probability CondDrop.
func (tr *Trainer) SFTStep(clips []Clip) (*SFTResult, StepInfo, error) {
	rng := tr.stepRNG()
	c := tr.Policy.cfg
	ts := make([]int, len(clips))
	eps := make([][]float32, len(clips))
	in := make([]Clip, len(clips))
	for i := range clips {
		ts[i] = rng.IntN(c.TrainSteps)
		eps[i] = make([]float32, c.VideoSize())
		for j := range eps[i] {
			eps[i][j] = float32(rng.NormFloat64())
		}
		in[i] = clips[i]
		if rng.Float64() < tr.Opts.CondDrop {
			in[i].Caption = ""
		}
	}
	r, err := SFTLoss(tr.Policy, in, ts, eps, true)
	if err != nil {
		return nil, StepInfo{}, err
	}
	info, err := tr.update(r.Grads)
	return r, info, err
}

// DPOStep takes one RealDPO step on an example: one t from the lower half
// of the schedule and one noise tensor shared by the winner and all losers.
func (tr *Trainer) DPOStep(ex DPOExample) (*DPOResult, StepInfo, error) {
	if tr.Ref == nil {
		return nil, StepInfo{}, errors.New("model: dpo step needs a reference model")
	}
	t, eps := tr.Opts.DPO.DrawNoise(tr.stepRNG(), tr.Policy.cfg)
	r, err := DPOLoss(tr.Policy, tr.Ref, ex, t, eps, tr.Opts.DPO, true)
	if err != nil {
		return nil, StepInfo{}, err
	}
	info, err := tr.update(r.Grads)
	return r, info, err
}

func (tr *Trainer) update(g Grads) (StepInfo, error) {
	lr, norm, err := tr.Opt.Update(tr.Policy.params, g)
	if err != nil {
		return StepInfo{}, err
	}
	info := StepInfo{Step: tr.Opt.Step, LR: lr, GradNorm: norm}
	if tr.Ref != nil && tr.Opts.EMAEvery > 0 && tr.Opt.Step%tr.Opts.EMAEvery == 0 {
		if err := EMAUpdate(tr.Ref, tr.Policy, tr.Opts.EMARate); err != nil {
			return info, err
		}
		info.EMA = true
	}
	return info, nil
}

// NewDPOTrainer starts RealDPO training of policy against a frozen copy of
// itself (the reference), as the paper does.
func NewDPOTrainer(policy *Model, o TrainOptions) (*Trainer, error) {
	return NewTrainer(policy, policy.Clone(), o)
}
