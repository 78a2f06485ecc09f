// Package synth renders labelled raw "footage" of people doing everyday
// actions: articulated 2-D figures driven by physically plausible kinematics
// (planted feet, inverted-pendulum walking, ballistic flight under gravity,
// minimum-jerk reaching), placed in varied scenes under a moving camera,
// encoded through ffmpeg, with defects injected on purpose and every fact
// recorded in ground_truth.jsonl. It is the project's embedded default input:
// curation is scored against it and the demo needs nothing from outside.
//
// Frames are rendered one at a time into a reused buffer and streamed to
// ffmpeg, so memory stays flat whatever the length. Everything is seeded: the
// same seed gives byte-identical frames and the same ground truth.
package synth
