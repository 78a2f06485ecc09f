package model

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestRGB24RoundTripAndStrip(t *testing.T) {
	c := testConfig()
	frames := make([][]byte, c.Frames)
	for f := range frames {
		frames[f] = make([]byte, c.FrameSize())
		for i := range frames[f] {
			frames[f][i] = byte(i*7 + f)
		}
	}
	v, err := c.VideoFromRGB24(frames)
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.FramesToRGB24(v)
	if err != nil {
		t.Fatal(err)
	}
	for f := range frames {
		if string(frames[f]) != string(back[f]) {
			t.Fatalf("frame %d changed in the round trip", f)
		}
	}
	if _, err := c.VideoFromRGB24(frames[:1]); err == nil {
		t.Fatal("short video accepted")
	}
	path := filepath.Join(t.TempDir(), "strip.png")
	if err := c.WriteStrip(path, [][]float32{v, v}, 2); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != c.Frames*(c.Width*2+2)-2 || b.Dy() != 2*(c.Height*2+2)-2 {
		t.Fatalf("strip is %v", b)
	}
}
