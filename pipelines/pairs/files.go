// Package pairs holds the negatives and pairs pipelines (issue 6): the
// model's own generations from each real clip's first frame and caption
// (the rejected samples), and the preference pairs training reads, as
// webdataset shards or the reference implementation's layout.
package pairs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"realdpo/transforms/stage"
)

// maxLineBytes bounds one JSON line of a manifest or negatives.jsonl.
const maxLineBytes = 16 << 20

// errNotExist marks a file that is not there (local or remote).
var errNotExist = errors.New("does not exist")

// readAll reads a local file or gs:// object, at most max bytes.
func readAll(ctx context.Context, p string, max int64) ([]byte, error) {
	var r io.ReadCloser
	if !stage.IsRemote(p) {
		st, err := os.Stat(p)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("%s: %w", p, errNotExist)
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
			return nil, fmt.Errorf("%s: %w (%v)", p, errNotExist, err)
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

// writeFile writes bytes temp-then-rename.
func writeFile(ctx context.Context, p string, data []byte) error {
	return stage.WriteAtomic(ctx, p, bytes.NewReader(data))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// localCopy makes a file readable by ffmpeg: local paths are used in place,
// remote objects copied to a temp file (cleanup removes it).
func localCopy(ctx context.Context, p string, max int64) (string, func(), error) {
	loc, err := stage.Localize(ctx, p, filepath.Join(os.TempDir(), "realdpo-pairs"), max, false)
	if err != nil {
		return "", func() {}, err
	}
	return loc.Path, loc.Cleanup, nil
}

// absRoot makes a local root absolute (workers may run elsewhere in the
// tree); gs:// roots are kept.
func absRoot(p string) string {
	p = strings.TrimSuffix(p, "/")
	if p == "" || stage.IsRemote(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
