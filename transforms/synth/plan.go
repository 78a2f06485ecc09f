package synth

import (
	"fmt"
	"math"

	"realdpo/schemas"
	"realdpo/transforms/config"
)

// Size is a frame size.
type Size struct{ W, H int }

// Profile is the clip length a curation profile needs; the ground truth
// predicts each profile's decision from it.
type Profile struct {
	Name    string
	Seconds float64 // frames / fps of one clip
}

// Profiles mirror the curation profiles: realaction is the reference
// training spec (49 frames at 8 fps), demo the embedded demo's (17 at 8).
var Profiles = []Profile{{"realaction", 49.0 / 8}, {"demo", 17.0 / 8}}

// trimAllowance is the margin a segment needs beyond one clip: curation
// trims a little at each cut.
const trimAllowance = 0.5

// Config controls a corpus. Zero values take the defaults noted (the
// command's flags start from DefaultConfig).
type Config struct {
	Output string `flag:"output" help:"directory to write the videos, sidecars and ground_truth.jsonl (required)" check:"required"`
	Count  int    `flag:"count" help:"number of files to write" check:"positive"`
	Seed   uint64 `flag:"seed" help:"seed: the same seed gives the same frames and ground truth"`
	// DefectShare is the share of files that carry a labelled defect.
	DefectShare float64 `flag:"defect_share" help:"share of files carrying a labelled defect (0..1)"`
	// Sizes to draw landscape frames from; default 640x360..1280x720.
	Sizes []Size
	// FPS choices; default 24, 25, 30.
	FPS []float64
	// MinSeconds and MaxSeconds bound clean footage; default 4 and 20.
	MinSeconds float64 `flag:"min_seconds" help:"shortest clean video, seconds"`
	MaxSeconds float64 `flag:"max_seconds" help:"longest clean video, seconds"`
	// Defects limits the defect kinds injected (default: all).
	Defects []string
	// Workers renders this many files at once (default: number of CPUs).
	Workers      int  `flag:"workers" help:"files rendered at once (default: CPUs)" check:"nonnegative"`
	ContactSheet bool `flag:"contact_sheet" help:"also write contact_sheet.png, a grid of frames from every file"`
}

// DefaultConfig is the command's starting point: 24 files, seed 1, 35%
// defective, clean footage 4 to 20 s long.
func DefaultConfig() Config {
	return Config{Count: 24, Seed: 1, DefectShare: 0.35, MinSeconds: 4, MaxSeconds: 20}
}

// AllDefects is every defect kind the generator can inject, in the order
// they are dealt out, so any corpus of a dozen defective files has each.
var AllDefects = []string{
	schemas.DefectSceneCuts, schemas.DefectPortrait, schemas.DefectTooShort, schemas.DefectTooSmall,
	schemas.DefectStatic, schemas.DefectDark, schemas.DefectBlur, schemas.DefectOverlay,
	schemas.DefectExactDup, schemas.DefectTruncated, schemas.DefectOffTopic, schemas.DefectWashedOut,
	schemas.DefectNearDup, schemas.DefectZeroByte, schemas.DefectNotVideo, schemas.DefectShaky,
	schemas.DefectReencode,
}

func (c *Config) defaults() {
	if len(c.Sizes) == 0 {
		c.Sizes = []Size{{640, 360}, {640, 360}, {854, 480}, {960, 540}, {1280, 720}}
	}
	if len(c.FPS) == 0 {
		c.FPS = []float64{24, 25, 30}
	}
	if c.MinSeconds <= 0 {
		c.MinSeconds = 4
	}
	if c.MaxSeconds < c.MinSeconds {
		c.MaxSeconds = max(20, c.MinSeconds)
	}
	if len(c.Defects) == 0 {
		c.Defects = AllDefects
	}
}

