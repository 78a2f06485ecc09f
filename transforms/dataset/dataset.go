// Package dataset owns the curated dataset on disk, as package shards owns
// the pair set: its file names (manifest.jsonl, rejected.jsonl, stats.json,
// README.md), Write (every file temp-then-rename, stats.json last) and the
// readers every stage uses (ReadManifest, ReadCuratedManifest, ReadRejects,
// ReadStats). Every stage that acts on a record (opens, links, copies or
// deletes the files it names) reads it here, so each gets the same checks:
// ids that cannot climb out of a directory, relative paths that stay inside
// the dataset, one record per id. A line that fails is returned as a
// Problem with its line number and never as a record.
package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"realdpo/schemas"
	"realdpo/transforms/fsx"
	"realdpo/transforms/reflayout"
	"realdpo/transforms/stage"
)

// File names in a dataset root (or version directory).
const (
	ManifestFile = "manifest.jsonl"
	RejectedFile = "rejected.jsonl"
	StatsFile    = "stats.json" // written last: its presence says the dataset is whole
	CardFile     = "README.md"
)

// Bounds on what is read: a whole records file and one line of it.
const (
	MaxFileBytes = 1 << 30
	MaxLineBytes = 16 << 20
)

// Problem is a line that was not used, and why.
type Problem struct {
	Line int    `json:"line"`
	ID   string `json:"id,omitempty"` // the record's id, when it has a safe one
	// Source is the record's source (its input's relative path), when it
	// parsed and names one safely: a refresh curates that source again.
	Source string `json:"source,omitempty"`
	Err    string `json:"error"`
}

func (p Problem) String() string { return fmt.Sprintf("line %d: %s", p.Line, p.Err) }

// SafeID reports whether a clip id can name a file or directory: not
// empty, no separators, no dots-only name, nothing a path could climb
// with, no control characters, at most 200 bytes.
func SafeID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 200 || strings.ContainsAny(id, "/\\:") {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// CheckRecord is what every stage needs of a manifest record it acts on: a
// safe id, and a clip and first frame (when named) that are relative paths
// inside the dataset.
func CheckRecord(r schemas.ManifestRecord) error {
	if !SafeID(r.ID) {
		return fmt.Errorf("bad clip id %q", r.ID)
	}
	if r.Clip == "" {
		return errors.New("no clip")
	}
	if err := reflayout.SafeRel(r.Clip); err != nil {
		return fmt.Errorf("clip: %w", err)
	}
	if r.FirstFrame != "" {
		if err := reflayout.SafeRel(r.FirstFrame); err != nil {
			return fmt.Errorf("first_frame: %w", err)
		}
	}
	return nil
}

// CheckCurated is CheckRecord for records curate wrote: the clip and first
// frame are exactly clips/ID.mp4 and first_frames/ID.png, so a record can
// name no other file of the dataset (its manifest, stats, another clip).
func CheckCurated(r schemas.ManifestRecord) error {
	if err := CheckRecord(r); err != nil {
		return err
	}
	if r.Clip != ClipPath(r.ID) || r.FirstFrame != FirstFramePath(r.ID) {
		return fmt.Errorf("clip %q and first_frame %q are not %s and %s", r.Clip, r.FirstFrame, ClipPath(r.ID), FirstFramePath(r.ID))
	}
	return nil
}

// ClipPath and FirstFramePath are where curate puts a clip's files.
func ClipPath(id string) string       { return "clips/" + id + ".mp4" }
func FirstFramePath(id string) string { return "first_frames/" + id + ".png" }

// Lines splits a JSONL file into its non-empty lines with their 1-based
// numbers. A line over MaxLineBytes comes back empty, with its number, for
// the caller to report.
func Lines(data []byte) (lines [][]byte, numbers []int) {
	n := 0
	for len(data) > 0 {
		n++
		l := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(l) > MaxLineBytes {
			lines, numbers = append(lines, nil), append(numbers, n)
			continue
		}
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines, numbers = append(lines, l), append(numbers, n)
		}
	}
	return lines, numbers
}

