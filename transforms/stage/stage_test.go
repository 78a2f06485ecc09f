package stage

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"realdpo/schemas"
	"realdpo/transforms/quality"
	"realdpo/transforms/quality/testclips"
)

var demo = schemas.Profiles[schemas.ProfileDemo]

func TestProbeClassifiesBadFiles(t *testing.T) {
	testclips.RequireFFmpeg(t)
	dir := t.TempDir()
	th := DefaultThresholds(demo)
	good := testclips.Make(t, dir, "good.mp4", testclips.Spec{Dur: 2})
	info, r := ProbeSource(context.Background(), good, th)
	if r != nil || info.Width != 320 || info.Height != 180 || info.FPS != 24 || info.Codec != "h264" {
		t.Fatalf("good: %+v %v", info, r)
	}
	data, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	var pngBuf strings.Builder
	png.Encode(&pngBuf, testImage())
	for name, c := range map[string]struct {
		data   []byte
		reason string
	}{
		"empty.mp4":    {nil, schemas.ReasonEmptyFile},
		"page.mp4":     {[]byte("<html>404</html>"), schemas.ReasonNotVideo},
		"text.mp4":     {[]byte(strings.Repeat("not a video\n", 100)), schemas.ReasonNotVideo},
		"half.mp4":     {data[:len(data)/2], schemas.ReasonTruncated},
		"still.mp4":    {[]byte(pngBuf.String()), schemas.ReasonNotVideo},
		"headless.mkv": {[]byte{0x1A, 0x45, 0xDF, 0xA3, 0, 0, 0, 0, 0, 0, 0, 0}, schemas.ReasonTruncated},
	} {
		_, r := ProbeSource(context.Background(), write(name, c.data), th)
		if r == nil || r.Reason != c.reason {
			t.Errorf("%s: %v, want %s", name, r, c.reason)
		}
	}
}

func TestPreFilterCheapestFirst(t *testing.T) {
	p := schemas.Profiles[schemas.ProfileRealAction]
	th := DefaultThresholds(p)
	ok := schemas.SourceInfo{Width: 1280, Height: 720, FPS: 25, DurationS: 10}
	if r := PreFilter(ok, p, th); r != nil {
		t.Fatalf("good source rejected: %v", r)
	}
	for _, c := range []struct {
		info   schemas.SourceInfo
		reason string
	}{
		{schemas.SourceInfo{Width: 720, Height: 1280, FPS: 2, DurationS: 1}, schemas.ReasonOrientation}, // every fault: first wins
		{schemas.SourceInfo{Width: 160, Height: 90, FPS: 2, DurationS: 1}, schemas.ReasonResolution},
		{schemas.SourceInfo{Width: 640, Height: 360, FPS: 5, DurationS: 1}, schemas.ReasonFrameRate},
		{schemas.SourceInfo{Width: 640, Height: 360, FPS: 30, DurationS: 5.9}, schemas.ReasonTooShort},
	} {
		if r := PreFilter(c.info, p, th); r == nil || r.Reason != c.reason {
			t.Errorf("%+v: %v, want %s", c.info, r, c.reason)
		}
	}
	// Exactly one clip long (the pizza clip: 49 frames at 8 fps) passes.
	if r := PreFilter(schemas.SourceInfo{Width: 720, Height: 480, FPS: 8, DurationS: 6.125}, p, th); r != nil {
		t.Errorf("exact-length source rejected: %v", r)
	}
	if !Upscaled(schemas.SourceInfo{Width: 340, Height: 256}, p) || Upscaled(schemas.SourceInfo{Width: 1280, Height: 720}, p) {
		t.Error("upscale flag wrong")
	}
	big := schemas.SourceInfo{Width: 9000, Height: 5000, DurationS: 10}
	if r := CheckLimits(100, &big, th); r == nil || r.Reason != schemas.ReasonTooLarge {
		t.Errorf("dimension limit: %v", r)
	}
	if r := CheckLimits(th.MaxBytes+1, nil, th); r == nil || r.Reason != schemas.ReasonTooLarge {
		t.Errorf("byte limit: %v", r)
	}
}

