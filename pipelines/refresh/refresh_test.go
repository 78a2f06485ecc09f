package refresh

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	// Filesystems and runners for the tests (the command imports them in main).
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	_ "realdpo/transforms/fsx/gcsfs"

	"realdpo/pipelines/curate"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/quality/testclips"
	"realdpo/transforms/synth"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func clock(ts ...string) func() time.Time {
	i := 0
	return func() time.Time {
		t, err := time.Parse(time.RFC3339, ts[min(i, len(ts)-1)])
		if err != nil {
			panic(err)
		}
		i++
		return t
	}
}

type failingDedup struct{}

func (failingDedup) Name() string { return "failing" }
func (failingDedup) Dedup(context.Context, string, []schemas.ManifestRecord) ([]schemas.ManifestRecord, []schemas.RejectRecord, error) {
	return nil, nil, errors.New("injected dedup failure")
}

func readLatest(t *testing.T, root string) string {
	t.Helper()
	v, err := dataset.ReadLatest(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readManifest(t *testing.T, dir string) map[string]schemas.ManifestRecord {
	t.Helper()
	recs, err := readJSONL[schemas.ManifestRecord](context.Background(), filepath.Join(dir, dataset.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]schemas.ManifestRecord{}
	for _, r := range recs {
		if _, dup := out[r.ID]; dup {
			t.Errorf("%s: clip %s listed twice", dir, r.ID)
		}
		out[r.ID] = r
	}
	return out
}

func bySource(man map[string]schemas.ManifestRecord) map[string][]string {
	out := map[string][]string{}
	for id, m := range man {
		out[m.Source] = append(out[m.Source], id)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// TestRefresh: a first refresh from nothing, a second with one new and one
// changed source that curates only those two and carries the rest, an
// up-to-date run that writes nothing, and a failing refresh that leaves
// LATEST where it was.
func TestRefresh(t *testing.T) {
	testclips.RequireFFmpeg(t)
	ctx := context.Background()
	in, root := t.TempDir(), t.TempDir()
	// Four distinct videos (other actions, scenes and people): lavfi test
	// footage would be one scene under colour filters, which the dedup
	// across versions rightly calls near-duplicates.
	clips := t.TempDir()
	gts, err := synth.Generate(ctx, synth.Config{Output: clips, Count: 24, Seed: 77, DefectShare: 0,
		Sizes: []synth.Size{{W: 320, H: 180}}, MinSeconds: 3, MaxSeconds: 4, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Static camera, calm actions: fast whole-body motion can
	// read as camera motion at this size, and this test is about versions.
	calm := map[string]bool{"waving": true, "drinking": true, "eating": true, "cooking": true, "cleaning": true, "yoga": true, "squats": true, "hugging": true}
	var videos []string
	for _, g := range gts {
		if g.Camera == "static" && calm[g.Action] && g.Expected[schemas.ProfileDemo].Accept {
			videos = append(videos, filepath.Join(clips, g.File))
		}
	}
	if len(videos) < 4 {
		t.Fatalf("synth gave %d usable videos", len(videos))
	}
	walk, other, third, fourth := videos[0], videos[1], videos[2], videos[3]
	cp := func(src, name string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp(walk, "a.mp4")
	os.WriteFile(filepath.Join(in, "a.json"), []byte(`{"title":"Someone walking slowly along a quiet park path","tags":["walking"]}`), 0o644)
	cp(other, "b.mp4")
	os.WriteFile(filepath.Join(in, "bad.mp4"), []byte("<html>not a video</html>"), 0o644)

	ccfg, err := untaggedConfig(in, "", schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	ccfg.Review.DedupOff = false
	cfg := Config{Curate: ccfg, DatasetRoot: root, Now: clock("2026-11-25T10:00:00Z"), Dedup: CurateDedup{Review: ccfg.Review}}

	// 1. From nothing.
	r1, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	v1 := readLatest(t, root)
	if v1 != "VERSION=20261125T100000.000Z" || r1.Report.Version != v1 || !r1.Report.FullRebuild {
		t.Fatalf("first refresh: LATEST=%q report %+v", v1, r1.Report)
	}
	if got := r1.Report.New; !slices.Equal(got, []string{"a.mp4", "b.mp4", "bad.mp4"}) || r1.Report.Carried != 0 {
		t.Fatalf("first refresh new=%v carried=%d", got, r1.Report.Carried)
	}
	if st := r1.Stats; st.Inputs != 3 || st.InputsAccepted != 2 || st.InputsRejected != 1 {
		t.Fatalf("first refresh: %s %v", st.AccountingLine(), st.Decisions)
	}
	d1 := filepath.Join(root, v1)
	man1 := readManifest(t, d1)
	src1 := bySource(man1)
	if len(src1["a.mp4"]) == 0 || len(src1["b.mp4"]) == 0 {
		t.Fatalf("first version's manifest: %v", src1)
	}

	// 2. One new source (c), one changed (b gets other footage); a and the
	// rejected bad.mp4 are carried. d is a's footage again: the dedup across
	// old and new rejects it as a's duplicate.
	cp(third, "c.mp4")
	cp(walk, "d.mp4")
	cp(fourth, "b.mp4")
	cfg.Now = clock("2026-11-25T11:00:00Z")
	r2, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	v2 := readLatest(t, root)
	if v2 != "VERSION=20261125T110000.000Z" || r2.Report.Previous != v1 || r2.Report.FullRebuild {
		t.Fatalf("second refresh: LATEST=%q report %+v", v2, r2.Report)
	}
	if !slices.Equal(r2.Report.New, []string{"c.mp4", "d.mp4"}) || !slices.Equal(r2.Report.Changed, []string{"b.mp4"}) || r2.Report.Carried != 2 {
		t.Fatalf("second refresh: new=%v changed=%v carried=%d", r2.Report.New, r2.Report.Changed, r2.Report.Carried)
	}
	if st := r2.Stats; st.Inputs != 5 || st.InputsAccepted != 3 || st.InputsRejected != 2 {
		t.Fatalf("second refresh: %s", st.AccountingLine())
	}
	d2 := filepath.Join(root, v2)
	man2 := readManifest(t, d2)
	src2 := bySource(man2)
	// a is carried: the same records, and its clip is the same file (a hard
	// link into the new version), so it was not curated again.
	if !slices.Equal(src2["a.mp4"], src1["a.mp4"]) {
		t.Errorf("a.mp4 not carried: v1 %v v2 %v", src1["a.mp4"], src2["a.mp4"])
	}
	for _, id := range src2["a.mp4"] {
		if !strings.HasPrefix(man2[id].Caption, "Someone walking slowly along a quiet park path") || man2[id].Category != schemas.CategoryWalking {
			t.Errorf("carried record lost its sidecar: %+v", man2[id])
		}
		s1, _ := os.Stat(filepath.Join(d1, man1[id].Clip))
		s2, err := os.Stat(filepath.Join(d2, man2[id].Clip))
		if err != nil {
			t.Fatalf("carried clip missing: %v", err)
		}
		if s1.Sys().(*syscall.Stat_t).Ino != s2.Sys().(*syscall.Stat_t).Ino {
			t.Errorf("carried clip %s was rewritten, not carried", man2[id].Clip)
		}
		if _, err := os.Stat(filepath.Join(d2, man2[id].FirstFrame)); err != nil {
			t.Errorf("carried first frame missing: %v", err)
		}
	}
	// b changed: its old clips are gone from the new version's manifest and new ones are there.
	if len(src2["b.mp4"]) == 0 || slices.Equal(src2["b.mp4"], src1["b.mp4"]) || len(src2["c.mp4"]) == 0 {
		t.Errorf("changed/new sources not curated: v1 %v v2 %v", src1, src2)
	}
	rej2, err := readJSONL[schemas.RejectRecord](ctx, filepath.Join(d2, dataset.RejectedFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rej2) != 2 || rej2[0].Source != "bad.mp4" || rej2[0].Reason != schemas.ReasonNotVideo {
		t.Errorf("rejects not carried: %+v", rej2)
	}
	if len(rej2) == 2 && (rej2[1].Source != "d.mp4" || rej2[1].Reason != schemas.ReasonDuplicate || rej2[1].DuplicateOfSource != "a.mp4") {
		t.Errorf("d.mp4 is a's footage, want it rejected as a duplicate of a.mp4: %+v", rej2[1])
	}
	if len(src2["d.mp4"]) != 0 || r2.Report.Dedup != (CurateDedup{}).Name() {
		t.Errorf("duplicate kept: %v, dedup %q", src2["d.mp4"], r2.Report.Dedup)
	}
	states, err := readJSONL[SourceState](ctx, filepath.Join(d2, dataset.SourcesFile))
	if err != nil {
		t.Fatal(err)
	}
	curatedIn := map[string]string{}
	for _, s := range states {
		curatedIn[s.Rel] = s.Version
	}
	if curatedIn["a.mp4"] != v1 || curatedIn["bad.mp4"] != v1 || curatedIn["b.mp4"] != v2 || curatedIn["c.mp4"] != v2 || curatedIn["d.mp4"] != v2 {
		t.Errorf("sources.jsonl versions: %v", curatedIn)
	}
	// The previous version is untouched.
	if again := readManifest(t, d1); len(again) != len(man1) {
		t.Errorf("previous version changed: %d -> %d records", len(man1), len(again))
	}

	// 3. Nothing changed: no new version.
	cfg.Now = clock("2026-11-25T12:00:00Z")
	r3, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !r3.UpToDate || readLatest(t, root) != v2 {
		t.Fatalf("up-to-date refresh: %+v, LATEST %s", r3.Report, readLatest(t, root))
	}
	if _, err := os.Stat(filepath.Join(root, "VERSION=20261125T120000.000Z")); !os.IsNotExist(err) {
		t.Errorf("an up-to-date refresh wrote a version: %v", err)
	}

	// 4. A failing refresh (the dedup step fails after the pipeline ran)
	// leaves LATEST where it was.
	os.Remove(filepath.Join(in, "c.mp4"))
	cfg.Now = clock("2026-11-25T13:00:00Z")
	cfg.Dedup = failingDedup{}
	if _, err := Run(ctx, cfg); err == nil || !strings.Contains(err.Error(), "injected dedup failure") {
		t.Fatalf("failing refresh: err = %v", err)
	}
	if got := readLatest(t, root); got != v2 {
		t.Fatalf("failed refresh moved LATEST to %s", got)
	}
	latest, _ := os.ReadFile(filepath.Join(root, dataset.LatestFile))
	if string(latest) != v2+"\n" {
		t.Errorf("LATEST = %q", latest)
	}
	if left, _ := filepath.Glob(filepath.Join(root, ".LATEST.tmp-*")); len(left) > 0 {
		t.Errorf("temp pointer left: %v", left)
	}
}

// TestRefreshBadLatest: a LATEST that does not name a version is an error,
// not a fresh start that would orphan the dataset.
func TestRefreshBadLatest(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, dataset.LatestFile), []byte("../../etc\n"), 0o644)
	ccfg, _ := untaggedConfig(t.TempDir(), "", schemas.ProfileDemo)
	_, err := Run(context.Background(), Config{Curate: ccfg, DatasetRoot: root})
	if err == nil || !strings.Contains(err.Error(), "not a version name") {
		t.Fatalf("err = %v", err)
	}
}

// untaggedConfig is curate's config for these tests' footage: they test
// runners, storage, hostile names and versions, not the review stages. The
// footage has no sidecars, so untagged clips are kept as "others", and it
// is one lavfi scene under colour filters or copies of one file under many
// names, near-duplicates by construction, so dedup is off.
func untaggedConfig(in, out, profile string) (schemas.CurateConfig, error) {
	cfg, err := curate.NewConfig(in, out, profile)
	cfg.Review.KeepUntagged = true
	cfg.Review.DedupOff = true
	return cfg, err
}
