package dedup

import (
	"context"
	"fmt"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"realdpo/schemas"
	"realdpo/transforms/dofn"
)

func init() {
	beam.RegisterType(reflect.TypeFor[schemas.DedupItem]())
	dofn.Element[schemas.DedupDecision]()
	dofn.Keyed[string, bandMember]()
	dofn.Keyed[uint64, sourceMember]()
	dofn.Keyed[string, sourceCand]()
	dofn.Keyed[string, sourcePrintRec]()
	dofn.Keyed[string, sourceHalf]()
	dofn.Keyed[string, Edge]()
	dofn.Keyed[string, string]()
	dofn.DoFn3x0[context.Context, schemas.DedupItem, func(string, bandMember)](&bucketFn{})
	dofn.DoFn4x0[context.Context, string, func(*bandMember) bool, func(string, Edge)](&edgesFn{})
	register.Function2x0[schemas.DedupItem, func(uint64, sourceMember)](sourceBuckets)
	dofn.DoFn4x0[context.Context, uint64, func(*sourceMember) bool, func(string, sourceCand)](&sourceCandidatesFn{})
	register.Function2x0[schemas.DedupItem, func(string, sourcePrintRec)](keyedSourcePrint)
	dofn.DoFn5x0[context.Context, string, func(*sourcePrintRec) bool, func(*sourceCand) bool, func(string, sourceHalf)](&sourceHalvesFn{})
	dofn.DoFn4x0[context.Context, string, func(*sourceHalf) bool, func(string, Edge)](&sourcePairsFn{})
	register.Function1x2[schemas.DedupItem, string, string](initialLabel)
	register.Function4x0[string, func(*string) bool, func(*Edge) bool, func(string, string)](spreadLabel)
	register.Function2x1[string, string, string](minLabel)
	dofn.DoFn5x0[context.Context, string, func(*string) bool, func(*Edge) bool, func(schemas.DedupDecision)](&decideFn{})
	dofn.DoFn7x0[context.Context, string, func(*string) bool, func(*Edge) bool, func(schemas.DedupDecision), func(string, string),
		func(string, Edge)](&firstRoundFn{})
}

const counterNS = "dedup"

// Dedup finds near-duplicates among items (a PCollection of
// schemas.DedupItem, keys unique) and returns one schemas.DedupDecision
// per item: kept, or the key and id of the copy kept in its place.
//
// Items are bucketed by the bands of their keyframe hashes (and their clip
// id) with a GroupByKey, so no worker ever holds more than one bucket;
// each bucket's pairs within MaxDistance become edges. Clips of different
// sources whose source prints match become edges too (sourceEdges: source
// buckets find candidate pairs without the prints, which then meet the
// pairs by key, once an item). Then Rounds rounds
// of label propagation give every item the best-ranked item it is
// connected to, and the item that is its own label is kept. Every step is
// a pure function of the data, so the outcome does not depend on how
// elements were split across workers or bundles.
func Dedup(s beam.Scope, o Options, items beam.PCollection) (beam.PCollection, error) {
	s = s.Scope("dedup.Dedup")
	if err := o.Validate(); err != nil {
		return beam.PCollection{}, err
	}
	buckets := beam.GroupByKey(s, beam.ParDo(s, &bucketFn{Opts: o}, items))
	edges := beam.ParDo(s, &edgesFn{Opts: o}, buckets)
	if o.SourceMaxDistance >= 0 {
		edges = beam.Flatten(s, edges, sourceEdges(s, o, items))
	}
	// The first round meets every item; an item with no edge is decided
	// there (kept), and the later rounds carry only the items with edges,
	// each edge once (a pair in several buckets gives several).
	rs := s.Scope("round0")
	outs := beam.ParDoN(rs, &firstRoundFn{}, beam.CoGroupByKey(rs, beam.ParDo(s, initialLabel, items), edges))
	alone, spread, graph := outs[0], outs[1], outs[2]
	labels := beam.CombinePerKey(rs, minLabel, spread)
	for r := 1; r < o.Rounds; r++ {
		rs := s.Scope(fmt.Sprintf("round%d", r))
		spread := beam.ParDo(rs, spreadLabel, beam.CoGroupByKey(rs, labels, graph))
		labels = beam.CombinePerKey(rs, minLabel, spread)
	}
	return beam.Flatten(s, alone, beam.ParDo(s, &decideFn{}, beam.CoGroupByKey(s, labels, graph))), nil
}

