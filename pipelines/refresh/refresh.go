// Package refresh is the incremental dataset refresh: it reads the current
// version of a dataset (through its LATEST pointer), curates only the sources
// that are new or changed since, carries every other source's records, clips
// and first frames forward, writes the result as a new version under
// VERSION=<timestamp>/ and moves LATEST to it last. A refresh that fails at
// any point leaves LATEST (and so every reader) on the previous version.
package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	_ "realdpo/transforms/fsx/gcsfs" // every pipeline reads and writes gs:// as well as local paths

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"realdpo/pipelines/curate"
	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/curation"
	"realdpo/transforms/dataset"
	"realdpo/transforms/dofn"
	"realdpo/transforms/fsx"
	"realdpo/transforms/runner"
	"realdpo/transforms/stage"
)

func init() {
	dofn.DoFn3x0[context.Context, schemas.SourceFile, func(schemas.SourceFile)](&selectFn{})
	dofn.Element[schemas.SourceFile]()
}

// SourceState is one line of sources.jsonl: an input video as the version
// that curated it saw it. Fingerprint covers the video and its sidecars.
type SourceState struct {
	Rel         string             `json:"rel"`
	Fingerprint string             `json:"fingerprint"`
	Source      schemas.SourceFile `json:"source"`
	// Version is the version whose run curated this source (carried sources keep it).
	Version string `json:"version"`
}

// Report is refresh.json.
type Report struct {
	Version  string `json:"version"`
	Previous string `json:"previous,omitempty"`
	// FullRebuild is set when there was no previous version or its profile or
	// thresholds differ from this run's.
	FullRebuild bool     `json:"full_rebuild"`
	New         []string `json:"new"`
	Changed     []string `json:"changed"`
	Removed     []string `json:"removed"`
	Carried     int      `json:"carried"`
	Dedup       string   `json:"dedup"` // which dedup ran across old and new, or why none
	// Cleaned are partial versions killed or failed refreshes left, removed
	// by this one before it started.
	Cleaned []string `json:"cleaned,omitempty"`
	// RefusedRecords are records of the previous version that failed the
	// checks (hostile ids or paths, lines that do not parse): never carried
	// or acted on; their sources are curated again.
	RefusedRecords []string `json:"refused_records,omitempty"`
	// Stats are the merged version's totals.
	Accounting string `json:"accounting"`
}

// Deduper drops near-duplicate clips across the carried and the newly
// curated records; the dropped ones come back as rejects. It runs over the
// merged manifest so a new clip that repeats an old one is caught.
type Deduper interface {
	Name() string
	// versionDir is the new version's directory, holding every record's files.
	Dedup(ctx context.Context, versionDir string, man []schemas.ManifestRecord) (keep []schemas.ManifestRecord, dropped []schemas.RejectRecord, err error)
}

// CurateDedup is the curate pipeline's near-duplicate search run over the
// merged manifest (curate.DedupRecords): a new clip that repeats a carried
// one is rejected as its duplicate_of, and the files of clips no kept
// record holds are removed from the new version.
type CurateDedup struct {
	Review schemas.ReviewConfig
}

// Name implements Deduper.
func (d CurateDedup) Name() string { return "curate dedup (difference hashes, hash-band buckets)" }

// Dedup implements Deduper.
func (d CurateDedup) Dedup(ctx context.Context, versionDir string, man []schemas.ManifestRecord) ([]schemas.ManifestRecord, []schemas.RejectRecord, error) {
	keep, rej, removed, err := curation.DedupRecords(man, d.Review)
	if err != nil {
		return nil, nil, err
	}
	if err := curation.RemoveClipFiles(ctx, versionDir, removed); err != nil {
		return nil, nil, err
	}
	return keep, rej, nil
}

