// Package pipelines holds the Beam pipeline graphs, one subpackage per
// stage (curate, refresh, negatives, pairs, train, eval, experiment), and
// in pipelines/realdpo the realdpo command that launches them. A pipeline
// package holds the graph alone, with the same small API: Config (with
// DefaultConfig or NewConfig), validation, Build, Pipeline and Run; the
// DoFns and library code it wires live in transforms/.
package pipelines
