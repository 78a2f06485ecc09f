// Package curation holds the curate stage's DoFns and PTransforms: input
// matching, probe, analysis, cutting, normalising, captioning, dedup
// wiring, the review of rejected clips and the one dataset writer. The
// plain functions they call live in package stage; the graph in
// pipelines/curate.
package curation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/dedup"
	"realdpo/transforms/dofn"
	"realdpo/transforms/fsx"
	"realdpo/transforms/media"
	"realdpo/transforms/stage"
	"realdpo/transforms/topic"
)

func init() {
	dofn.Element[int]()
	dofn.Element[fsx.File]()
	dofn.Element[schemas.SourceFile]()
	dofn.Element[ProbedSource]()
	dofn.Element[Candidate]()
	dofn.Element[schemas.ManifestRecord]()
	dofn.Element[schemas.RejectRecord]()
	dofn.DoFn3x1[context.Context, string, func(fsx.File), error](&listFn{})
	register.Function1x2[fsx.File, string, fsx.File](keyByStem)
	dofn.DoFn4x1[context.Context, string, func(*fsx.File) bool, func(schemas.SourceFile), error](&sidecarFn{})
	dofn.DoFn4x1[context.Context, schemas.SourceFile, func(ProbedSource), func(schemas.RejectRecord), error](&probeFn{})
	dofn.DoFn4x1[context.Context, ProbedSource, func(Candidate), func(schemas.RejectRecord), error](&analyseFn{})
	dofn.DoFn4x0[context.Context, Candidate, func(Candidate), func(schemas.RejectRecord)](&filterFn{})
	dofn.DoFn4x1[context.Context, Candidate, func(schemas.ManifestRecord), func(schemas.RejectRecord), error](&normaliseFn{})
	dofn.DoFn6x1[context.Context, []byte, func(*int) bool, func(*schemas.SourceFile) bool, func(*schemas.ManifestRecord) bool, func(*schemas.RejectRecord) bool, error](&writeFn{})
}

const counterNS = "curate"

func count(ctx context.Context, name string) { beam.NewCounter(counterNS, name).Inc(ctx, 1) }

// MatchInputs lists every file under root (a local directory, recursively,
// or a gs://bucket/prefix) and pairs each video with its NAME.json and
// NAME.txt sidecars. It lists through Beam's filesystem API like
// fileio.MatchFiles, but a file that cannot be sized or read becomes a
// rejected input instead of failing the whole match.
func MatchInputs(s beam.Scope, root string) beam.PCollection {
	s = s.Scope("curate.MatchInputs")
	listed := beam.ParDo(s, &listFn{}, beam.Create(s, root))
	// Spread the work: listing happens on one worker.
	listed = beam.Reshuffle(s, listed)
	grouped := beam.GroupByKey(s, beam.ParDo(s, keyByStem, listed))
	return beam.ParDo(s, &sidecarFn{Root: root}, grouped)
}

type listFn struct{}

func (fn *listFn) ProcessElement(ctx context.Context, root string, emit func(fsx.File)) error {
	return fsx.List(ctx, root, emit)
}

func keyByStem(f fsx.File) (string, fsx.File) { return GroupKey(f), f }

// GroupKey is the stem a file belongs to: a video's NAME.json and NAME.txt
// sidecars share its key.
func GroupKey(f fsx.File) string {
	if _, stem := stage.SidecarKind(f.Rel); stem != "" {
		return stem
	}
	return stage.Stem(f.Rel)
}

type sidecarFn struct {
	Root string
}

func (fn *sidecarFn) ProcessElement(ctx context.Context, stem string, files func(*fsx.File) bool, emit func(schemas.SourceFile)) error {
	var group []fsx.File
	var f fsx.File
	for files(&f) {
		group = append(group, f)
		f = fsx.File{}
	}
	for _, src := range SourcesOf(ctx, group) {
		count(ctx, "inputs")
		emit(src)
	}
	return nil
}

