package synth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"realdpo/schemas"
	"realdpo/transforms/media"
)

// testCorpus is small enough for CI yet deals every defect kind at least once.
func testCorpus(dir string, seed uint64) Config {
	return Config{Output: dir, Count: 26, Seed: seed, DefectShare: 0.7, Sizes: []Size{{320, 180}, {256, 144}},
		MinSeconds: 3, MaxSeconds: 8, FPS: []float64{24, 25, 30}}
}

var corpusCache = map[uint64][]schemas.GroundTruth{}
var corpusDir = map[uint64]string{}

func corpus(t *testing.T, seed uint64) (string, []schemas.GroundTruth) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (make deps installs it): %v", tool, err)
		}
	}
	if gt, ok := corpusCache[seed]; ok {
		return corpusDir[seed], gt
	}
	dir, err := os.MkdirTemp("", "synth-test-")
	if err != nil {
		t.Fatal(err)
	}
	gt, err := Generate(context.Background(), testCorpus(dir, seed))
	if err != nil {
		t.Fatal(err)
	}
	corpusCache[seed], corpusDir[seed] = gt, dir
	return dir, gt
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range corpusDir {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func TestCorpusCoversEveryDefect(t *testing.T) {
	_, truth := corpus(t, 11)
	seen := map[string]int{}
	for _, gt := range truth {
		for _, d := range gt.Defects {
			seen[d]++
		}
	}
	for _, d := range AllDefects {
		if seen[d] == 0 {
			t.Errorf("defect %s never injected in a 26-file corpus", d)
		}
	}
}

func TestGroundTruthMatchesFFprobe(t *testing.T) {
	dir, truth := corpus(t, 11)
	for _, gt := range truth {
		if has(gt, schemas.DefectZeroByte) || has(gt, schemas.DefectNotVideo) || has(gt, schemas.DefectTruncated) {
			continue
		}
		info, err := media.Probe(context.Background(), filepath.Join(dir, gt.File), 0)
		if err != nil {
			t.Errorf("%s: %v", gt.File, err)
			continue
		}
		if info.Width != gt.Width || info.Height != gt.Height {
			t.Errorf("%s: ffprobe %dx%d, ground truth %dx%d", gt.File, info.Width, info.Height, gt.Width, gt.Height)
		}
		if math.Abs(info.FPS-gt.FPS) > 0.01 {
			t.Errorf("%s: ffprobe %g fps, ground truth %g", gt.File, info.FPS, gt.FPS)
		}
		if math.Abs(info.Duration-gt.DurationS) > 1.5/gt.FPS+0.05 {
			t.Errorf("%s: ffprobe %.3fs, ground truth %.3fs", gt.File, info.Duration, gt.DurationS)
		}
		if info.Codec != gt.Codec {
			t.Errorf("%s: ffprobe codec %s, ground truth %s", gt.File, info.Codec, gt.Codec)
		}
		if n := countFrames(t, filepath.Join(dir, gt.File)); n != gt.Frames {
			t.Errorf("%s: decoded %d frames, ground truth %d", gt.File, n, gt.Frames)
		}
	}
}

func has(gt schemas.GroundTruth, d string) bool {
	for _, x := range gt.Defects {
		if x == d {
			return true
		}
	}
	return false
}

func countFrames(t *testing.T, path string) int {
	t.Helper()
	n := 0
	eachFrame(t, path, 16, 16, func(int, []byte) { n++ })
	return n
}

// eachFrame decodes grey frames at w x h.
func eachFrame(t *testing.T, path string, w, h int, fn func(i int, px []byte)) error {
	t.Helper()
	r, err := media.OpenFrames(context.Background(), path, media.DecodeOptions{Width: w, Height: h, Format: media.Gray})
	if err != nil {
		return err
	}
	defer r.Close()
	buf := make([]byte, r.FrameSize())
	for i := 0; ; i++ {
		err := r.Next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(i, buf)
	}
}

// frameStats decodes a file and returns per-frame mean luma, the mean
// absolute difference to the previous frame, and a sharpness figure.
func frameStats(t *testing.T, path string, w, h int) (means, diffs, sharp []float64) {
	t.Helper()
	prev := make([]byte, w*h)
	err := eachFrame(t, path, w, h, func(i int, px []byte) {
		var sum, d, lap float64
		for k, p := range px {
			sum += float64(p)
			d += math.Abs(float64(p) - float64(prev[k]))
			x, y := k%w, k/w
			if x > 0 && x < w-1 && y > 0 && y < h-1 {
				l := 4*float64(p) - float64(px[k-1]) - float64(px[k+1]) - float64(px[k-w]) - float64(px[k+w])
				lap += l * l
			}
		}
		n := float64(len(px))
		means = append(means, sum/n)
		if i > 0 {
			diffs = append(diffs, d/n)
		}
		sharp = append(sharp, lap/n)
		copy(prev, px)
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / math.Max(1, float64(len(xs)))
}

func median(xs []float64) float64 {
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	return c[len(c)/2]
}

func TestDefectsAreReallyThere(t *testing.T) {
	dir, truth := corpus(t, 11)
	// Reference figures from clean files of the same corpus.
	var cleanMotion, cleanSharp, cleanLuma []float64
	for _, gt := range truth {
		if len(gt.Defects) == 0 && (gt.Camera == camStatic || gt.Camera == camHandheld) {
			m, d, s := frameStats(t, filepath.Join(dir, gt.File), 160, 90)
			cleanMotion, cleanSharp, cleanLuma = append(cleanMotion, mean(d)), append(cleanSharp, mean(s)), append(cleanLuma, mean(m))
		}
	}
	if len(cleanMotion) == 0 {
		t.Fatal("no clean static or hand-held files to compare against")
	}
	motionRef, sharpRef := median(cleanMotion), median(cleanSharp)
	t.Logf("clean static/hand-held references: motion %.3f, sharpness %.1f, luma %v", motionRef, sharpRef, cleanLuma)
	for _, gt := range truth {
		path := filepath.Join(dir, gt.File)
		for _, d := range gt.Defects {
			switch d {
			case schemas.DefectZeroByte:
				if st, err := os.Stat(path); err != nil || st.Size() != 0 {
					t.Errorf("%s: zero-byte file is %v bytes (%v)", gt.File, st.Size(), err)
				}
			case schemas.DefectNotVideo:
				if _, err := media.Probe(context.Background(), path, 0); !errors.Is(err, media.ErrNotVideo) {
					t.Errorf("%s: non-video probed as %v", gt.File, err)
				}
			case schemas.DefectTruncated:
				_, perr := media.Probe(context.Background(), path, 0)
				n := 0
				derr := eachFrame(t, path, 16, 16, func(int, []byte) { n++ })
				r, _ := media.OpenFrames(context.Background(), path, media.DecodeOptions{Width: 16, Height: 16})
				buf := make([]byte, r.FrameSize())
				for r.Next(buf) == nil {
				}
				warn := r.Warnings()
				r.Close()
				// Cut files either lose their index (unprobeable), fail to
				// decode, or decode with errors and short of their frames.
				if perr == nil && derr == nil && (n >= gt.Frames || warn == "") {
					t.Errorf("%s: truncated file decodes cleanly (%d of %d frames)", gt.File, n, gt.Frames)
				}
			case schemas.DefectPortrait:
				if gt.Height <= gt.Width {
					t.Errorf("%s: portrait is %dx%d", gt.File, gt.Width, gt.Height)
				}
			case schemas.DefectTooSmall:
				if min(gt.Width, gt.Height) > 144 {
					t.Errorf("%s: too small is %dx%d", gt.File, gt.Width, gt.Height)
				}
			case schemas.DefectTooShort:
				if gt.DurationS > 1.6 {
					t.Errorf("%s: too short lasts %.2fs", gt.File, gt.DurationS)
				}
			case schemas.DefectStatic:
				_, diffs, _ := frameStats(t, path, 160, 90)
				if m := mean(diffs); m > 0.25*motionRef || m > 0.02 {
					t.Errorf("%s: static file has frame difference %.3f (clean %.3f)", gt.File, m, motionRef)
				}
			case schemas.DefectDark:
				m, _, _ := frameStats(t, path, 160, 90)
				if mean(m) > 30 {
					t.Errorf("%s: dark file has mean luma %.1f", gt.File, mean(m))
				}
			case schemas.DefectWashedOut:
				m, _, _ := frameStats(t, path, 160, 90)
				if mean(m) < 190 {
					t.Errorf("%s: washed-out file has mean luma %.1f", gt.File, mean(m))
				}
			case schemas.DefectBlur:
				_, _, s := frameStats(t, path, 160, 90)
				if mean(s) > 0.25*sharpRef {
					t.Errorf("%s: blurred file has sharpness %.1f (clean %.1f)", gt.File, mean(s), sharpRef)
				}
			case schemas.DefectSceneCuts:
				_, diffs, _ := frameStats(t, path, 160, 90)
				med := median(diffs)
				for _, cut := range gt.CutFrames {
					// diffs[i-1] is the change from frame i-1 to frame i.
					jump := diffs[cut-1]
					if jump < 4*med+3 {
						t.Errorf("%s: no jump at cut frame %d (%.2f vs median %.2f)", gt.File, cut, jump, med)
					}
				}
			case schemas.DefectExactDup:
				a, _ := os.ReadFile(path)
				b, _ := os.ReadFile(filepath.Join(dir, gt.DuplicateOf))
				if !bytes.Equal(a, b) {
					t.Errorf("%s: exact duplicate differs from %s", gt.File, gt.DuplicateOf)
				}
			case schemas.DefectNearDup:
				a, b := firstFrame(t, path), firstFrame(t, filepath.Join(dir, gt.DuplicateOf))
				var d float64
				for i := range a {
					d += math.Abs(float64(a[i]) - float64(b[i]))
				}
				if d /= float64(len(a)); d > 12 {
					t.Errorf("%s: near duplicate differs from %s by %.1f per pixel", gt.File, gt.DuplicateOf, d)
				}
			case schemas.DefectReencode:
				// The copy's first frame is its original's frame at OffsetS,
				// at three quarters of its size, in VP9.
				var orig schemas.GroundTruth
				for _, o := range truth {
					if o.File == gt.DuplicateOf {
						orig = o
					}
				}
				skip := int(math.Round(gt.OffsetS * orig.FPS))
				if gt.Codec != "vp9" || gt.Width != orig.Width*3/4&^1 || skip < 1 || gt.Frames != orig.Frames-skip {
					t.Errorf("%s: re-encode of %s is %s %dx%d, %d frames from frame %d; original %dx%d, %d frames",
						gt.File, orig.File, gt.Codec, gt.Width, gt.Height, gt.Frames, skip, orig.Width, orig.Height, orig.Frames)
				}
				a := firstFrame(t, path)
				var b []byte
				eachFrame(t, filepath.Join(dir, gt.DuplicateOf), 64, 36, func(i int, px []byte) {
					if i == skip {
						b = append([]byte(nil), px...)
					}
				})
				var d float64
				for i := range a {
					d += math.Abs(float64(a[i]) - float64(b[i]))
				}
				if d /= float64(len(a)); len(b) == 0 || d > 12 {
					t.Errorf("%s: re-encode differs from %s at %.2f s by %.1f per pixel", gt.File, gt.DuplicateOf, gt.OffsetS, d)
				}
			case schemas.DefectShaky:
				_, diffs, _ := frameStats(t, path, 160, 90)
				if mean(diffs) < 1.5*motionRef {
					t.Errorf("%s: shaky file moves %.2f per frame, clean static %.2f", gt.File, mean(diffs), motionRef)
				}
			case schemas.DefectOffTopic:
				if gt.People != 0 || gt.Category != "" {
					t.Errorf("%s: off-topic footage has people %d category %q", gt.File, gt.People, gt.Category)
				}
			}
		}
	}
}

func firstFrame(t *testing.T, path string) []byte {
	var out []byte
	eachFrame(t, path, 64, 36, func(i int, px []byte) {
		if i == 0 {
			out = append([]byte(nil), px...)
		}
	})
	return out
}

func TestSameSeedSameGroundTruth(t *testing.T) {
	_, a := corpus(t, 11)
	// A second corpus from the same seed, rendered again from scratch: the
	// frame hashes in the ground truth prove byte-identical frames.
	dir := t.TempDir()
	cfg := testCorpus(dir, 11)
	cfg.Workers = 1 // a different schedule must not change anything
	b, err := Generate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		for i := range a {
			if !reflect.DeepEqual(a[i], b[i]) {
				t.Fatalf("ground truth differs at %s:\n%+v\n%+v", a[i].File, a[i], b[i])
			}
		}
		t.Fatal("ground truth differs")
	}
	other, err := Generate(context.Background(), Config{Output: t.TempDir(), Count: 3, Seed: 12, Sizes: []Size{{64, 36}}, MinSeconds: 1, MaxSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if other[0].FramesSHA256 == a[0].FramesSHA256 {
		t.Error("a different seed rendered the same frames")
	}
}

func TestExpectedOutcomes(t *testing.T) {
	_, truth := corpus(t, 11)
	for _, gt := range truth {
		for _, p := range Profiles {
			o, ok := gt.Expected[p.Name]
			if !ok {
				t.Fatalf("%s: no expectation for profile %s", gt.File, p.Name)
			}
			if len(gt.Defects) > 0 && gt.Defects[0] != schemas.DefectSceneCuts && o.Accept {
				t.Errorf("%s: defect %v expected to be accepted under %s", gt.File, gt.Defects, p.Name)
			}
			if !o.Accept && o.Reason == "" {
				t.Errorf("%s: rejection without a reason under %s", gt.File, p.Name)
			}
		}
		if len(gt.Defects) == 0 && gt.DurationS > 6.125+trimAllowance && !gt.Expected["realaction"].Accept {
			t.Errorf("%s: clean %.1fs file rejected: %+v", gt.File, gt.DurationS, gt.Expected["realaction"])
		}
	}
}

func TestSidecarsAndCaptions(t *testing.T) {
	dir, truth := corpus(t, 11)
	txt := 0
	for _, gt := range truth {
		side, err := os.ReadFile(filepath.Join(dir, gt.Sidecar))
		if err != nil || !bytes.Contains(side, []byte(`"title"`)) {
			t.Errorf("%s: sidecar missing or without title: %v", gt.File, err)
		}
		if gt.CaptionTxt != "" {
			txt++
			c, err := os.ReadFile(filepath.Join(dir, gt.CaptionTxt))
			if err != nil {
				t.Fatal(err)
			}
			if words := len(bytes.Fields(c)); words < 45 || words > 185 {
				t.Errorf("%s: caption has %d words, RealAction captions run 45-185", gt.CaptionTxt, words)
			}
		}
	}
	if txt == 0 {
		t.Error("no caption sidecars written")
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{Count: 1},
		{Output: "x", Count: 0},
		{Output: "x", Count: 1, DefectShare: 1.5},
		{Output: "x", Count: 1, Defects: []string{"sparkles"}},
		{Output: "x", Count: 1, Sizes: []Size{{321, 180}}},
	}
	for _, c := range bad {
		if _, err := Generate(context.Background(), c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestContactSheet(t *testing.T) {
	dir := t.TempDir()
	_, err := Generate(context.Background(), Config{Output: dir, Count: 3, Seed: 5, Sizes: []Size{{96, 64}}, MinSeconds: 1, MaxSeconds: 2, ContactSheet: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, ContactSheetFile))
	if err != nil || st.Size() < 1000 {
		t.Fatalf("contact sheet: %v", err)
	}
}
