package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusedCommandLines: outputs that are another stage's input (also
// through a symlink) and nonsense values are refused before anything runs,
// with one line naming the flag, and nothing is written.
func TestRefusedCommandLines(t *testing.T) {
	dir := t.TempDir()
	raw := mkdir(t, dir, "raw")
	ds := datasetWith(t, dir)
	neg := negativesRoot(t, dir)
	ps := pairSet(t, dir, 0)
	if err := os.Symlink(raw, filepath.Join(dir, "link-to-raw")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ds, filepath.Join(dir, "link-to-ds")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"curate output symlinked to its input", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "link-to-raw"), "--profile=demo"}, "inside the input"},
		{"curate output inside a symlinked input", []string{"curate", "--input=" + filepath.Join(dir, "link-to-raw"), "--output=" + filepath.Join(raw, "ds"), "--profile=demo"}, "inside the input"},
		{"refresh root inside its input", []string{"refresh", "--input=" + raw, "--dataset_root=" + filepath.Join(dir, "link-to-raw", "root"), "--profile=demo"}, "inside the input"},
		{"negatives into the dataset", []string{"negatives", "--dataset=" + ds, "--output=" + ds}, "--output"},
		{"negatives into a symlinked dataset", []string{"negatives", "--dataset=" + ds, "--output=" + filepath.Join(dir, "link-to-ds", "neg")}, "inside --dataset"},
		{"pairs into the negatives", []string{"pairs", "--dataset=" + ds, "--negatives=" + neg, "--output=" + filepath.Join(neg, "pairs")}, "inside --negatives"},
		{"train into the pair set", []string{"train", "--pairs=" + ps, "--output=" + ps}, "inside --pairs"},
		{"eval into the dataset", []string{"eval", "--dataset=" + ds, "--output=" + filepath.Join(ds, "eval")}, "inside --dataset"},
		{"synth negative lengths", []string{"synth", "--output=" + filepath.Join(dir, "s"), "--min_seconds=-3", "--max_seconds=-1"}, "--min_seconds=-3"},
		{"curate negative max_bytes", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c1"), "--max_bytes=-1"}, "--max_bytes=-1"},
		{"curate negative max_dimension", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c2"), "--max_dimension=-1"}, "--max_dimension=-1"},
		{"curate negative max_duration", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c3"), "--max_duration=-1"}, "--max_duration=-1"},
		{"curate negative max_clips_per_shot", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c4"), "--max_clips_per_shot=-1"}, "--max_clips_per_shot=-1"},
		{"curate negative ffmpeg_threads", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c5"), "--ffmpeg_threads=-4"}, "--ffmpeg_threads=-4"},
		{"curate zero decode_timeout", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c6"), "--decode_timeout=0s"}, "--decode_timeout=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := listTree(t, dir)
			_, stderr, code := realdpo(t, nil, c.args...)
			if code == 0 {
				t.Fatalf("accepted:\n%s", stderr)
			}
			if line := errorLine(t, c.args[0], stderr); !strings.Contains(line, c.want) {
				t.Errorf("%q lacks %q", line, c.want)
			}
			if after := listTree(t, dir); after != before {
				t.Errorf("files written:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func listTree(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			names = append(names, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return strings.Join(names, " ")
}
