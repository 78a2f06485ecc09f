package fsx

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// File is one file found under a listed root.
type File struct {
	Path  string
	Rel   string // relative to the root, with forward slashes
	Size  int64
	Error string // set when the file was listed but cannot be used
}

// List lists every file under root, a local directory (recursively) or
// a gs:// prefix (curate's input match and refresh both list with it): a local file that is not regular (a FIFO, a device, a
// dangling link) is listed with an Error instead of being opened, and a
// symlink to a directory is not followed.
func List(ctx context.Context, root string, emit func(File)) error {
	if IsRemote(root) {
		fsys, err := filesystem.New(ctx, root)
		if err != nil {
			return fmt.Errorf("match %s: %w", root, err)
		}
		defer fsys.Close()
		prefix := strings.TrimSuffix(root, "/") + "/"
		files, err := fsys.List(ctx, escapeGlob(prefix)+"**")
		if err != nil {
			return fmt.Errorf("match %s: %w", root, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "/") {
				continue // a "directory" placeholder object
			}
			lf := File{Path: f, Rel: strings.TrimPrefix(f, prefix)}
			if sz, err := fsys.Size(ctx, f); err != nil {
				lf.Error = err.Error()
			} else {
				lf.Size = sz
			}
			emit(lf)
		}
		return nil
	}
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("match %s: %w", root, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("match %s: input must be a directory", root)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		rel := RelPath(root, p)
		if err != nil {
			if p == root {
				return err
			}
			// An unreadable subdirectory or file is recorded, not fatal.
			emit(File{Path: p, Rel: rel, Error: err.Error()})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		lf := File{Path: p, Rel: rel}
		info, err := os.Stat(p) // follows symlinks: a dangling one is an error
		switch {
		case err != nil:
			lf.Error = err.Error()
		case info.IsDir():
			return nil // a symlink to a directory: not followed, to avoid loops
		case !info.Mode().IsRegular():
			lf.Error = fmt.Sprintf("not a regular file (%v)", info.Mode().Type())
		default:
			lf.Size = info.Size()
		}
		emit(lf)
		return nil
	})
}

// escapeGlob quotes glob metacharacters in a literal prefix.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
