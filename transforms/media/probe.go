package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

// ProbeInfo is what ffprobe says about a file's container and first video stream.
type ProbeInfo struct {
	Container string  `json:"container"`
	Codec     string  `json:"codec"`
	PixFmt    string  `json:"pix_fmt,omitempty"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	Rotation  int     `json:"rotation"` // degrees, as the display matrix or rotate tag says
	FPS       float64 `json:"fps"`
	Duration  float64 `json:"duration_s"`
	Frames    int     `json:"frames"` // from the stream header when present, else duration*fps
	SizeBytes int64   `json:"size_bytes"`
	BitRate   int64   `json:"bit_rate,omitempty"`
}

// DisplayWidth and DisplayHeight account for a 90/270 degree rotation.
func (p ProbeInfo) DisplayWidth() int {
	if p.Rotation%180 != 0 {
		return p.Height
	}
	return p.Width
}

// DisplayHeight is the height a player shows.
func (p ProbeInfo) DisplayHeight() int {
	if p.Rotation%180 != 0 {
		return p.Width
	}
	return p.Height
}

// Typed probe failures let callers record a precise reject reason.
var (
	ErrEmptyFile = errors.New("file is empty")
	ErrNotVideo  = errors.New("not a readable video")
	ErrNoVideo   = errors.New("no video stream")
)

type ffprobeJSON struct {
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
	Streams []struct {
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		PixFmt       string            `json:"pix_fmt"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		RFrameRate   string            `json:"r_frame_rate"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		NbFrames     string            `json:"nb_frames"`
		Duration     string            `json:"duration"`
		Tags         map[string]string `json:"tags"`
		Disposition  map[string]int    `json:"disposition"`
		SideDataList []struct {
			Rotation *float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
}

// ParseProbeJSON turns ffprobe's -show_format -show_streams JSON into a
// ProbeInfo for the first video stream that is not a cover picture.
func ParseProbeJSON(data []byte) (ProbeInfo, error) {
	var raw ffprobeJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return ProbeInfo{}, fmt.Errorf("parse ffprobe output: %w", err)
	}
	info := ProbeInfo{Container: raw.Format.FormatName}
	info.Duration = parseFloat(raw.Format.Duration)
	info.SizeBytes = int64(parseFloat(raw.Format.Size))
	info.BitRate = int64(parseFloat(raw.Format.BitRate))
	for _, s := range raw.Streams {
		if s.CodecType != "video" || s.Disposition["attached_pic"] == 1 {
			continue
		}
		info.Codec = s.CodecName
		info.PixFmt = s.PixFmt
		info.Width, info.Height = s.Width, s.Height
		info.FPS = parseRate(s.AvgFrameRate)
		if info.FPS <= 0 || info.FPS > 1000 {
			info.FPS = parseRate(s.RFrameRate)
		}
		if d := parseFloat(s.Duration); d > 0 {
			info.Duration = d
		}
		if r, err := strconv.Atoi(s.Tags["rotate"]); err == nil {
			info.Rotation = r
		}
		for _, sd := range s.SideDataList {
			if sd.Rotation != nil {
				info.Rotation = int(math.Round(*sd.Rotation))
			}
		}
		info.Rotation = ((info.Rotation % 360) + 360) % 360
		if n, err := strconv.Atoi(s.NbFrames); err == nil && n > 0 {
			info.Frames = n
		} else if info.FPS > 0 && info.Duration > 0 {
			info.Frames = int(math.Round(info.Duration * info.FPS))
		}
		if info.Width <= 0 || info.Height <= 0 {
			return info, fmt.Errorf("%w: video stream has no dimensions", ErrNotVideo)
		}
		return info, nil
	}
	return info, ErrNoVideo
}

// Probe runs ffprobe on a local file of raw footage (FootageFormats) with
// a timeout. Empty files, files ffprobe cannot parse (or opens with another
// demuxer) and files without a video stream give the typed errors above,
// wrapped with ffprobe's own message.
func Probe(ctx context.Context, path string, timeout time.Duration) (ProbeInfo, error) {
	return ProbeFormats(ctx, path, timeout, FootageFormats)
}

// MaxProbes bounds the ffprobe processes this process runs at once (each
// is capped at MaxAlloc per allocation, so together at a known memory).
var MaxProbes = max(2, runtime.NumCPU())

var (
	probeSlotsOnce sync.Once
	probeSlots     chan struct{}
	probesNow      atomic.Int64
	probesPeak     atomic.Int64
)

// acquireProbe waits for one of MaxProbes slots.
func acquireProbe(ctx context.Context) (func(), error) {
	probeSlotsOnce.Do(func() { probeSlots = make(chan struct{}, MaxProbes) })
	select {
	case probeSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	n := probesNow.Add(1)
	for p := probesPeak.Load(); n > p && !probesPeak.CompareAndSwap(p, n); p = probesPeak.Load() {
	}
	return func() { probesNow.Add(-1); <-probeSlots }, nil
}

// ProbeFormats is Probe with the demuxers the file may be read with
// (ClipFormats for realdpo's own clips).
func ProbeFormats(ctx context.Context, path string, timeout time.Duration, formats string) (ProbeInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return ProbeInfo{}, fmt.Errorf("probe %s: %w", path, err)
	}
	if st.Size() == 0 {
		return ProbeInfo{}, fmt.Errorf("probe %s: %w", path, ErrEmptyFile)
	}
	in, err := SafeInput(path)
	if err != nil {
		return ProbeInfo{}, err
	}
	if timeout <= 0 {
		timeout = time.Minute
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	release, err := acquireProbe(ctx)
	if err != nil {
		return ProbeInfo{}, fmt.Errorf("probe %s: %w", path, err)
	}
	defer release()
	out, err := ffmpeg.ProbeWithTimeout(in, timeout, safeInputArgs(ffmpeg.KwArgs{"v": "error", "max_alloc": strconv.Itoa(MaxAlloc)}, formats))
	if err != nil {
		msg := strings.TrimSpace(err.Error())
		if strings.Contains(msg, "signal: killed") {
			return ProbeInfo{}, fmt.Errorf("probe %s: %w", path, ErrTimeout)
		}
		return ProbeInfo{}, fmt.Errorf("probe %s: %w: %s", path, ErrNotVideo, lastLines(msg, 3))
	}
	info, err := ParseProbeJSON([]byte(out))
	if err != nil {
		return info, fmt.Errorf("probe %s: %w", path, err)
	}
	info.SizeBytes = st.Size()
	return info, nil
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// parseRate reads ffprobe's "num/den" frame rates.
func parseRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return parseFloat(s)
	}
	n, d := parseFloat(num), parseFloat(den)
	if d == 0 {
		return 0
	}
	return n / d
}
