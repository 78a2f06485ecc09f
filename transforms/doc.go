// Package transforms holds the reusable pieces the pipelines are built from:
// fsx (every file access, local and gs://), dataset and shards (the owners
// of the curated dataset and the pair set on disk), the stages' DoFns and
// plain functions (stage and curation, generate, pairing, training,
// evaluate), media handling (ffmpeg and ffprobe through ffmpeg-go), the
// footage generator, quality signals, captioning, deduplication and the
// reference layout. Each subpackage is usable on its own, inside or outside
// Beam.
package transforms
