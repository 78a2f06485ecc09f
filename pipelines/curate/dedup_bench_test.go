package curate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"realdpo/schemas"
	"realdpo/transforms/dedup"
	"realdpo/transforms/runner"
	"realdpo/transforms/stage"
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
// hashes per clip drifting a few bits from frame to frame, and a source
// print of 24 hashes (12 s at 0.5 s) drifting 6 bits a step. Every 20th
// clip is a near copy of the one before it (keyframes 1 to 3 bits off a
// hash, its print 3 bits off a hash), and every 20th, ten later, another
// window of the footage before it: its own keyframes, and the print of
// that footage re-encoded (2 bits off a hash, as re-encodes of synth
// footage measure 0 to 4 aligned) and starting 2 s later, so only the
// source prints can find it.
func synthFingerprints(shard, per int, emit func(schemas.DedupItem)) {
	r := rand.New(rand.NewPCG(uint64(shard), 99))
	var prev, prevPrint []uint64
	flip := func(h uint64, n int) uint64 {
		for k := 0; k < n; k++ {
			h ^= 1 << r.IntN(64)
		}
		return h
	}
	for i := 0; i < per; i++ {
		id := fmt.Sprintf("clip%07d", shard*per+i)
		hs := make([]uint64, 8)
		print := make([]uint64, 24)
		switch {
		case i%20 == 19 && prev != nil:
			for k := range hs {
				hs[k] = prev[k] ^ (1 << r.IntN(64)) ^ (1 << r.IntN(64))
			}
			for k := range print {
				print[k] = flip(prevPrint[k], 3)
			}
		case i%20 == 9 && prev != nil:
			h := r.Uint64()
			for k := range hs {
				h = flip(h, 1)
				hs[k] = h
			}
			print = print[:len(prevPrint)-4]
			for k := range print {
				print[k] = flip(prevPrint[k+4], 2)
			}
		default:
			h := r.Uint64()
			for k := range hs {
				h = flip(h, 1)
				hs[k] = h
			}
			p := r.Uint64()
			for k := range print {
				p = flip(p, 6)
				print[k] = p
			}
		}
		prev, prevPrint = hs, print
		key := id + "|src/" + id
		emit(schemas.DedupItem{Key: key, ID: id, Hashes: hs, SourcePrint: print, SourceStepS: 0.5,
			Rank: dedup.RankKey(640*360, float64(5+r.IntN(20)), fmt.Sprintf("%016x", shard*per+i), r.Float64(), 0, id, key)})
	}
}

// BenchmarkDedup100k times dedup.Dedup on prism over 100,000 synthetic
// clip fingerprints with source prints (5% near copies, 5% other windows
// of the same footage), generated inside the pipeline so the graph stays
// small. Besides the time it reports how many planted copies were found
// (recall must be 1) and the duplicates beyond them: pairs of unrelated
// random fingerprints that fall within the distance threshold by chance,
// each checked with dedup.Distance (or dedup.SourceDistance) and their
// number compared with the number expected (chanceExpected; unrelated
// source prints a random 24 hashes apart practically never line up).
func BenchmarkDedup100k(b *testing.B) {
	const shards, per = 100, 1000
	r := stage.DefaultReviewConfig()
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
		cpu0 := processCPU()
		start := time.Now()
		if err := runner.Run(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/100k")
		b.ReportMetric((processCPU() - cpu0).Seconds(), "cpu_s/100k")
		if benchDecisions.Load() != shards*per {
			b.Fatalf("%d decisions for %d items", benchDecisions.Load(), shards*per)
		}
		b.StopTimer()
		planted, found, chance := scoreDedup(b, shards, per, o, benchDups)
		expected := chanceExpected(shards*per-planted[0], o) // other windows have keyframes of their own
		b.ReportMetric(float64(len(benchDups)), "duplicates")
		b.ReportMetric(float64(planted[0]+planted[1]), "planted")
		b.ReportMetric(float64(found[0])/float64(planted[0]), "recall")
		b.ReportMetric(float64(found[1])/float64(planted[1]), "source_recall")
		b.ReportMetric(float64(found[0]+found[1])/float64(len(benchDups)), "precision")
		b.ReportMetric(float64(chance), "chance_dups")
		b.ReportMetric(expected, "chance_expected")
		if found[0] != planted[0] {
			b.Errorf("found %d of %d planted near copies", found[0], planted[0])
		}
		// Other windows of the same footage meet only if their prints'
		// sketches (12 values of 20-bit bands) share a value: for prints 2
		// bits a hash apart that misses about 1 in 2000 (TestSourceKeysShare).
		if float64(found[1]) < 0.99*float64(planted[1]) {
			b.Errorf("found %d of %d other windows of the same footage", found[1], planted[1])
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
// decisions into planted copies found (the copy, clip i with i%20 == 19 or
// 9, against clip i-1, either way round) and chance matches, each of which
// must be within the threshold by dedup.Distance, or dedup.SourceDistance
// when found by source print (or reached through a chain of such pairs).
func scoreDedup(b *testing.B, shards, per int, o dedup.Options, dups []schemas.DedupDecision) (planted, found [2]int, chance int) {
	items := map[string]schemas.DedupItem{}
	for sh := 0; sh < shards; sh++ {
		synthFingerprints(sh, per, func(it schemas.DedupItem) { items[it.Key] = it })
	}
	// kind 0: a near copy of the window; 1: another window of the footage.
	kind := func(n int) int {
		switch n % per % 20 {
		case 19:
			return 0
		case 9:
			return 1
		}
		return -1
	}
	copyOfPrev := func(n int) bool { return kind(n) >= 0 }
	for n := 0; n < shards*per; n++ {
		if copyOfPrev(n) {
			planted[kind(n)]++
		}
	}
	num := func(key string) int {
		var n int
		fmt.Sscanf(key, "clip%07d", &n)
		return n
	}
	for _, d := range dups {
		a, k := num(d.Key), num(d.KeptKey)
		if copyOfPrev(a) && k == a-1 {
			found[kind(a)]++
			continue
		}
		if copyOfPrev(k) && a == k-1 {
			found[kind(k)]++
			continue
		}
		chance++
		x, y := items[d.Key], items[d.KeptKey]
		dist, max := dedup.Distance(x.Hashes, y.Hashes), o.MaxDistance
		if d.BySource {
			dist, _ = dedup.SourceDistance(x.SourcePrint, x.SourceStepS, y.SourcePrint, y.SourceStepS)
			max = o.SourceMaxDistance
		}
		if d.Distance >= 0 && (dist != d.Distance || dist > max) {
			b.Errorf("%s duplicate of %s at distance %d, recorded %d (max %d, by source %v)", d.Key, d.KeptKey, dist, d.Distance, max, d.BySource)
		}
		b.Logf("chance duplicate: %s of %s, distance %d (by source %v), first keyframes %d bits apart", d.Key, d.KeptKey, d.Distance,
			d.BySource, dedup.Hamming(x.Hashes[0], y.Hashes[0]))
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

// processCPU is the CPU time this process has used (prism runs the
// workers in it).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
