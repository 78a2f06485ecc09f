package stage

import (
	"context"
	"errors"
	"math"

	"realdpo/schemas"
	"realdpo/transforms/dedup"
	"realdpo/transforms/media"
	"realdpo/transforms/quality"
)

// AnalysisFPS is the rate a source is analysed at: its own rate up to the
// cap, so cut detection sees every frame of ordinary footage.
func AnalysisFPS(srcFPS float64, th schemas.Thresholds) float64 {
	f := srcFPS
	if th.AnalysisMaxFPS > 0 && f > th.AnalysisMaxFPS {
		f = th.AnalysisMaxFPS
	}
	// Three decimals keep NTSC rates (29.97) exact enough and the filter string short.
	return math.Round(f*1000) / 1000
}

// SkipNonRef says whether the analysis decode skips non-reference frames:
// when the thresholds allow it, for H.264 and HEVC (whose encoders reference every other frame
// or more often) sampled down to at most half their rate, where it saves
// 40% of the decode (a 1080p30 x264 file: 3.4 -> 2.0 CPU-s) and every
// analysis frame is still a frame of its own time.
func SkipNonRef(info schemas.SourceInfo, afps float64, th schemas.Thresholds) bool {
	return th.AnalysisSkipNonRef && (info.Codec == "h264" || info.Codec == "hevc") && afps > 0 && info.FPS >= 2*afps
}

// Analysis is a whole source analysed and cut into shots.
type Analysis struct {
	Res  *quality.FileResult
	FPS  float64
	Cuts []int // analysis frame index of the first frame of each new shot
	// SourcePrint is the difference hash of the analysis frame every
	// SourcePrintStepS seconds from the start (dedup.SourceDistance).
	SourcePrint      []uint64
	SourcePrintStepS float64
}

// sourcePrinter hashes the analysis frames a source print samples.
type sourcePrinter struct {
	w, h   int
	fps    float64
	step   float64
	hashes []uint64
}

func (sp *sourcePrinter) visit(i int, rgb []byte) error {
	k := len(sp.hashes)
	if k >= dedup.SourcePrintMaxHashes || i != int(math.Round(float64(k)*sp.step*sp.fps)) {
		return nil
	}
	h, err := dedup.HashRGB(rgb, sp.w, sp.h)
	if err != nil {
		return err
	}
	sp.hashes = append(sp.hashes, h)
	return nil
}

// AnalyseSource streams the source once through the frame analyser and the
// cut detector. Truncation is judged here: a decode that fails part-way, or
// ends well short of the probed duration with ffmpeg complaining, is a
// truncated file.
func AnalyseSource(ctx context.Context, local string, info schemas.SourceInfo, th schemas.Thresholds) (*Analysis, *Rejection) {
	afps := AnalysisFPS(info.FPS, th)
	w, h := quality.AnalysisSize(info.Width, info.Height, th.AnalysisWidth)
	// Never decode more than the duration limit allows, whatever the header said.
	maxFrames := 0
	if th.MaxDurationS > 0 {
		maxFrames = int(math.Ceil(th.MaxDurationS*afps)) + 1
	}
	// At least a frame a step, so every sample is a frame of its own.
	sp := &sourcePrinter{w: w, h: h, fps: afps, step: max(dedup.SourcePrintStep(info.DurationS), math.Ceil(1000/afps)/1000)}
	res, err := quality.AnalyzeFile(ctx, local, quality.FileOptions{Width: w, Height: h, FPS: afps, MaxFrames: maxFrames,
		Threads: th.FFmpegThreads, Timeout: th.DecodeTimeout, Visit: sp.visit, SkipNonRef: SkipNonRef(info, afps, th)})
	if err != nil {
		if errors.Is(err, media.ErrTimeout) {
			return nil, Reject(schemas.StageAnalyse, schemas.ReasonTimeout, "decode ran past %v", th.DecodeTimeout)
		}
		return nil, Reject(schemas.StageAnalyse, schemas.ReasonNotVideo, "%s", ShortErr(err))
	}
	n := len(res.Frames)
	expected := info.DurationS * afps
	switch {
	case n == 0 && res.DecodeErr != nil:
		return nil, Reject(schemas.StageAnalyse, schemas.ReasonTruncated, "no frame decodes: %s", ShortErr(res.DecodeErr))
	case n == 0:
		return nil, Reject(schemas.StageAnalyse, schemas.ReasonNotVideo, "no frames decoded")
	case res.DecodeErr != nil:
		return nil, Reject(schemas.StageAnalyse, schemas.ReasonTruncated, "decode failed after %d of ~%.0f frames: %s", n, expected, ShortErr(res.DecodeErr))
	case expected > 0 && float64(n) < 0.9*expected-2 && res.WarningCount() > 0:
		return nil, Reject(schemas.StageAnalyse, schemas.ReasonTruncated, "decoded %d of ~%.0f frames: %s", n, expected, firstLine(res.Warnings))
	}
	cuts := quality.DetectCuts(res.Frames, th.CutThreshold, max(1, int(math.Ceil(th.MinSceneS*afps))), th.CutAdaptiveRatio)
	return &Analysis{Res: res, FPS: afps, Cuts: cuts, SourcePrint: sp.hashes, SourcePrintStepS: sp.step}, nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
