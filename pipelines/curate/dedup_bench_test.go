package curate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"realdpo/schemas"
	"realdpo/transforms/dedup"
)

func init() {
	register.Function3x0[int, int, func(schemas.DedupItem)](synthFingerprints)
	register.Function1x0[schemas.DedupDecision](tallyDecision)
	register.Emitter1[schemas.DedupItem]()
}

// benchDups counts duplicate decisions (prism runs the worker in this process).
var benchDups, benchDecisions atomic.Int64

func tallyDecision(d schemas.DedupDecision) {
	benchDecisions.Add(1)
	if !d.Keep {
		benchDups.Add(1)
	}
}

// synthFingerprints makes shard's share of n fingerprints: 8 keyframe
// hashes per clip drifting a few bits from frame to frame, and every 20th
// clip a near copy of the one before it (1 to 3 bits off per keyframe).
func synthFingerprints(shard, per int, emit func(schemas.DedupItem)) {
	r := rand.New(rand.NewPCG(uint64(shard), 99))
	var prev []uint64
	for i := 0; i < per; i++ {
		id := fmt.Sprintf("clip%07d", shard*per+i)
		hs := make([]uint64, 8)
		if i%20 == 19 && prev != nil {
			for k := range hs {
				hs[k] = prev[k] ^ (1 << r.IntN(64)) ^ (1 << r.IntN(64))
			}
		} else {
			h := r.Uint64()
			for k := range hs {
				h ^= 1 << r.IntN(64)
				hs[k] = h
			}
		}
		prev = hs
		key := id + "|src/" + id
		emit(schemas.DedupItem{Key: key, ID: id, Hashes: hs, Rank: dedup.RankKey(640*360, float64(5+r.IntN(20)), r.Float64(), 0, id, key)})
	}
}

// BenchmarkDedup100k times dedup.Dedup on prism over 100,000 synthetic
// clip fingerprints (5% near copies), generated inside the pipeline so the
// graph stays small.
func BenchmarkDedup100k(b *testing.B) {
	const shards, per = 100, 1000
	r := schemas.DefaultReviewConfig()
	for i := 0; i < b.N; i++ {
		benchDups.Store(0)
		benchDecisions.Store(0)
		p, s := beam.NewPipelineWithRoot()
		seeds := make([]int, shards)
		for k := range seeds {
			seeds[k] = k
		}
		items := beam.ParDo(s, synthFingerprints, beam.Reshuffle(s, beam.CreateList(s, seeds)), beam.SideInput{Input: beam.Create(s, per)})
		dec, err := dedup.Dedup(s, dedup.OptionsFrom(r), items)
		if err != nil {
			b.Fatal(err)
		}
		beam.ParDo0(s, tallyDecision, dec)
		start := time.Now()
		if err := beamx.Run(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/100k")
		if benchDecisions.Load() != shards*per {
			b.Fatalf("%d decisions for %d items", benchDecisions.Load(), shards*per)
		}
		b.ReportMetric(float64(benchDups.Load()), "duplicates")
	}
}
