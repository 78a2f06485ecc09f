// Package media runs ffmpeg and ffprobe (through ffmpeg-go) safely: every call
// has a timeout and is killed with its whole process group when it runs over,
// input paths are never parsed as options or protocols, stderr is kept for
// error messages, and frames stream through pipes so memory stays flat.
package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"realdpo/transforms/fsx"
)

func init() {
	// ffmpeg-go logs every compiled command through the standard logger. Its
	// Silent() method flips this same global on each call, a data race under
	// concurrency, so it is set once here before any goroutine runs.
	ffmpeg.LogCompiledCommand = false
	// Every command ffmpeg-go builds (Probe included) runs in its own process
	// group so a timeout kills it with any children.
	ffmpeg.GlobalCommandOptions = append(ffmpeg.GlobalCommandOptions, prepare)
}

// DefaultTimeout bounds any single ffmpeg or ffprobe call that has no
// deadline of its own.
const DefaultTimeout = 10 * time.Minute

// ErrTimeout is returned (wrapped) when a tool ran past its deadline and was killed.
var ErrTimeout = errors.New("ffmpeg call timed out")

// ErrWrite marks a failure to write an output or a temp file (disk full,
// permissions, a directory in the way): a fault of the machine, never a
// fact about the footage, so callers fail (and retry) rather than reject
// the input. It is fsx's, so a failed copy and a failed encode read alike.
var ErrWrite = fsx.ErrWrite

// writeErr wraps err as an ErrWrite.
func writeErr(what string, err error) error { return fmt.Errorf("%s: %w: %w", what, ErrWrite, err) }

// outputFailed reports whether ffmpeg's error output says writing failed:
// the storage (full, read-only, over quota, refused), or the output named
// tmp, never the input.
func outputFailed(stderr, tmp string) bool {
	for _, s := range []string{"No space left on device", "Disk quota exceeded", "Read-only file system", "Input/output error"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return tmp != "" && strings.Contains(stderr, tmp) && (strings.Contains(stderr, "Permission denied") ||
		strings.Contains(stderr, "Error writing") || strings.Contains(stderr, "Error opening output"))
}

// Demuxers a file may be opened with. A playlist (HLS), a concat list or an
// image sequence makes ffmpeg open other files or protocols (a shard member
// rewritten as a playlist would train on whatever it names, and one
// without an end marker stalls every read for the whole timeout), and an
// image decodes to whatever size it declares: only real video containers
// are accepted, and only the file protocol.
const (
	// FootageFormats are the containers raw footage may come in.
	FootageFormats = "mov,matroska,avi,mpegts,mpeg,flv,asf,ogg"
	// ClipFormats are the containers of realdpo's own clips and negatives
	// (MP4), for every reader of media it did not just make itself:
	// training, evaluation, the pairs checks, generated negatives.
	ClipFormats = "mov"
)

// MaxAlloc caps any single allocation inside ffmpeg and ffprobe: a small
// file declaring a huge picture (a PNG bomb named .mp4 cost ffprobe 800 MB)
// fails instead of taking the machine's memory. An 8K RGBA frame is 133 MB.
const MaxAlloc = 256 << 20

// safeInputArgs restrict an input to the given demuxers (FootageFormats
// when empty) and to local files.
func safeInputArgs(args ffmpeg.KwArgs, formats string) ffmpeg.KwArgs {
	if formats == "" {
		formats = FootageFormats
	}
	args["format_whitelist"] = formats
	args["protocol_whitelist"] = "file"
	return args
}

// globalArgs are every ffmpeg call's global options.
func globalArgs() []string {
	return []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-max_alloc", strconv.Itoa(MaxAlloc)}
}

// SafeInput turns a local path into an ffmpeg input URL that can only mean that
// file: an absolute path under the file: protocol, so names such as "-i",
// "concat:a|b" or "http://x" are read as plain files.
func SafeInput(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty media path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve media path %q: %w", path, err)
	}
	return "file:" + abs, nil
}

// tailBuffer keeps the last max bytes written, so a chatty ffmpeg cannot grow
// memory while its final error lines are still reported.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, []byte("?"))))
}

// prepare makes cmd killable as a group: ffmpeg may spawn helpers, and a
// timeout must take them all down. Cancel fires when ctx ends.
func prepare(cmd *exec.Cmd) {
	// Its own group, so a timeout kills its helpers too; and, where the OS
	// can, killed with this process (see procAttr).
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// Pipes still held by a killed child must not hang Wait.
	cmd.WaitDelay = 5 * time.Second
}

// waitErr explains why a finished command failed, with its stderr tail.
func waitErr(ctx context.Context, what string, err error, stderr *tailBuffer) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s: %w: %v", what, ErrTimeout, lastLines(stderr.String(), 3))
		}
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%s: %w: %s", what, err, lastLines(stderr.String(), 6))
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(ctx, d)
}