// GroupByStem groups listed files by GroupKey, as MatchInputs does with a
// GroupByKey: outside Beam (refresh, pretrain) each group goes to
// SourcesOf.
func GroupByStem(files []fsx.File) map[string][]fsx.File {
	groups := map[string][]fsx.File{}
	for _, f := range files {
		k := GroupKey(f)
		groups[k] = append(groups[k], f)
	}
	return groups
}

// SourcesOf makes the sources of one stem's files (see GroupKey): each
// video with its NAME.json and NAME.txt sidecars read, at most
// stage.MaxSidecarBytes each and only from regular files (never a FIFO or a
// device), their facts applied and any read failure recorded on the source
// as SidecarError. Metadata files and sidecars without a video make no
// source. Sorted by relative path.
func SourcesOf(ctx context.Context, group []fsx.File) []schemas.SourceFile {
	var videos []fsx.File
	side := map[string]fsx.File{}
	for _, f := range group {
		if stage.IsMetadata(f.Rel) {
			count(ctx, "ignored_metadata_files")
			continue
		}
		if kind, _ := stage.SidecarKind(f.Rel); kind != "" {
			side[kind] = f
		} else {
			videos = append(videos, f)
		}
	}
	if len(videos) == 0 {
		// Sidecars without a video are metadata, not inputs.
		for _, sf := range side {
			count(ctx, "orphan_sidecars")
			slog.Info("sidecar without a video", "file", sf.Rel)
		}
		return nil
	}
	var jsonData, txtData []byte
	var readErrs []string
	read := func(lf fsx.File) []byte {
		if lf.Error != "" {
			readErrs = append(readErrs, fmt.Sprintf("sidecar %s: %s", lf.Rel, lf.Error))
			return nil
		}
		data, err := ReadSidecar(ctx, lf.Path)
		if err != nil {
			readErrs = append(readErrs, err.Error())
			return nil
		}
		return data
	}
	if lf, ok := side["json"]; ok {
		jsonData = read(lf)
	}
	if lf, ok := side["txt"]; ok {
		txtData = read(lf)
	}
	sort.Slice(videos, func(i, j int) bool { return videos[i].Rel < videos[j].Rel })
	out := make([]schemas.SourceFile, 0, len(videos))
	for _, v := range videos {
		src := schemas.SourceFile{Path: v.Path, Rel: v.Rel, SizeBytes: v.Size, MatchError: v.Error}
		stage.ApplySidecars(&src, jsonData, txtData)
		if len(readErrs) > 0 {
			errs := readErrs
			if src.SidecarError != "" {
				errs = append(slices.Clone(readErrs), src.SidecarError)
			}
			src.SidecarError = strings.Join(errs, "; ")
		}
		if src.SidecarError != "" {
			count(ctx, "sidecar_errors")
		}
		out = append(out, src)
	}
	return out
}

// ReadSidecar reads a sidecar (local or remote): a regular file of at most
// stage.MaxSidecarBytes.
func ReadSidecar(ctx context.Context, p string) ([]byte, error) { return readSmall(ctx, p) }

func readSmall(ctx context.Context, p string) ([]byte, error) {
	data, err := fsx.ReadFile(ctx, p, stage.MaxSidecarBytes)
	if err != nil {
		return nil, fmt.Errorf("read sidecar: %w", err)
	}
	return data, nil
}

func inputReject(src schemas.SourceFile, info schemas.SourceInfo, r *stage.Rejection) schemas.RejectRecord {
	return schemas.RejectRecord{Source: src.Rel, SourceSHA256: info.SHA256, Stage: r.Stage, Reason: r.Reason,
		Detail: r.Detail, Candidate: -1, SourceInfo: info}
}

func tempDir() string { return filepath.Join(os.TempDir(), "realdpo-curate") }

// Probe hashes and probes each source and applies the limits and the
// probe-level filters (orientation, size, rate, length), cheapest first.
// It returns the sources worth analysing and the rejects.
func Probe(s beam.Scope, cfg schemas.CurateConfig, sources beam.PCollection) (probed, rejects beam.PCollection) {
	s = s.Scope("curate.Probe")
	return beam.ParDo2(s, &probeFn{Cfg: cfg}, sources)
}

