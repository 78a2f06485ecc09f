// Package dedup finds near-duplicate clips by perceptual fingerprints: a
// 64-bit difference hash (dHash) per keyframe, candidate pairs found by
// locality-sensitive bucketing on hash bands, and the best copy of each
// group of duplicates kept. Dedup is the Beam transform; Decide does the
// same in memory (tests and small jobs).
package dedup

import (
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"github.com/corona10/goimagehash"

	"realdpo/schemas"
	"realdpo/transforms/config"
)

// Options control near-duplicate search.
type Options struct {
	// MaxDistance is the largest clip distance (mean keyframe Hamming
	// distance, of 64 bits) that still counts as the same footage.
	MaxDistance int
	// Bands cuts each 64-bit hash into this many bands (1, 2, 4, 8 or 16);
	// two clips are compared when any keyframe hash shares a band exactly.
	// With 4 bands any two hashes within 3 bits share one.
	Bands int
	// Rounds of label propagation: a duplicate chain up to this many hops
	// long ends with one kept copy.
	Rounds int
	// MaxBucket caps the members compared in one bucket (near-flat frames
	// would otherwise put everything into one bucket); the rest of an
	// oversized bucket is compared against its first MaxBucket members only.
	MaxBucket int
	// SourceMaxDistance is the largest SourceDistance between the prints of
	// two different sources that still counts as the same footage; -1
	// compares windows only.
	SourceMaxDistance int
}

// OptionsFrom takes the dedup settings of a review configuration.
func OptionsFrom(r schemas.ReviewConfig) Options {
	return Options{MaxDistance: r.DedupMaxDistance, Bands: r.DedupBands, Rounds: r.DedupRounds, MaxBucket: r.DedupMaxBucket,
		SourceMaxDistance: r.DedupSourceMaxDistance}
}

// Validate reports settings the search cannot use.
func (o Options) Validate() error {
	switch o.Bands {
	case 1, 2, 4, 8, 16:
	default:
		return config.Errorf("dedup", "Bands", "=%d: want 1, 2, 4, 8 or 16", o.Bands)
	}
	if o.MaxDistance < 0 || o.MaxDistance > 64 {
		return config.Errorf("dedup", "MaxDistance", "=%d outside 0..64", o.MaxDistance)
	}
	if o.Rounds < 1 {
		return config.Errorf("dedup", "Rounds", "=%d must be at least 1", o.Rounds)
	}
	if o.MaxBucket < 2 {
		return config.Errorf("dedup", "MaxBucket", "=%d must be at least 2", o.MaxBucket)
	}
	if o.SourceMaxDistance < -1 || o.SourceMaxDistance > 64 {
		return config.Errorf("dedup", "SourceMaxDistance", "=%d outside -1..64", o.SourceMaxDistance)
	}
	return nil
}

// HashRGB is the 64-bit difference hash of a packed RGB24 frame.
func HashRGB(rgb []byte, w, h int) (uint64, error) {
	if w <= 0 || h <= 0 || len(rgb) < w*h*3 {
		return 0, fmt.Errorf("dedup: frame %dx%d needs %d bytes, have %d", w, h, w*h*3, len(rgb))
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, j := 0, 0; i < w*h*3; i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = rgb[i], rgb[i+1], rgb[i+2], 255
	}
	return HashImage(img)
}

// HashImage is the 64-bit difference hash of an image.
func HashImage(img image.Image) (uint64, error) {
	h, err := goimagehash.DifferenceHash(img)
	if err != nil {
		return 0, fmt.Errorf("dedup: dhash: %w", err)
	}
	return h.GetHash(), nil
}

// KeyframeIndices are k evenly spaced frame indices of n (the middle of k
// equal spans), so the same clip gives the same keyframes.
func KeyframeIndices(n, k int) []int {
	if n <= 0 || k <= 0 {
		return nil
	}
	k = min(k, n)
	out := make([]int, k)
	for i := range out {
		out[i] = min(n-1, int((float64(i)+0.5)*float64(n)/float64(k)))
	}
	return out
}

// minInfoBits: a hash with fewer set (or unset) bits than this comes from
// a near-flat frame and says nothing about the footage.
const minInfoBits = 4

// Informative reports whether a keyframe hash carries enough structure to
// compare (a flat or plain-gradient frame hashes to all zeros or ones).
func Informative(h uint64) bool {
	n := bits.OnesCount64(h)
	return n >= minInfoBits && n <= 64-minInfoBits
}

// Hamming is the number of differing bits.
func Hamming(a, b uint64) int { return bits.OnesCount64(a ^ b) }

// Distance between two clips: for each informative keyframe of one, the
// Hamming distance to the closest keyframe of the other, averaged and
// rounded, the larger of the two directions (so a short excerpt is not
// the same footage as a long clip that contains it unless both agree).
// It is -1 when either clip has no informative keyframe.
func Distance(a, b []uint64) int {
	da, db := directed(a, b), directed(b, a)
	if da < 0 || db < 0 {
		return -1
	}
	return int(math.Round(max(da, db)))
}

