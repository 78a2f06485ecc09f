package curation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"realdpo/schemas"
	"realdpo/transforms/caption"
	"realdpo/transforms/dedup"
	"realdpo/transforms/dofn"
	"realdpo/transforms/fsx"
	"realdpo/transforms/stage"
	"realdpo/transforms/topic"
	"realdpo/transforms/vlm"
)

func init() {
	dofn.DoFn4x1[context.Context, schemas.ManifestRecord, func(schemas.ManifestRecord), func(schemas.RejectRecord), error](&captionFn{})
	dofn.DoFn4x1[context.Context, schemas.ManifestRecord, func(schemas.ManifestRecord), func(schemas.RejectRecord), error](&topicFn{})
	register.Function1x1[schemas.ManifestRecord, schemas.DedupItem](DedupItemOf)
	register.Function1x2[schemas.ManifestRecord, string, schemas.ManifestRecord](keyByDedupKey)
	register.Function1x2[schemas.DedupDecision, string, schemas.DedupDecision](keyDecision)
	dofn.DoFn6x0[context.Context, string, func(*schemas.ManifestRecord) bool, func(*schemas.DedupDecision) bool, func(schemas.ManifestRecord), func(schemas.RejectRecord)](&applyDedupFn{})
	register.Function1x2[schemas.ManifestRecord, string, schemas.ManifestRecord](keyByClipID)
	register.Function1x2[schemas.RejectRecord, string, schemas.RejectRecord](keyRejectByClipID)
	dofn.DoFn5x1[context.Context, string, func(*schemas.ManifestRecord) bool, func(*schemas.RejectRecord) bool, func(schemas.ManifestRecord), error](&finaliseFn{})
	dofn.Keyed[string, schemas.ManifestRecord]()
	dofn.Keyed[string, schemas.DedupDecision]()
}

// NeedsFrames reports whether a configuration sends keyframes to a model.
func NeedsFrames(r schemas.ReviewConfig) bool {
	return r.Captioner == schemas.CaptionerVLM || r.Fallback == schemas.CaptionerVLM || r.Judge == schemas.CaptionerVLM
}

// frameSampler takes the dedup keyframe hashes, and the model's keyframes
// when a model needs them, from the frames the normaliser writes.
type frameSampler struct {
	p      schemas.Profile
	hashAt map[int]int
	jpegAt map[int]int
	maxW   int
	hashes []uint64
	jpegs  [][]byte
}

func newFrameSampler(cfg schemas.CurateConfig) *frameSampler {
	fs := &frameSampler{p: cfg.Profile, hashAt: map[int]int{}, jpegAt: map[int]int{}, maxW: cfg.Review.VLM.FrameWidth}
	for k, i := range dedup.KeyframeIndices(cfg.Profile.Frames, cfg.Review.DedupKeyframes) {
		fs.hashAt[i] = k
	}
	fs.hashes = make([]uint64, len(fs.hashAt))
	if NeedsFrames(cfg.Review) {
		for k, i := range dedup.KeyframeIndices(cfg.Profile.Frames, cfg.Review.VLM.Frames) {
			fs.jpegAt[i] = k
		}
		fs.jpegs = make([][]byte, len(fs.jpegAt))
	}
	return fs
}

func (fs *frameSampler) visit(i int, rgb []byte) error {
	if k, ok := fs.hashAt[i]; ok {
		h, err := dedup.HashRGB(rgb, fs.p.Width, fs.p.Height)
		if err != nil {
			return err
		}
		fs.hashes[k] = h
	}
	if k, ok := fs.jpegAt[i]; ok {
		j, err := vlm.EncodeJPEG(rgb, fs.p.Width, fs.p.Height, fs.maxW)
		if err != nil {
			return err
		}
		fs.jpegs[k] = j
	}
	return nil
}

