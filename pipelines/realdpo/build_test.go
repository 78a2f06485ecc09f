package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// goTool is the go command of the toolchain running the test.
func goTool(t testing.TB) string {
	t.Helper()
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		if p, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to inspect the build with")
		}
	}
	return p
}

// TestBinaryDependencies keeps the worker binary lean: it links the
// runners and filesystems realdpo supports and none of the heavy packages
// it once carried without using them, and no DoFn is registered with
// register.DoFnNxM (see transforms/dofn: about 3 MB of binary each).
func TestBinaryDependencies(t *testing.T) {
	out, err := exec.Command(goTool(t), append(append([]string{"list"}, buildTags...), "-deps", ".")...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	const beam = "github.com/apache/beam/sdks/v2/go/pkg/beam/"
	for _, want := range []string{"runners/prism", "runners/universal", "runners/flink", "runners/dataflow", "runners/direct",
		"io/filesystem/local", "io/filesystem/gcs"} {
		if !deps[beam+want] {
			t.Errorf("%s is not linked: realdpo must support it", want)
		}
	}
	if !deps["realdpo/transforms/fsx/gcsfs"] {
		t.Error("realdpo/transforms/fsx/gcsfs is not linked: gs:// paths would have no backend")
	}
	for p := range deps {
		for _, banned := range []string{
			beam + "x/beamx",                             // links every runner; transforms/runner runs pipelines
			beam + "runners/dot", beam + "runners/spark", // runners realdpo does not offer
			beam + "core/runtime/exec/optimized", // generated callers for types realdpo registers itself
			"github.com/openai/openai-go",        // transforms/vlm speaks chat completions itself
		} {
			if strings.HasPrefix(p, banned) {
				t.Errorf("%s is linked", p)
			}
		}
	}
	// No DoFn registered through register.DoFnNxM, tests included.
	re := regexp.MustCompile(`register\.DoFn\d+x\d+\[`)
	err = filepath.WalkDir("../..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "out") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			if re.Match(sc.Bytes()) {
				t.Errorf("%s:%d registers a DoFn with register.DoFnNxM; use transforms/dofn", p, n)
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkColdBuild builds the release binary as `make build` does (with
// the test binary's tags: OpenBLAS through cgo under make), with
// an empty build cache of its own (the module cache stays warm: nothing is
// downloaded), and reports the CPU and wall time of the build and the
// binary's size. Targets: under 5 minutes on two cores, under 150 MB.
func BenchmarkColdBuild(b *testing.B) {
	gocmd := goTool(b)
	for i := 0; i < b.N; i++ {
		cache, bin := b.TempDir(), filepath.Join(b.TempDir(), "realdpo")
		cmd := exec.Command(gocmd, append(append([]string{"build"}, buildTags...), "-ldflags=-s -w", "-o", bin, ".")...)
		cmd.Env = append(os.Environ(), "GOCACHE="+cache)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("go build: %v\n%s", err, stderr.String())
		}
		wall := time.Since(start)
		st, err := os.Stat(bin)
		if err != nil {
			b.Fatal(err)
		}
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		mb := float64(st.Size()) / (1 << 20)
		b.ReportMetric(wall.Seconds(), "build_wall_s")
		b.ReportMetric(cpu.Seconds(), "build_cpu_s")
		b.ReportMetric(mb, "binary_MiB")
		load, _ := os.ReadFile("/proc/loadavg")
		b.Logf("cold build: %.0f s wall, %.0f CPU-s (user+sys, compilers and linker included), binary %.1f MiB; load %s",
			wall.Seconds(), cpu.Seconds(), mb, strings.TrimSpace(string(load)))
		if mb >= 150 {
			b.Errorf("binary is %.1f MiB, target under 150", mb)
		}
	}
}
