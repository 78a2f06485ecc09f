package fsx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

// ErrNotFound marks a file or object that is not there, local or remote:
// the one "not found" every caller tests with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrWrite marks a failure to write an output or a temp file (disk full,
// no permission): the machine's fault, never the input's, so callers retry
// or stop instead of rejecting the input.
var ErrWrite = errors.New("cannot write the output")

// CallTimeout bounds one metadata call to remote storage (a size, an
// existence check, a small listing) made without a deadline of its own:
// the storage client retries an endpoint that does not answer for ever, so
// a wrong host or no network would hang a command instead of failing it.
var CallTimeout = 2 * time.Minute

// bounded gives ctx a CallTimeout deadline unless it has one already.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || CallTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, CallTimeout)
}

// explainTimeout says why a bounded call failed when its bound, not the
// caller's context, ran out.
func explainTimeout(parent, bounded context.Context, err error) error {
	if err != nil && parent.Err() == nil && errors.Is(bounded.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (storage did not answer within %v: check the bucket, the network and the credentials)", err, CallTimeout)
	}
	return err
}

// remoteSize is fsys.Size within CallTimeout.
func remoteSize(ctx context.Context, fsys filesystem.Interface, p string) (int64, error) {
	bctx, cancel := bounded(ctx)
	defer cancel()
	n, err := fsys.Size(bctx, p)
	return n, explainTimeout(ctx, bctx, err)
}

// IsNotFound reports whether err says a file or object is missing, in any
// of the forms the local filesystem and the registered stores give it.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return true
	}
	for _, s := range registered() {
		if s.NotFound(err) {
			return true
		}
	}
	return false
}

func notFound(p string, err error) error {
	if IsNotFound(err) {
		return fmt.Errorf("%s: %w (%v)", p, ErrNotFound, err)
	}
	return err
}

// Open opens a local file or a remote object for reading. A local path must
// be a regular file: opening a FIFO could block forever, and a device (a
// link to /dev/zero) never ends. A missing one is ErrNotFound.
func Open(ctx context.Context, p string) (io.ReadCloser, error) {
	if !IsRemote(p) {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("open %w", notFound(p, err))
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("open %s: not a regular file (%v)", p, st.Mode().Type())
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("open %w", notFound(p, err))
		}
		return f, nil
	}
	fsys, err := openFS(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	// Ask for the size first: a missing object then reads as ErrNotFound
	// rather than as whatever the reader's first call reports, and storage
	// that does not answer fails here, within CallTimeout.
	if _, err := remoteSize(ctx, fsys, p); err != nil {
		fsys.Close()
		return nil, fmt.Errorf("open %w", notFound(p, err))
	}
	r, err := fsys.OpenRead(ctx, p)
	if err != nil {
		fsys.Close()
		return nil, fmt.Errorf("open %w", notFound(p, err))
	}
	return &closeBoth{r, fsys}, nil
}

type closeBoth struct {
	io.ReadCloser
	fs filesystem.Interface
}

func (c *closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.fs.Close()
	return err
}

