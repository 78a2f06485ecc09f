package quality

import (
	"context"
	"os"
	"testing"
)

// BenchmarkAnalyzeFile measures the analyser on one file (ANALYZE_FILE, or
// the lavfi "good" clip), reporting per-frame cost.
func BenchmarkAnalyzeFile(b *testing.B) {
	path := os.Getenv("ANALYZE_FILE")
	if path == "" {
		path = testCorpus(b)["good"]
	}
	n := 0
	b.ResetTimer() // the corpus is built once, outside the measurement
	for i := 0; i < b.N; i++ {
		r, err := AnalyzeFile(context.Background(), path, FileOptions{Width: 256, Height: 144, FPS: 30})
		if err != nil {
			b.Fatal(err)
		}
		n += len(r.Frames)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "us/frame")
}

// BenchmarkAnalyzerPush measures the analyser alone (no decoder): one op is
// one Push of a 256x144 frame from a pre-rendered panning, textured scene
// with a moving subject, so ns/op is the Go cost per frame.
func BenchmarkAnalyzerPush(b *testing.B) { benchPush(b, 1) }

// BenchmarkAnalyzerPushRepeated pushes every frame twice, as an 8 fps
// source analysed at 15 fps comes.
func BenchmarkAnalyzerPushRepeated(b *testing.B) { benchPush(b, 2) }

func benchPush(b *testing.B, repeat int) {
	const w, h, fps, n = 256, 144, 15, 48
	frames := make([][]byte, n)
	for f := range frames {
		sc := scene{seed: 3, zoom: 1024, gain: 256, flat: [3]int{-1}}
		// Ping-pong the pan so the loop has no jump where it wraps.
		p := min(f, n-1-f)
		sc.ox, sc.oy = 4*p, p/2
		sc.subX, sc.subY = w/4+3*p, h/2+p%5
		frames[f] = render(sc, w, h, f)
	}
	a, err := NewAnalyzer(w, h, fps, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, ok := processCPU()
	i := 0
	for ; b.Loop(); i++ {
		if err := a.Push(frames[i/repeat%n]); err != nil {
			b.Fatal(err)
		}
	}
	if cpu1, ok1 := processCPU(); ok && ok1 && i > 0 {
		// CPU time (GC included) per frame: the goal, and steadier than
		// ns/op when the machine is shared.
		b.ReportMetric(float64(cpu1-cpu0)/float64(i), "cpu-ns/frame")
	}
}