func TestClipIDDeterministic(t *testing.T) {
	a := ClipID("abc", demo, 1.25)
	if a != ClipID("abc", demo, 1.25) || len(a) != 20 {
		t.Fatalf("id not stable: %s", a)
	}
	for _, b := range []string{ClipID("abd", demo, 1.25), ClipID("abc", demo, 1.5), ClipID("abc", schemas.Profiles[schemas.ProfileRealAction], 1.25)} {
		if b == a {
			t.Error("different content, window or profile gave the same id")
		}
	}
}

func TestSidecarsAndCategories(t *testing.T) {
	var src schemas.SourceFile
	ApplySidecars(&src, []byte(`{"title":"Dad and   daughter baking","tags":["family","kitchen"]}`), nil)
	if src.Caption != "Dad and daughter baking" || src.CaptionSource != "title" || src.Category != schemas.CategoryParentChild {
		t.Errorf("%+v", src)
	}
	src = schemas.SourceFile{}
	ApplySidecars(&src, []byte(`{not json`), []byte("A man rides a bike.\n"))
	if src.Caption != "A man rides a bike." || src.SidecarError == "" || src.Category != "" {
		t.Errorf("%+v", src)
	}
	for tags, want := range map[string]string{
		"yoga,mat": schemas.CategoryYoga, "guitar": schemas.CategoryInstrument, "jumping_jacks": schemas.CategoryFitness,
		"household cleaning": schemas.CategoryCleaning, "sunset,city": schemas.CategoryOthers, "": "",
	} {
		var tl []string
		if tags != "" {
			tl = strings.Split(tags, ",")
		}
		if got := CategoryFromTags(tl, ""); got != want {
			t.Errorf("%q -> %q, want %q", tags, got, want)
		}
	}
	if k, stem := SidecarKind("a/b.JSON"); k != "json" || stem != "a/b" {
		t.Errorf("SidecarKind: %s %s", k, stem)
	}
	if Stem("x/concat:y.mp4") != "x/concat:y" || Stem("-i") != "-i" || Stem(".hidden") != ".hidden" {
		t.Error("Stem")
	}
}

// fakeAnalysis builds an analysis of n frames at fps with the given cuts,
// every frame well exposed, sharp and moving.
func fakeAnalysis(t *testing.T, n int, fps float64, cuts []int) *Analysis {
	a, err := quality.NewAnalyzer(64, 36, fps, quality.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		a.Frames = append(a.Frames, quality.FrameStats{T: float64(i) / fps, LumaMean: 120, LumaStd: 50, Sharpness: 500,
			HasMotion: i > 0, Subject: 2, ChangedFrac: 0.05})
	}
	return &Analysis{Res: &quality.FileResult{Analyzer: a}, FPS: fps, Cuts: cuts}
}

func TestSplitWindowsLengthPolicy(t *testing.T) {
	th := DefaultThresholds(demo)
	// 8 fps: a demo clip is 17 frames; trim 0.25 s = 2 frames at each cut.
	an := fakeAnalysis(t, 80, 8, []int{20, 38})
	// Shots: [0,20) -> [0,18): 18 frames, fits. [20,38) -> [22,36): 14, too short. [38,80) -> [40,80): fits.
	ws := SplitWindows(an, demo, th)
	if len(ws) != 2 || ws[0].Shot != 0 || ws[1].Shot != 2 {
		t.Fatalf("windows %+v", ws)
	}
	for _, w := range ws {
		if w.To-w.From != 17 {
			t.Errorf("window %+v is not 17 frames", w)
		}
		for _, c := range an.Cuts {
			if w.From < c && c < w.To || (w.From >= c && w.From < c+2) || (w.To <= c && w.To > c-2) {
				t.Errorf("window %+v crosses or touches cut %d", w, c)
			}
		}
	}
	// The best window avoids bad frames: make the start of the last shot dark.
	for i := 40; i < 50; i++ {
		an.Res.Frames[i].LumaMean = 5
	}
	ws = SplitWindows(an, demo, th)
	if ws[1].From < 50 {
		t.Errorf("window %+v includes dark frames", ws[1])
	}
	if again := SplitWindows(an, demo, th); again[1] != ws[1] {
		t.Error("window choice not deterministic")
	}
	for i := 40; i < 50; i++ {
		an.Res.Frames[i].LumaMean = 120
	}
	th.MaxClipsPerShot = 2
	if ws := SplitWindows(an, demo, th); len(ws) != 3 {
		t.Errorf("two clips per shot: %d windows", len(ws))
	}
}

