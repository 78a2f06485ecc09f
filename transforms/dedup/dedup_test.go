package dedup

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"realdpo/schemas"
)

// frame draws a deterministic textured RGB frame; shift moves the pattern
// and gain brightens it, like a re-encode or a slightly different copy.
func frame(w, h, seed int, gain float64) []byte {
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	blobs := make([][3]int, 6)
	for i := range blobs {
		blobs[i] = [3]int{r.IntN(w), r.IntN(h), 40 + r.IntN(200)}
	}
	out := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 30.0
			for _, b := range blobs {
				dx, dy := float64(x-b[0])/float64(w), float64(y-b[1])/float64(h)
				if dx*dx+dy*dy < 0.02 {
					v = float64(b[2])
				}
			}
			v = min(255, v*gain)
			o := (y*w + x) * 3
			out[o], out[o+1], out[o+2] = byte(v), byte(v*0.8), byte(v*0.6)
		}
	}
	return out
}

func TestHashRGBNearDuplicates(t *testing.T) {
	a, err := HashRGB(frame(160, 90, 1, 1), 160, 90)
	if err != nil {
		t.Fatal(err)
	}
	// Same picture at a smaller size and a touch brighter: close.
	b, _ := HashRGB(frame(120, 68, 1, 1.05), 120, 68)
	// A different picture: far.
	c, _ := HashRGB(frame(160, 90, 2, 1), 160, 90)
	if d := Hamming(a, b); d > 6 {
		t.Errorf("rescaled, brightened copy at distance %d, want <= 6", d)
	}
	if d := Hamming(a, c); d < 12 {
		t.Errorf("different frames at distance %d, want >= 12", d)
	}
	if _, err := HashRGB(make([]byte, 10), 160, 90); err == nil {
		t.Error("short frame buffer accepted")
	}
	if Informative(0) || Informative(^uint64(0)) || !Informative(a) {
		t.Error("Informative: flat hashes must not count, a real one must")
	}
}

func TestDistanceAndKeyframes(t *testing.T) {
	if got := KeyframeIndices(17, 4); fmt.Sprint(got) != "[2 6 10 14]" {
		t.Errorf("KeyframeIndices(17,4) = %v", got)
	}
	if got := KeyframeIndices(3, 8); len(got) != 3 {
		t.Errorf("KeyframeIndices(3,8) = %v, want 3 frames", got)
	}
	a := []uint64{0x0f0f0f0f0f0f0f0f, 0x00ff00ff00ff00ff}
	b := []uint64{0x00ff00ff00ff00ff ^ 1, 0x0f0f0f0f0f0f0f0f ^ 3} // reordered, 1 and 2 bits off
	if d := Distance(a, b); d != 2 {
		t.Errorf("Distance = %d, want 2 (mean of 1 and 2, rounded)", d)
	}
	if d := Distance(a, []uint64{0}); d != -1 {
		t.Errorf("Distance to a flat clip = %d, want -1", d)
	}
}

func item(key, id string, rank string, hashes ...uint64) schemas.DedupItem {
	return schemas.DedupItem{Key: key, ID: id, Rank: rank, Hashes: hashes}
}

func TestDecideKeepsBestCopy(t *testing.T) {
	o := Options{MaxDistance: 6, Bands: 4, Rounds: 3, MaxBucket: 100}
	h := uint64(0x9a3c5e7f1b2d4c6e)
	items := []schemas.DedupItem{
		item("a", "A", RankKey(640*360, 10, "", 1, 0, "A", "a"), h, h^0xff00),
		item("b", "B", RankKey(1280*720, 10, "", 1, 0, "B", "b"), h^1, h^0xff01), // best: higher resolution
		item("c", "C", RankKey(640*360, 12, "", 1, 0, "C", "c"), h^3),            // longer than a
		item("d", "D", RankKey(1920*1080, 9, "", 1, 0, "D", "d"), ^h),            // unrelated
		item("e", "E", RankKey(640*360, 10, "", 1, 0, "E", "e"), 0),              // flat: never a duplicate
		item("f", "A", RankKey(640*360, 10, "", 1, 0, "A", "f"), 0),              // same clip id as a, flat hashes
	}
	got, err := Decide(items, o)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "b", "b": "", "c": "b", "d": "", "e": "", "f": "b"}
	for _, d := range got {
		if w := want[d.Key]; (w == "") != d.Keep || d.KeptKey != w {
			t.Errorf("%s: %+v, want kept=%v kept_key=%q", d.Key, d, w == "", w)
		}
	}
	// Input order never matters.
	rev := append([]schemas.DedupItem(nil), items...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	again, _ := Decide(rev, o)
	if fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("order changed the decisions:\n%v\n%v", got, again)
	}
	if _, err := Decide(append(items, items[0]), o); err == nil {
		t.Error("repeated key accepted")
	}
	if _, err := Decide(items, Options{Bands: 3, Rounds: 1, MaxBucket: 2}); err == nil {
		t.Error("3 bands accepted")
	}
}

