package refresh

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"realdpo/pipelines/pipetest"
	"realdpo/schemas"
	"realdpo/transforms/fsx/fsxtest"
	"realdpo/transforms/quality/testclips"
)

// TestRefreshGCSThroughFaults refreshes a gs:// dataset twice through the
// fault-injecting proxy: the first from nothing, the second after one new
// and one changed object (new MD5), carrying the third by server-side copy.
func TestRefreshGCSThroughFaults(t *testing.T) {
	testclips.RequireFFmpeg(t)
	srv := fsxtest.GCS(t, false, "b")
	dir := t.TempDir()
	pipetest.Corpus(t, dir, 4) // src00..src03 and notes.mp4 (not a video)
	put := func(name, file string) {
		data, err := os.ReadFile(dir + "/" + file)
		if err != nil {
			t.Fatal(err)
		}
		fsxtest.Put(srv, "b", "raw/"+name, data)
	}
	put("a.mp4", "src00.mp4")
	put("b.mp4", "src01.mp4")
	put("bad.mp4", "notes.mp4")
	fp, host := pipetest.NewFaultProxy(t, srv.URL(), 5)
	t.Setenv("STORAGE_EMULATOR_HOST", host)

	ccfg, err := untaggedConfig("gs://b/raw", "", schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Curate: ccfg, DatasetRoot: "gs://b/ds", Now: clock("2026-11-25T10:00:00Z")}
	ctx := context.Background()
	r1, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Stats.Inputs != 3 || r1.Stats.InputsAccepted != 2 || r1.Stats.Clips != 2 {
		t.Fatalf("first refresh: %s", r1.Stats.AccountingLine())
	}
	put("c.mp4", "src02.mp4")
	put("b.mp4", "src03.mp4")
	cfg.Now = clock("2026-11-25T11:00:00Z")
	r2, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	counts, requests := fp.Counts()
	t.Logf("%s; faults: %v of %d requests", r2.Stats.AccountingLine(), counts, requests)
	if !slices.Equal(r2.Report.New, []string{"c.mp4"}) || !slices.Equal(r2.Report.Changed, []string{"b.mp4"}) || r2.Report.Carried != 2 {
		t.Fatalf("second refresh: %+v", r2.Report)
	}
	if r2.Stats.Inputs != 4 || r2.Stats.InputsAccepted != 3 || r2.Stats.Clips != 3 {
		t.Fatalf("second refresh: %s", r2.Stats.AccountingLine())
	}
	latest, err := srv.GetObject("b", "ds/LATEST")
	if err != nil || strings.TrimSpace(string(latest.Content)) != "VERSION=20261125T110000.000Z" {
		t.Fatalf("LATEST: %q %v", latest.Content, err)
	}
	var clips int
	for name := range fsxtest.Objects(t, srv, "b", "ds/VERSION=20261125T110000.000Z/") {
		if strings.HasSuffix(name, ".mp4") {
			clips++
		}
	}
	if clips != 3 {
		t.Errorf("%d clips in the new version, want 3 (a carried, b and c curated)", clips)
	}
}