// DecodeStrict decodes one JSON value, refusing trailing data.
func DecodeStrict(line []byte, v any) error {
	if line == nil {
		return fmt.Errorf("line over %d bytes", MaxLineBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// ParseManifest reads manifest lines: each becomes a record, in file
// order, or a Problem (it does not parse, check refuses it, or its id was
// seen on an earlier line: negatives, pairs and eval name their outputs by
// clip id). check nil means CheckRecord.
func ParseManifest(data []byte, check func(schemas.ManifestRecord) error) ([]schemas.ManifestRecord, []Problem) {
	return parseManifest(data, check, false)
}

// ParseCuratedManifest is ParseManifest for a dataset's own bookkeeping
// (refresh reading a version back): one record per id and source, since
// with dedup off several sources holding the same bytes share a clip id,
// and its files.
func ParseCuratedManifest(data []byte, check func(schemas.ManifestRecord) error) ([]schemas.ManifestRecord, []Problem) {
	return parseManifest(data, check, true)
}

func parseManifest(data []byte, check func(schemas.ManifestRecord) error, perSource bool) ([]schemas.ManifestRecord, []Problem) {
	if check == nil {
		check = CheckRecord
	}
	key := func(r schemas.ManifestRecord) string { return r.ID }
	if perSource {
		key = func(r schemas.ManifestRecord) string { return r.ID + "\x00" + r.Source }
	}
	lines, nums := Lines(data)
	var recs []schemas.ManifestRecord
	var probs []Problem
	seen := map[string]int{}
	for i, l := range lines {
		var r schemas.ManifestRecord
		err := DecodeStrict(l, &r)
		if err == nil {
			err = check(r)
		}
		if err == nil {
			if prev, dup := seen[key(r)]; dup {
				err = fmt.Errorf("clip id %s already on line %d", r.ID, prev)
				if perSource {
					err = fmt.Errorf("clip id %s of source %q already on line %d", r.ID, r.Source, prev)
				}
			}
		}
		if err != nil {
			p := Problem{Line: nums[i], ID: r.ID, Source: r.Source, Err: err.Error()}
			if !SafeID(p.ID) {
				p.ID = "" // never echo a hostile id as if it named a clip
			}
			if reflayout.SafeRel(p.Source) != nil {
				p.Source = ""
			}
			probs = append(probs, p)
			continue
		}
		seen[key(r)] = nums[i]
		recs = append(recs, r)
	}
	return recs, probs
}

// ParseRejects reads rejected.jsonl lines: a reject must parse, name its
// source with a relative path and, when it names a clip, a safe id.
func ParseRejects(data []byte) ([]schemas.RejectRecord, []Problem) {
	lines, nums := Lines(data)
	var recs []schemas.RejectRecord
	var probs []Problem
	for i, l := range lines {
		var r schemas.RejectRecord
		err := DecodeStrict(l, &r)
		switch {
		case err != nil:
		case r.ClipID != "" && !SafeID(r.ClipID):
			err = fmt.Errorf("bad clip id %q", r.ClipID)
		default:
			err = reflayout.SafeRel(r.Source)
		}
		if err != nil {
			probs = append(probs, Problem{Line: nums[i], Err: err.Error()})
			continue
		}
		recs = append(recs, r)
	}
	return recs, probs
}

// ReadManifest reads ROOT/manifest.jsonl (local or gs://) and parses it
// with ParseManifest: the one way every stage reads a dataset's clips. A
// file that is missing (fsx.ErrNotFound), not a regular file or over
// MaxFileBytes is an error; a bad line is a Problem.
func ReadManifest(ctx context.Context, root string, check func(schemas.ManifestRecord) error) ([]schemas.ManifestRecord, []Problem, error) {
	return readRecords(ctx, root, ManifestFile, func(data []byte) ([]schemas.ManifestRecord, []Problem) { return ParseManifest(data, check) })
}

// ReadCuratedManifest is ReadManifest for a dataset's own bookkeeping
// (ParseCuratedManifest, with CheckCurated).
func ReadCuratedManifest(ctx context.Context, root string) ([]schemas.ManifestRecord, []Problem, error) {
	return readRecords(ctx, root, ManifestFile, func(data []byte) ([]schemas.ManifestRecord, []Problem) {
		return ParseCuratedManifest(data, CheckCurated)
	})
}

// ReadRejects reads ROOT/rejected.jsonl with ParseRejects.
func ReadRejects(ctx context.Context, root string) ([]schemas.RejectRecord, []Problem, error) {
	return readRecords(ctx, root, RejectedFile, ParseRejects)
}

func readRecords[T any](ctx context.Context, root, name string, parse func([]byte) ([]T, []Problem)) ([]T, []Problem, error) {
	data, err := fsx.ReadFile(ctx, fsx.JoinPath(root, name), MaxFileBytes)
	if err != nil {
		return nil, nil, err
	}
	recs, probs := parse(data)
	return recs, probs, nil
}

// File is one more file a writer puts beside the record files (refresh's
// source index and report).
type File struct {
	Name string
	Data []byte
}

// Write writes a dataset's files into root (a directory or gs:// prefix):
// manifest.jsonl and rejected.jsonl (in the order given: callers sort), the
// dataset card, the extra files, and stats.json last, since its presence
// says the dataset is whole. Each is written temp-then-rename, so a reader
// never sees a partial file and a retried write replaces rather than
// duplicates.
func Write(ctx context.Context, root string, man []schemas.ManifestRecord, rej []schemas.RejectRecord, st schemas.CurateStats, extra ...File) error {
	manData, err := stage.JSONLines(man)
	if err != nil {
		return fmt.Errorf("encode %s: %w", ManifestFile, err)
	}
	rejData, err := stage.JSONLines(rej)
	if err != nil {
		return fmt.Errorf("encode %s: %w", RejectedFile, err)
	}
	stData, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", StatsFile, err)
	}
	files := append([]File{
		{ManifestFile, manData},
		{RejectedFile, rejData},
		{CardFile, []byte(stage.DatasetCard(st, man))},
	}, extra...)
	files = append(files, File{StatsFile, append(stData, '\n')})
	for _, f := range files {
		if err := fsx.WriteFile(ctx, fsx.JoinPath(root, f.Name), f.Data); err != nil {
			return fmt.Errorf("write %s: %w", f.Name, err)
		}
	}
	return nil
}

// ReadStats reads stats.json back from a dataset root.
func ReadStats(ctx context.Context, root string) (schemas.CurateStats, error) {
	var st schemas.CurateStats
	p := fsx.JoinPath(root, StatsFile)
	data, err := fsx.ReadFile(ctx, p, MaxLineBytes)
	if err != nil {
		return st, fmt.Errorf("read %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("parse %s: %w", p, err)
	}
	return st, nil
}
