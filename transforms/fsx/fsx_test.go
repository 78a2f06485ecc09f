package fsx

import (
	"context"
	"errors"
	"net"
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

// TestUnreachableStorageFailsFast: with storage that never answers (the
// emulator host points at a closed port), existence checks, reads and
// listings fail within CallTimeout with an error that says so, instead of
// the storage client retrying for ever.
func TestUnreachableStorageFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: every connection is refused
	t.Setenv("STORAGE_EMULATOR_HOST", addr)
	old := CallTimeout
	CallTimeout = 2 * time.Second
	defer func() { CallTimeout = old }()
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Exists":   func() error { _, err := Exists(ctx, "gs://bucket/LATEST"); return err },
		"ReadFile": func() error { _, err := ReadFile(ctx, "gs://bucket/manifest.jsonl", 1<<20); return err },
		"Glob":     func() error { _, err := Glob(ctx, "gs://bucket/ckpt/*.safetensors"); return err },
		"Subdirs":  func() error { _, err := Subdirs(ctx, "gs://bucket/ds", "VERSION="); return err },
	} {
		start := time.Now()
		err := call()
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("%s: took %v", name, took)
		}
		if err == nil || IsNotFound(err) || !strings.Contains(err.Error(), "did not answer") {
			t.Errorf("%s: %v, want an error saying storage did not answer", name, err)
		}
	}
}