func TestFilterScoresKeepsEveryFailure(t *testing.T) {
	th := DefaultThresholds(demo)
	good := schemas.ClipScores{LumaMean: 120, LumaStd: 50, Sharpness: 400, SharpnessRel: 0.2, SubjectMotion: 2, ChangedFrac: 0.05, CameraMotion: 1, CameraRatio: 0.5}
	if r, _, f := FilterScores(good, th); r != "" || len(f) != 0 {
		t.Fatalf("good clip failed %s %v", r, f)
	}
	bad := good
	bad.LumaMean = 10                         // exposure
	bad.Overlay = 0.2                         // overlay
	bad.SubjectMotion, bad.ChangedFrac = 0, 0 // static
	r, detail, failed := FilterScores(bad, th)
	if r != schemas.ReasonExposure || detail == "" || strings.Join(failed, ",") != "exposure,static,overlay" {
		t.Errorf("reason %s (%s), failed %v", r, detail, failed)
	}
	pan := good
	pan.CameraMotion, pan.CameraRatio = 15, 15/1.5
	if r, _, _ := FilterScores(pan, th); r != schemas.ReasonCameraMotion {
		t.Errorf("camera-dominated clip: %q", r)
	}
	blur := good
	blur.Sharpness, blur.SharpnessRel = 5, 0.002
	if r, _, _ := FilterScores(blur, th); r != schemas.ReasonBlur {
		t.Errorf("blurred clip: %q", r)
	}
}

func TestNormaliseClipSpec(t *testing.T) {
	testclips.RequireFFmpeg(t)
	dir := t.TempDir()
	src := testclips.Make(t, dir, "src.mp4", testclips.Spec{Dur: 3, W: 320, H: 240})
	th := DefaultThresholds(demo)
	clip, frame := filepath.Join(dir, "out", "c.mp4"), filepath.Join(dir, "out", "f.png")
	// A window reaching the very end may come up a frame short: padded, not failed.
	padded, err := NormaliseClip(context.Background(), src, 3-demo.DurationS(), demo, clip, frame, th)
	if err != nil || padded > MaxPadFrames {
		t.Fatalf("normalise: padded %d, %v", padded, err)
	}
	f, err := os.Open(frame)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 96 || img.Bounds().Dy() != 64 {
		t.Fatalf("first frame: %v %v", err, img.Bounds())
	}
	r, err := quality.AnalyzeFile(context.Background(), clip, quality.FileOptions{Width: 96, Height: 64, FPS: 8})
	if err != nil || len(r.Frames) != 17 {
		t.Fatalf("clip decodes to %d frames: %v", len(r.Frames), err)
	}
	// A window inside the source is one ffmpeg and needs no padding; the
	// frames shown on the way are the clip's.
	inside, insidePNG := filepath.Join(dir, "out", "in.mp4"), filepath.Join(dir, "out", "in.png")
	shown := 0
	padded, err = NormaliseClipVisit(context.Background(), src, 0.4, demo, inside, insidePNG, th, nil, func(i int, rgb []byte) error {
		if i != shown || len(rgb) != 96*64*3 {
			t.Errorf("frame %d shown as %d, %d bytes", shown, i, len(rgb))
		}
		shown++
		return nil
	})
	if err != nil || padded != 0 || shown != 17 {
		t.Fatalf("window inside: padded %d, shown %d, %v", padded, shown, err)
	}
	if r, err := quality.AnalyzeFile(context.Background(), inside, quality.FileOptions{Width: 96, Height: 64, FPS: 8}); err != nil || len(r.Frames) != 17 {
		t.Fatalf("inside clip decodes to %v frames: %v", r, err)
	}
	if _, err := os.Stat(insidePNG); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	// A window past the end fails and leaves nothing behind.
	if _, err := NormaliseClip(context.Background(), src, 2.5, demo, filepath.Join(dir, "late.mp4"), filepath.Join(dir, "late.png"), th); err == nil {
		t.Error("window past the end normalised")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "late*"))
	tmp, _ := filepath.Glob(filepath.Join(dir, "out", ".*tmp*"))
	if len(left)+len(tmp) > 0 {
		t.Errorf("left behind: %v %v", left, tmp)
	}
}