// Config is one refresh.
type Config struct {
	// Curate holds the input, profile and thresholds (curate's flags set
	// them); its Output is set by the refresh to the new version's directory.
	Curate      schemas.CurateConfig `flag:"-"`
	DatasetRoot string               `flag:"dataset_root" help:"dataset root holding LATEST and the VERSION=<timestamp>/ directories: a local directory or gs://BUCKET/PREFIX"`
	// Dedup runs across old and new records when set; the command passes
	// CurateDedup, the curate pipeline's own near-duplicate search.
	Dedup Deduper
	// Now names the version (tests pin it); time.Now when nil.
	Now func() time.Time
}

// Validate checks a refresh's configuration: a dataset root, and a curate
// configuration that is valid writing into a version under it (a root
// inside the input would be read back as footage).
func (c Config) Validate() error {
	if strings.TrimSpace(c.DatasetRoot) == "" {
		return config.Required("refresh", "DatasetRoot")
	}
	if fsx.Within(c.DatasetRoot, c.Curate.Input) {
		return config.Errorf("refresh", "DatasetRoot", " %s must not be inside the input {Curate.Input} %s (its clips would be read back as inputs; resolved: %s)",
			c.DatasetRoot, c.Curate.Input, fsx.ResolvePath(c.DatasetRoot))
	}
	probe := c.Curate
	probe.Output = fsx.JoinPath(strings.TrimSuffix(c.DatasetRoot, "/"), dataset.VersionPfx+"check")
	if err := curate.Validate(probe); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	return nil
}

// Pipeline builds the curate pipeline a first refresh runs (every source
// selected) without running it, for the dry run: the selection a later
// refresh makes needs the dataset's state, which a dry run does not read.
func Pipeline(c Config) (*beam.Pipeline, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ccfg := c.Curate
	ccfg.Output = fsx.JoinPath(strings.TrimSuffix(c.DatasetRoot, "/"), dataset.VersionPfx+"DRY_RUN")
	p, s := beam.NewPipelineWithRoot()
	BuildSelected(s, ccfg, nil)
	return p, nil
}

// Result says what a refresh did.
type Result struct {
	Report   Report
	UpToDate bool // nothing new, changed or removed: no version was written
	Stats    schemas.CurateStats
}

// Test hooks (nil in production). beforeCurate runs once the lock is held
// and partial versions are cleaned, just before the new version is
// curated: a test puts something in the way of a clip there, while the run
// is under way. beforeMoveLatest runs just before LATEST moves: the
// concurrency tests hold a refresh there.
var (
	beforeCurate     func(versionDir string)
	beforeMoveLatest func(version string)
)

// Run performs one refresh, in named steps: with the dataset's lock held,
// plan (what is new, changed, removed or carried), curate the new and
// changed sources into a new version, carry the rest forward, deduplicate
// the merged records once, write the version, and move LATEST to it.
func Run(ctx context.Context, cfg Config) (Result, error) {
	// Checked before anything is written (the lock file included).
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	root := strings.TrimSuffix(cfg.DatasetRoot, "/")
	// One refresh at a time per dataset: with the lock held, nothing else
	// writes a version or moves LATEST, so what killed runs left can go.
	lk, err := acquireLock(ctx, root)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if err := lk.release(context.WithoutCancel(ctx)); err != nil {
			slog.Warn("refresh: could not release the dataset lock", "root", root, "err", err)
		}
	}()
	pl, err := makePlan(ctx, cfg, root)
	if err != nil {
		return Result{}, err
	}
	if pl.upToDate() {
		slog.Info("refresh: dataset is up to date", "version", pl.prevName, "sources", len(pl.cur))
		pl.rep.Version = pl.prevName
		return Result{Report: pl.rep, UpToDate: true, Stats: pl.prev.stats}, nil
	}
	slog.Info("refresh: plan", "previous", pl.prevName, "version", pl.version, "new", len(pl.rep.New),
		"changed", len(pl.rep.Changed), "removed", len(pl.rep.Removed), "carried", len(pl.carried), "full_rebuild", pl.rep.FullRebuild)
	fresh, err := curateSelected(ctx, cfg, pl)
	if err != nil {
		return Result{}, err
	}
	man, rej, err := carryForward(ctx, pl, fresh)
	if err != nil {
		return Result{}, err
	}
	if man, rej, err = dedupMerged(ctx, cfg, pl, man, rej); err != nil {
		return Result{}, err
	}
	stats, err := writeVersion(ctx, pl, man, rej)
	if err != nil {
		return Result{}, err
	}
	if err := publish(ctx, pl); err != nil {
		return Result{}, err
	}
	slog.Info("refresh: done", "version", pl.version, "accounting", pl.rep.Accounting)
	return Result{Report: pl.rep, Stats: stats}, nil
}

