package dedup

import (
	"context"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"realdpo/schemas"
	"realdpo/transforms/dofn"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Edge)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*schemas.DedupItem)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*schemas.DedupDecision)(nil)).Elem())
	dofn.DoFn3x0[context.Context, schemas.DedupItem, func(string, schemas.DedupItem)](&bucketFn{})
	dofn.DoFn4x0[context.Context, string, func(*schemas.DedupItem) bool, func(string, Edge)](&edgesFn{})
	register.Function1x2[schemas.DedupItem, string, string](initialLabel)
	register.Function4x0[string, func(*string) bool, func(*Edge) bool, func(string, string)](spreadLabel)
	register.Function2x1[string, string, string](minLabel)
	dofn.DoFn5x0[context.Context, string, func(*string) bool, func(*Edge) bool, func(schemas.DedupDecision)](&decideFn{})
	register.Emitter2[string, schemas.DedupItem]()
	register.Emitter2[string, Edge]()
	register.Emitter2[string, string]()
	register.Emitter1[schemas.DedupDecision]()
	register.Iter1[schemas.DedupItem]()
	register.Iter1[Edge]()
	register.Iter1[string]()
}

const counterNS = "dedup"

// Dedup finds near-duplicates among items (a PCollection of
// schemas.DedupItem, keys unique) and returns one schemas.DedupDecision
// per item: kept, or the key and id of the copy kept in its place.
//
// Items are bucketed by the bands of their keyframe hashes (and their clip
// id) with a GroupByKey, so no worker ever holds more than one bucket;
// each bucket's pairs within MaxDistance become edges; then Rounds rounds
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
	labels := beam.ParDo(s, initialLabel, items)
	for r := 0; r < o.Rounds; r++ {
		rs := s.Scope(fmt.Sprintf("round%d", r))
		spread := beam.ParDo(rs, spreadLabel, beam.CoGroupByKey(rs, labels, edges))
		labels = beam.CombinePerKey(rs, minLabel, spread)
	}
	return beam.ParDo(s, &decideFn{}, beam.CoGroupByKey(s, labels, edges)), nil
}

type bucketFn struct {
	Opts Options
}

func (fn *bucketFn) ProcessElement(ctx context.Context, it schemas.DedupItem, emit func(string, schemas.DedupItem)) {
	keys := Keys(it, fn.Opts)
	if len(keys) == 1 {
		beam.NewCounter(counterNS, "uninformative_fingerprints").Inc(ctx, 1)
	}
	for _, k := range keys {
		emit(k, BucketItem(it, k))
	}
}

type edgesFn struct {
	Opts Options
}

func (fn *edgesFn) ProcessElement(ctx context.Context, key string, it func(*schemas.DedupItem) bool, emit func(string, Edge)) {
	var members []schemas.DedupItem
	var m schemas.DedupItem
	for it(&m) {
		members = append(members, m)
		m = schemas.DedupItem{}
	}
	if len(members) < 2 {
		return
	}
	n := 0
	if over := bucketEdges(members, fn.Opts, key, func(from string, e Edge) { n++; emit(from, e) }); over > 0 {
		beam.NewCounter(counterNS, "bucket_overflow_members").Inc(ctx, int64(over))
	}
	beam.NewCounter(counterNS, "edges").Inc(ctx, int64(n/2))
}

func initialLabel(it schemas.DedupItem) (string, string) { return it.Key, label(it) }

// spreadLabel sends a node's label to itself and to each neighbour.
func spreadLabel(key string, labels func(*string) bool, edges func(*Edge) bool, emit func(string, string)) {
	best := ""
	var l string
	for labels(&l) {
		if best == "" || l < best {
			best = l
		}
	}
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

func minLabel(a, b string) string {
	if a < b {
		return a
	}
	return b
}

type decideFn struct{}

func (fn *decideFn) ProcessElement(ctx context.Context, key string, labels func(*string) bool, edges func(*Edge) bool, emit func(schemas.DedupDecision)) {
	best := ""
	var l string
	for labels(&l) {
		if best == "" || l < best {
			best = l
		}
	}
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
