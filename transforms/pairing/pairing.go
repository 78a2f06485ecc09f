// Package pairing holds the pairs stage's DoFns and the library they use:
// reading the clips and negatives of either input layout, checking every
// member (decodes, matches its spec and checksum), planning shards,
// writing and resuming them, the reference-layout export, and the report
// and stats. The graph is pipelines/pairs.
package pairing

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/dataset"
	"realdpo/transforms/dofn"
	"realdpo/transforms/fsx"
	"realdpo/transforms/generate"
	"realdpo/transforms/media"
	"realdpo/transforms/reflayout"
	"realdpo/transforms/shards"
	"realdpo/transforms/stage"
)

func init() {
	beam.RegisterType(reflect.TypeOf(Config{}))
	dofn.Element[PairClip]()
	dofn.Element[PairNegative]()
	dofn.Element[schemas.PairIssue]()
	dofn.Element[PlannedPair]()
	dofn.Element[ShardJob]()
	dofn.Element[schemas.ShardStats]()
	dofn.Element[PairsPlanSummary]()
	dofn.Element[int]()
	dofn.DoFn5x1[context.Context, string, func(PairClip), func(PairNegative), func(schemas.PairIssue), error](&readInputsFn{})
	register.Function1x2[PairClip, string, PairClip](keyClip)
	register.Function1x2[PairNegative, string, PairNegative](keyNegative)
	dofn.DoFn6x1[context.Context, string, func(*PairClip) bool, func(*PairNegative) bool, func(PlannedPair), func(schemas.PairIssue), error](&assembleFn{})
	dofn.DoFn6x1[context.Context, []byte, func(*PlannedPair) bool, func(ShardJob), func(schemas.PairIssue), func(PairsPlanSummary), error](&planFn{})
	dofn.DoFn3x1[context.Context, ShardJob, func(schemas.ShardStats), error](&writeShardFn{})
	dofn.DoFn3x1[context.Context, ShardJob, func(int), error](&exportFn{})
	dofn.DoFn5x1[context.Context, []byte, func(*schemas.ShardStats) bool, func(*schemas.PairIssue) bool, func(*PairsPlanSummary) bool, error](&finishShardsFn{})
	dofn.DoFn5x1[context.Context, []byte, func(*ShardJob) bool, func(*int) bool, func(*schemas.PairIssue) bool, error](&finishExportFn{})
}

const pairsNS = "pairs"

func pairCount(ctx context.Context, name string) { beam.NewCounter(pairsNS, name).Inc(ctx, 1) }

// Input layouts and export formats.
const (
	LayoutAuto    = "auto"
	LayoutCurate  = "curate"
	LayoutRealDPO = "realdpo"

	ExportWebDataset = "webdataset"
	ExportRealDPO    = "realdpo"

	ReportFile = "pairs_report.jsonl"
	StatsFile  = "pairs_stats.json"
)

// Config is one pairs run.
type Config struct {
	Dataset string `json:"dataset" flag:"dataset" help:"curated dataset root (manifest.jsonl), or a reference-layout data set (prompt.txt, video.txt, videos/, negative_samples/): local or gs://" check:"required"`
	// Negatives is the negatives output root (negatives.jsonl); unused for
	// reference-layout input, whose negatives sit in the data set.
	Negatives string `json:"negatives" flag:"negatives" help:"negatives root (negatives.jsonl) for a curated dataset"`
	Output    string `json:"output" flag:"output" help:"output root: pairs-NNNNNN.tar shards, their .stats.json, pairs_report.jsonl and index.json (written last)" check:"required"`
	// InputLayout is curate, realdpo or auto (realdpo when prompt.txt and
	// video.txt are there).
	InputLayout string `json:"input_layout" flag:"input_layout" help:"auto, curate or realdpo (auto: realdpo when prompt.txt and video.txt are in --dataset)"`
	// Export is webdataset (shards) or realdpo (the reference layout).
	Export string `json:"export" flag:"export" help:"webdataset (shards) or realdpo (prompt.txt, video.txt, videos/ID.mp4, negative_samples/ID/K.mp4)"`
	// NegativesPerPair is how many rejected clips every pair carries (the
	// lowest usable indices); clips with fewer usable ones are reported.
	NegativesPerPair int     `json:"negatives_per_pair" flag:"negatives_per_pair" help:"rejected clips in every pair; clips with fewer usable negatives are reported in pairs_report.jsonl"`
	TargetShardMB    float64 `json:"target_shard_mb" flag:"target_shard_mb" help:"target shard size, MiB" check:"positive"`
	LoaderWorkers    int     `json:"loader_workers" flag:"loader_workers" help:"training data-loader workers: the shard count is a multiple of this" check:"positive"`
}

// DefaultConfig has the defaults: 3 negatives a pair, 512 MiB shards,
// a shard count divisible by 8 loader workers.
func DefaultConfig(dataset, negatives, output string) Config {
	return Config{Dataset: dataset, Negatives: negatives, Output: output, InputLayout: LayoutAuto,
		Export: ExportWebDataset, NegativesPerPair: 3, TargetShardMB: 512, LoaderWorkers: 8}
}