// plan is what a refresh will do, settled before anything is curated.
type plan struct {
	root, version, verDir string
	start                 latestState // LATEST as read at the start (moved only from this)
	prevName              string      // the current version ("" for the first refresh)
	prev                  prevVersion
	ccfg                  schemas.CurateConfig // the curate config, writing into verDir
	cur                   []Listed             // every source in the input now
	selected              map[string]bool      // sources to curate (new or changed)
	carried               map[string]SourceState
	rep                   Report
}

func (pl *plan) upToDate() bool {
	return pl.prevName != "" && len(pl.selected) == 0 && len(pl.rep.Removed) == 0
}

// makePlan reads LATEST and the current version, removes what killed runs
// left, names the new version and sorts every input source into new,
// changed (both curated), carried or removed.
func makePlan(ctx context.Context, cfg Config, root string) (*plan, error) {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	pl := &plan{root: root, selected: map[string]bool{}, carried: map[string]SourceState{}}
	var err error
	if pl.start, err = readLatestState(ctx, root); err != nil {
		return nil, err
	}
	pl.prevName = pl.start.version
	cleaned, err := cleanPartialVersions(ctx, root, pl.prevName)
	if err != nil {
		return nil, err
	}
	pl.version = dataset.VersionName(now())
	if pl.version <= pl.prevName {
		// Versions sort by time and LATEST only moves forward; a clock
		// behind the current version would make the next cleanup take the
		// newer, finished one for a partial one.
		return nil, fmt.Errorf("refresh: version %s does not sort after the current %s (clock behind, or two refreshes in one millisecond)", pl.version, pl.prevName)
	}
	pl.verDir = fsx.JoinPath(root, pl.version)
	pl.ccfg = cfg.Curate
	pl.ccfg.Output = pl.verDir
	if err := curate.Validate(pl.ccfg); err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	if pl.prevName != "" {
		if pl.prev, err = readVersion(ctx, fsx.JoinPath(root, pl.prevName)); err != nil {
			return nil, fmt.Errorf("refresh: read current version %s: %w", pl.prevName, err)
		}
	}
	rep := &pl.rep
	*rep = Report{Version: pl.version, Previous: pl.prevName, Cleaned: cleaned}
	rep.FullRebuild = pl.prevName == "" || !sameSpec(pl.prev.stats, pl.ccfg)
	if pl.cur, err = ListSources(ctx, pl.ccfg.Input); err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	rep.RefusedRecords = pl.prev.problems
	curSet := map[string]bool{}
	for _, s := range pl.cur {
		curSet[s.Rel] = true
		old, ok := pl.prev.sources[s.Rel]
		switch {
		case !ok:
			rep.New = append(rep.New, s.Rel)
			pl.selected[s.Rel] = true
		case rep.FullRebuild || old.Fingerprint == "" || old.Fingerprint != s.Fingerprint || pl.prev.recurate[s.Rel]:
			rep.Changed = append(rep.Changed, s.Rel)
			pl.selected[s.Rel] = true
		default:
			pl.carried[s.Rel] = old
		}
	}
	for rel := range pl.prev.sources {
		if !curSet[rel] {
			rep.Removed = append(rep.Removed, rel)
		}
	}
	sort.Strings(rep.Removed)
	rep.Carried = len(pl.carried)
	return pl, nil
}

