package dedup

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
)

// A source print fingerprints a whole source, not one window of it: the
// difference hash of its analysis frame every SourcePrintStep seconds from
// its start. Two clips whose sources' prints line up at some time offset
// come from the same footage (a re-encode, a resize, a copy that starts
// later), whichever windows curation kept of each.

// SourcePrintMaxHashes caps a print; longer sources are sampled more
// sparsely so a print stays small enough to travel with every clip.
const SourcePrintMaxHashes = 64

// sourcePrintMinStepS is the sampling step of short sources.
const sourcePrintMinStepS = 0.5

// SourcePrintStep is the sampling step, in seconds, for a source of
// durationS seconds.
func SourcePrintStep(durationS float64) float64 {
	return max(sourcePrintMinStepS, math.Ceil(1000*durationS/SourcePrintMaxHashes)/1000)
}

// EncodeSourcePrint writes hashes as one hex string, 16 digits a hash.
func EncodeSourcePrint(hashes []uint64) string {
	buf := make([]byte, 8*len(hashes))
	for i, h := range hashes {
		binary.BigEndian.PutUint64(buf[8*i:], h)
	}
	return hex.EncodeToString(buf)
}

// DecodeSourcePrint reads EncodeSourcePrint's string.
func DecodeSourcePrint(s string) ([]uint64, error) {
	buf, err := hex.DecodeString(s)
	if err != nil || len(buf)%8 != 0 {
		return nil, fmt.Errorf("dedup: bad source print (%d hex digits): %v", len(s), err)
	}
	out := make([]uint64, len(buf)/8)
	for i := range out {
		out[i] = binary.BigEndian.Uint64(buf[8*i:])
	}
	return out, nil
}

// Source matching settings. voteBits: hash pairs this close vote for the
// time offset between them. minSourcePairs: aligned informative pairs
// needed for a verdict (2 s of overlap at the finest step).
const (
	voteBits       = 10
	minSourcePairs = 4
	maxOffsetTries = 3
)

// SourceDistance compares two source prints (stepA and stepB seconds
// apart): the time offset at which they line up is found by letting every
// pair of close hashes vote for theirs, and the distance is the mean
// Hamming distance of the hashes that offset aligns (each hash of a with
// the hash of b nearest its time), rounded, at the best of the most voted
// offsets. It is -1 when no offset aligns minSourcePairs informative pairs.
// offsetS is the time in a of b's start.
func SourceDistance(a []uint64, stepA float64, b []uint64, stepB float64) (dist int, offsetS float64) {
	if len(a) == 0 || len(b) == 0 || stepA <= 0 || stepB <= 0 {
		return -1, 0
	}
	q := max(stepA, stepB)
	votes := map[int][]float64{}
	for i, x := range a {
		if !Informative(x) {
			continue
		}
		for j, y := range b {
			if Informative(y) && bits.OnesCount64(x^y) <= voteBits {
				off := float64(i)*stepA - float64(j)*stepB
				bin := int(math.Round(off / q))
				votes[bin] = append(votes[bin], off)
			}
		}
	}
	if len(votes) == 0 {
		return -1, 0
	}
	bins := make([]int, 0, len(votes))
	for k := range votes {
		bins = append(bins, k)
	}
	// Most votes first; then the offset nearer zero, then the smaller, so
	// the choice never depends on map order.
	sort.Slice(bins, func(i, j int) bool {
		vi, vj := len(votes[bins[i]]), len(votes[bins[j]])
		if vi != vj {
			return vi > vj
		}
		ai, aj := abs(bins[i]), abs(bins[j])
		if ai != aj {
			return ai < aj
		}
		return bins[i] < bins[j]
	})
	best, bestOff := -1.0, 0.0
	for _, bin := range bins[:min(len(bins), maxOffsetTries)] {
		offs := votes[bin]
		sort.Float64s(offs)
		off := offs[len(offs)/2]
		if m, n := alignedMean(a, stepA, b, stepB, off); n >= minSourcePairs && (best < 0 || m < best) {
			best, bestOff = m, off
		}
	}
	if best < 0 {
		return -1, 0
	}
	return int(math.Round(best)), math.Round(bestOff*1000) / 1000
}

// alignedMean is the mean Hamming distance between the informative hashes
// of the sparser print and, for each, the informative hash of the other
// print nearest in time, with b starting off seconds into a, over the
// pairs within half a step. Walking the sparser print pairs every one of
// its hashes with a hash of the same moment when one print samples a
// multiple of the other's times.
func alignedMean(a []uint64, stepA float64, b []uint64, stepB float64, off float64) (float64, int) {
	if stepB > stepA {
		a, stepA, b, stepB, off = b, stepB, a, stepA, -off
	}
	// Now a is the sparser: a's hash i is at time i*stepA - off in b.
	sum, n := 0, 0
	for i, x := range a {
		if !Informative(x) {
			continue
		}
		t := float64(i)*stepA - off
		j := int(math.Round(t / stepB))
		if j < 0 || j >= len(b) || math.Abs(t-float64(j)*stepB) > 0.5*stepA+1e-9 || !Informative(b[j]) {
			continue
		}
		sum += bits.OnesCount64(x ^ b[j])
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return float64(sum) / float64(n), n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// sourceTokens is how many of a print's band values become bucket keys.
const sourceTokens = 6

// SourceKeys are the buckets a source print puts its clip in: of the
// distinct band values of its informative hashes (bands of the given
// width), the sourceTokens smallest by a fixed mixing function, a
// bottom-k MinHash sketch. Two prints of the same footage share most band
// values, and so, with a probability that grows with the share, at least
// one of their sketches' values; a band that is nearly flat (sky, a wall)
// says nothing and is left out.
func SourceKeys(print []uint64, bands int) []string {
	width := 64 / bands
	mask := uint64(1)<<width - 1
	if width == 64 {
		mask = ^uint64(0)
	}
	type token struct {
		mix       uint64
		band      int
		bandValue uint64
	}
	seen := map[[2]uint64]bool{}
	var toks []token
	for _, h := range print {
		if !Informative(h) {
			continue
		}
		for b := 0; b < bands; b++ {
			v := (h >> (uint(b) * uint(width))) & mask
			if n := bits.OnesCount64(v); n < 2 || n > width-2 || seen[[2]uint64{uint64(b), v}] {
				continue
			}
			seen[[2]uint64{uint64(b), v}] = true
			toks = append(toks, token{mix64(v*uint64(bands) + uint64(b)), b, v})
		}
	}
	sort.Slice(toks, func(i, j int) bool { return toks[i].mix < toks[j].mix })
	keys := make([]string, 0, sourceTokens)
	for _, t := range toks[:min(len(toks), sourceTokens)] {
		keys = append(keys, "s"+strconv.Itoa(t.band)+":"+strconv.FormatUint(t.bandValue, 16))
	}
	return keys
}

// mix64 is SplitMix64's finaliser: a fixed bijection that scatters values.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
