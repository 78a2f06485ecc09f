package quality

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"realdpo/transforms/quality/testclips"
)

// corpus renders the lavfi test clips once per test binary.
var (
	corpusOnce sync.Once
	corpusDir  string
	corpus     map[string]string
)

func testCorpus(t testing.TB) map[string]string {
	t.Helper()
	testclips.RequireFFmpeg(t)
	corpusOnce.Do(func() {
		var err error
		if corpusDir, err = os.MkdirTemp("", "quality-corpus-"); err != nil {
			t.Fatal(err)
		}
		specs := map[string]testclips.Spec{
			"good":    {Camera: "static", Subject: "moving"},
			"static":  {Camera: "static", Subject: "still"},
			"pan":     {Camera: "pan", Subject: "still"},
			"shaky":   {Camera: "shaky", Subject: "moving"},
			"blur":    {Camera: "static", Subject: "moving", Post: "gblur=sigma=4"},
			"dark":    {Camera: "static", Subject: "moving", Post: "eq=brightness=-0.5:contrast=0.5"},
			"washed":  {Camera: "static", Subject: "moving", Post: "eq=brightness=0.45:contrast=0.35"},
			"overlay": {Camera: "static", Subject: "moving", Post: "drawtext=text='BREAKING NEWS 24/7':fontsize=18:fontcolor=white:borderw=2:x=10:y=h-30"},
			"other":   {Camera: "static", Subject: "moving", Post: "hflip,hue=h=150:s=1.5", Dur: 2},
		}
		corpus = map[string]string{}
		for name, c := range specs {
			corpus[name] = testclips.Make(t, corpusDir, name+".mp4", c)
		}
		corpus["cut"] = testclips.Concat(t, filepath.Join(corpusDir, "cut.mp4"), corpus["good"], corpus["other"])
	})
	if corpus == nil {
		t.Fatal("test corpus failed to build")
	}
	return corpus
}

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusDir != "" {
		os.RemoveAll(corpusDir)
	}
	os.Exit(code)
}

func summarize(t *testing.T, name string) (Summary, *FileResult) {
	t.Helper()
	r := analyse(t, testCorpus(t)[name], 256, 144, 24)
	return r.Summarize(0, len(r.Frames)), r
}

func TestSignalsSeparateDefects(t *testing.T) {
	good, gr := summarize(t, "good")
	if len(gr.Frames) != 96 {
		t.Fatalf("good: %d frames analysed, want 96", len(gr.Frames))
	}
	if good.Subject < 1 || good.MovingFrac < 0.03 || good.CameraMotion > 2 || good.Overlay > 0.01 || good.Sharpness < 200 {
		t.Errorf("good clip: %+v", good)
	}
	if cuts := DetectCuts(gr.Frames, 27, 12, 3); len(cuts) != 0 {
		t.Errorf("good clip has cuts %v", cuts)
	}
	static, _ := summarize(t, "static")
	if static.Subject > 0.2 || static.CameraMotion > 1 {
		t.Errorf("static clip: subject %.2f camera %.2f", static.Subject, static.CameraMotion)
	}
	pan, _ := summarize(t, "pan")
	// 50 px/s on a 320 px frame is 15.6 %W/s.
	if pan.CameraMotion < 12 || pan.CameraMotion > 19 || pan.CameraMotion/pan.Subject < 5 {
		t.Errorf("pan clip: camera %.2f subject %.2f", pan.CameraMotion, pan.Subject)
	}
	shaky, _ := summarize(t, "shaky")
	if shaky.CameraShake < 30 || shaky.CameraShake < 10*good.CameraShake {
		t.Errorf("shaky clip: shake %.2f (good %.2f)", shaky.CameraShake, good.CameraShake)
	}
	blur, _ := summarize(t, "blur")
	if blur.Sharpness > 40 || blur.SharpnessRel > 0.02 || good.SharpnessRel < 0.1 {
		t.Errorf("blur clip: sharpness %.1f rel %.4f (good %.1f rel %.4f)", blur.Sharpness, blur.SharpnessRel, good.Sharpness, good.SharpnessRel)
	}
	dark, _ := summarize(t, "dark")
	if dark.LumaMean > 40 || dark.DarkFrac < 0.3 {
		t.Errorf("dark clip: luma %.1f dark %.2f", dark.LumaMean, dark.DarkFrac)
	}
	if dark.SharpnessRel < 0.1 {
		t.Errorf("dark but focused clip looks blurred: rel %.4f", dark.SharpnessRel)
	}
	washed, _ := summarize(t, "washed")
	if washed.LumaMean < 200 || washed.LumaStd > 18 {
		t.Errorf("washed clip: luma %.1f std %.1f", washed.LumaMean, washed.LumaStd)
	}
	ov, _ := summarize(t, "overlay")
	if ov.Overlay < 0.03 {
		t.Errorf("overlay clip: overlay %.3f", ov.Overlay)
	}
}

