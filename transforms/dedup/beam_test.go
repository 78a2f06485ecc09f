package dedup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	// The runner the tests use (the command imports it in main).
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"realdpo/schemas"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() { register.Function1x1(decisionLine) }

// decisionLine prints a decision whole: a mismatch then reads plainly.
func decisionLine(d schemas.DedupDecision) string { return fmt.Sprintf("%+v", d) }

// TestDedupMatchesDecide: the Beam transform and the in-memory Decide give
// the same decision for every item (kept, or which copy is kept and at
// what distance), and Decide gives the groups written out here by hand.
func TestDedupMatchesDecide(t *testing.T) {
	h := uint64(0x9a3c5e7f1b2d4c6e)
	c := uint64(0x123456789abcdef0)
	orig := walk(3, 30, 6)
	copyPrint := noisy(orig[4:], 4, 3)
	bySource := func(key, src string, pixels int, print []uint64, kf uint64) schemas.DedupItem {
		return schemas.DedupItem{Key: key, ID: key, Hashes: []uint64{kf, kf ^ 0x11}, Rank: RankKey(pixels, 15, src, 1, 0, key, key),
			SourcePrint: print, SourceStepS: 0.5}
	}
	tests := []struct {
		name  string
		opts  Options
		items []schemas.DedupItem
		// keptKey: each item's kept copy, "" when the item itself is kept.
		keptKey map[string]string
	}{
		{"best copy kept, unrelated and flat kept", Options{MaxDistance: 6, Bands: 4, Rounds: 3, MaxBucket: 100, SourceMaxDistance: -1},
			[]schemas.DedupItem{
				item("a", "A", RankKey(640*360, 10, "", 1, 0, "A", "a"), h, h^0xff00),
				item("b", "B", RankKey(1280*720, 10, "", 1, 0, "B", "b"), h^1, h^0xff01), // best: higher resolution
				item("c", "C", RankKey(640*360, 12, "", 1, 0, "C", "c"), h^3),
				item("d", "D", RankKey(1920*1080, 9, "", 1, 0, "D", "d"), ^h), // unrelated
				item("e", "E", RankKey(640*360, 10, "", 1, 0, "E", "e"), 0),   // flat: never a duplicate
				item("f", "A", RankKey(640*360, 10, "", 1, 0, "A", "f"), 0),   // a's clip id: the same bytes
			},
			map[string]string{"a": "b", "b": "", "c": "b", "d": "", "e": "", "f": "b"}},
		// Each link within the distance, the ends far apart: enough rounds
		// carry the best label along the whole chain.
		{"transitive chain", Options{MaxDistance: 4, Bands: 4, Rounds: 3, MaxBucket: 100, SourceMaxDistance: -1},
			[]schemas.DedupItem{item("a", "A", "4", c), item("b", "B", "3", c^0x7), item("c", "C", "2", c^0x7f), item("d", "D", "1", c^0x7ff)},
			map[string]string{"a": "d", "b": "d", "c": "d", "d": ""}},
		// Too few rounds for the chain: the label stops two hops along, in
		// Beam exactly as in memory.
		{"chain longer than the rounds", Options{MaxDistance: 4, Bands: 4, Rounds: 2, MaxBucket: 100, SourceMaxDistance: -1},
			[]schemas.DedupItem{item("a", "A", "4", c), item("b", "B", "3", c^0x7), item("c", "C", "2", c^0x7f), item("d", "D", "1", c^0x7ff)},
			map[string]string{"a": "c", "b": "d", "c": "d", "d": ""}},
		// Equal ranks: the smaller key wins, whatever worker saw what.
		{"tie", Options{MaxDistance: 6, Bands: 4, Rounds: 3, MaxBucket: 100, SourceMaxDistance: -1},
			[]schemas.DedupItem{item("t3", "T3", "5", h^0x3), item("t1", "T1", "5", h), item("t2", "T2", "5", h^0x1)},
			map[string]string{"t1": "", "t2": "t1", "t3": "t1"}},
		// A bucket over MaxBucket compares its tail with its head only.
		{"overflowing bucket", Options{MaxDistance: 6, Bands: 4, Rounds: 3, MaxBucket: 2, SourceMaxDistance: -1},
			[]schemas.DedupItem{item("p", "P", "1", h), item("q", "Q", "2", h^0x1), item("r", "R", "3", h^0x2), item("s", "S", "4", h^0x3)},
			map[string]string{"p": "", "q": "p", "r": "p", "s": "p"}},
		{"re-encoded source found by its print", Options{MaxDistance: 6, Bands: 4, Rounds: 4, MaxBucket: 100, SourceMaxDistance: 8},
			[]schemas.DedupItem{
				bySource("o1", "S1", 1280*720, orig, 0x0123456789abcdef),
				bySource("o2", "S1", 1280*720, orig, 0xfedcba9876543210),
				bySource("c1", "S2", 640*360, copyPrint, 0x5555aaaa3333cccc),
				bySource("x", "S3", 1920*1080, walk(77, 30, 6), 0x13579bdf2468ace0),
			},
			map[string]string{"o1": "", "o2": "", "c1": "o1", "x": ""}},
		// A copy near by keyframes too (the keyframe edge decides), two
		// windows of a third source (one print: they never match each
		// other by it) found through several sketch buckets each, and a
		// clip whose rank names no source (never matched by print).
		{"re-encodes found by print and by keyframes", Options{MaxDistance: 6, Bands: 4, Rounds: 4, MaxBucket: 100, SourceMaxDistance: 8},
			[]schemas.DedupItem{
				bySource("o1", "S1", 1280*720, orig, 0x0123456789abcdef),
				bySource("k1", "S2", 640*360, copyPrint, 0x0123456789abcdee),
				bySource("w1", "S3", 320*180, noisy(orig[2:], 5, 2), 0x5555aaaa3333cccc),
				bySource("w2", "S3", 320*180, noisy(orig[2:], 5, 2), 0x0f0f0f0ff0f0f0f0),
				{Key: "n", ID: "n", Hashes: []uint64{0x13579bdf2468ace0}, Rank: RankKey(1920*1080, 15, "", 1, 0, "n", "n"),
					SourcePrint: orig, SourceStepS: 0.5},
				bySource("x", "S4", 1920*1080, walk(78, 30, 6), 0x2468ace013579bdf),
			},
			map[string]string{"o1": "", "k1": "o1", "w1": "o1", "w2": "o1", "n": "", "x": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Decide(tc.items, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			kept := int64(0)
			var wantLines []any
			for _, d := range want {
				got[d.Key] = d.KeptKey
				if d.Keep {
					kept++
				}
				wantLines = append(wantLines, decisionLine(d))
			}
			if !reflect.DeepEqual(got, tc.keptKey) {
				t.Errorf("Decide kept copies %v, want %v", got, tc.keptKey)
			}

			// Reversed input: the Beam side must not depend on input order.
			in := slices.Clone(tc.items)
			slices.Reverse(in)
			p, s, col := ptest.CreateList(in)
			dec, err := Dedup(s, tc.opts, col)
			if err != nil {
				t.Fatal(err)
			}
			passert.Equals(s, beam.ParDo(s, decisionLine, dec), wantLines...)
			pr, err := ptest.RunWithMetrics(p)
			if err != nil {
				t.Fatalf("Dedup disagrees with Decide: %v", err)
			}
			counts := map[string]int64{}
			for _, c := range pr.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == counterNS }).Counters() {
				counts[c.Name()] += c.Result()
			}
			if counts["kept"] != kept || counts["duplicates"] != int64(len(want))-kept {
				t.Errorf("counters kept %d, duplicates %d; want %d, %d", counts["kept"], counts["duplicates"], kept, int64(len(want))-kept)
			}
		})
	}
}