// ReadFile reads a whole file or object of at most max bytes; a bigger one
// is an error, not a truncated read.
func ReadFile(ctx context.Context, p string, max int64) ([]byte, error) {
	r, err := Open(ctx, p)
	if err != nil {
		return nil, err
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

// Exists reports whether a file or object is there; any other failure to
// find out is an error.
func Exists(ctx context.Context, p string) (bool, error) {
	if !IsRemote(p) {
		_, err := os.Stat(p)
		if err == nil {
			return true, nil
		}
		if IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	fsys, err := openFS(ctx, p)
	if err != nil {
		return false, err
	}
	defer fsys.Close()
	_, err = remoteSize(ctx, fsys, p)
	if err == nil {
		return true, nil
	}
	if IsNotFound(err) {
		return false, nil
	}
	return false, err
}

// Size is the length of a file or object; a missing one is ErrNotFound.
func Size(ctx context.Context, p string) (int64, error) {
	if !IsRemote(p) {
		st, err := os.Stat(p)
		if err != nil {
			return 0, notFound(p, err)
		}
		return st.Size(), nil
	}
	fsys, err := openFS(ctx, p)
	if err != nil {
		return 0, err
	}
	defer fsys.Close()
	n, err := remoteSize(ctx, fsys, p)
	if err != nil {
		return 0, notFound(p, err)
	}
	return n, nil
}

// WriteFile writes data to p temp-then-rename (WriteAtomic).
func WriteFile(ctx context.Context, p string, data []byte) error {
	return WriteAtomic(ctx, p, bytes.NewReader(data))
}

// MoveLocal moves a finished local file to dst: a rename when both are on
// this disk, else an upload (and the local file is removed).
func MoveLocal(ctx context.Context, local, dst string) error {
	if !IsRemote(dst) {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("%w: %w", ErrWrite, err)
		}
		if err := os.Rename(local, dst); err == nil {
			return nil
		}
	}
	defer os.Remove(local)
	return CopyLocalAtomic(ctx, local, dst)
}

// Remove deletes a file or object; one that is already gone is not an
// error (a retried bundle may have removed it). Transient GCS failures are
// retried.
func Remove(ctx context.Context, p string) error {
	if !IsRemote(p) {
		if err := os.Remove(p); err != nil && !IsNotFound(err) {
			return err
		}
		return nil
	}
	fsys, err := openFS(ctx, p)
	if err != nil {
		return err
	}
	defer fsys.Close()
	rm, ok := fsys.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("remove %s: the filesystem cannot remove files", p)
	}
	err = Retry(ctx, "remove "+p, func(int) error { return rm.Remove(ctx, p) })
	if err != nil && IsNotFound(err) {
		return nil
	}
	return err
}

// Copy copies src to dst: a hard link locally (the two names share the
// bytes; a plain copy where links cannot be made), a server-side copy on
// GCS, else a read and an atomic write. Either way the file appears under
// its name whole or not at all.
func Copy(ctx context.Context, src, dst string) error {
	if !IsRemote(src) && !IsRemote(dst) {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("%w: %w", ErrWrite, err)
		}
		tmp := dst + ".tmp-link"
		os.Remove(tmp)
		if err := os.Link(src, tmp); err == nil {
			return os.Rename(tmp, dst)
		}
		return CopyLocalAtomic(ctx, src, dst)
	}
	if IsRemote(src) && IsRemote(dst) {
		fsys, err := openFS(ctx, src)
		if err != nil {
			return err
		}
		defer fsys.Close()
		// A GCS copy is a single atomic object write; repeating it is harmless.
		return Retry(ctx, "copy "+src, func(int) error { return filesystem.Copy(ctx, fsys, src, dst) })
	}
	r, err := Open(ctx, src)
	if err != nil {
		return err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	return WriteFile(ctx, dst, data)
}

// Hash is the SHA-256 (hex) and length of a file or object's content.
func Hash(ctx context.Context, p string) (sum string, n int64, err error) {
	r, err := Open(ctx, p)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	h := sha256.New()
	if n, err = io.Copy(h, r); err != nil {
		return "", 0, fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Glob lists the files matching a glob (local or remote), sorted; no match
// is an empty list, not an error.
func Glob(ctx context.Context, glob string) ([]string, error) {
	fsys, err := openFS(ctx, glob)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	lctx, cancel := bounded(ctx)
	defer cancel()
	names, err := fsys.List(lctx, glob)
	if err != nil {
		err = explainTimeout(ctx, lctx, err)
		if IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", glob, err)
	}
	sort.Strings(names)
	return names, nil
}

// Subdirs lists the names of the directories (on GCS, the prefixes ending
// in "/") directly under root whose names start with prefix, sorted. A
// root that does not exist has none.
func Subdirs(ctx context.Context, root, prefix string) ([]string, error) {
	var names []string
	if !IsRemote(root) {
		entries, err := os.ReadDir(root)
		if err != nil {
			if IsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
				names = append(names, e.Name())
			}
		}
		return names, nil // os.ReadDir sorts
	}
	s, err := storeFor(root)
	if err != nil {
		return nil, err
	}
	bctx, cancel := bounded(ctx)
	defer cancel()
	names, err = s.Subdirs(bctx, root, prefix)
	return names, explainTimeout(ctx, bctx, err)
}

// Fingerprints maps every object under a remote prefix to a fingerprint
// of its content from one listing (no download).
func Fingerprints(ctx context.Context, input string) (map[string]string, error) {
	s, err := storeFor(input)
	if err != nil {
		return nil, err
	}
	return s.Fingerprints(ctx, input)
}

// RemoveAll deletes a directory and everything in it (on GCS, every object
// under the prefix dir + "/"), retrying transient failures; a missing one
// is not an error.
func RemoveAll(ctx context.Context, dir string) error {
	if !IsRemote(dir) {
		return os.RemoveAll(dir)
	}
	s, err := storeFor(dir)
	if err != nil {
		return err
	}
	return s.RemoveAll(ctx, dir)
}