type probeFn struct {
	Cfg schemas.CurateConfig
}

func (fn *probeFn) ProcessElement(ctx context.Context, src schemas.SourceFile, emit func(ProbedSource), rej func(schemas.RejectRecord)) error {
	th := fn.Cfg.Thresholds
	fail := func(info schemas.SourceInfo, r *stage.Rejection) {
		count(ctx, "reject_"+r.Stage+"_"+r.Reason)
		rej(inputReject(src, info, r))
	}
	if src.MatchError != "" {
		fail(schemas.SourceInfo{}, stage.Reject(schemas.StageInput, schemas.ReasonUnreadable, "%s", src.MatchError))
		return nil
	}
	// Exclusion phrases in the title or tags make footage off-topic whatever
	// else is learnt about it (the topic stage would reject it the same way),
	// so it is the cheapest check of all: nothing is read or decoded.
	if hits := topic.Excluded(fn.Cfg.Review.Topics, src.Title, src.Tags); len(hits) > 0 {
		count(ctx, "failed_check_topic_excluded")
		r := inputReject(src, schemas.SourceInfo{SizeBytes: src.SizeBytes}, stage.Reject(schemas.StageTopic, schemas.ReasonOffTopic,
			"excluded: %s (screened on the sidecar, before decoding)", strings.Join(hits, ", ")))
		r.Failed = []string{"topic_excluded"}
		count(ctx, "reject_"+r.Stage+"_"+r.Reason)
		rej(r)
		return nil
	}
	if r := stage.CheckLimits(src.SizeBytes, nil, th); r != nil {
		fail(schemas.SourceInfo{SizeBytes: src.SizeBytes}, r)
		return nil
	}
	if src.SizeBytes == 0 {
		fail(schemas.SourceInfo{}, stage.Reject(schemas.StageProbe, schemas.ReasonEmptyFile, "zero bytes"))
		return nil
	}
	// Footage with no text to match, when nothing later could give it any,
	// would be decoded, analysed and normalised only to be rejected for
	// the same reason at the end: decide it here.
	if r, check := ScreenUntagged(fn.Cfg.Review, src); r != nil {
		count(ctx, "failed_check_"+check)
		rec := inputReject(src, schemas.SourceInfo{SizeBytes: src.SizeBytes}, r)
		rec.Failed = []string{check}
		count(ctx, "reject_"+r.Stage+"_"+r.Reason)
		rej(rec)
		return nil
	}
	loc, err := fsx.Localize(ctx, src.Path, tempDir(), th.MaxBytes, true)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, media.ErrWrite) {
			return fmt.Errorf("curate: %s: %w", src.Rel, err) // this machine's fault: fail, never reject
		}
		fail(schemas.SourceInfo{}, stage.Reject(schemas.StageInput, schemas.ReasonUnreadable, "%s", stage.ShortErr(err)))
		return nil
	}
	defer loc.Cleanup()
	info, r := stage.ProbeSource(ctx, loc.Path, th)
	if r != nil && loc.Path != src.Path {
		r.Detail = strings.ReplaceAll(r.Detail, loc.Path, src.Path) // not the temp copy's name
	}
	info.SHA256 = loc.SHA256
	info.SizeBytes = loc.Size
	if r == nil {
		r = stage.CheckLimits(loc.Size, &info, th)
	}
	if r == nil {
		r = stage.PreFilter(info, fn.Cfg.Profile, th)
	}
	if r != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fail(info, r)
		return nil
	}
	count(ctx, "probed")
	emit(ProbedSource{Source: src, Info: info})
	return nil
}

// Analyse decodes each probed source once at low resolution, measures every
// frame, finds the scene cuts and proposes candidate windows (the length
// policy), each with its scores. Sources with no usable window, or that fail
// to decode, are rejected.
func Analyse(s beam.Scope, cfg schemas.CurateConfig, probed beam.PCollection) (candidates, rejects beam.PCollection) {
	s = s.Scope("curate.Analyse")
	return beam.ParDo2(s, &analyseFn{Cfg: cfg}, probed)
}

type analyseFn struct {
	Cfg schemas.CurateConfig
}