// Validate checks a configuration (after the layout is resolved).
func (c Config) Validate() error {
	if err := config.Check("pairs", c); err != nil {
		return err
	}
	switch {
	case c.InputLayout != LayoutCurate && c.InputLayout != LayoutRealDPO:
		return config.Errorf("pairs", "InputLayout", " %q: want auto, curate or realdpo", c.InputLayout)
	case c.InputLayout == LayoutCurate && strings.TrimSpace(c.Negatives) == "":
		return config.Errorf("pairs", "Negatives", " is required for a curated dataset")
	case c.Export != ExportWebDataset && c.Export != ExportRealDPO:
		return config.Errorf("pairs", "Export", " %q: want webdataset or realdpo", c.Export)
	case c.NegativesPerPair < 1 || c.NegativesPerPair > 100:
		return config.Errorf("pairs", "NegativesPerPair", " %d outside [1, 100]", c.NegativesPerPair)
	}
	return fsx.CheckOutput("pairs", c.Output, map[string]string{"Dataset": c.Dataset, "Negatives": c.Negatives})
}

// Resolve makes roots absolute and settles an auto layout.
func (c Config) Resolve(ctx context.Context) Config {
	c.Dataset, c.Negatives, c.Output = fsx.AbsRoot(c.Dataset), fsx.AbsRoot(c.Negatives), fsx.AbsRoot(c.Output)
	if c.InputLayout == "" || c.InputLayout == LayoutAuto {
		c.InputLayout = LayoutCurate
		if reflayout.IsLayout(ctx, c.Dataset) {
			c.InputLayout = LayoutRealDPO
		}
	}
	if c.Export == "" {
		c.Export = ExportWebDataset
	}
	return c
}

// pairsStats sums a run up for pairs_stats.json.
func pairsStats(c Config, pairs, parts int, issues []schemas.PairIssue) schemas.PairsStats {
	st := schemas.PairsStats{Pairs: pairs, Shards: parts, NegativesPerPair: c.NegativesPerPair, Issues: len(issues),
		IssuesByReason: map[string]int{}}
	for _, is := range issues {
		st.IssuesByReason[is.Reason]++
		if unpairs(is) {
			st.Unpaired++
		}
		if is.Reason == schemas.PairReasonTooFewNegatives {
			st.TooFewNegatives++
			if is.Usable > 0 && (st.FewestUsable == 0 || is.Usable < st.FewestUsable) {
				st.FewestUsable = is.Usable
			}
		}
	}
	return st
}

// writeStats writes pairs_stats.json.
func writeStats(ctx context.Context, out string, st schemas.PairsStats) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := fsx.WriteFile(ctx, fsx.JoinPath(out, StatsFile), append(data, '\n')); err != nil {
		return fmt.Errorf("pairs: stats: %w", err)
	}
	return nil
}

// unpairs reports whether an issue leaves a clip out of the pairs.
func unpairs(is schemas.PairIssue) bool {
	if is.Paired {
		return false
	}
	switch is.Reason {
	case schemas.PairReasonNoNegatives, schemas.PairReasonTooFewNegatives, schemas.PairReasonBrokenClip,
		schemas.PairReasonBrokenNegative, schemas.PairReasonBadKey:
		return true
	case schemas.PairReasonBadRecord:
		return strings.HasPrefix(is.Detail, dataset.ManifestFile)
	}
	return false
}

func keyClip(v PairClip) (string, PairClip)             { return v.ClipID, v }
func keyNegative(v PairNegative) (string, PairNegative) { return v.Record.ClipID, v }

// readInputsFn lists the clips and negatives of either layout; lines and
// entries that cannot be used become issues.
type readInputsFn struct {
	Cfg Config
}

