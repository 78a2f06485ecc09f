package fsx

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// ObjectStore is what an object store backend adds to Beam's filesystem
// API for a URL scheme (gcsfs registers "gs"): its "not found" errors and
// the calls Beam lacks. Backends register in their package's init, so a
// package that only names files does not link a storage client.
type ObjectStore interface {
	// NotFound reports whether err says an object is missing.
	NotFound(err error) bool
	// Permanent reports whether err must not be retried (a missing object
	// or bucket).
	Permanent(err error) bool
	// Subdirs lists the "directories" directly under root whose names
	// start with prefix, sorted.
	Subdirs(ctx context.Context, root, prefix string) ([]string, error)
	// Fingerprints maps every object under root to a fingerprint of its
	// content, without downloading it.
	Fingerprints(ctx context.Context, root string) (map[string]string, error)
	// RemoveAll deletes everything under the prefix dir + "/".
	RemoveAll(ctx context.Context, dir string) error
}

var (
	storesMu sync.RWMutex
	stores   = map[string]ObjectStore{}
)

// RegisterStore makes s the backend of scheme:// paths; call it from init.
func RegisterStore(scheme string, s ObjectStore) {
	storesMu.Lock()
	defer storesMu.Unlock()
	stores[scheme] = s
}

func registered() []ObjectStore {
	storesMu.RLock()
	defer storesMu.RUnlock()
	out := make([]ObjectStore, 0, len(stores))
	for _, s := range stores {
		out = append(out, s)
	}
	return out
}

// storeFor is the backend of a remote path, or an error that says which
// package registers it.
func storeFor(p string) (ObjectStore, error) {
	scheme, _, _ := strings.Cut(p, "://")
	storesMu.RLock()
	s, ok := stores[scheme]
	storesMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: no storage backend for %s:// in this program (gs:// needs an import of realdpo/transforms/fsx/gcsfs)", p, scheme)
	}
	return s, nil
}

// openFS opens Beam's filesystem for p; a remote path needs its backend
// registered, so a missing import reads as such, not as Beam's bare
// "scheme not registered".
func openFS(ctx context.Context, p string) (filesystem.Interface, error) {
	if IsRemote(p) {
		if _, err := storeFor(p); err != nil {
			return nil, err
		}
	}
	return filesystem.New(ctx, p)
}
