package dataset

import (
	"context"
	"fmt"
	"strings"
	"time"

	"realdpo/transforms/fsx"
)

// The versioned layout a refresh keeps under a dataset root: one directory
// per version, each a whole dataset, and LATEST naming the current one.
// LATEST moves last, so a reader following it never sees a partial version.
const (
	LatestFile   = "LATEST"        // the current version's directory name, one line
	VersionPfx   = "VERSION="      // version directories: VERSION=20261125T101900.123Z
	SourcesFile  = "sources.jsonl" // a version's refresh index: one line per input video
	RefreshFile  = "refresh.json"  // what the refresh that wrote a version did
	VersionStamp = "20060102T150405.000Z"
)

// VersionName names the version made at t (UTC, to the millisecond): names
// sort by time.
func VersionName(t time.Time) string { return VersionPfx + t.UTC().Format(VersionStamp) }

// IsVersionName reports whether name can name a version directory: the
// prefix, something after it, no separators, at most 200 bytes.
func IsVersionName(name string) bool {
	return strings.HasPrefix(name, VersionPfx) && name != VersionPfx && !strings.ContainsAny(name, "/\\") && len(name) <= 200
}

// ReadLatest returns the current version's directory name under root, or ""
// when the root has no LATEST (no version yet, or not a versioned root).
func ReadLatest(ctx context.Context, root string) (string, error) {
	p := fsx.JoinPath(root, LatestFile)
	data, err := fsx.ReadFile(ctx, p, 4096)
	if err != nil {
		if fsx.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("read %s: %w", LatestFile, err)
	}
	return ParseLatest(p, data)
}

// ParseLatest checks that LATEST's content (read from p) names a version.
func ParseLatest(p string, data []byte) (string, error) {
	v := strings.TrimSpace(string(data))
	if !IsVersionName(v) {
		return "", fmt.Errorf("%s holds %q, not a version name", p, v)
	}
	return v, nil
}

// Versions lists the version directories under root, sorted (oldest first).
func Versions(ctx context.Context, root string) ([]string, error) {
	return fsx.Subdirs(ctx, root, VersionPfx)
}

// Resolve is the dataset a stage should read at root: the current version
// when root is a refreshed dataset root (it holds LATEST), else root
// itself. Every consumer resolves its --dataset with it, so a scheduled
// refresh's root can be passed as it is.
func Resolve(ctx context.Context, root string) (string, error) {
	v, err := ReadLatest(ctx, root)
	if err != nil {
		return "", fmt.Errorf("dataset %s: %w", root, err)
	}
	if v == "" {
		return root, nil
	}
	return fsx.JoinPath(strings.TrimSuffix(root, "/"), v), nil
}
