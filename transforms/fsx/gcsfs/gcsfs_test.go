package gcsfs_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"realdpo/transforms/fsx"
	_ "realdpo/transforms/fsx/gcsfs"
)

// TestUnreachableStorageFailsFast: with storage that never answers (the
// emulator host points at a closed port), existence checks, reads and
// listings fail within fsx.CallTimeout with an error that says so, instead of
// the storage client retrying for ever.
func TestUnreachableStorageFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: every connection is refused
	t.Setenv("STORAGE_EMULATOR_HOST", addr)
	old := fsx.CallTimeout
	fsx.CallTimeout = time.Second
	defer func() { fsx.CallTimeout = old }()
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Exists":   func() error { _, err := fsx.Exists(ctx, "gs://bucket/LATEST"); return err },
		"ReadFile": func() error { _, err := fsx.ReadFile(ctx, "gs://bucket/manifest.jsonl", 1<<20); return err },
		"Glob":     func() error { _, err := fsx.Glob(ctx, "gs://bucket/ckpt/*.safetensors"); return err },
		"Subdirs":  func() error { _, err := fsx.Subdirs(ctx, "gs://bucket/ds", "VERSION="); return err },
	} {
		start := time.Now()
		err := call()
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("%s: took %v", name, took)
		}
		if err == nil || fsx.IsNotFound(err) || !strings.Contains(err.Error(), "did not answer") {
			t.Errorf("%s: %v, want an error saying storage did not answer", name, err)
		}
	}
}
