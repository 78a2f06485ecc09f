package evaluate

// Validation of the motion metrics on held-out real clips with known
// perturbations: a metric that measures motion must order them the way a
// person would (real < real with sensor-like noise < first frame held
// still; real < real slowed 2x < still; real < frames shuffled), and must
// not read per-pixel noise or flickering 2x2 blocks on a still frame as
// motion.
//
// Clips: every 2-second window (1-second stride) of the real footage in
// ../shared/testdata/footage (skipped when absent) and of clean synthetic
// footage from transforms/synth (seed 4242, kept apart from the demo's,
// the base model's and the tests' other seeds), decoded at the model's
// sizes (tiny: 9 frames of 48x32; small: 17 frames of 96x64) the way
// evaluation decodes clips: ffmpeg area scaling, then the window's frames
// resampled over its span.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"realdpo/transforms/generate"
	"realdpo/transforms/media"
	"realdpo/transforms/synth"
)

const (
	// windowFPS and windowFrames cut 2-second windows whose frames land
	// exactly on the model's frames (9 or 17 over the window, and over its
	// first half for the 2x slow motion), so no perturbation blends frames.
	windowFPS    = 16
	windowFrames = 33
	windowStride = 16
	footageDir   = "../../../shared/testdata/footage"
	synthSeed    = 4242
)

// geometry is a model preset's clip size (model/config.go's presets).
type geometry struct {
	Name         string
	Frames, W, H int
}

var geometries = []geometry{
	{Name: "tiny", Frames: 9, W: 48, H: 32},
	{Name: "small", Frames: 17, W: 96, H: 64},
}

// source is one video decoded at a model size and 16 fps.
type source struct {
	Name   string
	Real   bool
	Frames [][]byte
}

var (
	sourcesMu    sync.Mutex
	sourcesCache = map[string][]source{}
	synthDir     string
)

func decodeSource(t *testing.T, path string, w, h int) [][]byte {
	t.Helper()
	fr, err := media.ReadFrames(context.Background(), path, media.DecodeOptions{Width: w, Height: h, FPS: windowFPS,
		Format: media.RGB24, MaxFrames: 2000, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return fr
}

// sources decodes the shared real footage (when present) and the synthetic
// footage at w x h; shared across tests.
func sources(t *testing.T, w, h int) []source {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (make deps installs it)")
	}
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	key := fmt.Sprintf("%dx%d", w, h)
	if s, ok := sourcesCache[key]; ok {
		return s
	}
	var out []source
	// The overlay clip is the arm-wrestling scene again with boxes burned in.
	for _, name := range []string{"pizza_4873105.mp4", "armwrestling.mp4", "makeup.avi"} {
		p := filepath.Join(footageDir, name)
		if _, err := os.Stat(p); err != nil {
			t.Logf("real footage %s absent (%v): synthetic footage only", p, err)
			break
		}
		out = append(out, source{Name: strings.TrimSuffix(name, filepath.Ext(name)), Real: true, Frames: decodeSource(t, p, w, h)})
	}
	if synthDir == "" {
		dir, err := os.MkdirTemp("", "evaluate-validation-")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := synth.Generate(context.Background(), synth.Config{Output: dir, Count: 6, Seed: synthSeed,
			Sizes: []synth.Size{{W: 320, H: 180}}, FPS: []float64{25}, MinSeconds: 4, MaxSeconds: 5, Workers: 2}); err != nil {
			t.Fatal(err)
		}
		synthDir = dir
	}
	files, _ := filepath.Glob(filepath.Join(synthDir, "footage_*"))
	sort.Strings(files)
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".mp4", ".mkv", ".webm", ".avi":
		default:
			continue // sidecars
		}
		out = append(out, source{Name: "synth/" + filepath.Base(f), Frames: decodeSource(t, f, w, h)})
	}
	sourcesCache[key] = out
	return out
}

// clip is one held-out window under every perturbation, at a model size.
type clip struct {
	Name string
	Real bool
	// Versions by perturbation name.
	V map[string][][]byte
}

// Perturbations, in the order the tables print them.
var perturbations = []string{"real", "real+noise", "real+heavy noise", "slowed 2x", "shuffled", "still", "still+noise", "still+blocks", "still+4x4 blocks"}

