package pairs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"realdpo/pipelines/curate"
	"realdpo/pipelines/negatives"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/fsx/fsxtest"
	"realdpo/transforms/generate"
	"realdpo/transforms/media"
	"realdpo/transforms/pairing"
	"realdpo/transforms/reflayout"
	"realdpo/transforms/shards"
	"realdpo/transforms/synth"
)

// killChildEnv makes the test binary run one pairs pipeline (its JSON
// config) slowly, so the kill test can SIGKILL it between shards.
const killChildEnv = "REALDPO_PAIRS_KILL_CHILD"

// Test settings: few DDIM steps keep the tiny model quick.
const (
	testSteps    = 2
	testGuidance = 6.0
	testPerClip  = 2
)

var fixtureRoot string

func TestMain(m *testing.M) {
	if cfg := os.Getenv(killChildEnv); cfg != "" {
		os.Exit(runKillChild(cfg))
	}
	code := ptest.MainRet(m)
	if fixtureRoot != "" {
		os.RemoveAll(fixtureRoot)
	}
	os.Exit(code)
}

func runKillChild(cfgJSON string) int {
	flag.Parse()
	beam.Init()
	var c Config
	if err := json.Unmarshal([]byte(cfgJSON), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pairing.AfterShardWritten = func(int) { time.Sleep(1500 * time.Millisecond) }
	if _, err := Run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fixture is synth footage curated with the demo profile and its
// negatives from the built-in tiny model, made once per test binary.
type fixture struct {
	Dataset, Negatives string
	Clips              []schemas.ManifestRecord
	NegStats           schemas.NegativesStats
}

var (
	fxOnce sync.Once
	fx     fixture
	fxErr  error
)

func requireTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func getFixture(t testing.TB) fixture {
	t.Helper()
	requireTools(t)
	fxOnce.Do(func() {
		ctx := context.Background()
		root, err := os.MkdirTemp("", "realdpo-pairs-fixture-")
		if err != nil {
			fxErr = err
			return
		}
		fixtureRoot = root
		raw, ds, neg := filepath.Join(root, "raw"), filepath.Join(root, "dataset"), filepath.Join(root, "negatives")
		if _, err := synth.Generate(ctx, synth.Config{Output: raw, Count: 4, Seed: 606, DefectShare: 0,
			Sizes: []synth.Size{{W: 256, H: 144}}, FPS: []float64{24}, MinSeconds: 4, MaxSeconds: 5, Workers: 1}); err != nil {
			fxErr = fmt.Errorf("synth: %w", err)
			return
		}
		cfg, err := curate.NewConfig(raw, ds, schemas.ProfileDemo)
		if err != nil {
			fxErr = err
			return
		}
		if _, err := curate.Run(ctx, cfg); err != nil {
			fxErr = fmt.Errorf("curate: %w", err)
			return
		}
		fx.Dataset, fx.Negatives = ds, neg
		fx.Clips = readJSONL[schemas.ManifestRecord](t, filepath.Join(ds, dataset.ManifestFile))
		if len(fx.Clips) < 3 {
			fxErr = fmt.Errorf("curate kept %d clips, the tests need 3", len(fx.Clips))
			return
		}
		nc := negatives.DefaultConfig(ds, neg)
		nc.PerClip, nc.Steps, nc.Guidance = testPerClip, testSteps, testGuidance
		fx.NegStats, fxErr = negatives.Run(ctx, nc)
	})
	if fxErr != nil {
		t.Fatal(fxErr)
	}
	return fx
}

func readJSONL[T any](t testing.TB, path string) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := dataset.Lines(data)
	var out []T
	for _, l := range lines {
		var v T
		if err := json.Unmarshal(l, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

func demoSpec() generate.Spec {
	p := schemas.Profiles[schemas.ProfileDemo]
	return generate.Spec{Frames: p.Frames, Width: p.Width, Height: p.Height, FPS: p.FPS}
}

// checkMP4 writes a member to disk and probes it against the spec.
func checkMP4(t *testing.T, what string, data []byte, spec generate.Spec) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.mp4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := generate.CheckVideo(context.Background(), p, spec)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if info.Codec != "h264" {
		t.Fatalf("%s: codec %s", what, info.Codec)
	}
	// Decode every frame, not just the header.
	fr, err := media.OpenFrames(context.Background(), p, media.DecodeOptions{Width: spec.Width, Height: spec.Height})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer fr.Close()
	buf := make([]byte, fr.FrameSize())
	n := 0
	for fr.Next(buf) == nil {
		n++
	}
	if n != spec.Frames {
		t.Fatalf("%s: decoded %d frames, want %d", what, n, spec.Frames)
	}
}

func TestNegativesEndToEndAndResume(t *testing.T) {
	f := getFixture(t)
	st := f.NegStats
	if st.Clips != len(f.Clips) || st.Negatives != len(f.Clips)*testPerClip || st.Failures != 0 {
		t.Fatalf("stats %+v for %d clips", st, len(f.Clips))
	}
	if st.Generator != "local" || !strings.HasPrefix(st.GeneratorID, "local/base@") || st.Steps != testSteps || st.Guidance != testGuidance {
		t.Fatalf("stats %+v", st)
	}
	recs := readJSONL[schemas.NegativeRecord](t, filepath.Join(f.Negatives, generate.NegativesFile))
	if len(recs) != st.Negatives {
		t.Fatalf("%d records, stats say %d", len(recs), st.Negatives)
	}
	mtimes := map[string]time.Time{}
	for i, r := range recs {
		if i > 0 && (recs[i-1].ClipID > r.ClipID || recs[i-1].ClipID == r.ClipID && recs[i-1].Index >= r.Index) {
			t.Fatal("negatives.jsonl is not sorted")
		}
		if r.Seed != generate.Seed(r.ClipID, r.Index, r.GeneratorID) || r.Path != generate.NegativePath(r.ClipID, r.Index) {
			t.Fatalf("record %+v", r)
		}
		p := filepath.Join(f.Negatives, r.Path)
		data, err := os.ReadFile(p)
		if err != nil || sha256Hex(data) != r.SHA256 || int64(len(data)) != r.Bytes {
			t.Fatalf("%s does not match its record: %v", r.Path, err)
		}
		checkMP4(t, r.Path, data, demoSpec())
		fi, _ := os.Stat(p)
		mtimes[p] = fi.ModTime()
	}
	// A second run finds every output and regenerates nothing.
	before, _ := os.ReadFile(filepath.Join(f.Negatives, generate.NegativesFile))
	c := negatives.DefaultConfig(f.Dataset, f.Negatives)
	c.PerClip, c.Steps, c.Guidance = testPerClip, testSteps, testGuidance
	st2, err := negatives.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(f.Negatives, generate.NegativesFile))
	if !bytes.Equal(before, after) || st2.Negatives != st.Negatives {
		t.Fatal("the resumed run changed negatives.jsonl")
	}
	for p, m := range mtimes {
		if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(m) {
			t.Fatalf("%s was rewritten on resume", p)
		}
	}
}

func pairsConfig(ds, neg, out string) Config {
	c := DefaultConfig(ds, neg, out)
	c.NegativesPerPair = testPerClip
	// Tiny shards: one demo pair each (a shard never holds less than a
	// pair), so the plan has as many shards as pairs whatever the encoder
	// makes of the videos.
	c.TargetShardMB = 0.001
	c.LoaderWorkers = 1
	return c
}

func TestPairsEndToEnd(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	out := t.TempDir()
	res, err := Run(ctx, pairsConfig(f.Dataset, f.Negatives, out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Layout != pairing.LayoutCurate || res.Pairs != len(f.Clips) || res.Unpaired != 0 || res.Issues != 0 || res.Shards < 2 {
		t.Fatalf("result %+v for %d clips", res, len(f.Clips))
	}
	seen := map[string]bool{}
	var goNames []string
	err = shards.Walk(ctx, out, shards.ReaderOptions{}, func(shard string, p *shards.PreferencePair) error {
		if seen[p.Meta.ClipID] {
			t.Fatalf("pair %s twice", p.Meta.ClipID)
		}
		seen[p.Meta.ClipID] = true
		checkMP4(t, p.Key+" chosen", p.Chosen, demoSpec())
		if len(p.Rejected) != testPerClip {
			t.Fatalf("pair %s: %d rejected", p.Key, len(p.Rejected))
		}
		for i, r := range p.Rejected {
			checkMP4(t, fmt.Sprintf("%s rejected %d", p.Key, i), r, demoSpec())
			if p.Meta.Rejected[i].Seed != generate.Seed(p.Meta.ClipID, p.Meta.Rejected[i].Index, p.Meta.Rejected[i].GeneratorID) {
				t.Fatalf("pair %s: provenance %+v", p.Key, p.Meta.Rejected[i])
			}
		}
		img, err := png.Decode(bytes.NewReader(p.FirstFrame))
		if err != nil || img.Bounds().Dx() != 96 || img.Bounds().Dy() != 64 {
			t.Fatalf("pair %s: first frame: %v", p.Key, err)
		}
		if strings.TrimSpace(p.Caption) == "" || p.Meta.Origin != pairing.LayoutCurate || p.Meta.Scores == nil {
			t.Fatalf("pair %s: meta %+v", p.Key, p.Meta)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(f.Clips) {
		t.Fatalf("walked %d pairs, want %d", len(seen), len(f.Clips))
	}
	ix, _ := shards.ReadIndex(ctx, out)
	for _, e := range ix.Shards {
		p := filepath.Join(out, e.Shard)
		// The standard tools list every member, in the writer's order.
		tv, err := exec.Command("tar", "-tvf", p).CombinedOutput()
		if err != nil {
			t.Fatalf("tar -tvf %s: %v\n%s", e.Shard, err, tv)
		}
		tn, err := exec.Command("tar", "-tf", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		gnu := strings.Fields(string(tn))
		py, err := exec.Command("python3", "-c", "import sys, tarfile\nwith tarfile.open(sys.argv[1]) as t:\n  for m in t.getmembers():\n    assert m.isfile(), m.name\n    print(m.name)", p).CombinedOutput()
		if err != nil {
			t.Fatalf("python3 tarfile %s: %v\n%s", e.Shard, err, py)
		}
		if strings.Join(strings.Fields(string(py)), " ") != strings.Join(gnu, " ") || len(gnu) != e.Count*(4+testPerClip) {
			t.Fatalf("%s: tar lists %v, python %s", e.Shard, gnu, py)
		}
		goNames = append(goNames, gnu...)
		var st schemas.ShardStats
		data, err := os.ReadFile(filepath.Join(out, strings.TrimSuffix(e.Shard, ".tar")+".stats.json"))
		if err != nil || json.Unmarshal(data, &st) != nil || st.SHA256 != e.SHA256 || st.Count != e.Count {
			t.Fatalf("%s: stats %+v (%v)", e.Shard, st, err)
		}
	}
	if len(goNames) != len(f.Clips)*(4+testPerClip) {
		t.Fatalf("%d members in all", len(goNames))
	}

	// Export the reference layout, then import it again.
	exp := t.TempDir()
	ec := pairsConfig(f.Dataset, f.Negatives, exp)
	ec.Export = pairing.ExportRealDPO
	eres, err := Run(ctx, ec)
	if err != nil {
		t.Fatal(err)
	}
	if eres.Pairs != len(f.Clips) || !reflayout.IsLayout(ctx, exp) {
		t.Fatalf("export %+v", eres)
	}
	imp := t.TempDir()
	ires, err := Run(ctx, pairsConfig(exp, "", imp))
	if err != nil {
		t.Fatal(err)
	}
	if ires.Layout != pairing.LayoutRealDPO || ires.Pairs != len(f.Clips) || ires.Issues != 0 {
		t.Fatalf("import %+v", ires)
	}
	err = shards.Walk(ctx, imp, shards.ReaderOptions{}, func(_ string, p *shards.PreferencePair) error {
		if p.Meta.Origin != pairing.LayoutRealDPO || !seen[p.Meta.ClipID] || p.Meta.Frames != 17 || len(p.Rejected) != testPerClip {
			t.Fatalf("imported pair %+v", p.Meta)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

func TestBrokenInputs(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	ds, neg := t.TempDir(), t.TempDir()
	copyDir(t, f.Dataset, ds)
	copyDir(t, f.Negatives, neg)
	ids := make([]string, len(f.Clips))
	for i, c := range f.Clips {
		ids[i] = c.ID
	}
	sort.Strings(ids)
	a, b, c := ids[0], ids[1], ids[2]
	orig, _ := os.ReadFile(filepath.Join(neg, generate.NegativePath(a, 0)))
	// A: negative 0 missing. B: negative 1 empty. C: both missing.
	os.Remove(filepath.Join(neg, generate.NegativePath(a, 0)))
	os.WriteFile(filepath.Join(neg, generate.NegativePath(b, 1)), nil, 0o644)
	os.Remove(filepath.Join(neg, generate.NegativePath(c, 0)))
	os.Remove(filepath.Join(neg, generate.NegativePath(c, 1)))
	// A manifest line that does not parse, and a negative of no clip.
	appendLine(t, filepath.Join(ds, dataset.ManifestFile), `{"id": "half a record`)
	ghost, _ := json.Marshal(schemas.NegativeRecord{ClipID: "ghost", Index: 0, Path: generate.NegativePath("ghost", 0)})
	appendLine(t, filepath.Join(neg, generate.NegativesFile), string(ghost))

	out := t.TempDir()
	pc := pairsConfig(ds, neg, out)
	pc.NegativesPerPair = 1
	res, err := Run(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	issues := readJSONL[schemas.PairIssue](t, filepath.Join(out, pairing.ReportFile))
	got := map[string]schemas.PairIssue{}
	for _, is := range issues {
		got[is.ClipID+"/"+is.Reason] = is
	}
	want := map[string]bool{ // key -> paired
		a + "/" + schemas.PairReasonBrokenNegative:  true,
		b + "/" + schemas.PairReasonBrokenNegative:  true,
		c + "/" + schemas.PairReasonTooFewNegatives: false,
		"/" + schemas.PairReasonBadRecord:           false,
		"ghost/" + schemas.PairReasonOrphanNegative: false,
	}
	if len(issues) != len(want) {
		t.Errorf("issues %+v", issues)
	}
	for k, paired := range want {
		is, ok := got[k]
		if !ok || is.Paired != paired {
			t.Errorf("issue %s: got %+v, want paired=%v", k, is, paired)
		}
	}
	if got[a+"/"+schemas.PairReasonBrokenNegative].Indices[0] != 0 || got[b+"/"+schemas.PairReasonBrokenNegative].Indices[0] != 1 {
		t.Errorf("indices %+v", issues)
	}
	// Every manifest line is a pair or reported: nothing else lost.
	if res.Pairs != len(f.Clips)-1 || res.Unpaired != 2 || res.Pairs+res.Unpaired != len(f.Clips)+1 {
		t.Fatalf("result %+v for %d clips + 1 bad line", res, len(f.Clips))
	}
	n := 0
	if err := shards.Walk(ctx, out, shards.ReaderOptions{}, func(string, *shards.PreferencePair) error { n++; return nil }); err != nil || n != res.Pairs {
		t.Fatalf("walk: %d pairs, %v", n, err)
	}

	// The negatives stage records the bad line, regenerates the missing and
	// empty files (the same bytes: seeds are deterministic) and loses nothing.
	nc := negatives.DefaultConfig(ds, neg)
	nc.PerClip, nc.Steps, nc.Guidance = testPerClip, testSteps, testGuidance
	st, err := negatives.Run(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if st.Clips != len(f.Clips) || st.Negatives != len(f.Clips)*testPerClip || st.Failures != 1 || st.ByReason[schemas.NegReasonBadManifest] != 1 {
		t.Fatalf("stats %+v", st)
	}
	fails := readJSONL[schemas.NegativeFailure](t, filepath.Join(neg, generate.NegativesFailedFile))
	if len(fails) != 1 || !strings.Contains(fails[0].Detail, "line") {
		t.Fatalf("failures %+v", fails)
	}
	again, err := os.ReadFile(filepath.Join(neg, generate.NegativePath(a, 0)))
	if err != nil || !bytes.Equal(again, orig) {
		t.Fatalf("regenerated negative differs from the first run's (%v)", err)
	}
}

func appendLine(t *testing.T, p, line string) {
	t.Helper()
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(fh, line)
	fh.Close()
}

func TestPairsKilledMidwayThenRerun(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	ref, out := t.TempDir(), t.TempDir()
	if _, err := Run(ctx, pairsConfig(f.Dataset, f.Negatives, ref)); err != nil {
		t.Fatal(err)
	}
	refIx, err := shards.ReadIndex(ctx, ref)
	if err != nil || len(refIx.Shards) < 3 {
		t.Fatalf("reference index %+v (%v): the test needs 3 shards", refIx, err)
	}
	cfgJSON, _ := json.Marshal(pairsConfig(f.Dataset, f.Negatives, out))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+string(cfgJSON))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	first := filepath.Join(out, "pairs-*.stats.json")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if m, _ := filepath.Glob(first); len(m) > 0 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("child ended before writing a shard: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no shard after 5 minutes")
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	if _, err := os.Stat(filepath.Join(out, shards.IndexFile)); err == nil {
		t.Fatal("the killed run got as far as index.json: not midway")
	}
	statsAtKill, _ := filepath.Glob(filepath.Join(out, "pairs-*.stats.json"))
	if len(statsAtKill) >= len(refIx.Shards) {
		t.Fatalf("all %d shards were written before the kill", len(statsAtKill))
	}
	kept := map[string]time.Time{}
	for _, s := range statsAtKill {
		tarPath := strings.TrimSuffix(s, ".stats.json") + ".tar"
		if fi, err := os.Stat(tarPath); err == nil {
			kept[tarPath] = fi.ModTime()
		}
	}
	t.Logf("killed with %d of %d shards written", len(statsAtKill), len(refIx.Shards))

	res, err := Run(ctx, pairsConfig(f.Dataset, f.Negatives, out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Pairs != len(f.Clips) {
		t.Fatalf("rerun %+v", res)
	}
	want, got := fsxtest.ReadDir(t, ref), fsxtest.ReadDir(t, out)
	if len(want) != len(got) {
		var names []string
		for n := range got {
			names = append(names, n)
		}
		t.Fatalf("rerun left %v, want %d files", names, len(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs from an uninterrupted run's", name)
		}
	}
	for p, m := range kept {
		if fi, err := os.Stat(p); err != nil || !fi.ModTime().Equal(m) {
			t.Errorf("%s was complete before the kill but was rewritten", filepath.Base(p))
		}
	}
	n := 0
	keys := map[string]bool{}
	if err := shards.Walk(ctx, out, shards.ReaderOptions{}, func(_ string, p *shards.PreferencePair) error {
		n++
		keys[p.Key] = true
		return nil
	}); err != nil || n != len(f.Clips) || len(keys) != n {
		t.Fatalf("walk: %d pairs, %d keys, %v", n, len(keys), err)
	}
}

func TestNegativesHTTPGenerator(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	local, err := generate.NewLocal(generate.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(generate.Handler(local))
	defer srv.Close()
	out := t.TempDir()
	c := negatives.DefaultConfig(f.Dataset, out)
	c.PerClip, c.Steps, c.Guidance = 1, testSteps, testGuidance
	c.GeneratorURL = srv.URL
	st, err := negatives.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Negatives != len(f.Clips) || st.Failures != 0 || st.Generator != "http" || st.GeneratorID != local.Info().ID {
		t.Fatalf("stats %+v", st)
	}
	// The service runs the same model with the same seeds: the same videos.
	localRecs := map[string]schemas.NegativeRecord{}
	for _, r := range readJSONL[schemas.NegativeRecord](t, filepath.Join(f.Negatives, generate.NegativesFile)) {
		localRecs[fmt.Sprintf("%s/%d", r.ClipID, r.Index)] = r
	}
	for _, r := range readJSONL[schemas.NegativeRecord](t, filepath.Join(out, generate.NegativesFile)) {
		l := localRecs[fmt.Sprintf("%s/%d", r.ClipID, r.Index)]
		if r.Generator != "http" || r.SHA256 != l.SHA256 || r.Seed != l.Seed {
			t.Fatalf("http record %+v, local %+v", r, l)
		}
	}
}

func TestImportReferenceDemo(t *testing.T) {
	requireTools(t)
	demo := filepath.Join("..", "..", "..", "shared", "testdata", "realdpo_demo")
	if _, err := os.Stat(filepath.Join(demo, reflayout.VideoFile)); err != nil {
		t.Skipf("shared test data absent (%v)", err)
	}
	ctx := context.Background()
	out := t.TempDir()
	c := DefaultConfig(demo, "", out)
	c.LoaderWorkers = 1
	res, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Layout != pairing.LayoutRealDPO || res.Pairs != 1 || res.Issues != 0 {
		t.Fatalf("result %+v", res)
	}
	spec := generate.Spec{Frames: 49, Width: 720, Height: 480, FPS: 8}
	err = shards.Walk(ctx, out, shards.ReaderOptions{}, func(_ string, p *shards.PreferencePair) error {
		if p.Key != "4873105" || len(p.Rejected) != 3 || !strings.Contains(p.Caption, "pizza") {
			t.Fatalf("pair %s: %d rejected, caption %q", p.Key, len(p.Rejected), p.Caption)
		}
		checkMP4(t, "chosen", p.Chosen, spec)
		for i, r := range p.Rejected {
			checkMP4(t, fmt.Sprintf("rejected %d", i), r, spec)
		}
		img, err := png.Decode(bytes.NewReader(p.FirstFrame))
		if err != nil || img.Bounds().Dx() != 720 {
			t.Fatalf("first frame: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAcceleratorHint(t *testing.T) {
	saved := jobopts.ResourceHints
	defer func() { jobopts.ResourceHints = saved }()
	jobopts.ResourceHints = nil
	h := negatives.AcceleratorHint("nvidia-l4", 2)
	if h != "type:nvidia-l4;count:2;install-nvidia-driver" || negatives.AcceleratorHint("", 1) != "" {
		t.Fatalf("hint %q", h)
	}
	negatives.ApplyAcceleratorHint(h)
	negatives.ApplyAcceleratorHint("type:other;count:1") // the first one stays
	got := jobopts.GetPipelineResourceHints().Payloads()
	if string(got["beam:resources:accelerator:v1"]) != h || len(got) != 1 {
		t.Fatalf("payloads %q", got)
	}
}

// TestPairsTooFewNegativesEverywhere is negatives --per_clip=2 followed by
// pairs --negatives_per_pair=3: no clip has enough negatives. Zero pairs is
// a finished run: the index lists no shard, every clip is reported
// too_few_negatives with its counts, the stats say so, and the summary
// names the setting that would pair them. The same in the reference
// layout export.
func TestPairsTooFewNegativesEverywhere(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	for _, export := range []string{pairing.ExportWebDataset, pairing.ExportRealDPO} {
		t.Run(export, func(t *testing.T) {
			out := t.TempDir()
			c := pairsConfig(f.Dataset, f.Negatives, out)
			c.NegativesPerPair, c.Export = testPerClip+1, export
			res, err := Run(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if res.Pairs != 0 || res.Shards != 0 || res.Unpaired != len(f.Clips) || res.Issues != len(f.Clips) {
				t.Fatalf("result %+v for %d clips", res, len(f.Clips))
			}
			for _, is := range readJSONL[schemas.PairIssue](t, filepath.Join(out, pairing.ReportFile)) {
				if is.Reason != schemas.PairReasonTooFewNegatives || is.Usable != testPerClip || is.Needed != testPerClip+1 || is.Paired {
					t.Errorf("issue %+v", is)
				}
			}
			st := res.Stats
			if st.TooFewNegatives != len(f.Clips) || st.FewestUsable != testPerClip || st.IssuesByReason[schemas.PairReasonTooFewNegatives] != len(f.Clips) {
				t.Errorf("stats %+v", st)
			}
			if want := fmt.Sprintf("--negatives_per_pair=%d", testPerClip); !strings.Contains(res.Summary(), want) {
				t.Errorf("summary %q does not suggest %s", res.Summary(), want)
			}
			if export == pairing.ExportWebDataset {
				ix, err := shards.ReadIndex(ctx, out)
				if err != nil || ix.Pairs != 0 || len(ix.Shards) != 0 || ix.Unpaired != len(f.Clips) {
					t.Errorf("index %+v (%v)", ix, err)
				}
				if m, _ := filepath.Glob(filepath.Join(out, "pairs-*")); len(m) != 0 {
					t.Errorf("shard files written: %v", m)
				}
			} else if v, err := os.ReadFile(filepath.Join(out, reflayout.VideoFile)); err != nil || len(v) != 0 {
				t.Errorf("%s: %q (%v)", reflayout.VideoFile, v, err)
			}
		})
	}
}

// TestNegativesSendTheAPIKey runs negatives against a generation service
// that requires a bearer key and, refusing a wrong one, echoes most of
// what it received in its 401 body (as some servers do). With the key in
// REALDPO_GENERATOR_API_KEY or --generator_api_key_file every request is
// authorised; with a wrong key each failure is recorded without any run of
// 8 or more of the key's characters.
func TestNegativesSendTheAPIKey(t *testing.T) {
	f := getFixture(t)
	ctx := context.Background()
	local, err := generate.NewLocal(generate.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const key = "sk-realdpo-GENERATOR-0123456789abcdefghijk"
	inner := generate.Handler(local)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if got != key {
			echo := got
			if len(echo) > 41 {
				echo = echo[:41]
			}
			http.Error(w, `{"error":"invalid api key `+echo+`..."}`, http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	wrong := "sk-realdpo-WRONGKEY-9876543210zyxwvutsrqpo"
	for _, c := range []struct {
		name, env, file string
		ok              bool
	}{
		{"env", key, "", true},
		{"file", "", keyFile, true},
		{"wrong key", wrong, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(generate.APIKeyEnv, c.env)
			out := t.TempDir()
			nc := negatives.DefaultConfig(f.Dataset, out)
			nc.PerClip, nc.Steps, nc.Guidance = 1, testSteps, testGuidance
			nc.GeneratorURL, nc.GeneratorKeyFile, nc.HTTPRetries = srv.URL, c.file, 0
			st, err := negatives.Run(ctx, nc)
			if c.ok {
				if err != nil || st.Negatives != len(f.Clips) || st.Failures != 0 {
					t.Fatalf("stats %+v, err %v", st, err)
				}
				return
			}
			// The service cannot even say what it is: the run fails, and
			// no output or error holds the key.
			var all []byte
			filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					b, _ := os.ReadFile(p)
					all = append(all, b...)
				}
				return nil
			})
			if err != nil {
				all = append(all, err.Error()...)
			}
			for i := 0; i+8 <= len(wrong); i++ {
				if bytes.Contains(all, []byte(wrong[i:i+8])) {
					t.Fatalf("%q of the key recorded: %s", wrong[i:i+8], all)
				}
			}
			if err == nil && st.Failures == 0 {
				t.Fatal("a wrong key was accepted")
			}
		})
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
