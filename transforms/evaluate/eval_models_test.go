package evaluate

import (
	"context"
	"strings"
	"testing"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/evaluate/evaltest"
	"realdpo/transforms/generate"
)

// TestLoadModelFollowsWeights rewrites a checkpoint in place, as an
// experiment that retrains does: the worker cache must hand out the
// weights the launcher hashed, and refuse a checkpoint that changed since.
func TestLoadModelFollowsWeights(t *testing.T) {
	ctx := context.Background()
	path := evaltest.PerturbedBase(t)
	first, err := readModel(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	h1 := generate.WeightsHash(first)
	l1, err := loadModel(ctx, schemas.EvalModel{Name: "m", Checkpoint: path, Weights: h1})
	if err != nil || generate.WeightsHash(l1.m) != h1 {
		t.Fatalf("first load: %v", err)
	}
	second, err := model.LoadBase()
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Save(path, map[string]string{"note": "rewritten"}); err != nil {
		t.Fatal(err)
	}
	h2 := generate.WeightsHash(second)
	l2, err := loadModel(ctx, schemas.EvalModel{Name: "m", Checkpoint: path, Weights: h2})
	if err != nil || generate.WeightsHash(l2.m) != h2 || l2 == l1 {
		t.Fatalf("after the rewrite: %v (same entry %v)", err, l2 == l1)
	}
	if _, err := loadModel(ctx, schemas.EvalModel{Name: "m", Checkpoint: path, Weights: "0123"}); err == nil || !strings.Contains(err.Error(), "changed since") {
		t.Errorf("weights other than the launcher's: %v, want an error", err)
	}
}
