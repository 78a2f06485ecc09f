package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

// PixelFormat of decoded frames.
type PixelFormat int

const (
	RGB24 PixelFormat = iota // 3 bytes a pixel
	Gray                     // 1 byte a pixel (luma)
)

// DecodeOptions select what a FrameReader yields.
type DecodeOptions struct {
	// Width and Height scale the frames (area filter); both are required.
	Width, Height int
	// FPS resamples time; 0 keeps the source's frames.
	FPS float64
	// Start seeks (seconds) and Duration limits (seconds, 0 = to the end).
	Start, Duration float64
	// MaxFrames stops after this many frames (0 = no limit).
	MaxFrames int
	Format    PixelFormat
	// Filter, when set, is an extra ffmpeg video filter placed before the scaling
	// (for example a crop).
	Filter string
	// Threads caps the decoder's threads; 0 lets ffmpeg choose.
	Threads int
	// SkipLoopFilter skips the decoder's deblocking (H.264, HEVC, VP9), about
	// a fifth of their decode cost. Only for analysis at a fraction of the
	// source's size, where block edges average away; never for output.
	SkipLoopFilter bool
	// SkipNonRef skips the frames no other frame references (-skip_frame
	// noref: H.264's and HEVC's non-reference B frames, often half of
	// them). Only when FPS resamples to at most half the source's rate, so
	// every output frame still has a decoded frame of its own: x264's
	// default pyramid references every other frame.
	SkipNonRef bool
	// KeyframesOnly decodes the keyframes alone (-skip_frame nokey), a
	// small share of a file's decode; with FPS set, each output frame is
	// the last keyframe at or before its time (two keyframes closer than
	// a frame's time show as one), and the last keyframe comes once.
	KeyframesOnly bool
	Timeout       time.Duration
	// Formats are the demuxers the file may be read with (FootageFormats
	// when empty; ClipFormats for realdpo's own clips).
	Formats string
}

// FrameReader streams decoded frames from a local file, one at a time, so a
// whole video is never held in memory.
type FrameReader struct {
	path    string
	opts    DecodeOptions
	out     *bufio.Reader
	pipe    *os.File
	wait    chan error
	stderr  *tailBuffer
	cancel  context.CancelFunc
	ctx     context.Context
	frameSz int
	n       int
	done    bool
	err     error
}

// OpenFrames starts decoding path.
func OpenFrames(ctx context.Context, path string, o DecodeOptions) (*FrameReader, error) {
	if o.Width <= 0 || o.Height <= 0 {
		return nil, fmt.Errorf("decode %s: output size %dx%d is not set", path, o.Width, o.Height)
	}
	in, err := SafeInput(path)
	if err != nil {
		return nil, err
	}
	inArgs := safeInputArgs(inputArgs(o.Start, o.Threads), o.Formats)
	if o.SkipLoopFilter {
		inArgs["skip_loop_filter"] = "all"
	}
	if o.SkipNonRef {
		inArgs["skip_frame"] = "noref"
	}
	if o.KeyframesOnly {
		inArgs["skip_frame"] = "nokey"
	}
	if o.Duration > 0 {
		inArgs["t"] = strconv.FormatFloat(o.Duration, 'f', 4, 64)
	}
	vf := ""
	if o.Filter != "" {
		vf = o.Filter + ","
	}
	if o.FPS > 0 {
		vf += "fps=" + strconv.FormatFloat(o.FPS, 'f', -1, 64)
		if o.KeyframesOnly {
			// The fps filter emits a frame's slots when the next frame comes;
			// the last keyframe (often the only one) would be dropped.
			vf += ":eof_action=pass"
		}
		vf += ","
	}
	vf += fmt.Sprintf("scale=%d:%d:flags=area", o.Width, o.Height)
	pix, bpp := "rgb24", 3
	if o.Format == Gray {
		pix, bpp = "gray", 1
	}
	outArgs := ffmpeg.KwArgs{"format": "rawvideo", "pix_fmt": pix, "vf": vf, "an": "", "sn": ""}
	if o.MaxFrames > 0 {
		outArgs["frames:v"] = strconv.Itoa(o.MaxFrames)
	}
	ctx, cancel := withDefaultTimeout(ctx, o.Timeout)
	stderr := newTailBuffer(8 << 10)
	st := ffmpeg.Output([]*ffmpeg.Stream{ffmpeg.Input(in, inArgs)}, "pipe:1", outArgs).
		GlobalArgs(globalArgs()...)
	st.Context = ctx // after GlobalArgs, which drops it (see NewEncoder)
	cmd := st.WithErrorOutput(stderr).Compile()
	// An os.Pipe, not cmd.StdoutPipe: Wait closes a StdoutPipe as soon as
	// ffmpeg exits, which (with Wait running concurrently, as here) drops
	// frames still buffered in the pipe whenever the reader lags. The read
	// end of an os.Pipe stays ours until finish closes it.
	pr, pw, err := os.Pipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	growPipe(pw)
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		cancel()
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("decode %s: start ffmpeg: %w", path, err)
	}
	pw.Close() // the child holds its own copy
	r := &FrameReader{path: path, opts: o, out: bufio.NewReaderSize(pr, 1<<16), pipe: pr, stderr: stderr,
		cancel: cancel, ctx: ctx, wait: make(chan error, 1), frameSz: o.Width * o.Height * bpp}
	go func() { r.wait <- cmd.Wait() }()
	return r, nil
}

