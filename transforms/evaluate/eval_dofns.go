package evaluate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/dofn"
	"realdpo/transforms/fsx"
	"realdpo/transforms/generate"
	"realdpo/transforms/media"
	"realdpo/transforms/quality"
	"realdpo/transforms/shards"
)

func init() {
	dofn.Element[schemas.ManifestRecord]()
	dofn.Element[EvalClip]()
	dofn.Element[EvalTask]()
	dofn.Element[schemas.EvalSample]()
	dofn.Element[EvalPair]()
	dofn.Element[EvalPairTask]()
	dofn.Element[schemas.EvalDPO]()
	dofn.Element[schemas.EvalReject]()
	dofn.DoFn4x0[context.Context, schemas.ManifestRecord, func(EvalClip), func(schemas.EvalReject)](&DecodeFn{})
	dofn.DoFn2x0[EvalClip, func(EvalTask)](&FanOutFn{})
	dofn.DoFn4x1[context.Context, EvalTask, func(schemas.EvalSample), func(schemas.EvalReject), error](&SampleFn{})
	dofn.DoFn3x1[context.Context, EvalClip, func(schemas.EvalSample), error](&RealFn{})
	dofn.DoFn4x1[context.Context, string, func(EvalPair), func(schemas.EvalReject), error](&ReadPairsFn{})
	dofn.DoFn2x0[EvalPair, func(EvalPairTask)](&PairFanOutFn{})
	dofn.DoFn4x1[context.Context, EvalPairTask, func(schemas.EvalDPO), func(schemas.EvalReject), error](&DPOFn{})
	dofn.DoFn5x1[context.Context, []byte, func(*schemas.EvalSample) bool, func(*schemas.EvalDPO) bool,
		func(*schemas.EvalReject) bool, error](&ReportFn{})
}

const counterNS = "eval"

func count(ctx context.Context, name string) { beam.NewCounter(counterNS, name).Inc(ctx, 1) }

// decodeTimeout bounds one clip's decode.
const decodeTimeout = 2 * time.Minute

// decodeToModel decodes a local video at the model's size and resamples it
// to the model's frame count over the clip's whole span.
func decodeToModel(ctx context.Context, path string, geo model.Config) ([][]byte, error) {
	frames, err := media.ReadFrames(ctx, path, media.DecodeOptions{Width: geo.Width, Height: geo.Height,
		Format: media.RGB24, MaxFrames: 10000, Timeout: decodeTimeout, Formats: media.ClipFormats})
	if err != nil {
		return nil, err
	}
	if len(frames) < 2 {
		return nil, fmt.Errorf("%d frames decoded, need at least 2", len(frames))
	}
	return generate.ResampleTime(frames, geo.Frames), nil
}

