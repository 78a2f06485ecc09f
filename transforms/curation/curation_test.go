package curation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	// The runner the tests use (the command imports it in main).
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/quality/testclips"
	"realdpo/transforms/stage"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function1x1(candidateRel)
	register.Function1x1(probedRel)
	register.Function1x1(rejectLine)
	register.Function1x1(rejectKeepsScores)
	register.Function1x1(probedHasFacts)
}

// Outputs are compared as strings: a mismatch then prints readably, and
// passert's encoded-element comparison does not depend on how a struct
// with slices and maps is encoded.
func candidateRel(c Candidate) string { return c.Source.Rel }
func probedRel(p ProbedSource) string { return p.Source.Rel }
func rejectLine(r schemas.RejectRecord) string {
	return rejectKey(r.Source, r.Stage, r.Reason, r.Failed...)
}

func rejectKey(source, stage, reason string, failed ...string) string {
	return fmt.Sprintf("%s %s/%s %v", source, stage, reason, failed)
}

// rejectKeepsScores: a filter reject says why in words and carries every
// score, so the decision can be checked from rejected.jsonl alone.
func rejectKeepsScores(r schemas.RejectRecord) bool {
	return r.Detail != "" && r.Scores == scoresOf(r.Source) && r.Candidate == 2 && r.StartS == 1.5 && r.EndS == 3.625
}

// probedHasFacts: a probed source carries what ffprobe found and its hash.
func probedHasFacts(p ProbedSource) bool {
	return p.Info.Width == 320 && p.Info.Height == 180 && p.Info.FPS == 24 && len(p.Info.SHA256) == 64 && p.Info.SizeBytes == p.Source.SizeBytes
}

// goodScores pass every analysis filter at the default thresholds, with a
// margin on each, so a case changes exactly the figures it is about.
var goodScores = schemas.ClipScores{
	LumaMean: 120, LumaStd: 40, DarkFrac: 0.01, BrightFrac: 0.01,
	Sharpness: 200, SharpnessRel: 0.1,
	SubjectMotion: 3, ChangedFrac: 0.05, MovingFrac: 0.2,
	CameraMotion: 1, CameraShake: 1, CameraRatio: 0.3,
	Overlay: 0,
}

// scoreCases maps a source name to its hand-made scores; the expected
// decisions are in TestFilterDecisions.
var scoreCases = map[string]func(*schemas.ClipScores){
	"good.mp4":     func(*schemas.ClipScores) {},
	"dark.mp4":     func(s *schemas.ClipScores) { s.LumaMean = 12 },
	"white.mp4":    func(s *schemas.ClipScores) { s.LumaMean = 240 },
	"crushed.mp4":  func(s *schemas.ClipScores) { s.DarkFrac = 0.8 },
	"flat.mp4":     func(s *schemas.ClipScores) { s.LumaStd = 4 },
	"blurred.mp4":  func(s *schemas.ClipScores) { s.Sharpness, s.SharpnessRel = 5, 0.001 },
	"soft.mp4":     func(s *schemas.ClipScores) { s.Sharpness = 5 }, // relative sharpness still fine: kept
	"still.mp4":    func(s *schemas.ClipScores) { s.SubjectMotion, s.ChangedFrac = 0.1, 0.0001 },
	"slow.mp4":     func(s *schemas.ClipScores) { s.SubjectMotion = 0.1 }, // pixels still change: kept
	"wild.mp4":     func(s *schemas.ClipScores) { s.SubjectMotion = 60 },
	"panning.mp4":  func(s *schemas.ClipScores) { s.CameraMotion, s.CameraRatio = 30, 10 },
	"shaky.mp4":    func(s *schemas.ClipScores) { s.CameraShake = 25 },
	"drift.mp4":    func(s *schemas.ClipScores) { s.CameraMotion, s.CameraRatio = 4, 9 },
	"captions.mp4": func(s *schemas.ClipScores) { s.Overlay = 0.1 },
	// Everything wrong at once: the first check in filter order is the
	// reason, and every failing check is listed.
	"worst.mp4": func(s *schemas.ClipScores) {
		s.LumaMean, s.Sharpness, s.SharpnessRel, s.SubjectMotion, s.ChangedFrac, s.Overlay = 12, 5, 0.001, 0.1, 0.0001, 0.5
	},
}