// Validate reports configuration errors before anything is written:
// nonsense is refused by name, not quietly replaced by a default.
func (c *Config) Validate() error {
	if err := config.Check("synth", *c); err != nil {
		return err
	}
	switch {
	case c.Count > 1_000_000:
		return config.Errorf("synth", "Count", "=%d is implausibly large", c.Count)
	case !(c.DefectShare >= 0 && c.DefectShare <= 1):
		return config.Errorf("synth", "DefectShare", "=%v must be within [0, 1]", c.DefectShare)
	case !(c.MinSeconds >= 0) || math.IsInf(c.MinSeconds, 0):
		return config.Errorf("synth", "MinSeconds", "=%v must be positive (0: 4 s)", c.MinSeconds)
	case c.MaxSeconds != 0 && (!(c.MaxSeconds >= c.MinSeconds) || math.IsInf(c.MaxSeconds, 0)):
		return config.Errorf("synth", "MaxSeconds", "=%v must be at least {MinSeconds}=%v", c.MaxSeconds, c.MinSeconds)
	}
	known := map[string]bool{}
	for _, d := range AllDefects {
		known[d] = true
	}
	for _, d := range c.Defects {
		if !known[d] {
			return config.Errorf("synth", "Defects", " names an unknown defect %q", d)
		}
	}
	for _, s := range c.Sizes {
		if s.W < 16 || s.H < 16 || s.W%2 != 0 || s.H%2 != 0 || s.W > 3840 || s.H > 2160 {
			return config.Errorf("synth", "Sizes", ": %dx%d must be even and between 16 and 3840x2160", s.W, s.H)
		}
	}
	return nil
}

// item is one planned output file.
type item struct {
	spec    videoSpec
	defect  string // the one injected defect, or ""
	dupOf   int    // index of the original for duplicates, else -1
	title   string
	tags    []string
	caption string
	txt     bool // write NAME.txt
}

// avoidBand keeps a duration out of the zone where a profile's length rule
// would be a coin toss, so every expected outcome is unambiguous.
func avoidBand(sec float64) float64 {
	for _, p := range Profiles {
		lo, hi := p.Seconds+trimAllowance-0.4, p.Seconds+trimAllowance+0.9
		if sec > lo && sec < hi {
			sec = hi + 0.1
		}
	}
	return sec
}

