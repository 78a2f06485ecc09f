// Package schemas holds the on-disk and wire formats every stage agrees on:
// the records written as JSON Lines (manifests, rejects, negatives, pair
// metadata, ground truth), the stats, reports and configurations recorded
// with a run, sidecars, and the records that cross a package boundary as
// Beam elements. Element types used by one package live beside its DoFns,
// and policy defaults beside the stage that applies them
// (transforms/stage).
package schemas
