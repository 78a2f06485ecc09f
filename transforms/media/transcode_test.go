package media

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestTranscodeEncodesAndShowsTheSameFrames(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	// 4 s at 25 fps, 160x120: a window of 9 frames at 5 fps from 1 s fits.
	encodeTestVideo(t, src, EncodeOptions{Width: 160, Height: 120, FPS: 25, CRF: 10}, 100)
	opts := TranscodeOptions{
		Start: 1, Frames: 9,
		Filters: []FilterStep{
			{Name: "fps", Args: []string{"5"}},
			{Name: "scale", Args: []string{"96", "64"}, Params: map[string]string{"force_original_aspect_ratio": "increase", "flags": "bicubic"}},
			{Name: "crop", Args: []string{"96", "64"}},
			{Name: "setsar", Args: []string{"1"}},
		},
		Encode: EncodeOptions{Width: 96, Height: 64, FPS: 5, CRF: 10, FastStart: true},
	}
	dst := filepath.Join(dir, "out", "clip.mp4")
	var seen [][]byte
	complete, err := Transcode(context.Background(), src, dst, opts, func(i int, rgb []byte) error {
		if i != len(seen) {
			t.Errorf("frame %d shown as %d", len(seen), i)
		}
		seen = append(seen, bytes.Clone(rgb))
		return nil
	})
	if err != nil || !complete || len(seen) != 9 {
		t.Fatalf("transcode: complete %v, %d seen, %v", complete, len(seen), err)
	}
	info, err := Probe(context.Background(), dst, 0)
	if err != nil || info.Width != 96 || info.Height != 64 || info.Codec != "h264" {
		t.Fatalf("probe %s: %+v %v", dst, info, err)
	}
	back, err := ReadFrames(context.Background(), dst, DecodeOptions{Width: 96, Height: 64})
	if err != nil || len(back) != 9 {
		t.Fatalf("clip decodes to %d frames: %v", len(back), err)
	}
	// The shown frames are the encoded ones (up to the CRF 10 loss), in order.
	for i := range back {
		if d := meanAbsDiff(back[i], seen[i]); d > 4 {
			t.Errorf("frame %d: shown and encoded differ by %.1f a byte", i, d)
		}
		if i > 0 && meanAbsDiff(seen[i], seen[i-1]) < 0.5 {
			t.Errorf("frame %d repeats frame %d: the window does not move", i, i-1)
		}
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, "out", ".*tmp*"))
	if len(tmp) > 0 {
		t.Errorf("temp files left: %v", tmp)
	}

	// Shown frames only: the same bytes as in the full run, at their indices.
	opts.Show = []int{0, 3, 4}
	dst2 := filepath.Join(dir, "out", "clip2.mp4")
	var got []int
	complete, err = Transcode(context.Background(), src, dst2, opts, func(i int, rgb []byte) error {
		got = append(got, i)
		if d := meanAbsDiff(rgb, seen[i]); d > 0 {
			t.Errorf("shown frame %d differs from the full run's by %.2f a byte", i, d)
		}
		return nil
	})
	if err != nil || !complete || len(got) != 3 || got[0] != 0 || got[1] != 3 || got[2] != 4 {
		t.Fatalf("transcode showing %v: complete %v, shown %v, %v", opts.Show, complete, got, err)
	}
	if back, err := ReadFrames(context.Background(), dst2, DecodeOptions{Width: 96, Height: 64}); err != nil || len(back) != 9 {
		t.Fatalf("clip with shown frames decodes to %d frames: %v", len(back), err)
	}
	opts.Show = []int{4, 3}
	if _, err := Transcode(context.Background(), src, dst2, opts, nil); err == nil {
		t.Error("frames to show out of order accepted")
	}
}

func TestTranscodeShortSourceWritesNothing(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	encodeTestVideo(t, src, EncodeOptions{Width: 64, Height: 48, FPS: 10}, 20) // 2 s
	dst := filepath.Join(dir, "clip.mp4")
	for _, show := range [][]int{nil, {0, 5}} {
		shown := 0
		complete, err := Transcode(context.Background(), src, dst, TranscodeOptions{
			Start: 1, Frames: 20, Show: show, Filters: []FilterStep{{Name: "setsar", Args: []string{"1"}}},
			Encode: EncodeOptions{Width: 64, Height: 48, FPS: 10},
		}, func(int, []byte) error { shown++; return nil })
		if err != nil || complete {
			t.Fatalf("short window showing %v: complete %v, %v (want incomplete, no error)", show, complete, err)
		}
		if want := map[bool]int{true: 2, false: 10}[show != nil]; shown < want-1 || shown > want {
			t.Errorf("short window showing %v: %d frames shown", show, shown)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*clip*"))
	if len(left) > 0 {
		t.Errorf("a short window left files: %v", left)
	}
}

func TestTranscodeBadInput(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "-i")
	if err := os.WriteFile(src, []byte("not a video at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "clip.mp4")
	_, err := Transcode(context.Background(), src, dst, TranscodeOptions{
		Frames: 5, Filters: []FilterStep{{Name: "setsar", Args: []string{"1"}}},
		Encode: EncodeOptions{Width: 64, Height: 48, FPS: 10},
	}, nil)
	if err == nil {
		t.Fatal("garbage transcoded")
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*clip*"))
	if len(left) > 0 {
		t.Errorf("a failed transcode left files: %v", left)
	}
}

func meanAbsDiff(a, b []byte) float64 {
	var s int
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return float64(s) / float64(len(a))
}

func TestFilterChainSyntax(t *testing.T) {
	got := FilterChain([]FilterStep{
		{Name: "fps", Args: []string{"8"}},
		{Name: "scale", Args: []string{"720", "480"}, Params: map[string]string{"flags": "bicubic", "force_original_aspect_ratio": "increase"}},
		{Name: "setsar", Args: []string{"1"}},
	})
	want := "fps=8,scale=720:480:flags=bicubic:force_original_aspect_ratio=increase,setsar=1"
	if got != want {
		t.Errorf("chain %q, want %q", got, want)
	}
}