func TestComputeStatsAccounting(t *testing.T) {
	th := DefaultThresholds(demo)
	sources := []schemas.SourceFile{{Rel: "a.mp4"}, {Rel: "b.mp4"}, {Rel: "c.mp4"}, {Rel: "d.mp4"}}
	man := []schemas.ManifestRecord{{Source: "a.mp4", Frames: 17, FPS: 8, Category: "yoga"}}
	rej := []schemas.RejectRecord{
		{Source: "a.mp4", Stage: "filter", Reason: "static", Candidate: 1, Failed: []string{"static"}},
		{Source: "b.mp4", Stage: "probe", Reason: "not_video", Candidate: -1},
		{Source: "c.mp4", Stage: "filter", Reason: "overlay", Candidate: 0, Failed: []string{"overlay"}},
		{Source: "c.mp4", Stage: "filter", Reason: "blur", Candidate: 1, Failed: []string{"blur", "overlay"}},
	}
	st := ComputeStats(demo, th, sources, man, rej)
	if st.Inputs != 4 || st.InputsAccepted != 1 || st.InputsRejected != 3 || st.Candidates != 4 || st.Clips != 1 {
		t.Fatalf("%s", st.AccountingLine())
	}
	if st.InputsRejectedByReason["not_video"] != 1 || st.InputsRejectedByReason["blur"] != 1 || st.InputsRejectedByReason["unknown"] != 1 {
		t.Errorf("by reason: %v", st.InputsRejectedByReason)
	}
	if st.FailedChecks["overlay"] != 2 || st.ClipsByCategory["yoga"] != 1 {
		t.Errorf("failed %v categories %v", st.FailedChecks, st.ClipsByCategory)
	}
	card := DatasetCard(st, man)
	if !strings.Contains(card, st.AccountingLine()) || !strings.Contains(card, "yoga") {
		t.Errorf("card:\n%s", card)
	}
}

// Collect gives each element a fresh value: a field set by one element never
// shows up in the next, as it would when decoding into one reused variable.
func TestCollectFreshValues(t *testing.T) {
	in := []schemas.RejectRecord{{Source: "a", Detail: "only a has detail"}, {Source: "b"}}
	i := 0
	got := Collect(func(r *schemas.RejectRecord) bool {
		if i == len(in) {
			return false
		}
		if in[i].Source != "" {
			r.Source = in[i].Source
		}
		if in[i].Detail != "" {
			r.Detail = in[i].Detail
		}
		i++
		return true
	})
	if len(got) != 2 || got[0].Detail == "" || got[1].Detail != "" || got[1].Source != "b" {
		t.Fatalf("collected %+v", got)
	}
}