// inputArgs seek the input to start seconds (input seeking: fast, and
// exact since ffmpeg decodes from the keyframe before) and cap the
// decoder's threads (0: ffmpeg chooses).
func inputArgs(start float64, threads int) ffmpeg.KwArgs {
	args := ffmpeg.KwArgs{}
	if start > 0 {
		args["ss"] = strconv.FormatFloat(start, 'f', 4, 64)
	}
	if threads > 0 {
		args["threads"] = strconv.Itoa(threads)
	}
	return args
}

// FrameSize is the byte length of one frame.
func (r *FrameReader) FrameSize() int { return r.frameSz }

// Next fills buf (FrameSize bytes) with the next frame. It returns io.EOF
// after the last frame when the decode ended cleanly, or the decode error.
func (r *FrameReader) Next(buf []byte) error {
	if r.done {
		if r.err != nil {
			return r.err
		}
		return io.EOF
	}
	if len(buf) < r.frameSz {
		return fmt.Errorf("decode %s: buffer %d bytes, frame %d", r.path, len(buf), r.frameSz)
	}
	_, err := io.ReadFull(r.out, buf[:r.frameSz])
	if err == nil {
		r.n++
		return nil
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		r.finish(fmt.Errorf("decode %s: partial frame after %d frames", r.path, r.n))
	} else {
		r.finish(nil)
	}
	if r.err != nil {
		return r.err
	}
	return io.EOF
}

// Frames is the number of whole frames read.
func (r *FrameReader) Frames() int { return r.n }

// Warnings is what ffmpeg printed at error level: corrupt packets, a missing
// index. A clean decode leaves it empty.
func (r *FrameReader) Warnings() string { return r.stderr.String() }

// Close stops the decoder early (if still running) and releases it.
func (r *FrameReader) Close() error {
	if !r.done {
		r.cancel()
		r.finish(nil)
		if errors.Is(r.err, context.Canceled) {
			r.err = nil
		}
	}
	return nil
}

func (r *FrameReader) finish(cause error) {
	r.done = true
	werr := <-r.wait
	r.pipe.Close()
	if cause != nil {
		r.err = cause
	} else if werr != nil {
		r.err = waitErr(r.ctx, "decode "+r.path, werr, r.stderr)
	}
	r.cancel()
}

// ReadFrames decodes a whole (short) video into memory, one buffer a frame:
// for clips of a few dozen small frames, where streaming buys nothing. It
// returns the decode error, if any, with the frames read before it.
func ReadFrames(ctx context.Context, path string, o DecodeOptions) ([][]byte, error) {
	r, err := OpenFrames(ctx, path, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var frames [][]byte
	for {
		buf := make([]byte, r.FrameSize())
		if err := r.Next(buf); err != nil {
			if errors.Is(err, io.EOF) {
				return frames, nil
			}
			return frames, err
		}
		frames = append(frames, buf)
	}
}
