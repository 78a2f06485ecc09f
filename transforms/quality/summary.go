package quality

import (
	"math"
	"sort"
)

// DetectCuts is PySceneDetect's ContentDetector: a new shot starts at frame
// i when its HSV content change reaches threshold (default 27) and the
// current shot is at least minSceneFrames long (default 15 at 30 fps). With
// adaptiveRatio > 0 a cut must also stand out from its neighbourhood, as in
// PySceneDetect's AdaptiveDetector (ratio 3.0 over 2 frames each side): fast
// camera motion raises every frame's change, a cut raises one. Exact repeats
// (change below 0.5, from frame-rate padding) are left out of the
// neighbourhood. It returns the first frame index of every new shot.
func DetectCuts(frames []FrameStats, threshold float64, minSceneFrames int, adaptiveRatio float64) []int {
	var cuts []int
	last := 0
	for i := 1; i < len(frames); i++ {
		d := frames[i].ContentDelta
		if d < threshold || i-last < minSceneFrames {
			continue
		}
		if adaptiveRatio > 0 {
			sum, n := 0.0, 0
			for j := i - 2; j <= i+2; j++ {
				if j == i || j < 1 || j >= len(frames) || frames[j].ContentDelta < 0.5 {
					continue
				}
				sum += frames[j].ContentDelta
				n++
			}
			if n > 0 && d < adaptiveRatio*sum/float64(n) {
				continue
			}
		}
		cuts = append(cuts, i)
		last = i
	}
	return cuts
}

// Summary aggregates the frames of one window. Units as in FrameStats.
type Summary struct {
	Frames          int
	LumaMean        float64
	LumaStd         float64
	DarkFrac        float64
	BrightFrac      float64
	Sharpness       float64
	SharpnessP10    float64
	SharpnessRel    float64 // Laplacian variance over luma variance: sharpness independent of contrast
	FrameDiff       float64
	Subject         float64
	MovingFrac      float64
	ResidualDiff    float64
	ChangedFrac     float64
	CameraMotion    float64
	CameraZoom      float64
	CameraShake     float64
	MaxContentDelta float64
	Overlay         float64
	OverlayMean     float64
}

// Summarize aggregates frames [from, to). Motion pairs count only when both
// compared frames lie inside the window, so a cut just before it cannot leak in.
func (a *Analyzer) Summarize(from, to int) Summary {
	from = max(from, 0)
	to = min(to, len(a.Frames))
	var s Summary
	if to <= from {
		return s
	}
	s.Frames = to - from
	sharp := make([]float64, 0, to-from)
	nm, ns := 0, 0
	for i := from; i < to; i++ {
		f := a.Frames[i]
		s.LumaMean += f.LumaMean
		s.LumaStd += f.LumaStd
		s.DarkFrac += f.DarkFrac
		s.BrightFrac += f.BrightFrac
		s.Sharpness += f.Sharpness
		s.SharpnessRel += f.Sharpness / math.Max(f.LumaStd*f.LumaStd, 1)
		sharp = append(sharp, f.Sharpness)
		if i > from {
			s.MaxContentDelta = math.Max(s.MaxContentDelta, f.ContentDelta)
		}
		if f.HasMotion && i-a.stride >= from {
			nm++
			s.FrameDiff += f.FrameDiff
			s.Subject += f.Subject
			s.MovingFrac += f.MovingFrac
			s.ResidualDiff += f.ResidualDiff
			s.ChangedFrac += f.ChangedFrac
			s.CameraMotion += math.Hypot(f.CameraDX, f.CameraDY)
			s.CameraZoom += math.Abs(f.CameraZoom)
			if j := i - a.stride; j-a.stride >= from && a.Frames[j].HasMotion {
				p := a.Frames[j]
				s.CameraShake += math.Hypot(f.CameraDX-p.CameraDX, f.CameraDY-p.CameraDY)
				ns++
			}
		}
	}
	n := float64(s.Frames)
	s.LumaMean /= n
	s.LumaStd /= n
	s.DarkFrac /= n
	s.BrightFrac /= n
	s.Sharpness /= n
	s.SharpnessRel /= n
	sort.Float64s(sharp)
	s.SharpnessP10 = sharp[len(sharp)/10]
	if nm > 0 {
		k := float64(nm)
		s.FrameDiff /= k
		s.Subject /= k
		s.MovingFrac /= k
		s.ResidualDiff /= k
		s.ChangedFrac /= k
		s.CameraMotion /= k
		s.CameraZoom /= k
	}
	if ns > 0 {
		s.CameraShake /= float64(ns)
	}
	s.Overlay, s.OverlayMean = a.OverlayScore(from, to)
	return s
}
