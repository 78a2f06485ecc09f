// Package evaltest writes small curated-like datasets for the tests of
// the evaluation and experiment pipelines: clips of a coloured block
// moving over a textured background, encoded with ffmpeg, with their
// first frames and a manifest.
package evaltest

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/generate"
)

// Clip geometry: the demo profile's (17 frames of 96x64 at 8 fps).
const (
	W, H, Frames = 96, 64, 17
	FPS          = 8
)

// SceneFrames draws a textured background with a coloured block moving
// speed pixels a frame (0: a still scene).
func SceneFrames(seed uint64, speed float64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 9))
	bg := make([]byte, W*H*3)
	for y := 0; y < H; y += 4 {
		for x := 0; x < W; x += 4 {
			r, g, b := byte(60+rng.IntN(140)), byte(60+rng.IntN(140)), byte(60+rng.IntN(140))
			for dy := 0; dy < 4; dy++ {
				for dx := 0; dx < 4; dx++ {
					i := 3 * ((y+dy)*W + x + dx)
					bg[i], bg[i+1], bg[i+2] = r, g, b
				}
			}
		}
	}
	var out [][]byte
	for t := 0; t < Frames; t++ {
		f := append([]byte(nil), bg...)
		x0 := 10 + int(speed*float64(t))
		for y := 20; y < 44; y++ {
			for x := x0; x < x0+16 && x < W; x++ {
				i := 3 * (y*W + x)
				f[i], f[i+1], f[i+2] = 230, 40, 40
			}
		}
		out = append(out, f)
	}
	return out
}

// PNG encodes an RGB24 frame.
func PNG(t testing.TB, rgb []byte) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, W, H))
	for i := 0; i < W*H; i++ {
		img.Set(i%W, i/W, color.NRGBA{rgb[3*i], rgb[3*i+1], rgb[3*i+2], 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Caption is every test clip's caption.
const Caption = "a person moves a red box to the right"

// Clip is one written clip.
type Clip struct {
	Record     schemas.ManifestRecord
	MP4, First []byte
}

// RequireFFmpeg skips a test without ffmpeg.
func RequireFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
}

// WriteDataset writes clips (one per speed, ids prefix-a, prefix-b, ...)
// with first frames and manifest.jsonl into dir, plus the extra manifest
// lines given, and returns the clips.
func WriteDataset(t testing.TB, dir, prefix string, seed uint64, speeds []float64, extra ...string) []Clip {
	t.Helper()
	ctx := context.Background()
	spec := generate.Spec{Frames: Frames, Width: W, Height: H, FPS: FPS}
	for _, d := range []string{"clips", "first_frames"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var man bytes.Buffer
	var out []Clip
	for i, speed := range speeds {
		id := prefix + "-" + string(rune('a'+i))
		frames := SceneFrames(seed+uint64(i), speed)
		mp4, err := generate.EncodeMP4(ctx, t.TempDir(), frames, spec)
		if err != nil {
			t.Fatal(err)
		}
		first := PNG(t, frames[0])
		if err := os.WriteFile(filepath.Join(dir, "clips", id+".mp4"), mp4, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "first_frames", id+".png"), first, 0o644); err != nil {
			t.Fatal(err)
		}
		rec := schemas.ManifestRecord{ID: id, Clip: "clips/" + id + ".mp4", FirstFrame: "first_frames/" + id + ".png",
			Caption: Caption, Frames: Frames, FPS: FPS, Width: W, Height: H, Profile: "demo"}
		b, _ := json.Marshal(rec)
		man.Write(append(b, '\n'))
		out = append(out, Clip{Record: rec, MP4: mp4, First: first})
	}
	for _, l := range extra {
		man.WriteString(l + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, dataset.ManifestFile), man.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// PerturbedBase saves the built-in base model with its weights shifted a
// little (a deterministic, different model) and returns the path.
func PerturbedBase(t testing.TB) string {
	t.Helper()
	m, err := model.LoadBase()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range m.Params() {
		for i := range p.Data {
			p.Data[i] += float32(0.05 * rng.NormFloat64())
		}
	}
	path := filepath.Join(t.TempDir(), "perturbed.safetensors")
	if err := m.Save(path, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	return path
}