func directed(a, b []uint64) float64 {
	sum, n := 0, 0
	for _, x := range a {
		if !Informative(x) {
			continue
		}
		best := 65
		for _, y := range b {
			if Informative(y) {
				best = min(best, Hamming(x, y))
			}
		}
		if best == 65 {
			return -1
		}
		sum += best
		n++
	}
	if n == 0 {
		return -1
	}
	return float64(sum) / float64(n)
}

// bandItem is what a band bucket holds of an item: its keyframes, not its
// source print (most of its bytes; source buckets compare prints).
func bandItem(it schemas.DedupItem) schemas.DedupItem {
	it.SourcePrint, it.SourceStepS = nil, 0
	return it
}

// bandMember is what a band bucket holds of an item in Beam, bandItem in
// fewer bytes (an item has a copy in every bucket of its keyframes, most
// of the bytes the runner moves): the keyframes packed 8 bytes a hash, and
// the key and id left out when the rank ends with them, as RankKey's do
// (KeyLen and IDLen then say where; -1 otherwise).
type bandMember struct {
	Rank   string
	Key    string
	ID     string
	KeyLen int
	IDLen  int
	Hashes []byte
}

func bandMemberOf(it schemas.DedupItem) bandMember {
	m := bandMember{Rank: it.Rank, Key: it.Key, ID: it.ID, KeyLen: -1, IDLen: -1, Hashes: make([]byte, 8*len(it.Hashes))}
	if strings.HasSuffix(it.Rank, "|"+it.ID+"|"+it.Key) {
		m.Key, m.ID, m.KeyLen, m.IDLen = "", "", len(it.Key), len(it.ID)
	}
	for i, h := range it.Hashes {
		binary.LittleEndian.PutUint64(m.Hashes[8*i:], h)
	}
	return m
}

func (m bandMember) item() schemas.DedupItem {
	it := schemas.DedupItem{Key: m.Key, ID: m.ID, Rank: m.Rank, Hashes: make([]uint64, len(m.Hashes)/8)}
	if m.KeyLen >= 0 && m.IDLen >= 0 && m.KeyLen+m.IDLen+2 <= len(m.Rank) {
		end := len(m.Rank) - m.KeyLen
		it.Key, it.ID = m.Rank[end:], m.Rank[end-1-m.IDLen:end-1]
	}
	for i := range it.Hashes {
		it.Hashes[i] = binary.LittleEndian.Uint64(m.Hashes[8*i:])
	}
	return it
}

// BandKeys are the buckets an item falls into: one per distinct band value
// of its informative keyframe hashes, plus its clip id (identical clips
// always meet).
func BandKeys(it schemas.DedupItem, bands int) []string {
	width := 64 / bands
	mask := uint64(1)<<width - 1
	if width == 64 {
		mask = ^uint64(0)
	}
	// An item has a few keyframes: a linear scan finds repeated band
	// values without a map, and only new ones are formatted.
	type band struct {
		b int
		v uint64
	}
	seen := make([]band, 0, bands*len(it.Hashes))
	keys := make([]string, 1, 1+bands*len(it.Hashes))
	keys[0] = "id:" + it.ID
	buf := make([]byte, 0, 24)
	for _, h := range it.Hashes {
		if !Informative(h) {
			continue
		}
	next:
		for b := 0; b < bands; b++ {
			v := (h >> (uint(b) * uint(width))) & mask
			for _, x := range seen {
				if x.b == b && x.v == v {
					continue next
				}
			}
			seen = append(seen, band{b, v})
			buf = append(strconv.AppendInt(append(buf[:0], 'b'), int64(b), 10), ':')
			keys = append(keys, string(strconv.AppendUint(buf, v, 16)))
		}
	}
	return keys
}

// RankKey orders copies, smallest best: higher source resolution, then
// longer source, then the source's id (a prefix of its content hash; ""
// for none), then the higher quality score, then the better caption
// evidence (0 best), then the clip id and the record key, so the choice
// never depends on which worker saw what. Its first three fields rank the
// source (SourceRank): clips of the same footage from different sources
// keep the best source's.
func RankKey(pixels int, durationS float64, source string, quality float64, captionRank int, id, key string) string {
	const big = 1e12
	inv := func(v float64) int64 { return int64(big - math.Max(0, math.Min(big-1, v))) }
	return fmt.Sprintf("%013d|%013d|%s|%013d|%02d|%s|%s", inv(float64(pixels)), inv(math.Round(durationS*1000)), source,
		inv(math.Round(quality*1000)), min(max(captionRank, 0), 99), id, key)
}

// SourceRank is the part of a RankKey that ranks the clip's source, and
// source its id; both "" when the rank names no source (then clips are
// compared by their windows only).
func SourceRank(rank string) (sourceRank, source string) {
	parts := strings.SplitN(rank, "|", 4)
	if len(parts) < 4 || parts[2] == "" {
		return "", ""
	}
	return parts[0] + "|" + parts[1] + "|" + parts[2], parts[2]
}

