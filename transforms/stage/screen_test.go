package stage

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"realdpo/schemas"
	"realdpo/transforms/quality/testclips"
	"realdpo/transforms/synth"
)

// fullDecision is what the analysis stages decide for a source: "accept"
// when a window passes the filters, else the reason most of its windows
// fail for (the source's reject reason), or the analysis's own reject.
func fullDecision(t *testing.T, path string, info schemas.SourceInfo, p schemas.Profile, th schemas.Thresholds) string {
	t.Helper()
	an, r := AnalyseSource(context.Background(), path, info, th)
	if r != nil {
		return r.Reason
	}
	windows := SplitWindows(an, p, th)
	if len(windows) == 0 {
		return schemas.ReasonTooShort
	}
	shots := len(Shots(len(an.Res.Frames), an.Cuts))
	n := map[string]int{}
	for _, w := range windows {
		reason, _, _ := FilterScores(WindowScores(an, w, shots), th)
		if reason == "" {
			return "accept"
		}
		n[reason]++
	}
	best := ""
	for _, r := range FilterOrder() {
		if best == "" || n[r] > n[best] {
			best = r
		}
	}
	return best
}

// TestKeyframeScreenAgreesWithTheStages screens a synth corpus holding
// every defect kind the analysis decides (and clean footage) and runs the
// full analysis on each file: whenever the screen rejects, the stages
// reject for exposure too, and the screen rejects the dark and washed-out
// files it can see whole.
func TestKeyframeScreenAgreesWithTheStages(t *testing.T) {
	testclips.RequireFFmpeg(t)
	in := t.TempDir()
	gts, err := synth.Generate(context.Background(), synth.Config{
		// Twelve files: synth deals the nine defects in turn at this
		// share, so each kind (and three clean files) appears once.
		Output: in, Count: 12, Seed: 5, DefectShare: 0.75,
		Defects: []string{schemas.DefectDark, schemas.DefectWashedOut, schemas.DefectStatic, schemas.DefectBlur,
			schemas.DefectOverlay, schemas.DefectSceneCuts, schemas.DefectShaky, schemas.DefectTooShort, schemas.DefectTruncated},
		Sizes: []synth.Size{{W: 320, H: 180}, {W: 384, H: 216}}, MinSeconds: 3, MaxSeconds: 5, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := schemas.Profiles[schemas.ProfileDemo]
	th := DefaultThresholds(p)
	screened := map[string]int{}
	for _, g := range gts {
		path := filepath.Join(in, g.File)
		info, r := ProbeSource(context.Background(), path, th)
		if r == nil {
			r = PreFilter(info, p, th)
		}
		if r != nil {
			continue // decided before the analysis
		}
		rej, ks, err := ScreenKeyframes(context.Background(), path, info, p, th)
		if err != nil {
			t.Errorf("%s: screen: %v", g.File, err)
			continue
		}
		full := fullDecision(t, path, info, p, th)
		exposed := slices.Contains(g.Defects, schemas.DefectDark) || slices.Contains(g.Defects, schemas.DefectWashedOut)
		t.Logf("%s %v: screen %+v %v; stages: %s", g.File, g.Defects, ks, rej, full)
		switch {
		case rej != nil && (rej.Stage != schemas.StageFilter || rej.Reason != full):
			t.Errorf("%s %v: screen says %s/%s, the stages %s", g.File, g.Defects, rej.Stage, rej.Reason, full)
		case rej != nil:
			if !strings.Contains(rej.Detail, "decided on keyframes") || ks.Scores.AnalysedFrames != ks.Keyframes || ks.Scores.LumaMean == 0 {
				t.Errorf("%s: the reject does not say it was decided on keyframes, or lacks their figures: %q %+v", g.File, rej.Detail, ks.Scores)
			}
			for _, d := range g.Defects {
				screened[d]++
			}
		case exposed && full == schemas.ReasonExposure && ks.Undecided == "exposure":
			t.Errorf("%s %v: every keyframe seen (%+v), yet not screened", g.File, g.Defects, ks)
		}
	}
	t.Logf("screened by defect kind: %v", screened)
	if screened[schemas.DefectDark] == 0 || screened[schemas.DefectWashedOut] == 0 {
		t.Errorf("the screen rejected dark files %d times, washed-out ones %d times", screened[schemas.DefectDark], screened[schemas.DefectWashedOut])
	}
}
