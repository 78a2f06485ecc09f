// Package testclips renders short test videos with ffmpeg's lavfi sources: a
// textured scene, a moving "subject", static, panning or shaking cameras and
// any extra filter (blur, exposure, burned-in text), plus hard cuts by
// concatenation. Tests across the curation packages share it.
package testclips

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireFFmpeg fails the test when ffmpeg or ffprobe is missing.
func RequireFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (run `make deps`): %v", tool, err)
		}
	}
}

// scene builds a textured background (a fractal with film-like grain, as
// flat synthetic colour would make every sharpness and motion figure
// meaningless) and a smaller textured "subject".
const sceneSrc = "mandelbrot=s=640x360:r=1:maxiter=120:start_scale=1.2:end_scale=1.2:end_pts=10000,format=rgb24," +
	"noise=alls=40:allf=0,gblur=sigma=0.8,trim=end_frame=1,loop=-1:1:0,setpts=N/%[1]d/TB,fps=%[1]d"
const subjectSrc = "mandelbrot=s=72x96:r=1:maxiter=80:start_scale=0.8:end_scale=0.8:end_pts=10000,format=rgb24," +
	"trim=end_frame=1,loop=-1:1:0,setpts=N/%[1]d/TB,fps=%[1]d"

// Spec describes a test clip made with lavfi.
type Spec struct {
	W, H, FPS int
	Dur       float64
	// Camera: "static", "pan", "shaky". Subject: "moving", "still".
	Camera, Subject string
	// Post is an extra filter on the final frames (blur, exposure, text).
	Post string
}

// Make renders spec into dir/name with ffmpeg's lavfi sources (zero
// fields: 320x180, 24 fps, 4 s) and returns the path.
func Make(t testing.TB, dir, name string, c Spec) string {
	t.Helper()
	if c.FPS == 0 {
		c.FPS = 24
	}
	if c.W == 0 {
		c.W, c.H = 320, 180
	}
	if c.Dur == 0 {
		c.Dur = 4
	}
	bg := fmt.Sprintf(sceneSrc, c.FPS)
	fg := fmt.Sprintf(subjectSrc, c.FPS)
	pos := "x=280+140*sin(2.2*t):y=120+60*cos(1.7*t)"
	if c.Subject == "still" {
		pos = "x=280:y=120"
	}
	crop := "crop=w=320:h=180:x=160:y=90"
	switch c.Camera {
	case "pan":
		crop = "crop=w=320:h=180:x='40+50*t':y=90"
	case "shaky":
		crop = "crop=w=320:h=180:x='160+14*sin(31*t)+9*sin(19*t)':y='90+10*sin(27*t)+7*cos(13*t)'"
	}
	post := ""
	if c.Post != "" {
		post = "," + c.Post
	}
	graph := fmt.Sprintf("%s[bg];%s[fg];[bg][fg]overlay=%s,%s,scale=%d:%d%s,format=yuv420p[v]",
		bg, fg, pos, crop, c.W, c.H, post)
	path := filepath.Join(dir, name)
	cmd := exec.Command("ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error",
		"-filter_complex", graph, "-map", "[v]", "-t", fmt.Sprint(c.Dur),
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-threads", "1", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", name, err, out)
	}
	return path
}

// Concat joins clips (same size and rate) with hard cuts.
func Concat(t testing.TB, out string, parts ...string) string {
	t.Helper()
	args := []string{"-nostdin", "-y", "-hide_banner", "-loglevel", "error"}
	graph := ""
	for i, p := range parts {
		args = append(args, "-i", p)
		graph += fmt.Sprintf("[%d:v]", i)
	}
	graph += fmt.Sprintf("concat=n=%d:v=1:a=0[v]", len(parts))
	args = append(args, "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-threads", "1", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("concat: %v\n%s", err, b)
	}
	return out
}