// addBlocks draws, on every frame after the first, coloured 2x2 blocks at
// random places over about share of the frame, new ones each frame: the
// flickering artefacts the fine-tuned tiny models add to a held frame.
func addBlocks(frames [][]byte, w, h, size int, share float64, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 91))
	out := make([][]byte, len(frames))
	n := int(share * float64(w*h) / float64(size*size))
	for i, f := range frames {
		g := append([]byte(nil), f...)
		for range n * min(i, 1) {
			x, y := rng.IntN(w-size+1), rng.IntN(h-size+1)
			c := [3]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}
			for dy := range size {
				for dx := range size {
					copy(g[((y+dy)*w+x+dx)*3:], c[:])
				}
			}
		}
		out[i] = g
	}
	return out
}

func addNoise(frames [][]byte, std float64, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 77))
	out := make([][]byte, len(frames))
	for i, f := range frames {
		g := make([]byte, len(f))
		for k, b := range f {
			g[k] = byte(min(255, max(0, math.Round(float64(b)+std*rng.NormFloat64()))))
		}
		out[i] = g
	}
	return out
}

// sensorNoise and heavyNoise are the per-channel standard deviations
// (0..255) of the Gaussian noise added. The built-in base model's samples
// carry a speckle of about 4 (the standard deviation of consecutive-frame
// differences over sqrt 2, measured on its tiny-preset samples from these
// clips' first frames), so sensor-like noise is that strong and heavy
// noise two and a half times stronger.
const (
	sensorNoise = 4
	heavyNoise  = 10
)

