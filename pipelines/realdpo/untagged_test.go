package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"realdpo/schemas"
	"realdpo/transforms/synth"
)

// TestCurateUntaggedFootage curates clean footage without sidecars, the
// usual state of a bucket of raw video, through the command: with the
// default captioner every input must be rejected off_topic (no text)
// before it is probed or decoded, and the run must end with that reason
// and what to do about it on stderr, in stats.json and in the dataset
// card. With --keep_untagged the same footage gives clips.
func TestCurateUntaggedFootage(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (make deps)")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "raw")
	gts, err := synth.Generate(context.Background(), synth.Config{Output: in, Count: 3, Seed: 5, DefectShare: 0,
		Sizes: []synth.Size{{W: 320, H: 180}}, MinSeconds: 3, MaxSeconds: 4, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Leave only the videos.
	for _, g := range gts {
		base := strings.TrimSuffix(g.File, filepath.Ext(g.File))
		for _, side := range []string{base + ".json", base + ".txt"} {
			if err := os.Remove(filepath.Join(in, side)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
	}
	os.Remove(filepath.Join(in, synth.GroundTruthFile))

	out := filepath.Join(dir, "dataset")
	stdout, stderr, code := realdpo(t, nil, "curate", "--input="+in, "--output="+out, "--profile=demo")
	if code != 0 {
		t.Fatalf("curate exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "inputs=3 = accepted=0 + rejected=3") {
		t.Errorf("accounting line missing or wrong:\n%s", stdout)
	}
	// Every input screened before ffprobe ran: no probe facts in its record.
	data, err := os.ReadFile(filepath.Join(out, "rejected.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d reject records, want 3:\n%s", len(lines), data)
	}
	for _, l := range lines {
		var r schemas.RejectRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Stage != schemas.StageTopic || r.Reason != schemas.ReasonOffTopic || r.Candidate != -1 ||
			len(r.Failed) != 1 || r.Failed[0] != "topic_no_text" {
			t.Errorf("%s: %s/%s candidate %d failed %v, want an input-level topic/off_topic reject (topic_no_text)",
				r.Source, r.Stage, r.Reason, r.Candidate, r.Failed)
		}
		if r.SourceInfo.Codec != "" || r.SourceInfo.DurationS != 0 || r.SourceInfo.SHA256 != "" {
			t.Errorf("%s was read before it was screened: %+v", r.Source, r.SourceInfo)
		}
	}
	var st schemas.CurateStats
	data, err = os.ReadFile(filepath.Join(out, "stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if !st.LowYield || len(st.Advice) != 1 {
		t.Fatalf("stats.json: low_yield %v, advice %+v; want low yield with one reason", st.LowYield, st.Advice)
	}
	a := st.Advice[0]
	if a.Reason != schemas.ReasonOffTopic || a.Check != "topic_no_text" || a.Inputs != 3 || a.Share != 1 {
		t.Errorf("advice %+v, want off_topic (topic_no_text) for 3 inputs, share 1", a)
	}
	for _, d := range st.Decisions {
		if d.Check != "topic_no_text" {
			t.Errorf("decision %+v: want check topic_no_text", d)
		}
	}
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for where, text := range map[string]string{"stderr": stderr, "stats.json": a.Hint, "README.md": string(card)} {
		for _, want := range []string{"--captioner=vlm --vlm_base_url=", "--keep_untagged", "NAME.json"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s does not say %q:\n%s", where, want, text)
			}
		}
	}
	if !strings.Contains(stderr, "Only 0 of 3 inputs gave clips") || !strings.Contains(stderr, "off_topic (topic_no_text): 3 inputs (100%)") {
		t.Errorf("stderr lacks the reason and its count:\n%s", stderr)
	}

	// The footage itself is fine: kept untagged, it gives clips.
	out2 := filepath.Join(dir, "kept")
	stdout, stderr, code = realdpo(t, nil, "curate", "--input="+in, "--output="+out2, "--profile=demo", "--keep_untagged")
	if code != 0 {
		t.Fatalf("curate --keep_untagged exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	data, err = os.ReadFile(filepath.Join(out2, "stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	st = schemas.CurateStats{}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.InputsAccepted == 0 {
		t.Errorf("with --keep_untagged no input gave a clip: %s", st.AccountingLine())
	}
	for _, d := range st.Decisions {
		if d.Reason == schemas.ReasonOffTopic {
			t.Errorf("with --keep_untagged %s is still off_topic", d.Source)
		}
	}
	if st.LowYield != strings.Contains(stderr, "inputs gave clips") {
		t.Errorf("low_yield %v, but stderr says:\n%s", st.LowYield, stderr)
	}
}
