package stage

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"

	"realdpo/schemas"
	"realdpo/transforms/quality"
)

// The keyframe screen decides, before the full analysis decode, the sources
// that cannot give any clip for their exposure: every keyframe far past an
// exposure threshold, the same way. It decodes the keyframes alone (a small
// share of the decode) and says nothing, leaving the source to the full
// analysis, whenever it cannot be sure: keyframes too far apart to stand
// for the frames between them, a scene change between two keyframes (its
// shots could be too short for a clip, a too_short reject), a source
// shorter than a clip, a decode with any complaint, or a keyframe near a
// threshold.

// screenStepS samples the keyframe-only decode: each sample is the last
// keyframe at or before its time, so runs of identical samples measure
// how long each keyframe stands for (to this step; two keyframes closer
// than it show as one, a moment apart).
const screenStepS = 0.5

// screenMargin is how far past an exposure threshold every keyframe must
// be, as a share of the room beyond it (the threshold to the end of the
// scale): a window's figures are means over its frames, all of which the
// keyframes must stand for.
const screenMargin = 0.25

// KeyframeScreen is what the screen saw of a source.
type KeyframeScreen struct {
	Keyframes int     // distinct keyframes decoded
	MaxGapS   float64 // the longest stretch one keyframe stood for
	// Scores are the keyframes' exposure figures, averaged (the rest
	// zero: nothing else is measured on keyframes).
	Scores schemas.ClipScores
	// Undecided says why the screen left the source to the full analysis
	// ("" when it rejected it): off, short, decode, scene_change,
	// sparse_keyframes or exposure (some keyframe is not hopeless).
	Undecided string
}

// ScreenKeyframes screens the source at local (see above). It returns a
// filter/exposure rejection when every keyframe is hopeless the same way,
// and otherwise nil with the reason it could not decide; an error only
// when the screen could not run at all (the full analysis judges the file).
func ScreenKeyframes(ctx context.Context, local string, info schemas.SourceInfo, p schemas.Profile, th schemas.Thresholds) (*Rejection, KeyframeScreen, error) {
	var ks KeyframeScreen
	if th.ScreenMaxKeyframeGapS <= 0 {
		ks.Undecided = "off"
		return nil, ks, nil
	}
	// Shorter than a clip plus the trims: too_short, the full analysis's
	// reason, not exposure.
	if info.DurationS < p.DurationS()+2*th.TrimS {
		ks.Undecided = "short"
		return nil, ks, nil
	}
	w, h := quality.AnalysisSize(info.Width, info.Height, th.AnalysisWidth)
	maxFrames := 0
	if th.MaxDurationS > 0 {
		maxFrames = int(math.Ceil(th.MaxDurationS/screenStepS)) + 1
	}
	var sums []uint64
	res, err := quality.AnalyzeFile(ctx, local, quality.FileOptions{Width: w, Height: h, FPS: 1 / screenStepS, MaxFrames: maxFrames,
		Threads: th.FFmpegThreads, Timeout: th.DecodeTimeout, KeyframesOnly: true,
		Visit: func(_ int, rgb []byte) error {
			f := fnv.New64a()
			f.Write(rgb)
			sums = append(sums, f.Sum64())
			return nil
		}})
	if err != nil {
		return nil, ks, fmt.Errorf("keyframe screen: %w", err)
	}
	if res.DecodeErr != nil || res.WarningCount() > 0 || len(res.Frames) == 0 {
		ks.Undecided = "decode"
		return nil, ks, nil
	}
	// Runs of identical samples are one keyframe; the last (passed once at
	// the end of the decode) stands for the rest of the source too.
	var keys []quality.FrameStats
	run := 0
	for i := range sums {
		if i > 0 && sums[i] == sums[i-1] {
			run++
			continue
		}
		if i > 0 {
			ks.MaxGapS = max(ks.MaxGapS, float64(run)*screenStepS)
			if res.Frames[i].ContentDelta >= th.CutThreshold {
				ks.Undecided = "scene_change"
			}
		}
		keys = append(keys, res.Frames[i])
		run = 1
	}
	tail := max(0, info.DurationS-float64(len(sums))*screenStepS)
	ks.MaxGapS = max(ks.MaxGapS, float64(run)*screenStepS+tail)
	ks.Keyframes = len(keys)
	for _, f := range keys {
		ks.Scores.LumaMean += f.LumaMean / float64(len(keys))
		ks.Scores.LumaStd += f.LumaStd / float64(len(keys))
		ks.Scores.DarkFrac += f.DarkFrac / float64(len(keys))
		ks.Scores.BrightFrac += f.BrightFrac / float64(len(keys))
	}
	ks.Scores.AnalysedFrames = len(keys)
	ks.Scores = roundScores(ks.Scores)
	switch {
	case ks.Undecided != "":
		return nil, ks, nil
	case ks.MaxGapS > th.ScreenMaxKeyframeGapS:
		ks.Undecided = "sparse_keyframes"
		return nil, ks, nil
	}
	kind, detail := hopelessExposure(keys[0], th)
	for _, f := range keys[1:] {
		if k, d := hopelessExposure(f, th); k != kind || kind == "" {
			kind = ""
			break
		} else if worse(d, detail) {
			detail = d
		}
	}
	if kind == "" {
		ks.Undecided = "exposure"
		return nil, ks, nil
	}
	return Reject(schemas.StageFilter, schemas.ReasonExposure, "every keyframe (%d, at most %.2f s apart) %s (decided on keyframes, before the full decode)",
		ks.Keyframes, ks.MaxGapS, detail.text), ks, nil
}