func scoresOf(rel string) schemas.ClipScores {
	s := goodScores
	if f, ok := scoreCases[rel]; ok {
		f(&s)
	}
	return s
}

func candidate(rel string) Candidate {
	return Candidate{Source: schemas.SourceFile{Path: "/footage/" + rel, Rel: rel, SizeBytes: 1000},
		Info:  schemas.SourceInfo{SHA256: strings.Repeat("a", 64), Width: 640, Height: 360, FPS: 24, DurationS: 10},
		Index: 2, StartS: 1.5, EndS: 3.625, Scores: scoresOf(rel)}
}

func demoConfig(t *testing.T) schemas.CurateConfig {
	t.Helper()
	p, err := schemas.ProfileByName(schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	return schemas.CurateConfig{Output: t.TempDir(), Profile: p, Thresholds: stage.DefaultThresholds(p), Review: stage.DefaultReviewConfig()}
}

// curateCounters sums the run's counters of this package's namespace by
// name (a counter may be reported per step).
func curateCounters(t *testing.T, pr beam.PipelineResult) map[string]int64 {
	t.Helper()
	if pr == nil {
		t.Fatal("no pipeline result")
	}
	got := map[string]int64{}
	for _, c := range pr.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == counterNS }).Counters() {
		got[c.Name()] += c.Result()
	}
	return got
}

func TestFilterDecisions(t *testing.T) {
	cfg := demoConfig(t)
	tests := []struct {
		name    string
		in      []string
		kept    []string
		rejects []string
		// counters: every counter of the namespace the run must report.
		counters map[string]int64
	}{
		{"passes", []string{"good.mp4"}, []string{"good.mp4"}, nil,
			map[string]int64{"filter_pass": 1}},
		{"blur needs both figures low, static both motion figures", []string{"soft.mp4", "slow.mp4"}, []string{"soft.mp4", "slow.mp4"}, nil,
			map[string]int64{"filter_pass": 2}},
		{"exposure", []string{"dark.mp4", "white.mp4", "crushed.mp4", "flat.mp4"}, nil,
			[]string{
				rejectKey("dark.mp4", schemas.StageFilter, schemas.ReasonExposure, schemas.ReasonExposure),
				rejectKey("white.mp4", schemas.StageFilter, schemas.ReasonExposure, schemas.ReasonExposure),
				rejectKey("crushed.mp4", schemas.StageFilter, schemas.ReasonExposure, schemas.ReasonExposure),
				rejectKey("flat.mp4", schemas.StageFilter, schemas.ReasonExposure, schemas.ReasonExposure),
			},
			map[string]int64{"reject_filter_exposure": 4, "failed_check_exposure": 4}},
		{"one reason each", []string{"good.mp4", "blurred.mp4", "still.mp4", "wild.mp4", "captions.mp4"}, []string{"good.mp4"},
			[]string{
				rejectKey("blurred.mp4", schemas.StageFilter, schemas.ReasonBlur, schemas.ReasonBlur),
				rejectKey("still.mp4", schemas.StageFilter, schemas.ReasonStatic, schemas.ReasonStatic),
				rejectKey("wild.mp4", schemas.StageFilter, schemas.ReasonChaotic, schemas.ReasonChaotic),
				rejectKey("captions.mp4", schemas.StageFilter, schemas.ReasonOverlay, schemas.ReasonOverlay),
			},
			map[string]int64{"filter_pass": 1,
				"reject_filter_blur": 1, "reject_filter_static": 1, "reject_filter_chaotic": 1, "reject_filter_overlay": 1,
				"failed_check_blur": 1, "failed_check_static": 1, "failed_check_chaotic": 1, "failed_check_overlay": 1}},
		{"camera: motion, shake, and ratio once the camera moves", []string{"panning.mp4", "shaky.mp4", "drift.mp4"}, nil,
			[]string{
				rejectKey("panning.mp4", schemas.StageFilter, schemas.ReasonCameraMotion, schemas.ReasonCameraMotion),
				rejectKey("shaky.mp4", schemas.StageFilter, schemas.ReasonCameraMotion, schemas.ReasonCameraMotion),
				rejectKey("drift.mp4", schemas.StageFilter, schemas.ReasonCameraMotion, schemas.ReasonCameraMotion),
			},
			map[string]int64{"reject_filter_camera_motion": 3, "failed_check_camera_motion": 3}},
		{"first failing check decides, all are recorded", []string{"worst.mp4"}, nil,
			[]string{rejectKey("worst.mp4", schemas.StageFilter, schemas.ReasonExposure,
				schemas.ReasonExposure, schemas.ReasonBlur, schemas.ReasonStatic, schemas.ReasonOverlay)},
			map[string]int64{"reject_filter_exposure": 1,
				"failed_check_exposure": 1, "failed_check_blur": 1, "failed_check_static": 1, "failed_check_overlay": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in []Candidate
			for _, rel := range tc.in {
				in = append(in, candidate(rel))
			}
			p, s, col := ptest.CreateList(in)
			kept, rejects := Filter(s, cfg, col)
			passert.Equals(s, beam.ParDo(s, candidateRel, kept), toAny(tc.kept)...)
			passert.Count(s, kept, "kept", len(tc.kept))
			passert.Equals(s, beam.ParDo(s, rejectLine, rejects), toAny(tc.rejects)...)
			passert.True(s, rejects, rejectKeepsScores)
			pr, err := ptest.RunWithMetrics(p)
			if err != nil {
				t.Fatalf("Filter(%v): %v", tc.in, err)
			}
			if got := curateCounters(t, pr); !reflect.DeepEqual(got, tc.counters) {
				t.Errorf("counters %v, want %v", got, tc.counters)
			}
		})
	}
}

