package media

import (
	"log/slog"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// procAttr puts ffmpeg in its own process group and has the kernel kill it
// when this process dies (SIGKILL, OOM), so a dead worker leaves no ffmpeg
// behind still writing into the output's temp files.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// pipeBytes is the pipe buffer asked for frame streams: Linux's default 64
// KiB is smaller than one 256-pixel RGB frame, so every frame would cost
// ffmpeg and the reader several context switches. 1 MiB is the unprivileged
// limit (fs.pipe-max-size).
const pipeBytes = 1 << 20

// growPipe enlarges a pipe's buffer where the kernel allows it; when
// refused, the default buffer only costs some speed.
func growPipe(f *os.File) {
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, pipeBytes); err != nil {
		slog.Debug("pipe buffer left at its default", "err", err)
	}
}
