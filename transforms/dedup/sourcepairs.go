package dedup

import (
	"encoding/binary"
	"hash/fnv"
	"math/bits"
	"sort"

	"realdpo/schemas"
)

// Source matching runs in three steps so that an item's print (most of its
// bytes) travels only once or twice, not once per sketch value:
//
//  1. Source buckets (one per SourceKeys token) hold only a sourceMember of
//     each item: its key, its source's rank and the few print hashes that
//     hold the token. A bucket emits each pair of members from different
//     sources whose token hashes are close enough to be one moment of one
//     footage (sourceCandidates), keyed by the pair's smaller key.
//  2. The candidates of an item (sent to both ends) meet its print
//     (sourcePrintOf): a pair found in several buckets is sent on once,
//     with every token it was found by, keyed by the pair (sourceHalf).
//  3. There the pair's two prints meet and are compared (sourcePairEdges),
//     giving the same Edge records as keyframe buckets.

// maxSourceAnchors caps the token hashes a member carries; a print holding
// more (a still scene repeats one hash) is compared whatever its anchors.
const maxSourceAnchors = 4

// sourceAnchorSlack: the hashes of two prints holding a bucket's token are,
// in a copy, the same moment, so within the source threshold of each other
// plus this slack (the threshold holds the prints' mean, not each pair).
// Unrelated hashes that share the token's 20 bits differ in about 22 of
// the other 44: with the default threshold (8) one unrelated pair in 400
// is within 16 bits.
const sourceAnchorSlack = 8

// sourceMember is what a source bucket holds of an item.
type sourceMember struct {
	Token uint64 // the bucket's
	Key   string
	// Source names the item's source (a hash of its id): two windows of
	// one source never match by print.
	Source  uint64
	Anchors []uint64 // the distinct print hashes holding the bucket's token, in print order
	More    bool     // the print holds more than maxSourceAnchors such hashes
}

// sourceCand is a candidate pair found in the bucket of Token: the item it
// is keyed by and Other.
type sourceCand struct {
	Other string
	Token uint64
}

// sourcePrintRec is an item's print, packed 8 bytes a hash, with its rank.
type sourcePrintRec struct {
	Key   string
	Rank  string
	Print []byte
	StepS float64
}

// sourceHalf is one end of a candidate pair, keyed by the pair: its print
// and the tokens of every bucket the pair was found in.
type sourceHalf struct {
	From   sourcePrintRec
	Tokens []uint64
}

// sourceMembers is an item's source buckets and what each holds of it;
// none when the item has no print or its rank names no source.
func sourceMembers(it schemas.DedupItem) (tokens []uint64, members []sourceMember) {
	_, src := SourceRank(it.Rank)
	if src == "" || len(it.SourcePrint) == 0 || it.SourceStepS <= 0 {
		return nil, nil
	}
	h := fnv.New64a()
	h.Write([]byte(src))
	srcHash := h.Sum64()
	tokens = SourceKeys(it.SourcePrint)
	members = make([]sourceMember, len(tokens))
	for i, t := range tokens {
		m := sourceMember{Token: t, Key: it.Key, Source: srcHash}
		for _, h := range it.SourcePrint {
			if !Informative(h) || !sourceToken(t).has(h) || containsHash(m.Anchors, h) {
				continue
			}
			if len(m.Anchors) == maxSourceAnchors {
				m.More = true
				break
			}
			m.Anchors = append(m.Anchors, h)
		}
		members[i] = m
	}
	return tokens, members
}

func containsHash(hs []uint64, h uint64) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// sourceCandidateCounts tally one bucket's pairs by what became of them.
type sourceCandidateCounts struct {
	sameSource, farAnchors, candidates, overflow int
}

// sourceShardBits: a source bucket shard (one GroupByKey key) holds the
// buckets of 1<<sourceShardBits tokens. Most buckets hold one member, and a
// key of its own costs a runner about as much as a member does.
const sourceShardBits = 6

func sourceShard(token uint64) uint64 { return token >> sourceShardBits }

// shardCandidates runs sourceCandidates on each bucket of a shard, and
// calls emit(a, b, token) for each candidate pair.
func shardCandidates(members []sourceMember, o Options, emit func(a, b string, token uint64)) (c sourceCandidateCounts) {
	sort.Slice(members, func(i, j int) bool { return members[i].Token < members[j].Token })
	for i := 0; i < len(members); {
		j := i + 1
		for j < len(members) && members[j].Token == members[i].Token {
			j++
		}
		if j-i > 1 {
			t := members[i].Token
			bc := sourceCandidates(members[i:j], o, func(a, b string) { emit(a, b, t) })
			c.sameSource += bc.sameSource
			c.farAnchors += bc.farAnchors
			c.candidates += bc.candidates
			c.overflow += bc.overflow
		}
		i = j
	}
	return c
}

