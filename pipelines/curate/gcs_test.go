package curate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"realdpo/pipelines/pipetest"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/fsx/fsxtest"
)

// TestCurateGCS runs the pipeline from a gs:// prefix to a gs:// prefix
// against fake-gcs-server in this process: the real storage client and
// Beam's GCS filesystem talk to it over HTTP.
func TestCurateGCS(t *testing.T) {
	data := pipetest.GoodClip(t)
	started := time.Now()
	srv := fsxtest.GCS(t, true, "footage")
	put := func(name string, content []byte) { fsxtest.Put(srv, "footage", name, content) }
	put("raw/good.mp4", data)
	put("raw/good.json", []byte(`{"title":"Someone walking in a park","tags":["walking","park"]}`))
	put("raw/day2/-i", data)
	put("raw/empty.mp4", nil)
	put("raw/page.mp4", []byte("<html>not a video</html>"))
	put("raw/page.json", []byte(`{"title":"Someone cooking","tags":["cooking"]}`)) // tagged, so it is probed (not_video)
	put("elsewhere/skip.mp4", data)                                                // outside the prefix

	st := curateDir(t, "gs://footage/raw", "gs://footage/dataset", schemas.ProfileDemo)
	// day2/-i has no sidecar: nothing to match a topic on.
	if st.Inputs != 4 || st.InputsAccepted != 1 || st.InputsRejected != 3 || st.InputsRejectedByReason[schemas.ReasonOffTopic] != 1 {
		t.Fatalf("accounting: %s (%v), want 4 = 1 + 3 with one off-topic", st.AccountingLine(), st.InputsRejectedByReason)
	}
	names := fsxtest.Objects(t, srv, "footage", "dataset/")
	for _, f := range []string{dataset.ManifestFile, dataset.RejectedFile, "stats.json", "README.md"} {
		if !names["dataset/"+f] {
			t.Errorf("missing gs://footage/dataset/%s (have %v)", f, names)
		}
	}
	obj, err := srv.GetObject("footage", "dataset/manifest.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(obj.Content)), "\n")
	if len(lines) != 1 {
		t.Fatalf("manifest has %d lines", len(lines))
	}
	for _, l := range lines {
		var m schemas.ManifestRecord
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if !names["dataset/"+m.Clip] || !names["dataset/"+m.FirstFrame] {
			t.Errorf("%s: clip or first frame not uploaded", m.ID)
		}
		if m.Source == "good.mp4" && (m.Category != schemas.CategoryWalking || m.Caption != "Someone walking in a park. Tags: walking, park.") {
			t.Errorf("sidecar lost on gs://: %+v", m)
		}
		// The clip that came back down is a real profile clip.
		clip, err := srv.GetObject("footage", "dataset/"+m.Clip)
		if err != nil {
			t.Fatal(err)
		}
		local := filepath.Join(t.TempDir(), "c.mp4")
		os.WriteFile(local, clip.Content, 0o644)
		if codec, pix, w, h, n, _ := ffprobeClip(t, local); codec != "h264" || pix != "yuv420p" || w != 96 || h != 64 || n != 17 {
			t.Errorf("%s: %s %s %dx%d %d frames", m.Clip, codec, pix, w, h, n)
		}
	}
	// Local temp copies of the objects are gone (those of this run: other
	// runs on the machine share the temp directory).
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "realdpo-curate", "src-*"))
	for _, l := range left {
		if fi, err := os.Stat(l); err == nil && !fi.ModTime().Before(started) {
			t.Errorf("local temp copy left: %s", l)
		}
	}
}