// TestDedupMatchesDecideAtRandom: on 400 random items (near copies by
// keyframes, copies of other sources' footage by print, several windows
// of one source, items with no print or no source) the Beam transform and
// Decide agree decision for decision.
func TestDedupMatchesDecideAtRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 4))
	o := Options{MaxDistance: 10, Bands: 4, Rounds: 4, MaxBucket: 50, SourceMaxDistance: 8}
	var items []schemas.DedupItem
	var prints [][]uint64
	for i := 0; i < 400; i++ {
		key := fmt.Sprintf("k%03d", i)
		src := fmt.Sprintf("S%03d", i)
		kf := r.Uint64()
		print := walk(uint64(1000+i), 24, 6)
		switch {
		case i%10 == 3 && len(prints) > 0: // another window of an earlier source
			src = fmt.Sprintf("S%03d", i-1)
			print = prints[len(prints)-1]
		case i%10 == 6 && len(prints) > 2 && len(prints[len(prints)-3]) > 2: // a re-encode of earlier footage
			print = noisy(prints[len(prints)-3][2:], uint64(i), 2)
		case i%10 == 8 && i > 0: // a near copy of the window before
			kf = items[i-1].Hashes[0] ^ 1<<r.IntN(64)
		case i%10 == 9:
			src = "" // a rank that names no source
		}
		if i%17 == 0 {
			print = nil
		}
		prints = append(prints, print)
		items = append(items, schemas.DedupItem{Key: key, ID: key, Hashes: []uint64{kf, kf ^ 0x101, kf ^ 0x10010},
			Rank: RankKey(640*360+r.IntN(4)*1000, 10, src, r.Float64(), 0, key, key), SourcePrint: print, SourceStepS: 0.5})
	}
	want, err := Decide(items, o)
	if err != nil {
		t.Fatal(err)
	}
	var wantLines []any
	dups, bySource := 0, 0
	for _, d := range want {
		if !d.Keep {
			dups++
		}
		if d.BySource {
			bySource++
		}
		wantLines = append(wantLines, decisionLine(d))
	}
	t.Logf("%d duplicates, %d found by source print", dups, bySource)
	if dups < 40 || bySource < 20 {
		t.Fatalf("only %d duplicates (%d by source print) among the planted copies", dups, bySource)
	}
	p, s, col := ptest.CreateList(items)
	dec, err := Dedup(s, o, col)
	if err != nil {
		t.Fatal(err)
	}
	passert.Equals(s, beam.ParDo(s, decisionLine, dec), wantLines...)
	if err := ptest.Run(p); err != nil {
		t.Fatalf("Dedup disagrees with Decide: %v", err)
	}
}
