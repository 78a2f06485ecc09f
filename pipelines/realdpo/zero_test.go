package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/shards"
)

// zeroCase is one subcommand run on input that leaves it nothing to keep.
type zeroCase struct {
	name string
	// args builds the command line under dir (inputs written there); out
	// is where the files listed below are looked for.
	args func(t *testing.T, dir string) (args []string, out string)
	code int
	// line must appear in the summary (the last stdout line, exit 0) or in
	// the one-line error message (exit 1).
	line []string
	// files must exist under out afterwards; absent must not.
	files, absent []string
}

// TestEveryStageOnEmptyAndAllRejected runs every pipeline subcommand on an
// empty input and on an input whose every element is rejected, in a fresh
// process each, and checks the exit code, the one line that says what
// happened (a summary line on success; on failure the first line of the
// error, with no runner plan text before it) and the files written. Each
// stage's single writer runs once whatever reaches it, so a stage that
// finishes writes all its files even when they hold nothing.
func TestEveryStageOnEmptyAndAllRejected(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	curateFiles := []string{dataset.ManifestFile, dataset.RejectedFile, dataset.StatsFile, dataset.CardFile}
	negFiles := []string{"negatives.jsonl", "negatives_failed.jsonl", "negatives_stats.json"}
	pairsFiles := []string{"index.json", "pairs_report.jsonl", "pairs_stats.json"}
	cases := []zeroCase{
		{name: "curate/empty", args: func(t *testing.T, dir string) ([]string, string) {
			in, out := mkdir(t, dir, "raw"), filepath.Join(dir, "ds")
			return []string{"curate", "--input=" + in, "--output=" + out, "--profile=demo"}, out
		}, line: []string{"inputs=0 = accepted=0 + rejected=0"}, files: curateFiles},
		{name: "curate/all-rejected", args: func(t *testing.T, dir string) ([]string, string) {
			in, out := junkFootage(t, dir), filepath.Join(dir, "ds")
			return []string{"curate", "--input=" + in, "--output=" + out, "--profile=demo"}, out
		}, line: []string{"inputs=2 = accepted=0 + rejected=2"}, files: curateFiles},
		{name: "refresh/empty", args: func(t *testing.T, dir string) ([]string, string) {
			in, root := mkdir(t, dir, "raw"), filepath.Join(dir, "root")
			return []string{"refresh", "--input=" + in, "--dataset_root=" + root, "--profile=demo"}, root
		}, line: []string{"inputs=0 = accepted=0 + rejected=0"}, files: []string{"LATEST"}},
		{name: "refresh/all-rejected", args: func(t *testing.T, dir string) ([]string, string) {
			in, root := junkFootage(t, dir), filepath.Join(dir, "root")
			return []string{"refresh", "--input=" + in, "--dataset_root=" + root, "--profile=demo"}, root
		}, line: []string{"inputs=2 = accepted=0 + rejected=2"}, files: []string{"LATEST"}},
		{name: "negatives/empty", args: func(t *testing.T, dir string) ([]string, string) {
			ds, out := datasetWith(t, dir), filepath.Join(dir, "neg")
			return []string{"negatives", "--dataset=" + ds, "--output=" + out, "--steps=1"}, out
		}, line: []string{"clips=0 negatives=0 (of 0) failures=0"}, files: negFiles},
		{name: "negatives/all-rejected", args: func(t *testing.T, dir string) ([]string, string) {
			ds, out := datasetWith(t, dir, `{"id":"../escape","clip":"clips/a.mp4","first_frame":"first_frames/a.png","caption":"a person","frames":17,"fps":8,"width":96,"height":64}`,
				`{"id":"b","clip":"clips/b.mp4","caption":"a person","frames":17,"fps":8,"width":96,"height":64}`), filepath.Join(dir, "neg")
			return []string{"negatives", "--dataset=" + ds, "--output=" + out, "--steps=1"}, out
		}, line: []string{"clips=0 negatives=0 (of 0) failures=2"}, files: negFiles},
		{name: "pairs/empty", args: func(t *testing.T, dir string) ([]string, string) {
			ds, neg, out := datasetWith(t, dir), negativesRoot(t, dir), filepath.Join(dir, "pairs")
			return []string{"pairs", "--dataset=" + ds, "--negatives=" + neg, "--output=" + out}, out
		}, line: []string{"pairs=0 shards=0 issues=0 unpaired=0", "no pair formed"}, files: pairsFiles, absent: []string{"pairs-000000.tar"}},
		// The case: negatives --per_clip=2, then pairs with its
		// default --negatives_per_pair=3.
		{name: "pairs/all-rejected", args: func(t *testing.T, dir string) ([]string, string) {
			ds, neg := twoNegativesEach(t, dir, "c1", "c2")
			out := filepath.Join(dir, "pairs")
			return []string{"pairs", "--dataset=" + ds, "--negatives=" + neg, "--output=" + out}, out
		}, line: []string{"pairs=0 shards=0 issues=2 unpaired=2", "--negatives_per_pair=2"}, files: pairsFiles, absent: []string{"pairs-000000.tar"}},
		{name: "train/empty", args: func(t *testing.T, dir string) ([]string, string) {
			ps, out := pairSet(t, dir, 0), filepath.Join(dir, "run")
			return []string{"train", "--pairs=" + ps, "--output=" + out, "--steps=1"}, out
		}, code: 1, line: []string{"holds no pairs"}, absent: []string{"final.safetensors", "rejects.jsonl"}},
		{name: "train/all-rejected", args: func(t *testing.T, dir string) ([]string, string) {
			ps, out := pairSet(t, dir, 2), filepath.Join(dir, "run")
			return []string{"train", "--pairs=" + ps, "--output=" + out, "--steps=1"}, out
		}, code: 1, line: []string{"no usable pairs", "2 rejected", "rejects.jsonl"}, files: []string{"rejects.jsonl"}, absent: []string{"final.safetensors"}},
		{name: "eval/empty", args: func(t *testing.T, dir string) ([]string, string) {
			ds, out := datasetWith(t, dir), filepath.Join(dir, "eval")
			return []string{"eval", "--dataset=" + ds, "--output=" + out, "--steps=1"}, out
		}, code: 1, line: []string{"lists no usable clips"}, absent: []string{"report.json"}},
		{name: "eval/all-rejected", args: func(t *testing.T, dir string) ([]string, string) {
			ds, out := datasetWith(t, dir, `{"id":"a","clip":"clips/a.mp4","first_frame":"first_frames/a.png","caption":"a person","frames":17,"fps":8,"width":96,"height":64}`,
				`{"id":"b","clip":"clips/b.mp4","first_frame":"first_frames/b.png","caption":"a person","frames":17,"fps":8,"width":96,"height":64}`), filepath.Join(dir, "eval")
			return []string{"eval", "--dataset=" + ds, "--output=" + out, "--steps=1"}, out
		}, code: 1, line: []string{"no real clip could be decoded (2 rejects)", "report.json"}, files: []string{"report.json", "report.html"}},
		// experiment chains negatives, pairs, train and eval: no pair to train
		// on stops it at train, with train's line.
		{name: "experiment/empty", args: func(t *testing.T, dir string) ([]string, string) {
			ds, held, out := datasetWith(t, mkdir(t, dir, "train")), datasetWith(t, mkdir(t, dir, "held")), filepath.Join(dir, "exp")
			return []string{"experiment", "--dataset=" + ds, "--heldout=" + held, "--output=" + out, "--seeds=1"}, out
		}, code: 1, line: []string{"no pairs"}, absent: []string{"report.json"}},
		{name: "experiment/all-rejected", args: func(t *testing.T, dir string) ([]string, string) {
			ds := datasetWith(t, mkdir(t, dir, "train"), `{"id":"../escape","clip":"clips/a.mp4","first_frame":"first_frames/a.png","caption":"a person","frames":17,"fps":8,"width":96,"height":64}`,
				`{"id":"b","clip":"clips/b.mp4","caption":"a person","frames":17,"fps":8,"width":96,"height":64}`)
			held, out := datasetWith(t, mkdir(t, dir, "held")), filepath.Join(dir, "exp")
			return []string{"experiment", "--dataset=" + ds, "--heldout=" + held, "--output=" + out, "--seeds=1"}, out
		}, code: 1, line: []string{"no pairs"}, files: []string{"negatives/negatives_failed.jsonl"}, absent: []string{"report.json"}},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[strings.Split(c.name, "/")[0]] = true
	}
	for name, sc := range subcommands {
		if sc.UsesBeam && !covered[name] {
			t.Errorf("subcommand %s runs a pipeline but has no empty-input case here", name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args, out := c.args(t, dir)
			stdout, stderr, code := realdpo(t, nil, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			var line string
			if code == 0 {
				lines := strings.Split(strings.TrimSpace(stdout), "\n")
				line = lines[len(lines)-1]
				if c.name == "pairs/all-rejected" || c.name == "pairs/empty" {
					line = strings.Join(lines, "\n") // the counts and the advice
				}
				if strings.Contains(stderr, "level=ERROR") {
					t.Errorf("an error logged on success:\n%s", stderr)
				}
			} else {
				line = errorLine(t, args[0], stderr)
			}
			for _, want := range c.line {
				if !strings.Contains(line, want) {
					t.Errorf("%q lacks %q\nstdout:\n%s\nstderr:\n%s", line, want, stdout, stderr)
				}
			}
			for _, f := range c.files {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("%s not written: %v", f, err)
				}
			}
			for _, f := range c.absent {
				if _, err := os.Stat(filepath.Join(out, f)); err == nil {
					t.Errorf("%s written", f)
				}
			}
			t.Logf("exit %d: %s", code, line)
		})
	}
}

