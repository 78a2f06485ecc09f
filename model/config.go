package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Config fixes the architecture and the video geometry of a model. Every
// field is stored in checkpoint metadata, and loading refuses a checkpoint
// whose config differs from the one asked for.
//
// Videos live in pixel space (no VAE): Frames x Height x Width x 3 values in
// [-1, 1]. Each frame is cut into Patch x Patch tokens, so a video is
// Frames * (Height/Patch) * (Width/Patch) tokens of Dim features.
//
// Scaling up: compute grows about linearly in Depth and in the token count
// and quadratically in Dim; spatial attention grows with the square of the
// tokens per frame. Raise Dim (keeping Dim/Heads at 16..64) and Depth first,
// then the resolution; keep Height and Width multiples of Patch. The "small"
// preset is a documented next step up; beyond that a GPU framework is the
// honest choice, and the safetensors layout is meant to port.
type Config struct {
	Frames   int `json:"frames"`    // frames per clip, first frame included
	Height   int `json:"height"`    // pixels
	Width    int `json:"width"`     // pixels
	Channels int `json:"channels"`  // 3 (RGB)
	Patch    int `json:"patch"`     // square patch side, pixels
	Dim      int `json:"dim"`       // transformer width
	Depth    int `json:"depth"`     // blocks (spatial attn + temporal attn + MLP each)
	Heads    int `json:"heads"`     // attention heads; Dim % Heads == 0
	MLPRatio int `json:"mlp_ratio"` // hidden width of the MLP is Dim*MLPRatio
	// Vocab is the size of the hashed caption vocabulary; token 0 is the
	// learned "no caption" token used for classifier-free guidance.
	Vocab int `json:"vocab"`
	// MaxWords caps how many caption words are pooled.
	MaxWords int `json:"max_words"`
	// TrainSteps is the DDPM horizon T (1000 in the paper's setting).
	TrainSteps int     `json:"train_steps"`
	BetaStart  float64 `json:"beta_start"` // scaled-linear schedule endpoints
	BetaEnd    float64 `json:"beta_end"`
	// ResidualScale > 0 diffuses the first-frame residual
	// z = ResidualScale * (video - first frame) instead of the pixels, the
	// way latent models diffuse a scaled VAE latent. Everyday footage is
	// mostly the first frame again: in residual space the static background
	// is exactly zero, so a small model spends its capacity on motion, and
	// its samples start from the conditioning frame rather than from
	// colour noise. 0 means pixel space.
	ResidualScale float64 `json:"residual_scale,omitempty"`
}

// Presets by name, for flags such as --preset.
var presets = map[string]Config{
	// tiny: the demo's model. 9 frames (about one second at 8 fps) of
	// 32x48, 4x4 patches: 96 tokens a frame, 864 a clip.
	"tiny": {
		Frames: 9, Height: 32, Width: 48, Channels: 3, Patch: 4,
		Dim: 64, Depth: 3, Heads: 4, MLPRatio: 4,
		Vocab: 2048, MaxWords: 64,
		TrainSteps: 1000, BetaStart: 0.00085, BetaEnd: 0.012,
		ResidualScale: 4,
	},
	// small: four times the pixels, twice the width; roughly 16x tiny's cost.
	"small": {
		Frames: 17, Height: 64, Width: 96, Channels: 3, Patch: 8,
		Dim: 128, Depth: 6, Heads: 4, MLPRatio: 4,
		Vocab: 8192, MaxWords: 128,
		TrainSteps: 1000, BetaStart: 0.00085, BetaEnd: 0.012,
		ResidualScale: 4,
	},
}

// Preset returns a named configuration ("tiny" or "small").
func Preset(name string) (Config, error) {
	c, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("model: unknown preset %q (have tiny, small)", name)
	}
	return c, nil
}

// Tiny is the demo preset.
func Tiny() Config { c, _ := Preset("tiny"); return c }

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	pos := map[string]int{
		"frames": c.Frames, "height": c.Height, "width": c.Width, "channels": c.Channels,
		"patch": c.Patch, "dim": c.Dim, "depth": c.Depth, "heads": c.Heads,
		"mlp_ratio": c.MLPRatio, "vocab": c.Vocab, "max_words": c.MaxWords, "train_steps": c.TrainSteps,
	}
	for k, v := range pos {
		if v <= 0 {
			return fmt.Errorf("model: config %s must be positive, got %d", k, v)
		}
		// Every field is bounded before anything is sized by it: a
		// checkpoint header is untrusted input.
		if hi := configLimits[k]; v > hi {
			return fmt.Errorf("model: config %s %d exceeds the limit %d", k, v, hi)
		}
	}
	switch {
	case c.Frames < 2:
		return errors.New("model: config frames must be at least 2 (first frame + motion)")
	case c.Height%c.Patch != 0 || c.Width%c.Patch != 0:
		return fmt.Errorf("model: config %dx%d is not a multiple of patch %d", c.Width, c.Height, c.Patch)
	case c.Dim%c.Heads != 0:
		return fmt.Errorf("model: config dim %d is not divisible by heads %d", c.Dim, c.Heads)
	case c.Dim%2 != 0:
		return fmt.Errorf("model: config dim %d must be even (sinusoidal timestep features)", c.Dim)
	case c.Vocab < 2:
		return errors.New("model: config vocab must be at least 2")
	case c.TrainSteps < 2:
		return errors.New("model: config train_steps must be at least 2")
	case math.IsNaN(c.ResidualScale) || c.ResidualScale < 0 || c.ResidualScale > 100:
		return fmt.Errorf("model: config residual_scale %g must be in [0, 100]", c.ResidualScale)
	case !(c.BetaStart > 0 && c.BetaEnd > c.BetaStart && c.BetaEnd < 1):
		return fmt.Errorf("model: config needs 0 < beta_start < beta_end < 1, got %g, %g", c.BetaStart, c.BetaEnd)
	}
	if c.TokensPerVideo() > 1<<20 {
		return fmt.Errorf("model: config has %d tokens a video, too many", c.TokensPerVideo())
	}
	if n := c.ParamCount(); n > maxParams {
		return fmt.Errorf("model: config has %d parameters, more than the limit %d", n, maxParams)
	}
	return nil
}