type bucketFn struct {
	Opts Options
}

func (fn *bucketFn) ProcessElement(ctx context.Context, it schemas.DedupItem, emit func(string, bandMember)) {
	keys := BandKeys(it, fn.Opts.Bands)
	if len(keys) == 1 {
		beam.NewCounter(counterNS, "uninformative_fingerprints").Inc(ctx, 1)
	}
	b := bandMemberOf(it)
	for _, k := range keys {
		emit(k, b)
	}
}

type edgesFn struct {
	Opts Options
}

func (fn *edgesFn) ProcessElement(ctx context.Context, key string, it func(*bandMember) bool, emit func(string, Edge)) {
	var members []schemas.DedupItem
	var m bandMember
	for it(&m) {
		members = append(members, m.item())
		m = bandMember{}
	}
	if len(members) < 2 {
		return
	}
	n := 0
	if over := bucketEdges(members, fn.Opts, func(from string, e Edge) { n++; emit(from, e) }); over > 0 {
		beam.NewCounter(counterNS, "bucket_overflow_members").Inc(ctx, int64(over))
	}
	beam.NewCounter(counterNS, "edges").Inc(ctx, int64(n/2))
}

// sourceEdges are the edges between clips of different sources whose
// prints match (see sourcepairs.go): source buckets, keyed by a shard of
// sketch tokens, hold members without prints and emit candidate pairs to
// both ends; there each meets the end's print (sourceHalvesFn, which also
// sends a pair found in several buckets on once), and the two ends meet by
// the pair (sourcePairsFn).
func sourceEdges(s beam.Scope, o Options, items beam.PCollection) beam.PCollection {
	s = s.Scope("sources")
	cands := beam.ParDo(s, &sourceCandidatesFn{Opts: o}, beam.GroupByKey(s, beam.ParDo(s, sourceBuckets, items)))
	halves := beam.ParDo(s, &sourceHalvesFn{}, beam.CoGroupByKey(s, beam.ParDo(s, keyedSourcePrint, items), cands))
	return beam.ParDo(s, &sourcePairsFn{Opts: o}, beam.GroupByKey(s, halves))
}

func sourceBuckets(it schemas.DedupItem, emit func(uint64, sourceMember)) {
	toks, members := sourceMembers(it)
	for i, t := range toks {
		emit(sourceShard(t), members[i])
	}
}

func keyedSourcePrint(it schemas.DedupItem, emit func(string, sourcePrintRec)) {
	if p, ok := sourcePrintOf(it); ok {
		emit(p.Key, p)
	}
}

type sourceCandidatesFn struct {
	Opts Options
}

func (fn *sourceCandidatesFn) ProcessElement(ctx context.Context, _ uint64, it func(*sourceMember) bool, emit func(string, sourceCand)) {
	var members []sourceMember
	var m sourceMember
	for it(&m) {
		members = append(members, m)
		m = sourceMember{}
	}
	if len(members) < 2 {
		return
	}
	c := shardCandidates(members, fn.Opts, func(a, b string, token uint64) {
		emit(a, sourceCand{Other: b, Token: token})
		emit(b, sourceCand{Other: a, Token: token})
	})
	inc(ctx, "source_pairs_same_source", c.sameSource)
	inc(ctx, "source_pairs_far_anchors", c.farAnchors)
	inc(ctx, "source_candidate_pairs", c.candidates)
	inc(ctx, "bucket_overflow_members", c.overflow)
}

// sourceHalvesFn sends each candidate pair of an item on, keyed by the
// pair, with this item's print, once whatever the buckets it was found in
// (all of them named).
type sourceHalvesFn struct{}

func (fn *sourceHalvesFn) ProcessElement(ctx context.Context, key string, prints func(*sourcePrintRec) bool, cands func(*sourceCand) bool,
	emit func(string, sourceHalf)) {
	var p sourcePrintRec
	if !prints(&p) {
		return // a candidate without its item's print: cannot happen, nothing to compare
	}
	tokens := map[string][]uint64{}
	var c sourceCand
	for cands(&c) {
		tokens[c.Other] = append(tokens[c.Other], c.Token)
	}
	others := make([]string, 0, len(tokens))
	for o := range tokens {
		others = append(others, o)
	}
	sort.Strings(others)
	for _, o := range others {
		emit(pairKey(key, o), sourceHalf{From: p, Tokens: sortedUnique(tokens[o])})
	}
}