// TestAdviseLowYield checks when a run counts as low-yield and what it
// says: the deciding reasons (split by the check a semantic reject names),
// most inputs first, at most three, each with a hint naming the flags.
func TestAdviseLowYield(t *testing.T) {
	th := DefaultThresholds(demo)
	cfg := schemas.CurateConfig{Profile: demo, Thresholds: th, Review: DefaultReviewConfig()}
	var sources []schemas.SourceFile
	var rej []schemas.RejectRecord
	add := func(name string, r schemas.RejectRecord) {
		sources = append(sources, schemas.SourceFile{Rel: name})
		if r.Reason != "" {
			r.Source = name
			rej = append(rej, r)
		}
	}
	for i := 0; i < 4; i++ {
		add(fmt.Sprintf("untagged%d.mp4", i), schemas.RejectRecord{Stage: schemas.StageTopic, Reason: schemas.ReasonOffTopic, Candidate: -1, Failed: []string{"topic_no_text"}})
	}
	for i := 0; i < 2; i++ {
		// A clip-level topic reject names its check too.
		add(fmt.Sprintf("nomatch%d.mp4", i), schemas.RejectRecord{Stage: schemas.StageTopic, Reason: schemas.ReasonOffTopic, Candidate: 0, Failed: []string{"topic_no_match"}})
	}
	add("dark.mp4", schemas.RejectRecord{Stage: schemas.StageFilter, Reason: schemas.ReasonExposure, Candidate: 0, Failed: []string{schemas.ReasonExposure}})
	add("short.mp4", schemas.RejectRecord{Stage: schemas.StageFilter, Reason: schemas.ReasonTooShort, Candidate: -1})
	var man []schemas.ManifestRecord
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("good%d.mp4", i)
		add(name, schemas.RejectRecord{})
		man = append(man, schemas.ManifestRecord{ID: name, Source: name, Frames: 17, FPS: 8})
	}
	st := ComputeStats(demo, th, sources, man, rej)
	Advise(&st, cfg)
	if !st.LowYield {
		t.Fatalf("3 of 11 inputs kept is not low yield: %s", st.AccountingLine())
	}
	var got []string
	for _, a := range st.Advice {
		got = append(got, fmt.Sprintf("%s/%s=%d@%.3f", a.Reason, a.Check, a.Inputs, a.Share))
	}
	// exposure and too_short tie at one input each: the reason's name breaks the tie.
	want := []string{"off_topic/topic_no_text=4@0.364", "off_topic/topic_no_match=2@0.182", "exposure/=1@0.091"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("advice %v, want %v", got, want)
	}
	for _, a := range st.Advice {
		if a.Hint == "" {
			t.Errorf("%s: no hint", a.Reason)
		}
	}
	for flagName, a := range map[string]schemas.Advice{"--keep_untagged": st.Advice[0], "--topics": st.Advice[1], "--min_luma": st.Advice[2]} {
		if !strings.Contains(a.Hint, flagName) {
			t.Errorf("%s hint does not name %s: %q", a.Reason, flagName, a.Hint)
		}
	}
	text := AdviceText(st)
	if !strings.Contains(text, "Only 3 of 11 inputs gave clips") || !strings.Contains(text, "off_topic (topic_no_text): 4 inputs (36%)") {
		t.Errorf("advice text:\n%s", text)
	}
	if card := DatasetCard(st, man); !strings.Contains(card, "## Why so few inputs gave clips") || !strings.Contains(card, text) {
		t.Errorf("card lacks the advice:\n%s", card)
	}

	// Half the inputs kept is not low yield: no advice anywhere.
	for i := 3; i < 8; i++ {
		name := fmt.Sprintf("good%d.mp4", i)
		add(name, schemas.RejectRecord{})
		man = append(man, schemas.ManifestRecord{ID: name, Source: name, Frames: 17, FPS: 8})
	}
	st = ComputeStats(demo, th, sources, man, rej)
	Advise(&st, cfg)
	if st.LowYield || st.Advice != nil || AdviceText(st) != "" || strings.Contains(DatasetCard(st, man), "Why so few") {
		t.Errorf("%s: low yield %v, advice %+v", st.AccountingLine(), st.LowYield, st.Advice)
	}
}

func testImage() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	return img
}