func (fn *analyseFn) ProcessElement(ctx context.Context, ps ProbedSource, emit func(Candidate), rej func(schemas.RejectRecord)) error {
	th := fn.Cfg.Thresholds
	fail := func(r *stage.Rejection, sc schemas.ClipScores) {
		count(ctx, "reject_"+r.Stage+"_"+r.Reason)
		rec := inputReject(ps.Source, ps.Info, r)
		rec.Scores = sc
		rej(rec)
	}
	loc, err := fsx.Localize(ctx, ps.Source.Path, tempDir(), th.MaxBytes, false)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, media.ErrWrite) {
			return fmt.Errorf("curate: %s: %w", ps.Source.Rel, err)
		}
		fail(stage.Reject(schemas.StageInput, schemas.ReasonUnreadable, "%s", stage.ShortErr(err)), schemas.ClipScores{})
		return nil
	}
	defer loc.Cleanup()
	// Sources hopelessly exposed in every keyframe are rejected on their
	// keyframes alone, a small share of the full decode.
	if th.ScreenMaxKeyframeGapS > 0 {
		r, ks, err := stage.ScreenKeyframes(ctx, loc.Path, ps.Info, fn.Cfg.Profile, th)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			count(ctx, "keyframe_screen_failed") // the full analysis judges the file
		case r != nil:
			count(ctx, "keyframe_screen_rejected")
			fail(r, ks.Scores)
			return nil
		default:
			count(ctx, "keyframe_screen_undecided_"+ks.Undecided)
		}
	}
	an, r := stage.AnalyseSource(ctx, loc.Path, ps.Info, th)
	if r != nil {
		r.Detail = strings.ReplaceAll(r.Detail, loc.Path, ps.Source.Path)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fail(r, schemas.ClipScores{})
		return nil
	}
	windows := stage.SplitWindows(an, fn.Cfg.Profile, th)
	shots := len(stage.Shots(len(an.Res.Frames), an.Cuts))
	if len(windows) == 0 {
		// Keep the whole-source figures so the decision can be checked.
		whole := stage.WindowScores(an, stage.Window{Shot: -1, From: 0, To: len(an.Res.Frames)}, shots)
		longest := 0.0
		for _, sh := range stage.Shots(len(an.Res.Frames), an.Cuts) {
			longest = max(longest, float64(sh.To-sh.From)/an.FPS)
		}
		fail(stage.Reject(schemas.StageFilter, schemas.ReasonTooShort, "%d shot(s), longest %.2f s; a clip needs %.2f s plus %.2f s trim at cuts",
			shots, longest, fn.Cfg.Profile.DurationS(), th.TrimS), whole)
		return nil
	}
	upscaled := stage.Upscaled(ps.Info, fn.Cfg.Profile)
	for i, w := range windows {
		c := Candidate{Source: ps.Source, Info: ps.Info, Index: i,
			StartS: roundMS(float64(w.From) / an.FPS), Scores: stage.WindowScores(an, w, shots), Upscaled: upscaled,
			SourcePrint: dedup.EncodeSourcePrint(an.SourcePrint), SourcePrintStepS: an.SourcePrintStepS}
		c.EndS = roundMS(c.StartS + fn.Cfg.Profile.DurationS())
		count(ctx, "candidates")
		emit(c)
	}
	return nil
}

