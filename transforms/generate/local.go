package generate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"realdpo/model"
)

// LocalOptions configure the local generator.
type LocalOptions struct {
	// Checkpoint is a model file; empty means the built-in base model.
	Checkpoint string
	// TempDir holds encoder scratch files (default: the OS temp dir).
	TempDir string
}

// shared is one loaded model per checkpoint per process. Gorgonia graphs
// cached inside a Model are not safe for concurrent use, so callers take
// turns (mu); on CPU a second concurrent sample would only compete for the
// same cores.
type shared struct {
	mu   sync.Mutex
	m    *model.Model
	info Info
}

var (
	modelsMu sync.Mutex
	models   = map[string]*shared{}
)

// loadShared loads a checkpoint at most once per process: Beam may run many
// DoFn instances in one worker and each calls Setup.
func loadShared(ckpt string) (*shared, error) {
	modelsMu.Lock()
	defer modelsMu.Unlock()
	if s, ok := models[ckpt]; ok {
		return s, nil
	}
	var m *model.Model
	var err error
	name := "base"
	if ckpt == "" {
		m, err = model.LoadBase()
	} else {
		m, err = model.LoadModel(ckpt)
		name = strings.TrimSuffix(filepath.Base(ckpt), filepath.Ext(ckpt))
	}
	if err != nil {
		return nil, fmt.Errorf("generate: loading model: %w", err)
	}
	sum := WeightsHash(m)
	s := &shared{m: m, info: Info{Kind: "local", ID: "local/" + name + "@" + sum[:12] + "/sampler" + model.SamplerRevision, Checkpoint: name + "@sha256:" + sum}}
	models[ckpt] = s
	return s, nil
}

// WeightsHash is the SHA-256 of a model's config and weights (names,
// shapes, little-endian float32 data): the checkpoint's identity whatever
// file it came from.
func WeightsHash(m *model.Model) string {
	h := sha256.New()
	h.Write([]byte(m.Config().JSON()))
	var b [4]byte
	for _, p := range m.Params() {
		h.Write([]byte(p.Name))
		for _, d := range p.Shape {
			binary.LittleEndian.PutUint32(b[:], uint32(d))
			h.Write(b[:])
		}
		buf := make([]byte, 4*len(p.Data))
		for i, v := range p.Data {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Local generates with the Gorgonia model in this process.
type Local struct {
	s   *shared
	tmp string
}

// NewLocal loads (or reuses) the model.
func NewLocal(o LocalOptions) (*Local, error) {
	s, err := loadShared(o.Checkpoint)
	if err != nil {
		return nil, err
	}
	tmp := o.TempDir
	if tmp == "" {
		tmp = filepath.Join(os.TempDir(), "realdpo-generate")
	}
	return &Local{s: s, tmp: tmp}, nil
}

// Info identifies the model.
func (l *Local) Info() Info { return l.s.info }

// ModelConfig is the loaded model's geometry.
func (l *Local) ModelConfig() model.Config { return l.s.m.Config() }

// Close releases nothing: the model stays loaded for the process.
func (l *Local) Close() error { return nil }

// Generate samples one video at the model's own size and length, then
// brings it to the requested spec: bilinear scaling in space and linear
// blending in time over the same time span (the tiny model's 9 frames at
// 48x32 become the demo profile's 17 frames at 96x64). The first frame is
// scaled to the model's size first. Each call samples one video with its
// own seed, its conditional and unconditional (guidance) branches run as
// one batch; batching several seeds into one Sample call would tie their
// noise to a single seed, and measured no faster on CPU.
func (l *Local) Generate(ctx context.Context, r Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	cfg := l.s.m.Config()
	first, err := DecodePNG(r.Image, cfg.Width, cfg.Height)
	if err != nil {
		return nil, err
	}
	fv, err := cfg.FrameFromRGB24(first)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	vids, err := l.s.m.Sample(fv, r.Prompt, 1, model.SampleOptions{Steps: r.Steps, Guidance: r.Guidance, Seed: r.Seed})
	l.s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	frames, err := cfg.FramesToRGB24(vids[0])
	if err != nil {
		return nil, err
	}
	frames = ResampleTime(frames, r.Frames)
	for i, f := range frames {
		frames[i] = ResizeRGB24(f, cfg.Width, cfg.Height, r.Width, r.Height)
	}
	return EncodeMP4(ctx, l.tmp, frames, r.Spec)
}
