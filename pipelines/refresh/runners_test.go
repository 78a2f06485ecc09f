package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	// The portable runner that talks to a job server over gRPC (Flink's and
	// Dataflow's path too).
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"

	"realdpo/pipelines/curate"
	"realdpo/schemas"
	"realdpo/transforms/quality/testclips"
)

// childEnv makes the test binary run one curation (the JSON config in the
// variable) and exit: the process the kill test SIGKILLs.
const childEnv = "REALDPO_REFRESH_TEST_CHILD"

func runChild(cfgJSON string) int {
	flag.Parse()
	beam.Init()
	var cfg schemas.CurateConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := curate.Run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// corpus writes n distinct good demo-profile sources and one bad one.
func corpus(t *testing.T, dir string, n int) {
	t.Helper()
	hues := []string{"hue=h=0", "hflip,hue=h=90:s=1.3", "negate", "hue=h=200:s=1.6", "vflip", "hflip,negate"}
	for i := 0; i < n; i++ {
		testclips.Make(t, dir, fmt.Sprintf("src%02d.mp4", i), testclips.Spec{Camera: "static", Subject: "moving", Dur: 3, Post: hues[i%len(hues)]})
	}
	os.WriteFile(filepath.Join(dir, "notes.mp4"), []byte("not a video"), 0o644)
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
	for _, f := range []string{"manifest.jsonl", "rejected.jsonl"} {
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
	corpus(t, in, 6)
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

	if _, err := curate.Run(context.Background(), cfg); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	refCfg := cfg
	refCfg.Output = ref
	if _, err := curate.Run(context.Background(), refCfg); err != nil {
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

// freePort asks the kernel for an unused localhost port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// setFlags sets Beam's flags for one test and restores them after.
func setFlags(t *testing.T, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		f := flag.Lookup(k)
		if f == nil {
			t.Fatalf("no flag --%s", k)
		}
		old := f.Value.String()
		if err := flag.Set(k, v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { flag.Set(k, old) })
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
	port := freePort(t)
	if _, err := prism.CreateJobServer(ctx, prism.Options{Port: port}); err != nil {
		t.Fatal(err)
	}
	setFlags(t, map[string]string{
		"runner":           "universal",
		"endpoint":         fmt.Sprintf("localhost:%d", port),
		"environment_type": "LOOPBACK",
	})
	in := t.TempDir()
	corpus(t, in, 2)
	cfg, err := untaggedConfig(in, filepath.Join(t.TempDir(), "out"), schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := curate.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st.AccountingLine())
	if st.Inputs != 3 || st.InputsAccepted != 2 || st.InputsRejected != 1 || st.Clips < 2 {
		t.Fatalf("universal run: %s", st.AccountingLine())
	}
	man, err := readJSONL[schemas.ManifestRecord](ctx, filepath.Join(cfg.Output, "manifest.jsonl"))
	if err != nil || len(man) != st.Clips {
		t.Fatalf("manifest: %d records, %v", len(man), err)
	}
	for _, m := range man {
		if _, err := os.Stat(filepath.Join(cfg.Output, m.Clip)); err != nil {
			t.Error(err)
		}
	}
}