// plan decides every file of the corpus from the seed alone.
func plan(c Config) []item {
	c.defaults()
	items := make([]item, c.Count)
	nDefect := int(math.Round(float64(c.Count) * c.DefectShare))
	// Spread defective files through the corpus, deterministically.
	defective := map[int]bool{}
	if nDefect > 0 {
		step := float64(c.Count) / float64(nDefect)
		for k := 0; k < nDefect; k++ {
			defective[min(c.Count-1, int(float64(k)*step+step/2))] = true
		}
	}
	dealt := 0
	var cleanSoFar []int
	for i := range items {
		r := newRNG(c.Seed, fmt.Sprintf("item/%d", i))
		it := &items[i]
		it.dupOf = -1
		if defective[i] {
			it.defect = c.Defects[dealt%len(c.Defects)]
			dealt++
			if isCopy(it.defect) && len(cleanSoFar) == 0 {
				it.defect = schemas.DefectStatic // nothing to duplicate yet
			}
		}
		v := &it.spec
		v.Index, v.Seed, v.Gain = i, r.Uint64(), 1
		sz := pick(r, c.Sizes)
		v.Width, v.Height = sz.W, sz.H
		v.FPS = pick(r, c.FPS)
		v.Container, v.Codec, v.CRF = "mp4", "libx264", 20+r.IntN(6)
		switch x := r.Float64(); {
		case x < 0.1:
			v.Container = "mkv"
		case x < 0.18:
			v.Container, v.Codec = "webm", "libvpx-vp9"
		case x < 0.25:
			v.Container, v.Codec = "avi", "mpeg4"
		}
		v.FastStart = r.chance(0.7)
		sec := avoidBand(r.uniform(c.MinSeconds, c.MaxSeconds))
		act := pick(r, actions)
		people := 1 + r.IntN(act.MaxPeople)
		if act.Name == "hugging" {
			people = 2
		}
		cam := pick(r, []string{camStatic, camStatic, camStatic, camPan, camZoom, camHandheld, camHandheld})
		shot := shotSpec{Action: act.Name, People: people, Scene: pick(r, scenesFor(act.Name)), Camera: cam, Seed: r.Uint64()}
		v.Shots = []shotSpec{shot}

		switch it.defect {
		case schemas.DefectPortrait:
			v.Width, v.Height = sz.H, sz.W
		case schemas.DefectTooSmall:
			s := pick(r, []Size{{160, 90}, {192, 108}, {176, 144}})
			v.Width, v.Height = s.W, s.H
		case schemas.DefectTooShort:
			sec = r.uniform(1.0, 1.5)
		case schemas.DefectStatic:
			v.Static = true
			v.Shots[0].Camera = camStatic
		case schemas.DefectDark:
			v.Dark = true
		case schemas.DefectWashedOut:
			v.Washed = true
		case schemas.DefectBlur:
			v.Blur = true
		case schemas.DefectOverlay:
			v.Overlay = true
		case schemas.DefectShaky:
			v.Shots[0].Camera = camShaky
		case schemas.DefectOffTopic:
			v.Shots[0] = shotSpec{Scene: sceneSkyline, Camera: camStatic, Seed: r.Uint64()}
		case schemas.DefectTruncated:
			// Half lose the index at the end (moov atom), half are cut mid-stream.
			v.FastStart = r.chance(0.5)
			v.Container, v.Codec = "mp4", "libx264"
			if r.chance(0.3) {
				v.Container = "mkv"
			}
		case schemas.DefectExactDup, schemas.DefectNearDup, schemas.DefectReencode:
			it.dupOf = pick(r, cleanSoFar)
		}
		v.Frames = max(2, int(math.Round(sec*v.FPS)))
		if it.defect == schemas.DefectSceneCuts {
			planCuts(r, v, c)
		}
		v.Shots[len(v.Shots)-1].End = v.Frames
		v.Name = fmt.Sprintf("footage_%04d.%s", i, v.Container)
		if it.defect != "" {
			v.Defects = []string{it.defect}
		}
		if it.defect == "" {
			cleanSoFar = append(cleanSoFar, i)
		}
		it.txt = r.chance(0.5)
	}
	// Duplicates copy their original's look; names and sidecars differ.
	for i := range items {
		it := &items[i]
		if it.dupOf < 0 {
			continue
		}
		orig := items[it.dupOf].spec
		v := orig
		v.Index, v.Defects = i, []string{it.defect}
		v.Shots = append([]shotSpec(nil), orig.Shots...)
		if it.defect == schemas.DefectNearDup {
			// Re-rendered from the same seed smaller, re-encoded, a touch
			// brighter: the same footage as the original, not the same bytes.
			v.Width, v.Height = even(orig.Width*3/4), even(orig.Height*3/4)
			v.CRF = orig.CRF + 6
			v.Gain = 1.05
			if orig.Container == "mp4" {
				v.Container, v.Codec = "mkv", "libx264"
			} else {
				v.Container, v.Codec = "mp4", "libx264"
			}
		}
		if it.defect == schemas.DefectReencode {
			// The same footage shipped again: smaller, VP9 at a low bitrate,
			// and starting later (a quarter of the original, at most 2 s), so
			// its best window is another stretch of the source.
			v.Width, v.Height = even(orig.Width*3/4), even(orig.Height*3/4)
			v.Container, v.Codec, v.CRF = "webm", "libvpx-vp9", 50
			v.Skip = int(math.Round(min(2, 0.25*orig.duration()) * orig.FPS))
			v.Frames = orig.Frames - v.Skip
		}
		v.Name = fmt.Sprintf("footage_%04d.%s", i, v.Container)
		it.spec = v
	}
	for i := range items {
		describe(&items[i], newRNG(c.Seed, fmt.Sprintf("text/%d", i)))
	}
	return items
}

