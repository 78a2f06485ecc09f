package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Model is the image-to-video diffusion transformer: its config, noise
// schedule and parameters, plus the Gorgonia graphs built for it (one per
// batch size and use, built on first need and cached). A Model is not safe
// for concurrent use.
type Model struct {
	cfg    Config
	sched  *Schedule
	params []*Param
	byName map[string]*Param
	graphs map[graphKey]*netGraph
	engine Engine
}

// New builds a freshly initialised model; seed fixes the initialisation.
func New(c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s, err := NewSchedule(c)
	if err != nil {
		return nil, err
	}
	m := &Model{cfg: c, sched: s, byName: map[string]*Param{}, graphs: map[graphKey]*netGraph{}, engine: defaultEngine}
	rng := rand.New(rand.NewPCG(seed, 0x1417))
	for _, sp := range paramSpecs(c) {
		p := &Param{Name: sp.name, Shape: sp.shape, Data: make([]float32, shapeSize(sp.shape))}
		sp.init(rng, p.Data, p.Shape)
		m.params = append(m.params, p)
		m.byName[p.Name] = p
	}
	return m, nil
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Schedule returns the model's noise schedule.
func (m *Model) Schedule() *Schedule { return m.sched }

// Params returns the parameters in their fixed order (shared, not copied).
func (m *Model) Params() []*Param { return m.params }

// NumParams is the total parameter count.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.params {
		n += len(p.Data)
	}
	return n
}

// Clone returns an independent copy of the weights (no graphs shared): the
// frozen reference model starts as Clone of the policy.
func (m *Model) Clone() *Model {
	c := &Model{cfg: m.cfg, sched: m.sched, byName: map[string]*Param{}, graphs: map[graphKey]*netGraph{}, engine: m.engine}
	for _, p := range m.params {
		q := &Param{Name: p.Name, Shape: append([]int(nil), p.Shape...), Data: append([]float32(nil), p.Data...)}
		c.params = append(c.params, q)
		c.byName[q.Name] = q
	}
	return c
}

// CopyFrom overwrites m's weights with src's (same config required).
func (m *Model) CopyFrom(src *Model) error {
	if m.cfg != src.cfg {
		return fmt.Errorf("model: copy between different configs")
	}
	for i, p := range m.params {
		copy(p.Data, src.params[i].Data)
	}
	return nil
}

// checkVideo validates one video's length and values.
func (m *Model) checkVideo(what string, v []float32) error {
	if len(v) != m.cfg.VideoSize() {
		return fmt.Errorf("model: %s has %d values, want %d (%d frames of %dx%dx%d)",
			what, len(v), m.cfg.VideoSize(), m.cfg.Frames, m.cfg.Width, m.cfg.Height, m.cfg.Channels)
	}
	return checkFinite(what, v)
}

func (m *Model) checkFrame(what string, f []float32) error {
	if len(f) != m.cfg.FrameSize() {
		return fmt.Errorf("model: %s has %d values, want %d (%dx%dx%d)", what, len(f), m.cfg.FrameSize(),
			m.cfg.Width, m.cfg.Height, m.cfg.Channels)
	}
	return checkFinite(what, f)
}

func checkFinite(what string, v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("model: %s has a non-finite value at %d", what, i)
		}
	}
	return nil
}

// patchify writes video v ([F][H][W][C]) as token rows (frame, patch row,
// patch column) of PatchDim values (dy, dx, c) into dst, with row stride
// stride and column offset off; it is how both the noisy video and the
// first-frame conditioning become the network's input.
func (c Config) patchify(dst []float32, stride, off int, v []float32, frames int) {
	gh, gw, p, C := c.Height/c.Patch, c.Width/c.Patch, c.Patch, c.Channels
	tok := 0
	for f := 0; f < frames; f++ {
		fr := v[f*c.FrameSize():]
		for py := 0; py < gh; py++ {
			for px := 0; px < gw; px++ {
				row := dst[tok*stride+off:]
				k := 0
				for dy := 0; dy < p; dy++ {
					src := fr[((py*p+dy)*c.Width+px*p)*C:]
					k += copy(row[k:k+p*C], src[:p*C])
				}
				tok++
			}
		}
	}
}

// unpatchify inverts patchify for one video from token rows of width PatchDim.
func (c Config) unpatchify(v []float32, tokens []float32) {
	gh, gw, p, C, pd := c.Height/c.Patch, c.Width/c.Patch, c.Patch, c.Channels, c.PatchDim()
	tok := 0
	for f := 0; f < c.Frames; f++ {
		fr := v[f*c.FrameSize():]
		for py := 0; py < gh; py++ {
			for px := 0; px < gw; px++ {
				row := tokens[tok*pd:]
				for dy := 0; dy < p; dy++ {
					copy(fr[((py*p+dy)*c.Width+px*p)*C:][:p*C], row[dy*p*C:(dy+1)*p*C])
				}
				tok++
			}
		}
	}
}

// timeFeatures writes the sinusoidal features of timestep t (Dim values:
// cosines then sines at geometric frequencies, as in DDPM/DiT).
func timeFeatures(dst []float32, t int) {
	half := len(dst) / 2
	for k := 0; k < half; k++ {
		freq := math.Exp(-math.Log(10000) * float64(k) / float64(half))
		dst[k] = float32(math.Cos(float64(t) * freq))
		dst[half+k] = float32(math.Sin(float64(t) * freq))
	}
}
