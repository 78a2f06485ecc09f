// Package stage holds the curation stages as plain functions, tested without
// Beam: probe and classify inputs, analyse them, split them into candidate
// windows at scene cuts, filter the candidates, normalise the kept ones, and
// account for and describe the dataset. Package transforms/curation wraps each
// in a Beam transform.
package stage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"realdpo/schemas"
	"realdpo/transforms/media"
)

// Rejection is the decision to stop with an input or a candidate.
type Rejection struct {
	Stage  string
	Reason string
	Detail string
}

func (r *Rejection) Error() string { return r.Stage + "/" + r.Reason + ": " + r.Detail }

// Reject builds a Rejection.
func Reject(stage, reason, format string, args ...any) *Rejection {
	return &Rejection{Stage: stage, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// LooksLikeVideoContainer reports whether the first bytes of a file carry a
// video container signature (ISO BMFF, Matroska/WebM, AVI, MPEG-TS/PS, FLV,
// Ogg, ASF). A file that starts like a video but cannot be probed or decoded
// is truncated or damaged, not "not a video".
func LooksLikeVideoContainer(head []byte) bool {
	if len(head) >= 12 {
		switch string(head[4:8]) {
		case "ftyp", "moov", "mdat", "free", "wide", "skip", "pnot":
			return true
		}
		if string(head[0:4]) == "RIFF" && string(head[8:12]) == "AVI " {
			return true
		}
	}
	switch {
	case bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}): // EBML: mkv, webm
		return true
	case bytes.HasPrefix(head, []byte{0x00, 0x00, 0x01, 0xBA}): // MPEG-PS
		return true
	case bytes.HasPrefix(head, []byte("FLV")), bytes.HasPrefix(head, []byte("OggS")):
		return true
	case bytes.HasPrefix(head, []byte{0x30, 0x26, 0xB2, 0x75}): // ASF/WMV
		return true
	case len(head) > 188 && head[0] == 0x47 && head[188] == 0x47: // MPEG-TS
		return true
	}
	return false
}

func readHead(path string, n int) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, n)
	k, _ := io.ReadFull(f, buf)
	return buf[:k]
}

// ProbeSource runs ffprobe on a local copy and classifies failures into
// reject reasons: empty_file, timeout, truncated (a container signature that
// does not parse) or not_video.
func ProbeSource(ctx context.Context, local string, th schemas.Thresholds) (schemas.SourceInfo, *Rejection) {
	pi, err := media.Probe(ctx, local, th.ProbeTimeout)
	if err != nil {
		switch {
		case errors.Is(err, media.ErrEmptyFile):
			return schemas.SourceInfo{}, Reject(schemas.StageProbe, schemas.ReasonEmptyFile, "zero bytes")
		case errors.Is(err, media.ErrTimeout):
			return schemas.SourceInfo{}, Reject(schemas.StageProbe, schemas.ReasonTimeout, "ffprobe ran past %v", th.ProbeTimeout)
		case errors.Is(err, media.ErrNoVideo):
			return schemas.SourceInfo{}, Reject(schemas.StageProbe, schemas.ReasonNotVideo, "no video stream")
		case LooksLikeVideoContainer(readHead(local, 512)):
			return schemas.SourceInfo{}, Reject(schemas.StageProbe, schemas.ReasonTruncated, "video container that ffprobe cannot read: %s", ShortErr(err))
		default:
			return schemas.SourceInfo{}, Reject(schemas.StageProbe, schemas.ReasonNotVideo, "%s", ShortErr(err))
		}
	}
	info := schemas.SourceInfo{
		Container: pi.Container, Codec: pi.Codec,
		Width: pi.DisplayWidth(), Height: pi.DisplayHeight(), Rotation: pi.Rotation,
		FPS: pi.FPS, DurationS: pi.Duration, Frames: pi.Frames, SizeBytes: pi.SizeBytes,
	}
	// Still images (png, jpeg) probe as one-frame "video" streams.
	if strings.Contains(info.Container, "image2") || strings.HasSuffix(info.Container, "_pipe") || (info.DurationS <= 0 && info.Frames <= 1) {
		return info, Reject(schemas.StageProbe, schemas.ReasonNotVideo, "a still image (%s/%s), not a video", info.Container, info.Codec)
	}
	if info.FPS <= 0 {
		return info, Reject(schemas.StageProbe, schemas.ReasonNotVideo, "video stream without a frame rate")
	}
	return info, nil
}

// CheckLimits rejects inputs over the configured byte, duration or dimension
// limits before any decoding.
func CheckLimits(sizeBytes int64, info *schemas.SourceInfo, th schemas.Thresholds) *Rejection {
	if th.MaxBytes > 0 && sizeBytes > th.MaxBytes {
		return Reject(schemas.StageInput, schemas.ReasonTooLarge, "%d bytes > limit %d", sizeBytes, th.MaxBytes)
	}
	if info == nil {
		return nil
	}
	if th.MaxDurationS > 0 && info.DurationS > th.MaxDurationS {
		return Reject(schemas.StageProbe, schemas.ReasonTooLarge, "%.1f s > limit %.1f s", info.DurationS, th.MaxDurationS)
	}
	if th.MaxDimension > 0 && max(info.Width, info.Height) > th.MaxDimension {
		return Reject(schemas.StageProbe, schemas.ReasonTooLarge, "%dx%d > limit %d", info.Width, info.Height, th.MaxDimension)
	}
	return nil
}

// PreFilter applies the filters that need only the probe, cheapest first:
// orientation, minimum size, frame rate, length. Nothing is decoded for an
// input that fails here.
func PreFilter(info schemas.SourceInfo, p schemas.Profile, th schemas.Thresholds) *Rejection {
	if p.Landscape && info.Width <= info.Height {
		return Reject(schemas.StageFilter, schemas.ReasonOrientation, "%dx%d is not landscape", info.Width, info.Height)
	}
	if short := min(info.Width, info.Height); short < th.MinShortSide {
		return Reject(schemas.StageFilter, schemas.ReasonResolution, "short side %d < %d", short, th.MinShortSide)
	}
	if info.FPS < th.MinFPS {
		return Reject(schemas.StageFilter, schemas.ReasonFrameRate, "%.2f fps < %.2f", info.FPS, th.MinFPS)
	}
	// Half a frame of slack: containers round durations.
	if need := p.DurationS() - 0.5/p.FPS; info.DurationS > 0 && info.DurationS < need {
		return Reject(schemas.StageFilter, schemas.ReasonTooShort, "%.2f s < one %.2f s clip", info.DurationS, p.DurationS())
	}
	return nil
}

// Upscaled reports whether normalising a source to the profile enlarges it.
func Upscaled(info schemas.SourceInfo, p schemas.Profile) bool {
	if info.Width <= 0 || info.Height <= 0 {
		return false
	}
	return max(float64(p.Width)/float64(info.Width), float64(p.Height)/float64(info.Height)) > 1.0001
}

var ffAddr = regexp.MustCompile(` @ 0x[0-9a-f]+`)

// ShortErr trims an error message for a record.
func ShortErr(err error) string {
	// ffmpeg names its contexts by address ("[mov,mp4 @ 0x55...]"): drop
	// them so reruns write identical records.
	s := ffAddr.ReplaceAllString(err.Error(), "")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
