package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"realdpo/pipelines/curate"
	"realdpo/pipelines/pipetest"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/quality/testclips"
)

// TestRefreshWriteFailureFailsTheRun: a clip whose file cannot be written
// (here a directory put at its path while the run is under way) is this
// machine's fault, not the footage's. refresh fails instead of rejecting the
// source encode_failed and leaves LATEST alone, so the next refresh curates
// the source again and keeps it. (curate's own TestWriteFailureFailsTheRun
// lives with curate.)
func TestRefreshWriteFailureFailsTheRun(t *testing.T) {
	ctx := context.Background()
	in := t.TempDir()
	pipetest.GoodFootage(t, in, "good.mp4")
	// The clip ids are a function of the footage: learn them from a scratch run.
	scratch := filepath.Join(t.TempDir(), "scratch")
	cfg, err := untaggedConfig(in, scratch, schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := curate.Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	man := readManifest(t, scratch)
	if len(man) == 0 {
		t.Fatal("scratch run kept no clip")
	}
	var clipRel string
	for _, m := range man {
		clipRel = m.Clip
	}
	out := filepath.Join(t.TempDir(), "out")
	c, _ := untaggedConfig(in, "", schemas.ProfileDemo)
	target := filepath.Join(out, "VERSION=20261125T100000.000Z")
	rc := Config{Curate: c, DatasetRoot: out, Now: clock("2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z")}
	// Put in the way while the run is under way: a directory there before
	// it starts is a partial version it cleans up.
	once := false
	beforeCurate = func(dir string) {
		if dir == target && !once {
			once = true
			if err := os.MkdirAll(filepath.Join(dir, clipRel, "in-the-way"), 0o755); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { beforeCurate = nil }()
	if _, err := Run(ctx, rc); err == nil || !strings.Contains(err.Error(), clipRel) {
		t.Fatalf("run with %s blocked: err = %v", clipRel, err)
	}
	if _, rerr := os.Stat(filepath.Join(target, dataset.RejectedFile)); rerr == nil {
		rej, _ := readJSONL[schemas.RejectRecord](ctx, filepath.Join(target, dataset.RejectedFile))
		t.Errorf("the run finished and recorded rejects %+v", rej)
	}
	if _, err := os.Stat(filepath.Join(out, dataset.LatestFile)); err == nil {
		t.Fatal("a failed refresh wrote LATEST")
	}
	// With the path free again, the next run keeps the footage.
	if err := os.RemoveAll(filepath.Join(target, clipRel)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if got := bySource(readManifest(t, filepath.Join(out, readLatest(t, out)))); len(got["good.mp4"]) != len(man) {
		t.Errorf("second run kept %v, want %d clips of good.mp4", got, len(man))
	}
}

// TestRefreshRefusesHostileRecords tampers with the current version's
// manifest: a record whose id climbs out of the dataset (dedup would delete
// its "clip" outside the root) and one whose clip path points outside it
// (carrying would link that file). Refresh reads its earlier records with
// the checks negatives and pairs apply: both are refused and reported in
// refresh.json, nothing outside the root is touched or linked, and the
// source they claimed is curated again.
func TestRefreshRefusesHostileRecords(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	in, root := filepath.Join(base, "raw"), filepath.Join(base, "data", "root")
	os.MkdirAll(in, 0o755)
	pipetest.GoodFootage(t, in, "good.mp4")
	ccfg, err := untaggedConfig(in, "", schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Curate: ccfg, DatasetRoot: root, Now: clock("2026-11-25T10:00:00Z"), Dedup: CurateDedup{Review: ccfg.Review}}
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	v1 := filepath.Join(root, readLatest(t, root))
	var good schemas.ManifestRecord
	for _, m := range readManifest(t, v1) {
		good = m
	}
	// Files outside the dataset root that the tampered records name.
	victim := filepath.Join(base, "data", "victim", "x.mp4")
	secret := filepath.Join(base, "data", "elsewhere", "secret.mp4")
	for _, p := range []string{victim, secret} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("not yours"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	climb, steal := good, good
	climb.ID = "../../../victim/x"
	climb.Clip, climb.FirstFrame = "clips/"+climb.ID+".mp4", "first_frames/"+climb.ID+".png"
	steal.Clip = "../../elsewhere/secret.mp4"
	var lines []byte
	for _, r := range []schemas.ManifestRecord{climb, steal} {
		b, _ := json.Marshal(r)
		lines = append(append(lines, b...), '\n')
	}
	if err := os.WriteFile(filepath.Join(v1, dataset.ManifestFile), lines, 0o644); err != nil {
		t.Fatal(err)
	}
	// A new source, so the refresh writes a version.
	// (Flipped and hue-shifted: not a near-duplicate that dedup would drop.)
	testclips.Make(t, in, "other.mp4", testclips.Spec{Camera: "static", Subject: "moving", Dur: 4, Post: "hflip,hue=h=150:s=1.5"})
	cfg.Now = clock("2026-11-25T11:00:00Z")
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.RefusedRecords) != 2 || !slices.Contains(res.Report.Changed, "good.mp4") {
		t.Errorf("report: refused %q, changed %v", res.Report.RefusedRecords, res.Report.Changed)
	}
	for _, p := range []string{victim, secret} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if n := st.Sys().(*syscall.Stat_t).Nlink; n != 1 {
			t.Errorf("%s has %d links: linked from the dataset", p, n)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(secret), "*")); len(left) != 1 {
		t.Errorf("files beside the secret: %v", left)
	}
	v2 := filepath.Join(root, readLatest(t, root))
	man2 := readManifest(t, v2)
	for id, m := range man2 {
		if m.Clip != "clips/"+id+".mp4" || strings.Contains(id, "/") {
			t.Errorf("new manifest holds %q -> %q", id, m.Clip)
		}
	}
	if got := bySource(man2); len(got["good.mp4"]) == 0 || len(got["other.mp4"]) == 0 {
		t.Errorf("sources in the new version: %v", got)
	}
}

// TestHostileSidecars: a sidecar that is a FIFO (opening it would block
// forever), a link to /dev/zero (reading it would never end), one over the
// 1 MiB limit and one that is not JSON are each recorded on their source
// (sidecar_error in stats.json's decisions) and the run goes on; control
// and direction-changing characters in a sidecar never reach the manifest.
// refresh lists its inputs with curate's own function, so both agree.
func TestHostileSidecars(t *testing.T) {
	in := t.TempDir()
	data := pipetest.GoodClip(t)
	for _, n := range []string{"fifo", "zero", "big", "malformed", "control"} {
		if err := os.WriteFile(filepath.Join(in, n+".mp4"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(in, "fifo.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(in, "zero.json")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(in, "big.txt"), bytes.Repeat([]byte("a person walks "), 80000), 0o644)
	os.WriteFile(filepath.Join(in, "malformed.json"), []byte(`{"title": "unterminated`), 0o644)
	os.WriteFile(filepath.Join(in, "control.json"), []byte("{\"title\":\"A man\\u0000 walks\\u001b[31m\\u0007 to\\u007f the \\u202eshop\",\"tags\":[\"walking\\u0000\"]}"), 0o644)
	wantErr := map[string]string{"fifo.mp4": "regular", "zero.mp4": "regular", "big.mp4": "over", "malformed.mp4": "json"}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan struct{})
	var listed []Listed
	var err error
	go func() {
		defer close(done)
		listed, err = ListSources(ctx, in)
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("listing the inputs hangs")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range listed {
		if want, ok := wantErr[l.Rel]; ok && !strings.Contains(l.Source.SidecarError, want) {
			t.Errorf("%s: sidecar error %q, want one mentioning %q", l.Rel, l.Source.SidecarError, want)
		}
	}

	root := t.TempDir()
	ccfg, _ := untaggedConfig(in, "", schemas.ProfileDemo)
	res, err := Run(ctx, Config{Curate: ccfg, DatasetRoot: root, Now: clock("2026-11-25T10:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]schemas.InputDecision{}
	for _, d := range res.Stats.Decisions {
		got[d.Source] = d
	}
	for src, want := range wantErr {
		if !strings.Contains(got[src].SidecarError, want) {
			t.Errorf("%s: decision %+v, want its sidecar error (%q)", src, got[src], want)
		}
	}
	// (The five sources hold the same bytes, so one clip id: read the
	// records as they are, one per source.)
	man, err := readJSONL[schemas.ManifestRecord](ctx, filepath.Join(root, readLatest(t, root), dataset.ManifestFile))
	if err != nil || len(man) == 0 {
		t.Fatalf("manifest: %d records, %v", len(man), err)
	}
	for _, m := range man {
		for _, s := range append([]string{m.Title, m.Caption}, m.Tags...) {
			if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x202e }) {
				t.Errorf("%s: control characters recorded: %q", m.Source, s)
			}
		}
		if m.Source == "control.mp4" && m.Title != "A man walks[31m to the shop" {
			t.Errorf("control.mp4 title %q", m.Title)
		}
	}
}