// indices are the frames visit needs, ascending.
func (fs *frameSampler) indices() []int {
	out := []int{}
	for i := range fs.hashAt {
		out = append(out, i)
	}
	for i := range fs.jpegAt {
		if _, dup := fs.hashAt[i]; !dup {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

func (fs *frameSampler) fingerprint() []string {
	out := make([]string, len(fs.hashes))
	for i, h := range fs.hashes {
		out[i] = fmt.Sprintf("%016x", h)
	}
	return out
}

// ScreenUntagged decides, before a byte of src is read, what curation would
// decide after decoding, analysing and normalising it when it has no text
// the topic filter can match and the configuration cannot give it any (a
// vlm captioner's caption or a vlm judge's verdict is the only other
// evidence). It mirrors the caption and topic stages exactly: with the
// sidecar captioner and no caption fallback the caption stage rejects it
// (caption_empty); otherwise its caption is a template, which carries no
// evidence of its own, and unless --keep_untagged or --judge=vlm the topic
// stage rejects it off_topic (topic_no_text). It returns nil, "" when the
// source could still be kept, else the rejection and its failed check.
func ScreenUntagged(r schemas.ReviewConfig, src schemas.SourceFile) (*stage.Rejection, string) {
	switch r.Captioner {
	case schemas.CaptionerSidecar:
		// The sidecar captioner takes the caption, else builds one from the
		// title and tags, whose words the topic filter then matches.
		if src.Caption != "" || src.Title != "" || len(src.Tags) > 0 {
			return nil, ""
		}
		switch r.Fallback {
		case schemas.CaptionerTemplate:
			// A template caption: the topic filter still sees no text.
		case schemas.CaptionerVLM:
			return nil, ""
		default:
			// Nothing captions it: the caption stage rejects it, before
			// the topic filter or a judge could see it.
			return stage.Reject(schemas.StageCaption, schemas.ReasonCaption,
					"no sidecar caption, title or tags, and no fallback captioner (screened before decoding)"),
				"caption_" + caption.GateEmpty
		}
	case schemas.CaptionerTemplate:
		if topic.HasText(topic.Text{Title: src.Title, Tags: src.Tags}) {
			return nil, ""
		}
	default:
		return nil, "" // a model's caption is text to match
	}
	if r.KeepUntagged || r.Judge == schemas.CaptionerVLM {
		return nil, "" // kept as others, or left to the judge
	}
	return stage.Reject(schemas.StageTopic, schemas.ReasonOffTopic,
		"no title, tags or caption to match (screened before decoding; caption with --captioner=vlm, judge with --judge=vlm, "+
			"keep with --keep_untagged, or add NAME.json/NAME.txt sidecars)"), "topic_no_text"
}

// clipReject is the reject record for a normalised clip dropped by a
// semantic stage.
func clipReject(m schemas.ManifestRecord, stg, reason, detail string, failed ...string) schemas.RejectRecord {
	return schemas.RejectRecord{Source: m.Source, SourceSHA256: m.SourceSHA256, Stage: stg, Reason: reason, Detail: detail,
		Failed: failed, Candidate: m.Candidate, StartS: m.StartS, EndS: m.EndS, SourceInfo: m.SourceInfo, Scores: m.Scores,
		ClipID: m.ID, Caption: m.Caption, Category: m.Category, Judge: m.Judge}
}

// Caption captions each clip with the configured captioner (falling back
// when it has nothing) and applies the caption gates; failures and gated
// captions become rejects with their reason.
func Caption(s beam.Scope, cfg schemas.CurateConfig, records beam.PCollection) (captioned, rejects beam.PCollection) {
	s = s.Scope("curate.Caption")
	return beam.ParDo2(s, &captionFn{Cfg: cfg}, records)
}

type captionFn struct {
	Cfg schemas.CurateConfig
	cp  caption.Captioner
}

func (fn *captionFn) Setup(ctx context.Context) error {
	cp, err := caption.New(ctx, fn.Cfg.Review)
	if err != nil {
		return fmt.Errorf("curate: captioner: %w", err)
	}
	fn.cp = cp
	return nil
}

func (fn *captionFn) ProcessElement(ctx context.Context, m schemas.ManifestRecord, emit func(schemas.ManifestRecord), rej func(schemas.RejectRecord)) error {
	fail := func(reason, detail string, failed ...string) {
		for _, f := range failed {
			count(ctx, "failed_check_"+f)
		}
		count(ctx, "reject_"+schemas.StageCaption+"_"+reason)
		rej(clipReject(m, schemas.StageCaption, reason, detail, failed...))
	}
	sidecarCaption, sidecarSource := m.Caption, m.CaptionSource
	cat := stage.CategoryFromTags(m.Tags, m.Title)
	c, err := fn.cp.Caption(ctx, caption.Clip{
		Title: m.Title, Tags: m.Tags, SidecarCaption: sidecarCaption, SidecarSource: sidecarSource, Category: cat,
		DurationS: float64(m.Frames) / m.FPS, FPS: m.FPS, Width: m.Width, Height: m.Height,
		SubjectMotion: m.Scores.SubjectMotion, CameraMotion: m.Scores.CameraMotion, LumaMean: m.Scores.LumaMean,
		Frames: m.KeyFrames,
	})
	m.Captioner, m.CaptionModel, m.CaptionPrompt = c.Captioner, c.Model, c.Prompt
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the bundle is being torn down: let the runner retry it
		}
		m.Caption, m.CaptionSource = "", ""
		var ve *vlm.Error
		switch {
		case errors.Is(err, caption.ErrNothing):
			fail(schemas.ReasonCaption, "no sidecar caption, title or tags, and no fallback captioner", "caption_"+caption.GateEmpty)
		case errors.As(err, &ve):
			fail(schemas.ReasonVLM, ve.Error(), "vlm_"+ve.Kind)
		default:
			fail(schemas.ReasonVLM, stage.ShortErr(err), "vlm_error")
		}
		return nil
	}
	m.Caption, m.CaptionSource, m.CaptionWords = c.Text, c.Source, caption.Words(c.Text)
	if kind, detail := caption.Check(c, caption.GatesFrom(fn.Cfg.Review)); kind != "" {
		fail(schemas.ReasonCaption, kind+": "+detail, "caption_"+kind)
		return nil
	}
	count(ctx, "captioned_"+c.Captioner)
	emit(m)
	return nil
}

// Topic assigns each clip's RealAction category from the topic keywords
// (title, tags, and the caption unless it is a template) and, with
// --judge=vlm, asks the model whether it shows a person doing an everyday
// action; off-topic clips become rejects. Keyframes end here.
func Topic(s beam.Scope, cfg schemas.CurateConfig, records beam.PCollection) (onTopic, rejects beam.PCollection) {
	s = s.Scope("curate.Topic")
	return beam.ParDo2(s, &topicFn{Cfg: cfg}, records)
}

type topicFn struct {
	Cfg   schemas.CurateConfig
	judge *vlm.Client
}

func (fn *topicFn) Setup(ctx context.Context) error {
	if fn.Cfg.Review.Judge != schemas.CaptionerVLM {
		return nil
	}
	c, err := vlm.Shared(ctx, fn.Cfg.Review.VLM)
	if err != nil {
		return fmt.Errorf("curate: judge: %w", err)
	}
	fn.judge = c
	return nil
}

func (fn *topicFn) ProcessElement(ctx context.Context, m schemas.ManifestRecord, emit func(schemas.ManifestRecord), rej func(schemas.RejectRecord)) error {
	frames := m.KeyFrames
	m.KeyFrames = nil
	fail := func(reason, detail, check string) {
		count(ctx, "failed_check_"+check)
		count(ctx, "reject_"+schemas.StageTopic+"_"+reason)
		rej(clipReject(m, schemas.StageTopic, reason, detail, check))
	}
	text := topic.Text{Title: m.Title, Tags: m.Tags, Caption: m.Caption}
	if m.CaptionSource == "template" {
		text.Caption = "" // made from the tags: no evidence of its own
	}
	// With no text at all, a judge that sees the frames is the only
	// evidence there is: the clip goes to it as "others".
	untaggedToJudge := fn.judge != nil && !topic.HasText(text)
	match := topic.Classify(fn.Cfg.Review.Topics, text, fn.Cfg.Review.KeepUntagged || untaggedToJudge)
	if untaggedToJudge && !fn.Cfg.Review.KeepUntagged {
		match.Detail = "no text to match; the judge decides (category others)"
	}
	m.TopicHits = match.Hits
	if !match.OnTopic {
		check := "topic_no_match"
		switch {
		case len(match.Hits) > 0:
			check = "topic_excluded"
		case strings.HasPrefix(match.Detail, "no title"):
			check = "topic_no_text"
		}
		fail(schemas.ReasonOffTopic, match.Detail, check)
		return nil
	}
	m.Category = match.Category
	if fn.judge != nil {
		v, err := topic.Judge(ctx, fn.judge, fn.Cfg.Review.VLM.Model, frames)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ve *vlm.Error
			check := "vlm_error"
			if errors.As(err, &ve) {
				check = "vlm_" + ve.Kind
			}
			fail(schemas.ReasonVLM, "judge: "+stage.ShortErr(err), check)
			return nil
		}
		m.Judge = &v
		if v.Answer != "yes" {
			fail(schemas.ReasonOffTopic, fmt.Sprintf("judge answered %s: %s", v.Answer, v.Text), "judge_"+v.Answer)
			return nil
		}
	}
	count(ctx, "on_topic_"+strings.ReplaceAll(m.Category, " ", "_"))
	emit(m)
	return nil
}

