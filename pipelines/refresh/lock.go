package refresh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"golang.org/x/sys/unix"
	"google.golang.org/api/googleapi"

	"realdpo/transforms/dataset"
	"realdpo/transforms/fsx"
	"realdpo/transforms/fsx/gcsfs"
)

// LockFile is the lock a refresh holds on its dataset root for the whole
// run: one refresh at a time per dataset, so two cannot both write a
// version and race for LATEST, and a refresh may clean up what killed ones
// left.
const LockFile = ".refresh.lock"

// LeaseTTL is how long a gs:// lock holds without renewal: a holder
// renews it every LeaseTTL/4, and a lock not renewed for LeaseTTL (its
// holder was killed or stopped) may be taken over. LATEST moves only by a
// generation-matched write from the version the run started from, so a
// stopped holder that wakes after a takeover cannot move it back.
var LeaseTTL = 2 * time.Minute

// ErrLocked is returned when another refresh holds the dataset's lock.
var ErrLocked = errors.New("another refresh of this dataset is running")

// lock is a held dataset lock.
type lock interface {
	release(ctx context.Context) error
}

// acquireLock takes the dataset root's lock: flock(2) locally (released by
// the kernel when the process dies, however it dies), a leased object with
// generation preconditions on gs://.
func acquireLock(ctx context.Context, root string) (lock, error) {
	if fsx.IsRemote(root) {
		return acquireGCSLock(ctx, root)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	p := filepath.Join(root, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("refresh: lock %s: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("refresh: %w: %s is held; wait for it or stop it", ErrLocked, p)
		}
		return nil, fmt.Errorf("refresh: lock %s: %w", p, err)
	}
	// Who holds it, for a person looking; the lock itself is the flock.
	f.Truncate(0)
	fmt.Fprintf(f, "%s\n", holder())
	return fileLock{f}, nil
}

type fileLock struct{ f *os.File }

func (l fileLock) release(context.Context) error {
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	return l.f.Close()
}

func holder() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s pid %d", h, os.Getpid())
}

