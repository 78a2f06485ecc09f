package media

import (
	"math"
	"testing"
)

// FuzzParseProbeJSON: whatever ffprobe (or a file crafted to confuse it)
// prints, the parser returns an error or a usable description: positive
// dimensions, a rotation in [0, 360), finite non-negative rates and
// durations. Never a panic.
func FuzzParseProbeJSON(f *testing.F) {
	for _, s := range []string{
		`{"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"3.000000","size":"12345","bit_rate":"32920"},"streams":[{"codec_type":"video","codec_name":"h264","pix_fmt":"yuv420p","width":320,"height":180,"r_frame_rate":"24/1","avg_frame_rate":"24/1","nb_frames":"72","duration":"3.000000","tags":{"rotate":"90"},"side_data_list":[{"rotation":-90}]}]}`,
		`{"format":{"format_name":"matroska,webm","duration":"1e308"},"streams":[{"codec_type":"audio"},{"codec_type":"video","disposition":{"attached_pic":1},"width":1,"height":1},{"codec_type":"video","width":2147483647,"height":2147483647,"r_frame_rate":"1/0","avg_frame_rate":"NaN/1","nb_frames":"-5","duration":"inf"}]}`,
		`{"streams":[{"codec_type":"video","width":0,"height":0}]}`,
		`{"streams":[]}`,
		`{}`, `null`, `[`, ``,
		`{"streams":[{"codec_type":"video","width":-4,"height":10,"side_data_list":[{"rotation":1e300}],"tags":{"rotate":"-2147483648"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseProbeJSON(data)
		if err != nil {
			return
		}
		if info.Width <= 0 || info.Height <= 0 {
			t.Fatalf("accepted dimensions %dx%d", info.Width, info.Height)
		}
		if info.Rotation < 0 || info.Rotation >= 360 {
			t.Fatalf("rotation %d", info.Rotation)
		}
		for _, v := range []float64{info.FPS, info.Duration} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("rate or duration %v in %+v", v, info)
			}
		}
		if info.Frames < 0 || info.DisplayWidth() <= 0 || info.DisplayHeight() <= 0 {
			t.Fatalf("frames or display size: %+v", info)
		}
	})
}
