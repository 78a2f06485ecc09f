package stage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"

	"realdpo/schemas"
	"realdpo/transforms/fsx"
	"realdpo/transforms/media"
)

// ClipID names a clip by what it is made of: the source's content hash, the
// profile's spec and the window start. A rerun, or a retried bundle, gives
// the same name, so outputs are overwritten in place and never duplicated.
func ClipID(sourceSHA256 string, p schemas.Profile, startS float64) string {
	key := fmt.Sprintf("%s|%s|%dx%d|%g|%d|%d", sourceSHA256, p.Name, p.Width, p.Height, p.FPS, p.Frames,
		int64(math.Round(startS*1000)))
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:10])
}

// NormaliseFilter is the ffmpeg filter chain that makes a profile clip:
// resample time first (cheapest), scale to cover the target, centre-crop to
// its aspect, square pixels.
func NormaliseFilter(p schemas.Profile) string {
	return media.FilterChain(normaliseSteps(p))
}

func normaliseSteps(p schemas.Profile) []media.FilterStep {
	w, h := strconv.Itoa(p.Width), strconv.Itoa(p.Height)
	return []media.FilterStep{
		{Name: "fps", Args: []string{strconv.FormatFloat(p.FPS, 'g', -1, 64)}},
		{Name: "scale", Args: []string{w, h}, Params: map[string]string{"force_original_aspect_ratio": "increase", "flags": "bicubic"}},
		{Name: "crop", Args: []string{w, h}},
		{Name: "setsar", Args: []string{"1"}},
	}
}

// MaxPadFrames is how many frames a window may come up short at the very end
// of a source (container durations round) before it counts as a failure.
const MaxPadFrames = 2

// NormaliseClip cuts the window starting at startS out of a local source and
// writes exactly the profile's frames as H.264 yuv420p mp4 with +faststart
// to clipPath, and the first frame as PNG to pngPath, each temp-then-rename.
// It returns how many final frames repeat the last decoded one.
func NormaliseClip(ctx context.Context, local string, startS float64, p schemas.Profile, clipPath, pngPath string, th schemas.Thresholds) (int, error) {
	return NormaliseClipVisit(ctx, local, startS, p, clipPath, pngPath, th, []int{0}, nil)
}

// NormaliseClipVisit is NormaliseClip that also shows visit the final
// frames listed in show (ascending indices; nil: every frame) as packed RGB24
// at the profile size (the buffer is reused), so fingerprints and keyframes
// come from the same decode.
func NormaliseClipVisit(ctx context.Context, local string, startS float64, p schemas.Profile, clipPath, pngPath string, th schemas.Thresholds, show []int, visit func(i int, rgb []byte) error) (int, error) {
	// The common case, a window well inside the source, is one ffmpeg:
	// decode, filter, encode, with the frames wanted here shown on the way.
	if show != nil && !slices.Contains(show, 0) {
		show = append([]int{0}, show...) // the first frame is the PNG
	}
	complete, err := media.Transcode(ctx, local, clipPath, media.TranscodeOptions{
		Start: startS, Frames: p.Frames, Show: show, Filters: normaliseSteps(p),
		Encode: clipEncodeOptions(p, th), DecodeThreads: th.FFmpegThreads, Timeout: th.DecodeTimeout + th.EncodeTimeout,
	}, func(i int, rgb []byte) error {
		if i == 0 {
			if err := writePNG(pngPath, rgb, p.Width, p.Height); err != nil {
				return err
			}
		}
		if visit != nil {
			return visit(i, rgb)
		}
		return nil
	})
	if err != nil {
		os.Remove(pngPath)
		return 0, fmt.Errorf("normalise %s at %.2fs: %w", local, startS, err)
	}
	if complete {
		return 0, nil
	}
	// The window runs off the end of the source: decode here and repeat the
	// last frame, which a single ffmpeg cannot report.
	return normaliseAndPad(ctx, local, startS, p, clipPath, pngPath, th, visit)
}

func clipEncodeOptions(p schemas.Profile, th schemas.Thresholds) media.EncodeOptions {
	return media.EncodeOptions{
		Width: p.Width, Height: p.Height, FPS: p.FPS, Codec: "libx264", CRF: 18, Preset: "veryfast",
		FastStart: true, Threads: th.FFmpegThreads, Timeout: th.EncodeTimeout,
	}
}

// normaliseAndPad is the two-process path: ffmpeg decodes into this process,
// which pads a short window and feeds a second ffmpeg that encodes.
func normaliseAndPad(ctx context.Context, local string, startS float64, p schemas.Profile, clipPath, pngPath string, th schemas.Thresholds, visit func(i int, rgb []byte) error) (int, error) {
	r, err := media.OpenFrames(ctx, local, media.DecodeOptions{
		Width: p.Width, Height: p.Height, Start: startS, MaxFrames: p.Frames,
		Format: media.RGB24, Filter: NormaliseFilter(p), Threads: th.FFmpegThreads, Timeout: th.DecodeTimeout,
	})
	if err != nil {
		return 0, fmt.Errorf("normalise %s: %w", local, err)
	}
	defer r.Close()
	enc, err := media.NewEncoder(ctx, clipPath, clipEncodeOptions(p, th))
	if err != nil {
		return 0, fmt.Errorf("normalise %s: %w", local, err)
	}
	buf := make([]byte, r.FrameSize())
	got := 0
	for got < p.Frames {
		err := r.Next(buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			enc.Abort()
			return 0, fmt.Errorf("normalise %s at %.2fs: %w", local, startS, err)
		}
		if got == 0 {
			if err := writePNG(pngPath, buf, p.Width, p.Height); err != nil {
				enc.Abort()
				return 0, err
			}
		}
		if err := enc.WriteFrame(buf); err != nil {
			enc.Abort()
			return 0, err
		}
		if visit != nil {
			if err := visit(got, buf); err != nil {
				enc.Abort()
				return 0, err
			}
		}
		got++
	}
	padded := p.Frames - got
	if padded > 0 {
		slog.Warn("normalise: window ran short, repeating the last frame", "source", local, "start_s", startS,
			"frames", got, "want", p.Frames, "ffmpeg", r.Warnings())
	}
	if got == 0 || padded > MaxPadFrames {
		enc.Abort()
		os.Remove(pngPath)
		return 0, fmt.Errorf("normalise %s at %.2fs: only %d of %d frames decode", local, startS, got, p.Frames)
	}
	for i := 0; i < padded; i++ {
		if err := enc.WriteFrame(buf); err != nil {
			enc.Abort()
			return 0, err
		}
		if visit != nil {
			if err := visit(got+i, buf); err != nil {
				enc.Abort()
				return 0, err
			}
		}
	}
	if err := enc.Close(); err != nil {
		os.Remove(pngPath)
		return 0, err
	}
	return padded, nil
}

// writePNG writes packed RGB24 as a PNG, temp-then-rename. Every failure is
// the output's (media.ErrWrite).
func writePNG(path string, rgb []byte, w, h int) error {
	if err := writePNGFile(path, rgb, w, h); err != nil {
		return fmt.Errorf("write %s: %w: %w", path, media.ErrWrite, err)
	}
	return nil
}

func writePNGFile(path string, rgb []byte, w, h int) error {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, j := 0, 0; i < w*h*3; i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = rgb[i], rgb[i+1], rgb[i+2], 255
	}
	// Fastest deflate: the first frame is written for every clip and read
	// once; the bytes saved by harder compression are few.
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return err
	}
	return fsx.WriteFile(context.Background(), path, buf.Bytes())
}