// DedupKey is a clip record's unique key: several sources can hold the
// same bytes and so the same clip id.
func DedupKey(m schemas.ManifestRecord) string { return m.ID + "|" + m.Source }

// DedupItemOf is a clip record's fingerprint and rank for dedup.Dedup:
// higher source resolution, longer source, the source's content hash,
// better window score win, then the clip id and source name break ties.
// Caption evidence does not rank copies: which name of the same footage
// has a sidecar says nothing about the footage. A record without a
// readable source print is matched by its keyframes only.
func DedupItemOf(m schemas.ManifestRecord) schemas.DedupItem {
	hashes := make([]uint64, 0, len(m.Fingerprint))
	for _, h := range m.Fingerprint {
		if v, err := strconv.ParseUint(h, 16, 64); err == nil {
			hashes = append(hashes, v)
		}
	}
	key := DedupKey(m)
	// The first 16 hex digits of the content hash name the source (64 bits:
	// no two sources of a run share them).
	src := m.SourceSHA256[:min(16, len(m.SourceSHA256))]
	it := schemas.DedupItem{Key: key, ID: m.ID, Hashes: hashes,
		Rank: dedup.RankKey(m.SourceInfo.Width*m.SourceInfo.Height, m.SourceInfo.DurationS, src, m.Scores.WindowScore, 0, m.ID, key)}
	if print, err := dedup.DecodeSourcePrint(m.SourcePrint); err == nil && len(print) > 0 && m.SourcePrintStepS > 0 {
		it.SourcePrint, it.SourceStepS = print, m.SourcePrintStepS
	}
	return it
}

