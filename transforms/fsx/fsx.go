// Package fsx owns file access for every stage: local paths and gs://
// objects (through Beam's filesystem registry and the gs:// backend in
// fsx/gcsfs, which binaries and pipelines import) behind one set of calls:
// join and relate paths, read bounded, write temp-then-rename (with the
// retries GCS writes need), copy, hash, remove, list, and one "not found"
// error. Nothing else in realdpo touches files.
package fsx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"realdpo/transforms/config"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// IsRemote reports whether p names an object store path (gs://...) rather
// than a local file.
func IsRemote(p string) bool { return strings.Contains(p, "://") }

// JoinPath joins a root (local directory or gs:// prefix) and a relative path.
func JoinPath(root, rel string) string {
	if IsRemote(root) {
		return strings.TrimSuffix(root, "/") + "/" + strings.TrimPrefix(rel, "/")
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// RelPath is p relative to root, with forward slashes.
func RelPath(root, p string) string {
	if IsRemote(root) {
		r := strings.TrimPrefix(p, strings.TrimSuffix(root, "/")+"/")
		return r
	}
	r, err := filepath.Rel(root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}

// Localized is a source available as a local file for ffmpeg.
type Localized struct {
	Path   string // local file
	SHA256 string // of the content
	Size   int64
	temp   bool
}

// Cleanup removes a temporary local copy.
func (l *Localized) Cleanup() {
	if l != nil && l.temp {
		os.Remove(l.Path)
	}
}

// Localize makes a source readable by ffmpeg: a local file is used in place
// (and hashed when hash is set), a remote object is copied to a temp file in
// tmpDir while it is hashed. maxBytes stops copies of objects over the size
// limit.
func Localize(ctx context.Context, src, tmpDir string, maxBytes int64, hash bool) (*Localized, error) {
	h := sha256.New()
	if !IsRemote(src) {
		// Stat before opening: opening a FIFO or device could block forever.
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", src, err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file (%v)", src, st.Mode().Type())
		}
		if !hash {
			return &Localized{Path: src, Size: st.Size()}, nil
		}
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", src, err)
		}
		defer f.Close()
		n, err := io.Copy(h, f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", src, err)
		}
		return &Localized{Path: src, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
	}
	fsys, err := openFS(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", src, err)
	}
	defer fsys.Close()
	r, err := fsys.OpenRead(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", src, err)
	}
	defer r.Close()
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return nil, fmt.Errorf("copy %s: %w: %w", src, ErrWrite, err)
	}
	// The local name carries no part of the remote one: ffmpeg sees a plain temp file.
	f, err := os.CreateTemp(tmpDir, "src-*")
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w: %w", src, ErrWrite, err)
	}
	var lr io.Reader = r
	if maxBytes > 0 {
		lr = io.LimitReader(r, maxBytes+1)
	}
	// A failed write of the temp copy is this machine's fault, a failed
	// read the object's: only the second may reject the input.
	fw := &failWriter{w: f}
	n, err := io.Copy(io.MultiWriter(fw, h), lr)
	if cerr := f.Close(); err == nil && cerr != nil {
		err, fw.err = cerr, cerr
	}
	if err != nil {
		os.Remove(f.Name())
		if fw.err != nil {
			return nil, fmt.Errorf("copy %s: %w: %w", src, ErrWrite, err)
		}
		return nil, fmt.Errorf("copy %s: %w", src, err)
	}
	if maxBytes > 0 && n > maxBytes {
		os.Remove(f.Name())
		return nil, fmt.Errorf("copy %s: over %d bytes", src, maxBytes)
	}
	return &Localized{Path: f.Name(), SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, temp: true}, nil
}

// failWriter remembers a write error.
type failWriter struct {
	w   io.Writer
	err error
}

func (f *failWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		f.err = err
	}
	return n, err
}

// WriteAtomic writes data to dst (local or remote) under a temporary name in
// the same directory and renames it into place, so readers never see a
// partial file and a retried write replaces rather than duplicates.
func WriteAtomic(ctx context.Context, dst string, r io.Reader) error {
	if !IsRemote(dst) {
		dir := filepath.Dir(dst)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
		if err != nil {
			return err
		}
		// CreateTemp makes 0600 files; datasets and checkpoints are shared.
		if err := f.Chmod(0o644); err != nil {
			f.Close()
			os.Remove(f.Name())
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", dst, err)
		}
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", dst, err)
		}
		if err := os.Rename(f.Name(), dst); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", dst, err)
		}
		return nil
	}
	fsys, err := openFS(ctx, dst)
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	defer fsys.Close()
	// The storage client retries only idempotent calls: an upload, copy or
	// delete without preconditions fails on the first 503 or dropped
	// connection. Each step here is safe to repeat (a fresh temp name per
	// upload, a copy of the same bytes, a delete that may already have
	// happened), so they are retried with backoff; the upload only when the
	// data can be read again.
	seeker, _ := r.(io.Seeker)
	var tmp string
	err = Retry(ctx, "upload "+dst, func(attempt int) error {
		if attempt > 0 {
			if seeker == nil {
				return Permanent(fmt.Errorf("write %s: cannot re-read the data to retry", dst))
			}
			if _, err := seeker.Seek(0, io.SeekStart); err != nil {
				return Permanent(err)
			}
			removeQuiet(ctx, fsys, tmp)
		}
		var rnd [6]byte
		rand.Read(rnd[:])
		tmp = path.Join(path.Dir(dst), "."+path.Base(dst)+".tmp-"+hex.EncodeToString(rnd[:]))
		// path.Join collapses the gs:// double slash.
		tmp = strings.Replace(tmp, ":/", "://", 1)
		w, err := fsys.OpenWrite(ctx, tmp)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})
	if err != nil {
		removeQuiet(ctx, fsys, tmp)
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := Retry(ctx, "copy into "+dst, func(int) error { return filesystem.Copy(ctx, fsys, tmp, dst) }); err != nil {
		removeQuiet(ctx, fsys, tmp)
		return fmt.Errorf("rename into %s: %w", dst, err)
	}
	removeQuiet(ctx, fsys, tmp)
	return nil
}