// errorLine is the failure message: the first line of stderr that says
// the subcommand failed, with nothing of the runner's plan before it.
func errorLine(t *testing.T, cmd, stderr string) string {
	t.Helper()
	prefix := "realdpo " + cmd + ": "
	for _, l := range strings.Split(stderr, "\n") {
		for _, plan := range []string{"Plan[", "caused by", "while executing", "DoFn[UID"} {
			if strings.Contains(l, plan) {
				t.Fatalf("runner plan text before the error message:\n%s", stderr)
			}
		}
		if strings.HasPrefix(l, prefix) {
			if len(l) > 400 {
				t.Errorf("error line is %d bytes: %s", len(l), l)
			}
			return l
		}
	}
	t.Fatalf("no %q line:\n%s", prefix, stderr)
	return ""
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(parts...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// junkFootage is raw footage that is all rejected at the probe: a
// zero-byte file and a web page, both named .mp4.
func junkFootage(t *testing.T, dir string) string {
	in := mkdir(t, dir, "raw")
	writeFile(t, filepath.Join(in, "empty.mp4"), nil)
	writeFile(t, filepath.Join(in, "page.mp4"), []byte("<!doctype html><html><body>404 Not Found</body></html>\n"))
	return in
}

// datasetWith is a curated dataset root whose manifest holds lines.
func datasetWith(t *testing.T, dir string, lines ...string) string {
	ds := mkdir(t, dir, "ds")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	writeFile(t, filepath.Join(ds, dataset.ManifestFile), []byte(b.String()))
	return ds
}

// negativesRoot is a negatives root with no record.
func negativesRoot(t *testing.T, dir string) string {
	neg := mkdir(t, dir, "neg")
	writeFile(t, filepath.Join(neg, "negatives.jsonl"), nil)
	return neg
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// twoNegativesEach is a dataset of real demo-spec clips (17 frames of
// 96x64 at 8 fps, made by ffmpeg) with two good negatives each.
func twoNegativesEach(t *testing.T, dir string, ids ...string) (ds, neg string) {
	t.Helper()
	ds, neg = mkdir(t, dir, "ds"), mkdir(t, dir, "neg")
	clip := filepath.Join(dir, "clip.mp4")
	for _, a := range [][]string{
		{"-f", "lavfi", "-i", "testsrc=size=96x64:rate=8", "-frames:v", "17", "-pix_fmt", "yuv420p", "-c:v", "libx264", clip},
		{"-i", clip, "-frames:v", "1", filepath.Join(dir, "first.png")},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, a...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", a, err, out)
		}
	}
	video, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(filepath.Join(dir, "first.png"))
	if err != nil {
		t.Fatal(err)
	}
	var man, recs bytes.Buffer
	for _, id := range ids {
		writeFile(t, filepath.Join(ds, "clips", id+".mp4"), video)
		writeFile(t, filepath.Join(ds, "first_frames", id+".png"), png)
		fmt.Fprintf(&man, `{"id":%q,"clip":"clips/%s.mp4","first_frame":"first_frames/%s.png","caption":"a person waving","frames":17,"fps":8,"width":96,"height":64}`+"\n", id, id, id)
		for k := 0; k < 2; k++ {
			rel := fmt.Sprintf("negatives/%s/%d.mp4", id, k)
			writeFile(t, filepath.Join(neg, rel), video)
			r, _ := json.Marshal(schemas.NegativeRecord{ClipID: id, Index: k, Path: rel, Seed: uint64(k), Generator: "local",
				GeneratorID: "local/test", Steps: 1, Guidance: 1, Bytes: int64(len(video)), SHA256: sha256Hex(video)})
			recs.Write(append(r, '\n'))
		}
	}
	writeFile(t, filepath.Join(ds, dataset.ManifestFile), man.Bytes())
	writeFile(t, filepath.Join(neg, "negatives.jsonl"), recs.Bytes())
	return ds, neg
}

// pairSet is a pair set of n pairs whose media are not video (every pair
// is rejected at decoding; the shard itself verifies): n = 0 is the index
// an empty pairs run writes.
func pairSet(t *testing.T, dir string, n int) string {
	t.Helper()
	root := mkdir(t, dir, "pairs")
	ix := schemas.ShardIndex{Format: schemas.ShardFormat, Negatives: 1, TargetShardMB: 512, LoaderWorkers: 1, Shards: []schemas.ShardEntry{}}
	if n > 0 {
		var buf bytes.Buffer
		w := shards.NewWriter(&buf)
		junk, first := []byte("not a video at all"), []byte("not a png either")
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("clip%d", i)
			key := shards.KeyFor(id)
			info := func(suffix string, b []byte) schemas.MemberInfo {
				return schemas.MemberInfo{Name: key + "." + suffix, Bytes: int64(len(b)), SHA256: sha256Hex(b)}
			}
			meta := schemas.PairMeta{Key: key, ClipID: id, Caption: "a person waving", Frames: 17, FPS: 8, Width: 96, Height: 64,
				Chosen: info(shards.SuffixChosen, junk), FirstFrame: info(shards.SuffixFirstFrame, first),
				Rejected: []schemas.RejectedInfo{{MemberInfo: info(shards.SuffixRejected(0), junk)}}}
			mj, _ := json.Marshal(meta)
			if err := w.WritePair(shards.Pair{Key: key, Members: []shards.Member{{Suffix: shards.SuffixChosen, Data: junk},
				{Suffix: shards.SuffixFirstFrame, Data: first}, {Suffix: shards.SuffixCaption, Data: []byte(meta.Caption)},
				{Suffix: shards.SuffixMeta, Data: mj}, {Suffix: shards.SuffixRejected(0), Data: junk}}}); err != nil {
				t.Fatal(err)
			}
		}
		count, size, sum, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, shards.ShardName(0)), buf.Bytes())
		ix.Shards = append(ix.Shards, schemas.ShardEntry{Shard: shards.ShardName(0), Count: count, Bytes: size, SHA256: sum})
		ix.Pairs, ix.Bytes = count, size
	}
	data, _ := json.MarshalIndent(ix, "", "  ")
	writeFile(t, filepath.Join(root, shards.IndexFile), data)
	return root
}

// TestDamagedShardIsOneLine: a pair set whose shard fails its checksum
// stops train with one line that names the shard, the remedy and the
// reason, before any of the runner's text.
func TestDamagedShardIsOneLine(t *testing.T) {
	dir := t.TempDir()
	ps := pairSet(t, dir, 2)
	p := filepath.Join(ps, shards.ShardName(0))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("a person waving")) // a caption: no member checksum of its own
	if i < 0 {
		t.Fatal("caption not found in the shard")
	}
	data[i] = 'A'
	writeFile(t, p, data)
	_, stderr, code := realdpo(t, nil, "train", "--pairs="+ps, "--output="+filepath.Join(dir, "run"), "--steps=1")
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	line := errorLine(t, "train", stderr)
	for _, want := range []string{shards.ShardName(0), "rerun pairs", "checksum mismatch"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	t.Log(line)
}