// toAny lets passert.Equals take an expected list, an empty one included
// (then it checks the output is empty).
func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestProbeDecisions(t *testing.T) {
	testclips.RequireFFmpeg(t)
	dir := t.TempDir()
	// Real files: a text file, a file that starts like an mp4 and is not
	// one, and small real clips rendered by ffmpeg.
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notes := write("notes.mp4", []byte("shopping list: eggs, milk, bread\n"))
	truncated := write("cut.mp4", append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), make([]byte, 4000)...))
	landscape := testclips.Make(t, dir, "walk.mp4", testclips.Spec{Dur: 2.5})
	portrait := testclips.Make(t, dir, "tall.mp4", testclips.Spec{W: 180, H: 320, Dur: 2.5})
	short := testclips.Make(t, dir, "short.mp4", testclips.Spec{Dur: 1})
	tiny := testclips.Make(t, dir, "tiny.mp4", testclips.Spec{W: 160, H: 90, Dur: 2.5})
	choppy := testclips.Make(t, dir, "choppy.mp4", testclips.Spec{FPS: 4, Dur: 2.5})

	src := func(path string) schemas.SourceFile {
		st, err := os.Stat(path)
		size := int64(100)
		if err == nil {
			size = st.Size()
		}
		return schemas.SourceFile{Path: path, Rel: filepath.Base(path), SizeBytes: size, Caption: "a person walks along a street"}
	}
	with := func(s schemas.SourceFile, f func(*schemas.SourceFile)) schemas.SourceFile { f(&s); return s }
	reject := func(rel, stage, reason string, failed ...string) string {
		return rejectKey(rel, stage, reason, failed...)
	}

	tests := []struct {
		name   string
		cfg    func(*schemas.CurateConfig)
		src    schemas.SourceFile
		probed bool
		reject string
		// counters: every counter of the namespace the run must report.
		counters map[string]int64
	}{
		{name: "listed but unreadable", src: with(src(landscape), func(s *schemas.SourceFile) { s.MatchError = "permission denied" }),
			reject: reject("walk.mp4", schemas.StageInput, schemas.ReasonUnreadable), counters: map[string]int64{"reject_input_unreadable": 1}},
		{name: "gone before probing", src: src(filepath.Join(dir, "gone.mp4")),
			reject: reject("gone.mp4", schemas.StageInput, schemas.ReasonUnreadable), counters: map[string]int64{"reject_input_unreadable": 1}},
		{name: "over the byte limit, before reading", cfg: func(c *schemas.CurateConfig) { c.Thresholds.MaxBytes = 1000 },
			src: src(landscape), reject: reject("walk.mp4", schemas.StageInput, schemas.ReasonTooLarge), counters: map[string]int64{"reject_input_too_large": 1}},
		{name: "over the duration limit", cfg: func(c *schemas.CurateConfig) { c.Thresholds.MaxDurationS = 1 },
			src: src(landscape), reject: reject("walk.mp4", schemas.StageProbe, schemas.ReasonTooLarge), counters: map[string]int64{"reject_probe_too_large": 1}},
		{name: "over the dimension limit", cfg: func(c *schemas.CurateConfig) { c.Thresholds.MaxDimension = 300 },
			src: src(landscape), reject: reject("walk.mp4", schemas.StageProbe, schemas.ReasonTooLarge), counters: map[string]int64{"reject_probe_too_large": 1}},
		{name: "empty", src: with(src(write("empty.mp4", nil)), func(*schemas.SourceFile) {}),
			reject: reject("empty.mp4", schemas.StageProbe, schemas.ReasonEmptyFile), counters: map[string]int64{"reject_probe_empty_file": 1}},
		{name: "text, not a video", src: src(notes),
			reject: reject("notes.mp4", schemas.StageProbe, schemas.ReasonNotVideo), counters: map[string]int64{"reject_probe_not_video": 1}},
		{name: "mp4 signature that does not parse", src: src(truncated),
			reject: reject("cut.mp4", schemas.StageProbe, schemas.ReasonTruncated), counters: map[string]int64{"reject_probe_truncated": 1}},
		{name: "untagged, screened before decoding", src: with(src(landscape), func(s *schemas.SourceFile) { s.Caption = "" }),
			reject:   reject("walk.mp4", schemas.StageTopic, schemas.ReasonOffTopic, "topic_no_text"),
			counters: map[string]int64{"failed_check_topic_no_text": 1, "reject_topic_off_topic": 1}},
		{name: "excluded title, screened before decoding",
			cfg:      func(c *schemas.CurateConfig) { c.Review.Topics.Exclude = []string{"gameplay"} },
			src:      with(src(landscape), func(s *schemas.SourceFile) { s.Title = "Gameplay walkthrough" }),
			reject:   reject("walk.mp4", schemas.StageTopic, schemas.ReasonOffTopic, "topic_excluded"),
			counters: map[string]int64{"failed_check_topic_excluded": 1, "reject_topic_off_topic": 1}},
		{name: "portrait", src: src(portrait),
			reject: reject("tall.mp4", schemas.StageFilter, schemas.ReasonOrientation), counters: map[string]int64{"reject_filter_orientation": 1}},
		{name: "too small", src: src(tiny),
			reject: reject("tiny.mp4", schemas.StageFilter, schemas.ReasonResolution), counters: map[string]int64{"reject_filter_resolution": 1}},
		{name: "too few frames a second", src: src(choppy),
			reject: reject("choppy.mp4", schemas.StageFilter, schemas.ReasonFrameRate), counters: map[string]int64{"reject_filter_frame_rate": 1}},
		{name: "shorter than one clip", src: src(short),
			reject: reject("short.mp4", schemas.StageFilter, schemas.ReasonTooShort), counters: map[string]int64{"reject_filter_too_short": 1}},
		{name: "probes", src: src(landscape), probed: true, counters: map[string]int64{"probed": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := demoConfig(t)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			p, s, col := ptest.CreateList([]schemas.SourceFile{tc.src})
			probed, rejects := Probe(s, cfg, col)
			var wantProbed, wantRejects []string
			if tc.probed {
				wantProbed = []string{tc.src.Rel}
				passert.True(s, probed, probedHasFacts)
			}
			if tc.reject != "" {
				wantRejects = []string{tc.reject}
			}
			passert.Equals(s, beam.ParDo(s, probedRel, probed), toAny(wantProbed)...)
			passert.Equals(s, beam.ParDo(s, rejectLine, rejects), toAny(wantRejects)...)
			pr, err := ptest.RunWithMetrics(p)
			if err != nil {
				t.Fatalf("Probe(%+v): %v", tc.src, err)
			}
			if got := curateCounters(t, pr); !reflect.DeepEqual(got, tc.counters) {
				t.Errorf("counters %v, want %v", got, tc.counters)
			}
		})
	}
}

