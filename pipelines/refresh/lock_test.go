package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"realdpo/pipelines/pipetest"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/fsx/fsxtest"
	"realdpo/transforms/quality/testclips"
)

// TestRefreshesOneAtATime: a second refresh of a dataset while one is
// running (here held just before it moves LATEST) is refused, and the first
// finishes with LATEST on its version and no orphan. A refresh that finds
// LATEST moved behind its back (another one broke an expired gs:// lease,
// or ignored the lock) fails, leaves LATEST where the other put it and
// removes its own version.
func TestRefreshesOneAtATime(t *testing.T) {
	ctx := context.Background()
	in, root := t.TempDir(), t.TempDir()
	pipetest.GoodFootage(t, in, "a.mp4")
	ccfg, err := untaggedConfig(in, "", schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	paused, resume := make(chan string), make(chan struct{})
	beforeMoveLatest = func(v string) { paused <- v; <-resume }
	defer func() { beforeMoveLatest = nil }()
	run := func(at string) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := Run(ctx, Config{Curate: ccfg, DatasetRoot: root, Now: clock(at)})
			done <- err
		}()
		return done
	}

	first := run("2026-11-25T10:00:00Z")
	vA := <-paused
	if _, err := Run(ctx, Config{Curate: ccfg, DatasetRoot: root, Now: clock("2026-11-25T11:00:00Z")}); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second refresh during the first: err = %v, want ErrLocked", err)
	}
	resume <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := readLatest(t, root); got != vA {
		t.Fatalf("LATEST = %s, want %s", got, vA)
	}
	if vs, _ := versionDirs(ctx, root); !slices.Equal(vs, []string{vA}) {
		t.Errorf("versions %v, want only %s", vs, vA)
	}

	// LATEST moved while a refresh was held before moving it.
	testclips.Make(t, in, "b.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 4})
	second := run("2026-11-25T12:00:00Z")
	vB := <-paused
	other := "VERSION=20261125T113000.000Z"
	os.MkdirAll(filepath.Join(root, other), 0o755)
	os.WriteFile(filepath.Join(root, other, dataset.RefreshFile), []byte("{}\n"), 0o644)
	if err := writeLatest(ctx, root, other); err != nil {
		t.Fatal(err)
	}
	resume <- struct{}{}
	if err := <-second; !errors.Is(err, ErrLatestMoved) {
		t.Fatalf("refresh after LATEST moved: err = %v, want ErrLatestMoved", err)
	}
	if got := readLatest(t, root); got != other {
		t.Errorf("LATEST = %s, want %s (moved back?)", got, other)
	}
	if _, err := os.Stat(filepath.Join(root, vB)); !os.IsNotExist(err) {
		t.Errorf("the failed refresh left its version %s: %v", vB, err)
	}
}

// TestPartialVersionsCleanedUp: versions a killed or failed refresh left
// (newer than LATEST, or without refresh.json) are removed by the next
// refresh, which holds the lock, so none of them is a running refresh's;
// finished older versions stay.
func TestPartialVersionsCleanedUp(t *testing.T) {
	ctx := context.Background()
	in, root := t.TempDir(), t.TempDir()
	pipetest.GoodFootage(t, in, "a.mp4")
	ccfg, _ := untaggedConfig(in, "", schemas.ProfileDemo)
	cfg := Config{Curate: ccfg, DatasetRoot: root, Now: clock("2026-11-25T10:00:00Z")}
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	latest := readLatest(t, root)
	mk := func(name string, finished bool) {
		dir := filepath.Join(root, name)
		os.MkdirAll(filepath.Join(dir, "clips"), 0o755)
		os.WriteFile(filepath.Join(dir, "clips", "x.mp4"), []byte("partial"), 0o644)
		if finished {
			os.WriteFile(filepath.Join(dir, dataset.RefreshFile), []byte("{}\n"), 0o644)
		}
	}
	mk("VERSION=20261125T080000.000Z", true)  // history: kept
	mk("VERSION=20261125T090000.000Z", false) // killed before it finished
	mk("VERSION=20261125T130000.000Z", true)  // newer than LATEST: never current
	cfg.Now = clock("2026-11-25T14:00:00Z")
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"VERSION=20261125T090000.000Z", "VERSION=20261125T130000.000Z"}
	if !res.UpToDate || !slices.Equal(res.Report.Cleaned, want) {
		t.Errorf("up to date %v, cleaned %v, want %v", res.UpToDate, res.Report.Cleaned, want)
	}
	vs, _ := versionDirs(ctx, root)
	if !slices.Equal(vs, []string{"VERSION=20261125T080000.000Z", latest}) {
		t.Errorf("versions left: %v", vs)
	}
}