func (fn *readInputsFn) ProcessElement(ctx context.Context, _ string, clip func(PairClip), neg func(PairNegative), issue func(schemas.PairIssue)) error {
	c := fn.Cfg
	report := func(is schemas.PairIssue) {
		pairCount(ctx, "issue_"+is.Reason)
		issue(is)
	}
	if c.InputLayout == LayoutRealDPO {
		samples, probs, err := reflayout.Import(ctx, c.Dataset)
		if err != nil {
			return fmt.Errorf("pairs: import %s: %w", c.Dataset, err)
		}
		for _, p := range probs {
			is := schemas.PairIssue{ClipID: p.ID, Reason: schemas.PairReasonBrokenClip, Detail: fmt.Sprintf("line %d: %s", p.Line, p.Reason)}
			if strings.HasPrefix(p.Reason, "negatives ") {
				// The sample itself imports; only its later negatives do not.
				is.Reason, is.Paired = schemas.PairReasonBrokenNegative, true
			}
			report(is)
		}
		for _, s := range samples {
			pairCount(ctx, "clips")
			clip(PairClip{ClipID: s.ID, Caption: s.Caption, Root: c.Dataset, Clip: s.Video, Origin: LayoutRealDPO})
			for k, p := range s.Negs {
				neg(PairNegative{Root: c.Dataset, Record: schemas.NegativeRecord{ClipID: s.ID, Index: k, Path: p}})
			}
		}
		return nil
	}
	recs, probs, err := dataset.ReadManifest(ctx, c.Dataset, generate.CheckClipRecord)
	if err != nil {
		return fmt.Errorf("pairs: manifest: %w", err)
	}
	for _, p := range probs {
		report(schemas.PairIssue{ClipID: p.ID, Reason: schemas.PairReasonBadRecord, Detail: dataset.ManifestFile + " " + p.String()})
	}
	for _, r := range recs {
		pairCount(ctx, "clips")
		sc := r.Scores
		clip(PairClip{ClipID: r.ID, Caption: r.Caption, Category: r.Category, Source: r.Source, SourceSHA256: r.SourceSHA256,
			Profile: r.Profile, Frames: r.Frames, FPS: r.FPS, Width: r.Width, Height: r.Height, Root: c.Dataset, Clip: r.Clip,
			FirstFrame: r.FirstFrame, Origin: LayoutCurate, Scores: &sc})
	}
	data, err := fsx.ReadFile(ctx, fsx.JoinPath(c.Negatives, generate.NegativesFile), generate.MaxRecordsBytes)
	if err != nil {
		return fmt.Errorf("pairs: negatives: %w", err)
	}
	lines, nums := dataset.Lines(data)
	for i, l := range lines {
		var r schemas.NegativeRecord
		err := dataset.DecodeStrict(l, &r)
		switch {
		case err != nil:
		case !dataset.SafeID(r.ClipID):
			err = fmt.Errorf("bad clip id %q", r.ClipID)
			r.ClipID = ""
		case r.Index < 0:
			err = fmt.Errorf("negative index %d", r.Index)
		default:
			err = reflayout.SafeRel(r.Path)
		}
		if err != nil {
			report(schemas.PairIssue{ClipID: r.ClipID, Reason: schemas.PairReasonBadRecord, Detail: fmt.Sprintf("%s line %d: %v", generate.NegativesFile, nums[i], err)})
			continue
		}
		pairCount(ctx, "negative_records")
		neg(PairNegative{Root: c.Negatives, Record: r})
	}
	return nil
}

// assembleFn checks one clip and its negatives: every file there, not
// empty, matching its recorded checksum, decodable and of the clip's spec.
type assembleFn struct {
	Cfg Config
}