func TestDecideChain(t *testing.T) {
	// a-b-c-d: each link within the distance, the ends far apart; d is best.
	o := Options{MaxDistance: 4, Bands: 4, Rounds: 3, MaxBucket: 100}
	h := uint64(0x123456789abcdef0)
	items := []schemas.DedupItem{
		item("a", "A", "4", h), item("b", "B", "3", h^0x7), item("c", "C", "2", h^0x7f), item("d", "D", "1", h^0x7ff),
	}
	got, _ := Decide(items, o)
	for _, d := range got {
		if d.Key == "d" != d.Keep || (!d.Keep && d.KeptKey != "d") {
			t.Errorf("%+v, want every link of the chain a duplicate of d", d)
		}
	}
}

func TestRankKeyOrder(t *testing.T) {
	hi := RankKey(1920*1080, 5, "", 1, 3, "z", "z")
	lo := RankKey(640*360, 50, "", 9, 0, "a", "a")
	if !(hi < lo) {
		t.Error("resolution must come first")
	}
	if !(RankKey(100, 6, "", 0, 0, "b", "b") < RankKey(100, 5, "", 9, 0, "a", "a")) {
		t.Error("then duration")
	}
	if !(RankKey(100, 5, "s1", 0, 9, "b", "b") < RankKey(100, 5, "s2", 9, 0, "a", "a")) {
		t.Error("then the source")
	}
	if sr, src := SourceRank(RankKey(100, 5, "s1", 0, 9, "b", "b")); src != "s1" || sr != RankKey(100, 5, "s1", 0, 0, "", "")[:len(sr)] {
		t.Errorf("SourceRank = %q, %q", sr, src)
	}
	if sr, src := SourceRank(RankKey(100, 5, "", 0, 9, "b", "b")); sr != "" || src != "" {
		t.Errorf("a rank without a source has source rank %q, %q", sr, src)
	}
	if !(RankKey(100, 5, "", 2, 5, "b", "b") < RankKey(100, 5, "", 1, 0, "a", "a")) {
		t.Error("then quality")
	}
	if !(RankKey(100, 5, "", 1, 0, "b", "b") < RankKey(100, 5, "", 1, 1, "a", "a")) {
		t.Error("then caption evidence")
	}
	if !(RankKey(100, 5, "", 1, 0, "a", "z") < RankKey(100, 5, "", 1, 0, "b", "a")) {
		t.Error("then id")
	}
}

// walk is a source print of n hashes, each a few bits away from the one
// before (footage that changes slowly), from seed.
func walk(seed uint64, n, flips int) []uint64 {
	r := rand.New(rand.NewPCG(seed, 1))
	h := r.Uint64()
	out := make([]uint64, n)
	for i := range out {
		for k := 0; k < flips; k++ {
			h ^= 1 << r.IntN(64)
		}
		out[i] = h
	}
	return out
}

// noisy flips bits of each hash at random: a re-encode's print.
func noisy(p []uint64, seed uint64, flips int) []uint64 {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([]uint64, len(p))
	for i, h := range p {
		for k := 0; k < flips; k++ {
			h ^= 1 << r.IntN(64)
		}
		out[i] = h
	}
	return out
}

func TestSourcePrintRoundTrip(t *testing.T) {
	p := walk(1, 9, 5)
	got, err := DecodeSourcePrint(EncodeSourcePrint(p))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(p) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if _, err := DecodeSourcePrint("abc"); err == nil {
		t.Error("odd hex accepted")
	}
	if s := SourcePrintStep(10); s != 0.5 {
		t.Errorf("step for 10 s = %g, want 0.5", s)
	}
	if s := SourcePrintStep(600); s*SourcePrintMaxHashes < 600 || s > 9.4 {
		t.Errorf("step for 600 s = %g: %d hashes do not span it", s, SourcePrintMaxHashes)
	}
}

