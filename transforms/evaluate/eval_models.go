package evaluate

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/fsx"
	"realdpo/transforms/generate"
)

// loaded is one model in this worker process. Gorgonia graphs cached in a
// Model are not safe for concurrent use, so users take turns (mu).
type loaded struct {
	mu sync.Mutex
	m  *model.Model
	id int // load order: the lock order of withModels
}

var (
	loadedMu sync.Mutex
	models   = map[string]*loaded{}
)

// maxCheckpointBytes bounds a checkpoint read into memory.
const maxCheckpointBytes = 4 << 30

// loadNamed loads the model cfg names name (a task's model).
func loadNamed(ctx context.Context, cfg schemas.EvalConfig, name string) (*loaded, error) {
	spec, ok := ModelByName(cfg, name)
	if !ok {
		return nil, fmt.Errorf("eval: task names unknown model %s", name)
	}
	return loadModel(ctx, spec)
}

// loadModel returns the worker's copy of a checkpoint ("" is the built-in
// base model) with the weights the launcher hashed, loading it on first
// use: every DoFn instance in the process shares it, so each model is read
// once per worker. The cache is keyed by path and weights, so a process
// that evaluates again after a checkpoint was rewritten in place (an
// experiment that retrains, in one process) never samples stale weights;
// weights that differ from the launcher's fail the task.
func loadModel(ctx context.Context, spec schemas.EvalModel) (*loaded, error) {
	loadedMu.Lock()
	defer loadedMu.Unlock()
	key := spec.Checkpoint + "\x00" + spec.Weights
	if l, ok := models[key]; ok {
		return l, nil
	}
	m, err := readModel(ctx, spec.Checkpoint)
	if err != nil {
		return nil, err
	}
	if h := generate.WeightsHash(m); spec.Weights != "" && h != spec.Weights {
		return nil, fmt.Errorf("eval: model %s: checkpoint %s changed since the run started (weights %.16s, launched with %.16s)",
			spec.Name, spec.Checkpoint, h, spec.Weights)
	}
	l := &loaded{m: m, id: len(models)}
	models[key] = l
	return l, nil
}

// readModel reads a checkpoint from a local path or gs:// (through Beam's
// filesystem registry), or the built-in base model for "".
func readModel(ctx context.Context, ckpt string) (*model.Model, error) {
	if ckpt == "" {
		return model.LoadBase()
	}
	r, err := fsx.Open(ctx, ckpt)
	if err != nil {
		return nil, fmt.Errorf("eval: checkpoint: %w", err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxCheckpointBytes+1))
	if err != nil {
		return nil, fmt.Errorf("eval: reading checkpoint %s: %w", ckpt, err)
	}
	if len(b) > maxCheckpointBytes {
		return nil, fmt.Errorf("eval: checkpoint %s is over %d bytes", ckpt, maxCheckpointBytes)
	}
	ck, err := model.ParseCheckpoint(b, nil)
	if err != nil {
		return nil, fmt.Errorf("eval: checkpoint %s: %w", ckpt, err)
	}
	return ck.Model, nil
}

// withModels runs fn holding the locks of the given models, taken in a
// fixed order (each once) so two tasks can never wait on each other.
func withModels(ls []*loaded, fn func() error) error {
	uniq := map[*loaded]bool{}
	var order []*loaded
	for _, l := range ls {
		if !uniq[l] {
			uniq[l] = true
			order = append(order, l)
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i].id < order[j].id })
	for _, l := range order {
		l.mu.Lock()
	}
	defer func() {
		for _, l := range order {
			l.mu.Unlock()
		}
	}()
	return fn()
}

// CheckModels loads every model once in the launching process: a missing
// or incompatible checkpoint fails before any work starts. It fills in the
// weight hashes and returns the shared architecture.
func CheckModels(ctx context.Context, cfg *schemas.EvalConfig) (model.Config, error) {
	var shared model.Config
	all := append([]*schemas.EvalModel{}, &cfg.Reference)
	for i := range cfg.Models {
		all = append(all, &cfg.Models[i])
	}
	for i, em := range all {
		m, err := readModel(ctx, em.Checkpoint)
		if err != nil {
			return shared, fmt.Errorf("eval: model %s: %w", em.Name, err)
		}
		if i == 0 {
			shared = m.Config()
		} else if m.Config() != shared {
			return shared, fmt.Errorf("eval: model %s has config %s, the reference %s has %s", em.Name, m.Config().JSON(), cfg.Reference.Name, shared.JSON())
		}
		em.Weights = generate.WeightsHash(m)
	}
	return shared, nil
}

// ModelByName finds a model of the run (the reference included).
func ModelByName(cfg schemas.EvalConfig, name string) (schemas.EvalModel, bool) {
	for _, m := range cfg.Models {
		if m.Name == name {
			return m, true
		}
	}
	if cfg.Reference.Name == name {
		return cfg.Reference, true
	}
	return schemas.EvalModel{}, false
}
