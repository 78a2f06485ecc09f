package quality

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"realdpo/transforms/media"
)

// FileOptions say how to decode a file for analysis.
type FileOptions struct {
	Width, Height int     // analysis frame size (even)
	FPS           float64 // analysis rate (frames are resampled to it)
	MaxFrames     int     // 0: no limit
	Threads       int     // decoder threads, 0: ffmpeg chooses
	Timeout       time.Duration
	// SkipNonRef and KeyframesOnly: see media.DecodeOptions.
	SkipNonRef, KeyframesOnly bool
	// Visit, when set, sees each frame (its index and RGB24 bytes, valid
	// only during the call) after the analyser.
	Visit func(i int, rgb []byte) error
}

// FileResult is a whole-file analysis.
type FileResult struct {
	*Analyzer
	// Warnings are ffmpeg's error-level messages (corrupt or missing data).
	Warnings string
	// DecodeErr is set when the decoder failed part-way; the frames read
	// before it are still analysed.
	DecodeErr error
}

// WarningCount is the number of distinct warning lines.
func (r *FileResult) WarningCount() int {
	if strings.TrimSpace(r.Warnings) == "" {
		return 0
	}
	return len(strings.Split(strings.TrimSpace(r.Warnings), "\n"))
}

// AnalyzeFile streams a local file through an Analyzer, one small frame at a
// time. A decode failure after some frames is returned in DecodeErr, not as
// the error: truncated files still get their figures.
func AnalyzeFile(ctx context.Context, path string, o FileOptions) (*FileResult, error) {
	a, err := NewAnalyzer(o.Width, o.Height, o.FPS, Options{})
	if err != nil {
		return nil, err
	}
	r, err := media.OpenFrames(ctx, path, media.DecodeOptions{
		Width: o.Width, Height: o.Height, FPS: o.FPS, MaxFrames: o.MaxFrames,
		Format: media.RGB24, Threads: o.Threads, Timeout: o.Timeout,
		// Deblocking is invisible at analysis size and a fifth of an H.264 decode.
		SkipLoopFilter: true,
		SkipNonRef:     o.SkipNonRef,
		KeyframesOnly:  o.KeyframesOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("analyse %s: %w", path, err)
	}
	defer r.Close()
	res := &FileResult{Analyzer: a}
	// Decode ahead on another goroutine: a frame is larger than a pipe's
	// buffer, so without this ffmpeg would sit idle while each frame is
	// analysed. A few recycled buffers bound the memory.
	const ahead = 6
	free := make(chan []byte, ahead)
	for i := 0; i < ahead; i++ {
		free <- make([]byte, r.FrameSize())
	}
	frames := make(chan []byte, ahead)
	var readErr error
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(frames)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			if err := r.Next(buf); err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
			select {
			case frames <- buf:
			case <-stop:
				return
			}
		}
	}()
	var pushErr error
	n := 0
	for buf := range frames {
		if pushErr == nil {
			pushErr = a.Push(buf)
		}
		if pushErr == nil && o.Visit != nil {
			pushErr = o.Visit(n, buf)
		}
		n++
		free <- buf // on an error keep draining, so the reader ends before Close
	}
	if pushErr != nil {
		return nil, pushErr
	}
	// frames is closed only after the reader's last write to readErr.
	res.DecodeErr = readErr
	res.Warnings = r.Warnings()
	if errors.Is(res.DecodeErr, media.ErrTimeout) {
		return res, res.DecodeErr
	}
	return res, nil
}

// AnalysisSize picks the analysis frame size for a displayed w x h: the long
// side becomes maxSide, the aspect is kept, both even and at least 16.
func AnalysisSize(w, h, maxSide int) (int, int) {
	if w <= 0 || h <= 0 {
		return maxSide, maxSide
	}
	var aw, ah float64
	if w >= h {
		aw = float64(maxSide)
		ah = aw * float64(h) / float64(w)
	} else {
		ah = float64(maxSide)
		aw = ah * float64(w) / float64(h)
	}
	even := func(v float64) int { return max(16, 2*int(math.Round(v/2))) }
	return even(aw), even(ah)
}