// TestSourceDistance finds a re-encode that starts later (and one sampled
// at another step) at its offset, and tells unrelated footage apart.
func TestSourceDistance(t *testing.T) {
	a := walk(7, 40, 6) // 20 s at 0.5 s
	// The copy starts 3 s (6 samples) later, 3 bits of noise a hash.
	b := noisy(a[6:], 8, 3)
	d, off := SourceDistance(a, 0.5, b, 0.5)
	if d < 0 || d > 4 || off != 3 {
		t.Errorf("trimmed re-encode: distance %d at %g s, want <= 4 at 3 s", d, off)
	}
	// The same, seen from the copy: a starts 3 s before it.
	if d2, off2 := SourceDistance(b, 0.5, a, 0.5); d2 != d || off2 != -3 {
		t.Errorf("reversed: distance %d at %g s, want %d at -3 s", d2, off2, d)
	}
	// A print of a longer copy, one hash a second.
	var c []uint64
	for i := 0; i < len(a); i += 2 {
		c = append(c, a[i])
	}
	if d, off := SourceDistance(a, 0.5, noisy(c, 9, 2), 1); d < 0 || d > 3 || off != 0 {
		t.Errorf("coarser print: distance %d at %g s", d, off)
	}
	if d, _ := SourceDistance(a, 0.5, walk(99, 40, 6), 0.5); d >= 0 && d < 20 {
		t.Errorf("unrelated footage at distance %d", d)
	}
	if d, _ := SourceDistance(a, 0.5, b[:2], 0.5); d != -1 {
		t.Errorf("2 s of overlap gave distance %d, want -1 (too little to tell)", d)
	}
	// Buckets: the copy shares a sketch value with its original.
	ka, kb := SourceKeys(a), SourceKeys(b)
	shared := 0
	for _, x := range ka {
		for _, y := range kb {
			if x == y {
				shared++
			}
		}
	}
	if len(ka) != sourceTokens || shared == 0 {
		t.Errorf("sketches %v and %v share nothing", ka, kb)
	}
}

// TestDecideBySource: clips of a re-encoded source match the original's
// clips by source print whichever windows were kept, every clip of the
// original is kept (the copy links them but passes no label back), and two
// windows of one source never match by print.
func TestDecideBySource(t *testing.T) {
	o := Options{MaxDistance: 6, Bands: 4, Rounds: 4, MaxBucket: 100, SourceMaxDistance: 8}
	orig := walk(3, 30, 6)
	copyPrint := noisy(orig[4:], 4, 3)
	mk := func(key, src string, pixels int, print []uint64, kf uint64) schemas.DedupItem {
		return schemas.DedupItem{Key: key, ID: key, Hashes: []uint64{kf, kf ^ 0x11}, Rank: RankKey(pixels, 15, src, 1, 0, key, key),
			SourcePrint: print, SourceStepS: 0.5}
	}
	items := []schemas.DedupItem{
		mk("o1", "S1", 1280*720, orig, 0x0123456789abcdef),
		mk("o2", "S1", 1280*720, orig, 0xfedcba9876543210), // another shot of the same source
		mk("c1", "S2", 640*360, copyPrint, 0x5555aaaa3333cccc),
		mk("c2", "S2", 640*360, copyPrint, 0x0f0f0f0ff0f0f0f0),
		mk("x", "S3", 1920*1080, walk(77, 30, 6), 0x13579bdf2468ace0), // unrelated, best resolution
	}
	got, err := Decide(items, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		switch d.Key {
		case "o1", "o2", "x":
			if !d.Keep {
				t.Errorf("%s dropped: %+v", d.Key, d)
			}
		default:
			if d.Keep || (d.KeptKey != "o1" && d.KeptKey != "o2") || !d.BySource || d.Distance < 0 || d.Distance > 8 {
				t.Errorf("%s: %+v, want a duplicate of o1 or o2 found by source print", d.Key, d)
			}
		}
	}
	// Source matching off: windows only, every clip kept.
	o.SourceMaxDistance = -1
	got, _ = Decide(items, o)
	for _, d := range got {
		if !d.Keep {
			t.Errorf("source matching off, yet %+v", d)
		}
	}
}

// BenchmarkSourceDistance compares unrelated 24-hash prints (most pairs a
// source bucket holds) and a re-encode with its original.
func BenchmarkSourceDistance(b *testing.B) {
	a, other := walk(1, 24, 6), walk(2, 24, 6)
	cp := noisy(a[4:], 3, 2)
	b.Run("unrelated", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			SourceDistance(a, 0.5, other, 0.5)
		}
	})
	b.Run("copy", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			SourceDistance(a, 0.5, cp, 0.5)
		}
	})
	b.Run("copy_other_step", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			SourceDistance(a, 0.5, cp, 1)
		}
	})
}

// sourceCandidate reports whether source buckets make prints a and b (of
// different sources) a candidate pair: they share a sketch token and, in
// its bucket, their anchors are close.
func sourceCandidate(a, b []uint64, o Options) bool {
	mk := func(key, src string, p []uint64) schemas.DedupItem {
		return schemas.DedupItem{Key: key, Rank: RankKey(100, 10, src, 1, 0, key, key), SourcePrint: p, SourceStepS: 0.5}
	}
	ta, ma := sourceMembers(mk("a", "A", a))
	tb, mb := sourceMembers(mk("b", "B", b))
	for i, x := range ta {
		for j, y := range tb {
			if x == y && sourceCandidates([]sourceMember{ma[i], mb[j]}, o, func(string, string) {}).candidates == 1 {
				return true
			}
		}
	}
	return false
}

