package curate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"realdpo/schemas"
	"realdpo/transforms/dedup"
	"realdpo/transforms/runner"
)

func init() {
	register.Function3x0[int, int, func(schemas.DedupItem)](synthFingerprints)
	register.Function1x0[schemas.DedupDecision](tallyDecision)
	register.Emitter1[schemas.DedupItem]()
}

// benchDups collects the duplicate decisions (prism runs the worker in
// this process).
var (
	benchMu        sync.Mutex
	benchDups      []schemas.DedupDecision
	benchDecisions atomic.Int64
)

func tallyDecision(d schemas.DedupDecision) {
	benchDecisions.Add(1)
	if !d.Keep {
		benchMu.Lock()
		benchDups = append(benchDups, d)
		benchMu.Unlock()
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
// graph stays small. Besides the time it reports how many planted copies
// were found (recall must be 1) and the duplicates beyond them: pairs of
// unrelated random fingerprints that fall within the distance threshold by
// chance, each checked with dedup.Distance and their number compared with
// the number expected (chanceExpected).
func BenchmarkDedup100k(b *testing.B) {
	const shards, per = 100, 1000
	r := schemas.DefaultReviewConfig()
	o := dedup.OptionsFrom(r)
	for i := 0; i < b.N; i++ {
		benchDups = nil
		benchDecisions.Store(0)
		p, s := beam.NewPipelineWithRoot()
		seeds := make([]int, shards)
		for k := range seeds {
			seeds[k] = k
		}
		items := beam.ParDo(s, synthFingerprints, beam.Reshuffle(s, beam.CreateList(s, seeds)), beam.SideInput{Input: beam.Create(s, per)})
		dec, err := dedup.Dedup(s, o, items)
		if err != nil {
			b.Fatal(err)
		}
		beam.ParDo0(s, tallyDecision, dec)
		start := time.Now()
		if err := runner.Run(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/100k")
		if benchDecisions.Load() != shards*per {
			b.Fatalf("%d decisions for %d items", benchDecisions.Load(), shards*per)
		}
		b.StopTimer()
		planted, found, chance := scoreDedup(b, shards, per, o, benchDups)
		expected := chanceExpected(shards*per-planted, o)
		b.ReportMetric(float64(len(benchDups)), "duplicates")
		b.ReportMetric(float64(planted), "planted")
		b.ReportMetric(float64(found)/float64(planted), "recall")
		b.ReportMetric(float64(found)/float64(len(benchDups)), "precision")
		b.ReportMetric(float64(chance), "chance_dups")
		b.ReportMetric(expected, "chance_expected")
		if found != planted {
			b.Errorf("found %d of %d planted near copies", found, planted)
		}
		// A Poisson count this far above its mean means dedup merges what
		// its distance does not justify.
		if lim := expected + 5*math.Sqrt(expected) + 5; float64(chance) > lim {
			b.Errorf("%d chance duplicates, %.1f expected", chance, expected)
		}
		b.StartTimer()
	}
}

// scoreDedup regenerates the fingerprints and sorts the duplicate
// decisions into planted copies found (the copy, clip i with i%20 == 19,
// against clip i-1, either way round) and chance matches, each of which
// must be within the threshold by dedup.Distance (or reached through a
// chain of such pairs).
func scoreDedup(b *testing.B, shards, per int, o dedup.Options, dups []schemas.DedupDecision) (planted, found, chance int) {
	hashes := map[string][]uint64{}
	for sh := 0; sh < shards; sh++ {
		synthFingerprints(sh, per, func(it schemas.DedupItem) { hashes[it.Key] = it.Hashes })
	}
	for n := 0; n < shards*per; n++ {
		if n%per%20 == 19 {
			planted++
		}
	}
	num := func(key string) int {
		var n int
		fmt.Sscanf(key, "clip%07d", &n)
		return n
	}
	for _, d := range dups {
		a, k := num(d.Key), num(d.KeptKey)
		if (a%per%20 == 19 && k == a-1) || (k%per%20 == 19 && a == k-1) {
			found++
			continue
		}
		chance++
		dist := dedup.Distance(hashes[d.Key], hashes[d.KeptKey])
		if d.Distance >= 0 && (dist != d.Distance || dist > o.MaxDistance) {
			b.Errorf("%s duplicate of %s at distance %d, recorded %d (max %d)", d.Key, d.KeptKey, dist, d.Distance, o.MaxDistance)
		}
		b.Logf("chance duplicate: %s of %s, distance %d, first keyframes %d bits apart", d.Key, d.KeptKey, d.Distance,
			dedup.Hamming(hashes[d.Key][0], hashes[d.KeptKey][0]))
	}
	return planted, found, chance
}

// chanceExpected is the number of pairs among n independent synthetic
// clips (synthFingerprints' fresh ones: a random 64-bit hash drifting one
// bit per keyframe) that dedup pairs up by chance: within MaxDistance by
// dedup.Distance and sharing a band bucket (dedup.BandKeys). Such pairs
// are rare (about 2e-9 each), so it is estimated by Monte Carlo per
// Hamming distance k between the two base hashes, weighted by the
// binomial chance of k; the best keyframe of eight drifting ones brings
// a pair some 2 to 5 bits closer than its base hashes.
func chanceExpected(n int, o dedup.Options) float64 {
	r := rand.New(rand.NewPCG(7, 7))
	walk := func(h uint64) []uint64 {
		hs := make([]uint64, 8)
		for k := range hs {
			h ^= 1 << r.IntN(64)
			hs[k] = h
		}
		return hs
	}
	meet := func(a, b []uint64) bool {
		ka := map[string]bool{}
		for _, k := range dedup.BandKeys(schemas.DedupItem{ID: "a", Hashes: a}, o.Bands)[1:] {
			ka[k] = true
		}
		for _, k := range dedup.BandKeys(schemas.DedupItem{ID: "b", Hashes: b}, o.Bands)[1:] {
			if ka[k] {
				return true
			}
		}
		return false
	}
	p := 0.0
	for k := 0; k <= 24; k++ {
		samples := 20000
		if k >= 10 && k <= 17 {
			samples = 400000 // where the pairs come from: rare bases, still often close
		}
		hit := 0
		for s := 0; s < samples; s++ {
			var x uint64
			for _, i := range r.Perm(64)[:k] {
				x |= 1 << i
			}
			h := r.Uint64()
			a, c := walk(h), walk(h^x)
			if d := dedup.Distance(a, c); d >= 0 && d <= o.MaxDistance && meet(a, c) {
				hit++
			}
		}
		lc, _ := math.Lgamma(65)
		lk, _ := math.Lgamma(float64(k + 1))
		lr, _ := math.Lgamma(float64(65 - k))
		p += math.Exp(lc-lk-lr-64*math.Ln2) * float64(hit) / float64(samples)
	}
	return p * float64(n) * float64(n-1) / 2
}