// TestWriteDatasetOnce: the one writer runs once whatever its input, an
// empty run included, and writes the dataset's four files and nothing else.
func TestWriteDatasetOnce(t *testing.T) {
	tests := []struct {
		name    string
		sources []schemas.SourceFile
		rejects []schemas.RejectRecord
	}{
		{name: "empty"},
		{name: "two rejected inputs",
			sources: []schemas.SourceFile{{Path: "/in/a.mp4", Rel: "a.mp4", SizeBytes: 10}, {Path: "/in/b.mp4", Rel: "b.mp4"}},
			rejects: []schemas.RejectRecord{
				{Source: "b.mp4", Stage: schemas.StageProbe, Reason: schemas.ReasonEmptyFile, Detail: "zero bytes", Candidate: -1},
				{Source: "a.mp4", Stage: schemas.StageProbe, Reason: schemas.ReasonNotVideo, Detail: "no video stream", Candidate: -1},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := demoConfig(t)
			p, s := beam.NewPipelineWithRoot()
			WriteDataset(s, cfg, beam.CreateList(s, append([]schemas.SourceFile{}, tc.sources...)),
				beam.CreateList(s, []schemas.ManifestRecord{}), beam.CreateList(s, append([]schemas.RejectRecord{}, tc.rejects...)))
			if err := ptest.Run(p); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(cfg.Output)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			want := []string{dataset.ManifestFile, dataset.RejectedFile, dataset.StatsFile, dataset.CardFile}
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Fatalf("wrote %v, want exactly %v (no temp files left)", names, want)
			}
			man, problems, err := dataset.ReadCuratedManifest(context.Background(), cfg.Output)
			if err != nil || len(man) != 0 || len(problems) != 0 {
				t.Errorf("manifest: %d records, problems %v, err %v; want empty", len(man), problems, err)
			}
			rej, problems, err := dataset.ReadRejects(context.Background(), cfg.Output)
			if err != nil || len(problems) != 0 {
				t.Fatalf("rejects: problems %v, err %v", problems, err)
			}
			// Once: each reject once, sorted by source.
			var gotSources []string
			for _, r := range rej {
				gotSources = append(gotSources, r.Source)
			}
			var wantSources []string
			for _, r := range tc.rejects {
				wantSources = append(wantSources, r.Source)
			}
			slices.Sort(wantSources)
			if !slices.Equal(gotSources, wantSources) {
				t.Errorf("rejected.jsonl sources %v, want %v", gotSources, wantSources)
			}
			st, err := dataset.ReadStats(context.Background(), cfg.Output)
			if err != nil {
				t.Fatal(err)
			}
			if st.Inputs != len(tc.sources) || st.InputsRejected != len(tc.rejects) || st.Clips != 0 || st.Rejects != len(tc.rejects) || len(st.Decisions) != len(tc.sources) {
				t.Errorf("stats: inputs %d, rejected %d, clips %d, rejects %d, decisions %d; want %d, %d, 0, %d, %d",
					st.Inputs, st.InputsRejected, st.Clips, st.Rejects, len(st.Decisions), len(tc.sources), len(tc.rejects), len(tc.rejects), len(tc.sources))
			}
			card, err := os.ReadFile(filepath.Join(cfg.Output, dataset.CardFile))
			if err != nil || len(card) == 0 {
				t.Errorf("dataset card: %d bytes, err %v", len(card), err)
			}
		})
	}
}

