package stage

import (
	"fmt"
	"math"

	"realdpo/schemas"
)

// WindowScores gathers every figure of one window into the record form.
func WindowScores(an *Analysis, w Window, shots int) schemas.ClipScores {
	s := an.Res.Summarize(w.From, w.To)
	cs := schemas.ClipScores{
		AnalysedFrames: len(an.Res.Frames),
		AnalysisFPS:    an.FPS,
		Shots:          shots,
		DecodeWarnings: an.Res.WarningCount(),
		Shot:           w.Shot,
		ShotStartS:     float64(w.ShotFrom) / an.FPS,
		ShotEndS:       float64(w.ShotTo) / an.FPS,
		WindowScore:    w.Score,

		LumaMean:     s.LumaMean,
		LumaStd:      s.LumaStd,
		DarkFrac:     s.DarkFrac,
		BrightFrac:   s.BrightFrac,
		Sharpness:    s.Sharpness,
		SharpnessP10: s.SharpnessP10,
		SharpnessRel: s.SharpnessRel,

		FrameDiff:     s.FrameDiff,
		SubjectMotion: s.Subject,
		MovingFrac:    s.MovingFrac,
		ResidualDiff:  s.ResidualDiff,
		ChangedFrac:   s.ChangedFrac,
		CameraMotion:  s.CameraMotion,
		CameraZoom:    s.CameraZoom,
		CameraShake:   s.CameraShake,
		CameraRatio:   s.CameraMotion / math.Max(s.Subject, 0.05),

		MaxContentDelta: s.MaxContentDelta,
		Overlay:         s.Overlay,
		OverlayMean:     s.OverlayMean,
	}
	return roundScores(cs)
}

// check is one analysis filter. They all read figures from the same single
// analysis pass, so cost does not order them; evidence does: exposure first
// (nothing can be measured in the dark or in a white-out), then blur (it
// hides texture and so motion), then motion (static, chaotic, camera), then
// overlay.
type check struct {
	reason string
	fail   func(s schemas.ClipScores, th schemas.Thresholds) (bool, string)
}

var checks = []check{
	{schemas.ReasonExposure, func(s schemas.ClipScores, th schemas.Thresholds) (bool, string) {
		switch {
		case s.LumaMean < th.MinLuma:
			return true, fmt.Sprintf("mean luma %.1f < %.1f (dark)", s.LumaMean, th.MinLuma)
		case s.LumaMean > th.MaxLuma:
			return true, fmt.Sprintf("mean luma %.1f > %.1f (washed out)", s.LumaMean, th.MaxLuma)
		case s.DarkFrac > th.MaxClipped:
			return true, fmt.Sprintf("%.0f%% of pixels crushed black", 100*s.DarkFrac)
		case s.BrightFrac > th.MaxClipped:
			return true, fmt.Sprintf("%.0f%% of pixels blown white", 100*s.BrightFrac)
		case s.LumaStd < th.MinContrast:
			return true, fmt.Sprintf("contrast (luma std) %.1f < %.1f", s.LumaStd, th.MinContrast)
		}
		return false, ""
	}},
	{schemas.ReasonBlur, func(s schemas.ClipScores, th schemas.Thresholds) (bool, string) {
		if s.Sharpness < th.MinSharpness && s.SharpnessRel < th.MinSharpnessRel {
			return true, fmt.Sprintf("sharpness %.1f < %.1f and relative %.4f < %.4f", s.Sharpness, th.MinSharpness, s.SharpnessRel, th.MinSharpnessRel)
		}
		return false, ""
	}},
	{schemas.ReasonStatic, func(s schemas.ClipScores, th schemas.Thresholds) (bool, string) {
		if s.SubjectMotion < th.MinSubjectMotion && s.ChangedFrac < th.MinChangedFrac {
			return true, fmt.Sprintf("subject motion %.2f < %.2f %%W/s and changed pixels %.4f < %.4f",
				s.SubjectMotion, th.MinSubjectMotion, s.ChangedFrac, th.MinChangedFrac)
		}
		return false, ""
	}},
	{schemas.ReasonChaotic, func(s schemas.ClipScores, th schemas.Thresholds) (bool, string) {
		if s.SubjectMotion > th.MaxSubjectMotion {
			return true, fmt.Sprintf("subject motion %.1f > %.1f %%W/s", s.SubjectMotion, th.MaxSubjectMotion)
		}
		return false, ""
	}},
	{schemas.ReasonCameraMotion, func(s schemas.ClipScores, th schemas.Thresholds) (bool, string) {
		switch {
		case s.CameraMotion > th.MaxCameraMotion:
			return true, fmt.Sprintf("camera motion %.1f > %.1f %%W/s", s.CameraMotion, th.MaxCameraMotion)
		case s.CameraShake > th.MaxCameraShake:
			return true, fmt.Sprintf("camera shake %.1f > %.1f", s.CameraShake, th.MaxCameraShake)
		case s.CameraMotion > th.MinCameraForRatio && s.CameraRatio > th.MaxCameraRatio:
			return true, fmt.Sprintf("camera/subject motion %.1f > %.1f", s.CameraRatio, th.MaxCameraRatio)
		}
		return false, ""
	}},
	{schemas.ReasonOverlay, func(s schemas.ClipScores, th schemas.Thresholds) (bool, string) {
		if s.Overlay > th.MaxOverlay {
			return true, fmt.Sprintf("text-like overlay on %.1f%% of the frame > %.1f%%", 100*s.Overlay, 100*th.MaxOverlay)
		}
		return false, ""
	}},
}

