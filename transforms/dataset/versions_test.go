package dataset

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVersionNames(t *testing.T) {
	a := VersionName(time.Date(2026, 11, 25, 10, 19, 0, 123e6, time.UTC))
	b := VersionName(time.Date(2026, 11, 25, 10, 19, 0, 124e6, time.FixedZone("x", 3600)).Add(time.Hour))
	if a != "VERSION=20261125T101900.123Z" || !(a < b) {
		t.Errorf("names %q, %q: want the stamp, sorting by time", a, b)
	}
	for name, want := range map[string]bool{
		a: true, "VERSION=": false, "VERSION=a/b": false, `VERSION=a\b`: false, "version=1": false,
		"VERSION=" + strings.Repeat("9", 200): false, "": false,
	} {
		if IsVersionName(name) != want {
			t.Errorf("IsVersionName(%q) = %v, want %v", name, !want, want)
		}
	}
}

// TestResolve: a plain dataset is itself; a refreshed root is its current
// version; a LATEST naming no version is an error, not a guess.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	plain := t.TempDir()
	if got, err := Resolve(ctx, plain); err != nil || got != plain {
		t.Errorf("plain dataset: %q, %v", got, err)
	}
	root := t.TempDir()
	v := VersionName(time.Unix(1, 0))
	if err := os.MkdirAll(filepath.Join(root, v), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, LatestFile), []byte(v+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve(ctx, root+"/"); err != nil || got != filepath.Join(root, v) {
		t.Errorf("refreshed root: %q, %v; want %s", got, err, filepath.Join(root, v))
	}
	if vs, err := Versions(ctx, root); err != nil || len(vs) != 1 || vs[0] != v {
		t.Errorf("versions %v, %v", vs, err)
	}
	if err := os.WriteFile(filepath.Join(root, LatestFile), []byte("../../etc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(ctx, root); err == nil || !strings.Contains(err.Error(), "not a version name") {
		t.Errorf("a LATEST that escapes: %v, want an error", err)
	}
}
