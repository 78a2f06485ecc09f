// Package dataset reads a curated dataset's records back: manifest.jsonl
// and rejected.jsonl, as curate and refresh write them. Every stage that
// acts on a record (opens, links, copies or deletes the files it names)
// reads it here, so each gets the same checks: ids that cannot climb out
// of a directory, relative paths that stay inside the dataset, one record
// per id. A line that fails is returned as a Problem with its line number
// and never as a record.
package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"realdpo/schemas"
	"realdpo/transforms/reflayout"
	"realdpo/transforms/stage"
)

// File names in a dataset root (or version directory).
const (
	ManifestFile = "manifest.jsonl"
	RejectedFile = "rejected.jsonl"
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

// ReadManifest reads ROOT/manifest.jsonl (local or any Beam filesystem)
// and parses it with ParseManifest. A file that is missing, not a regular
// file or over MaxFileBytes is an error.
func ReadManifest(ctx context.Context, root string, check func(schemas.ManifestRecord) error) ([]schemas.ManifestRecord, []Problem, error) {
	data, err := ReadFile(ctx, stage.JoinPath(root, ManifestFile), MaxFileBytes)
	if err != nil {
		return nil, nil, err
	}
	recs, probs := ParseManifest(data, check)
	return recs, probs, nil
}

// ErrNotExist marks a file that is not there (local or remote).
var ErrNotExist = errors.New("does not exist")

// ReadFile reads a local file or a Beam filesystem object, at most max
// bytes; a local path must be a regular file (never a FIFO or a device).
func ReadFile(ctx context.Context, p string, max int64) ([]byte, error) {
	var r io.ReadCloser
	if !stage.IsRemote(p) {
		st, err := os.Stat(p)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("%s: %w", p, ErrNotExist)
			}
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", p)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		r = f
	} else {
		fsys, err := filesystem.New(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		defer fsys.Close()
		if _, err := fsys.Size(ctx, p); err != nil {
			return nil, fmt.Errorf("%s: %w (%v)", p, ErrNotExist, err)
		}
		if r, err = fsys.OpenRead(ctx, p); err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", p, max)
	}
	return data, nil
}
