package training

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"realdpo/schemas"
	"realdpo/transforms/fsx"
)

// Output layout, relative to --output.
const (
	RunFile        = "run.json"
	MetricsFile    = "metrics.jsonl"
	RejectsFile    = "rejects.jsonl"
	SummaryFile    = "summary.json"
	FinalFile      = "final.safetensors"
	CheckpointDir  = "checkpoints"
	RegenDir       = "regenerated"
	PlotLoss       = "plots/loss.png"
	PlotAccuracy   = "plots/implicit_accuracy.png"
	PlotErrorDelta = "plots/error_deltas.png"
)

// CheckpointName is the checkpoint after step steps: zero-padded so names
// sort by step.
func CheckpointName(step int) string {
	return fmt.Sprintf("%s/ckpt-%08d.safetensors", CheckpointDir, step)
}

// RegenName holds the negatives regenerated before step step+1.
func RegenName(step int) string { return fmt.Sprintf("%s/negatives-%08d.gob", RegenDir, step) }

// parseStep reads the step out of a CheckpointName or RegenName.
func parseStep(name, prefix, suffix string) (int, bool) {
	b := path.Base(name)
	if !strings.HasPrefix(b, prefix) || !strings.HasSuffix(b, suffix) {
		return 0, false
	}
	var s int
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(b, prefix), suffix), "%08d", &s); err != nil || s < 0 {
		return 0, false
	}
	return s, true
}

// store reads and writes the run directory, local or gs://, every write
// temp-then-rename.
type store struct {
	root string
	tmp  string // local scratch
}

func (s *store) path(rel string) string { return fsx.JoinPath(s.root, rel) }

func (s *store) write(ctx context.Context, rel string, data []byte) error {
	return fsx.WriteFile(ctx, s.path(rel), data)
}

// writeLocal moves a finished local file into the run directory.
func (s *store) writeLocal(ctx context.Context, rel, local string) error {
	return fsx.MoveLocal(ctx, local, s.path(rel))
}

// maxRunFile bounds a run file read whole (metrics, summary, state).
const maxRunFile = 1 << 30

// read returns a file's bytes, or an fsx.ErrNotFound (wrapped) when absent.
func (s *store) read(ctx context.Context, rel string) ([]byte, error) {
	return fsx.ReadFile(ctx, s.path(rel), maxRunFile)
}

// localCopy gives a local path for rel (the file itself when local).
func (s *store) localCopy(ctx context.Context, rel string) (string, func(), error) {
	l, err := fsx.Localize(ctx, s.path(rel), s.tmp, 0, false)
	if err != nil {
		return "", nil, err
	}
	return l.Path, l.Cleanup, nil
}

// steps lists the steps of files named prefix+%08d+suffix under dir, sorted.
func (s *store) steps(ctx context.Context, dir, prefix, suffix string) ([]int, error) {
	names, err := fsx.Glob(ctx, s.path(dir+"/"+prefix+"*"+suffix))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, n := range names {
		if st, ok := parseStep(n, prefix, suffix); ok {
			out = append(out, st)
		}
	}
	sort.Ints(out)
	return out, nil
}

func (s *store) remove(ctx context.Context, rel string) error { return fsx.Remove(ctx, s.path(rel)) }

func sortRejects(rs []schemas.TrainReject) {
	slices.SortFunc(rs, func(a, b schemas.TrainReject) int {
		return cmp.Or(
			cmp.Compare(a.Key, b.Key),
			cmp.Compare(a.Shard, b.Shard),
		)
	})
}

func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

// ReadFile reads a file of a run directory (local or gs://).
func ReadFile(ctx context.Context, root, rel string) ([]byte, error) {
	return fsx.ReadFile(ctx, fsx.JoinPath(root, rel), maxRunFile)
}