func concat(frames [][]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// DecodeFn decodes a manifest record's clip and first frame to the model's size.
type DecodeFn struct {
	Root  string
	Geo   model.Config
	Order map[string]int // position in the evaluated list, by clip id
}

func (fn *DecodeFn) ProcessElement(ctx context.Context, rec schemas.ManifestRecord, emit func(EvalClip), reject func(schemas.EvalReject)) {
	fail := func(reason string, err error) {
		count(ctx, "clips_rejected_"+reason)
		slog.Warn("eval: clip not evaluated", "clip", rec.ID, "reason", reason, "err", err)
		reject(schemas.EvalReject{Stage: "decode", Item: rec.ID, Reason: reason, Detail: err.Error()})
	}
	loc, err := fsx.Localize(ctx, fsx.JoinPath(fn.Root, rec.Clip), filepath.Join(os.TempDir(), "realdpo-eval"), 1<<30, false)
	if err != nil {
		fail(schemas.EvalReasonClip, err)
		return
	}
	defer loc.Cleanup()
	frames, err := decodeToModel(ctx, loc.Path, fn.Geo)
	if err != nil {
		fail(schemas.EvalReasonClip, err)
		return
	}
	r, err := fsx.Open(ctx, fsx.JoinPath(fn.Root, rec.FirstFrame))
	if err != nil {
		fail(schemas.EvalReasonFirstFrame, err)
		return
	}
	png, err := io.ReadAll(io.LimitReader(r, 64<<20))
	r.Close()
	if err != nil {
		fail(schemas.EvalReasonFirstFrame, err)
		return
	}
	cond, err := generate.DecodePNG(png, fn.Geo.Width, fn.Geo.Height)
	if err != nil {
		fail(schemas.EvalReasonFirstFrame, err)
		return
	}
	count(ctx, "clips_decoded")
	emit(EvalClip{ID: rec.ID, Caption: rec.Caption, Order: fn.Order[rec.ID], Real: concat(frames), Cond: cond})
}

// FanOutFn makes one task per (model, sample index).
type FanOutFn struct {
	Models  []string
	Samples int
	Seed    uint64
}

func (fn *FanOutFn) ProcessElement(c EvalClip, emit func(EvalTask)) {
	for _, m := range fn.Models {
		for i := 0; i < fn.Samples; i++ {
			emit(EvalTask{Clip: c, Model: m, Index: i, Seed: SampleSeed(fn.Seed, c.ID, i)})
		}
	}
}

// measure computes a video's statistics; sharpness comes from the
// curation analyser so both stages measure it the same way.
func measure(frames [][]byte, cond []byte, geo model.Config) (schemas.EvalStats, error) {
	an, err := quality.NewAnalyzer(geo.Width, geo.Height, 8, quality.Options{})
	if err != nil {
		return schemas.EvalStats{}, err
	}
	sharp := make([]float64, len(frames))
	for i, f := range frames {
		if err := an.Push(f); err != nil {
			return schemas.EvalStats{}, err
		}
		sharp[i] = an.Frames[i].Sharpness
	}
	return Analyze(Video{W: geo.Width, H: geo.Height, Frames: frames}, cond, sharp)
}

// SampleFn samples one task's model from the clip's first frame and caption.
type SampleFn struct {
	Cfg schemas.EvalConfig
	Geo model.Config
}

func (fn *SampleFn) ProcessElement(ctx context.Context, t EvalTask, emit func(schemas.EvalSample), reject func(schemas.EvalReject)) error {
	// The launcher loaded every checkpoint already: failing here is an
	// infrastructure problem worth a retry, not a bad input.
	l, err := loadNamed(ctx, fn.Cfg, t.Model)
	if err != nil {
		return err
	}
	fail := func(err error) {
		count(ctx, "samples_failed")
		slog.Warn("eval: sampling failed", "clip", t.Clip.ID, "model", t.Model, "err", err)
		reject(schemas.EvalReject{Stage: "sample", Item: t.Clip.ID, Model: t.Model, Reason: schemas.EvalReasonSample, Detail: err.Error()})
	}
	cond, err := fn.Geo.FrameFromRGB24(t.Clip.Cond)
	if err != nil {
		fail(err)
		return nil
	}
	var vids [][]float32
	var wall float64
	err = withModels([]*loaded{l}, func() error {
		// Timed inside the lock: waiting for another task's turn is not sampling.
		t0 := time.Now()
		defer func() { wall = time.Since(t0).Seconds() }()
		var err error
		vids, err = l.m.Sample(cond, t.Clip.Caption, 1, model.SampleOptions{Steps: fn.Cfg.Steps, Guidance: fn.Cfg.Guidance, Seed: t.Seed, FreeFirstFrame: fn.Cfg.FreeFirstFrame})
		return err
	})
	if err != nil {
		fail(err)
		return nil
	}
	frames, err := fn.Geo.FramesToRGB24(vids[0])
	if err != nil {
		fail(err)
		return nil
	}
	st, err := measure(frames, t.Clip.Cond, fn.Geo)
	if err != nil {
		fail(err)
		return nil
	}
	s := schemas.EvalSample{ClipID: t.Clip.ID, Model: t.Model, Index: t.Index, Order: t.Clip.Order, Seed: t.Seed, WallS: wall, Stats: st}
	if t.Clip.Order < fn.Cfg.Strips && t.Index == 0 {
		s.Video = concat(frames)
	}
	count(ctx, "samples")
	slog.Info("eval: sampled", "clip", t.Clip.ID, "model", t.Model, "index", t.Index, "seconds", wall)
	emit(s)
	return nil
}

// RealModel is the name the real clips go by in the report.
const RealModel = "real"

// RealFn measures a real clip.
type RealFn struct {
	Geo    model.Config
	Strips int
}

func (fn *RealFn) ProcessElement(ctx context.Context, c EvalClip, emit func(schemas.EvalSample)) error {
	frames, err := fn.Geo.SplitRGB24(c.Real)
	if err != nil {
		return fmt.Errorf("eval: clip %s: %w", c.ID, err) // DecodeFn made it: a bug, not bad data
	}
	st, err := measure(frames, c.Cond, fn.Geo)
	if err != nil {
		return fmt.Errorf("eval: clip %s: %w", c.ID, err)
	}
	s := schemas.EvalSample{ClipID: c.ID, Model: RealModel, Order: c.Order, Caption: c.Caption, Stats: st}
	if c.Order < fn.Strips {
		s.Video = c.Real
	}
	emit(s)
	return nil
}

// ReadPairsFn streams a pair set, verifying every shard, and decodes each
// pair to the model's size. A shard that fails verification is recorded
// and the next one read; a pair whose videos do not decode is recorded.
type ReadPairsFn struct {
	Geo      model.Config
	MaxPairs int
}

func (fn *ReadPairsFn) ProcessElement(ctx context.Context, root string, emit func(EvalPair), reject func(schemas.EvalReject)) error {
	ix, err := shards.ReadIndex(ctx, root)
	if err != nil {
		return fmt.Errorf("eval: pairs: %w", err)
	}
	tmp, err := os.MkdirTemp("", "realdpo-eval-pairs-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	decode := func(name string, data []byte) ([]byte, error) {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
		defer os.Remove(p)
		frames, err := decodeToModel(ctx, p, fn.Geo)
		if err != nil {
			return nil, err
		}
		return concat(frames), nil
	}
	n := 0
	errStop := errors.New("enough pairs")
	for _, e := range ix.Shards {
		err := shards.WalkShard(ctx, root, e, shards.ReaderOptions{}, func(p *shards.PreferencePair) error {
			if fn.MaxPairs > 0 && n >= fn.MaxPairs {
				return errStop
			}
			ep := EvalPair{Key: p.Key, Caption: p.Caption}
			var err error
			if ep.First, err = generate.DecodePNG(p.FirstFrame, fn.Geo.Width, fn.Geo.Height); err == nil {
				ep.Winner, err = decode("chosen.mp4", p.Chosen)
			}
			for i := 0; err == nil && i < len(p.Rejected); i++ {
				var l []byte
				if l, err = decode("rejected.mp4", p.Rejected[i]); err == nil {
					ep.Losers = append(ep.Losers, l)
				}
			}
			if err != nil {
				count(ctx, "pairs_rejected")
				reject(schemas.EvalReject{Stage: "pairs", Item: p.Key, Reason: schemas.EvalReasonPair, Detail: err.Error()})
				return nil
			}
			count(ctx, "pairs_read")
			n++
			emit(ep)
			return nil
		})
		if errors.Is(err, errStop) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			count(ctx, "shards_rejected")
			slog.Warn("eval: pair shard failed verification", "shard", e.Shard, "err", err)
			reject(schemas.EvalReject{Stage: "pairs", Item: e.Shard, Reason: schemas.EvalReasonShard, Detail: err.Error()})
		}
	}
	return nil
}

