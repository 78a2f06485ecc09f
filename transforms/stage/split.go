package stage

import (
	"math"
	"sort"

	"realdpo/schemas"
)

// Window is one candidate clip: analysis frames [From, To) inside shot Shot
// (frames [ShotFrom, ShotTo)).
type Window struct {
	Shot             int
	ShotFrom, ShotTo int
	From, To         int
	Score            float64
}

// Shot is a cut-free run of analysis frames [From, To).
type Shot struct{ From, To int }

// Shots turns cut positions into shots covering n frames.
func Shots(n int, cuts []int) []Shot {
	var out []Shot
	start := 0
	for _, c := range cuts {
		if c > start && c < n {
			out = append(out, Shot{start, c})
			start = c
		}
	}
	if start < n {
		out = append(out, Shot{start, n})
	}
	return out
}

// WindowFrames is how many analysis frames one profile clip spans.
func WindowFrames(p schemas.Profile, afps float64) int {
	// The small epsilon keeps an exactly long enough source (49 frames at 8 fps) in.
	return max(1, int(math.Ceil(p.DurationS()*afps-1e-6)))
}

// SplitWindows applies the length policy: no window crosses a cut, TrimS is
// dropped on each side of every cut (not at the file's own ends), and each
// shot long enough gives its best window(s) by WindowScore, searched on a
// WindowStepS grid so the choice is deterministic.
func SplitWindows(an *Analysis, p schemas.Profile, th schemas.Thresholds) []Window {
	frames := an.Res.Frames
	n := len(frames)
	need := WindowFrames(p, an.FPS)
	trim := int(math.Round(th.TrimS * an.FPS))
	step := max(1, int(math.Round(th.WindowStepS*an.FPS)))
	score := frameScores(an, th)
	prefix := make([]float64, n+1)
	for i, s := range score {
		prefix[i+1] = prefix[i] + s
	}
	var out []Window
	for si, sh := range Shots(n, an.Cuts) {
		a, b := sh.From, sh.To
		if a > 0 {
			a += trim
		}
		if b < n {
			b -= trim
		}
		if b-a < need {
			continue
		}
		var cands []Window
		for s := a; s+need <= b; s += step {
			cands = append(cands, Window{Shot: si, ShotFrom: sh.From, ShotTo: sh.To, From: s, To: s + need,
				Score: (prefix[s+need] - prefix[s]) / float64(need)})
		}
		// Best first; earlier on ties, so reruns pick the same window.
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].Score > cands[j].Score })
		var taken []Window
		for _, c := range cands {
			if len(taken) >= max(1, th.MaxClipsPerShot) {
				break
			}
			overlap := false
			for _, t := range taken {
				if c.From < t.To && t.From < c.To {
					overlap = true
					break
				}
			}
			if !overlap {
				taken = append(taken, c)
			}
		}
		sort.Slice(taken, func(i, j int) bool { return taken[i].From < taken[j].From })
		out = append(out, taken...)
	}
	return out
}

// frameScores rates each frame 0..3 for the window search: exposure in
// range, sharp, and moving (subject motion up to three times the static
// threshold counts, chaotic or camera-dominated motion does not).
func frameScores(an *Analysis, th schemas.Thresholds) []float64 {
	out := make([]float64, len(an.Res.Frames))
	for i, f := range an.Res.Frames {
		s := 0.0
		if f.LumaMean >= th.MinLuma && f.LumaMean <= th.MaxLuma && f.LumaStd >= th.MinContrast {
			s++
		}
		if th.MinSharpness > 0 {
			s += math.Min(1, f.Sharpness/(2*th.MinSharpness))
		} else {
			s++
		}
		if f.HasMotion {
			cam := math.Hypot(f.CameraDX, f.CameraDY)
			if f.Subject <= th.MaxSubjectMotion && cam <= th.MaxCameraMotion {
				s += math.Min(1, f.Subject/math.Max(3*th.MinSubjectMotion, 1e-9))
			}
		}
		out[i] = s
	}
	return out
}
