// Package gcsfs is fsx's gs:// backend: it registers Beam's GCS filesystem
// and the object-store calls Beam's filesystem API lacks (delimiter
// listings, fingerprints from one listing, prefix removal, the storage
// client's "not found" errors). It lives apart from fsx so that the many
// packages that only name files do not link the storage client; the
// realdpo binary, the pipelines and the tests that use gs:// import it.
package gcsfs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"realdpo/transforms/fsx"

	"cloud.google.com/go/storage"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	"google.golang.org/api/iterator"
)

func init() { fsx.RegisterStore("gs", store{}) }

type store struct{}

func (store) NotFound(err error) bool { return errors.Is(err, storage.ErrObjectNotExist) }

func (store) Permanent(err error) bool {
	return errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist)
}

// Subdirs lists the prefixes ending in "/" directly under root whose names
// start with prefix, sorted.
func (store) Subdirs(ctx context.Context, root, prefix string) ([]string, error) {
	cl, b, pfx, err := OpenBucket(ctx, root)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var names []string
	it := b.Objects(ctx, &storage.Query{Prefix: pfx + prefix, Delimiter: "/"})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		if a.Prefix != "" {
			names = append(names, strings.TrimSuffix(strings.TrimPrefix(a.Prefix, pfx), "/"))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Fingerprints maps every object under a gs:// prefix to a fingerprint of
// its content from one listing (no download): MD5, else CRC32C and size
// (composite objects), else the generation.
func (store) Fingerprints(ctx context.Context, input string) (map[string]string, error) {
	cl, b, prefix, err := OpenBucket(ctx, input)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	out := map[string]string{}
	it := b.Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", input, err)
		}
		fp := fmt.Sprintf("gen:%d", a.Generation)
		switch {
		case len(a.MD5) > 0:
			fp = "md5:" + hex.EncodeToString(a.MD5)
		case a.CRC32C != 0:
			fp = fmt.Sprintf("crc32c:%08x:%d", a.CRC32C, a.Size)
		}
		out["gs://"+b.BucketName()+"/"+a.Name] = fp
	}
}

// RemoveAll deletes every object under the prefix dir + "/", retrying
// transient failures.
func (store) RemoveAll(ctx context.Context, dir string) error {
	cl, b, prefix, err := OpenBucket(ctx, dir)
	if err != nil {
		return err
	}
	defer cl.Close()
	if prefix == "" {
		return fmt.Errorf("remove %s: refusing to empty a whole bucket", dir)
	}
	it := b.Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
		if err := fsx.Retry(ctx, "delete "+a.Name, func(int) error {
			if err := b.Object(a.Name).Delete(ctx); err != nil && !fsx.IsNotFound(err) {
				return err
			}
			return nil
		}); err != nil {
			return fmt.Errorf("remove %s: %w", dir, err)
		}
	}
}

// OpenBucket connects to the bucket of a gs:// root, for the calls Beam's
// filesystem API lacks (generation preconditions, delimiter listings). The
// prefix it returns ends in "/" unless it is empty; the caller closes the
// client.
func OpenBucket(ctx context.Context, root string) (*storage.Client, *storage.BucketHandle, string, error) {
	rest, ok := strings.CutPrefix(root, "gs://")
	if !ok {
		return nil, nil, "", fmt.Errorf("%s: only local directories and gs:// are supported", root)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return nil, nil, "", fmt.Errorf("%s: no bucket", root)
	}
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	cl, err := storage.NewClient(ctx)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: storage client: %w", root, err)
	}
	return cl, cl.Bucket(bucket), prefix, nil
}
