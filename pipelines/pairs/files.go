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
	"os"
	"path/filepath"
	"strings"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"realdpo/transforms/stage"
)

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
