package generate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"realdpo/model"
	"realdpo/transforms/media"
)

// MaxClipFrames bounds the frames DecodeClip reads from one clip: pair
// clips are a few seconds long, so more means a wrong or hostile file.
const MaxClipFrames = 4096

// DecodeClip is the inverse of Local.Generate: an encoded clip (mp4 bytes,
// as pair shards hold them) becomes RGB24 frames at the model's size and
// length. Frames are scaled with ffmpeg's area filter and the clip is
// resampled in time over its whole span (ResampleTime), so a 17-frame demo
// clip gives back exactly its even frames, which for a generated clip are
// the model's own 9. The bytes go through a temporary file in dir because
// an mp4 with its index at the end cannot be decoded from a pipe.
func DecodeClip(ctx context.Context, dir string, data []byte, cfg model.Config) ([][]byte, error) {
	if len(data) == 0 {
		return nil, errors.New("decode clip: empty")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "clip-*.mp4")
	if err != nil {
		return nil, err
	}
	p := f.Name()
	defer os.Remove(p)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("decode clip: %w", err)
	}
	frames, err := media.ReadFrames(ctx, p, media.DecodeOptions{Width: cfg.Width, Height: cfg.Height,
		MaxFrames: MaxClipFrames, Format: media.RGB24, Timeout: time.Minute, Formats: media.ClipFormats})
	if err != nil {
		return nil, fmt.Errorf("decode clip: %w", err)
	}
	if len(frames) < 2 {
		return nil, fmt.Errorf("decode clip: %d frames, need at least 2 for motion", len(frames))
	}
	return ResampleTime(frames, cfg.Frames), nil
}

// DecodeFirstFrame decodes a PNG first frame at the model's size.
func DecodeFirstFrame(data []byte, cfg model.Config) ([]byte, error) {
	return DecodePNG(data, cfg.Width, cfg.Height)
}

// DefaultTempDir is the scratch directory for DecodeClip when a caller has
// no better place.
func DefaultTempDir() string { return filepath.Join(os.TempDir(), "realdpo-decode") }
