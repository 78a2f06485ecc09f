package quality

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The golden test pins the analyser's output bit for bit, so that speed work
// on it cannot move any figure curation decides on. Regenerate (only when a
// change of results is intended) with
//
//	go test ./transforms/quality/ -run TestAnalyzerGolden -update
var update = flag.Bool("update", false, "rewrite testdata/analyzer_golden.txt from the current analyser")

const goldenPath = "testdata/analyzer_golden.txt"

// mix is splitmix64's finaliser: a deterministic integer hash, so the
// synthetic frames are the same on every platform and Go version.
func mix(v uint64) uint64 {
	v += 0x9e3779b97f4a7c15
	v = (v ^ v>>30) * 0xbf58476d1ce4e5b9
	v = (v ^ v>>27) * 0x94d049bb133111eb
	return v ^ v>>31
}

func hash3(x, y, seed int) int {
	return int(mix(uint64(uint32(x))|uint64(uint32(y))<<32^uint64(seed)*0x632be59bd9b4e019) >> 56) // 0..255
}

// valueNoise is bilinearly interpolated lattice noise with cell size s
// (integer arithmetic only), 0..255.
func valueNoise(x, y, s, seed int) int {
	fx, fy := floorDiv(x, s), floorDiv(y, s)
	ax, ay := x-fx*s, y-fy*s
	v00, v10 := hash3(fx, fy, seed), hash3(fx+1, fy, seed)
	v01, v11 := hash3(fx, fy+1, seed), hash3(fx+1, fy+1, seed)
	top := v00*(s-ax) + v10*ax
	bot := v01*(s-ax) + v11*ax
	return (top*(s-ay) + bot*ay) / (s * s)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

func clamp8(v int) byte { return byte(min(255, max(0, v))) }

// world is a textured scene: coarse and fine value noise, some hard edges
// and a grey band (r = g = b, so HSV sees no hue).
func world(x, y, seed int) (r, g, b int) {
	c := valueNoise(x, y, 24, seed)
	m := valueNoise(x, y, 6, seed+1)
	f := hash3(x, y, seed+2) & 15
	v := (c*5 + m*3) / 8
	if (floorDiv(x, 40)+floorDiv(y, 40))&1 == 0 {
		v = v*3/4 + 40 // checker edges for block matching to lock onto
	}
	switch floorDiv(y, 90) & 3 {
	case 3:
		return v + f, v + f, v + f
	default:
		return v + f, (v*2+valueNoise(x, y, 12, seed+3))/3 + f/2, 255 - v + f/4
	}
}

type scene struct {
	seed       int
	ox, oy     int // camera offset, full-resolution pixels
	zoom       int // 1024 = 1
	subX, subY int // subject disc centre
	text       bool
	gain       int // 256 = 1; applied to everything
	bias       int
	noise      bool
	flat       [3]int // when flat[0] >= 0: a uniform frame of this colour
}

// render draws a scene into a packed RGB24 frame of w x h.
func render(sc scene, w, h int, frame int) []byte {
	rgb := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := (y*w + x) * 3
			if sc.noise {
				v := mix(uint64(frame)<<40 | uint64(y)<<20 | uint64(x))
				rgb[o], rgb[o+1], rgb[o+2] = byte(v), byte(v>>8), byte(v>>16)
				continue
			}
			if sc.flat[0] >= 0 {
				rgb[o], rgb[o+1], rgb[o+2] = byte(sc.flat[0]), byte(sc.flat[1]), byte(sc.flat[2])
				continue
			}
			// Zoom about the frame centre, then pan.
			wx := (x-w/2)*1024/sc.zoom + w/2 + sc.ox
			wy := (y-h/2)*1024/sc.zoom + h/2 + sc.oy
			r, g, b := world(wx, wy, sc.seed)
			// A textured subject moving against the camera.
			if dx, dy := x-sc.subX, y-sc.subY; dx*dx+dy*dy < (h/5)*(h/5) {
				t := valueNoise(dx, dy, 5, sc.seed+7)
				r, g, b = t, 255-t, t/2+60
			}
			if sc.text && y >= h-h/5 && y < h-h/5+16 && x >= w/16 && x < w/16+w/2 {
				// Burned-in caption: a dark box with thin bright strokes.
				r, g, b = 10, 10, 10
				lx, ly := x-w/16, y-(h-h/5)
				if (lx%7 < 2 && ly > 2 && ly < 13) || (ly%5 == 2 && lx%14 < 9) {
					r, g, b = 250, 250, 240
				}
			}
			rgb[o] = clamp8(r*sc.gain/256 + sc.bias)
			rgb[o+1] = clamp8(g*sc.gain/256 + sc.bias)
			rgb[o+2] = clamp8(b*sc.gain/256 + sc.bias)
		}
	}
	return rgb
}

