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
	"strings"
	"sync"
	"syscall"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"
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