// exposureDetail is how far a keyframe is past a threshold, and its words.
type exposureDetail struct {
	past float64 // share of the room beyond the threshold
	text string
}

// worse keeps the detail of the keyframe nearest the threshold: the
// weakest evidence is what the rejection stands on.
func worse(d, than exposureDetail) bool { return d.past < than.past }

// hopelessExposure is the exposure check a keyframe fails with
// screenMargin to spare (the first, in the filter's order), or "".
func hopelessExposure(f quality.FrameStats, th schemas.Thresholds) (string, exposureDetail) {
	past := func(v, threshold, end float64) float64 { return (v - threshold) / (end - threshold) }
	switch {
	case th.MinLuma > 0 && past(f.LumaMean, th.MinLuma, 0) >= screenMargin:
		return "dark", exposureDetail{past(f.LumaMean, th.MinLuma, 0), fmt.Sprintf("mean luma %.1f, far below %.1f (dark)", f.LumaMean, th.MinLuma)}
	case th.MaxLuma < 255 && past(f.LumaMean, th.MaxLuma, 255) >= screenMargin:
		return "washed", exposureDetail{past(f.LumaMean, th.MaxLuma, 255), fmt.Sprintf("mean luma %.1f, far above %.1f (washed out)", f.LumaMean, th.MaxLuma)}
	case th.MaxClipped < 1 && past(f.DarkFrac, th.MaxClipped, 1) >= screenMargin:
		return "crushed", exposureDetail{past(f.DarkFrac, th.MaxClipped, 1), fmt.Sprintf("%.0f%% of pixels crushed black", 100*f.DarkFrac)}
	case th.MaxClipped < 1 && past(f.BrightFrac, th.MaxClipped, 1) >= screenMargin:
		return "blown", exposureDetail{past(f.BrightFrac, th.MaxClipped, 1), fmt.Sprintf("%.0f%% of pixels blown white", 100*f.BrightFrac)}
	case th.MinContrast > 0 && past(f.LumaStd, th.MinContrast, 0) >= screenMargin:
		return "flat", exposureDetail{past(f.LumaStd, th.MinContrast, 0), fmt.Sprintf("contrast (luma std) %.1f, far below %.1f", f.LumaStd, th.MinContrast)}
	}
	return "", exposureDetail{}
}