func keyByDedupKey(m schemas.ManifestRecord) (string, schemas.ManifestRecord) { return DedupKey(m), m }
func keyDecision(d schemas.DedupDecision) (string, schemas.DedupDecision)     { return d.Key, d }

// Dedup finds near-duplicate clips across the whole run with dedup.Dedup
// and rejects every copy but the best as duplicate_of the kept one.
func Dedup(s beam.Scope, cfg schemas.CurateConfig, records beam.PCollection) (kept, rejects beam.PCollection, err error) {
	s = s.Scope("curate.Dedup")
	decisions, err := dedup.Dedup(s, dedup.OptionsFrom(cfg.Review), beam.ParDo(s, DedupItemOf, records))
	if err != nil {
		return kept, rejects, err
	}
	joined := beam.CoGroupByKey(s, beam.ParDo(s, keyByDedupKey, records), beam.ParDo(s, keyDecision, decisions))
	kept, rejects = beam.ParDo2(s, &applyDedupFn{}, joined)
	return kept, rejects, nil
}

type applyDedupFn struct{}

func (fn *applyDedupFn) ProcessElement(ctx context.Context, _ string, recs func(*schemas.ManifestRecord) bool, decs func(*schemas.DedupDecision) bool,
	emit func(schemas.ManifestRecord), rej func(schemas.RejectRecord)) {
	var d schemas.DedupDecision
	have := decs(&d)
	var m schemas.ManifestRecord
	for recs(&m) {
		if !have || d.Keep {
			if !have {
				count(ctx, "dedup_no_decision") // cannot happen: every item gets one; keep rather than lose it
			}
			emit(m)
		} else {
			count(ctx, "reject_"+schemas.StageDedup+"_"+schemas.ReasonDuplicate)
			r := duplicateReject(m, d)
			rej(r)
		}
		m = schemas.ManifestRecord{}
	}
}