// FilterOrder lists every filter reason in the order they are applied.
func FilterOrder() []string {
	out := []string{schemas.ReasonOrientation, schemas.ReasonResolution, schemas.ReasonFrameRate, schemas.ReasonTooShort}
	for _, c := range checks {
		out = append(out, c.reason)
	}
	return out
}

// FilterScores runs every analysis filter (all of them, so the record says
// everything that is wrong) and returns the first failing one as the reason.
func FilterScores(s schemas.ClipScores, th schemas.Thresholds) (reason, detail string, failed []string) {
	for _, c := range checks {
		if bad, why := c.fail(s, th); bad {
			if reason == "" {
				reason, detail = c.reason, why
			}
			failed = append(failed, c.reason)
		}
	}
	return reason, detail, failed
}

// roundScores keeps records readable and byte-stable across runs.
func roundScores(s schemas.ClipScores) schemas.ClipScores {
	r := func(v float64) float64 { return math.Round(v*1e4) / 1e4 }
	s.AnalysisFPS = r(s.AnalysisFPS)
	s.ShotStartS, s.ShotEndS, s.WindowScore = r(s.ShotStartS), r(s.ShotEndS), r(s.WindowScore)
	s.LumaMean, s.LumaStd, s.DarkFrac, s.BrightFrac = r(s.LumaMean), r(s.LumaStd), r(s.DarkFrac), r(s.BrightFrac)
	s.Sharpness, s.SharpnessP10, s.SharpnessRel = r(s.Sharpness), r(s.SharpnessP10), r(s.SharpnessRel)
	s.FrameDiff, s.SubjectMotion, s.MovingFrac = r(s.FrameDiff), r(s.SubjectMotion), r(s.MovingFrac)
	s.ResidualDiff, s.ChangedFrac = r(s.ResidualDiff), r(s.ChangedFrac)
	s.CameraMotion, s.CameraZoom, s.CameraShake, s.CameraRatio = r(s.CameraMotion), r(s.CameraZoom), r(s.CameraShake), r(s.CameraRatio)
	s.MaxContentDelta, s.Overlay, s.OverlayMean = r(s.MaxContentDelta), r(s.Overlay), r(s.OverlayMean)
	return s
}
