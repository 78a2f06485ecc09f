package model

import (
	"testing"
)

// Benchmarks of the tiny preset. GFLOP/s counts matrix products only
// (Config.ForwardFLOPs); a training step is counted as 3x its forward pass
// (forward + backward), a DPO step adds the reference's forward pass.
// Run: go test ./model/ -run '^$' -bench . -benchtime 3x

func benchModel(b *testing.B) *Model {
	b.Helper()
	m, err := New(Tiny(), 1)
	if err != nil {
		b.Fatal(err)
	}
	perturb(m, 1, 0.02)
	return m
}

func report(b *testing.B, flops float64) {
	b.ReportMetric(flops/1e9, "GFLOP/op")
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkForward(b *testing.B) {
	m := benchModel(b)
	c := m.cfg
	v := randVideo(newRNG(1), c)
	in := [][]float32{v}
	if _, err := m.predictV(in, [][]float32{v[:c.FrameSize()]}, []string{"a cat"}, []int{500}); err != nil {
		b.Fatal(err) // builds the graph outside the timing
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.predictV(in, [][]float32{v[:c.FrameSize()]}, []string{"a cat"}, []int{500}); err != nil {
			b.Fatal(err)
		}
	}
	report(b, c.ForwardFLOPs(1))
}

func BenchmarkSFTStep(b *testing.B) {
	const batch = 2
	m := benchModel(b)
	c := m.cfg
	rng := newRNG(2)
	clips := make([]Clip, batch)
	for i := range clips {
		clips[i] = Clip{Video: randVideo(rng, c), Caption: "a man walks a dog"}
	}
	tr, err := NewTrainer(m, nil, DefaultSFTOptions())
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := tr.SFTStep(clips); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := tr.SFTStep(clips); err != nil {
			b.Fatal(err)
		}
	}
	report(b, 3*c.ForwardFLOPs(batch))
}

func BenchmarkDPOStep(b *testing.B) {
	m := benchModel(b)
	c := m.cfg
	ex := dpoExample(newRNG(3), c, 3) // 1 winner + 3 losers
	tr, err := NewTrainer(m, m.Clone(), DefaultDPOTrainOptions())
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := tr.DPOStep(ex); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := tr.DPOStep(ex); err != nil {
			b.Fatal(err)
		}
	}
	report(b, 4*c.ForwardFLOPs(4))
}

// One DDIM step for one video with guidance: conditional and unconditional
// branches in one batch of 2.
func BenchmarkSampleStep(b *testing.B) {
	m := benchModel(b)
	c := m.cfg
	v := randVideo(newRNG(4), c)
	x := [][]float32{append([]float32(nil), v...)}
	if err := m.ddimStep(x, v[:c.FrameSize()], "a cat", 999, 979, 6); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.ddimStep(x, v[:c.FrameSize()], "a cat", 999, 979, 6); err != nil {
			b.Fatal(err)
		}
	}
	report(b, c.ForwardFLOPs(2))
}
