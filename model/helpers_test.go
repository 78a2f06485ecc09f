package model

import (
	"math/rand/v2"
	"testing"
)

// testConfig is a model small enough for finite differences.
func testConfig() Config {
	return Config{
		Frames: 3, Height: 8, Width: 8, Channels: 3, Patch: 4,
		Dim: 16, Depth: 1, Heads: 2, MLPRatio: 2,
		Vocab: 32, MaxWords: 8,
		TrainSteps: 1000, BetaStart: 0.00085, BetaEnd: 0.012,
	}
}

// testModel is a test-size model whose zero-initialised tensors (adaLN-Zero,
// final layer) are randomised so that every parameter gets a gradient.
func testModel(t testing.TB, seed uint64) *Model {
	t.Helper()
	m, err := New(testConfig(), seed)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m, seed, 0.2)
	return m
}

func perturb(m *Model, seed uint64, std float64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, p := range m.params {
		for i := range p.Data {
			p.Data[i] += float32(rng.NormFloat64() * std)
		}
	}
}

func randVideo(rng *rand.Rand, c Config) []float32 {
	v := make([]float32, c.VideoSize())
	for i := range v {
		v[i] = float32(rng.Float64()*2 - 1)
	}
	return v
}

func randNoise(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }
