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