// sourceCandidates calls emit(a, b), a < b, for each pair of a source
// bucket's members from different sources whose anchors are close (some
// pair within o.SourceMaxDistance+sourceAnchorSlack bits). Members are
// compared in key order and, past o.MaxBucket, against the first
// o.MaxBucket only.
func sourceCandidates(members []sourceMember, o Options, emit func(a, b string)) (c sourceCandidateCounts) {
	sort.Slice(members, func(i, j int) bool { return members[i].Key < members[j].Key })
	limit := o.SourceMaxDistance + sourceAnchorSlack
	for j := 1; j < len(members); j++ {
		lim := j
		if lim > o.MaxBucket {
			lim = o.MaxBucket
			c.overflow++
		}
		b := &members[j]
		for i := 0; i < lim; i++ {
			a := &members[i]
			if a.Key == b.Key || a.Source == b.Source {
				c.sameSource++
				continue
			}
			if !anchorsNear(a, b, limit) {
				c.farAnchors++
				continue
			}
			c.candidates++
			if a.Key < b.Key {
				emit(a.Key, b.Key)
			} else {
				emit(b.Key, a.Key)
			}
		}
	}
	return c
}

func anchorsNear(a, b *sourceMember, limit int) bool {
	if a.More || b.More {
		return true
	}
	for _, x := range a.Anchors {
		for _, y := range b.Anchors {
			if bits.OnesCount64(x^y) <= limit {
				return true
			}
		}
	}
	return false
}

// sourcePrintOf is the print record of an item that has source buckets.
func sourcePrintOf(it schemas.DedupItem) (sourcePrintRec, bool) {
	if _, src := SourceRank(it.Rank); src == "" || len(it.SourcePrint) == 0 || it.SourceStepS <= 0 {
		return sourcePrintRec{}, false
	}
	buf := make([]byte, 8*len(it.SourcePrint))
	for i, h := range it.SourcePrint {
		binary.LittleEndian.PutUint64(buf[8*i:], h)
	}
	return sourcePrintRec{Key: it.Key, Rank: it.Rank, Print: buf, StepS: it.SourceStepS}, true
}

func unpackPrint(buf []byte) []uint64 {
	out := make([]uint64, len(buf)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(buf[8*i:])
	}
	return out
}

// sourcePairEdges compares the prints of a candidate pair found in the
// buckets of tokens and, when they are the same footage, calls emit for
// the edge each way: from the better ranked (rank, then key) a plain edge,
// from the other one back. It reports whether they matched.
func sourcePairEdges(x, y *sourcePrintRec, tokens []uint64, o Options, emit func(from string, e Edge)) bool {
	if y.Rank < x.Rank || (y.Rank == x.Rank && y.Key < x.Key) {
		x, y = y, x
	}
	d := sourceMatch(x, y, tokens, o)
	if d < 0 {
		return false
	}
	emit(x.Key, Edge{To: y.Key, Distance: d, BySource: true})
	emit(y.Key, Edge{To: x.Key, Distance: d, BySource: true, Back: true})
	return true
}

// sourceMatch is SourceDistance between the prints of two clips of
// different sources when within o.SourceMaxDistance, else -1. The hashes
// holding a shared token are, in a copy, the same moment, so the prints
// are first compared at only the offsets those give (alignedMean, tens of
// nanoseconds) and the full offset search runs for pairs that line up
// there.
func sourceMatch(x, y *sourcePrintRec, tokens []uint64, o Options) int {
	_, srcA := SourceRank(x.Rank)
	_, srcB := SourceRank(y.Rank)
	// Windows of one source are different clips whatever its print says.
	if srcA == "" || srcA == srcB {
		return -1
	}
	a, b := unpackPrint(x.Print), unpackPrint(y.Print)
	near := false
	for _, t := range tokens {
		if sourceToken(t).aligned(a, x.StepS, b, y.StepS, float64(o.SourceMaxDistance+sourcePrefilterSlack)) {
			near = true
			break
		}
	}
	if !near {
		return -1
	}
	sd, _ := SourceDistance(a, x.StepS, b, y.StepS)
	if sd < 0 || sd > o.SourceMaxDistance {
		return -1
	}
	return sd
}

// sourceEdgesInMemory is the three steps in one process (Decide).
func sourceEdgesInMemory(items []schemas.DedupItem, o Options, emit func(from string, e Edge)) {
	buckets := map[uint64][]sourceMember{} // by token
	prints := map[string]sourcePrintRec{}
	for _, it := range items {
		toks, members := sourceMembers(it)
		if len(toks) == 0 {
			continue
		}
		prints[it.Key], _ = sourcePrintOf(it)
		for i, t := range toks {
			buckets[t] = append(buckets[t], members[i])
		}
	}
	pairs := map[[2]string][]uint64{}
	for t, m := range buckets {
		sourceCandidates(m, o, func(a, b string) {
			k := [2]string{a, b}
			pairs[k] = append(pairs[k], t)
		})
	}
	for k, toks := range pairs {
		x, y := prints[k[0]], prints[k[1]]
		sourcePairEdges(&x, &y, sortedUnique(toks), o, emit)
	}
}

func sortedUnique(v []uint64) []uint64 {
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	out := v[:0]
	for i, x := range v {
		if i == 0 || x != v[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// pairKey names a pair whichever end names it.
func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "\x00" + b
}
