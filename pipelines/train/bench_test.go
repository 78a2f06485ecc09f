package train

import (
	"context"
	"testing"
	"time"

	"realdpo/model"
	"realdpo/transforms/generate"
	"realdpo/transforms/shards"
	"realdpo/transforms/training"
)

// BenchmarkTrainDPOPipelineVsBareStep measures RealDPO training of the tiny
// preset (1 real + 3 generated clips a pair, as the paper's N = 3) through
// the whole pipeline (prism start, shard verification, decode, training
// DoFn, final checkpoint, metrics and plots) against bare
// model.Trainer.DPOStep calls on the same decoded pairs, in the same run.
// Reported: steps/s of each, the trainer's own steps/s inside the pipeline,
// and the overhead ratio (bare time / pipeline time per step).
// Run: go test ./pipelines/train/ -run '^$' -bench DPOPipeline -benchtime 1x
func BenchmarkTrainDPOPipelineVsBareStep(b *testing.B) {
	const steps = 6
	pairs := b.TempDir()
	makePairSet(b, pairs, fixture{pairs: 4, losers: 3, perShard: 2, brokenLoser: -1})
	ctx := context.Background()

	// The bare loop's data: the same pairs decoded the same way.
	base, err := model.LoadBase()
	if err != nil {
		b.Fatal(err)
	}
	cfg := base.Config()
	var exs []model.DPOExample
	err = shards.Walk(ctx, pairs, shards.ReaderOptions{}, func(_ string, p *shards.PreferencePair) error {
		dec := func(data []byte) []float32 {
			fr, err := generate.DecodeClip(ctx, b.TempDir(), data, cfg)
			if err != nil {
				b.Fatal(err)
			}
			v, err := cfg.VideoFromRGB24(fr)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
		ex := model.DPOExample{Winner: dec(p.Chosen), Caption: p.Caption}
		for _, r := range p.Rejected {
			ex.Losers = append(ex.Losers, dec(r))
		}
		exs = append(exs, ex)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}

	var pipeS, bareS, innerRate float64
	// The bare loop runs before and after the pipeline and counts half each
	// time, so load that drifts during the run (a shared machine) weighs on
	// both sides alike.
	bare := func() float64 {
		o, err := training.TrainOptions(DefaultConfig(pairs, ""))
		if err != nil {
			b.Fatal(err)
		}
		tr, err := model.NewDPOTrainer(base.Clone(), o)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		for s := 0; s < steps; s++ {
			if _, _, err := tr.DPOStep(exs[s%len(exs)]); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t1).Seconds()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bareS += bare() / 2
		c := DefaultConfig(pairs, b.TempDir())
		c.Steps, c.CheckpointEvery, c.LogEverySeconds = steps, 0, 60
		t0 := time.Now()
		sum, err := Run(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		pipeS += time.Since(t0).Seconds()
		innerRate += sum.StepsPerS
		bareS += bare() / 2
	}
	n := float64(b.N)
	b.ReportMetric(steps*n/pipeS, "pipeline_steps/s")
	b.ReportMetric(innerRate/n, "in_pipeline_trainer_steps/s")
	b.ReportMetric(steps*n/bareS, "bare_steps/s")
	b.ReportMetric(pipeS/bareS, "overhead_ratio")
	b.Logf("%d DPO steps (4 pairs x 3 negatives, tiny): pipeline %.1f s end to end (%.3f steps/s; trainer inside it %.3f steps/s), bare DPOStep %.1f s (%.3f steps/s), ratio %.2f",
		steps, pipeS/n, steps*n/pipeS, innerRate/n, bareS/n, steps*n/bareS, pipeS/bareS)
}
