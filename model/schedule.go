package model

import (
	"fmt"
	"math"
)

// Schedule is the DDPM noise schedule: T steps, scaled-linear betas
// (linear in sqrt(beta), as Stable Diffusion and CogVideoX use), computed in
// float64. The model predicts v = sqrt(abar) eps - sqrt(1-abar) x0.
type Schedule struct {
	T         int
	Betas     []float64
	AlphaBars []float64 // cumulative products of (1 - beta)
}

// NewSchedule builds the schedule of c.
func NewSchedule(c Config) (*Schedule, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Schedule{T: c.TrainSteps, Betas: make([]float64, c.TrainSteps), AlphaBars: make([]float64, c.TrainSteps)}
	a, b := math.Sqrt(c.BetaStart), math.Sqrt(c.BetaEnd)
	prod := 1.0
	for i := range s.Betas {
		r := a + (b-a)*float64(i)/float64(c.TrainSteps-1)
		s.Betas[i] = r * r
		prod *= 1 - s.Betas[i]
		s.AlphaBars[i] = prod
	}
	return s, nil
}

func (s *Schedule) check(t int) error {
	if t < 0 || t >= s.T {
		return fmt.Errorf("model: timestep %d outside [0, %d)", t, s.T)
	}
	return nil
}

// coefs returns sqrt(abar_t) and sqrt(1 - abar_t).
func (s *Schedule) coefs(t int) (float64, float64) {
	ab := s.AlphaBars[t]
	return math.Sqrt(ab), math.Sqrt(1 - ab)
}

// Noise writes x_t = sqrt(abar) x0 + sqrt(1-abar) eps into xt and the
// v-prediction target v = sqrt(abar) eps - sqrt(1-abar) x0 into v.
func (s *Schedule) Noise(xt, v, x0, eps []float32, t int) error {
	if err := s.check(t); err != nil {
		return err
	}
	if len(xt) != len(x0) || len(v) != len(x0) || len(eps) != len(x0) {
		return fmt.Errorf("model: noise: length mismatch %d %d %d %d", len(xt), len(v), len(x0), len(eps))
	}
	a, sg := s.coefs(t)
	for i := range x0 {
		x, e := float64(x0[i]), float64(eps[i])
		xt[i] = float32(a*x + sg*e)
		v[i] = float32(a*e - sg*x)
	}
	return nil
}

// PredictX0Eps recovers (x0, eps) from x_t and a predicted v.
func (s *Schedule) PredictX0Eps(x0, eps, xt, v []float32, t int) {
	a, sg := s.coefs(t)
	for i := range xt {
		x, vv := float64(xt[i]), float64(v[i])
		x0[i] = float32(a*x - sg*vv)
		eps[i] = float32(sg*x + a*vv)
	}
}