// sourcePairsFn compares the prints of the two ends of a candidate pair
// and emits the edges of those that match.
type sourcePairsFn struct {
	Opts Options
}

func (fn *sourcePairsFn) ProcessElement(ctx context.Context, _ string, halves func(*sourceHalf) bool, emit func(string, Edge)) {
	var h [2]sourceHalf
	n := 0
	for n < 2 && halves(&h[n]) {
		n++
	}
	if n < 2 {
		return // one end's print is missing: cannot happen, nothing to compare
	}
	if sourcePairEdges(&h[0].From, &h[1].From, h[0].Tokens, fn.Opts, emit) {
		inc(ctx, "source_edges", 1)
	} else {
		inc(ctx, "source_pairs_unmatched", 1)
	}
}

// inc adds n to a counter when there is something to add.
func inc(ctx context.Context, name string, n int) {
	if n > 0 {
		beam.NewCounter(counterNS, name).Inc(ctx, int64(n))
	}
}

// smallestLabel is the smallest of the labels an item received ("" when
// none): the best-ranked item it is connected to so far.
func smallestLabel(labels func(*string) bool) string {
	best := ""
	var l string
	for labels(&l) {
		if best == "" || l < best {
			best = l
		}
	}
	return best
}

func initialLabel(it schemas.DedupItem) (string, string) { return it.Key, label(it) }

// spreadLabel sends a node's label to itself and to each neighbour.
func spreadLabel(key string, labels func(*string) bool, edges func(*Edge) bool, emit func(string, string)) {
	best := smallestLabel(labels)
	if best == "" {
		return // an edge to a key that is not an item: cannot happen, nothing to spread
	}
	emit(key, best)
	var e Edge
	for edges(&e) {
		if !e.Back {
			emit(e.To, best)
		}
	}
}

// firstRoundFn is spreadLabel's first round over every item: an item
// with no edge keeps its own label whatever the rounds, so it is decided
// (kept) here; an item with edges spreads its label and passes its edges
// on, one to each neighbour (the best of a pair's duplicates for decision,
// Back only when every duplicate is), to the later rounds.
type firstRoundFn struct{}

func (fn *firstRoundFn) ProcessElement(ctx context.Context, key string, labels func(*string) bool, edges func(*Edge) bool,
	decide func(schemas.DedupDecision), spread func(string, string), graph func(string, Edge)) {
	best := smallestLabel(labels)
	if best == "" {
		return // an edge to a key that is not an item: cannot happen, nothing to spread
	}
	byTo := map[string]Edge{}
	var e Edge
	for edges(&e) {
		if d, ok := byTo[e.To]; ok {
			back := d.Back && e.Back
			if betterEdge(e, d) {
				d = e
			}
			d.Back = back
			byTo[e.To] = d
		} else {
			byTo[e.To] = e
		}
		e = Edge{}
	}
	if len(byTo) == 0 {
		beam.NewCounter(counterNS, "kept").Inc(ctx, 1)
		decide(decision(key, best, nil))
		return
	}
	spread(key, best)
	tos := make([]string, 0, len(byTo))
	for to := range byTo {
		tos = append(tos, to)
	}
	sort.Strings(tos)
	for _, to := range tos {
		e := byTo[to]
		if !e.Back {
			spread(to, best)
		}
		graph(key, e)
	}
}

func minLabel(a, b string) string {
	if a < b {
		return a
	}
	return b
}

type decideFn struct{}

func (fn *decideFn) ProcessElement(ctx context.Context, key string, labels func(*string) bool, edges func(*Edge) bool, emit func(schemas.DedupDecision)) {
	best := smallestLabel(labels)
	if best == "" {
		return
	}
	var es []Edge
	var e Edge
	for edges(&e) {
		es = append(es, e)
	}
	d := decision(key, best, es)
	if d.Keep {
		beam.NewCounter(counterNS, "kept").Inc(ctx, 1)
	} else {
		beam.NewCounter(counterNS, "duplicates").Inc(ctx, 1)
	}
	emit(d)
}