func clipsAt(t *testing.T, g geometry) []clip {
	t.Helper()
	var out []clip
	for si, s := range sources(t, g.W, g.H) {
		for k, start := 0, 0; start+windowFrames <= len(s.Frames); k, start = k+1, start+windowStride {
			win := s.Frames[start : start+windowFrames]
			real := generate.ResampleTime(win, g.Frames)
			seed := uint64(si*1000 + k)
			c := clip{Name: fmt.Sprintf("%s@%ds", s.Name, start/windowFPS), Real: s.Real, V: map[string][][]byte{}}
			c.V["real"] = real
			c.V["real+noise"] = addNoise(real, sensorNoise, seed)
			c.V["real+heavy noise"] = addNoise(real, heavyNoise, seed)
			c.V["slowed 2x"] = generate.ResampleTime(win[:windowFrames/2+1], g.Frames)
			shuf := [][]byte{real[0]}
			perm := rand.New(rand.NewPCG(seed, 5)).Perm(len(real) - 1)
			for _, p := range perm {
				shuf = append(shuf, real[1+p])
			}
			c.V["shuffled"] = shuf
			still := make([][]byte, g.Frames)
			for i := range still {
				still[i] = real[0]
			}
			c.V["still"] = still
			c.V["still+noise"] = addNoise(still, heavyNoise, seed)
			// The fine-tuned models' artefact (README, issue 17): asserted
			// to measure as (almost) still.
			c.V["still+blocks"] = addBlocks(still, g.W, g.H, 2, 0.02, seed)
			// Logged only: 4x4 blocks over 5% of the frame survive the 3x3
			// median and still count as motion (dynamic degree 1.0).
			c.V["still+4x4 blocks"] = addBlocks(still, g.W, g.H, 4, 0.05, seed)
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Skip("no held-out clips")
	}
	return out
}

// anyReal reports whether any clip comes from real footage.
func anyReal(cs []clip) bool {
	for _, c := range cs {
		if c.Real {
			return true
		}
	}
	return false
}

// measured is every clip's Stats under every perturbation.
type measured map[string][]Stats

func measureAll(t *testing.T, g geometry, cs []clip) measured {
	t.Helper()
	m := measured{}
	for _, p := range perturbations {
		for _, c := range cs {
			v := Video{W: g.W, H: g.H, Frames: c.V[p]}
			st, err := Analyze(v, c.V["real"][0], make([]float64, len(v.Frames)))
			if err != nil {
				t.Fatalf("%s %s: %v", c.Name, p, err)
			}
			m[p] = append(m[p], st)
		}
	}
	return m
}

// metricDef is one per-clip motion metric under validation.
type metricDef struct {
	Name string
	Of   func(Stats) float64
}

var motionMetrics = []metricDef{
	{"mean speed", func(s Stats) float64 { return s.MeanSpeed }},
	{"top-5% speed", func(s Stats) float64 { return s.Top5 }},
	{"dynamic", func(s Stats) float64 {
		if s.Dynamic {
			return 1
		}
		return 0
	}},
	{"accel", func(s Stats) float64 { return s.Accel }},
	{"jerk", func(s Stats) float64 { return s.Jerk }},
	{"moving area", func(s Stats) float64 { return s.Area }},
}

// Per-clip figures that are not motion: the clip's noise level, and the
// flicker the motion metrics pass over.
var (
	noiseMetric   = metricDef{"noise level", func(s Stats) float64 { return s.Noise }}
	flickerMetric = metricDef{"flicker", func(s Stats) float64 { return s.Flicker }}
)

// meanOf is a metric's mean over the clips under a perturbation.
func meanOf(m measured, p string, d metricDef) float64 {
	var s float64
	for _, st := range m[p] {
		s += d.Of(st)
	}
	return s / float64(len(m[p]))
}

// errOf is the mean over clips of |metric(perturbed) - metric(real)|: how
// far the perturbation moves each clip's figure from its real value.
func errOf(m measured, p string, d metricDef) float64 {
	var s float64
	for i, st := range m[p] {
		s += math.Abs(d.Of(st) - d.Of(m["real"][i]))
	}
	return s / float64(len(m[p]))
}

// setMetric is a set-level motion distance between the real clips and a
// perturbed version of them.
type setMetric struct {
	Name string
	Of   func(real, other []Stats) float64
}

func motionRows(ss []Stats) [][]float64 {
	rows := make([][]float64, len(ss))
	for i, s := range ss {
		rows[i] = MotionFeatures(s)
	}
	return rows
}

var setMetrics = []setMetric{
	{"motion Frechet", func(real, other []Stats) float64 {
		f, err := FrechetShrunk(motionRows(real), motionRows(other))
		if err != nil {
			panic(err) // finite features by construction
		}
		return f.Distance
	}},
	{"motion error", func(real, other []Stats) float64 {
		sc, err := NewScaler(motionRows(real))
		if err != nil {
			panic(err)
		}
		var s float64
		for i := range real {
			s += MotionError(other[i], real[i], sc.Scale)
		}
		return s / float64(len(real))
	}},
	{"speed W1", func(real, other []Stats) float64 {
		var a, b []float64
		for i := range real {
			a = append(a, real[i].Speeds...)
			b = append(b, other[i].Speeds...)
		}
		return Wasserstein1(a, b)
	}},
	{"Frechet (all)", func(real, other []Stats) float64 {
		rows := func(ss []Stats) [][]float64 {
			out := make([][]float64, len(ss))
			for i, s := range ss {
				out[i] = s.Features
			}
			return out
		}
		f, err := FrechetShrunk(rows(real), rows(other))
		if err != nil {
			panic(err)
		}
		return f.Distance
	}},
}

// validationTable prints every figure: per-clip metrics as "mean over
// clips (mean |perturbed - real|)", set-level distances to the real clips.
func validationTable(g geometry, n int, m measured) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d frames of %dx%d), %d held-out clips\n%-15s", g.Name, g.Frames, g.W, g.H, n, "metric")
	for _, p := range perturbations {
		fmt.Fprintf(&b, " %17s", p)
	}
	b.WriteString("\n")
	for _, d := range motionMetrics {
		fmt.Fprintf(&b, "%-15s", d.Name)
		for _, p := range perturbations {
			fmt.Fprintf(&b, " %7.3f (%6.3f)", meanOf(m, p, d), errOf(m, p, d))
		}
		b.WriteString("\n")
	}
	for _, d := range setMetrics {
		fmt.Fprintf(&b, "%-15s", d.Name)
		for _, p := range perturbations {
			fmt.Fprintf(&b, " %17.3f", d.Of(m["real"], m[p]))
		}
		b.WriteString("\n")
	}
	for _, d := range []metricDef{noiseMetric, flickerMetric} {
		fmt.Fprintf(&b, "%-15s", d.Name)
		for _, p := range perturbations {
			fmt.Fprintf(&b, " %17.3f", meanOf(m, p, d))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestMotionMetricsOrderPerturbations is the validation: on every held-out
// clip at both model sizes, each motion metric must rank the known
// perturbations the way a person would.
func TestMotionMetricsOrderPerturbations(t *testing.T) {
	for _, g := range geometries {
		t.Run(g.Name, func(t *testing.T) {
			cs := clipsAt(t, g)
			m := measureAll(t, g, cs)
			t.Log("\n" + validationTable(g, len(cs), m))
			// How far noise may move a metric, as a share of a still frame's
			// distance. Calibrated on the full set (half real footage, mean
			// speed 0.43 px/frame). Synthetic footage alone (../shared absent)
			// moves slower (0.16-0.19 px/frame), so the same noise is a
			// larger share of its motion: there, measured worst 0.15 (sensor)
			// and 0.35 (heavy), and the order still holds by a wide margin.
			// Flickering blocks likewise: synthetic alone measured (tiny,
			// small) top-5% speed 0.21, 0.14 of real; dynamic 0.11, 0;
			// accel 0.10, 0.11; jerk 0.11, 0.12; heavy noise on the moving
			// area 0.40 of a still frame's; motion Frechet still+blocks
			// 0.80, 0.82 of still's.
			// Slowed 2x may measure a little above real on the synthetic
			// clips alone (tiny: top-5% speed 1.04x, dynamic 1.11x, one clip
			// of 18 crossing the threshold), never on the full set.
			sensorShare, heavyShare, blockShare, topBlockShare, blockFrechet, slowOver := 0.1, 0.25, 0.1, 0.2, 0.85, 1.0
			if !anyReal(cs) {
				sensorShare, heavyShare, blockShare, topBlockShare, blockFrechet, slowOver = 0.2, 0.5, 0.15, 0.3, 0.75, 1.15
			}
			for _, d := range motionMetrics {
				real, still := meanOf(m, "real", d), errOf(m, "still", d)
				if real <= 0 {
					t.Fatalf("%s: real clips measure %g: nothing to validate against", d.Name, real)
				}
				// A held still frame has no motion, with or without grain:
				// noise must not pass for motion.
				if v := meanOf(m, "still", d); v != 0 {
					t.Errorf("%s: still first frame measures %.3f, want 0", d.Name, v)
				}
				if v := meanOf(m, "still+noise", d); v > 0.05*real {
					t.Errorf("%s: still frame with noise measures %.3f, real clips %.3f: noise passes for motion", d.Name, v, real)
				}
				// Nor may 2x2 blocks flickering at random places. Measured
				// share of real (tiny, small): mean speed 0.026, 0.026; top-5%
				// 0.135, 0.106 (a few touching blocks survive the median and
				// the fastest 5% pick them out); dynamic 0.04, 0; accel 0.030,
				// 0.037; jerk 0.033, 0.044; moving area 0.020, 0.011.
				share := blockShare
				if d.Name == "top-5% speed" {
					share = topBlockShare
				}
				if v := meanOf(m, "still+blocks", d); v > share*real {
					t.Errorf("%s: still frame with flickering blocks measures %.3f, real clips %.3f: want at most %.2f of it", d.Name, v, real, share)
				}
				// real < real with noise < still (distance to the real clip).
				if e := errOf(m, "real+noise", d); !(e < sensorShare*still) {
					t.Errorf("%s: sensor-like noise moves it by %.3f, a still frame by %.3f: want under %.2f of it", d.Name, e, still, sensorShare)
				}
				if e := errOf(m, "real+heavy noise", d); !(e < heavyShare*still) {
					t.Errorf("%s: heavy noise moves it by %.3f, a still frame by %.3f: want under %.2f of it", d.Name, e, still, heavyShare)
				}
				// real < real slowed 2x < still, and slow motion is less motion.
				if e, v := errOf(m, "slowed 2x", d), meanOf(m, "slowed 2x", d); !(e > 0 && e < still) || !(v <= slowOver*real) {
					t.Errorf("%s: slowed 2x measures %.3f (real %.3f), distance %.3f, still's %.3f", d.Name, v, real, e, still)
				}
			}
			// Flicker counts what the motion metrics pass over: blocks that
			// appear and vanish (2x2 or 4x4) measure more than twice real
			// footage's, noise barely moves it. Measured (tiny / small):
			// real 0.026 / 0.012, +noise 0.028 / 0.016, still+blocks 0.063 /
			// 0.068, still+4x4 blocks 0.075 / 0.078, still 0.
			fr, fn := meanOf(m, "real", flickerMetric), meanOf(m, "real+noise", flickerMetric)
			for _, p := range []string{"still+blocks", "still+4x4 blocks"} {
				if fb := meanOf(m, p, flickerMetric); !(fb > 2*fr) || !(fn < fr+0.25*(fb-fr)) {
					t.Errorf("flicker: real %.4f, real+noise %.4f, %s %.4f: want blocks over twice real, noise within a quarter of the way", fr, fn, p, fb)
				}
			}
			if v := meanOf(m, "still", flickerMetric); v != 0 {
				t.Errorf("flicker: a still frame measures %.4f, want 0", v)
			}
			// Shuffled frames: faster, rougher motion.
			for _, name := range []string{"mean speed", "accel", "jerk"} {
				d := motionMetricByName(name)
				if real, shuf := meanOf(m, "real", d), meanOf(m, "shuffled", d); !(shuf > 1.3*real) {
					t.Errorf("%s: shuffled frames %.3f, real %.3f: want clearly more", name, shuf, real)
				}
			}
			// Set-level motion distances to the real clips: real < noise <
			// slowed < still; shuffled far too.
			for _, d := range setMetrics[:3] {
				noise, slow, still, shuf := d.Of(m["real"], m["real+noise"]), d.Of(m["real"], m["slowed 2x"]),
					d.Of(m["real"], m["still+noise"]), d.Of(m["real"], m["shuffled"])
				if self := d.Of(m["real"], m["real"]); !(self < 1e-9 && noise < slow && slow < still && noise < shuf) {
					t.Errorf("%s: real %.3f, noise %.3f, slowed %.3f, still+noise %.3f, shuffled %.3f: want real < noise < slowed < still, noise < shuffled",
						d.Name, self, noise, slow, still, shuf)
				}
			}
			// Flickering blocks on a still frame are as far from real motion
			// as the still frame. Measured distance(real, still+blocks) /
			// distance(real, still) (tiny, small): motion Frechet 0.90,
			// 0.92; motion error 0.98, 0.96; speed W1 0.97, 0.97 (before the
			// median filter: 0.58, 0.44 for motion Frechet).
			for _, d := range setMetrics[:3] {
				if blocks, still := d.Of(m["real"], m["still+blocks"]), d.Of(m["real"], m["still"]); !(blocks >= blockFrechet*still) {
					t.Errorf("%s: still+blocks %.3f, still %.3f: flickering blocks pass for motion (want at least %.2f of still's)", d.Name, blocks, still, blockFrechet)
				}
			}
			// The Frechet distance on every feature (appearance included):
			// losing the motion counts more than slowing it, and shuffling
			// frames counts.
			all := setMetrics[3]
			if slow, still, shuf, noise := all.Of(m["real"], m["slowed 2x"]), all.Of(m["real"], m["still"]), all.Of(m["real"], m["shuffled"]),
				all.Of(m["real"], m["real+noise"]); !(slow < still && noise < shuf) {
				t.Errorf("Frechet (all): slowed %.3f, still %.3f, noise %.3f, shuffled %.3f", slow, still, noise, shuf)
			}
		})
	}
}

func motionMetricByName(name string) metricDef {
	for _, d := range motionMetrics {
		if d.Name == name {
			return d
		}
	}
	panic("no metric " + name)
}

// TestSyntheticFootageMoves checks the synthetic footage at the model's
// sizes: the figures' motion must be measurable there (block flow or
// moving area), or the demo's model cannot learn motion from it.
func TestSyntheticFootageMoves(t *testing.T) {
	for _, g := range geometries {
		var moving, n int
		var area, speed float64
		for _, c := range clipsAt(t, g) {
			if c.Real {
				continue
			}
			st, err := Analyze(Video{W: g.W, H: g.H, Frames: c.V["real"]}, c.V["real"][0], make([]float64, g.Frames))
			if err != nil {
				t.Fatal(err)
			}
			n++
			area += st.Area
			speed += st.MeanSpeed
			if st.MeanSpeed > 0.05 || st.Area > 0.05 {
				moving++
			}
		}
		if n == 0 {
			t.Fatalf("%s: no synthetic clips", g.Name)
		}
		t.Logf("%s: %d of %d synthetic windows move measurably (mean speed > 0.05 px/frame or moving area > 0.05); mean speed %.3f, mean moving area %.3f",
			g.Name, moving, n, speed/float64(n), area/float64(n))
		if moving*3 < n*2 || area/float64(n) < 0.11 {
			t.Errorf("%s: the figures' motion is lost at this size", g.Name)
		}
	}
}