// Edge is a near-duplicate pair as seen from one end. Between clips of two
// different sources labels pass only from the better source to the other:
// the edge back is Back, kept for the distance it records. Otherwise a
// worse source matching two clips of a better one would join them, and one
// of the better source's own clips would be dropped as a copy of another.
type Edge struct {
	To       string
	Distance int
	BySource bool // matched by source prints, not keyframes
	Back     bool // towards the better source: carries no label
}

// label is what propagation passes around: the best rank reachable, with
// its key and clip id, separated by a unit separator (sorts as the rank).
func label(it schemas.DedupItem) string { return it.Rank + "\x1f" + it.Key + "\x1f" + it.ID }

func splitLabel(l string) (key, id string) {
	parts := strings.Split(l, "\x1f")
	if len(parts) < 3 {
		return "", ""
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}

// sortBucket orders a bucket's members by rank, then key.
func sortBucket(m []schemas.DedupItem) {
	sort.Slice(m, func(i, j int) bool {
		if m[i].Rank != m[j].Rank {
			return m[i].Rank < m[j].Rank
		}
		return m[i].Key < m[j].Key
	})
}

// bucketEdges compares the members of one band bucket and calls emit for
// every pair within o.MaxDistance by keyframes, once in each direction.
// overflow reports members compared only against the first max.
func bucketEdges(members []schemas.DedupItem, o Options, emit func(from string, e Edge)) (overflow int) {
	sortBucket(members)
	for j := 1; j < len(members); j++ {
		lim := j
		if lim > o.MaxBucket {
			lim = o.MaxBucket
			overflow++
		}
		for i := 0; i < lim; i++ {
			a, b := members[i], members[j] // a ranks first
			if a.Key == b.Key {
				continue
			}
			d := Distance(a.Hashes, b.Hashes)
			if a.ID == b.ID && a.ID != "" {
				d = max(d, 0) // the same clip id is the same bytes
			}
			if d < 0 || d > o.MaxDistance {
				continue
			}
			rankA, _ := SourceRank(a.Rank)
			rankB, _ := SourceRank(b.Rank)
			back := rankA != rankB
			emit(a.Key, Edge{To: b.Key, Distance: d})
			emit(b.Key, Edge{To: a.Key, Distance: d, Back: back})
		}
	}
	return overflow
}

// Decide deduplicates in memory exactly as Dedup does in Beam: the same
// buckets, edges and label propagation, so the two agree decision for
// decision. Decisions come back sorted by key.
func Decide(items []schemas.DedupItem, o Options) ([]schemas.DedupDecision, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	buckets := map[string][]schemas.DedupItem{}
	byKey := map[string]schemas.DedupItem{}
	for _, it := range items {
		if _, dup := byKey[it.Key]; dup {
			return nil, fmt.Errorf("dedup: key %q appears twice", it.Key)
		}
		byKey[it.Key] = it
		for _, k := range BandKeys(it, o.Bands) {
			buckets[k] = append(buckets[k], bandItem(it))
		}
	}
	adj := map[string][]Edge{}
	addEdge := func(from string, e Edge) { adj[from] = append(adj[from], e) }
	for _, m := range buckets {
		bucketEdges(m, o, addEdge)
	}
	if o.SourceMaxDistance >= 0 {
		sourceEdgesInMemory(items, o, addEdge)
	}
	labels := map[string]string{}
	for k, it := range byKey {
		labels[k] = label(it)
	}
	for r := 0; r < o.Rounds; r++ {
		next := map[string]string{}
		for k, l := range labels {
			next[k] = orSelf(next, k, l)
			for _, e := range adj[k] {
				if !e.Back {
					next[e.To] = orSelf(next, e.To, l)
				}
			}
		}
		labels = next
	}
	out := make([]schemas.DedupDecision, 0, len(items))
	for k := range byKey {
		out = append(out, decision(k, labels[k], adj[k]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// orSelf is min(m[k], l) treating a missing entry as l.
func orSelf(m map[string]string, k, l string) string {
	if v, ok := m[k]; ok && v < l {
		return v
	}
	return l
}

func decision(key, lbl string, edges []Edge) schemas.DedupDecision {
	keptKey, keptID := splitLabel(lbl)
	if keptKey == key || keptKey == "" {
		return schemas.DedupDecision{Key: key, Keep: true, Distance: -1}
	}
	var best *Edge
	for i, e := range edges {
		if e.To == keptKey && (best == nil || betterEdge(e, *best)) {
			best = &edges[i]
		}
	}
	if best == nil {
		return schemas.DedupDecision{Key: key, KeptKey: keptKey, KeptID: keptID, Distance: -1}
	}
	return schemas.DedupDecision{Key: key, KeptKey: keptKey, KeptID: keptID, Distance: best.Distance, BySource: best.BySource}
}

// betterEdge reports whether e says more than d about a pair: a keyframe
// match beats a source match at any distance (it is the same window),
// then the smaller distance.
func betterEdge(e, d Edge) bool {
	if e.BySource != d.BySource {
		return !e.BySource
	}
	return e.Distance < d.Distance
}
