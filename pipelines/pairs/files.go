// Package pairs holds the negatives and pairs pipelines (issue 6): the
// model's own generations from each real clip's first frame and caption
// (the rejected samples), and the preference pairs training reads, as
// webdataset shards or the reference implementation's layout.
package pairs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	"realdpo/transforms/fsx"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

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