// CopyLocalAtomic uploads (or moves) a finished local file to dst.
func CopyLocalAtomic(ctx context.Context, local, dst string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	return WriteAtomic(ctx, dst, f)
}

// removeQuiet removes a temporary object, retrying transient failures; a
// temporary that cannot be removed is logged, never fatal (the data is
// already in place under its final name).
func removeQuiet(ctx context.Context, fsys filesystem.Interface, p string) {
	rm, ok := fsys.(filesystem.Remover)
	if !ok || p == "" {
		return
	}
	err := Retry(ctx, "remove "+p, func(attempt int) error {
		err := rm.Remove(ctx, p)
		if attempt > 0 && IsNotFound(err) {
			return nil // an earlier attempt deleted it and lost the answer
		}
		return err
	})
	if err != nil && !IsNotFound(err) {
		slog.Warn("could not remove a temporary object", "path", p, "err", err)
	}
}

// permanentError marks an error Retry must not retry.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent wraps err so that Retry returns it at once.
func Permanent(err error) error { return permanentError{err} }

// RetryAttempts and RetryBaseDelay bound Retry: delays of 0.25, 0.5, 1, 2,
// 4 s (with jitter) between six attempts, about 8 s in all.
var (
	RetryAttempts  = 6
	RetryBaseDelay = 250 * time.Millisecond
)

// Retry runs fn until it succeeds, returns a Permanent error, the context
// ends or the attempts run out, sleeping with exponential backoff and
// jitter in between. Missing objects and buckets are not retried.
func Retry(ctx context.Context, what string, fn func(attempt int) error) error {
	var err error
	for attempt := 0; attempt < RetryAttempts; attempt++ {
		if err = fn(attempt); err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) || ctx.Err() != nil || isPermanent(err) {
			return err
		}
		if attempt == RetryAttempts-1 {
			break
		}
		d := RetryBaseDelay << attempt
		d += time.Duration(mrand.Int64N(int64(d) / 2))
		slog.Warn("storage call failed, retrying", "op", what, "attempt", attempt+1, "delay", d, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	return fmt.Errorf("%s: gave up after %d attempts: %w", what, RetryAttempts, err)
}

// isPermanent reports whether a registered store says err is final (a
// missing object or bucket).
func isPermanent(err error) bool {
	for _, s := range registered() {
		if s.Permanent(err) {
			return true
		}
	}
	return false
}

// RemoveStaleTemps deletes the temp files WriteAtomic and the encoders leave
// when a run is killed mid-write (".NAME.tmp-*") in the given subdirectories
// of a local root, if they were last written before cutoff, and reports how
// many went. Newer ones may belong to a writer still running.
func RemoveStaleTemps(root string, subdirs []string, cutoff time.Time) (int, error) {
	removed := 0
	var errs []error
	for _, sub := range subdirs {
		matches, err := filepath.Glob(filepath.Join(root, sub, ".*.tmp-*"))
		if err != nil {
			return removed, err
		}
		for _, m := range matches {
			fi, err := os.Lstat(m)
			if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
				continue
			}
			if err := os.Remove(m); err != nil {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// ResolvePath is where a path really points: a local path made absolute
// with every symlink along it resolved (for a path that does not exist yet,
// its longest existing parent is resolved and the rest appended); a
// remote path as it is, without a trailing slash.
func ResolvePath(p string) string {
	p = strings.TrimSuffix(p, "/")
	if p == "" || IsRemote(p) {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	rest := ""
	for dir := abs; ; {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return abs
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

// Within reports whether p is dir or lies inside it, once both are
// resolved (ResolvePath): an output given as a symlink to an input, or to a
// folder inside it, is inside it.
func Within(p, dir string) bool {
	if p == "" || dir == "" {
		return false
	}
	rp, rd := ResolvePath(p), ResolvePath(dir)
	return rp == rd || strings.HasPrefix(rp, strings.TrimSuffix(rd, "/")+"/")
}

// CheckOutput refuses an output that is, or lies inside, one of a stage's
// inputs (by Config field: "Dataset" -> path): the stage would write into
// another stage's data, or read its own output back.
func CheckOutput(stageName, output string, inputs map[string]string) error {
	fields := make([]string, 0, len(inputs))
	for f := range inputs {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		if in := inputs[f]; in != "" && Within(output, in) {
			return config.Errorf(stageName, "Output", " %s is inside {%s} %s (resolved: %s): write the output elsewhere",
				output, f, in, ResolvePath(output))
		}
	}
	return nil
}

// AbsRoot makes a local root absolute (workers may run in another
// directory) without resolving links; a gs:// root is kept as it is. Both
// lose a trailing slash.
func AbsRoot(p string) string {
	p = strings.TrimSuffix(p, "/")
	if p == "" || IsRemote(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
