package curate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/quality/testclips"
	"realdpo/transforms/synth"
)

// TestSharedFootage runs the realaction profile on real footage nobody here
// made (../shared/testdata/footage) and checks the decisions its README
// calls sensible.
func TestSharedFootage(t *testing.T) {
	testclips.RequireFFmpeg(t)
	in := "../../../shared/testdata/footage"
	if _, err := os.Stat(in); err != nil {
		t.Skipf("shared footage absent (%v)", err)
	}
	out := t.TempDir()
	st := curateDir(t, in, out, schemas.ProfileRealAction)
	dec := map[string]schemas.InputDecision{}
	for _, d := range st.Decisions {
		dec[d.Source] = d
	}
	if st.Inputs != 4 {
		t.Errorf("%d inputs, want the 4 videos (sidecars are not inputs)", st.Inputs)
	}
	if !dec["pizza_4873105.mp4"].Accept {
		t.Errorf("pizza clip rejected: %+v", dec["pizza_4873105.mp4"])
	}
	if d := dec["armwrestling.mp4"]; !d.Accept && d.Reason != schemas.ReasonResolution {
		t.Errorf("arm wrestling: %+v, want accepted (upscaled) or rejected for resolution", d)
	}
	if d := dec["overlay_boxes.mp4"]; d.Accept || d.Reason != schemas.ReasonOverlay {
		t.Errorf("overlay clip: %+v, want an overlay reject", d)
	}
	if _, ok := dec["makeup.avi"]; !ok {
		t.Error("makeup.avi not decided")
	}
	for _, m := range readJSONL[schemas.ManifestRecord](t, filepath.Join(out, dataset.ManifestFile)) {
		switch m.Source {
		case "pizza_4873105.mp4":
			// The reference clip is already the training spec: taken whole, not upscaled, caption from its .txt.
			if m.StartS != 0 || m.Upscaled || m.CaptionSource != "txt" || !strings.Contains(m.Caption, "pizza") {
				t.Errorf("pizza record: start %v upscaled %v caption %q", m.StartS, m.Upscaled, m.Caption)
			}
		case "armwrestling.mp4":
			if !m.Upscaled || m.Category == "" {
				t.Errorf("arm wrestling record: upscaled %v category %q", m.Upscaled, m.Category)
			}
		}
		if codec, pix, w, h, n, fps := ffprobeClip(t, filepath.Join(out, m.Clip)); codec != "h264" || pix != "yuv420p" || w != 720 || h != 480 || n != 49 || fps != "8/1" {
			t.Errorf("%s: %s %s %dx%d %d at %s", m.Clip, codec, pix, w, h, n, fps)
		}
	}
}

// semanticReasons are left out of the per-defect table when a test scores
// them separately (none by default: the pipeline decides them all).
var semanticReasons = map[string]bool{}

