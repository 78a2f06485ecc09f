package media

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ffmpegsWriting lists the pids of ffmpeg processes whose command line
// mentions marker.
func ffmpegsWriting(marker string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "ffmpeg" && strings.Contains(string(cmdline), marker) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

const parentDeathEnv = "REALDPO_MEDIA_PARENT_DEATH"

// TestFFmpegDiesWithItsParent kills a process in the middle of a long
// encode: its ffmpeg must go with it, not finish the temp file on its own.
func TestFFmpegDiesWithItsParent(t *testing.T) {
	requireFFmpeg(t)
	if spec := os.Getenv(parentDeathEnv); spec != "" {
		// The process to be killed: a slow encode of a whole source.
		src, dst, _ := strings.Cut(spec, "|")
		Transcode(context.Background(), src, dst, TranscodeOptions{
			Frames: 250, Show: []int{249}, Filters: []FilterStep{{Name: "setsar", Args: []string{"1"}}},
			Encode: EncodeOptions{Width: 640, Height: 480, FPS: 25, Preset: "veryslow", Threads: 1},
		}, nil)
		os.Exit(0)
	}
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	// 10 s at 640x480: a veryslow single-threaded encode of it takes many seconds.
	encodeTestVideo(t, src, EncodeOptions{Width: 640, Height: 480, FPS: 25, Preset: "ultrafast"}, 250)
	dst := filepath.Join(dir, "out", "victim.mp4")
	child := exec.Command(os.Args[0], "-test.run=^TestFFmpegDiesWithItsParent$")
	child.Env = append(os.Environ(), parentDeathEnv+"="+src+"|"+dst)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "out")
	deadline := time.Now().Add(20 * time.Second)
	for len(ffmpegsWriting(marker)) == 0 {
		if time.Now().After(deadline) {
			child.Process.Kill()
			child.Wait()
			t.Fatal("the child never started ffmpeg")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // well into the encode
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	deadline = time.Now().Add(time.Second)
	for {
		left := ffmpegsWriting(marker)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				if n, err := strconv.Atoi(pid); err == nil {
					syscall.Kill(n, syscall.SIGKILL)
				}
			}
			t.Fatalf("ffmpeg %v outlived its killed parent", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("the killed encode still produced its final file")
	}
}

// TestGrowPipe checks frame pipes get the larger buffer, which saves
// several context switches a frame.
func TestGrowPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	growPipe(w)
	got, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got < pipeBytes {
		t.Errorf("pipe buffer %d bytes, want %d", got, pipeBytes)
	}
}
