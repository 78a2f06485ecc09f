package training

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/dofn"
	"realdpo/transforms/generate"
	"realdpo/transforms/shards"
	"realdpo/transforms/stage"
)

func init() {
	dofn.Element[schemas.ShardEntry]()
	dofn.Element[TrainExample]()
	dofn.Element[schemas.TrainReject]()
	dofn.Element[schemas.TrainSummary]()
	dofn.DoFn3x1[context.Context, []byte, func(schemas.ShardEntry), error](&indexFn{})
	dofn.DoFn4x1[context.Context, schemas.ShardEntry, func(TrainExample), func(schemas.TrainReject), error](&decodeFn{})
	dofn.DoFn5x1[context.Context, []byte, func(*TrainExample) bool, func(*schemas.TrainReject) bool, func(schemas.TrainSummary), error](&trainFn{})
}

const counterNS = "train"

func count(ctx context.Context, name string, n int) {
	beam.NewCounter(counterNS, name).Inc(ctx, int64(n))
}

// ReadPairs streams the pair set's shards, one shard per element so
// decoding spreads over workers, and decodes every pair to the model's
// size. A shard that fails its checksum, size or count check, or is not a
// valid shard, fails the pipeline with the shard's name and the reason
// (training on part of a corrupted set would silently change the data);
// a pair whose media cannot be decoded becomes a TrainReject.
func ReadPairs(s beam.Scope, pairs string, cfg model.Config) (examples, rejects beam.PCollection) {
	s = s.Scope("train.ReadPairs")
	entries := beam.ParDo(s, &indexFn{Root: pairs}, beam.Impulse(s))
	entries = beam.Reshuffle(s, entries)
	return beam.ParDo2(s, &decodeFn{Root: pairs, Model: cfg}, entries)
}

// indexFn reads index.json and emits its shards.
type indexFn struct {
	Root string
}

func (fn *indexFn) ProcessElement(ctx context.Context, _ []byte, emit func(schemas.ShardEntry)) error {
	ix, err := shards.ReadIndex(ctx, fn.Root)
	if err != nil {
		return fmt.Errorf("train: pair set %s: %w", fn.Root, err)
	}
	if ix.Pairs == 0 {
		return fmt.Errorf("train: pair set %s holds no pairs", fn.Root)
	}
	count(ctx, "shards", len(ix.Shards))
	for _, e := range ix.Shards {
		emit(e)
	}
	return nil
}

// decodeFn streams one shard with the verifying reader and decodes each
// pair's clips and first frame at the model's size.
type decodeFn struct {
	Root  string
	Model model.Config
}

func (fn *decodeFn) ProcessElement(ctx context.Context, e schemas.ShardEntry, emit func(TrainExample), rej func(schemas.TrainReject)) error {
	tmp := filepath.Join(os.TempDir(), "realdpo-train-decode")
	err := shards.WalkShard(ctx, fn.Root, e, shards.ReaderOptions{}, func(p *shards.PreferencePair) error {
		count(ctx, "pairs_read", 1)
		ex, r := decodePair(ctx, tmp, fn.Model, e.Shard, p)
		if r != nil {
			count(ctx, "pairs_rejected_"+r.Reason, 1)
			slog.Warn("train: pair left out", "key", r.Key, "shard", r.Shard, "reason", r.Reason, "detail", r.Detail)
			rej(*r)
			return nil
		}
		count(ctx, "pairs_decoded", 1)
		emit(ex)
		return nil
	})
	if err != nil {
		count(ctx, "shards_bad", 1)
		// The shard, the remedy and then the reason: the one line a user
		// sees first (the reason can be long: two checksums).
		return fmt.Errorf("train: shard %s of %s is damaged (rerun pairs into %s to rewrite it): %w", e.Shard, fn.Root, fn.Root, err)
	}
	return nil
}

// decodePair decodes one pair, or says why it cannot be used.
func decodePair(ctx context.Context, tmp string, cfg model.Config, shard string, p *shards.PreferencePair) (TrainExample, *schemas.TrainReject) {
	ex := TrainExample{Key: p.Key, Shard: shard, Caption: p.Caption}
	reject := func(reason string, err error) (TrainExample, *schemas.TrainReject) {
		return ex, &schemas.TrainReject{Key: p.Key, Shard: shard, Reason: reason, Detail: err.Error()}
	}
	var err error
	if ex.FirstFrame, err = generate.DecodeFirstFrame(p.FirstFrame, cfg); err != nil {
		return reject(schemas.TrainReasonFirstFrame, err)
	}
	frames, err := generate.DecodeClip(ctx, tmp, p.Chosen, cfg)
	if err != nil {
		return reject(schemas.TrainReasonChosen, err)
	}
	ex.Winner = concat(frames)
	for i, r := range p.Rejected {
		frames, err := generate.DecodeClip(ctx, tmp, r, cfg)
		if err != nil {
			return reject(schemas.TrainReasonRejected, fmt.Errorf("rejected_%d: %w", i, err))
		}
		ex.Losers = append(ex.Losers, concat(frames))
	}
	return ex, nil
}

func concat(frames [][]byte) []byte {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// Train gathers every decoded pair on one worker and trains there: the
// Gorgonia model takes sequential optimiser steps, so the stage is a single
// DoFn, fed by the parallel decode. It is an impulse reading the pairs as
// side inputs, so it runs exactly once, when every pair was left out too
// (rejects.jsonl still says why). It writes the run directory and emits
// the summary.
func Train(s beam.Scope, cfg schemas.TrainConfig, mcfg model.Config, examples, rejects beam.PCollection) beam.PCollection {
	s = s.Scope("train.Train")
	return beam.ParDo(s, &trainFn{Cfg: cfg, Model: mcfg}, beam.Impulse(s), beam.SideInput{Input: examples}, beam.SideInput{Input: rejects})
}

// trainFn is the training stage.
type trainFn struct {
	Cfg   schemas.TrainConfig
	Model model.Config
}

func (fn *trainFn) ProcessElement(ctx context.Context, _ []byte, exIt func(*TrainExample) bool, rejIt func(*schemas.TrainReject) bool, emit func(schemas.TrainSummary)) error {
	exs, rejs := stage.Collect(exIt), stage.Collect(rejIt)
	st := &store{root: fn.Cfg.Output}
	if err := writeRejects(ctx, st, rejs); err != nil {
		return err
	}
	sum, err := (&Trainer{Cfg: fn.Cfg, Model: fn.Model}).Run(ctx, exs, len(rejs))
	if err != nil {
		return err
	}
	count(ctx, "steps", sum.Steps-sum.ResumedFrom)
	emit(*sum)
	return nil
}

// writeRejects writes rejects.jsonl sorted by key, empty when none.
func writeRejects(ctx context.Context, st *store, rs []schemas.TrainReject) error {
	sortRejects(rs)
	var b []byte
	for _, r := range rs {
		line, err := jsonLine(r)
		if err != nil {
			return err
		}
		b = append(b, line...)
	}
	if err := st.write(ctx, RejectsFile, b); err != nil {
		return errors.Join(fmt.Errorf("train: writing %s", RejectsFile), err)
	}
	return nil
}