// goldenClip is the sequence of scenes the golden test plays: a panning
// textured scene with a moving subject, zoom, shake, a hard cut, a caption,
// dark and bright stretches, noise and flat frames.
func goldenClip(w, h, n int) []scene {
	out := make([]scene, n)
	for f := range n {
		sc := scene{seed: 1, zoom: 1024, gain: 256, flat: [3]int{-1}}
		sc.ox, sc.oy = 3*f, f/2
		sc.subX, sc.subY = w/4+4*f%(w/2), h/2+(f%9)-4
		switch {
		case f < 12: // pan
		case f < 20: // zoom in
			sc.zoom = 1024 + 12*(f-12)
		case f < 26: // shake
			sc.ox += hash3(f, 0, 9)%9 - 4
			sc.oy += hash3(f, 1, 9)%7 - 3
		case f < 44: // hard cut to another scene, with a caption over part of it
			sc.seed = 5
			sc.ox, sc.oy = -2*f, 40
			sc.text = f >= 30
		case f < 50: // dark
			sc.seed = 5
			sc.gain = 40
		case f < 56: // bright, clipped
			sc.seed = 5
			sc.gain, sc.bias = 128, 150
		case f < 60:
			sc.noise = true
		case f < 63:
			sc.flat = [3]int{90, 90, 90}
		case f < 66:
			sc.flat = [3]int{200, 40, 100}
		default: // back to the pan, fast
			sc.ox, sc.oy = 7*f, -f
		}
		out[f] = sc
	}
	return out
}

type goldenCase struct {
	w, h   int
	fps    float64
	n      int
	repeat int // times each frame is pushed (a low-rate source resampled repeats frames)
}

var goldenCases = []goldenCase{
	{256, 144, 15, 72, 1},
	{256, 192, 15, 72, 1},
	{256, 170, 30, 72, 1}, // odd motion-resolution height; stride 4
	{96, 64, 8, 72, 1},    // too small for the global search; stride 1
	{170, 256, 15, 72, 1}, // portrait, width not a multiple of 8
	{256, 144, 15, 40, 2}, // every frame twice: an 8 fps source analysed at 15
}

// goldenDump runs every case through a fresh Analyzer and writes every
// exported FrameStats field (float64 as its bits), every frame's text-cell
// bitmap, and the window figures summary.go derives (Summarize and so
// OverlayScore, DetectCuts).
func goldenDump(t testing.TB) []byte {
	var buf bytes.Buffer
	for _, c := range goldenCases {
		a, err := NewAnalyzer(c.w, c.h, c.fps, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for f, sc := range goldenClip(c.w, c.h, c.n) {
			rgb := render(sc, c.w, c.h, f)
			for range c.repeat {
				if err := a.Push(rgb); err != nil {
					t.Fatal(err)
				}
			}
		}
		fmt.Fprintf(&buf, "case %dx%d fps %g stride %d", c.w, c.h, c.fps, a.Stride())
		if c.repeat > 1 {
			fmt.Fprintf(&buf, " repeat %d", c.repeat)
		}
		buf.WriteByte('\n')
		for f, fs := range a.Frames {
			fmt.Fprintf(&buf, "frame %d%s cells", f, fieldBits(reflect.ValueOf(fs)))
			for _, w := range a.cells[f] {
				fmt.Fprintf(&buf, " %x", w)
			}
			buf.WriteByte('\n')
		}
		for _, win := range [][2]int{{0, c.n}, {0, 12}, {12, 26}, {26, 44}, {30, 44}, {44, 60}, {56, 72}} {
			s := a.Summarize(win[0], win[1])
			fmt.Fprintf(&buf, "summary %d-%d%s\n", win[0], win[1], fieldBits(reflect.ValueOf(s)))
		}
		fmt.Fprintf(&buf, "cuts %v %v\n", DetectCuts(a.Frames, 27, 4, 3), DetectCuts(a.Frames, 27, 4, 0))
	}
	return buf.Bytes()
}

// fieldBits formats every field of a struct: floats as their IEEE bits (so
// any change at all shows), with the value beside it for reading.
func fieldBits(v reflect.Value) string {
	var sb strings.Builder
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		switch f := v.Field(i); f.Kind() {
		case reflect.Float64:
			fmt.Fprintf(&sb, " %s=%016x(%.6g)", name, math.Float64bits(f.Float()), f.Float())
		case reflect.Bool:
			fmt.Fprintf(&sb, " %s=%v", name, f.Bool())
		case reflect.Int:
			fmt.Fprintf(&sb, " %s=%d", name, f.Int())
		default:
			panic("fieldBits: unhandled field kind " + f.Kind().String())
		}
	}
	return sb.String()
}

// fusedMulAdd reports whether this build contracts x*y+z into one fused
// multiply-add (arm64, ppc64, s390x, GOAMD64=v3 and up do): that rounds
// once instead of twice, so the motion fits' floats move in the last bits
// and the golden file, made without contraction, cannot match.
func fusedMulAdd() bool {
	x, y := 1+0x1p-30, 1-0x1p-30
	return mulAdd(x, y, -1) != 0 // x*y = 1 - 2**-60 exactly; unfused it rounds to 1
}

//go:noinline
func mulAdd(x, y, z float64) float64 { return x*y + z }

func TestAnalyzerGolden(t *testing.T) {
	if fusedMulAdd() && !*update {
		t.Skip("this build fuses multiply-adds; the golden file holds unfused results (run on amd64 v1/v2)")
	}
	got := goldenDump(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenPath)
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	bad := 0
	for i := 0; i < max(len(gl), len(wl)) && bad < 5; i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("line %d differs: %s", i+1, tokenDiff(g, w))
			bad++
		}
	}
	t.Fatalf("analyser output differs from %s", goldenPath)
}

// tokenDiff names the fields of two golden lines that differ.
func tokenDiff(got, want string) string {
	g, w := strings.Fields(got), strings.Fields(want)
	var sb strings.Builder
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			fmt.Fprintf(&sb, "\n got %s\nwant %s", a, b)
		}
	}
	return sb.String()
}
