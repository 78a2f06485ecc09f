package reflayout

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const demo = "../../../shared/testdata/realdpo_demo"

func TestImportDemo(t *testing.T) {
	if _, err := os.Stat(demo); err != nil {
		t.Skipf("reference demo data not found at %s (needs ../shared): %v", demo, err)
	}
	ctx := context.Background()
	if !IsLayout(ctx, demo) {
		t.Fatal("demo not recognised as the reference layout")
	}
	got, probs, err := Import(ctx, demo)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 0 || len(got) != 1 {
		t.Fatalf("samples %+v, problems %+v", got, probs)
	}
	s := got[0]
	if s.ID != "4873105" || s.Video != "videos/4873105.mp4" || !strings.Contains(s.Caption, "pizza") {
		t.Fatalf("sample %+v", s)
	}
	want := []string{"negative_samples/4873105/0.mp4", "negative_samples/4873105/1.mp4", "negative_samples/4873105/2.mp4"}
	if strings.Join(s.Negs, ",") != strings.Join(want, ",") {
		t.Fatalf("negatives %v", s.Negs)
	}
}

func write(t *testing.T, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportProblems(t *testing.T) {
	root := t.TempDir()
	write(t, root, PromptFile, "good one\r\nescape\nabsolute\nmissing\n\ngap\ndup\n")
	write(t, root, VideoFile, "videos/a.mp4\n../x/b.mp4\n/etc/c.mp4\nvideos/d.mp4\nvideos/e.mp4\n./videos/f.mp4\nvideos/a.mp4\n")
	write(t, root, "videos/a.mp4", "v")
	write(t, root, "videos/e.mp4", "v")
	write(t, root, "videos/f.mp4", "v")
	for _, n := range []string{"a/0.mp4", "a/1.mp4", "f/0.mp4", "f/2.mp4", "f/x.mp4"} {
		write(t, root, NegativesDir+"/"+n, "n")
	}
	got, probs, err := Import(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a" || len(got[0].Negs) != 2 || got[1].ID != "f" || len(got[1].Negs) != 1 {
		t.Fatalf("samples %+v", got)
	}
	reasons := map[int]string{}
	for _, p := range probs {
		reasons[p.Line] = p.Reason
	}
	for line, want := range map[int]string{2: "climbs out", 3: "absolute", 4: "missing", 5: "empty caption", 6: "index 1 is missing", 7: "already on line 1"} {
		if !strings.Contains(reasons[line], want) {
			t.Errorf("line %d: reason %q, want %q", line, reasons[line], want)
		}
	}
	write(t, root, PromptFile, "one\n")
	if _, _, err := Import(context.Background(), root); err == nil || !strings.Contains(err.Error(), "lines") {
		t.Fatalf("mismatched lists: %v", err)
	}
}

func TestLists(t *testing.T) {
	p, v := Lists([]Entry{{"a", "two\nlines  here "}, {"b", "x"}})
	if string(p) != "two lines here\nx\n" || string(v) != "videos/a.mp4\nvideos/b.mp4\n" {
		t.Fatalf("%q %q", p, v)
	}
	if NegativePath("a", 2) != "negative_samples/a/2.mp4" {
		t.Fatal(NegativePath("a", 2))
	}
}