// TestWriterRefusesMissingRecords: when the runner hands the writer side
// inputs it cannot serve (a stage failed; they read as empty), the source
// count is missing or disagrees, and the writer fails instead of writing an
// empty dataset with a stats.json that marks it finished.
func TestWriterRefusesMissingRecords(t *testing.T) {
	iter := func(xs []int) func(*int) bool {
		return func(v *int) bool {
			if len(xs) == 0 {
				return false
			}
			*v, xs = xs[0], xs[1:]
			return true
		}
	}
	none := func(*schemas.SourceFile) bool { return false }
	noMan := func(*schemas.ManifestRecord) bool { return false }
	noRej := func(*schemas.RejectRecord) bool { return false }
	for _, counts := range [][]int{nil, {3}, {0, 0}} {
		cfg := demoConfig(t)
		out := cfg.Output
		fn := &writeFn{Cfg: cfg}
		if err := fn.ProcessElement(context.Background(), nil, iter(counts), none, noMan, noRej); err == nil {
			t.Errorf("counts %v: the writer wrote", counts)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("counts %v: %d files written", counts, len(entries))
		}
	}
	cfg := demoConfig(t)
	out := cfg.Output
	if err := (&writeFn{Cfg: cfg}).ProcessElement(context.Background(), nil, iter([]int{0}), none, noMan, noRej); err != nil {
		t.Fatalf("an empty run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, dataset.StatsFile)); err != nil {
		t.Errorf("an empty run wrote no stats: %v", err)
	}
}
