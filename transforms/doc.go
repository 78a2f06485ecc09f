// Package transforms holds the reusable pieces the pipelines are built from:
// media handling (ffmpeg and ffprobe through ffmpeg-go), the footage
// generator, quality signals, captioning, deduplication, shard IO and
// generation. Each subpackage is usable on its own, inside or outside Beam.
package transforms
