package dataset

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// hostile are manifest lines a tampered dataset could hold: ids and paths
// that climb out of the dataset or name its other files.
var hostile = []string{
	`{"id":"../../../victim/x","clip":"clips/../../../victim/x.mp4","first_frame":"first_frames/x.png"}`,
	`{"id":"ok1","clip":"../../elsewhere/secret.mp4","first_frame":"first_frames/ok1.png"}`,
	`{"id":"ok2","clip":"/etc/passwd","first_frame":"first_frames/ok2.png"}`,
	`{"id":"ok3","clip":"clips/ok3.mp4","first_frame":"gs://bucket/x.png"}`,
	`{"id":"ok4","clip":"stats.json","first_frame":"first_frames/ok4.png"}`,
	`{"id":"a/b","clip":"clips/a/b.mp4","first_frame":"first_frames/a/b.png"}`,
	`{"id":"..","clip":"clips/...mp4","first_frame":"first_frames/...png"}`,
	`{"id":"c:\\x","clip":"clips/c.mp4"}`,
	`{"id":"nul\u0000","clip":"clips/nul.mp4","first_frame":"first_frames/nul.png"}`,
	`{"id":"good","clip":"clips/good.mp4","first_frame":"first_frames/good.png"} {"id":"trailing"}`,
	`{"id": "half a record`,
	`{"id":"good","clip":"clips/good.mp4","first_frame":"first_frames/good.png"}`,
	`{"id":"good","clip":"clips/good.mp4","first_frame":"first_frames/good.png"}`,
}

func TestParseManifestRefusesHostileRecords(t *testing.T) {
	recs, probs := ParseManifest([]byte(strings.Join(hostile, "\n")+"\n"), CheckCurated)
	if len(recs) != 1 || recs[0].ID != "good" {
		t.Fatalf("records %+v", recs)
	}
	if len(probs) != len(hostile)-1 {
		t.Fatalf("%d problems for %d bad lines: %+v", len(probs), len(hostile)-1, probs)
	}
	for _, p := range probs {
		if p.ID != "" && !SafeID(p.ID) {
			t.Errorf("problem echoes a hostile id: %+v", p)
		}
	}
	// The general check allows other layouts' paths, never an escape.
	recs, _ = ParseManifest([]byte(strings.Join(hostile, "\n")), nil)
	for _, r := range recs {
		if r.ID != "good" && r.ID != "ok4" {
			t.Errorf("CheckRecord passed %+v", r)
		}
	}
}

// TestCuratedManifestSharedIDs: with dedup off, sources holding the same
// bytes share a clip id; a version's own manifest keeps one record per
// (id, source), while the stages that name outputs by id keep the first.
func TestCuratedManifestSharedIDs(t *testing.T) {
	data := []byte(`{"id":"good","source":"a.mp4","clip":"clips/good.mp4","first_frame":"first_frames/good.png"}
{"id":"good","source":"b.mp4","clip":"clips/good.mp4","first_frame":"first_frames/good.png"}
{"id":"good","source":"b.mp4","clip":"clips/good.mp4","first_frame":"first_frames/good.png"}
`)
	if recs, probs := ParseCuratedManifest(data, CheckCurated); len(recs) != 2 || len(probs) != 1 || probs[0].Line != 3 {
		t.Errorf("curated: records %+v problems %+v", recs, probs)
	}
	if recs, probs := ParseManifest(data, CheckCurated); len(recs) != 1 || len(probs) != 2 {
		t.Errorf("by id: records %+v problems %+v", recs, probs)
	}
}

func TestParseRejects(t *testing.T) {
	data := `{"source":"a.mp4","stage":"probe","reason":"not_video"}
{"source":"../../x.mp4","stage":"probe","reason":"not_video"}
{"source":"b.mp4","clip_id":"../x","stage":"dedup","reason":"duplicate"}
not json
`
	recs, probs := ParseRejects([]byte(data))
	if len(recs) != 1 || len(probs) != 3 {
		t.Fatalf("records %+v problems %+v", recs, probs)
	}
}

// checkParsed holds for any input: every line is a record or a problem,
// and every record's files are inside the dataset root.
func checkParsed(t *testing.T, data []byte) {
	recs, probs := ParseManifest(data, CheckCurated)
	lines, _ := Lines(data)
	if len(recs)+len(probs) != len(lines) {
		t.Fatalf("%d records + %d problems for %d lines", len(recs), len(probs), len(lines))
	}
	root := "/data/VERSION=x"
	ids := map[string]bool{}
	for _, r := range recs {
		if ids[r.ID] {
			t.Fatalf("id %q twice", r.ID)
		}
		ids[r.ID] = true
		for _, p := range []string{r.Clip, r.FirstFrame, ClipPath(r.ID)} {
			j := filepath.Join(root, p)
			if !strings.HasPrefix(j, root+"/") || strings.Count(p, "/") != 1 {
				t.Fatalf("record %q names %q, outside %s", r.ID, j, root)
			}
		}
		if err := CheckCurated(r); err != nil {
			t.Fatal(err)
		}
	}
	// A version's own manifest: unique per (id, source), same path checks.
	crecs, cprobs := ParseCuratedManifest(data, CheckCurated)
	if len(crecs)+len(cprobs) != len(lines) || len(crecs) < len(recs) {
		t.Fatalf("curated: %d records + %d problems for %d lines (%d by id)", len(crecs), len(cprobs), len(lines), len(recs))
	}
	keys := map[string]bool{}
	for _, r := range crecs {
		k := r.ID + "\x00" + r.Source
		if keys[k] {
			t.Fatalf("id %q of source %q twice", r.ID, r.Source)
		}
		keys[k] = true
		if err := CheckCurated(r); err != nil {
			t.Fatal(err)
		}
	}
	rejs, rprobs := ParseRejects(data)
	if len(rejs)+len(rprobs) != len(lines) {
		t.Fatalf("%d rejects + %d problems for %d lines", len(rejs), len(rprobs), len(lines))
	}
}

// FuzzParseManifest is the manifest reader refresh (and negatives, pairs,
// eval) uses, on records with hostile ids and paths.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(strings.Join(hostile, "\n")))
	for _, l := range hostile {
		f.Add([]byte(l))
	}
	f.Add([]byte("\n\n   \n"))
	f.Add(bytes.Repeat([]byte(`{"id":"x"}`+"\n"), 3))
	f.Fuzz(func(t *testing.T, data []byte) { checkParsed(t, data) })
}