// PairFanOutFn makes one DPO task per model.
type PairFanOutFn struct {
	Models []string
}

func (fn *PairFanOutFn) ProcessElement(p EvalPair, emit func(EvalPairTask)) {
	for _, m := range fn.Models {
		emit(EvalPairTask{Pair: p, Model: m})
	}
}

// DPOFn computes the RealDPO loss terms of a pair with the task's model as
// policy and the run's reference, at the pair's fixed timestep and noise
// (PairSeed): every model is scored on the same draw.
type DPOFn struct {
	Cfg schemas.EvalConfig
}

func (fn *DPOFn) ProcessElement(ctx context.Context, t EvalPairTask, emit func(schemas.EvalDPO), reject func(schemas.EvalReject)) error {
	pol, err := loadNamed(ctx, fn.Cfg, t.Model)
	if err != nil {
		return err
	}
	ref, err := loadModel(ctx, fn.Cfg.Reference)
	if err != nil {
		return err
	}
	geo := pol.m.Config()
	fail := func(err error) {
		count(ctx, "dpo_failed")
		reject(schemas.EvalReject{Stage: "dpo", Item: t.Pair.Key, Model: t.Model, Reason: schemas.EvalReasonDPO, Detail: err.Error()})
	}
	ex := model.DPOExample{Caption: t.Pair.Caption}
	if ex.FirstFrame, err = geo.FrameFromRGB24(t.Pair.First); err != nil {
		fail(err)
		return nil
	}
	frames, err := geo.SplitRGB24(t.Pair.Winner)
	if err == nil {
		ex.Winner, err = geo.VideoFromRGB24(frames)
	}
	for i := 0; err == nil && i < len(t.Pair.Losers); i++ {
		if frames, err = geo.SplitRGB24(t.Pair.Losers[i]); err == nil {
			var l []float32
			if l, err = geo.VideoFromRGB24(frames); err == nil {
				ex.Losers = append(ex.Losers, l)
			}
		}
	}
	if err != nil {
		fail(err)
		return nil
	}
	rng := rand.New(rand.NewPCG(PairSeed(fn.Cfg.Seed, t.Pair.Key), 0xd90))
	ts, eps := model.DrawDPONoise(rng, geo)
	var r *model.DPOResult
	err = withModels([]*loaded{pol, ref}, func() error {
		var err error
		opts := model.DefaultDPOOptions()
		opts.Beta = fn.Cfg.Beta
		r, err = model.DPOLoss(pol.m, ref.m, ex, ts, eps, opts, false)
		return err
	})
	if err != nil {
		fail(err)
		return nil
	}
	count(ctx, "dpo_scored")
	emit(schemas.EvalDPO{Key: t.Pair.Key, Model: t.Model, T: r.T, Lw: r.Lw, LwRef: r.LwRef, Ll: r.Ll, LlRef: r.LlRef,
		Inside: r.Inside, Accuracy: r.Accuracy})
	return nil
}