// lease is the content of a gs:// lock object. Token is unique to one
// acquisition: a write whose answer was lost and that the storage client
// retried fails its precondition against the object it wrote itself, and
// the token tells it so.
type lease struct {
	Holder  string    `json:"holder"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

type gcsLock struct {
	cl    *storage.Client
	obj   *storage.ObjectHandle
	name  string
	token string

	mu       sync.Mutex
	gen      int64
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func acquireGCSLock(ctx context.Context, root string) (lock, error) {
	cl, b, prefix, err := gcsfs.OpenBucket(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("refresh: lock: %w", err)
	}
	name := prefix + LockFile
	l := &gcsLock{cl: cl, obj: b.Object(name), name: "gs://" + b.BucketName() + "/" + name, token: newToken()}
	gen, err := l.write(ctx, storage.Conditions{DoesNotExist: true})
	if isPrecondition(err) {
		gen, err = l.ours(ctx, err)
	}
	if isPrecondition(err) {
		// Held, or left by a holder that died: take it over only once its
		// lease has run out, from exactly the generation seen.
		var cur lease
		attrs, rerr := l.read(ctx, &cur)
		if rerr != nil {
			cl.Close()
			return nil, fmt.Errorf("refresh: lock %s: %w", l.name, rerr)
		}
		if time.Now().Before(cur.Expires) {
			cl.Close()
			return nil, fmt.Errorf("refresh: %w: %s is held by %s until %s", ErrLocked, l.name, cur.Holder, cur.Expires.Format(time.RFC3339))
		}
		slog.Warn("refresh: taking over an expired lock", "lock", l.name, "holder", cur.Holder, "expired", cur.Expires)
		gen, err = l.write(ctx, storage.Conditions{GenerationMatch: attrs.Generation})
		if isPrecondition(err) {
			gen, err = l.ours(ctx, err)
		}
		if isPrecondition(err) {
			cl.Close()
			return nil, fmt.Errorf("refresh: %w: %s was taken by another refresh", ErrLocked, l.name)
		}
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("refresh: lock %s: %w", l.name, err)
	}
	l.gen, l.stop, l.done = gen, make(chan struct{}), make(chan struct{})
	go l.renew()
	return l, nil
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ours is called after a conditional write failed its precondition: when
// the object holds this lock's token, the write did land (its answer was
// lost and the retry met the object it had written) and its generation is
// returned; otherwise err.
func (l *gcsLock) ours(ctx context.Context, err error) (int64, error) {
	var cur lease
	attrs, rerr := l.read(ctx, &cur)
	if rerr != nil || cur.Token != l.token {
		return 0, err
	}
	return attrs.Generation, nil
}

// write puts a fresh lease under the conditions and returns its generation.
func (l *gcsLock) write(ctx context.Context, c storage.Conditions) (int64, error) {
	data, _ := json.Marshal(lease{Holder: holder(), Token: l.token, Expires: time.Now().Add(LeaseTTL)})
	w := l.obj.If(c).NewWriter(ctx)
	w.ContentType = "application/json"
	if _, err := w.Write(data); err != nil {
		w.Close()
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return w.Attrs().Generation, nil
}

func (l *gcsLock) read(ctx context.Context, v *lease) (*storage.ObjectAttrs, error) {
	r, err := l.obj.NewReader(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, err
	}
	attrs, err := l.obj.Attrs(ctx)
	if err != nil {
		return nil, err
	}
	if attrs.Generation != r.Attrs.Generation {
		return nil, errors.New("the lock changed while it was read")
	}
	if err := json.Unmarshal(data, v); err != nil {
		v.Expires = time.Time{} // unreadable: treated as expired
	}
	return attrs, nil
}

// renew extends the lease until release; a failed renewal is logged (the
// generation-matched LATEST write still guards the dataset).
func (l *gcsLock) renew() {
	defer close(l.done)
	t := time.NewTicker(LeaseTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		ctx, cancel := context.WithTimeout(context.Background(), LeaseTTL/4)
		gen, err := l.write(ctx, storage.Conditions{GenerationMatch: l.gen})
		if isPrecondition(err) {
			gen, err = l.ours(ctx, err)
		}
		cancel()
		if err == nil {
			l.gen = gen
		} else {
			slog.Warn("refresh: could not renew the dataset lock", "lock", l.name, "err", err)
		}
		l.mu.Unlock()
	}
}

// stopRenewing ends the renewals (a holder that stopped, in tests).
func (l *gcsLock) stopRenewing() {
	l.stopOnce.Do(func() {
		close(l.stop)
		<-l.done
	})
}

func (l *gcsLock) release(ctx context.Context) error {
	l.stopRenewing()
	defer l.cl.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.obj.If(storage.Conditions{GenerationMatch: l.gen}).Delete(ctx)
	if isPrecondition(err) {
		if gen, oerr := l.ours(ctx, err); oerr == nil {
			err = l.obj.If(storage.Conditions{GenerationMatch: gen}).Delete(ctx)
		}
	}
	if isPrecondition(err) || errors.Is(err, storage.ErrObjectNotExist) {
		return nil // taken over after our lease ran out: not ours to delete
	}
	return err
}

func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}

// latestState is LATEST as a refresh found it: the version it names and,
// on gs://, the object's generation (0: no LATEST yet).
type latestState struct {
	version string
	gen     int64
}

// readLatestState reads LATEST, with the generation of the very object
// read on gs://.
func readLatestState(ctx context.Context, root string) (latestState, error) {
	if !fsx.IsRemote(root) {
		v, err := dataset.ReadLatest(ctx, root)
		if err != nil {
			return latestState{}, fmt.Errorf("refresh: %w", err)
		}
		return latestState{version: v}, nil
	}
	cl, b, pfx, err := gcsfs.OpenBucket(ctx, root)
	if err != nil {
		return latestState{}, err
	}
	defer cl.Close()
	r, err := b.Object(pfx + dataset.LatestFile).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return latestState{}, nil
	}
	if err != nil {
		return latestState{}, fmt.Errorf("refresh: read %s: %w", dataset.LatestFile, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return latestState{}, fmt.Errorf("refresh: read %s: %w", dataset.LatestFile, err)
	}
	v, err := dataset.ParseLatest(fsx.JoinPath(root, dataset.LatestFile), data)
	return latestState{version: v, gen: r.Attrs.Generation}, err
}

// ErrLatestMoved is returned when LATEST no longer names the version a
// refresh started from: another refresh finished in between.
var ErrLatestMoved = errors.New("LATEST moved while this refresh ran")

// moveLatest points LATEST at version only if it still names from: with
// the lock held and a fresh read locally, with a generation precondition on
// gs://. LATEST only ever moves forward from what a run saw.
func moveLatest(ctx context.Context, root, version string, from latestState) error {
	if !fsx.IsRemote(root) {
		now, err := dataset.ReadLatest(ctx, root)
		if err != nil {
			return err
		}
		if now != from.version {
			return fmt.Errorf("%w: it names %q, this run started from %q", ErrLatestMoved, now, from.version)
		}
		return writeLatest(ctx, root, version)
	}
	cl, b, pfx, err := gcsfs.OpenBucket(ctx, root)
	if err != nil {
		return err
	}
	defer cl.Close()
	c := storage.Conditions{DoesNotExist: true}
	if from.gen != 0 {
		c = storage.Conditions{GenerationMatch: from.gen}
	}
	obj := b.Object(pfx + dataset.LatestFile).If(c)
	// A conditional write is safe to repeat: the storage client retries it.
	w := obj.NewWriter(ctx)
	w.ContentType = "text/plain"
	if _, err := w.Write([]byte(version + "\n")); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		if isPrecondition(err) {
			// A retried write whose first attempt landed meets its own
			// object: LATEST naming this run's version (unique to it) is
			// success, anything else another refresh's move.
			if now, rerr := readLatestState(ctx, root); rerr == nil && now.version == version {
				return nil
			}
			return fmt.Errorf("%w: it no longer names %q", ErrLatestMoved, from.version)
		}
		return err
	}
	return nil
}

// versionDirs lists the VERSION=... names under root, sorted.
func versionDirs(ctx context.Context, root string) ([]string, error) {
	return dataset.Versions(ctx, root)
}

// cleanPartialVersions removes what killed or failed refreshes left: every
// version newer than LATEST (LATEST only moves forward, so none of those
// was ever current) and every older one without refresh.json (written just
// before LATEST moves, so its absence means the run never finished). Only
// called with the dataset's lock held: no running refresh owns them.
func cleanPartialVersions(ctx context.Context, root, latest string) ([]string, error) {
	names, err := versionDirs(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("refresh: list versions: %w", err)
	}
	var removed []string
	for _, n := range names {
		if n == latest {
			continue
		}
		partial := latest == "" || n > latest
		if !partial {
			done, err := fsx.Exists(ctx, fsx.JoinPath(fsx.JoinPath(root, n), dataset.RefreshFile))
			if err != nil {
				return removed, fmt.Errorf("refresh: check %s: %w", n, err)
			}
			partial = !done
		}
		if !partial {
			continue
		}
		if err := removeVersion(ctx, root, n); err != nil {
			return removed, fmt.Errorf("refresh: remove partial version %s: %w", n, err)
		}
		slog.Info("refresh: removed a partial version a killed or failed refresh left", "version", n)
		removed = append(removed, n)
	}
	return removed, nil
}

// removeVersion deletes a version directory (every object under its prefix).
func removeVersion(ctx context.Context, root, name string) error {
	if !dataset.IsVersionName(name) {
		return fmt.Errorf("%q is not a version name", name)
	}
	return fsx.RemoveAll(ctx, fsx.JoinPath(root, name))
}