func TestHardCutFound(t *testing.T) {
	_, r := summarize(t, "cut")
	cuts := DetectCuts(r.Frames, 27, 12, 3)
	if len(cuts) != 1 || cuts[0] < 95 || cuts[0] > 97 {
		t.Fatalf("cuts = %v, want one at frame 96", cuts)
	}
	// Without the adaptive test the same single cut is found.
	if c := DetectCuts(r.Frames, 27, 12, 0); len(c) != 1 {
		t.Errorf("plain content detector: %v", c)
	}
}

func TestDetectCutsMinSceneAndAdaptive(t *testing.T) {
	fr := make([]FrameStats, 60)
	for i := range fr {
		fr[i].ContentDelta = 5
	}
	fr[20].ContentDelta = 80 // a cut
	fr[25].ContentDelta = 80 // too soon after it
	fr[40].ContentDelta = 30 // fast motion: neighbours are high too
	for _, j := range []int{38, 39, 41, 42} {
		fr[j].ContentDelta = 25
	}
	if got := DetectCuts(fr, 27, 15, 3); len(got) != 1 || got[0] != 20 {
		t.Errorf("adaptive: %v, want [20]", got)
	}
	if got := DetectCuts(fr, 27, 15, 0); len(got) != 2 || got[1] != 40 {
		t.Errorf("plain: %v, want [20 40]", got)
	}
}

// TestRealFootage checks the signals on real clips nobody here made.
func TestRealFootage(t *testing.T) {
	testclips.RequireFFmpeg(t)
	dir := "../../../shared/testdata/footage"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared footage absent (%v)", err)
	}
	type want struct {
		overlay bool
		fps     float64
		w, h    int
	}
	for name, w := range map[string]want{
		"pizza_4873105.mp4": {false, 8, 256, 170},
		"makeup.avi":        {false, 25, 256, 192},
		"armwrestling.mp4":  {false, 28, 256, 192},
		"overlay_boxes.mp4": {true, 6, 256, 192},
	} {
		t.Run(name, func(t *testing.T) {
			r := analyse(t, filepath.Join(dir, name), w.w, w.h, w.fps)
			s := r.Summarize(0, len(r.Frames))
			if (s.Overlay > 0.02) != w.overlay {
				t.Errorf("overlay score %.3f, want overlay=%v", s.Overlay, w.overlay)
			}
			if s.Subject < 0.5 {
				t.Errorf("people moving but subject motion %.2f", s.Subject)
			}
			if s.Sharpness < 100 || s.LumaMean < 40 || s.LumaMean > 215 {
				t.Errorf("exposure/sharpness out of range: %+v", s)
			}
			if name == "pizza_4873105.mp4" {
				if cuts := DetectCuts(r.Frames, 27, 4, 3); len(cuts) != 0 {
					t.Errorf("single-shot clip cut at %v", cuts)
				}
				if len(r.Frames) != 49 {
					t.Errorf("%d frames, want 49", len(r.Frames))
				}
			}
		})
	}
}

func TestAnalysisSize(t *testing.T) {
	for _, c := range []struct{ w, h, aw, ah int }{
		{1920, 1080, 256, 144}, {720, 480, 256, 170}, {1080, 1920, 144, 256}, {340, 256, 256, 192}, {100, 2, 256, 16},
	} {
		if aw, ah := AnalysisSize(c.w, c.h, 256); aw != c.aw || ah != c.ah {
			t.Errorf("%dx%d -> %dx%d, want %dx%d", c.w, c.h, aw, ah, c.aw, c.ah)
		}
	}
}

func analyse(t testing.TB, path string, w, h int, fps float64) *FileResult {
	t.Helper()
	r, err := AnalyzeFile(context.Background(), path, FileOptions{Width: w, Height: h, FPS: fps})
	if err != nil {
		t.Fatal(err)
	}
	if r.DecodeErr != nil {
		t.Fatal(r.DecodeErr)
	}
	return r
}
