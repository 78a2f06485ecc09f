package model

import (
	_ "embed"
	"fmt"
)

// baseTiny is the committed base model (model/base/README.md says how it
// was trained).
//
//go:embed base/tiny.safetensors
var baseTiny []byte

// LoadBase returns a fresh copy of the built-in tiny base model: the
// default wherever no model is named (negatives, evaluation, demo).
func LoadBase() (*Model, error) {
	ck, err := ParseCheckpoint(baseTiny, nil)
	if err != nil {
		return nil, fmt.Errorf("model: built-in base checkpoint: %w", err)
	}
	return ck.Model, nil
}

// BaseMetadata returns the built-in checkpoint's metadata (command, held-out
// v-MSE, step).
func BaseMetadata() (map[string]string, error) {
	ck, err := ParseCheckpoint(baseTiny, nil)
	if err != nil {
		return nil, fmt.Errorf("model: built-in base checkpoint: %w", err)
	}
	return ck.Meta, nil
}
