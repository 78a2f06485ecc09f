package pairs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"realdpo/pipelines/negatives"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/generate"
)

// benchInt reads an integer setting from the environment.
func benchInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkNegatives is negatives per minute with the built-in tiny model
// through the whole pipeline (manifest read, first frame, DDIM sampling
// with classifier-free guidance, encode, probe, write) on the fixture's
// demo-profile clips. Reference settings by default (50 steps, guidance
// 6.0); REALDPO_BENCH_STEPS and REALDPO_BENCH_PER_CLIP change them.
func BenchmarkNegatives(b *testing.B) {
	f := getFixture(b)
	steps, perClip := benchInt("REALDPO_BENCH_STEPS", 50), benchInt("REALDPO_BENCH_PER_CLIP", 3)
	var n int
	var wall time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := negatives.DefaultConfig(f.Dataset, b.TempDir())
		c.Steps, c.PerClip, c.Guidance = steps, perClip, 6.0
		t0 := time.Now()
		st, err := negatives.Run(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		wall += time.Since(t0)
		n += st.Negatives
	}
	b.ReportMetric(float64(n)/wall.Minutes(), "negatives/min")
	b.ReportMetric(float64(steps), "steps")
	b.ReportMetric(6.0, "guidance")
}

// BenchmarkPairs is pairs written per second: join, member checks (read,
// hash, ffprobe), plan, shard writes and index, over the fixture's clips
// listed REALDPO_BENCH_COPIES times (default 25) under new ids, so the
// figure is not all pipeline start-up.
func BenchmarkPairs(b *testing.B) {
	f := getFixture(b)
	copies := benchInt("REALDPO_BENCH_COPIES", 25)
	ds, neg := b.TempDir(), b.TempDir()
	for _, d := range []string{"clips", "first_frames"} {
		if err := os.Symlink(filepath.Join(f.Dataset, d), filepath.Join(ds, d)); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(f.Negatives, generate.NegativesDir), filepath.Join(neg, generate.NegativesDir)); err != nil {
		b.Fatal(err)
	}
	negRecs := readJSONL[schemas.NegativeRecord](b, filepath.Join(f.Negatives, generate.NegativesFile))
	var man, negs bytes.Buffer
	for k := 0; k < copies; k++ {
		for _, c := range f.Clips {
			c.ID = fmt.Sprintf("%s-%03d", c.ID, k)
			line, _ := json.Marshal(c)
			man.Write(append(line, '\n'))
		}
		for _, r := range negRecs {
			r.ClipID = fmt.Sprintf("%s-%03d", r.ClipID, k)
			line, _ := json.Marshal(r)
			negs.Write(append(line, '\n'))
		}
	}
	os.WriteFile(filepath.Join(ds, dataset.ManifestFile), man.Bytes(), 0o644)
	os.WriteFile(filepath.Join(neg, generate.NegativesFile), negs.Bytes(), 0o644)
	f.Dataset, f.Negatives = ds, neg
	var n int
	var wall time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := DefaultConfig(f.Dataset, f.Negatives, b.TempDir())
		c.NegativesPerPair = testPerClip
		c.TargetShardMB, c.LoaderWorkers = 2, 2
		t0 := time.Now()
		res, err := Run(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		wall += time.Since(t0)
		n += res.Pairs
	}
	b.ReportMetric(float64(n)/wall.Seconds(), "pairs/s")
}
