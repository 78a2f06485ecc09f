package synth

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// rng wraps a PCG stream: every random choice in a video flows from one seed,
// so the same seed renders the same frames on any machine.
type rng struct{ *rand.Rand }

func newRNG(seed uint64, stream string) *rng {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return &rng{rand.New(rand.NewPCG(seed, h.Sum64()))}
}

func (r *rng) uniform(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
func (r *rng) chance(p float64) bool          { return r.Float64() < p }
func (r *rng) sign() float64 {
	if r.IntN(2) == 0 {
		return -1
	}
	return 1
}

func pick[T any](r *rng, xs []T) T { return xs[r.IntN(len(xs))] }

// smoothNoise is a sum of sinusoids with seeded frequencies and phases: a
// cheap, smooth, repeatable signal for hand-held camera drift and body sway.
type smoothNoise struct{ amp, freq, phase [4]float64 }

func newSmoothNoise(r *rng, baseHz float64) smoothNoise {
	var n smoothNoise
	for i := range n.amp {
		n.amp[i] = 1 / float64(i+1)
		n.freq[i] = baseHz * (0.6 + 0.9*float64(i)) * r.uniform(0.8, 1.25)
		n.phase[i] = r.uniform(0, 2*math.Pi)
	}
	return n
}

// at returns a value in about [-1, 1].
func (n smoothNoise) at(t float64) float64 {
	s := 0.0
	for i := range n.amp {
		s += n.amp[i] * math.Sin(2*math.Pi*n.freq[i]*t+n.phase[i])
	}
	return s / 2.08
}