// duplicateReject is the reject record of m, a copy of d's kept clip.
func duplicateReject(m schemas.ManifestRecord, d schemas.DedupDecision) schemas.RejectRecord {
	r := clipReject(m, schemas.StageDedup, schemas.ReasonDuplicate, "", schemas.ReasonDuplicate)
	r.DuplicateOf = d.KeptID
	if i := strings.Index(d.KeptKey, "|"); i >= 0 {
		r.DuplicateOfSource = d.KeptKey[i+1:]
	}
	if d.Distance >= 0 {
		dist := d.Distance
		r.Distance = &dist
		r.Detail = fmt.Sprintf("duplicate_of: %s (%s), fingerprint distance %d", r.DuplicateOf, r.DuplicateOfSource, dist)
		if d.BySource {
			r.Detail = fmt.Sprintf("duplicate_of: %s (%s): the same source footage (another window of it), source print distance %d",
				r.DuplicateOf, r.DuplicateOfSource, dist)
		}
	} else {
		r.Detail = fmt.Sprintf("duplicate_of: %s (%s), through a chain of near-duplicates", r.DuplicateOf, r.DuplicateOfSource)
	}
	return r
}

// DedupRecords is Dedup in memory, for a merged manifest that one process
// already holds (refresh runs it across the carried and the new records):
// the same fingerprints, ranking and reject records as the pipeline's.
// removed lists the clip ids no kept record holds any more, whose files
// the caller deletes.
func DedupRecords(man []schemas.ManifestRecord, review schemas.ReviewConfig) (keep []schemas.ManifestRecord, rejects []schemas.RejectRecord, removed []string, err error) {
	items := make([]schemas.DedupItem, len(man))
	for i, m := range man {
		items[i] = DedupItemOf(m)
	}
	decisions, err := dedup.Decide(items, dedup.OptionsFrom(review))
	if err != nil {
		return nil, nil, nil, err
	}
	byKey := make(map[string]schemas.DedupDecision, len(decisions))
	for _, d := range decisions {
		byKey[d.Key] = d
	}
	held := map[string]bool{}
	for _, m := range man {
		if d, ok := byKey[DedupKey(m)]; !ok || d.Keep {
			keep = append(keep, m) // no decision cannot happen; keep rather than lose it
			held[m.ID] = true
		} else {
			rejects = append(rejects, duplicateReject(m, d))
		}
	}
	for _, r := range rejects {
		if !held[r.ClipID] {
			held[r.ClipID] = true
			removed = append(removed, r.ClipID)
		}
	}
	return keep, rejects, removed, nil
}

// RemoveClipFiles deletes the clip and first frame of each id under root
// (local or gs://); files already gone are fine.
func RemoveClipFiles(ctx context.Context, root string, ids []string) error {
	for _, id := range ids {
		for _, rel := range []string{"clips/" + id + ".mp4", "first_frames/" + id + ".png"} {
			if err := fsx.Remove(ctx, fsx.JoinPath(root, rel)); err != nil {
				return fmt.Errorf("remove %s: %w", rel, err)
			}
		}
	}
	return nil
}

func keyByClipID(m schemas.ManifestRecord) (string, schemas.ManifestRecord)   { return m.ID, m }
func keyRejectByClipID(r schemas.RejectRecord) (string, schemas.RejectRecord) { return r.ClipID, r }

// Finalise settles the clip files once every decision is taken: a clip id
// that no kept record holds has its clip and first frame removed
// (idempotently: a rerun or a retried bundle finds them gone), and the
// kept records go on to the dataset files. clipRejects are the semantic
// rejects (they carry ClipID).
func Finalise(s beam.Scope, cfg schemas.CurateConfig, kept, clipRejects beam.PCollection) beam.PCollection {
	s = s.Scope("curate.Finalise")
	joined := beam.CoGroupByKey(s, beam.ParDo(s, keyByClipID, kept), beam.ParDo(s, keyRejectByClipID, clipRejects))
	return beam.ParDo(s, &finaliseFn{Output: cfg.Output}, joined)
}

type finaliseFn struct {
	Output string
}

func (fn *finaliseFn) ProcessElement(ctx context.Context, id string, recs func(*schemas.ManifestRecord) bool, rejs func(*schemas.RejectRecord) bool, emit func(schemas.ManifestRecord)) error {
	n := 0
	var m schemas.ManifestRecord
	for recs(&m) {
		n++
		emit(m)
		m = schemas.ManifestRecord{}
	}
	if n > 0 || id == "" {
		return nil
	}
	for _, rel := range []string{"clips/" + id + ".mp4", "first_frames/" + id + ".png"} {
		if err := fsx.Remove(ctx, fsx.JoinPath(fn.Output, rel)); err != nil {
			return fmt.Errorf("remove rejected %s: %w", rel, err) // storage trouble: let the runner retry
		}
	}
	count(ctx, "clip_files_removed")
	return nil
}
