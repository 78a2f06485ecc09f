// Package generate makes RealDPO's rejected samples: videos generated from a
// real clip's first frame and caption. It holds the negatives stage's DoFns
// (negatives.go; the graph is pipelines/negatives) and the generators,
// which sit behind one interface:
//
//   - Local: the Gorgonia image-to-video model (model.LoadBase by default, or
//     a checkpoint), loaded once per process and shared by every caller.
//   - HTTP: a remote generation service (on GPU machines) speaking the JSON
//     API below, with bounded concurrency, timeouts and retries.
//
// Every video is identified by (clip id, sample index, generator id); its
// seed derives from those three (Seed), so a rerun or a retried bundle
// produces the same file.
//
// # HTTP generation API (realdpo-generate/1)
//
//	GET  /v1/info
//	  200 application/json {"api":"realdpo-generate/1","generator_id":"...","checkpoint":"..."}
//
//	POST /v1/generate   Content-Type: application/json
//	  {
//	    "image":    "<base64 PNG: the first frame, any size; the service resizes>",
//	    "prompt":   "<caption>",
//	    "seed":     12345,        // integer in [0, 2^53): fixes the noise
//	    "frames":   49,           // frames in the video, the first frame included
//	    "width":    720,          // pixels; even
//	    "height":   480,          // pixels; even
//	    "fps":      8,
//	    "steps":    50,           // sampling steps
//	    "guidance": 6.0,          // classifier-free guidance scale
//	    "clip_id":  "...",        // optional, for the service's logs
//	    "index":    0             // optional, sample index, for logs
//	  }
//	  200 video/mp4: H.264, yuv420p, exactly frames x width x height at fps,
//	      headers X-Generator-Id and X-Checkpoint. The same request (seed
//	      included) must give the same video.
//	  400 application/json {"error":"..."}: invalid request; not retried.
//	  413: request too large; not retried.
//	  429, 503 (optional Retry-After: seconds), other 5xx: retried with
//	      exponential backoff and jitter.
//
// A 200 whose body is not an mp4 (no ftyp box) counts as a failed attempt
// and is retried; a video of the wrong spec is the caller's to reject
// (CheckVideo).
package generate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"realdpo/transforms/media"
)

// API is the protocol name served at /v1/info.
const API = "realdpo-generate/1"

// Spec is a video's shape.
type Spec struct {
	Frames int     `json:"frames"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"`
}

// Validate checks a spec can be encoded as H.264 yuv420p.
func (s Spec) Validate() error {
	switch {
	case s.Frames < 1 || s.Frames > 10000:
		return fmt.Errorf("frames %d outside [1, 10000]", s.Frames)
	case s.Width < 2 || s.Height < 2 || s.Width > 8192 || s.Height > 8192:
		return fmt.Errorf("size %dx%d outside [2, 8192]", s.Width, s.Height)
	case s.Width%2 != 0 || s.Height%2 != 0:
		return fmt.Errorf("size %dx%d must be even (yuv420p)", s.Width, s.Height)
	case !(s.FPS > 0 && s.FPS <= 240):
		return fmt.Errorf("fps %g outside (0, 240]", s.FPS)
	}
	return nil
}

// Request asks for one video.
type Request struct {
	ClipID string
	Index  int
	// Image is the first frame as PNG bytes (any size).
	Image  []byte
	Prompt string
	Seed   uint64
	Spec
	Steps    int
	Guidance float64
}

// Validate checks a request before it is sent or run.
func (r Request) Validate() error {
	if err := r.Spec.Validate(); err != nil {
		return err
	}
	switch {
	case len(r.Image) == 0:
		return errors.New("no image")
	case r.Steps < 1 || r.Steps > 1000:
		return fmt.Errorf("steps %d outside [1, 1000]", r.Steps)
	case math.IsNaN(r.Guidance) || math.IsInf(r.Guidance, 0) || r.Guidance < 0 || r.Guidance > 100:
		return fmt.Errorf("guidance %g outside [0, 100]", r.Guidance)
	case r.Seed >= 1<<53:
		return fmt.Errorf("seed %d is not below 2^53", r.Seed)
	}
	return nil
}

// Info identifies a generator.
type Info struct {
	// Kind is "local" or "http".
	Kind string `json:"kind"`
	// ID names the model behind the generator; it enters every seed.
	ID string `json:"generator_id"`
	// Checkpoint identifies the weights (a content hash where known).
	Checkpoint string `json:"checkpoint"`
}

// Generator turns a first frame and caption into one video.
type Generator interface {
	Info() Info
	// Generate returns the video as mp4 bytes of the request's spec.
	Generate(ctx context.Context, r Request) ([]byte, error)
	Close() error
}

// Seed derives a sample's seed from its clip, index and generator: the
// first 8 bytes of SHA-256 over the three, kept below 2^53 so that every
// JSON reader (JavaScript's included) holds it exactly.
func Seed(clipID string, index int, generatorID string) uint64 {
	h := sha256.New()
	h.Write([]byte("realdpo-negative/1\x00"))
	h.Write([]byte(clipID))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(index)))
	h.Write([]byte{0})
	h.Write([]byte(generatorID))
	return binary.BigEndian.Uint64(h.Sum(nil)[:8]) & (1<<53 - 1)
}

// ErrSpec marks a video whose shape differs from the one asked for.
var ErrSpec = errors.New("video does not match the requested spec")

// CheckVideo probes a local video file and checks it is an MP4 (never a
// playlist or anything else that opens other files) holding a video of
// exactly the spec's size, rate and frame count.
func CheckVideo(ctx context.Context, path string, s Spec) (media.ProbeInfo, error) {
	info, err := media.ProbeFormats(ctx, path, 0, media.ClipFormats)
	if err != nil {
		return info, err
	}
	if info.DisplayWidth() != s.Width || info.DisplayHeight() != s.Height || info.Frames != s.Frames || math.Abs(info.FPS-s.FPS) > 0.01 {
		return info, fmt.Errorf("%w: got %d frames %dx%d at %g fps, want %d frames %dx%d at %g fps", ErrSpec,
			info.Frames, info.DisplayWidth(), info.DisplayHeight(), info.FPS, s.Frames, s.Width, s.Height, s.FPS)
	}
	return info, nil
}