// curateSelected runs the curate pipeline over the new and changed sources
// into the new version and reads its records back. Dedup is left to
// dedupMerged, which sees the carried records too: one pass, not two.
func curateSelected(ctx context.Context, cfg Config, pl *plan) (prevVersion, error) {
	if beforeCurate != nil {
		beforeCurate(pl.verDir)
	}
	ccfg := pl.ccfg
	if cfg.Dedup != nil {
		ccfg.Review.DedupOff = true
	}
	p, s := beam.NewPipelineWithRoot()
	BuildSelected(s, ccfg, pl.selected)
	if err := runner.Run(ctx, p); err != nil {
		return prevVersion{}, fmt.Errorf("refresh: curate pipeline: %w", err)
	}
	fresh, err := readVersion(ctx, pl.verDir)
	if err != nil {
		return prevVersion{}, fmt.Errorf("refresh: read curated records: %w", err)
	}
	if len(fresh.problems) > 0 {
		return prevVersion{}, fmt.Errorf("refresh: this run's own records fail the checks: %s", strings.Join(fresh.problems, "; "))
	}
	return fresh, nil
}

// carryForward adds the carried sources' records, clips and first frames
// to the freshly curated ones.
func carryForward(ctx context.Context, pl *plan, fresh prevVersion) ([]schemas.ManifestRecord, []schemas.RejectRecord, error) {
	man, rej := fresh.manifest, fresh.rejects
	prevDir := fsx.JoinPath(pl.root, pl.prevName)
	for _, m := range pl.prev.manifest {
		if _, ok := pl.carried[m.Source]; !ok {
			continue
		}
		for _, rel := range []string{m.Clip, m.FirstFrame} {
			if err := fsx.Copy(ctx, fsx.JoinPath(prevDir, rel), fsx.JoinPath(pl.verDir, rel)); err != nil {
				return nil, nil, fmt.Errorf("refresh: carry %s forward: %w", rel, err)
			}
		}
		man = append(man, m)
	}
	for _, r := range pl.prev.rejects {
		if _, ok := pl.carried[r.Source]; ok {
			rej = append(rej, r)
		}
	}
	return man, rej, nil
}

// dedupMerged runs the configured near-duplicate search once over the
// merged records, so a new clip that repeats a carried one is caught.
func dedupMerged(ctx context.Context, cfg Config, pl *plan, man []schemas.ManifestRecord, rej []schemas.RejectRecord) ([]schemas.ManifestRecord, []schemas.RejectRecord, error) {
	pl.rep.Dedup = "none"
	if cfg.Dedup == nil {
		return man, rej, nil
	}
	keep, dropped, err := cfg.Dedup.Dedup(ctx, pl.verDir, man)
	if err != nil {
		return nil, nil, fmt.Errorf("refresh: dedup %s: %w", cfg.Dedup.Name(), err)
	}
	pl.rep.Dedup = cfg.Dedup.Name()
	return keep, append(rej, dropped...), nil
}

// writeVersion writes the source index and the merged dataset files
// (dataset.Write: stats.json after the records).
func writeVersion(ctx context.Context, pl *plan, man []schemas.ManifestRecord, rej []schemas.RejectRecord) (schemas.CurateStats, error) {
	var states []SourceState
	var sources []schemas.SourceFile
	for _, c := range pl.cur {
		st := SourceState{Rel: c.Rel, Fingerprint: c.Fingerprint, Source: c.Source, Version: pl.version}
		if old, ok := pl.carried[c.Rel]; ok {
			st.Version = old.Version
		}
		states = append(states, st)
		sources = append(sources, c.Source)
	}
	stage.SortRecords(sources, man, rej)
	stats := stage.ComputeStats(pl.ccfg.Profile, pl.ccfg.Thresholds, sources, man, rej)
	if stats.Inputs != stats.InputsAccepted+stats.InputsRejected {
		return stats, fmt.Errorf("refresh: accounting broken: %s", stats.AccountingLine())
	}
	pl.rep.Accounting = stats.AccountingLine()
	stateData, err := stage.JSONLines(states)
	if err != nil {
		return stats, err
	}
	repData, err := json.MarshalIndent(pl.rep, "", "  ")
	if err != nil {
		return stats, err
	}
	if err := dataset.Write(ctx, pl.verDir, man, rej, stats,
		dataset.File{Name: dataset.SourcesFile, Data: stateData}, dataset.File{Name: dataset.RefreshFile, Data: append(repData, '\n')}); err != nil {
		return stats, fmt.Errorf("refresh: %w", err)
	}
	return stats, nil
}

