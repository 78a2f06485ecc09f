package fsx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteAtomicLocal(t *testing.T) {
	dir := t.TempDir()
	p := JoinPath(dir, "sub/x.json")
	if err := WriteAtomic(context.Background(), p, strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(context.Background(), p, errReader{}); err == nil {
		t.Fatal("failed write reported success")
	}
	b, _ := os.ReadFile(p)
	entries, _ := os.ReadDir(filepath.Dir(p))
	if string(b) != "one" || len(entries) != 1 {
		t.Errorf("content %q, %d entries: a failed write must leave the old file and no temp", b, len(entries))
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v %v, want 0644", fi.Mode(), err)
	}
	if RelPath("gs://b/in", "gs://b/in/x/y.mp4") != "x/y.mp4" || JoinPath("gs://b/out/", "clips/a.mp4") != "gs://b/out/clips/a.mp4" {
		t.Error("gs paths")
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	old, fresh, real := filepath.Join(dir, "clips", ".a.mp4.tmp-1"), filepath.Join(dir, "clips", ".b.mp4.tmp-2"), filepath.Join(dir, "clips", "c.mp4")
	for _, p := range []string{old, fresh, real} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := time.Now()
	if err := os.Chtimes(old, cutoff.Add(-time.Hour), cutoff.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(fresh, cutoff.Add(time.Second), cutoff.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := RemoveStaleTemps(dir, []string{"clips", "first_frames"}, cutoff)
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v; want the one old temp file", n, err)
	}
	for p, want := range map[string]bool{old: false, fresh: true, real: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists=%v, want %v", p, err == nil, want)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestRemoteWithoutBackend: a program that does not import gcsfs gets an
// error naming the import, not Beam's bare "scheme not registered" (this
// test binary registers no backend).
func TestRemoteWithoutBackend(t *testing.T) {
	ctx := context.Background()
	_, err := Exists(ctx, "gs://bucket/LATEST")
	if err == nil || !strings.Contains(err.Error(), "realdpo/transforms/fsx/gcsfs") {
		t.Errorf("Exists on gs:// without a backend: %v, want an error naming the import", err)
	}
	if _, err := Subdirs(ctx, "gs://bucket/ds", "VERSION="); err == nil || !strings.Contains(err.Error(), "fsx/gcsfs") {
		t.Errorf("Subdirs: %v", err)
	}
	if names, err := Glob(ctx, filepath.Join(t.TempDir(), "*.json")); err != nil || len(names) != 0 {
		t.Errorf("a local glob needs no backend: %v %v", names, err)
	}
	if IsNotFound(errors.New("storage: object doesn't exist")) {
		t.Error("a plain error read as not found")
	}
}
