package shards

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// PlanItem is one pair to place: its key and its size in the tar.
type PlanItem struct {
	Key   string
	Bytes int64
}

// Plan places pairs in shards.
type Plan struct {
	Shards int
	// Order lists the keys in write order (shard by shard); Shard[i] is the
	// shard of Order[i].
	Order []string
	Shard []int
}

// OrderKey is the position of a key in the global pair order: a hash, so
// shards mix categories and sources (training reads shards in order) and a
// pair's place never depends on the other keys' spelling.
func OrderKey(key string) string {
	s := sha256.Sum256([]byte("realdpo-pairs\x00" + key))
	return hex.EncodeToString(s[:])
}

// ShardCount chooses how many shards n pairs of total bytes take: about
// total/target, rounded up to a multiple of workers (so every loader worker
// gets the same number of shards), but never more shards than pairs. When
// there are fewer pairs than workers no multiple fits; then every pair gets
// a shard of its own (fewer shards than workers, said in the index).
func ShardCount(n int, total, target int64, workers int) int {
	if n == 0 {
		return 0
	}
	if workers < 1 {
		workers = 1
	}
	if target < 1 {
		target = 1
	}
	s := int((total + target - 1) / target)
	if s < 1 {
		s = 1
	}
	if n < workers {
		return min(s, n)
	}
	s = (s + workers - 1) / workers * workers
	if s > n {
		s = n / workers * workers
	}
	return s
}

// MakePlan orders items by OrderKey and cuts the order into ShardCount
// contiguous runs of equal count (differing by at most one), so shard sizes
// track the target as closely as the pair sizes allow. The result depends
// only on the set of items.
func MakePlan(items []PlanItem, target int64, workers int) Plan {
	type ok struct {
		order, key string
		bytes      int64
	}
	xs := make([]ok, len(items))
	var total int64
	for i, it := range items {
		xs[i] = ok{OrderKey(it.Key), it.Key, it.Bytes}
		total += it.Bytes
	}
	sort.Slice(xs, func(i, j int) bool {
		if xs[i].order != xs[j].order {
			return xs[i].order < xs[j].order
		}
		return xs[i].key < xs[j].key
	})
	n := ShardCount(len(xs), total, target, workers)
	p := Plan{Shards: n, Order: make([]string, len(xs)), Shard: make([]int, len(xs))}
	for i, x := range xs {
		p.Order[i] = x.key
		p.Shard[i] = i * n / len(xs)
	}
	return p
}
