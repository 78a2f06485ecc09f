package media

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pngBomb is a small PNG (a few hundred KB) that declares a w x h RGB
// picture of zeros: decoding it takes w*h*3 bytes and more.
func pngBomb(t *testing.T, w, h int) []byte {
	t.Helper()
	chunk := func(b *bytes.Buffer, typ string, data []byte) {
		binary.Write(b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := make([]byte, 1+w*3)
	for y := 0; y < h; y++ {
		zw.Write(row)
	}
	zw.Close()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	hdr := make([]byte, 13)
	binary.BigEndian.PutUint32(hdr, uint32(w))
	binary.BigEndian.PutUint32(hdr[4:], uint32(h))
	hdr[8], hdr[9] = 8, 2
	chunk(&b, "IHDR", hdr)
	chunk(&b, "IDAT", idat.Bytes())
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

// TestOnlyVideoContainersAreOpened: files named .mp4 that are not video
// containers (an HLS playlist naming a real video elsewhere, one with no
// end marker, a concat list, a PNG) are refused by the probe and by the
// decoder, quickly, whether read as footage or as one of realdpo's clips,
// and a playlist's target is never decoded (nor waited on: an open
// playlist would stall until the deadline killed the decoder).
func TestOnlyVideoContainersAreOpened(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside.mp4")
	encodeTestVideo(t, outside, EncodeOptions{Width: 64, Height: 48, FPS: 8}, 17)
	files := map[string]string{
		"playlist.mp4": "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.1,\n" + outside + "\n#EXT-X-ENDLIST\n",
		"endless.mp4":  "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.1,\n" + outside + "\n",
		"concat.mp4":   "ffconcat version 1.0\nfile '" + outside + "'\n",
	}
	for name, body := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "image.mp4"), pngBomb(t, 64, 48), 0o644)
	ctx := context.Background()
	for _, name := range []string{"playlist.mp4", "endless.mp4", "concat.mp4", "image.mp4"} {
		for _, formats := range []string{ClipFormats, FootageFormats} {
			// Refused, not stalled until the deadline kills it.
			p := filepath.Join(dir, name)
			if info, err := ProbeFormats(ctx, p, time.Minute, formats); err == nil || errors.Is(err, ErrTimeout) {
				t.Errorf("%s (%s): probed as %+v (%v)", name, formats, info, err)
			}
			frames, err := ReadFrames(ctx, p, DecodeOptions{Width: 64, Height: 48, Format: RGB24, Timeout: time.Minute, Formats: formats})
			if err == nil || len(frames) > 0 || errors.Is(err, ErrTimeout) {
				t.Errorf("%s (%s): decoded %d frames (%v)", name, formats, len(frames), err)
			}
		}
	}
	// The real file still reads both ways.
	if _, err := ProbeFormats(ctx, outside, 0, ClipFormats); err != nil {
		t.Fatal(err)
	}
}

const bombChildEnv = "REALDPO_MEDIA_BOMB_CHILD"

// TestProbeMemoryBounded: a 750 KB PNG named .mp4 that declares a
// 16000x16000 picture made ffprobe take 800 MB. Probed in a child process
// (so the child's peak memory, its ffprobe included, can be read back),
// it is refused within a small fraction of that.
func TestProbeMemoryBounded(t *testing.T) {
	requireFFmpeg(t)
	if p := os.Getenv(bombChildEnv); p != "" {
		_, err := Probe(context.Background(), p, time.Minute)
		if err == nil {
			os.Exit(3)
		}
		os.Exit(0)
	}
	bomb := filepath.Join(t.TempDir(), "bomb.mp4")
	os.WriteFile(bomb, pngBomb(t, 16000, 16000), 0o644)
	child := exec.Command(os.Args[0], "-test.run=^TestProbeMemoryBounded$")
	child.Env = append(os.Environ(), bombChildEnv+"="+bomb)
	out, err := child.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	ru := child.ProcessState.SysUsage().(*syscall.Rusage)
	peakMB := ru.Maxrss / 1024
	t.Logf("probing the PNG bomb peaked at %d MB (child and its ffprobe)", peakMB)
	if peakMB > 250 {
		t.Errorf("probing a 750 KB file took %d MB", peakMB)
	}
}

// TestProbesAreBounded: however many probes are asked for at once, at most
// MaxProbes ffprobes run.
func TestProbesAreBounded(t *testing.T) {
	requireFFmpeg(t)
	p := filepath.Join(t.TempDir(), "v.mp4")
	encodeTestVideo(t, p, EncodeOptions{Width: 64, Height: 48, FPS: 8}, 9)
	probesPeak.Store(0)
	var wg sync.WaitGroup
	errs := make(chan error, 4*MaxProbes)
	for i := 0; i < 4*MaxProbes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Probe(context.Background(), p, time.Minute); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if peak := probesPeak.Load(); peak > int64(MaxProbes) || peak < 1 {
		t.Errorf("%d probes ran at once, bound %d", peak, MaxProbes)
	}
	if !strings.Contains(strings.Join(globalArgs(), " "), "-max_alloc") {
		t.Error("ffmpeg runs without an allocation cap")
	}
}