func roundMS(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// Filter applies the analysis filters in cheapest-first order to each
// candidate; every score stays in the record whether it passes or not.
func Filter(s beam.Scope, cfg schemas.CurateConfig, candidates beam.PCollection) (kept, rejects beam.PCollection) {
	s = s.Scope("curate.Filter")
	return beam.ParDo2(s, &filterFn{Cfg: cfg}, candidates)
}

type filterFn struct {
	Cfg schemas.CurateConfig
}

func (fn *filterFn) ProcessElement(ctx context.Context, c Candidate, emit func(Candidate), rej func(schemas.RejectRecord)) {
	reason, detail, failed := stage.FilterScores(c.Scores, fn.Cfg.Thresholds)
	for _, f := range failed {
		count(ctx, "failed_check_"+f)
	}
	if reason == "" {
		count(ctx, "filter_pass")
		emit(c)
		return
	}
	count(ctx, "reject_"+schemas.StageFilter+"_"+reason)
	rej(schemas.RejectRecord{Source: c.Source.Rel, SourceSHA256: c.Info.SHA256, Stage: schemas.StageFilter, Reason: reason,
		Detail: detail, Failed: failed, Candidate: c.Index, StartS: c.StartS, EndS: c.EndS, SourceInfo: c.Info, Scores: c.Scores})
}

// Normalise writes each kept candidate as a profile clip and its first
// frame under the output root (names from content hashes) and emits its
// manifest record.
func Normalise(s beam.Scope, cfg schemas.CurateConfig, kept beam.PCollection) (records, rejects beam.PCollection) {
	s = s.Scope("curate.Normalise")
	return beam.ParDo2(s, &normaliseFn{Cfg: cfg}, kept)
}

type normaliseFn struct {
	Cfg schemas.CurateConfig
}

func (fn *normaliseFn) ProcessElement(ctx context.Context, c Candidate, emit func(schemas.ManifestRecord), rej func(schemas.RejectRecord)) error {
	p, th := fn.Cfg.Profile, fn.Cfg.Thresholds
	id := stage.ClipID(c.Info.SHA256, p, c.StartS)
	clipRel, pngRel := "clips/"+id+".mp4", "first_frames/"+id+".png"
	fail := func(err error) {
		slog.Warn("normalise failed", "source", c.Source.Rel, "start_s", c.StartS, "err", err)
		count(ctx, "reject_"+schemas.StageNormalise+"_"+schemas.ReasonEncode)
		rej(schemas.RejectRecord{Source: c.Source.Rel, SourceSHA256: c.Info.SHA256, Stage: schemas.StageNormalise,
			Reason: schemas.ReasonEncode, Detail: stage.ShortErr(err), Candidate: c.Index, StartS: c.StartS, EndS: c.EndS,
			SourceInfo: c.Info, Scores: c.Scores})
	}
	loc, err := fsx.Localize(ctx, c.Source.Path, tempDir(), th.MaxBytes, false)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, media.ErrWrite) {
			return fmt.Errorf("curate: %s: %w", c.Source.Rel, err)
		}
		fail(err)
		return nil
	}
	defer loc.Cleanup()
	// Local outputs are encoded in place (the encoder renames its temp file);
	// remote ones are encoded to a private temp dir and uploaded.
	clipPath, pngPath := fsx.JoinPath(fn.Cfg.Output, clipRel), fsx.JoinPath(fn.Cfg.Output, pngRel)
	var work string
	if fsx.IsRemote(fn.Cfg.Output) {
		if err := os.MkdirAll(tempDir(), 0o755); err != nil {
			return err
		}
		if work, err = os.MkdirTemp(tempDir(), "out-*"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
		clipPath, pngPath = filepath.Join(work, id+".mp4"), filepath.Join(work, id+".png")
	}
	fp := newFrameSampler(fn.Cfg)
	padded, err := stage.NormaliseClipVisit(ctx, loc.Path, c.StartS, p, clipPath, pngPath, th, fp.indices(), fp.visit)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Only facts about the footage become rejects: a clip that could
		// not be written (full disk, a directory in the way) fails the run,
		// which a refresh then leaves uncommitted, so the source is retried.
		if errors.Is(err, media.ErrWrite) {
			return fmt.Errorf("curate: write %s of %s: %w", clipRel, c.Source.Rel, err)
		}
		fail(err)
		return nil
	}
	if work != "" {
		if err := fsx.CopyLocalAtomic(ctx, clipPath, fsx.JoinPath(fn.Cfg.Output, clipRel)); err != nil {
			return fmt.Errorf("upload %s: %w", clipRel, err) // storage trouble: let the runner retry
		}
		if err := fsx.CopyLocalAtomic(ctx, pngPath, fsx.JoinPath(fn.Cfg.Output, pngRel)); err != nil {
			return fmt.Errorf("upload %s: %w", pngRel, err)
		}
	}
	count(ctx, "clips")
	emit(schemas.ManifestRecord{
		ID: id, Source: c.Source.Rel, SourceSHA256: c.Info.SHA256, Clip: clipRel, FirstFrame: pngRel,
		Caption: c.Source.Caption, CaptionSource: c.Source.CaptionSource, Title: c.Source.Title, Tags: c.Source.Tags,
		Category: c.Source.Category, Profile: p.Name, StartS: c.StartS, EndS: c.EndS,
		Frames: p.Frames, FPS: p.FPS, Width: p.Width, Height: p.Height, Upscaled: c.Upscaled, PaddedFrames: padded,
		SourceInfo: c.Info, Scores: c.Scores, Candidate: c.Index,
		Fingerprint: fp.fingerprint(), KeyFrames: fp.jpegs,
		SourcePrint: c.SourcePrint, SourcePrintStepS: c.SourcePrintStepS,
	})
	return nil
}

