package synth

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
)

func benchSpec(frames int) *videoSpec {
	return &videoSpec{Seed: 42, Width: 640, Height: 360, FPS: 25, Frames: frames, Gain: 1, Codec: "libx264", CRF: 22,
		Shots: []shotSpec{{Start: 0, End: frames, Action: "walking", People: 2, Scene: scenePark, Camera: camHandheld, Seed: 43}}}
}

// BenchmarkRenderEncode640x360 is the figure: frames rendered and
// encoded (H.264 through ffmpeg) per second at 640x360. Allocated bytes per
// frame stay near zero: frames stream, nothing accumulates.
func BenchmarkRenderEncode640x360(b *testing.B) {
	const frames = 250
	dir := b.TempDir()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := render(context.Background(), benchSpec(frames), filepath.Join(dir, "bench.mp4"), 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	total := float64(b.N * frames)
	b.ReportMetric(total/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/total, "alloc-B/frame")
}

// BenchmarkRender640x360 isolates the Go renderer from the encoder.
func BenchmarkRender640x360(b *testing.B) {
	const frames = 250
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := renderFrames(context.Background(), benchSpec(frames), 0, func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*frames)/b.Elapsed().Seconds(), "frames/s")
}
