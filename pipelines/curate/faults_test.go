package curate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"realdpo/pipelines/pipetest"
	"realdpo/schemas"
	"realdpo/transforms/fsx/fsxtest"
	"realdpo/transforms/quality/testclips"
)

// TestCurateGCSThroughFaults runs curate from and to gs:// with every
// fourth storage request broken: the run completes and the dataset is
// complete, with every clip once and no temporary objects left.
func TestCurateGCSThroughFaults(t *testing.T) {
	testclips.RequireFFmpeg(t)
	srv := fsxtest.GCS(t, false, "footage")
	dir := t.TempDir()
	pipetest.Corpus(t, dir, 3)
	fsxtest.Upload(t, srv, "footage", "raw/", dir)
	fsxtest.Put(srv, "footage", "raw/src00.json", []byte(`{"title":"Someone walking slowly along a quiet park path","tags":["walking"]}`))
	fp, host := pipetest.NewFaultProxy(t, srv.URL(), 4)
	t.Setenv("STORAGE_EMULATOR_HOST", host)

	cfg, err := untaggedConfig("gs://footage/raw", "gs://footage/dataset", schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	counts, requests := fp.Counts()
	t.Logf("%s; faults injected: %v of %d requests", st.AccountingLine(), counts, requests)
	for _, m := range []string{"503", "drop", "stall", "503_after", "cut_body"} {
		if counts[m] == 0 {
			t.Errorf("no %s fault was injected", m)
		}
	}
	if st.Inputs != 4 || st.InputsAccepted != 3 || st.InputsRejected != 1 || st.Clips != 3 {
		t.Fatalf("accounting: %s", st.AccountingLine())
	}
	fsxtest.Objects(t, srv, "footage", "dataset/")
	man, err := srv.GetObject("footage", "dataset/manifest.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(man.Content)), "\n") {
		var m schemas.ManifestRecord
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if seen[m.ID] {
			t.Errorf("clip %s twice in the manifest", m.ID)
		}
		seen[m.ID] = true
		for _, f := range []string{m.Clip, m.FirstFrame} {
			o, err := srv.GetObject("footage", "dataset/"+f)
			if err != nil || len(o.Content) == 0 {
				t.Errorf("%s missing or empty: %v", f, err)
			}
		}
		if m.Source == "src00.mp4" && m.Category != schemas.CategoryWalking {
			t.Errorf("sidecar lost: %+v", m)
		}
	}
	if len(seen) != 3 {
		t.Errorf("manifest has %d clips", len(seen))
	}
}