// WriteDataset gathers every source, manifest record and reject in one
// writer (the run's records fit in memory: a few KB each) and writes
// manifest.jsonl, rejected.jsonl, stats.json and README.md, sorted, each
// temp-then-rename. The writer is an impulse reading the records as side
// inputs, so it runs exactly once, an empty input included.
//
// The source count rides along as a side input of its own: a global
// combine gives exactly one element in a run that works, an empty input
// included. When a stage fails, the local runner may still run the writer
// with side inputs it can no longer serve, which read as empty; without
// the count the writer cannot tell that from an empty input and would
// write an empty dataset (stats.json included, the mark of a finished one).
func WriteDataset(s beam.Scope, cfg schemas.CurateConfig, sources, records, rejects beam.PCollection) {
	s = s.Scope("curate.WriteDataset")
	count := stats.CountElms(s, sources)
	// Temp files older than this graph can only be left by a killed run.
	beam.ParDo0(s, &writeFn{Cfg: cfg, BuiltUnixNano: time.Now().UnixNano()}, beam.Impulse(s),
		beam.SideInput{Input: count}, beam.SideInput{Input: sources}, beam.SideInput{Input: records}, beam.SideInput{Input: rejects})
}

type writeFn struct {
	Cfg           schemas.CurateConfig
	BuiltUnixNano int64
}

func (fn *writeFn) ProcessElement(ctx context.Context, _ []byte, countIt func(*int) bool, srcIt func(*schemas.SourceFile) bool,
	manIt func(*schemas.ManifestRecord) bool, rejIt func(*schemas.RejectRecord) bool) error {
	counts := stage.Collect(countIt)
	sources, man, rej := stage.Collect(srcIt), stage.Collect(manIt), stage.Collect(rejIt)
	if len(counts) != 1 || counts[0] != len(sources) {
		return fmt.Errorf("curate: the run's records did not reach the writer (source counts %v, %d sources read): an earlier stage failed; nothing written", counts, len(sources))
	}
	stage.SortRecords(sources, man, rej)
	if !fsx.IsRemote(fn.Cfg.Output) {
		// Every clip of this run is written by now: what is left of killed
		// runs' temp files can go.
		removed, err := fsx.RemoveStaleTemps(fn.Cfg.Output, []string{"clips", "first_frames", "."}, time.Unix(0, fn.BuiltUnixNano))
		if err != nil {
			slog.Warn("curate: could not remove stale temp files", "output", fn.Cfg.Output, "err", err)
		}
		if removed > 0 {
			beam.NewCounter(counterNS, "stale_temp_files_removed").Inc(ctx, int64(removed))
			slog.Info("curate: removed temp files left by an earlier, killed run", "count", removed)
		}
	}
	st := stage.ComputeStats(fn.Cfg.Profile, fn.Cfg.Thresholds, sources, man, rej)
	stage.Advise(&st, fn.Cfg)
	if err := dataset.Write(ctx, fn.Cfg.Output, man, rej, st); err != nil {
		return err
	}
	slog.Info("curate: wrote dataset", "output", fn.Cfg.Output, "accounting", st.AccountingLine())
	return nil
}
