// Command realdpo turns raw footage of people into RealDPO preference data and
// trains with it. Each stage is a subcommand; Beam's own flags (--runner,
// --endpoint, --job_name, ...) are accepted by every subcommand that runs a
// pipeline.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	// Filesystems every pipeline can read and write: local paths and gs://.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	// Registers prism (the default), universal, dataflow, flink and direct (deprecated; for users who ask for it).
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
)

// subcommand is one stage of the tool. Flags registers the stage's own flags on
// the process-wide flag set (where Beam's flags already live), so that
// beam.Init and the runners see one consistent set. Run executes the stage.
type subcommand struct {
	Name    string
	Summary string
	Flags   func(fs *flag.FlagSet)
	Run     func(ctx context.Context) error
	// UsesBeam marks stages that build a pipeline: only they call beam.Init,
	// which may turn the process into a worker when a runner asks for one.
	UsesBeam bool
	// Pipeline builds the stage's Beam pipeline from the parsed flags without
	// running it: --dry_run translates it to the Dataflow job it would
	// submit. Every stage that runs a pipeline should set it.
	Pipeline func(ctx context.Context) (*beam.Pipeline, error)
	// Composite marks stages that run other subcommands' pipelines in
	// turn (experiment): they have no single pipeline to dry-run.
	Composite bool
}

var subcommands = map[string]*subcommand{}

// register adds a subcommand; each lives in its own cmd_*.go file.
func register(c *subcommand) {
	if _, dup := subcommands[c.Name]; dup {
		panic("realdpo: subcommand registered twice: " + c.Name)
	}
	subcommands[c.Name] = c
}

func usage() {
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: realdpo SUBCOMMAND [flags]\n\nSubcommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, subcommands[n].Summary)
	}
	b.WriteString("\nRun 'realdpo SUBCOMMAND --help' for a subcommand's flags, Beam's included.\n")
	fmt.Fprint(os.Stderr, b.String())
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// Beam workers re-execute this binary with worker flags and no subcommand.
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && isWorkerInvocation(args) {
		flag.CommandLine.Parse(args)
		beam.Init()
		return 0
	}
	// Launchers that pass only --flags (Dataflow's flex template launcher)
	// name the subcommand in the environment.
	if sc := os.Getenv("REALDPO_SUBCOMMAND"); sc != "" && (len(args) == 0 || strings.HasPrefix(args[0], "-")) {
		args = append([]string{sc}, args...)
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "realdpo: unknown subcommand %q\n\n", args[0])
		usage()
		return 2
	}
	fs := flag.CommandLine
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: realdpo %s [flags]\n\n%s\n\nFlags:\n", cmd.Name, cmd.Summary)
		fs.PrintDefaults()
	}
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "realdpo %s: unexpected arguments: %v\n", cmd.Name, fs.Args())
		return 2
	}
	if cmd.UsesBeam {
		beam.Init()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if p := os.Getenv("REALDPO_CPUPROFILE"); p != "" {
		// Locally the runner and its workers share this process, so one
		// profile covers the whole run (ffmpeg children aside).
		stopProfile, err := startCPUProfile(p)
		if err != nil {
			slog.Error("realdpo: cpu profile", "err", err)
			return 1
		}
		defer stopProfile()
	}
	if isDryRun() {
		if err := dryRun(ctx, cmd); err != nil {
			slog.Error("realdpo "+cmd.Name+" --dry_run failed", "err", err)
			return 1
		}
		return 0
	}
	if err := cmd.Run(ctx); err != nil {
		slog.Error("realdpo "+cmd.Name+" failed", "err", err)
		return 1
	}
	return 0
}

// isWorkerInvocation reports whether the runner started this binary as an SDK
// worker (it passes --worker=true and the control endpoints).
func isWorkerInvocation(args []string) bool {
	for _, a := range args {
		if a == "--worker" || a == "--worker=true" || a == "-worker" || a == "-worker=true" {
			return true
		}
	}
	return false
}

// startCPUProfile writes a pprof CPU profile to path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			slog.Error("realdpo: cpu profile", "path", path, "err", err)
		}
	}, nil
}
