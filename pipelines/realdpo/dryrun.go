package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/pipelinex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/protox"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow/dataflowlib"
	df "google.golang.org/api/dataflow/v1b3"
	"google.golang.org/protobuf/encoding/protojson"

	"realdpo/transforms/fsx"
)

// --dry_run itself is the Dataflow runner's flag (same name, same meaning:
// build the job, do not submit it); realdpo honours it for every runner and
// never touches the network for it.
var dryRunOutput = flag.String("dry_run_output", "-", "with --dry_run: where to write the Dataflow job JSON (a local file, or - for stdout); with a file, the Beam pipeline proto the job stages goes beside it as FILE.pipeline.json")

func isDryRun() bool {
	f := flag.Lookup("dry_run")
	return f != nil && f.Value.String() == "true"
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// dryRun builds cmd's pipeline, translates it to the Dataflow job the
// dataflow runner would submit and writes that job as JSON.
func dryRun(ctx context.Context, cmd *subcommand) error {
	if cmd.Composite {
		return fmt.Errorf("%s runs several Beam pipelines in turn: dry-run each stage's own subcommand", cmd.Name)
	}
	if cmd.Pipeline == nil {
		return fmt.Errorf("%s does not run a Beam pipeline: nothing to dry-run", cmd.Name)
	}
	p, err := cmd.Pipeline(ctx)
	if err != nil {
		return err
	}
	job, model, err := DataflowJob(ctx, p)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(job, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if *dryRunOutput == "" || *dryRunOutput == "-" {
		_, err = os.Stdout.Write(data)
		return err
	}
	if err := fsx.WriteAtomic(ctx, *dryRunOutput, strings.NewReader(string(data))); err != nil {
		return err
	}
	// The job refers to the pipeline by URL (portable submission): keep the
	// pipeline itself beside it, for review and diffing.
	pdata, err := protojson.MarshalOptions{Multiline: true}.Marshal(model)
	if err != nil {
		return err
	}
	return fsx.WriteAtomic(ctx, *dryRunOutput+".pipeline.json", strings.NewReader(string(pdata)+"\n"))
}

// DataflowJob translates a pipeline into the Dataflow v1b3 Job the dataflow
// runner submits, the way runners/dataflow.Execute does, without its calls
// to GCS, gcloud or the metadata server: project and region come from the
// flags or stay as placeholders, the staging URLs are derived from
// --staging_location (or a placeholder).
func DataflowJob(ctx context.Context, p *beam.Pipeline) (*df.Job, *pipepb.Pipeline, error) {
	edges, _, err := p.Build()
	if err != nil {
		return nil, nil, fmt.Errorf("build pipeline: %w", err)
	}
	image := flagValue("sdk_container_image")
	if image == "" {
		image = "gcr.io/cloud-dataflow/v1beta3/beam_go_sdk:" + core.SdkVersion
	}
	env, err := graphx.CreateEnvironment(ctx, jobopts.GetEnvironmentUrn(ctx), func(context.Context) string { return image })
	if err != nil {
		return nil, nil, fmt.Errorf("environment: %w", err)
	}
	model, err := graphx.Marshal(edges, &graphx.Options{Environment: env, PipelineResourceHints: jobopts.GetPipelineResourceHints()})
	if err != nil {
		return nil, nil, fmt.Errorf("marshal pipeline: %w", err)
	}
	if err := pipelinex.ApplySdkImageOverrides(model, jobopts.GetSdkImageOverrides()); err != nil {
		return nil, nil, fmt.Errorf("image overrides: %w", err)
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	staging := strings.TrimSuffix(or(flagValue("staging_location"), "gs://STAGING_BUCKET/staging"), "/")
	id := "dry-run"
	beam.PipelineOptions.LoadOptionsFromFlags(nil)
	opts := &dataflowlib.JobOptions{
		Name:           jobopts.GetJobName(),
		Experiments:    append(jobopts.GetExperiments(), "beam_fn_api", "use_runner_v2", "use_unified_worker", "use_portable_job_submission"),
		Options:        beam.PipelineOptions.Export(),
		Project:        or(flagValue("project"), "PROJECT"),
		Region:         or(flagValue("region"), "REGION"),
		Zone:           flagValue("zone"),
		Network:        flagValue("network"),
		Subnetwork:     flagValue("subnetwork"),
		MachineType:    or(flagValue("worker_machine_type"), flagValue("machine_type")),
		TempLocation:   flagValue("temp_location"),
		ContainerImage: image,
	}
	if v := flagValue("max_num_workers"); v != "" && v != "0" {
		fmt.Sscan(v, &opts.MaxNumWorkers)
	}
	if v := flagValue("num_workers"); v != "" && v != "0" {
		fmt.Sscan(v, &opts.NumWorkers)
	}
	if v := flagValue("service_account_email"); v != "" {
		opts.ServiceAccountEmail = v
	}
	sum := sha256.Sum256(protox.MustEncode(model))
	job, err := dataflowlib.Translate(ctx, model, opts, staging+"/"+id+"/worker", staging+"/"+id+"/model", hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, nil, fmt.Errorf("translate to a Dataflow job: %w", err)
	}
	return job, model, nil
}