// TestSynthGroundTruth curates a small `realdpo synth` corpus and compares
// every decision with the generator's ground truth, reporting precision and
// recall per defect kind (run with -v to see the table).
func TestSynthGroundTruth(t *testing.T) {
	testclips.RequireFFmpeg(t)
	in, out := t.TempDir(), t.TempDir()
	gts, err := synth.Generate(context.Background(), synth.Config{
		Output: in, Count: 20, Seed: 11, DefectShare: 0.8,
		Sizes: []synth.Size{{W: 320, H: 180}, {W: 384, H: 216}}, MinSeconds: 3, MaxSeconds: 5, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := curateDir(t, in, out, schemas.ProfileDemo)
	if st.Inputs != len(gts) {
		t.Errorf("%d inputs, ground truth has %d files", st.Inputs, len(gts))
	}
	table, agree, scored := GroundTruthReport(gts, st, st.Profile.Name)
	t.Log("\n" + table)
	if float64(agree) < 0.9*float64(scored) {
		t.Errorf("decisions agree with ground truth on %d of %d files", agree, scored)
	}
}

// GroundTruthReport compares a run's decisions with synth ground truth:
// per defect kind, recall is the share of files carrying it that got the
// expected outcome, and precision the share of files rejected for that
// kind's reason that were expected to be.
func GroundTruthReport(gts []schemas.GroundTruth, st schemas.CurateStats, profile string) (string, int, int) {
	dec := map[string]schemas.InputDecision{}
	for _, d := range st.Decisions {
		dec[d.Source] = d
	}
	outcome := func(d schemas.InputDecision, ok bool) string {
		switch {
		case !ok:
			return "missing"
		case d.Accept:
			return "accept"
		}
		return d.Reason
	}
	type row struct{ n, tp int }
	kinds := map[string]*row{}
	predicted := map[string]int{}   // reason -> files rejected for it (scored files)
	correctBy := map[string]int{}   // reason -> of those, expected it
	reasonOf := map[string]string{} // defect kind -> expected reason
	agree, scored := 0, 0
	var misses []string
	for _, g := range gts {
		exp := g.Expected[profile]
		want := "accept"
		if !exp.Accept {
			want = exp.Reason
		}
		if semanticReasons[want] {
			continue
		}
		d, ok := dec[g.File]
		got := outcome(d, ok)
		scored++
		if got == want {
			agree++
		} else {
			misses = append(misses, fmt.Sprintf("%s (%v): got %s, want %s", g.File, g.Defects, got, want))
		}
		if got != "accept" {
			predicted[got]++
			if got == want {
				correctBy[got]++
			}
		}
		kind := "clean"
		if len(g.Defects) > 0 {
			kind = strings.Join(g.Defects, "+")
		}
		if kinds[kind] == nil {
			kinds[kind] = &row{}
		}
		kinds[kind].n++
		reasonOf[kind] = want
		if got == want {
			kinds[kind].tp++
		}
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %-14s %5s %7s %9s\n", "defect kind", "expected", "files", "recall", "precision")
	for _, k := range names {
		r := kinds[k]
		prec := "-"
		if want := reasonOf[k]; want != "accept" && predicted[want] > 0 {
			prec = fmt.Sprintf("%.2f", float64(correctBy[want])/float64(predicted[want]))
		}
		fmt.Fprintf(&b, "%-22s %-14s %5d %7.2f %9s\n", k, reasonOf[k], r.n, float64(r.tp)/float64(r.n), prec)
	}
	fmt.Fprintf(&b, "agreement: %d of %d scored files\n", agree, scored)
	for _, m := range misses {
		b.WriteString("  miss: " + m + "\n")
	}
	return b.String(), agree, scored
}

// TestSynthDedupTopic curates synth footage rich in exact and near
// duplicates, re-encodes of the same source that start later (so another
// window is kept) and off-topic sidecars and scores deduplication (pairs found,
// against the generator's duplicate_of) and the topic filter (off-topic
// files rejected) by precision and recall (run with -v for the figures).
func TestSynthDedupTopic(t *testing.T) {
	testclips.RequireFFmpeg(t)
	in, out := t.TempDir(), t.TempDir()
	gts, err := synth.Generate(context.Background(), synth.Config{
		Output: in, Count: 14, Seed: 23, DefectShare: 0.5,
		Defects: []string{schemas.DefectExactDup, schemas.DefectNearDup, schemas.DefectOffTopic, schemas.DefectReencode},
		Sizes:   []synth.Size{{W: 320, H: 180}, {W: 384, H: 216}}, MinSeconds: 3, MaxSeconds: 4, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := curateDir(t, in, out, schemas.ProfileDemo)
	rej := readJSONL[schemas.RejectRecord](t, filepath.Join(out, dataset.RejectedFile))
	dp, dr, tp, tr, report := SemanticReport(gts, st, rej, st.Profile.Name)
	t.Log("\n" + report)
	if dp < 1 || dr < 1 {
		t.Errorf("dedup precision %.2f recall %.2f, want 1 and 1 on synth duplicates", dp, dr)
	}
	if tp < 1 || tr < 1 {
		t.Errorf("topic filter precision %.2f recall %.2f, want 1 and 1 on synth off-topic sidecars", tp, tr)
	}
	table, _, _ := GroundTruthReport(gts, st, st.Profile.Name)
	t.Log("\n" + table)
	// How each re-encode was found: by its window's keyframes, or (another
	// window of the same footage) by the source prints.
	reencodes := map[string]schemas.GroundTruth{}
	for _, g := range gts {
		if len(g.Defects) == 1 && g.Defects[0] == schemas.DefectReencode {
			reencodes[g.File] = g
		}
	}
	kept := map[string]schemas.ManifestRecord{}
	for _, m := range readJSONL[schemas.ManifestRecord](t, filepath.Join(out, dataset.ManifestFile)) {
		kept[m.Source] = m
	}
	for _, r := range rej {
		if g, ok := reencodes[r.Source]; ok && r.Reason == schemas.ReasonDuplicate {
			t.Logf("%s (starts %.2f s into %s): window %.2f-%.2f s, i.e. %.2f-%.2f s of the original, whose kept window is %.2f-%.2f s: %s",
				r.Source, g.OffsetS, g.DuplicateOf, r.StartS, r.EndS, r.StartS+g.OffsetS, r.EndS+g.OffsetS,
				kept[g.DuplicateOf].StartS, kept[g.DuplicateOf].EndS, r.Detail)
		}
	}
}

// SemanticReport scores deduplication and the topic filter against synth
// ground truth. Dedup is scored on unordered pairs {copy, original}: a
// predicted pair is a duplicate reject and the source kept in its place;
// a true pair is a file expected to be a duplicate and its original.
// The topic filter is scored on the files it finds off-topic from their
// sidecars, and an off-topic file accepted by the pipeline counts as missed.
func SemanticReport(gts []schemas.GroundTruth, st schemas.CurateStats, rej []schemas.RejectRecord, profile string) (dedupP, dedupR, topicP, topicR float64, report string) {
	pair := func(a, b string) string {
		if a > b {
			a, b = b, a
		}
		return a + " ~ " + b
	}
	truth, pred := map[string]bool{}, map[string]bool{}
	offWant := map[string]bool{}
	var b strings.Builder
	for _, g := range gts {
		exp := g.Expected[profile]
		if exp.Reason == schemas.ReasonDuplicate {
			truth[pair(g.File, exp.DuplicateOf)] = true
		}
		if exp.Reason == schemas.ReasonOffTopic {
			offWant[g.File] = true
		}
	}
	for _, r := range rej {
		if r.Stage == schemas.StageDedup && r.Reason == schemas.ReasonDuplicate {
			pred[pair(r.Source, r.DuplicateOfSource)] = true
		}
	}
	// Exclusion phrases in the sidecars are screened before anything else, so
	// every off-topic file must end rejected off_topic, and no other file may.
	offGot := map[string]bool{}
	accepted := map[string]bool{}
	for _, d := range st.Decisions {
		if d.Accept {
			accepted[d.Source] = true
		}
		if !d.Accept && d.Reason == schemas.ReasonOffTopic {
			offGot[d.Source] = true
		}
	}
	for f := range offWant {
		if accepted[f] {
			fmt.Fprintf(&b, "  off-topic file accepted: %s\n", f)
			delete(offGot, f)
		}
	}
	ratio := func(a, b int) float64 {
		if b == 0 {
			return 1
		}
		return float64(a) / float64(b)
	}
	hit := 0
	for p := range pred {
		if truth[p] {
			hit++
		} else {
			fmt.Fprintf(&b, "  false duplicate: %s\n", p)
		}
	}
	for p := range truth {
		if !pred[p] {
			fmt.Fprintf(&b, "  missed duplicate: %s\n", p)
		}
	}
	dedupP, dedupR = ratio(hit, len(pred)), ratio(hit, len(truth))
	offHit := 0
	for f := range offGot {
		if offWant[f] {
			offHit++
		} else {
			fmt.Fprintf(&b, "  wrongly off-topic: %s\n", f)
		}
	}
	topicP, topicR = ratio(offHit, len(offGot)), ratio(offHit, len(offWant))
	report = fmt.Sprintf("dedup: %d true pairs, %d predicted, %d right: precision %.2f recall %.2f\n"+
		"topic: %d off-topic files, %d rejected off_topic, %d right: precision %.2f recall %.2f\n%s",
		len(truth), len(pred), hit, dedupP, dedupR, len(offWant), len(offGot), offHit, topicP, topicR, b.String())
	return
}

// TestReencodeFoundBySourcePrint curates originals and their re-encodes
// (smaller, VP9 at a low bitrate, starting later) with window matching
// made strict (keyframe distance 0), so only the source prints can tell
// that a re-encode is the same footage: each must be rejected as a
// duplicate of its own original, and every original kept.
func TestReencodeFoundBySourcePrint(t *testing.T) {
	testclips.RequireFFmpeg(t)
	in, out := t.TempDir(), t.TempDir()
	gts, err := synth.Generate(context.Background(), synth.Config{
		Output: in, Count: 4, Seed: 31, DefectShare: 0.5, Defects: []string{schemas.DefectReencode},
		Sizes: []synth.Size{{W: 384, H: 216}}, MinSeconds: 6, MaxSeconds: 8, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := NewConfig(in, out, schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Review.DedupMaxDistance = 0
	curateWith(t, cfg)
	rej := readJSONL[schemas.RejectRecord](t, filepath.Join(out, dataset.RejectedFile))
	dupOf := map[string]schemas.RejectRecord{}
	for _, r := range rej {
		if r.Reason == schemas.ReasonDuplicate {
			dupOf[r.Source] = r
		}
	}
	copies := 0
	for _, g := range gts {
		want := g.Expected[cfg.Profile.Name]
		r, isDup := dupOf[g.File]
		switch {
		case want.Reason == schemas.ReasonDuplicate:
			copies++
			if !isDup || r.DuplicateOfSource != want.DuplicateOf || !strings.Contains(r.Detail, "same source footage") {
				t.Errorf("%s (re-encode of %s, %.2f s in): %+v, want a duplicate found by source print", g.File, g.DuplicateOf, g.OffsetS, r)
			} else {
				t.Logf("%s: %s", g.File, r.Detail)
			}
		case isDup:
			t.Errorf("%s rejected as a duplicate of %s, but it is not a copy", g.File, r.DuplicateOfSource)
		}
	}
	if copies == 0 {
		t.Fatal("the corpus has no re-encode")
	}
}