// configLimits bound every integer field far above any CPU-trainable
// model, so that a hostile or corrupt config fails validation instead of
// asking for terabytes.
var configLimits = map[string]int{
	"frames": 1024, "height": 8192, "width": 8192, "channels": 4,
	"patch": 256, "dim": 8192, "depth": 256, "heads": 256,
	"mlp_ratio": 16, "vocab": 1 << 22, "max_words": 1 << 16, "train_steps": 100000,
}

// maxParams caps a model at 2^31 float32 values (8 GiB).
const maxParams = 1 << 31

// ParamCount is the number of float32 parameters a model of c has, computed
// from the shapes alone (nothing is allocated). It assumes the fields are
// individually bounded (Validate checks them first).
func (c Config) ParamCount() int64 {
	var n int64
	for _, sp := range paramSpecs(c) {
		s := int64(1)
		for _, d := range sp.shape {
			s *= int64(d)
		}
		n += s
	}
	return n
}

// PatchesPerFrame is the spatial token count.
func (c Config) PatchesPerFrame() int { return (c.Height / c.Patch) * (c.Width / c.Patch) }

// TokensPerVideo is Frames * PatchesPerFrame.
func (c Config) TokensPerVideo() int { return c.Frames * c.PatchesPerFrame() }

// PatchDim is the number of values in one patch of one frame.
func (c Config) PatchDim() int { return c.Patch * c.Patch * c.Channels }

// FrameSize is the number of values in one frame.
func (c Config) FrameSize() int { return c.Height * c.Width * c.Channels }

// VideoSize is the number of values in one video.
func (c Config) VideoSize() int { return c.Frames * c.FrameSize() }

// JSON is the canonical encoding stored in checkpoints.
func (c Config) JSON() string {
	b, _ := json.Marshal(c) // plain struct of numbers: cannot fail
	return string(b)
}

// ForwardFLOPs counts the floating-point operations of one forward pass over
// batch videos: every matrix product counts 2*m*n*k; element-wise work
// (norms, softmax, activations) is left out, as is customary, so achieved
// GFLOP/s figures are conservative.
func (c Config) ForwardFLOPs(batch int) float64 {
	B := float64(batch)
	N := float64(c.TokensPerVideo())
	P := float64(c.PatchesPerFrame())
	F := float64(c.Frames)
	D := float64(c.Dim)
	pd := float64(c.PatchDim())
	hid := D * float64(c.MLPRatio)
	mm := func(m, n, k float64) float64 { return 2 * m * n * k }
	f := mm(B*N, D, 2*pd) // patch embedding
	f += mm(B, D, D) * 2  // timestep MLP
	f += mm(B, D, float64(c.Vocab))
	per := 0.0
	per += 2 * 4 * mm(B*N, D, D) // q,k,v,o for spatial and temporal attention
	per += 2 * mm(B*N, hid, D)   // MLP
	per += 2 * mm(B*F*P, P, D)   // spatial scores and weighted sum
	per += 2 * mm(B*P*F, F, D)   // temporal scores and weighted sum
	per += 9 * mm(B, D, D)       // adaLN modulation
	f += float64(c.Depth) * per
	f += 2*mm(B, D, D) + mm(B*N, pd, D) // final modulation and head
	return f
}

// toSpace writes the diffusion variable of video into dst: the video itself
// in pixel space, ResidualScale * (video - first) in residual space.
func (c Config) toSpace(dst, video, first []float32) {
	if c.ResidualScale == 0 {
		copy(dst, video)
		return
	}
	s, fs := float32(c.ResidualScale), c.FrameSize()
	for i, v := range video {
		dst[i] = s * (v - first[i%fs])
	}
}

// fromSpace is the inverse of toSpace, clamped to the pixel range.
func (c Config) fromSpace(dst, z, first []float32) {
	if c.ResidualScale == 0 {
		for i, v := range z {
			dst[i] = clamp1(v)
		}
		return
	}
	inv, fs := 1/float32(c.ResidualScale), c.FrameSize()
	for i, v := range z {
		dst[i] = clamp1(first[i%fs] + v*inv)
	}
}

// x0Bounds returns, for element i of the diffusion variable, the range that
// keeps the decoded pixel in [-1, 1] (the DDIM x0 clip). With pinFirst the
// range of frame 0 is the single value that decodes to first.
func (c Config) x0Bounds(first []float32, pinFirst bool) func(i int) (lo, hi float64) {
	fs := c.FrameSize()
	if c.ResidualScale == 0 {
		return func(i int) (float64, float64) {
			if pinFirst && i < fs {
				f := float64(first[i])
				return f, f
			}
			return -1, 1
		}
	}
	s := c.ResidualScale
	return func(i int) (float64, float64) {
		if pinFirst && i < fs {
			return 0, 0
		}
		f := float64(first[i%fs])
		return s * (-1 - f), s * (1 - f)
	}
}
