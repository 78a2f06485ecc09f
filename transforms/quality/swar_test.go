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
	lengths := []int{1023, 1024, 1025, 2055, 110592}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
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

// refToLumaHSV is the conversion as first written (branches and divisions),
// kept to check the table-driven one against.
func refToLumaHSV(r, g, b int) (y, h, s, v uint8) {
	y = uint8((77*r + 150*g + 29*b + 128) >> 8)
	vv := max(r, g, b)
	mn := min(r, g, b)
	d := vv - mn
	var hh, ss int
	if vv > 0 {
		ss = (255*d + vv/2) / vv
	}
	if d > 0 {
		switch vv {
		case r:
			hh = 30 * (g - b) / d
		case g:
			hh = 60 + 30*(b-r)/d
		default:
			hh = 120 + 30*(r-g)/d
		}
		if hh < 0 {
			hh += 180
		}
	}
	return y, uint8(hh), uint8(ss), uint8(vv)
}

// TestToLumaHSVAllColours checks every one of the 2**24 RGB colours.
func TestToLumaHSVAllColours(t *testing.T) {
	const n = 256 * 256 // one row of all (g, b) for each r
	rgb := make([]byte, 3*n)
	luma, hsv := make([]uint8, n), make([]uint8, 3*n)
	var hist [256]int
	for r := 0; r < 256; r++ {
		for j := 0; j < n; j++ {
			rgb[3*j], rgb[3*j+1], rgb[3*j+2] = byte(r), byte(j>>8), byte(j)
		}
		lumaHist(rgb, luma, &hist)
		toHSV(rgb, hsv)
		var want [256]int
		for j := 0; j < n; j++ {
			g, b := j>>8, j&255
			y, h, s, v := refToLumaHSV(r, g, b)
			want[y]++
			if luma[j] != y || hsv[3*j] != h || hsv[3*j+1] != s || hsv[3*j+2] != v {
				t.Fatalf("rgb %d,%d,%d: got y %d hsv %d,%d,%d, want %d %d,%d,%d",
					r, g, b, luma[j], hsv[3*j], hsv[3*j+1], hsv[3*j+2], y, h, s, v)
			}
		}
		if hist != want {
			t.Fatalf("r=%d: luma histogram differs", r)
		}
	}
}

func TestAnySteepExhaustive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for a := 0; a < 256; a++ {
		for b := 0; b < 256; b++ {
			// The pair in one lane, the other lanes never steep.
			lane := (a ^ b) & 7
			var x, y [8]byte
			for i := range x {
				x[i] = byte(rng.Uint32())
				y[i] = byte(int(x[i]) + int(rng.Uint32()%(2*strokeContrast-1)) - (strokeContrast - 1))
				if absDiffInt(x[i], y[i]) >= strokeContrast {
					y[i] = x[i]
				}
			}
			x[lane], y[lane] = byte(a), byte(b)
			want := absDiffInt(byte(a), byte(b)) >= strokeContrast
			if got := anySteep(binary.LittleEndian.Uint64(x[:]), binary.LittleEndian.Uint64(y[:])); got != want {
				t.Fatalf("anySteep with |%d-%d| in lane %d = %v", a, b, lane, got)
			}
		}
	}
}

func TestDownsample2(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][2]int{{256, 144}, {128, 72}, {128, 85}, {170, 256}, {85, 128}, {18, 10}, {16, 16}, {9, 5}} {
		w, h := sz[0], sz[1]
		src := make([]uint8, w*h)
		for i := range src {
			src[i] = uint8(rng.Uint32())
			if i%7 == 0 {
				src[i] = 255 // the largest sums
			}
		}
		dw, dh := w/2, h/2
		got := make([]uint8, dw*dh)
		downsample2(src, w, h, got, dw, dh)
		for y := 0; y < dh; y++ {
			for x := 0; x < dw; x++ {
				want := uint8((int(src[2*y*w+2*x]) + int(src[2*y*w+2*x+1]) + int(src[(2*y+1)*w+2*x]) + int(src[(2*y+1)*w+2*x+1]) + 2) >> 2)
				if got[y*dw+x] != want {
					t.Fatalf("%dx%d at %d,%d: %d, want %d", w, h, x, y, got[y*dw+x], want)
				}
			}
		}
	}
}
