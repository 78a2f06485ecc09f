package model

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// Benchmarks of the tiny and small presets on both engines, so that the
// fused engine and the path it replaced are measured in one run:
//
//	engine=fused      the default (BLAS as built: OpenBLAS with -tags openblas)
//	engine=primitive  the network from Gorgonia's primitive ops on a fresh
//	                  LispMachine with gonum's pure-Go BLAS: the code path
//	                  of every release before the fused engine
//
// GFLOP/s counts matrix products only (Config.ForwardFLOPs); a training
// step counts 3x its forward pass (forward + backward), a DPO step adds
// the reference's forward pass. load1 is the machine's one-minute load
// average when the benchmark started (2 cores here).
// Run: go test -tags openblas ./model/ -run '^$' -bench . -benchtime 3x -benchmem

var engines = []Engine{EngineFused, EnginePrimitive}

// useEngine switches m (and the BLAS) to e for one sub-benchmark.
func useEngine(b *testing.B, e Engine, ms ...*Model) {
	for _, m := range ms {
		m.SetEngine(e)
	}
	if e == EnginePrimitive {
		prev := G.WhichBLAS()
		G.Use(gonum.Implementation{})
		b.Cleanup(func() { G.Use(prev) })
	}
}

func benchModel(b *testing.B, preset string) *Model {
	b.Helper()
	c, err := Preset(preset)
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(c, 1)
	if err != nil {
		b.Fatal(err)
	}
	perturb(m, 1, 0.02)
	return m
}

func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// start notes the load and the process's CPU time and resets the timer;
// report adds the figures when the timed loop is done.
type benchStart struct {
	load float64
	cpu  int64
}

func start(b *testing.B) benchStart {
	s := benchStart{load: loadAverage(), cpu: cpuNow()}
	b.ResetTimer()
	return s
}

// report adds GFLOP/op, GFLOP/s, the load and the process's CPU
// milliseconds per op (user+system, all threads: with other work on the
// machine, steadier than wall time).
func report(b *testing.B, flops float64, s benchStart) {
	b.ReportMetric(flops/1e9, "GFLOP/op")
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(s.load, "load1")
	b.ReportMetric(float64(cpuNow()-s.cpu)/1e6/float64(b.N), "cpu-ms/op")
}

// forEngine runs body as one sub-benchmark per engine. heavyPrimitive
// marks a body the primitive engine cannot afford here (the small preset's
// DPO step needs about 17 GB on it): skipped unless
// REALDPO_BENCH_PRIMITIVE_SMALL is set.
func forEngine(b *testing.B, heavyPrimitive bool, body func(b *testing.B, e Engine)) {
	for _, e := range engines {
		b.Run("engine="+e.String(), func(b *testing.B) {
			if e == EnginePrimitive && heavyPrimitive && os.Getenv("REALDPO_BENCH_PRIMITIVE_SMALL") == "" {
				b.Skip("the primitive engine's small-preset DPO step needs ~17 GB; set REALDPO_BENCH_PRIMITIVE_SMALL=1")
			}
			body(b, e)
		})
	}
}

func benchForward(b *testing.B, preset string) {
	forEngine(b, false, func(b *testing.B, e Engine) {
		m := benchModel(b, preset)
		useEngine(b, e, m)
		c := m.cfg
		v := randVideo(newRNG(1), c)
		in := [][]float32{v}
		if _, err := m.predictV(in, [][]float32{v[:c.FrameSize()]}, []string{"a cat"}, []int{500}); err != nil {
			b.Fatal(err) // builds the graph outside the timing
		}
		st := start(b)
		for i := 0; i < b.N; i++ {
			if _, err := m.predictV(in, [][]float32{v[:c.FrameSize()]}, []string{"a cat"}, []int{500}); err != nil {
				b.Fatal(err)
			}
		}
		report(b, c.ForwardFLOPs(1), st)
	})
}

func BenchmarkForward(b *testing.B)      { benchForward(b, "tiny") }
func BenchmarkSmallForward(b *testing.B) { benchForward(b, "small") }

func BenchmarkSFTStep(b *testing.B) {
	const batch = 2
	forEngine(b, false, func(b *testing.B, e Engine) {
		m := benchModel(b, "tiny")
		useEngine(b, e, m)
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
		st := start(b)
		for i := 0; i < b.N; i++ {
			if _, _, err := tr.SFTStep(clips); err != nil {
				b.Fatal(err)
			}
		}
		report(b, 3*c.ForwardFLOPs(batch), st)
	})
}

func benchDPOStep(b *testing.B, preset string) {
	forEngine(b, preset == "small", func(b *testing.B, e Engine) {
		m := benchModel(b, preset)
		ref := m.Clone()
		useEngine(b, e, m, ref)
		c := m.cfg
		ex := dpoExample(newRNG(3), c, 3) // 1 winner + 3 losers
		tr, err := NewTrainer(m, ref, DefaultDPOTrainOptions())
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := tr.DPOStep(ex); err != nil {
			b.Fatal(err)
		}
		st := start(b)
		for i := 0; i < b.N; i++ {
			if _, _, err := tr.DPOStep(ex); err != nil {
				b.Fatal(err)
			}
		}
		report(b, 4*c.ForwardFLOPs(4), st)
	})
}

func BenchmarkDPOStep(b *testing.B)      { benchDPOStep(b, "tiny") }
func BenchmarkSmallDPOStep(b *testing.B) { benchDPOStep(b, "small") }

// One DDIM step for one video with guidance: conditional and unconditional
// branches in one batch of 2.
func BenchmarkSampleStep(b *testing.B) {
	forEngine(b, false, func(b *testing.B, e Engine) {
		m := benchModel(b, "tiny")
		useEngine(b, e, m)
		c := m.cfg
		v := randVideo(newRNG(4), c)
		x := [][]float32{append([]float32(nil), v...)}
		if err := m.ddimStep(x, v[:c.FrameSize()], "a cat", 999, 979, 6, true); err != nil {
			b.Fatal(err)
		}
		st := start(b)
		for i := 0; i < b.N; i++ {
			if err := m.ddimStep(x, v[:c.FrameSize()], "a cat", 999, 979, 6, true); err != nil {
				b.Fatal(err)
			}
		}
		report(b, c.ForwardFLOPs(2), st)
	})
}

// One negative at the paper's settings: 50 DDIM steps, guidance 6.
// negatives/min is what one worker core pair generates.
func BenchmarkNegative50(b *testing.B) {
	forEngine(b, false, func(b *testing.B, e Engine) {
		m := benchModel(b, "tiny")
		useEngine(b, e, m)
		c := m.cfg
		first := randVideo(newRNG(5), c)[:c.FrameSize()]
		o := SampleOptions{Steps: 50, Guidance: 6, Seed: 1}
		if _, err := m.Sample(first, "a woman waves", 1, SampleOptions{Steps: 1, Guidance: 6}); err != nil {
			b.Fatal(err)
		}
		st := start(b)
		for i := 0; i < b.N; i++ {
			if _, err := m.Sample(first, "a woman waves", 1, o); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(60*float64(b.N)/b.Elapsed().Seconds(), "negatives/min")
		report(b, 50*c.ForwardFLOPs(2), st)
	})
}
