package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"realdpo/schemas"
	"realdpo/transforms/stage"
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

func (s *store) path(rel string) string { return stage.JoinPath(s.root, rel) }

func (s *store) write(ctx context.Context, rel string, data []byte) error {
	return stage.WriteAtomic(ctx, s.path(rel), bytes.NewReader(data))
}

// writeLocal moves a finished local file into the run directory.
func (s *store) writeLocal(ctx context.Context, rel, local string) error {
	if !stage.IsRemote(s.root) {
		dst := s.path(rel)
		if err := os.MkdirAll(path.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(local, dst); err == nil {
			return nil
		}
	}
	defer os.Remove(local)
	return stage.CopyLocalAtomic(ctx, local, s.path(rel))
}

// read returns a file's bytes, or os.ErrNotExist (wrapped) when absent.
func (s *store) read(ctx context.Context, rel string) ([]byte, error) {
	p := s.path(rel)
	fsys, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	if !stage.IsRemote(p) {
		b, err := os.ReadFile(p)
		return b, err
	}
	names, err := fsys.List(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: %w", p, os.ErrNotExist)
	}
	r, err := fsys.OpenRead(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// localCopy gives a local path for rel (the file itself when local).
func (s *store) localCopy(ctx context.Context, rel string) (string, func(), error) {
	p := s.path(rel)
	if !stage.IsRemote(p) {
		return p, func() {}, nil
	}
	l, err := stage.Localize(ctx, p, s.tmp, 0, false)
	if err != nil {
		return "", nil, err
	}
	return l.Path, l.Cleanup, nil
}

// steps lists the steps of files named prefix+%08d+suffix under dir, sorted.
func (s *store) steps(ctx context.Context, dir, prefix, suffix string) ([]int, error) {
	glob := s.path(dir + "/" + prefix + "*" + suffix)
	fsys, err := filesystem.New(ctx, glob)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	names, err := fsys.List(ctx, glob)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", glob, err)
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

func (s *store) remove(ctx context.Context, rel string) error {
	p := s.path(rel)
	fsys, err := filesystem.New(ctx, p)
	if err != nil {
		return err
	}
	defer fsys.Close()
	rm, ok := fsys.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("remove %s: filesystem cannot remove", p)
	}
	return rm.Remove(ctx, p)
}

func sortRejects(rs []schemas.TrainReject) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Key != rs[j].Key {
			return rs[i].Key < rs[j].Key
		}
		return rs[i].Shard < rs[j].Shard
	})
}

func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

// ReadFile reads a file of a run directory (local or gs://).
func ReadFile(ctx context.Context, root, rel string) ([]byte, error) {
	return (&store{root: root}).read(ctx, rel)
}