// ReportJSON and ReportHTML are the files written to the output.
const (
	ReportJSON = "report.json"
	ReportHTML = "report.html"
)

// BaseName is the model name that, without a checkpoint, means the
// built-in base model.
const BaseName = "base"

// SampleSeed fixes a sample's noise from the run seed, the clip and the
// sample index. Every model gets the same seed for the same clip and index
// (common random numbers): differences between models come from their
// weights, not from their noise.
func SampleSeed(seed uint64, clipID string, index int) uint64 {
	return hashSeed("realdpo-eval-sample/1", seed, clipID, index)
}

// PairSeed fixes a pair's DPO timestep and noise, the same for every model.
func PairSeed(seed uint64, key string) uint64 {
	return hashSeed("realdpo-eval-pair/1", seed, key, 0)
}

func hashSeed(domain string, seed uint64, id string, index int) uint64 {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(domain + "\x00"))
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(id + "\x00"))
	binary.LittleEndian.PutUint64(b[:], uint64(index))
	h.Write(b[:])
	return binary.BigEndian.Uint64(h.Sum(nil)[:8]) & (1<<53 - 1)
}

// ReadReport reads report.json from a report directory.
func ReadReport(ctx context.Context, dir string) (*schemas.EvalReport, error) {
	r, err := fsx.Open(ctx, fsx.JoinPath(dir, ReportJSON))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var rep schemas.EvalReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("eval: %s: %w", ReportJSON, err)
	}
	if rep.Format != schemas.EvalFormat {
		return nil, fmt.Errorf("eval: %s has format %q, want %q", ReportJSON, rep.Format, schemas.EvalFormat)
	}
	return &rep, nil
}