func (fn *assembleFn) ProcessElement(ctx context.Context, id string, clipIt func(*PairClip) bool, negIt func(*PairNegative) bool,
	emit func(PlannedPair), issue func(schemas.PairIssue)) error {
	clips, negs := stage.Collect(clipIt), stage.Collect(negIt)
	sort.Slice(negs, func(i, j int) bool {
		a, b := negs[i].Record, negs[j].Record
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.Path+a.SHA256 < b.Path+b.SHA256
	})
	report := func(is schemas.PairIssue) {
		pairCount(ctx, "issue_"+is.Reason)
		issue(is)
	}
	indices := func(ns []PairNegative) []int {
		var out []int
		for _, n := range ns {
			out = append(out, n.Record.Index)
		}
		return out
	}
	if len(clips) == 0 {
		report(schemas.PairIssue{ClipID: id, Reason: schemas.PairReasonOrphanNegative, Indices: indices(negs),
			Detail: "negatives recorded for a clip that is not in the dataset"})
		return nil
	}
	if len(clips) > 1 {
		// Both readers refuse duplicate ids; a second listing here is a bug upstream.
		return fmt.Errorf("pairs: clip %s listed %d times", id, len(clips))
	}
	clip := clips[0]
	key := shards.KeyFor(clip.ClipID)
	fail := func(reason, detail string) {
		report(schemas.PairIssue{ClipID: id, Reason: reason, Detail: detail, Indices: indices(negs)})
	}
	chosenPath := fsx.JoinPath(clip.Root, clip.Clip)
	chosen, err := fsx.ReadFile(ctx, chosenPath, generate.MaxVideoBytes)
	if err == nil && len(chosen) == 0 {
		err = errors.New("empty file")
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fail(schemas.PairReasonBrokenClip, "clip "+clip.Clip+": "+stage.ShortErr(err))
		return nil
	}
	spec := generate.Spec{Frames: clip.Frames, Width: clip.Width, Height: clip.Height, FPS: clip.FPS}
	info, err := probeBytes(ctx, chosenPath, chosen, spec)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fail(schemas.PairReasonBrokenClip, "clip "+clip.Clip+": "+stage.ShortErr(err))
		return nil
	}
	if spec.Frames == 0 {
		spec = generate.Spec{Frames: info.Frames, Width: info.DisplayWidth(), Height: info.DisplayHeight(), FPS: info.FPS}
	}
	pp := PlannedPair{ChosenPath: chosenPath}
	var first []byte
	if clip.FirstFrame != "" {
		pp.FirstFramePath = fsx.JoinPath(clip.Root, clip.FirstFrame)
		first, err = fsx.ReadFile(ctx, pp.FirstFramePath, generate.MaxFirstFrameBytes)
		if err == nil {
			_, err = png.DecodeConfig(bytes.NewReader(first))
		}
	} else {
		first, err = firstFramePNG(ctx, chosenPath, chosen, spec)
		pp.FirstFramePNG = first
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fail(schemas.PairReasonBrokenClip, "first frame: "+stage.ShortErr(err))
		return nil
	}
	if len(negs) == 0 {
		fail(schemas.PairReasonNoNegatives, "no negative recorded")
		return nil
	}
	type usable struct {
		n     PairNegative
		bytes int64
		sha   string
	}
	var good []usable
	var broken []int
	var why []string
	seen := map[int]bool{}
	for _, n := range negs {
		r := n.Record
		if seen[r.Index] {
			broken = append(broken, r.Index)
			why = append(why, fmt.Sprintf("%d: recorded twice", r.Index))
			continue
		}
		seen[r.Index] = true
		p := fsx.JoinPath(n.Root, r.Path)
		data, err := fsx.ReadFile(ctx, p, generate.MaxVideoBytes)
		switch {
		case err != nil:
		case len(data) == 0:
			err = errors.New("empty file")
		case r.SHA256 != "" && sha256Hex(data) != r.SHA256:
			err = errors.New("checksum differs from its record")
		case r.Bytes != 0 && int64(len(data)) != r.Bytes:
			err = fmt.Errorf("%d bytes, record says %d", len(data), r.Bytes)
		default:
			_, err = probeBytes(ctx, p, data, spec)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			pairCount(ctx, "broken_negatives")
			broken = append(broken, r.Index)
			why = append(why, fmt.Sprintf("%d (%s): %s", r.Index, r.Path, stage.ShortErr(err)))
			continue
		}
		good = append(good, usable{n, int64(len(data)), sha256Hex(data)})
	}
	need := fn.Cfg.NegativesPerPair
	if len(good) < need {
		detail := fmt.Sprintf("%d usable of %d recorded, a pair needs %d (--negatives_per_pair)", len(good), len(negs), need)
		if len(why) > 0 {
			detail += "; " + strings.Join(why, "; ")
		}
		report(schemas.PairIssue{ClipID: id, Reason: schemas.PairReasonTooFewNegatives, Indices: broken,
			Usable: len(good), Needed: need, Detail: detail})
		return nil
	}
	if len(broken) > 0 {
		report(schemas.PairIssue{ClipID: id, Reason: schemas.PairReasonBrokenNegative, Indices: broken, Paired: true,
			Detail: strings.Join(why, "; ")})
	}
	if len(good) > need {
		pairCount(ctx, "negatives_unused")
	}
	good = good[:need]
	meta := schemas.PairMeta{Key: key, ClipID: clip.ClipID, Caption: clip.Caption, Category: clip.Category, Source: clip.Source,
		SourceSHA256: clip.SourceSHA256, Profile: clip.Profile, Frames: spec.Frames, FPS: spec.FPS, Width: spec.Width, Height: spec.Height,
		Chosen:     schemas.MemberInfo{Name: key + "." + shards.SuffixChosen, Bytes: int64(len(chosen)), SHA256: sha256Hex(chosen), Origin: clip.Clip},
		FirstFrame: schemas.MemberInfo{Name: key + "." + shards.SuffixFirstFrame, Bytes: int64(len(first)), SHA256: sha256Hex(first), Origin: clip.FirstFrame},
		Origin:     clip.Origin, Scores: clip.Scores}
	sizes := []int64{int64(len(chosen)), int64(len(first)), int64(len(clip.Caption))}
	for i, g := range good {
		r := g.n.Record
		meta.Rejected = append(meta.Rejected, schemas.RejectedInfo{
			MemberInfo: schemas.MemberInfo{Name: key + "." + shards.SuffixRejected(i), Bytes: g.bytes, SHA256: g.sha, Origin: r.Path},
			Index:      r.Index, Seed: r.Seed, Generator: r.Generator, GeneratorID: r.GeneratorID, Checkpoint: r.Checkpoint,
			Steps: r.Steps, Guidance: r.Guidance})
		pp.RejectedPaths = append(pp.RejectedPaths, fsx.JoinPath(g.n.Root, r.Path))
		sizes = append(sizes, g.bytes)
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	pp.Meta = meta
	pp.TarBytes = shards.TarSize(append(sizes, int64(len(mj)))...)
	pairCount(ctx, "pairs")
	emit(pp)
	return nil
}

// probeBytes checks a video decodes with the expected spec (any spec when
// spec.Frames is 0); remote files are probed from a temp copy of data.
func probeBytes(ctx context.Context, p string, data []byte, spec generate.Spec) (media.ProbeInfo, error) {
	local, done, err := localFor(p, data)
	if err != nil {
		return media.ProbeInfo{}, err
	}
	defer done()
	if spec.Frames == 0 {
		info, err := media.ProbeFormats(ctx, local, 0, media.ClipFormats)
		if err == nil && (info.Frames < 1 || info.Width < 2 || info.Height < 2 || !(info.FPS > 0)) {
			err = fmt.Errorf("unusable video: %d frames %dx%d at %g fps", info.Frames, info.Width, info.Height, info.FPS)
		}
		return info, err
	}
	return generate.CheckVideo(ctx, local, spec)
}

