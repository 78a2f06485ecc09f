//go:build unix && !linux

package media

import (
	"os"
	"syscall"
)

// procAttr puts ffmpeg in its own process group. Only Linux can also tie its
// life to this process; workers run on Linux, and a launcher on macOS runs
// ffmpeg only in local runs.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// growPipe is a no-op: only Linux can resize a pipe.
func growPipe(*os.File) {}
