package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusedCommandLines: outputs that are another stage's input (also
// through a symlink) and nonsense values are refused before anything runs,
// with one line naming the flag (stages validate Config fields; the command
// maps them to its flags), and nothing is written.
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
		// Each stage validates its Config by field; the command names the flag.
		{"curate unknown captioner", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c7"), "--captioner=oracle"}, `--captioner="oracle"`},
		{"curate vlm frames", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c8"), "--captioner=vlm", "--vlm_base_url=http://127.0.0.1:9/v1", "--vlm_model=m", "--vlm_frames=0"}, "--vlm_frames=0"},
		{"curate dedup bands", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c9"), "--dedup_bands=3"}, "--dedup_bands=3"},
		{"curate luma bounds", []string{"curate", "--input=" + raw, "--output=" + filepath.Join(dir, "c10"), "--min_luma=200", "--max_luma=100"}, "--min_luma=200 must be below --max_luma=100"},
		{"train sft weight", []string{"train", "--pairs=" + ps, "--output=" + filepath.Join(dir, "t3"), "--sft_weight=-1"}, "--sft_weight -1"},
		{"refresh without a root", []string{"refresh", "--input=" + raw}, "--dataset_root is required"},
		{"negatives per clip", []string{"negatives", "--dataset=" + ds, "--output=" + filepath.Join(dir, "n1"), "--per_clip=0"}, "--per_clip 0"},
		{"negatives bad service", []string{"negatives", "--dataset=" + ds, "--output=" + filepath.Join(dir, "n2"), "--generator_url=ftp://x"}, "--generator_url"},
		{"pairs per pair", []string{"pairs", "--dataset=" + ds, "--negatives=" + neg, "--output=" + filepath.Join(dir, "p1"), "--negatives_per_pair=0"}, "--negatives_per_pair 0"},
		{"train objective", []string{"train", "--pairs=" + ps, "--output=" + filepath.Join(dir, "t1"), "--objective=ppo"}, `--objective "ppo"`},
		{"train dpo settings", []string{"train", "--pairs=" + ps, "--output=" + filepath.Join(dir, "t2"), "--beta=0"}, "--beta 0 must be positive"},
		{"eval steps", []string{"eval", "--dataset=" + ds, "--output=" + filepath.Join(dir, "e1"), "--steps=0"}, "--steps 0"},
		{"eval reference", []string{"eval", "--dataset=" + ds, "--output=" + filepath.Join(dir, "e2"), "--reference=nobody"}, "--reference nobody is not one of --models"},
		{"experiment heldout", []string{"experiment", "--dataset=" + ds, "--output=" + filepath.Join(dir, "x1")}, "--heldout is required"},
		{"experiment seeds", []string{"experiment", "--dataset=" + ds, "--heldout=" + raw, "--output=" + filepath.Join(dir, "x2"), "--seeds=,"}, "--seeds"},
		{"pretrain holdout", []string{"pretrain", "--dataset=" + ds, "--output=" + filepath.Join(dir, "m.safetensors"), "--holdout=2"}, "--holdout 2"},
		{"synth frame rates", []string{"synth", "--output=" + filepath.Join(dir, "s2"), "--fps=fast"}, "--fps"},
		{"synth defects", []string{"synth", "--output=" + filepath.Join(dir, "s3"), "--defects=blur,gremlins"}, `--defects names an unknown defect "gremlins"`},
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
