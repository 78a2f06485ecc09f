package curate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	// Filesystems and runner for the tests (the command imports them in main).
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	_ "realdpo/transforms/fsx/gcsfs"

	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/dataset"
	"realdpo/transforms/quality/testclips"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runChild(cfg))
	}
	ptest.Main(m)
}

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

// ffprobeClip returns codec, pix_fmt, width, height, frame count and fps of a clip.
func ffprobeClip(t *testing.T, path string) (codec, pix string, w, h, frames int, fps string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames,r_frame_rate", "-of", "json", "file:"+path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			PixFmt       string `json:"pix_fmt"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
			RFrameRate   string `json:"r_frame_rate"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) == 0 {
		t.Fatalf("ffprobe %s: %v %s", path, err, out)
	}
	s := r.Streams[0]
	n, _ := strconv.Atoi(s.NbReadFrames)
	return s.CodecName, s.PixFmt, s.Width, s.Height, n, s.RFrameRate
}

// moovFirst reports whether an mp4's index precedes its media data (+faststart).
func moovFirst(t *testing.T, path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Index(data, []byte("moov")) < bytes.Index(data, []byte("mdat"))
}

// localCorpus writes a small corpus for the demo profile (17 frames at 8
// fps, 96x64): good clips with sidecars, defects, bad files and hostile names.
func localCorpus(t *testing.T, dir string) map[string]string {
	t.Helper()
	want := map[string]string{} // file -> "" (accept) or the reject reason
	// Footage with no text at all is screened out before it is probed (no
	// vlm, no --keep_untagged), so every file meant to reach a later stage
	// has an on-topic sidecar.
	tag := func(name string) {
		base := strings.TrimSuffix(name, filepath.Ext(name))
		os.WriteFile(filepath.Join(dir, base+".json"), []byte(`{"title":"A person walking","tags":["walking"]}`), 0o644)
	}
	mk := func(name string, c testclips.Spec, reason string) string {
		p := testclips.Make(t, dir, name, c)
		want[name] = reason
		if reason != "" {
			tag(name)
		}
		return p
	}
	good := mk("good.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 3}, "")
	os.WriteFile(filepath.Join(dir, "good.json"), []byte(`{"title":"A cook stirring a pot","tags":["cooking","kitchen"]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "good.txt"), []byte("  A person stirs a pot\non the stove.\n"), 0o644)
	mk("static.mp4", testclips.Spec{Camera: "static", Subject: "still", Dur: 3}, schemas.ReasonStatic)
	mk("dark.mkv", testclips.Spec{Camera: "static", Subject: "moving", Dur: 3, Post: "eq=brightness=-0.5:contrast=0.5"}, schemas.ReasonExposure)
	mk("text.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 3,
		Post: "drawtext=text='BREAKING NEWS 24/7':fontsize=18:fontcolor=white:borderw=2:x=10:y=h-30"}, schemas.ReasonOverlay)
	mk("short.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 1}, schemas.ReasonTooShort)
	mk("portrait.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 3, W: 180, H: 320}, schemas.ReasonOrientation)
	mk("tiny.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 3, W: 80, H: 46}, schemas.ReasonResolution)
	// Flipped: unflipped, the first shot would be the same footage as good.mp4 (a near-duplicate).
	a := testclips.Make(t, t.TempDir(), "a.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 2.7, Post: "vflip"})
	b := testclips.Make(t, t.TempDir(), "b.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 2.7, Post: "hflip,hue=h=150:s=1.5"})
	testclips.Concat(t, filepath.Join(dir, "two_shots.mp4"), a, b)
	want["two_shots.mp4"] = ""

	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "two_shots.json"), []byte(`{"title":"Someone walking, then jogging","tags":["walking","running"]}`), 0o644)
	// Hostile names: the same good footage under names ffmpeg could misread.
	// With no sidecar there is nothing to match a topic on: off-topic,
	// screened before decoding.
	for _, n := range []string{"concat:x.mp4", "http:__x.mp4"} {
		os.WriteFile(filepath.Join(dir, n), data, 0o644)
		want[n] = schemas.ReasonOffTopic
	}
	// A hostile name with a sidecar goes all the way through ffmpeg (footage
	// of its own: turned half a turn, it is no copy of good.mp4).
	rot := testclips.Make(t, t.TempDir(), "rot.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 3, Post: "vflip,hflip"})
	if rotData, err := os.ReadFile(rot); err != nil {
		t.Fatal(err)
	} else {
		os.WriteFile(filepath.Join(dir, "-i"), rotData, 0o644)
	}
	tag("-i")
	want["-i"] = ""
	// Off-topic by its sidecar, and footage of its own (its clip file must go).
	mk("skyline.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 3.3}, schemas.ReasonOffTopic)
	os.WriteFile(filepath.Join(dir, "skyline.json"), []byte(`{"title":"City skyline timelapse at dusk","tags":["city","timelapse"]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "empty.mp4"), nil, 0o644)
	want["empty.mp4"] = schemas.ReasonEmptyFile
	os.WriteFile(filepath.Join(dir, "page.mp4"), []byte("<html><body>404</body></html>\n"), 0o644)
	want["page.mp4"] = schemas.ReasonNotVideo
	tag("page.mp4")
	os.WriteFile(filepath.Join(dir, "cut_short.mp4"), data[:len(data)/2], 0o644)
	want["cut_short.mp4"] = schemas.ReasonTruncated
	tag("cut_short.mp4")
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "nested.mp4"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "sub", "nested.json"), []byte(`{"title":"A cook stirring a pot on the stove","tags":["cooking"]}`), 0o644)
	want["sub/nested.mp4"] = schemas.ReasonDuplicate // the same bytes as good.mp4, which sorts first
	os.Symlink(filepath.Join(dir, "nowhere.mp4"), filepath.Join(dir, "dangling.mp4"))
	want["dangling.mp4"] = schemas.ReasonUnreadable
	// An orphan sidecar is metadata, not an input.
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("shot list"), 0o644)
	return want
}

func TestCurateLocal(t *testing.T) {
	testclips.RequireFFmpeg(t)
	in, out := t.TempDir(), t.TempDir()
	want := localCorpus(t, in)
	// What a killed earlier run leaves: a half-written clip and manifest.
	stale := []string{filepath.Join(out, "clips", ".deadbeef.mp4.tmp-123"), filepath.Join(out, ".manifest.jsonl.tmp-9")}
	for _, p := range stale {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := curateDir(t, in, out, schemas.ProfileDemo)
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: a killed run's temp file survived the next run (%v)", p, err)
		}
	}
	if st.Inputs != len(want) || st.Inputs != st.InputsAccepted+st.InputsRejected {
		t.Errorf("accounting: %s, want %d inputs", st.AccountingLine(), len(want))
	}
	got := map[string]schemas.InputDecision{}
	for _, d := range st.Decisions {
		got[d.Source] = d
	}
	for name, reason := range want {
		d, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: no decision", name)
		case reason == "" && !d.Accept:
			t.Errorf("%s: rejected (%s/%s), want accepted", name, d.Stage, d.Reason)
		case reason != "" && (d.Accept || d.Reason != reason):
			t.Errorf("%s: accept=%v reason=%q, want rejected for %s", name, d.Accept, d.Reason, reason)
		}
	}
	if got["two_shots.mp4"].Clips != 2 {
		t.Errorf("two_shots.mp4 gave %d clips, want one per shot", got["two_shots.mp4"].Clips)
	}

	man := readJSONL[schemas.ManifestRecord](t, filepath.Join(out, dataset.ManifestFile))
	rej := readJSONL[schemas.RejectRecord](t, filepath.Join(out, dataset.RejectedFile))
	if len(man) != st.Clips || len(rej) != st.Rejects {
		t.Errorf("files hold %d clips and %d rejects, stats say %d and %d", len(man), len(rej), st.Clips, st.Rejects)
	}
	for _, f := range []string{dataset.ManifestFile, dataset.RejectedFile, "stats.json", "README.md"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v, want mode 0644 so the dataset can be shared", f, fi.Mode(), err)
		}
	}
	for _, m := range man {
		for _, f := range []string{m.Clip, m.FirstFrame} {
			if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: %v %v, want mode 0644", f, fi.Mode(), err)
			}
		}
		codec, pix, w, h, n, fps := ffprobeClip(t, filepath.Join(out, m.Clip))
		if codec != "h264" || pix != "yuv420p" || w != 96 || h != 64 || n != 17 || fps != "8/1" {
			t.Errorf("%s: %s %s %dx%d %d frames at %s, want h264 yuv420p 96x64 17 at 8/1", m.Clip, codec, pix, w, h, n, fps)
		}
		if !moovFirst(t, filepath.Join(out, m.Clip)) {
			t.Errorf("%s: not +faststart", m.Clip)
		}
		f, err := os.Open(filepath.Join(out, m.FirstFrame))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != 96 || img.Bounds().Dy() != 64 {
			t.Errorf("%s: %v %v", m.FirstFrame, err, img.Bounds())
		}
		if m.Frames != 17 || m.EndS-m.StartS < 2.12 || m.Scores.AnalysedFrames == 0 || m.Scores.Sharpness == 0 {
			t.Errorf("record incomplete: %+v", m)
		}
		if m.Source == "good.mp4" {
			if m.Caption != "A person stirs a pot on the stove." || m.CaptionSource != "txt" || m.Category != schemas.CategoryCooking {
				t.Errorf("sidecars not applied: caption %q (%s) category %q", m.Caption, m.CaptionSource, m.Category)
			}
		}
	}
	// Filter rejects keep their scores and every failing check.
	for _, r := range rej {
		if r.Stage == schemas.StageFilter && r.Candidate >= 0 && (len(r.Failed) == 0 || r.Failed[0] != r.Reason || r.Scores.AnalysedFrames == 0) {
			t.Errorf("filter reject without its evidence: %+v", r)
		}
	}
	// Same footage under hostile names gives the same clip ids; the copy
	// with a sidecar is a duplicate of good.mp4.
	ids := map[string]string{}
	for _, m := range man {
		ids[m.Source] = m.ID
		if m.Captioner == "" || m.CaptionWords == 0 || len(m.Fingerprint) != 8 || m.Category == "" || len(m.TopicHits) == 0 {
			t.Errorf("%s: caption, fingerprint or topic missing: captioner %q words %d fingerprint %v category %q hits %v",
				m.Source, m.Captioner, m.CaptionWords, m.Fingerprint, m.Category, m.TopicHits)
		}
	}
	for _, r := range rej {
		switch r.Source {
		case "concat:x.mp4", "http:__x.mp4":
			if r.Stage != schemas.StageTopic || !strings.Contains(r.Detail, "no title, tags or caption") || !strings.Contains(r.Detail, "screened before decoding") {
				t.Errorf("%s: %+v, want a topic reject for want of text, screened before decoding", r.Source, r)
			}
		case "sub/nested.mp4":
			if r.ClipID != ids["good.mp4"] || r.DuplicateOf != ids["good.mp4"] || r.DuplicateOfSource != "good.mp4" || r.Distance == nil || *r.Distance != 0 {
				t.Errorf("nested copy: %+v, want duplicate_of %s (good.mp4) at distance 0", r, ids["good.mp4"])
			}
		case "skyline.mp4":
			if r.Reason != schemas.ReasonOffTopic || !strings.Contains(r.Detail, "timelapse") {
				t.Errorf("skyline: %+v, want off_topic for timelapse", r)
			}
		}
	}
	if m := ids["two_shots.mp4"]; m == "" {
		t.Error("two_shots.mp4 missing from the manifest")
	}
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	for _, w := range []string{"cooking", st.AccountingLine(), "## Caption length (words)", "## Category histogram", "running"} {
		if err != nil || !strings.Contains(string(card), w) {
			t.Errorf("dataset card lacks %q: %v\n%s", w, err, card)
		}
	}
	// Only kept clips keep their files: the off-topic skyline clip is gone.
	onDisk, _ := filepath.Glob(filepath.Join(out, "clips", "*.mp4"))
	frames, _ := filepath.Glob(filepath.Join(out, "first_frames", "*.png"))
	kept := map[string]bool{}
	for _, m := range man {
		kept[m.ID] = true
	}
	if len(onDisk) != len(kept) || len(frames) != len(kept) {
		t.Errorf("%d clip files and %d first frames for %d kept clips: %v", len(onDisk), len(frames), len(kept), onDisk)
	}
	for _, p := range onDisk {
		if !kept[strings.TrimSuffix(filepath.Base(p), ".mp4")] {
			t.Errorf("clip file of a rejected clip left: %s", p)
		}
	}
	// No temp files are left behind.
	filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".tmp-") {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})

	// A rerun writes the same names and the same bytes.
	first, _ := os.ReadFile(filepath.Join(out, dataset.ManifestFile))
	firstRej, _ := os.ReadFile(filepath.Join(out, dataset.RejectedFile))
	curateDir(t, in, out, schemas.ProfileDemo)
	second, _ := os.ReadFile(filepath.Join(out, dataset.ManifestFile))
	secondRej, _ := os.ReadFile(filepath.Join(out, dataset.RejectedFile))
	if !bytes.Equal(first, second) || !bytes.Equal(firstRej, secondRej) {
		t.Error("rerun changed manifest.jsonl or rejected.jsonl")
	}
	clips, _ := filepath.Glob(filepath.Join(out, "clips", "*"))
	uniq := map[string]bool{}
	for _, m := range man {
		uniq[m.ID] = true
	}
	if len(clips) != len(uniq) {
		t.Errorf("%d clip files after rerun, want %d", len(clips), len(uniq))
	}
}

// TestNonsenseThresholdsRefused: a negative limit, count or timeout (which
// would silently turn a check off) is refused naming the field (the
// command names its flag); the profiles' defaults pass.
func TestNonsenseThresholdsRefused(t *testing.T) {
	for _, profile := range []string{schemas.ProfileRealAction, schemas.ProfileDemo} {
		cfg, err := NewConfig(t.TempDir(), t.TempDir(), profile)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(cfg); err != nil {
			t.Fatalf("%s defaults: %v", profile, err)
		}
		for field, set := range map[string]func(th *schemas.Thresholds){
			"MaxBytes":        func(th *schemas.Thresholds) { th.MaxBytes = -1 },
			"MaxDimension":    func(th *schemas.Thresholds) { th.MaxDimension = -1 },
			"MaxDurationS":    func(th *schemas.Thresholds) { th.MaxDurationS = -1 },
			"MaxClipsPerShot": func(th *schemas.Thresholds) { th.MaxClipsPerShot = -1 },
			"FFmpegThreads":   func(th *schemas.Thresholds) { th.FFmpegThreads = -4 },
			"DecodeTimeout":   func(th *schemas.Thresholds) { th.DecodeTimeout = 0 },
			"MinSharpness":    func(th *schemas.Thresholds) { th.MinSharpness = math.NaN() },
			"AnalysisWidth":   func(th *schemas.Thresholds) { th.AnalysisWidth = 8 },
		} {
			c := cfg
			set(&c.Thresholds)
			var fe *config.FieldError
			if err := Validate(c); !errors.As(err, &fe) || fe.Field != "Thresholds."+field {
				t.Errorf("%s: %s nonsense: err = %v", profile, field, err)
			}
		}
	}
}

// curateDir curates in into out with a profile's defaults and returns the
// stats (logged).
func curateDir(t *testing.T, in, out, profile string) schemas.CurateStats {
	t.Helper()
	cfg, err := NewConfig(in, out, profile)
	if err != nil {
		t.Fatal(err)
	}
	return curateWith(t, cfg)
}

// curateWith runs curate with cfg and returns the stats (logged).
func curateWith(t *testing.T, cfg Config) schemas.CurateStats {
	t.Helper()
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st.AccountingLine())
	return st
}