// TestSourceKeysShare: prints of one footage, the copy starting 2 s later
// with 2 bits of noise a hash (as re-encodes of synth footage measure),
// become a candidate pair in a source bucket (a shared sketch token, close
// anchors) all but rarely; unrelated prints rarely do. Measured over 2000
// pairs: copies with 2 (3, 4) bits of noise a hash miss 0.05% (1.5%,
// 5.35%) of the time, all for want of a shared token (the anchors drop
// none); no unrelated pair is a candidate (2 share a token).
func TestSourceKeysShare(t *testing.T) {
	o := Options{MaxDistance: 6, Bands: 4, Rounds: 4, MaxBucket: 100, SourceMaxDistance: 8}
	const n = 2000
	var missed [5]int
	chance := 0
	for i := uint64(0); i < n; i++ {
		orig := walk(1000+i, 24, 6)
		for flips := 2; flips <= 4; flips++ {
			if !sourceCandidate(orig, noisy(orig[4:], 5000+i, flips), o) {
				missed[flips]++
			}
		}
		if sourceCandidate(orig, walk(9000+i, 24, 6), o) {
			chance++
		}
	}
	t.Logf("copies (2, 3, 4 bits of noise) missing every bucket: %d, %d, %d of %d; unrelated candidate pairs: %d",
		missed[2], missed[3], missed[4], n, chance)
	if missed[2] > n/200 {
		t.Errorf("%d of %d copies (2 bits of noise) are no candidate of their original, want under 0.5%%", missed[2], n)
	}
	if missed[4] > n/10 {
		t.Errorf("%d of %d copies (4 bits of noise) are no candidate of their original, want under 10%%", missed[4], n)
	}
	if chance > n/200 {
		t.Errorf("%d of %d unrelated prints are candidate pairs", chance, n)
	}
}

// TestSourceBucketsSparse: unrelated prints rarely meet in a source
// bucket, so a large run holds few pairs of them. 16-bit band values and
// 8-value sketches put 4.75 others beside each print among 20,000 (five
// times that at 100,000, where BenchmarkDedup100k spent most of its
// source-print time on them); 20-bit bands leave well under 1.
func TestSourceBucketsSparse(t *testing.T) {
	const n = 20000
	members := map[uint64]int{}
	entries := 0
	for i := uint64(0); i < n; i++ {
		for _, k := range SourceKeys(walk(20000+i, 24, 6)) {
			members[k]++
			entries++
		}
	}
	others := 0
	for _, m := range members {
		others += m * (m - 1)
	}
	mean := float64(others) / float64(entries)
	t.Logf("%d prints, %d source bucket entries: %.2f unrelated prints beside each", n, entries, mean)
	if mean > 1 {
		t.Errorf("%.2f unrelated prints beside each in a source bucket, want under 1", mean)
	}
}

// TestBandMemberRoundTrip: a band bucket's member gives back the item's
// keyframes, rank, key and id, whether the rank ends with the key and id
// (RankKey's, which the member leaves out) or not.
func TestBandMemberRoundTrip(t *testing.T) {
	for _, it := range []schemas.DedupItem{
		{Key: "c1|src/a|b.mp4", ID: "c1", Hashes: []uint64{1, ^uint64(0), 0x9a3c5e7f1b2d4c6e}, Rank: RankKey(640*360, 12, "abcd", 0.5, 1, "c1", "c1|src/a|b.mp4")},
		{Key: "k", ID: "", Hashes: nil, Rank: "4"},
		{Key: "x|y", ID: "x", Hashes: []uint64{7}, Rank: "|x|x|y"},
		{Key: "x|y", ID: "x", Hashes: []uint64{7}, Rank: "x|y"},
	} {
		m := bandMemberOf(it)
		got := m.item()
		if got.Key != it.Key || got.ID != it.ID || got.Rank != it.Rank || fmt.Sprint(got.Hashes) != fmt.Sprint(it.Hashes) {
			t.Errorf("%+v came back as %+v", it, got)
		}
	}
	if m := bandMemberOf(schemas.DedupItem{Key: "c1|s", ID: "c1", Rank: RankKey(1, 1, "s", 1, 0, "c1", "c1|s")}); m.Key != "" || m.ID != "" {
		t.Errorf("a RankKey rank's key and id are carried twice: %+v", m)
	}
}