// TestGCSLockAndLatest: on gs:// the lock is an object created only if
// absent, taken over only once its lease ran out; LATEST moves only by a
// write conditioned on the generation the refresh started from; partial
// versions are found and removed by prefix.
func TestGCSLockAndLatest(t *testing.T) {
	srv := fsxtest.GCS(t, true, "b")
	ctx := context.Background()
	const root = "gs://b/ds"

	l1, err := acquireLock(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquireLock(ctx, root); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if err := l1.release(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := acquireLock(ctx, root)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.(*gcsLock).stopRenewing()
	// A holder that stopped: its lease runs out and the lock is taken over.
	expired, _ := json.Marshal(lease{Holder: "stopped", Expires: time.Now().Add(-time.Second)})
	fsxtest.Put(srv, "b", "ds/"+LockFile, expired)
	l3, err := acquireLock(ctx, root)
	if err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
	defer l3.release(ctx)
	// A lock write whose answer was lost and that the client retried meets
	// the object it wrote: its token says the lock is ours.
	if gl := l3.(*gcsLock); true {
		if gen, err := gl.ours(ctx, errors.New("precondition failed")); err != nil || gen != gl.gen {
			t.Fatalf("own lease not recognised: gen %d (want %d), %v", gen, gl.gen, err)
		}
	}

	if err := moveLatest(ctx, root, "VERSION=A", latestState{}); err != nil {
		t.Fatal(err)
	}
	st, err := readLatestState(ctx, root)
	if err != nil || st.version != "VERSION=A" || st.gen == 0 {
		t.Fatalf("state %+v %v", st, err)
	}
	if err := moveLatest(ctx, root, "VERSION=B", st); err != nil {
		t.Fatal(err)
	}
	if err := moveLatest(ctx, root, "VERSION=C", st); !errors.Is(err, ErrLatestMoved) {
		t.Fatalf("move from a stale generation: %v, want ErrLatestMoved", err)
	}
	// The same for LATEST: a retried move that meets its own version is done.
	if err := moveLatest(ctx, root, "VERSION=B", st); err != nil {
		t.Fatalf("retried move that had landed: %v", err)
	}
	if err := moveLatest(ctx, root, "VERSION=D", latestState{}); !errors.Is(err, ErrLatestMoved) {
		t.Fatalf("first move over an existing LATEST: %v, want ErrLatestMoved", err)
	}
	if v, _ := dataset.ReadLatest(ctx, root); v != "VERSION=B" {
		t.Fatalf("LATEST = %s", v)
	}

	put := func(name string) {
		fsxtest.Put(srv, "b", "ds/"+name, []byte("x"))
	}
	put("VERSION=A/" + dataset.RefreshFile)
	put("VERSION=A/manifest.jsonl")
	put("VERSION=Aa/clips/x.mp4") // older, unfinished
	put("VERSION=B/" + dataset.RefreshFile)
	put("VERSION=C/" + dataset.RefreshFile) // newer than LATEST
	put("VERSION=C/clips/y.mp4")
	removed, err := cleanPartialVersions(ctx, root, "VERSION=B")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"VERSION=Aa", "VERSION=C"}) {
		t.Errorf("removed %v", removed)
	}
	if vs, _ := versionDirs(ctx, root); !slices.Equal(vs, []string{"VERSION=A", "VERSION=B"}) {
		t.Errorf("versions left: %v", vs)
	}
}
