// Package runner runs a pipeline on the runner named by Beam's --runner
// flag (prism when unset), as beamx.Run does, without beamx's imports:
// beamx links every runner the SDK has (dot, spark, ...) and its generated
// reflection-free runtime for the standard types into each binary that
// runs a pipeline. The realdpo command imports the runners and filesystems
// it supports (prism, universal, flink, dataflow, direct; local and
// gs://), tests import the ones they use.
package runner

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
)

// Default is the runner used when --runner is not set.
const Default = "prism"

// Name is the runner a pipeline will run on.
func Name() string {
	if r := *runners.Runner; r != "" {
		return r
	}
	return Default
}

// Run executes p on the runner named by --runner and waits for it.
func Run(ctx context.Context, p *beam.Pipeline) error {
	_, err := beam.Run(ctx, Name(), p)
	return err
}
