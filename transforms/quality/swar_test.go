package quality

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestAbsDiff8Exhaustive(t *testing.T) {
	// Every byte pair, in every lane, with random neighbours around it.
	rng := rand.New(rand.NewPCG(1, 2))
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			var x, y [8]byte
			binary.LittleEndian.PutUint64(x[:], rng.Uint64())
			binary.LittleEndian.PutUint64(y[:], rng.Uint64())
			lane := (a + b) & 7
			x[lane], y[lane] = byte(a), byte(b)
			got := absDiff8(binary.LittleEndian.Uint64(x[:]), binary.LittleEndian.Uint64(y[:]))
			var g [8]byte
			binary.LittleEndian.PutUint64(g[:], got)
			for i := range g {
				if int(g[i]) != absDiffInt(x[i], y[i]) {
					t.Fatalf("absDiff8 lane %d: |%d-%d| = %d", i, x[i], y[i], g[i])
				}
			}
		}
	}
}

func TestSAD(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 1023, 1024, 1025, 2055, 110592} {
		a, b := make([]byte, n), make([]byte, n)
		for i := range a {
			a[i], b[i] = byte(rng.Uint32()), byte(rng.Uint32())
			if n == 2055 || (n == 110592 && i%3 == 0) {
				a[i], b[i] = 255, 0 // the largest differences fill the lanes
			}
		}
		want := 0
		for i := range a {
			want += absDiffInt(a[i], b[i])
		}
		if got := sad(a, b); got != want {
			t.Errorf("sad over %d bytes = %d, want %d", n, got, want)
		}
	}
}
