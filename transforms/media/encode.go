package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

// EncodeOptions describe the video file an Encoder writes.
type EncodeOptions struct {
	Width, Height int
	FPS           float64
	// Codec is an ffmpeg encoder name: libx264 (default), libvpx-vp9, mpeg4.
	Codec string
	// CRF sets quality for x264/vp9 (lower is better); 0 means the codec default.
	CRF int
	// Preset is x264's speed preset (default "veryfast").
	Preset string
	// FastStart moves the mp4 index to the front so the file streams (and can
	// be read from a pipe).
	FastStart bool
	// Threads caps the encoder's threads; 0 lets ffmpeg choose.
	Threads int
	// Timeout bounds the whole encode; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Encoder streams RGB24 frames into ffmpeg, which writes a temp file that is
// renamed into place only when Close succeeds, so readers never see a
// half-written video.
type Encoder struct {
	opts    EncodeOptions
	final   string
	tmp     string
	stdin   io.WriteCloser
	wait    chan error
	stderr  *tailBuffer
	cancel  context.CancelFunc
	ctx     context.Context
	frames  int
	failed  error
	closed  bool
	frameSz int
}

// containerFormat maps an extension to ffmpeg's muxer name, so the temp file's
// name does not decide the container.
func containerFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mp4", ".m4v":
		return "mp4", nil
	case ".mov":
		return "mov", nil
	case ".mkv":
		return "matroska", nil
	case ".webm":
		return "webm", nil
	case ".avi":
		return "avi", nil
	default:
		return "", fmt.Errorf("no container known for %q", path)
	}
}

// NewEncoder starts ffmpeg writing path.
func NewEncoder(ctx context.Context, path string, o EncodeOptions) (*Encoder, error) {
	if o.Width <= 0 || o.Height <= 0 || o.FPS <= 0 {
		return nil, fmt.Errorf("encode %s: bad size %dx%d at %g fps", path, o.Width, o.Height, o.FPS)
	}
	if o.Codec == "" {
		o.Codec = "libx264"
	}
	format, err := containerFormat(path)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, writeErr("encode "+path, err)
	}
	tmpFile, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, writeErr("encode "+path, err)
	}
	tmp := tmpFile.Name()
	tmpFile.Chmod(0o644) // CreateTemp makes 0600 files; videos are shared
	tmpFile.Close()
	out, err := SafeInput(tmp)
	if err != nil {
		return nil, err
	}
	args := encoderArgs(o, format)
	ctx, cancel := withDefaultTimeout(ctx, o.Timeout)
	in := ffmpeg.Input("pipe:0", ffmpeg.KwArgs{
		"format":    "rawvideo",
		"pix_fmt":   "rgb24",
		"s":         fmt.Sprintf("%dx%d", o.Width, o.Height),
		"framerate": strconv.FormatFloat(o.FPS, 'f', -1, 64),
	})
	stderr := newTailBuffer(8 << 10)
	st := ffmpeg.Output([]*ffmpeg.Stream{in}, out, args).GlobalArgs("-nostdin", "-hide_banner", "-loglevel", "error")
	// GlobalArgs starts a new stream with a background context: the deadline
	// must be set after it or the process is never killed.
	st.Context = ctx
	cmd := st.OverWriteOutput().WithErrorOutput(stderr).Compile()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		os.Remove(tmp)
		return nil, fmt.Errorf("encode %s: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		os.Remove(tmp)
		return nil, fmt.Errorf("encode %s: start ffmpeg: %w", path, err)
	}
	e := &Encoder{opts: o, final: path, tmp: tmp, stdin: stdin, stderr: stderr, cancel: cancel, ctx: ctx,
		wait: make(chan error, 1), frameSz: o.Width * o.Height * 3}
	go func() { e.wait <- cmd.Wait() }()
	return e, nil
}

// WriteFrame sends one frame of packed RGB24 pixels (Width*Height*3 bytes).
func (e *Encoder) WriteFrame(rgb []byte) error {
	if e.failed != nil {
		return e.failed
	}
	if len(rgb) != e.frameSz {
		return fmt.Errorf("encode %s: frame is %d bytes, want %d", e.final, len(rgb), e.frameSz)
	}
	if _, err := e.stdin.Write(rgb); err != nil {
		e.failed = e.finish(err)
		return e.failed
	}
	e.frames++
	return nil
}

// Frames is the number of frames written so far.
func (e *Encoder) Frames() int { return e.frames }

// Close finishes the file and renames it into place. After an error the temp
// file is removed and the final path is untouched.
func (e *Encoder) Close() error {
	if e.closed {
		return e.failed
	}
	if e.failed != nil {
		return e.failed
	}
	if e.frames == 0 {
		e.failed = e.finish(errors.New("no frames written"))
		return e.failed
	}
	e.failed = e.finish(nil)
	return e.failed
}

// Abort stops ffmpeg and removes the temp file.
func (e *Encoder) Abort() {
	if !e.closed {
		e.cancel()
		e.finish(errors.New("aborted"))
	}
}

func (e *Encoder) finish(cause error) error {
	e.closed = true
	e.stdin.Close()
	if cause != nil {
		e.cancel()
	}
	err := <-e.wait
	e.cancel()
	if cause == nil && err == nil {
		if err := os.Rename(e.tmp, e.final); err != nil {
			os.Remove(e.tmp)
			return writeErr("encode "+e.final, err)
		}
		return nil
	}
	os.Remove(e.tmp)
	if err := waitErr(e.ctx, "encode "+e.final, err, e.stderr); err != nil {
		if outputFailed(e.stderr.String(), e.tmp) {
			err = writeErr("encode "+e.final, err)
		}
		if cause != nil {
			return fmt.Errorf("%w (after %v)", err, cause)
		}
		return err
	}
	return fmt.Errorf("encode %s: %w", e.final, cause)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