// publish moves LATEST to the new version, only from the version this run
// started from; a version that lost the race is removed.
func publish(ctx context.Context, pl *plan) error {
	if beforeMoveLatest != nil {
		beforeMoveLatest(pl.version)
	}
	if err := moveLatest(ctx, pl.root, pl.version, pl.start); err != nil {
		if errors.Is(err, ErrLatestMoved) {
			// This version will never be current: not left behind.
			if rerr := removeVersion(ctx, pl.root, pl.version); rerr != nil {
				slog.Warn("refresh: could not remove this run's version", "version", pl.version, "err", rerr)
			}
		}
		return fmt.Errorf("refresh: move LATEST to %s: %w", pl.version, err)
	}
	return nil
}

// BuildSelected adds the curation graph for the sources whose relative path
// is in selected (all of them when selected is nil) to s.
func BuildSelected(s beam.Scope, cfg schemas.CurateConfig, selected map[string]bool) {
	sources := curation.MatchInputs(s, cfg.Input)
	if selected != nil {
		keep := make([]string, 0, len(selected))
		for rel := range selected {
			keep = append(keep, rel)
		}
		sort.Strings(keep)
		sources = beam.ParDo(s.Scope("refresh.Select"), &selectFn{Keep: keep}, sources)
	}
	curate.BuildFrom(s, cfg, sources)
}

// selectFn passes the new and changed sources; the others are carried.
type selectFn struct {
	Keep []string
	set  map[string]bool
}

func (fn *selectFn) ProcessElement(ctx context.Context, src schemas.SourceFile, emit func(schemas.SourceFile)) {
	if fn.set == nil {
		fn.set = make(map[string]bool, len(fn.Keep))
		for _, k := range fn.Keep {
			fn.set[k] = true
		}
	}
	if fn.set[src.Rel] {
		beam.NewCounter("refresh", "selected_sources").Inc(ctx, 1)
		emit(src)
		return
	}
	beam.NewCounter("refresh", "carried_sources").Inc(ctx, 1)
}

// writeLatest points LATEST at version, temp-then-rename (on GCS an upload
// and a server-side copy, each retried: rewriting the pointer is
// idempotent).
func writeLatest(ctx context.Context, root, version string) error {
	return fsx.WriteFile(ctx, fsx.JoinPath(root, dataset.LatestFile), []byte(version+"\n"))
}

type prevVersion struct {
	sources  map[string]SourceState
	manifest []schemas.ManifestRecord
	rejects  []schemas.RejectRecord
	stats    schemas.CurateStats
	// problems are records that failed the checks (a hostile id or path, a
	// line that does not parse): reported, never acted on.
	problems []string
	// recurate holds the sources of refused records: they are curated
	// again rather than carried.
	recurate map[string]bool
}

