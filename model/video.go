package model

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
)

// VideoFromRGB24 converts Frames RGB24 frames (Width x Height x 3 bytes
// each, as media.OpenFrames yields at the model's size) to model values in
// [-1, 1].
func (c Config) VideoFromRGB24(frames [][]byte) ([]float32, error) {
	if len(frames) != c.Frames {
		return nil, fmt.Errorf("model: %d frames, want %d", len(frames), c.Frames)
	}
	v := make([]float32, 0, c.VideoSize())
	for i, f := range frames {
		fv, err := c.FrameFromRGB24(f)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		v = append(v, fv...)
	}
	return v, nil
}

// SplitRGB24 cuts a raw RGB24 video (Frames frames back to back) into its
// frames, without copying.
func (c Config) SplitRGB24(b []byte) ([][]byte, error) {
	fs := c.FrameSize()
	if len(b) != c.Frames*fs {
		return nil, fmt.Errorf("model: video has %d bytes, want %d frames of %d", len(b), c.Frames, fs)
	}
	out := make([][]byte, c.Frames)
	for i := range out {
		out[i] = b[i*fs : (i+1)*fs]
	}
	return out, nil
}

// FrameFromRGB24 converts one RGB24 frame to model values.
func (c Config) FrameFromRGB24(f []byte) ([]float32, error) {
	if c.Channels != 3 || len(f) != c.FrameSize() {
		return nil, fmt.Errorf("model: frame has %d bytes, want %dx%dx3", len(f), c.Width, c.Height)
	}
	out := make([]float32, len(f))
	for i, b := range f {
		out[i] = float32(b)/127.5 - 1
	}
	return out, nil
}

// FramesToRGB24 converts a model video back to RGB24 frames.
func (c Config) FramesToRGB24(v []float32) ([][]byte, error) {
	if len(v) != c.VideoSize() || c.Channels != 3 {
		return nil, fmt.Errorf("model: video has %d values, want %d", len(v), c.VideoSize())
	}
	out := make([][]byte, c.Frames)
	for f := range out {
		fr := make([]byte, c.FrameSize())
		for i := range fr {
			x := (float64(v[f*c.FrameSize()+i]) + 1) * 127.5
			switch {
			case x < 0:
				x = 0
			case x > 255:
				x = 255
			}
			fr[i] = byte(x + 0.5)
		}
		out[f] = fr
	}
	return out, nil
}

// WriteStrip writes videos as a PNG, one row per video, frames left to
// right, each pixel enlarged scale times, with a 2-pixel gutter.
func (c Config) WriteStrip(path string, videos [][]float32, scale int) error {
	b, err := c.StripPNG(videos, scale)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// StripPNG is WriteStrip's image as PNG bytes (for reports that embed it).
func (c Config) StripPNG(videos [][]float32, scale int) ([]byte, error) {
	if len(videos) == 0 || scale < 1 {
		return nil, fmt.Errorf("model: strip needs videos and scale >= 1")
	}
	const gap = 2
	fw, fh := c.Width*scale, c.Height*scale
	img := image.NewRGBA(image.Rect(0, 0, c.Frames*(fw+gap)-gap, len(videos)*(fh+gap)-gap))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for r, v := range videos {
		frames, err := c.FramesToRGB24(v)
		if err != nil {
			return nil, fmt.Errorf("model: strip row %d: %w", r, err)
		}
		for f, fr := range frames {
			x0, y0 := f*(fw+gap), r*(fh+gap)
			for y := 0; y < fh; y++ {
				for x := 0; x < fw; x++ {
					k := ((y/scale)*c.Width + x/scale) * 3
					img.Set(x0+x, y0+y, color.RGBA{fr[k], fr[k+1], fr[k+2], 255})
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("model: encoding strip: %w", err)
	}
	return buf.Bytes(), nil
}
