package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	df "google.golang.org/api/dataflow/v1b3"

	"realdpo/transforms/dataset"
)

// childArgsEnv makes the test binary run realdpo with the arguments in the
// variable (a JSON array): each subcommand registers its flags on the
// process-wide flag set, so each invocation needs a fresh process.
const childArgsEnv = "REALDPO_MAIN_TEST_ARGS"

// childTimeout bounds one subcommand a test runs (the slowest, a whole
// curate or experiment on a few clips, takes about a minute here).
const childTimeout = 10 * time.Minute

func TestMain(m *testing.M) {
	if a := os.Getenv(childArgsEnv); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			panic(err)
		}
		os.Exit(run(args))
	}
	os.Exit(m.Run())
}

func realdpo(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// A subcommand that hangs (a dry run that reaches for storage it cannot
	// reach) fails its own test in minutes, not the package at its timeout.
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	a, _ := json.Marshal(args)
	cmd.Env = append(append(os.Environ(), env...), childArgsEnv+"="+string(a))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("realdpo %v: still running after %v, killed\nstderr:\n%s", args, childTimeout, e.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// dryRunCase is a pipeline subcommand's required flags for a dry run and the
// stages its pipeline must hold.
type dryRunCase struct {
	args, stages []string
}

// dryRunArgs has an entry for every subcommand that builds a pipeline. The
// inputs that a builder reads before building (eval's held-out manifest)
// are written under dir; everything else points at gs://.
func dryRunArgs(dir string) map[string]dryRunCase {
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	held := filepath.Join(dir, "heldout")
	os.MkdirAll(held, 0o755)
	os.WriteFile(filepath.Join(held, dataset.ManifestFile), []byte(`{"id":"c1","clip":"clips/c1.mp4","first_frame":"first_frames/c1.png",`+
		`"caption":"a person waving","frames":17,"fps":8,"width":96,"height":64}`+"\n"), 0o644)
	return map[string]dryRunCase{
		"curate": {[]string{"--input=" + in, "--output=gs://bucket/dataset", "--profile=demo"},
			[]string{"curate.MatchInputs", "curate.Probe", "curate.Analyse", "curate.Normalise", "curate.WriteDataset"}},
		"refresh": {[]string{"--input=gs://bucket/raw", "--dataset_root=gs://bucket/realaction"},
			[]string{"curate.MatchInputs", "curate.Probe", "curate.Analyse", "curate.Normalise", "curate.WriteDataset"}},
		"negatives": {[]string{"--dataset=gs://bucket/dataset", "--output=gs://bucket/negatives", "--accelerator_type=nvidia-l4"},
			[]string{"negatives", "ReadManifest", "Generate", "Write"}},
		"pairs": {[]string{"--dataset=gs://bucket/dataset", "--negatives=gs://bucket/negatives", "--output=gs://bucket/pairs", "--input_layout=curate"},
			[]string{"pairs", "Assemble", "Plan", "WriteShards"}},
		"train": {[]string{"--pairs=gs://bucket/pairs", "--output=gs://bucket/train"},
			[]string{"train.ReadPairs", "train.Train"}},
		"eval": {[]string{"--dataset=" + held, "--output=gs://bucket/eval"},
			[]string{"eval"}},
	}
}

// TestDryRunEverySubcommand builds the Dataflow job of every subcommand
// that runs a Beam pipeline, in a process whose network is pointed at a
// closed port (proxy, GCS emulator, metadata server), and checks the job:
// a batch job for the project, region, name and worker image given, with
// the pipeline's transforms in it.
func TestDryRunEverySubcommand(t *testing.T) {
	var names []string
	for n, c := range subcommands {
		if c.UsesBeam && c.Pipeline == nil && !c.Composite {
			t.Errorf("%s runs a Beam pipeline but has no Pipeline builder: it cannot be dry-run", n)
		}
		if c.Pipeline != nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no pipeline subcommands")
	}
	noNet := []string{"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=",
		"STORAGE_EMULATOR_HOST=127.0.0.1:9", "GCE_METADATA_HOST=127.0.0.1:9", "GOOGLE_APPLICATION_CREDENTIALS=/nonexistent"}
	const image = "europe-docker.pkg.dev/acme/realdpo/worker:test"
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dr, ok := dryRunArgs(dir)[name]
			args := dr.args
			if !ok {
				t.Fatalf("add %s's required flags to dryRunArgs", name)
			}
			out := filepath.Join(dir, "job.json")
			_, stderr, code := realdpo(t, noNet, append(append([]string{name}, args...),
				"--runner=dataflow", "--dry_run", "--dry_run_output="+out, "--project=acme-data", "--region=europe-west4",
				"--staging_location=gs://acme-staging/realdpo", "--sdk_container_image="+image, "--job_name=realdpo-"+name+"-test")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var job df.Job
			if err := json.Unmarshal(data, &job); err != nil {
				t.Fatal(err)
			}
			if job.ProjectId != "acme-data" || job.Name != "realdpo-"+name+"-test" || job.Type != "JOB_TYPE_BATCH" {
				t.Errorf("job %q in %q, type %s", job.Name, job.ProjectId, job.Type)
			}
			if job.Environment == nil || len(job.Environment.WorkerPools) == 0 ||
				len(job.Environment.WorkerPools[0].SdkHarnessContainerImages) == 0 ||
				job.Environment.WorkerPools[0].SdkHarnessContainerImages[0].ContainerImage != image {
				t.Errorf("worker image not %s: %s", image, data)
			}
			for _, want := range []string{"europe-west4", "gs://acme-staging/realdpo/"} {
				if !strings.Contains(string(data), want) {
					t.Errorf("job JSON lacks %q", want)
				}
			}
			// The pipeline the job stages: every stage is in it.
			pdata, err := os.ReadFile(out + ".pipeline.json")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range append(dr.stages, "beam:env:docker:v1") {
				if !strings.Contains(string(pdata), want) {
					t.Errorf("pipeline JSON lacks %q", want)
				}
			}
			t.Logf("%s: %d bytes of job JSON", name, len(data))
		})
	}
	// A launcher that passes only flags names the subcommand in the environment.
	out := filepath.Join(t.TempDir(), "env.json")
	if _, stderr, code := realdpo(t, append(noNet, "REALDPO_SUBCOMMAND=curate"), append(dryRunArgs(t.TempDir())["curate"].args,
		"--dry_run", "--dry_run_output="+out)...); code != 0 {
		t.Errorf("REALDPO_SUBCOMMAND=curate: exit %d: %s", code, stderr)
	} else if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
	// A subcommand without a pipeline says so.
	if _, stderr, code := realdpo(t, noNet, "synth", "--dry_run"); code == 0 || !strings.Contains(stderr, "nothing to dry-run") {
		t.Errorf("synth --dry_run: exit %d, %s", code, stderr)
	}
}