func even(x int) int { return x &^ 1 }

// isCopy reports whether a defect makes a file a copy of an earlier clean one.
func isCopy(defect string) bool {
	return defect == schemas.DefectExactDup || defect == schemas.DefectNearDup || defect == schemas.DefectReencode
}

// planCuts splits a video into 2-3 shots of different scenes and actions,
// with shot lengths that are clearly long or clearly short for each profile.
func planCuts(r *rng, v *videoSpec, c Config) {
	n := 2 + r.IntN(2)
	var starts []int
	pos := 0
	for k := 0; k < n; k++ {
		sec := avoidBand(r.uniform(2.8, 9))
		starts = append(starts, pos)
		pos += int(math.Round(sec * v.FPS))
	}
	v.Frames = pos
	first := v.Shots[0]
	v.Shots = nil
	for k := 0; k < n; k++ {
		s := first
		if k > 0 {
			act := pick(r, actions)
			s = shotSpec{Action: act.Name, People: 1 + r.IntN(act.MaxPeople), Camera: camStatic, Seed: r.Uint64()}
			if act.Name == "hugging" {
				s.People = 2
			}
			s.Scene = pick(r, scenesFor(act.Name))
		}
		s.Start = starts[k]
		s.End = v.Frames
		if k+1 < n {
			s.End = starts[k+1]
		}
		v.Shots = append(v.Shots, s)
	}
}

// Curation's reason for each defect it finds before reading the frames
// (the off-topic one by its tags, which carry an exclusion phrase), and
// for each it finds in them; duplicates are decided last.
var (
	readReasons = map[string]string{
		schemas.DefectOffTopic: schemas.ReasonOffTopic, schemas.DefectZeroByte: schemas.ReasonEmptyFile,
		schemas.DefectNotVideo: schemas.ReasonNotVideo, schemas.DefectTruncated: schemas.ReasonTruncated,
		schemas.DefectPortrait: schemas.ReasonOrientation, schemas.DefectTooSmall: schemas.ReasonResolution,
	}
	frameReasons = map[string]string{
		schemas.DefectStatic: schemas.ReasonStatic, schemas.DefectShaky: schemas.ReasonCameraMotion,
		schemas.DefectBlur: schemas.ReasonBlur, schemas.DefectDark: schemas.ReasonExposure,
		schemas.DefectWashedOut: schemas.ReasonExposure, schemas.DefectOverlay: schemas.ReasonOverlay,
	}
)

// expected predicts curation's decision for a file under a profile, checking
// in the order curation does (cheapest first).
func expected(it *item, items []item, p Profile) schemas.Outcome {
	v := &it.spec
	if r, ok := readReasons[it.defect]; ok {
		return schemas.Outcome{Reason: r}
	}
	longest := 0.0
	for _, s := range v.Shots {
		// A copy that starts later keeps only the end of its first shot.
		longest = math.Max(longest, float64(s.End-max(s.Start, v.Skip))/v.FPS)
	}
	if longest < p.Seconds+trimAllowance {
		return schemas.Outcome{Reason: schemas.ReasonTooShort}
	}
	if r, ok := frameReasons[it.defect]; ok {
		return schemas.Outcome{Reason: r}
	}
	switch it.defect {
	case schemas.DefectExactDup, schemas.DefectNearDup, schemas.DefectReencode:
		orig := &items[it.dupOf]
		if o := expected(orig, items, p); !o.Accept {
			return o // the original is rejected for the same reason first
		}
		return schemas.Outcome{Reason: schemas.ReasonDuplicate, DuplicateOf: orig.spec.Name}
	}
	return schemas.Outcome{Accept: true}
}
