package dedup

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
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
	// Most pairs a source bucket compares are unrelated footage: the vote
	// is a tight loop over the informative hashes, with counts in a slice
	// indexed by offset bin, and allocates nothing for prints of the usual
	// size.
	var ia, ib [SourcePrintMaxHashes]int32
	xa, xb := informativeIndex(a, ia[:0]), informativeIndex(b, ib[:0])
	if len(xa) == 0 || len(xb) == 0 {
		return -1, 0
	}
	q := max(stepA, stepB)
	lo := int(math.Floor(-float64(len(b)-1)*stepB/q)) - 1
	hi := int(math.Ceil(float64(len(a)-1)*stepA/q)) + 1
	var countBuf [4 * SourcePrintMaxHashes]int32
	counts := countBuf[:0]
	if hi-lo+1 <= len(countBuf) {
		counts = countBuf[:hi-lo+1]
	} else {
		counts = make([]int32, hi-lo+1)
	}
	bin := func(i, j int32) int {
		return int(math.Round((float64(i)*stepA-float64(j)*stepB)/q)) - lo
	}
	voted := false
	for _, i := range xa {
		x := a[i]
		for _, j := range xb {
			if bits.OnesCount64(x^b[j]) <= voteBits {
				counts[bin(i, j)]++
				voted = true
			}
		}
	}
	if !voted {
		return -1, 0
	}
	// The most voted bins; ties to the offset nearer zero, then the smaller,
	// so the choice never depends on order.
	better := func(k, l int) bool {
		if counts[k] != counts[l] {
			return counts[k] > counts[l]
		}
		if ak, al := abs(k+lo), abs(l+lo); ak != al {
			return ak < al
		}
		return k < l
	}
	top := make([]int, 0, maxOffsetTries)
	for k, c := range counts {
		if c == 0 {
			continue
		}
		pos := len(top)
		for pos > 0 && better(k, top[pos-1]) {
			pos--
		}
		if pos < maxOffsetTries {
			if len(top) < maxOffsetTries {
				top = append(top, 0)
			}
			copy(top[pos+1:], top[pos:len(top)-1])
			top[pos] = k
		}
	}
	best, bestOff := -1.0, 0.0
	for _, k := range top {
		off := binOffset(a, xa, stepA, b, xb, stepB, k, bin)
		if m, n := alignedMean(a, stepA, b, stepB, off); n >= minSourcePairs && (best < 0 || m < best) {
			best, bestOff = m, off
		}
	}
	if best < 0 {
		return -1, 0
	}
	return int(math.Round(best)), math.Round(bestOff*1000) / 1000
}

// informativeIndex appends the indices of p's informative hashes to buf.
func informativeIndex(p []uint64, buf []int32) []int32 {
	for i, h := range p {
		if Informative(h) {
			buf = append(buf, int32(i))
		}
	}
	return buf
}

// binOffset is the median time offset of the votes in bin k: with equal
// steps every vote of a bin has the same offset.
func binOffset(a []uint64, xa []int32, stepA float64, b []uint64, xb []int32, stepB float64, k int, bin func(i, j int32) int) float64 {
	var offs []float64
	for _, i := range xa {
		for _, j := range xb {
			if bits.OnesCount64(a[i]^b[j]) <= voteBits && bin(i, j) == k {
				off := float64(i)*stepA - float64(j)*stepB
				if stepA == stepB {
					return off
				}
				offs = append(offs, off)
			}
		}
	}
	sort.Float64s(offs)
	return offs[len(offs)/2]
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

// A source bucket is keyed by one band value (a token) of one print hash.
// How many unrelated prints share a bucket by chance grows with prints x
// tokens a print / distinct tokens: with the keyframe bands' 16 bits, 100k
// prints put ~37 unrelated prints beside each in a source bucket, so source
// bands are wider, three of 20 bits (bits 0-19, 22-41 and 44-63), leaving
// 0.34 among 20,000 prints (TestSourceBucketsSparse). Wider bands survive
// a re-encode's bit noise less often, which the larger sketch makes up for
// (TestSourceKeysShare).
const (
	sourceBandWidth = 20
	sourceBandStep  = 22
	sourceBands     = 3
	sourceBandMask  = uint64(1)<<sourceBandWidth - 1
	// sourceTokens is how many of a print's band values become bucket keys.
	sourceTokens = 12
)

// SourceKeys are the buckets a source print puts its clip in: of the
// distinct band values of its informative hashes, the sourceTokens
// smallest by a fixed mixing function, a bottom-k MinHash sketch. Two
// prints of the same footage share most band values, and so, with a
// probability that grows with the share, at least one of their sketches'
// values; a band that is nearly flat (sky, a wall) says nothing and is
// left out. A key is the band's number above its value (sourceToken).
func SourceKeys(print []uint64) []uint64 {
	// Sorted by mix, a repeated token (mix64 is a bijection) sits beside
	// its copies.
	type token struct{ mix, tok uint64 }
	toks := make([]token, 0, sourceBands*len(print))
	for _, h := range print {
		if !Informative(h) {
			continue
		}
		for b := uint64(0); b < sourceBands; b++ {
			v := (h >> (b * sourceBandStep)) & sourceBandMask
			if n := bits.OnesCount64(v); n < 2 || n > sourceBandWidth-2 {
				continue
			}
			tok := b<<sourceBandWidth | v
			toks = append(toks, token{mix64(tok), tok})
		}
	}
	slices.SortFunc(toks, func(x, y token) int { return cmp.Compare(x.mix, y.mix) })
	keys := make([]uint64, 0, sourceTokens)
	for i, t := range toks {
		if len(keys) == sourceTokens {
			break
		}
		if i == 0 || t.mix != toks[i-1].mix {
			keys = append(keys, t.tok)
		}
	}
	return keys
}

// sourcePrefilterSlack is how much worse than the limit a print pair may
// align at its shared band value's offset and still get the full search
// (which may find a better offset when the prints' steps differ).
const sourcePrefilterSlack = 4

// sourceToken is a SourceKeys key: band b's value v is b<<sourceBandWidth | v.
type sourceToken uint64

func (t sourceToken) has(h uint64) bool {
	band := uint64(t) >> sourceBandWidth
	return (h>>(band*sourceBandStep))&sourceBandMask == uint64(t)&sourceBandMask
}

// aligned reports whether prints a and b line up within limit (mean bits)
// at an offset that puts a hash of each holding the token together.
func (t sourceToken) aligned(a []uint64, stepA float64, b []uint64, stepB float64, limit float64) bool {
	for i, x := range a {
		if !t.has(x) {
			continue
		}
		for j, y := range b {
			if !t.has(y) {
				continue
			}
			if m, n := alignedMean(a, stepA, b, stepB, float64(i)*stepA-float64(j)*stepB); n >= minSourcePairs && m <= limit {
				return true
			}
		}
	}
	return false
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
