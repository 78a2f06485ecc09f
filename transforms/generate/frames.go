package generate

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"

	"realdpo/transforms/media"
)

// MaxImagePixels bounds a first frame before it is decoded.
const MaxImagePixels = 8192 * 8192

// DecodePNG decodes a PNG and scales it to w x h RGB24 (bilinear; an area
// average when shrinking, since x/image/draw widens the kernel).
func DecodePNG(data []byte, w, h int) ([]byte, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("first frame: %w", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width*cfg.Height > MaxImagePixels {
		return nil, fmt.Errorf("first frame: %dx%d is not a usable size", cfg.Width, cfg.Height)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("first frame: %w", err)
	}
	return toRGB24(scale(img, w, h)), nil
}

func scale(src image.Image, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	if src.Bounds().Dx() == w && src.Bounds().Dy() == h {
		draw.Draw(dst, dst.Bounds(), src, src.Bounds().Min, draw.Src)
		return dst
	}
	draw.BiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return dst
}

func toRGB24(m *image.RGBA) []byte {
	w, h := m.Bounds().Dx(), m.Bounds().Dy()
	out := make([]byte, 0, w*h*3)
	for y := 0; y < h; y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+w*4]
		for x := 0; x < w; x++ {
			out = append(out, row[4*x], row[4*x+1], row[4*x+2])
		}
	}
	return out
}

func fromRGB24(f []byte, w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2], m.Pix[4*i+3] = f[3*i], f[3*i+1], f[3*i+2], 255
	}
	return m
}

// ResizeRGB24 scales one RGB24 frame (bilinear).
func ResizeRGB24(f []byte, sw, sh, dw, dh int) []byte {
	if sw == dw && sh == dh {
		return append([]byte(nil), f...)
	}
	return toRGB24(scale(fromRGB24(f, sw, sh), dw, dh))
}

// ResampleTime stretches or squeezes a clip to n frames over the same time
// span, first and last frames kept, frames in between linearly blended.
// The tiny model's 9 frames become a 17-frame clip exactly: every other
// frame is the model's, the ones between are averages of their neighbours.
func ResampleTime(frames [][]byte, n int) [][]byte {
	m := len(frames)
	if m == 0 || n < 1 {
		return nil
	}
	out := make([][]byte, n)
	for j := range out {
		if m == 1 || n == 1 {
			out[j] = append([]byte(nil), frames[0]...)
			continue
		}
		// Exact rational position j*(m-1)/(n-1): integer part and remainder.
		num := j * (m - 1)
		i, r := num/(n-1), num%(n-1)
		if r == 0 {
			out[j] = append([]byte(nil), frames[i]...)
			continue
		}
		a, b := frames[i], frames[i+1]
		f := make([]byte, len(a))
		for k := range f {
			f[k] = byte((int(a[k])*(n-1-r) + int(b[k])*r + (n-1)/2) / (n - 1))
		}
		out[j] = f
	}
	return out
}

// EncodeMP4 encodes RGB24 frames of spec s as an H.264 yuv420p mp4 with the
// index at the front, through a temp file in dir, and returns its bytes.
func EncodeMP4(ctx context.Context, dir string, frames [][]byte, s Spec) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, "enc-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	p := filepath.Join(tmp, "video.mp4")
	enc, err := media.NewEncoder(ctx, p, media.EncodeOptions{Width: s.Width, Height: s.Height, FPS: s.FPS,
		Codec: "libx264", CRF: 18, FastStart: true, Threads: 1})
	if err != nil {
		return nil, err
	}
	for i, f := range frames {
		if err := enc.WriteFrame(f); err != nil {
			enc.Abort()
			return nil, fmt.Errorf("encode frame %d: %w", i, err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}