func localFor(p string, data []byte) (string, func(), error) {
	if !fsx.IsRemote(p) {
		return p, func() {}, nil
	}
	dir := filepath.Join(os.TempDir(), "realdpo-pairs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(dir, "probe-*.mp4")
	if err != nil {
		return "", nil, err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", nil, err
	}
	return f.Name(), func() { os.Remove(f.Name()) }, nil
}

// firstFramePNG decodes a clip's first frame at its size as a PNG (the
// encoder is deterministic, so reruns give the same bytes).
func firstFramePNG(ctx context.Context, p string, data []byte, spec generate.Spec) ([]byte, error) {
	local, done, err := localFor(p, data)
	if err != nil {
		return nil, err
	}
	defer done()
	fr, err := media.OpenFrames(ctx, local, media.DecodeOptions{Width: spec.Width, Height: spec.Height, MaxFrames: 1, Format: media.RGB24,
		Formats: media.ClipFormats})
	if err != nil {
		return nil, err
	}
	buf := make([]byte, fr.FrameSize())
	err = fr.Next(buf)
	fr.Close()
	if err != nil {
		return nil, fmt.Errorf("first frame: %w", err)
	}
	img := image.NewNRGBA(image.Rect(0, 0, spec.Width, spec.Height))
	for i := 0; i < spec.Width*spec.Height; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = buf[3*i], buf[3*i+1], buf[3*i+2], 255
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// planFn places every pair in a shard (shards.MakePlan: hash order, equal
// counts, a shard count divisible by the loader workers).
type planFn struct {
	Cfg Config
}

func (fn *planFn) ProcessElement(ctx context.Context, _ []byte, it func(*PlannedPair) bool, emit func(ShardJob),
	issue func(schemas.PairIssue), summary func(PairsPlanSummary)) error {
	var all []PlannedPair
	var pp PlannedPair
	for it(&pp) {
		all = append(all, pp)
		pp = PlannedPair{}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Meta.ClipID < all[j].Meta.ClipID })
	byKey := map[string]PlannedPair{}
	var items []shards.PlanItem
	for _, p := range all {
		if prev, dup := byKey[p.Meta.Key]; dup {
			pairCount(ctx, "issue_"+schemas.PairReasonBadKey)
			issue(schemas.PairIssue{ClipID: p.Meta.ClipID, Reason: schemas.PairReasonBadKey,
				Detail: fmt.Sprintf("pair key %s is already clip %s's", p.Meta.Key, prev.Meta.ClipID)})
			continue
		}
		byKey[p.Meta.Key] = p
		items = append(items, shards.PlanItem{Key: p.Meta.Key, Bytes: p.TarBytes})
	}
	plan := shards.MakePlan(items, int64(fn.Cfg.TargetShardMB*(1<<20)), fn.Cfg.LoaderWorkers)
	jobs := make([]ShardJob, plan.Shards)
	for i, k := range plan.Order {
		s := plan.Shard[i]
		jobs[s].Index = s
		jobs[s].Pairs = append(jobs[s].Pairs, byKey[k])
	}
	for _, j := range jobs {
		emit(j)
	}
	summary(PairsPlanSummary{Shards: plan.Shards, Pairs: len(items)})
	slog.Info("pairs: planned", "pairs", len(items), "shards", plan.Shards)
	return nil
}

// ContentID identifies a shard's planned content: its index, and its
// pairs' metadata (keys, member checksums and sizes, provenance) in order.
func ContentID(j ShardJob) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", schemas.ShardFormat, j.Index)
	enc := json.NewEncoder(h)
	for _, p := range j.Pairs {
		enc.Encode(p.Meta)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AfterShardWritten, when set (tests only: a kill test slows the run with it), runs after a shard and its stats
// are in place: the kill test slows the run down with it.
var AfterShardWritten func(index int)

// writeShardFn writes one shard temp-then-rename and its stats beside it,
// unless the shard there already has this content and checksum.
type writeShardFn struct {
	Cfg Config
}

func (fn *writeShardFn) ProcessElement(ctx context.Context, j ShardJob, emit func(schemas.ShardStats)) error {
	out := fn.Cfg.Output
	name := shards.ShardName(j.Index)
	shardPath, statsPath := fsx.JoinPath(out, name), fsx.JoinPath(out, shards.StatsName(j.Index))
	cid := ContentID(j)
	if st, ok := keepShard(ctx, shardPath, statsPath, cid); ok {
		pairCount(ctx, "shards_kept")
		emit(st)
		return nil
	}
	pr, pw := io.Pipe()
	type result struct {
		count int
		bytes int64
		sha   string
		keys  []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		w := shards.NewWriter(pw)
		var err error
		for _, p := range j.Pairs {
			var ms []shards.Member
			if ms, err = loadMembers(ctx, p); err != nil {
				break
			}
			if err = w.WritePair(shards.Pair{Key: p.Meta.Key, Members: ms}); err != nil {
				break
			}
		}
		var r result
		if err == nil {
			r.count, r.bytes, r.sha, err = w.Close()
			r.keys = w.Keys()
		}
		r.err = err
		pw.CloseWithError(err)
		done <- r
	}()
	werr := fsx.WriteAtomic(ctx, shardPath, pr)
	pr.CloseWithError(errors.New("shard write ended")) // unblocks the writer if WriteAtomic stopped early
	r := <-done
	if r.err != nil {
		return fmt.Errorf("pairs: shard %s: %w", name, r.err)
	}
	if werr != nil {
		return fmt.Errorf("pairs: shard %s: %w", name, werr)
	}
	st := schemas.ShardStats{Shard: name, Index: j.Index, Count: r.count, Bytes: r.bytes, SHA256: r.sha, ContentID: cid, Keys: r.keys}
	if len(r.keys) > 0 {
		st.FirstKey, st.LastKey = r.keys[0], r.keys[len(r.keys)-1]
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := fsx.WriteFile(ctx, statsPath, append(data, '\n')); err != nil {
		return fmt.Errorf("pairs: stats %s: %w", name, err)
	}
	pairCount(ctx, "shards_written")
	if AfterShardWritten != nil {
		AfterShardWritten(j.Index)
	}
	emit(st)
	return nil
}

// keepShard reports whether a shard already written by an earlier run can
// stay: its stats name this content and its bytes still hash to them.
func keepShard(ctx context.Context, shardPath, statsPath, cid string) (schemas.ShardStats, bool) {
	var st schemas.ShardStats
	data, err := fsx.ReadFile(ctx, statsPath, generate.MaxRecordsBytes)
	if err != nil || json.Unmarshal(data, &st) != nil || st.ContentID != cid {
		return st, false
	}
	sum, n, err := fsx.Hash(ctx, shardPath)
	if err != nil || sum != st.SHA256 || n != st.Bytes {
		pairCount(ctx, "shards_damaged")
		return st, false
	}
	return st, true
}

// loadMembers reads a pair's bytes and checks them against the checksums
// taken when it was planned (a file changed since is an error: rerun).
func loadMembers(ctx context.Context, p PlannedPair) ([]shards.Member, error) {
	get := func(path string, inline []byte, m schemas.MemberInfo, max int64) ([]byte, error) {
		b := inline
		if path != "" {
			var err error
			if b, err = fsx.ReadFile(ctx, path, max); err != nil {
				return nil, err
			}
		}
		if int64(len(b)) != m.Bytes || sha256Hex(b) != m.SHA256 {
			return nil, fmt.Errorf("%s changed since it was checked", m.Name)
		}
		return b, nil
	}
	chosen, err := get(p.ChosenPath, nil, p.Meta.Chosen, generate.MaxVideoBytes)
	if err != nil {
		return nil, err
	}
	first, err := get(p.FirstFramePath, p.FirstFramePNG, p.Meta.FirstFrame, generate.MaxFirstFrameBytes)
	if err != nil {
		return nil, err
	}
	mj, err := json.Marshal(p.Meta)
	if err != nil {
		return nil, err
	}
	ms := []shards.Member{{Suffix: shards.SuffixChosen, Data: chosen}, {Suffix: shards.SuffixFirstFrame, Data: first},
		{Suffix: shards.SuffixCaption, Data: []byte(p.Meta.Caption)}, {Suffix: shards.SuffixMeta, Data: mj}}
	for i, rp := range p.RejectedPaths {
		b, err := get(rp, nil, p.Meta.Rejected[i].MemberInfo, generate.MaxVideoBytes)
		if err != nil {
			return nil, err
		}
		ms = append(ms, shards.Member{Suffix: shards.SuffixRejected(i), Data: b})
	}
	return ms, nil
}

// finishShardsFn writes pairs_report.jsonl, removes shards a smaller
// earlier plan left behind, and writes index.json last.
type finishShardsFn struct {
	Cfg Config
}

func (fn *finishShardsFn) ProcessElement(ctx context.Context, _ []byte, statsIt func(*schemas.ShardStats) bool,
	issueIt func(*schemas.PairIssue) bool, sumIt func(*PairsPlanSummary) bool) error {
	c := fn.Cfg
	var stats []schemas.ShardStats
	var st schemas.ShardStats
	for statsIt(&st) {
		stats = append(stats, st)
		st = schemas.ShardStats{}
	}
	issues := collectIssues(issueIt)
	var sum PairsPlanSummary
	nsum := 0
	for sumIt(&sum) {
		nsum++
	}
	if nsum != 1 {
		return fmt.Errorf("pairs: %d plan summaries, want 1", nsum)
	}
	sort.Slice(stats, func(i, j int) bool { return stats[i].Index < stats[j].Index })
	if len(stats) != sum.Shards {
		return fmt.Errorf("pairs: %d shards written, %d planned", len(stats), sum.Shards)
	}
	ix := schemas.ShardIndex{Format: schemas.ShardFormat, Negatives: c.NegativesPerPair, TargetShardMB: c.TargetShardMB,
		LoaderWorkers: c.LoaderWorkers, Issues: len(issues), Shards: []schemas.ShardEntry{}}
	for i, s := range stats {
		if s.Index != i {
			return fmt.Errorf("pairs: shard %d missing", i)
		}
		ix.Shards = append(ix.Shards, schemas.ShardEntry{Shard: s.Shard, Count: s.Count, Bytes: s.Bytes, SHA256: s.SHA256})
		ix.Pairs += s.Count
		ix.Bytes += s.Bytes
	}
	if ix.Pairs != sum.Pairs {
		return fmt.Errorf("pairs: shards hold %d pairs, %d planned", ix.Pairs, sum.Pairs)
	}
	for _, is := range issues {
		if unpairs(is) {
			ix.Unpaired++
		}
	}
	if err := writeReport(ctx, c.Output, issues); err != nil {
		return err
	}
	if err := writeStats(ctx, c.Output, pairsStats(c, ix.Pairs, len(ix.Shards), issues)); err != nil {
		return err
	}
	removeStale(ctx, c.Output, len(stats))
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	if err := fsx.WriteFile(ctx, fsx.JoinPath(c.Output, shards.IndexFile), append(data, '\n')); err != nil {
		return fmt.Errorf("pairs: index: %w", err)
	}
	slog.Info("pairs: done", "pairs", ix.Pairs, "shards", len(ix.Shards), "issues", ix.Issues, "unpaired", ix.Unpaired)
	return nil
}

func collectIssues(it func(*schemas.PairIssue) bool) []schemas.PairIssue {
	var out []schemas.PairIssue
	var is schemas.PairIssue
	for it(&is) {
		out = append(out, is)
		is = schemas.PairIssue{}
	}
	slices.SortFunc(out, func(a, b schemas.PairIssue) int {
		return cmp.Or(
			cmp.Compare(a.ClipID, b.ClipID),
			cmp.Compare(a.Reason, b.Reason),
			cmp.Compare(a.Detail, b.Detail),
		)
	})
	return out
}

func writeReport(ctx context.Context, out string, issues []schemas.PairIssue) error {
	data, err := stage.JSONLines(issues)
	if err != nil {
		return err
	}
	if err := fsx.WriteFile(ctx, fsx.JoinPath(out, ReportFile), data); err != nil {
		return fmt.Errorf("pairs: report: %w", err)
	}
	return nil
}

// removeStale deletes shards and stats numbered n or above (an earlier,
// larger plan's) and temp files a killed run left, so the directory holds
// exactly what index.json lists. Failures only leave litter: logged.
func removeStale(ctx context.Context, out string, n int) {
	for _, pat := range []string{"pairs-*", ".pairs-*"} {
		files, err := fsx.Glob(ctx, fsx.JoinPath(out, pat))
		if err != nil {
			continue
		}
		for _, f := range files {
			base := f[strings.LastIndex(f, "/")+1:]
			stale := strings.HasPrefix(base, ".") && strings.Contains(base, ".tmp-")
			var i int
			if _, err := fmt.Sscanf(base, "pairs-%06d.", &i); err == nil && !strings.HasPrefix(base, ".") {
				stale = i >= n && (base == shards.ShardName(i) || base == shards.StatsName(i))
			}
			if stale {
				if err := fsx.Remove(ctx, f); err != nil {
					slog.Warn("pairs: could not remove a stale file", "file", f, "err", err)
				}
			}
		}
	}
}

// exportFn copies one planned shard's pairs into the reference layout:
// videos/KEY.mp4 and negative_samples/KEY/K.mp4 (kept when already equal).
type exportFn struct {
	Cfg Config
}

func (fn *exportFn) ProcessElement(ctx context.Context, j ShardJob, emit func(int)) error {
	out := fn.Cfg.Output
	put := func(src, rel string, m schemas.MemberInfo) error {
		dst := fsx.JoinPath(out, rel)
		if have, err := fsx.ReadFile(ctx, dst, generate.MaxVideoBytes); err == nil && int64(len(have)) == m.Bytes && sha256Hex(have) == m.SHA256 {
			pairCount(ctx, "export_files_kept")
			return nil
		}
		b, err := fsx.ReadFile(ctx, src, generate.MaxVideoBytes)
		if err != nil {
			return err
		}
		if int64(len(b)) != m.Bytes || sha256Hex(b) != m.SHA256 {
			return fmt.Errorf("%s changed since it was checked", src)
		}
		return fsx.WriteFile(ctx, dst, b)
	}
	for _, p := range j.Pairs {
		if err := put(p.ChosenPath, reflayout.VideoPath(p.Meta.Key), p.Meta.Chosen); err != nil {
			return fmt.Errorf("pairs: export %s: %w", p.Meta.Key, err)
		}
		for i, rp := range p.RejectedPaths {
			if err := put(rp, reflayout.NegativePath(p.Meta.Key, i), p.Meta.Rejected[i].MemberInfo); err != nil {
				return fmt.Errorf("pairs: export %s: %w", p.Meta.Key, err)
			}
		}
		pairCount(ctx, "exported")
	}
	emit(j.Index)
	return nil
}

// finishExportFn writes prompt.txt and video.txt (plan order) once every
// shard's files are in place, and pairs_report.jsonl.
type finishExportFn struct {
	Cfg Config
}

func (fn *finishExportFn) ProcessElement(ctx context.Context, _ []byte, jobIt func(*ShardJob) bool,
	doneIt func(*int) bool, issueIt func(*schemas.PairIssue) bool) error {
	var jobs []ShardJob
	var j ShardJob
	for jobIt(&j) {
		jobs = append(jobs, j)
		j = ShardJob{}
	}
	done := map[int]bool{}
	var d int
	for doneIt(&d) {
		done[d] = true
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].Index < jobs[b].Index })
	var entries []reflayout.Entry
	for _, j := range jobs {
		if !done[j.Index] {
			return fmt.Errorf("pairs: export of part %d did not finish", j.Index)
		}
		for _, p := range j.Pairs {
			entries = append(entries, reflayout.Entry{ID: p.Meta.Key, Caption: p.Meta.Caption})
		}
	}
	issues := collectIssues(issueIt)
	if err := writeReport(ctx, fn.Cfg.Output, issues); err != nil {
		return err
	}
	if err := writeStats(ctx, fn.Cfg.Output, pairsStats(fn.Cfg, len(entries), len(jobs), issues)); err != nil {
		return err
	}
	prompt, video := reflayout.Lists(entries)
	// video.txt last: with prompt.txt it makes the directory a data set.
	if err := fsx.WriteFile(ctx, fsx.JoinPath(fn.Cfg.Output, reflayout.PromptFile), prompt); err != nil {
		return err
	}
	if err := fsx.WriteFile(ctx, fsx.JoinPath(fn.Cfg.Output, reflayout.VideoFile), video); err != nil {
		return err
	}
	slog.Info("pairs: exported the reference layout", "pairs", len(entries), "output", fn.Cfg.Output)
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// localCopy makes a file readable by ffmpeg: local paths are used in place,
// remote objects copied to a temp file (cleanup removes it).
func localCopy(ctx context.Context, p string, max int64) (string, func(), error) {
	loc, err := fsx.Localize(ctx, p, filepath.Join(os.TempDir(), "realdpo-pairs"), max, false)
	if err != nil {
		return "", func() {}, err
	}
	return loc.Path, loc.Cleanup, nil
}

// ReadInputs lists the clips and negatives of either layout; lines and
// entries that cannot be used become issues.
func ReadInputs(s beam.Scope, c Config) (clips, negs, issues beam.PCollection) {
	return beam.ParDo3(s.Scope("Read"), &readInputsFn{Cfg: c}, beam.Create(s, "inputs"))
}

// Assemble joins clips and negatives by clip id and checks every member:
// each clip with enough usable negatives becomes a planned pair.
func Assemble(s beam.Scope, c Config, clips, negs beam.PCollection) (planned, issues beam.PCollection) {
	joined := beam.CoGroupByKey(s, beam.ParDo(s, keyClip, clips), beam.ParDo(s, keyNegative, negs))
	return beam.ParDo2(s.Scope("Assemble"), &assembleFn{Cfg: c}, joined)
}

// Plan groups the planned pairs into shard jobs. It runs exactly once
// whatever comes in, no pair at all included: an impulse reading the pairs
// as a side input (a GroupByKey of nothing would never call it).
func Plan(s beam.Scope, c Config, planned beam.PCollection) (jobs, issues, summary beam.PCollection) {
	return beam.ParDo3(s.Scope("Plan"), &planFn{Cfg: c}, beam.Impulse(s), beam.SideInput{Input: planned})
}

// WriteShards writes one shard per job (kept when an earlier run already
// wrote the same content) and emits its stats.
func WriteShards(s beam.Scope, c Config, jobs beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("WriteShards"), &writeShardFn{Cfg: c}, jobs)
}

// FinishShards writes the report, the stats and index.json once, after
// every shard, and removes what an earlier, larger plan left.
func FinishShards(s beam.Scope, c Config, stats, issues, summary beam.PCollection) {
	beam.ParDo0(s.Scope("Finish"), &finishShardsFn{Cfg: c}, beam.Impulse(s),
		beam.SideInput{Input: stats}, beam.SideInput{Input: issues}, beam.SideInput{Input: summary})
}

// Export copies each job's pairs into the reference layout.
func Export(s beam.Scope, c Config, jobs beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("Export"), &exportFn{Cfg: c}, jobs)
}

// FinishExport writes prompt.txt, video.txt, the report and the stats once.
func FinishExport(s beam.Scope, c Config, jobs, done, issues beam.PCollection) {
	beam.ParDo0(s.Scope("Finish"), &finishExportFn{Cfg: c}, beam.Impulse(s),
		beam.SideInput{Input: jobs}, beam.SideInput{Input: done}, beam.SideInput{Input: issues})
}

// ReadStats reads pairs_stats.json back from an output root.
func ReadStats(ctx context.Context, out string) (schemas.PairsStats, error) {
	var st schemas.PairsStats
	data, err := fsx.ReadFile(ctx, fsx.JoinPath(out, StatsFile), generate.MaxSidecarBytes)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("pairs: %s: %w", StatsFile, err)
	}
	return st, nil
}
