// Command realdpo turns raw footage of people into RealDPO preference data and
// trains with it. Each stage is a subcommand; Beam's own flags (--runner,
// --endpoint, --job_name, ...) are accepted by every subcommand that runs a
// pipeline.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"

	"realdpo/transforms/config"
	_ "realdpo/transforms/fsx/gcsfs" // gs:// (and through fsx, local paths) for every pipeline

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

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

// bindings are the Configs the running subcommand's flags fill: they name
// the flag behind a Config field a validation error names.
var bindings []*config.Binding

// bind defines the flags of a Config's tagged fields (config.Bind).
func bind(fs *flag.FlagSet, cfg any) *config.Binding {
	b := config.Bind(fs, cfg)
	bindings = append(bindings, b)
	return b
}

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
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	slog.SetDefault(slog.New(planFilter{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})}))
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
		// beam.Init installs Beam's own logger (--log_level, --log_kind):
		// keep it, with the runner's plan dumps filtered out.
		slog.SetDefault(slog.New(planFilter{slog.Default().Handler()}))
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
			reportFailure(os.Stderr, cmd.Name+" --dry_run", err)
			return 1
		}
		return 0
	}
	if err := cmd.Run(ctx); err != nil {
		reportFailure(os.Stderr, cmd.Name, err)
		return 1
	}
	return 0
}

// reportFailure prints what went wrong as one line first, "realdpo NAME:
// CAUSE", with the Config fields it names written as their flags, where the cause is the failing step's own message when a runner
// wrapped it in its plan; the runner's full text follows for the record.
func reportFailure(w io.Writer, name string, err error) {
	full := strings.TrimSpace(config.Message(err, bindings...))
	fmt.Fprintf(w, "realdpo %s: %s\n", name, failureCause(name, full))
	if strings.Contains(full, "\n") {
		fmt.Fprintf(w, "realdpo %s: the runner's full error follows\n%s\n", name, full)
	}
}

// maxCauseBytes bounds the one-line message.
const maxCauseBytes = 360

// failureCause is the message a user can act on in an error: a Beam
// runner reports a failed DoFn as its plan (every transform of the stage)
// and then "DoFn[...] failed:" with the DoFn's own error, which is the
// part kept here. It comes back on one line, without the subcommand's own
// name repeated, at most maxCauseBytes long.
func failureCause(name, full string) string {
	cause := full
	if i := strings.LastIndex(cause, "] failed:\n"); i >= 0 && strings.Contains(cause[:i], "DoFn[") {
		cause = cause[i+len("] failed:\n"):]
	}
	// The DoFn's error may carry Beam's own wrapping after it.
	for _, cut := range []string{"\n\tcaused by:", "\nFull error:"} {
		if i := strings.Index(cause, cut); i >= 0 {
			cause = cause[:i]
		}
	}
	cause = strings.Join(strings.Fields(cause), " ")
	cmd, _, _ := strings.Cut(name, " ")
	cause = strings.TrimPrefix(cause, cmd+": ")
	if len(cause) > maxCauseBytes {
		cut := maxCauseBytes
		for cut > 0 && !utf8.RuneStart(cause[cut]) {
			cut--
		}
		cause = cause[:cut] + "..."
	}
	return cause
}

// planFilter drops log records that carry a Beam runner's plan dump (the
// local runner logs a failed bundle's plan several times over before the
// run returns): the failure is reported once, as one line, when the run
// ends, with the full text after it.
type planFilter struct{ slog.Handler }

func (h planFilter) Handle(ctx context.Context, r slog.Record) error {
	plan := isPlanDump(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		plan = plan || isPlanDump(a.Value.String())
		return !plan
	})
	if plan {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h planFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return planFilter{h.Handler.WithAttrs(as)}
}
func (h planFilter) WithGroup(g string) slog.Handler { return planFilter{h.Handler.WithGroup(g)} }

func isPlanDump(s string) bool {
	return strings.Contains(s, "while executing") && strings.Contains(s, "Plan[") || strings.Contains(s, "\tcaused by:\n")
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

// printByReason prints a stage's counts by reason, one a line in reason
// order, under what happened to them ("rejected", "failed").
func printByReason(what string, byReason map[string]int) {
	for _, r := range slices.Sorted(maps.Keys(byReason)) {
		fmt.Printf("  %s %-14s %d\n", what, r, byReason[r])
	}
}
