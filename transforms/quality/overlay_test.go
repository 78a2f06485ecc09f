package quality

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTextCellsMatchesReference checks the word-skipping text-cell search
// against the pixel-by-pixel one it replaced, on frames dense with strokes
// everywhere, the frame edges included.
func TestTextCellsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sz := range [][2]int{{256, 144}, {170, 256}, {96, 64}, {62, 34}, {16, 16}} {
		w, h := sz[0], sz[1]
		cx, cy := w/cellSize, h/cellSize
		for trial := 0; trial < 40; trial++ {
			y := make([]uint8, w*h)
			for i := range y {
				switch trial % 4 {
				case 0: // noise
					y[i] = uint8(rng.Uint32())
				case 1: // sparse bright strokes on dark
					if rng.IntN(6) == 0 {
						y[i] = 250
					} else {
						y[i] = 5
					}
				case 2: // thin vertical and horizontal lines, edges included
					x, r := i%w, i/w
					if x%3 == 0 || r%4 == 1 || x >= w-3 || r >= h-3 {
						y[i] = uint8(200 + rng.IntN(56))
					} else {
						y[i] = uint8(rng.IntN(60))
					}
				default: // steps just either side of the contrast threshold
					y[i] = uint8(100 + (rng.IntN(3)-1)*(strokeContrast-1+rng.IntN(3)))
				}
			}
			want := make([]uint64, (cx*cy+63)/64)
			got := make([]uint64, len(want))
			wantCounts, gotCounts := make([]uint16, cx*cy), make([]uint16, cx*cy)
			wf := refTextCells(y, w, h, cx, cy, want, wantCounts)
			gf := textCells(y, w, h, cx, cy, got, gotCounts)
			// The stroke counts themselves, not only the cells they mark.
			if !slices.Equal(gotCounts, wantCounts) {
				t.Fatalf("%dx%d trial %d: stroke counts %v, want %v", w, h, trial, gotCounts, wantCounts)
			}
			if gf != wf || !slices.Equal(got, want) {
				t.Fatalf("%dx%d trial %d: share %v bits %x, want %v %x", w, h, trial, gf, got, wf, want)
			}
		}
	}
}

// refTextCells is textCells as first written, every pixel tried (its
// counters passed in, to compare): the reference for the word-at-a-time
// skipping.
func refTextCells(y []uint8, w, h, cx, cy int, bits []uint64, counts []uint16) float64 {
	if cx == 0 || cy == 0 {
		return 0
	}
	for r := 0; r < cy*cellSize; r++ {
		for x := 0; x < cx*cellSize; x++ {
			c := (r/cellSize)*cx + x/cellSize
			if x+1 < cx*cellSize && strokeEdge(y, r*w+x, 1, w-x-2) {
				counts[c]++
			}
			if r+1 < cy*cellSize && strokeEdge(y, r*w+x, w, h-r-2) {
				counts[c]++
			}
		}
	}
	return markCells(counts, bits)
}
