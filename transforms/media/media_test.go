package media

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func requireFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (run `make deps`): %v", tool, err)
		}
	}
}

// gradientFrame draws a frame whose content moves with i, so encoders and
// decoders see real motion.
func gradientFrame(buf []byte, w, h, i int) {
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := (y*w + x) * 3
			buf[o] = byte(x*4 + i*8)
			buf[o+1] = byte(y * 4)
			buf[o+2] = byte(128)
		}
	}
}

func encodeTestVideo(t *testing.T, path string, o EncodeOptions, frames int) {
	t.Helper()
	enc, err := NewEncoder(context.Background(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, o.Width*o.Height*3)
	for i := 0; i < frames; i++ {
		gradientFrame(buf, o.Width, o.Height, i)
		if err := enc.WriteFrame(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeProbeDecodeRoundTrip(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	cases := []struct {
		name, codec, wantCodec string
	}{
		{"a.mp4", "libx264", "h264"},
		{"b.mkv", "libx264", "h264"},
		{"c.webm", "libvpx-vp9", "vp9"},
		{"d.avi", "mpeg4", "mpeg4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			encodeTestVideo(t, path, EncodeOptions{Width: 64, Height: 48, FPS: 12, Codec: c.codec, FastStart: true}, 24)
			info, err := Probe(context.Background(), path, 0)
			if err != nil {
				t.Fatal(err)
			}
			if info.Codec != c.wantCodec || info.Width != 64 || info.Height != 48 {
				t.Fatalf("probe = %+v, want %s 64x48", info, c.wantCodec)
			}
			if info.FPS < 11.9 || info.FPS > 12.1 {
				t.Errorf("fps = %g, want 12", info.FPS)
			}
			if info.Duration < 1.9 || info.Duration > 2.2 {
				t.Errorf("duration = %g, want about 2", info.Duration)
			}
			r, err := OpenFrames(context.Background(), path, DecodeOptions{Width: 32, Height: 24, Format: Gray})
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, r.FrameSize())
			n := 0
			for {
				err := r.Next(buf)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 24 {
				t.Errorf("decoded %d frames, want 24", n)
			}
			if w := r.Warnings(); w != "" {
				t.Errorf("clean file gave decode warnings: %s", w)
			}
		})
	}
	// Temp files never remain beside the outputs.
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(cases) {
		t.Errorf("dir holds %d entries, want %d (temp files left?)", len(entries), len(cases))
	}
}

func TestHostileNamesAreJustFiles(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	for _, name := range []string{"-i", "concat:a.mp4|b.mp4", "http:x.mp4", "$(touch pwned).mp4", "a b;c.mp4"} {
		path := filepath.Join(dir, name)
		encodeTestVideo(t, path+".mp4", EncodeOptions{Width: 32, Height: 32, FPS: 10}, 5)
		if err := os.Rename(path+".mp4", path); err != nil {
			t.Fatal(err)
		}
		info, err := Probe(context.Background(), path, 0)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if info.Width != 32 {
			t.Errorf("%q: probed %+v", name, info)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("a file name was run by a shell")
	}
}

func TestProbeRejectsBadFiles(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.mp4")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Probe(context.Background(), empty, 0); !errors.Is(err, ErrEmptyFile) {
		t.Errorf("empty: %v, want ErrEmptyFile", err)
	}
	html := filepath.Join(dir, "page.mp4")
	os.WriteFile(html, []byte("<html><body>404 Not Found</body></html>\n"), 0o644)
	if _, err := Probe(context.Background(), html, 0); !errors.Is(err, ErrNotVideo) {
		t.Errorf("html: %v, want ErrNotVideo", err)
	}
	// An mp4 cut short loses its index (written at the end): unreadable.
	full := filepath.Join(dir, "full.mp4")
	encodeTestVideo(t, full, EncodeOptions{Width: 64, Height: 48, FPS: 10}, 30)
	data, _ := os.ReadFile(full)
	cut := filepath.Join(dir, "cut.mp4")
	os.WriteFile(cut, data[:len(data)/2], 0o644)
	if _, err := Probe(context.Background(), cut, 0); !errors.Is(err, ErrNotVideo) {
		t.Errorf("truncated: %v, want ErrNotVideo", err)
	}
}

func TestDecodeTimeoutKillsFFmpeg(t *testing.T) {
	requireFFmpeg(t)
	// A FIFO nobody writes to makes ffmpeg block forever on open.
	fifo := filepath.Join(t.TempDir(), "stuck.mp4")
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Skipf("mkfifo unavailable: %v", err)
	}
	start := time.Now()
	r, err := OpenFrames(context.Background(), fifo, DecodeOptions{Width: 8, Height: 8, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Next(make([]byte, r.FrameSize()))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestEncoderAbortLeavesNothing(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	enc, err := NewEncoder(context.Background(), filepath.Join(dir, "x.mp4"), EncodeOptions{Width: 16, Height: 16, FPS: 5})
	if err != nil {
		t.Fatal(err)
	}
	enc.WriteFrame(make([]byte, 16*16*3))
	enc.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("abort left %d files", len(entries))
	}
	if err := enc.WriteFrame(make([]byte, 10)); err == nil {
		t.Fatal("short frame accepted")
	}
}

// TestSkipLoopFilterReachesTheDecoder decodes a heavily compressed H.264
// clip with and without deblocking: the frames must differ (the option
// reached the decoder) yet stay close (only block edges move).
func TestSkipLoopFilterReachesTheDecoder(t *testing.T) {
	requireFFmpeg(t)
	src := filepath.Join(t.TempDir(), "blocky.mp4")
	encodeTestVideo(t, src, EncodeOptions{Width: 128, Height: 96, FPS: 24, Codec: "libx264", CRF: 45}, 24)
	o := DecodeOptions{Width: 128, Height: 96}
	plain, err := ReadFrames(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	o.SkipLoopFilter = true
	skipped, err := ReadFrames(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != 24 || len(skipped) != 24 {
		t.Fatalf("decoded %d and %d frames, want 24 each", len(plain), len(skipped))
	}
	var diff float64
	for i := range plain {
		diff += meanAbsDiff(plain[i], skipped[i]) / float64(len(plain))
	}
	if diff == 0 || diff > 8 {
		t.Errorf("mean absolute change without deblocking %.3f, want small but above 0", diff)
	}
}

// TestSkipNonRefKeepsEveryHalfRateFrame decodes an x264 clip (its default
// B frames, a moving gradient) with non-reference frames skipped: at the
// source's own rate the gaps show as repeated frames (the option reached
// the decoder), and resampled to half the rate every frame is still a new
// one, the same count as a full decode, each close to the full decode's.
func TestSkipNonRefKeepsEveryHalfRateFrame(t *testing.T) {
	requireFFmpeg(t)
	src := filepath.Join(t.TempDir(), "bframes.mp4")
	encodeTestVideo(t, src, EncodeOptions{Width: 128, Height: 96, FPS: 24, Codec: "libx264", CRF: 23}, 48)
	repeats := func(frames [][]byte) int {
		n := 0
		for i := 1; i < len(frames); i++ {
			if meanAbsDiff(frames[i-1], frames[i]) == 0 {
				n++
			}
		}
		return n
	}
	full, err := ReadFrames(context.Background(), src, DecodeOptions{Width: 128, Height: 96})
	if err != nil {
		t.Fatal(err)
	}
	skipped, err := ReadFrames(context.Background(), src, DecodeOptions{Width: 128, Height: 96, SkipNonRef: true})
	if err != nil {
		t.Fatal(err)
	}
	if repeats(full) != 0 || repeats(skipped) == 0 {
		t.Fatalf("at 24 fps: %d repeated frames decoding all, %d skipping non-reference frames; want 0 and some", repeats(full), repeats(skipped))
	}
	half := DecodeOptions{Width: 128, Height: 96, FPS: 12}
	fullHalf, err := ReadFrames(context.Background(), src, half)
	if err != nil {
		t.Fatal(err)
	}
	half.SkipNonRef = true
	skippedHalf, err := ReadFrames(context.Background(), src, half)
	if err != nil {
		t.Fatal(err)
	}
	if len(skippedHalf) != len(fullHalf) || len(fullHalf) != 24 || repeats(skippedHalf) != 0 {
		t.Fatalf("at 12 fps: %d frames decoding all, %d (%d repeated) skipping; want 24 each, none repeated",
			len(fullHalf), len(skippedHalf), repeats(skippedHalf))
	}
	for i := range fullHalf {
		if d := meanAbsDiff(fullHalf[i], skippedHalf[i]); d > 12 {
			t.Errorf("frame %d: %.1f from the full decode's, want a frame of the same moment", i, d)
		}
	}
}
