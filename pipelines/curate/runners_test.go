package curate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	// The deprecated direct runner, for users who ask for "DirectRunner".
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	// The portable runner that talks to a job server over gRPC (Flink's and
	// Dataflow's path too).
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"

	"realdpo/pipelines/pipetest"
	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/quality/testclips"
)

// untaggedConfig is curate's config for these tests' footage: they test
// runners, storage, hostile names and versions, not the review stages. The
// footage has no sidecars, so untagged clips are kept as "others", and it
// is one lavfi scene under colour filters or copies of one file under many
// names, near-duplicates by construction, so dedup is off.
func untaggedConfig(in, out, profile string) (schemas.CurateConfig, error) {
	cfg, err := NewConfig(in, out, profile)
	cfg.Review.KeepUntagged = true
	cfg.Review.DedupOff = true
	return cfg, err
}

// TestCurateDirectRunner runs the curate pipeline on --runner=direct, the
// Go SDK's old in-process runner (deprecated; prism replaced it). It uses
// no state, timers or splittable DoFns, which direct does not support.
// (refresh's TestRefreshDirectRunner runs refresh's pipeline there.)
func TestCurateDirectRunner(t *testing.T) {
	testclips.RequireFFmpeg(t)
	pipetest.SetFlags(t, map[string]string{"runner": "direct"})
	in := t.TempDir()
	pipetest.Corpus(t, in, 2)
	cfg, err := untaggedConfig(in, filepath.Join(t.TempDir(), "out"), schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	st := curateWith(t, cfg)
	if st.Inputs != 3 || st.InputsAccepted != 2 || st.InputsRejected != 1 || st.Clips != 2 {
		t.Fatalf("direct run: %s", st.AccountingLine())
	}
}

// datasetFiles lists every file under dir (relative), split into the
// dataset's files and leftover temporaries.
func datasetFiles(t *testing.T, dir string) (files, temps []string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp") {
			temps = append(temps, rel)
		} else {
			files = append(files, rel)
		}
		return nil
	})
	slices.Sort(files)
	return files, temps
}

// sameDataset compares two curate outputs: the same files and the same
// manifest, rejects and stats, record for record.
func sameDataset(t *testing.T, want, got string) {
	t.Helper()
	wf, _ := datasetFiles(t, want)
	gf, _ := datasetFiles(t, got)
	if !slices.Equal(wf, gf) {
		t.Errorf("files differ:\nwant %v\ngot  %v", wf, gf)
	}
	for _, f := range []string{dataset.ManifestFile, dataset.RejectedFile} {
		a, err1 := os.ReadFile(filepath.Join(want, f))
		b, err2 := os.ReadFile(filepath.Join(got, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs (%v, %v)", f, err1, err2)
		}
	}
	var sa, sb schemas.CurateStats
	a, _ := os.ReadFile(filepath.Join(want, "stats.json"))
	b, _ := os.ReadFile(filepath.Join(got, "stats.json"))
	if json.Unmarshal(a, &sa) != nil || json.Unmarshal(b, &sb) != nil || sa.AccountingLine() != sb.AccountingLine() {
		t.Errorf("stats differ: %s vs %s", sa.AccountingLine(), sb.AccountingLine())
	}
}

// TestCurateKilledMidwayThenRerun SIGKILLs a curate run (a child process,
// with its ffmpeg children) once it has written its first clip, re-runs it
// on the same output and compares with an uninterrupted run: the same
// files and records, nothing duplicated or lost.
func TestCurateKilledMidwayThenRerun(t *testing.T) {
	testclips.RequireFFmpeg(t)
	in := t.TempDir()
	pipetest.Corpus(t, in, 6)
	ref, out := filepath.Join(t.TempDir(), "ref"), filepath.Join(t.TempDir(), "out")

	cfg, err := untaggedConfig(in, out, schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(cfgJSON))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(3 * time.Minute)
	killed := false
	for !killed {
		select {
		case err := <-done:
			t.Fatalf("the child finished before it could be killed (err %v): %s", err, stderr.String())
		case <-deadline:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatal("no clip written in 3 minutes")
		case <-time.After(20 * time.Millisecond):
			if m, _ := filepath.Glob(filepath.Join(out, "clips", "*.mp4")); len(m) > 0 {
				// The whole group: the child and the ffmpeg processes it started.
				if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
	}
	<-done
	if _, err := os.Stat(filepath.Join(out, "stats.json")); err == nil {
		t.Fatal("the killed run had already finished")
	}
	partial, _ := datasetFiles(t, out)
	t.Logf("killed after writing %d files", len(partial))

	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	refCfg := cfg
	refCfg.Output = ref
	if _, err := Run(context.Background(), refCfg); err != nil {
		t.Fatal(err)
	}
	sameDataset(t, ref, out)
	// The killed run may have left hidden temporaries it was writing (never
	// a dataset file: names are only renamed into place when complete); the
	// re-run's last stage removes them.
	if _, temps := datasetFiles(t, out); len(temps) > 0 {
		t.Errorf("temporaries of the killed run survive the re-run: %v", temps)
	}
}

// TestCurateUniversalPrismJobServer submits the curate pipeline with
// --runner=universal to a prism job server listening on a localhost port:
// the portable path (job service, artifact staging, a LOOPBACK worker) that
// Flink's and Dataflow's job servers take, not prism's in-process shortcut.
func TestCurateUniversalPrismJobServer(t *testing.T) {
	testclips.RequireFFmpeg(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := pipetest.FreePort(t)
	if _, err := prism.CreateJobServer(ctx, prism.Options{Port: port}); err != nil {
		t.Fatal(err)
	}
	pipetest.SetFlags(t, map[string]string{
		"runner":           "universal",
		"endpoint":         fmt.Sprintf("localhost:%d", port),
		"environment_type": "LOOPBACK",
	})
	in := t.TempDir()
	pipetest.Corpus(t, in, 2)
	cfg, err := untaggedConfig(in, filepath.Join(t.TempDir(), "out"), schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st.AccountingLine())
	if st.Inputs != 3 || st.InputsAccepted != 2 || st.InputsRejected != 1 || st.Clips < 2 {
		t.Fatalf("universal run: %s", st.AccountingLine())
	}
	man := readJSONL[schemas.ManifestRecord](t, filepath.Join(cfg.Output, dataset.ManifestFile))
	if len(man) != st.Clips {
		t.Fatalf("manifest: %d records, want %d", len(man), st.Clips)
	}
	for _, m := range man {
		if _, err := os.Stat(filepath.Join(cfg.Output, m.Clip)); err != nil {
			t.Error(err)
		}
	}
}
