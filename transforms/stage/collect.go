package stage

// Collect drains a Beam iterator (a CoGroupByKey or GroupByKey side) into a
// slice. Each element is decoded into a fresh value, so no field of one
// element leaks into the next.
func Collect[T any](next func(*T) bool) []T {
	var out []T
	for {
		var v T
		if !next(&v) {
			return out
		}
		out = append(out, v)
	}
}