// readVersion reads a version's records back with the checks negatives and
// pairs apply (dataset.CheckCurated: safe ids, clip and first frame exactly
// clips/ID.mp4 and first_frames/ID.png inside the version).
func readVersion(ctx context.Context, dir string) (prevVersion, error) {
	v := prevVersion{sources: map[string]SourceState{}, recurate: map[string]bool{}}
	name := dir[strings.LastIndex(dir, "/")+1:]
	man, probs, err := dataset.ReadCuratedManifest(ctx, dir)
	if err != nil {
		return v, err
	}
	v.manifest = man
	for _, p := range probs {
		v.problems = append(v.problems, name+"/"+dataset.ManifestFile+" "+p.String())
		if p.Source != "" {
			v.recurate[p.Source] = true
		}
	}
	if v.rejects, probs, err = dataset.ReadRejects(ctx, dir); err != nil {
		return v, err
	}
	for _, p := range probs {
		v.problems = append(v.problems, name+"/"+dataset.RejectedFile+" "+p.String())
	}
	if v.stats, err = dataset.ReadStats(ctx, dir); err != nil {
		return v, err
	}
	// A version the curate command wrote (no index) has every source re-curated.
	idx := fsx.JoinPath(dir, dataset.SourcesFile)
	states, err := readJSONL[SourceState](ctx, idx)
	if err != nil && !fsx.IsNotFound(err) {
		return v, err
	}
	for _, s := range states {
		v.sources[s.Rel] = s
	}
	for _, p := range v.problems {
		slog.Warn("refresh: a record of the current version was refused (not carried, not acted on)", "problem", p)
	}
	return v, nil
}

// sameSpec reports whether the previous version was curated with the same
// clip spec and thresholds: only then may its records be carried.
func sameSpec(prev schemas.CurateStats, cfg schemas.CurateConfig) bool {
	a, _ := json.Marshal(struct {
		P schemas.Profile
		T schemas.Thresholds
	}{prev.Profile, prev.Thresholds})
	b, _ := json.Marshal(struct {
		P schemas.Profile
		T schemas.Thresholds
	}{cfg.Profile, cfg.Thresholds})
	return bytes.Equal(a, b)
}

// Listed is one input video with its fingerprint and the source record the
// curate pipeline will make of it.
type Listed struct {
	Rel         string
	Fingerprint string
	Source      schemas.SourceFile
}

// ListSources lists the input videos with the curate pipeline's own
// listing, grouping and sidecar reads (fsx.List, curation.SourcesOf: regular
// files only, sidecars bounded), and fingerprints each with its sidecars:
// the SHA-256 of the contents locally, the object's MD5 (else CRC32C, else
// generation) on GCS, so a refresh never downloads footage only to find it
// unchanged.
func ListSources(ctx context.Context, input string) ([]Listed, error) {
	var files []fsx.File
	if err := fsx.List(ctx, input, func(f fsx.File) { files = append(files, f) }); err != nil {
		return nil, fmt.Errorf("list %s: %w", input, err)
	}
	var remote map[string]string // object path -> fingerprint
	if fsx.IsRemote(input) {
		var err error
		if remote, err = fsx.Fingerprints(ctx, input); err != nil {
			return nil, err
		}
	}
	// fingerprint is "" for a file that cannot be read: never carried.
	fingerprint := func(f fsx.File) string {
		if f.Error != "" {
			return ""
		}
		if remote != nil {
			return remote[f.Path]
		}
		sum, _, err := fsx.Hash(ctx, f.Path)
		if err != nil {
			return ""
		}
		return "sha256:" + sum
	}
	groups := curation.GroupByStem(files)
	var out []Listed
	for _, group := range groups {
		side := map[string]fsx.File{}
		byPath := map[string]fsx.File{}
		for _, f := range group {
			if kind, _ := stage.SidecarKind(f.Rel); kind != "" && !stage.IsMetadata(f.Rel) {
				side[kind] = f
			}
			byPath[f.Path] = f
		}
		for _, src := range curation.SourcesOf(ctx, group) {
			vfp := fingerprint(byPath[src.Path])
			fp := "video=" + vfp
			for _, kind := range []string{"json", "txt"} {
				if f, ok := side[kind]; ok {
					sfp := fingerprint(f)
					fp += " " + kind + "=" + sfp
					if sfp == "" {
						fp += "(unreadable)"
					}
				}
			}
			if vfp == "" {
				fp = "" // never carried: an unreadable input is looked at again
			}
			out = append(out, Listed{Rel: src.Rel, Fingerprint: fp, Source: src})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	return out, nil
}

func readJSONL[T any](ctx context.Context, p string) ([]T, error) {
	data, err := fsx.ReadFile(ctx, p, dataset.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	var out []T
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", p, i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}
