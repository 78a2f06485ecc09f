package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

// FilterStep is one ffmpeg video filter: name, positional arguments and
// named options (for example scale with 720, 480 and flags=bicubic).
type FilterStep struct {
	Name   string
	Args   []string
	Params map[string]string
}

// String is the step in ffmpeg's filter syntax.
func (f FilterStep) String() string {
	parts := append([]string(nil), f.Args...)
	keys := make([]string, 0, len(f.Params))
	for k := range f.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+f.Params[k])
	}
	if len(parts) == 0 {
		return f.Name
	}
	return f.Name + "=" + strings.Join(parts, ":")
}

// FilterChain joins steps with commas, ffmpeg's chain syntax.
func FilterChain(steps []FilterStep) string {
	s := make([]string, len(steps))
	for i, f := range steps {
		s[i] = f.String()
	}
	return strings.Join(s, ",")
}

// TranscodeOptions describe a one-process cut: seek, filter once, encode the
// filtered frames to a file and hand the same frames to the caller.
type TranscodeOptions struct {
	// Start seeks the input (seconds); Frames is how many filtered frames are
	// encoded. A source that ends sooner gives fewer.
	Start  float64
	Frames int
	// Filters turn decoded frames into Encode.Width x Encode.Height frames at
	// Encode.FPS (fps, scale and crop, typically).
	Filters []FilterStep
	Encode  EncodeOptions
	// Show lists, ascending, the frame indices handed to the caller; nil
	// hands over every frame. Converting and piping only the frames the
	// caller needs is most of what a one-process cut saves.
	Show []int
	// DecodeThreads caps the decoder's threads; 0 lets ffmpeg choose.
	DecodeThreads int
	// Timeout bounds the whole call; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Transcode runs one ffmpeg that decodes src from Start, filters the frames
// once, encodes them to dst (temp-then-rename) and streams the same frames as
// RGB24 to visit (index, Width*Height*3 bytes; the buffer is reused): every
// frame, or those listed in Show. One
// process instead of a decoder feeding an encoder through this process saves
// a process start and a round trip of every raw frame.
//
// It reports whether the window was complete: dst is renamed into place only
// when ffmpeg finished cleanly with exactly Frames frames. A source that ran
// short gives false and no file, so the caller can pad another way.
func Transcode(ctx context.Context, src, dst string, o TranscodeOptions, visit func(i int, rgb []byte) error) (bool, error) {
	e := o.Encode
	if e.Width <= 0 || e.Height <= 0 || e.FPS <= 0 || o.Frames <= 0 {
		return false, fmt.Errorf("transcode %s: bad spec %dx%d at %g fps, %d frames", src, e.Width, e.Height, e.FPS, o.Frames)
	}
	if len(o.Filters) == 0 {
		return false, fmt.Errorf("transcode %s: no filters", src)
	}
	for i, f := range o.Show {
		if f < 0 || f >= o.Frames || (i > 0 && f <= o.Show[i-1]) {
			return false, fmt.Errorf("transcode %s: frames to show %v are not ascending indices below %d", src, o.Show, o.Frames)
		}
	}
	in, err := SafeInput(src)
	if err != nil {
		return false, err
	}
	format, err := containerFormat(dst)
	if err != nil {
		return false, fmt.Errorf("transcode %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, writeErr("transcode "+src, err)
	}
	tmpFile, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return false, writeErr("transcode "+src, err)
	}
	tmp := tmpFile.Name()
	tmpFile.Chmod(0o644) // CreateTemp makes 0600 files; clips are shared
	tmpFile.Close()
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp)
		}
	}()
	out, err := SafeInput(tmp)
	if err != nil {
		return false, err
	}

	v := ffmpeg.Input(in, safeInputArgs(inputArgs(o.Start, o.DecodeThreads), FootageFormats)).Video()
	for _, f := range o.Filters {
		kw := ffmpeg.KwArgs{}
		for k, val := range f.Params {
			kw[k] = val
		}
		v = v.Filter(f.Name, ffmpeg.Args(f.Args), kw)
	}
	// trim ends the shared chain at exactly Frames, so both outputs see the
	// same frames; -frames:v on each output stops the decoder there too.
	split := v.Trim(ffmpeg.KwArgs{"end_frame": strconv.Itoa(o.Frames)}).Split()
	encArgs := encoderArgs(e, format)
	encArgs["frames:v"] = strconv.Itoa(o.Frames)
	encoded := split.Get("0").Output(out, encArgs)
	shown := split.Get("1")
	// The last frame is always shown (to this function): seeing it is how a
	// complete window is told from one the source cut short.
	show := o.Show
	if show != nil && (len(show) == 0 || show[len(show)-1] != o.Frames-1) {
		show = append(slices.Clone(show), o.Frames-1)
	}
	want := o.Frames
	if show != nil {
		terms := make([]string, len(show))
		for i, f := range show {
			terms[i] = fmt.Sprintf("eq(n,%d)", f)
		}
		shown = shown.Filter("select", ffmpeg.Args{strings.Join(terms, "+")})
		want = len(show)
	}
	// passthrough: the raw muxer would otherwise duplicate frames to fill the
	// gaps select leaves.
	raw := shown.Filter("format", ffmpeg.Args{"rgb24"}).
		Output("pipe:1", ffmpeg.KwArgs{"format": "rawvideo", "fps_mode": "passthrough", "frames:v": strconv.Itoa(want)})

	ctx, cancel := withDefaultTimeout(ctx, o.Timeout)
	defer cancel()
	stderr := newTailBuffer(8 << 10)
	st := ffmpeg.MergeOutputs(encoded, raw).GlobalArgs(globalArgs()...)
	st.Context = ctx // after GlobalArgs, which drops it (see NewEncoder)
	cmd := st.OverWriteOutput().WithErrorOutput(stderr).Compile()
	// An os.Pipe for the same reason as in OpenFrames: frames still buffered
	// when ffmpeg exits must not be dropped.
	pr, pw, err := os.Pipe()
	if err != nil {
		return false, fmt.Errorf("transcode %s: %w", src, err)
	}
	defer pr.Close()
	growPipe(pw)
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		return false, fmt.Errorf("transcode %s: start ffmpeg: %w", src, err)
	}
	pw.Close()
	wait := make(chan error, 1)
	go func() { wait <- cmd.Wait() }()

	frameSz := e.Width * e.Height * 3
	buf := make([]byte, frameSz)
	rd := bufio.NewReaderSize(pr, 1<<16)
	got := 0
	var readErr error
	for got < want {
		if _, err := io.ReadFull(rd, buf); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				readErr = fmt.Errorf("transcode %s: partial frame after %d frames", src, got)
			}
			break
		}
		i := got
		if show != nil {
			i = show[got]
		}
		if visit != nil && (o.Show == nil || slices.Contains(o.Show, i)) {
			if err := visit(i, buf); err != nil {
				readErr = err
				break
			}
		}
		got++
	}
	if readErr != nil {
		cancel()
		<-wait
		return false, readErr
	}
	if err := waitErr(ctx, "transcode "+src, <-wait, stderr); err != nil {
		if outputFailed(stderr.String(), tmp) {
			return false, writeErr("transcode "+src, err)
		}
		return false, err
	}
	if got < want {
		return false, nil
	}
	if err := os.Rename(tmp, dst); err != nil {
		return false, writeErr("transcode "+src, err)
	}
	committed = true
	return true, nil
}

// encoderArgs are the output options for codec, quality and container
// shared by Encoder and Transcode.
func encoderArgs(o EncodeOptions, format string) ffmpeg.KwArgs {
	if o.Codec == "" {
		o.Codec = "libx264"
	}
	args := ffmpeg.KwArgs{"c:v": o.Codec, "pix_fmt": "yuv420p", "format": format, "an": "", "sn": ""}
	if o.Threads > 0 {
		args["threads"] = strconv.Itoa(o.Threads)
	}
	switch o.Codec {
	case "libx264":
		args["preset"] = firstNonEmpty(o.Preset, "veryfast")
		if o.CRF > 0 {
			args["crf"] = strconv.Itoa(o.CRF)
		}
	case "libvpx-vp9":
		// Real-time mode: good enough quality for footage at a small fraction of the default cost.
		args["deadline"] = "realtime"
		args["cpu-used"] = "8"
		args["row-mt"] = "1"
		args["b:v"] = "0"
		args["crf"] = strconv.Itoa(max(o.CRF, 32))
	case "mpeg4":
		args["q:v"] = "4"
	}
	if o.FastStart && (format == "mp4" || format == "mov") {
		args["movflags"] = "+faststart"
	}
	return args
}
