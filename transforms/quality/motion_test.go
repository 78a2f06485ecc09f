package quality

import (
	"math"
	"math/rand/v2"
	"testing"
)

// motionPairs makes frame pairs at motion resolution for checking the
// search against the code it replaced: textured content moved by a known
// shift with noise, pure noise, flat frames and stripes (where many vectors
// cost the same, so the order ties are broken in matters).
func motionPairs(rng *rand.Rand, w, h int) [][2][]uint8 {
	var pairs [][2][]uint8
	for kind := 0; kind < 5; kind++ {
		prev, cur := make([]uint8, w*h), make([]uint8, w*h)
		dx, dy := rng.IntN(21)-10, rng.IntN(13)-6
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := y*w + x
				switch kind {
				case 0, 1: // textured, moved by (dx,dy), a little noise
					prev[i] = uint8(valueNoise(x, y, 6, 11) + rng.IntN(3))
					cur[i] = uint8(valueNoise(x-dx, y-dy, 6, 11) + rng.IntN(3))
				case 2:
					prev[i], cur[i] = uint8(rng.Uint32()), uint8(rng.Uint32())
				case 3:
					prev[i], cur[i] = 77, 77
				default: // vertical stripes, period 4, moved
					prev[i] = uint8(60 * (x % 4))
					cur[i] = uint8(60 * ((x - dx + 400) % 4))
				}
			}
		}
		pairs = append(pairs, [2][]uint8{prev, cur})
	}
	return pairs
}

func TestMatchBlockMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, sz := range [][2]int{{128, 72}, {85, 128}, {48, 32}} {
		w, h := sz[0], sz[1]
		for _, pc := range motionPairs(rng, w, h) {
			prev, cur := pc[0], pc[1]
			ps, cs, col := make([]uint16, w*h), make([]uint16, w*h), make([]uint16, w*h)
			windowSums(prev, w, h, ps, col)
			windowSums(cur, w, h, cs, col)
			for _, g := range [][2]int{{0, 0}, {4, -2}, {-12, 6}, {2, 0}} {
				hx, hy := rng.IntN(15)-7, rng.IntN(15)-7
				for py := 0; py+blockSize <= h; py += blockSize {
					for px := 0; px+blockSize <= w; px += blockSize {
						c := loadBlock(cur, w, px, py)
						top, bot := int(cs[py*w+px]), int(cs[(py+4)*w+px])
						fx, fy, best, ibx, iby := matchBlock(prev, ps, c, top, bot, w, h, px, py, g[0], g[1], hx, hy)
						wx, wy, wbest := refMatchBlock(prev, cur, w, h, px, py, g[0], g[1])
						if math.Float64bits(fx) != math.Float64bits(wx) || math.Float64bits(fy) != math.Float64bits(wy) || best != wbest {
							t.Fatalf("%dx%d block %d,%d shift %v hint %d,%d: %v,%v cost %d, want %v,%v cost %d",
								w, h, px, py, g, hx, hy, fx, fy, best, wx, wy, wbest)
						}
						hx, hy = ibx, iby // as estimateMotion passes it on
					}
				}
			}
		}
	}
}

func TestGlobalShiftMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, sz := range [][2]int{{128, 72}, {85, 128}, {128, 85}, {48, 32}} {
		w, h := sz[0], sz[1]
		for _, pc := range motionPairs(rng, w, h) {
			prev, cur := pc[0], pc[1]
			qw, qh := w/2, h/2
			qp, qc := make([]uint8, qw*qh), make([]uint8, qw*qh)
			downsample2(prev, w, h, qp, qw, qh)
			downsample2(cur, w, h, qc, qw, qh)
			gx, gy := globalShift(qp, qc, qw, qh)
			wx, wy := refGlobalShift(prev, cur, w, h)
			if gx != wx || gy != wy {
				t.Fatalf("%dx%d: shift %d,%d, want %d,%d", w, h, gx, gy, wx, wy)
			}
		}
	}
}

// refGlobalShift finds the dominant translation by exhaustive search at
// quarter resolution over a fixed central region (so every shift compares
// the same number of pixels).
func refGlobalShift(prev, cur []uint8, w, h int) (int, int) {
	qw, qh := w/2, h/2
	if qw <= 2*coarseR+4 || qh <= 2*coarseR+4 {
		return 0, 0
	}
	qp := make([]uint8, qw*qh)
	qc := make([]uint8, qw*qh)
	downsample2(prev, w, h, qp, qw, qh)
	downsample2(cur, w, h, qc, qw, qh)
	best, bx, by := int64(math.MaxInt64), 0, 0
	for dy := -coarseR; dy <= coarseR; dy++ {
		for dx := -coarseR; dx <= coarseR; dx++ {
			var s int64
			for y := coarseR; y < qh-coarseR; y++ {
				// Rows sliced to the compared span once, so the inner loop
				// runs without bounds checks (the hottest loop of analysis).
				rc := qc[y*qw+coarseR : y*qw+qw-coarseR]
				rp := qp[(y-dy)*qw+coarseR-dx : (y-dy)*qw+qw-coarseR-dx]
				rp = rp[:len(rc)]
				row := 0
				for x, c := range rc {
					d := int(c) - int(rp[x])
					if d < 0 {
						d = -d
					}
					row += d
				}
				s += int64(row)
				if s >= best {
					break
				}
			}
			// Prefer small shifts on ties so flat frames report no motion.
			if s < best || (s == best && dx*dx+dy*dy < bx*bx+by*by) {
				best, bx, by = s, dx, dy
			}
		}
	}
	return 2 * bx, 2 * by
}

// refBlockSAD compares cur's block at (px,py) with prev displaced by -v.
func refBlockSAD(prev, cur []uint8, w, h, px, py, vx, vy int) (int, bool) {
	sx, sy := px-vx, py-vy
	if sx < 0 || sy < 0 || sx+blockSize > w || sy+blockSize > h {
		return 0, false
	}
	s := 0
	for r := 0; r < blockSize; r++ {
		rc := cur[(py+r)*w+px : (py+r)*w+px+blockSize]
		rp := prev[(sy+r)*w+sx : (sy+r)*w+sx+blockSize]
		for x := 0; x < blockSize; x++ {
			d := int(rc[x]) - int(rp[x])
			if d < 0 {
				d = -d
			}
			s += d
		}
	}
	return s, true
}

// refMatchBlock searches around zero and around the global shift, then refines
// to sub-pixel with a parabola through the neighbouring costs.
func refMatchBlock(prev, cur []uint8, w, h, px, py, gx, gy int) (float64, float64, int) {
	best, bx, by := math.MaxInt, 0, 0
	try := func(vx, vy int) {
		if s, ok := refBlockSAD(prev, cur, w, h, px, py, vx, vy); ok {
			if s < best || (s == best && vx*vx+vy*vy < bx*bx+by*by) {
				best, bx, by = s, vx, vy
			}
		}
	}
	for vy := -blockRadius; vy <= blockRadius; vy++ {
		for vx := -blockRadius; vx <= blockRadius; vx++ {
			try(vx, vy)
		}
	}
	if gx != 0 || gy != 0 {
		for vy := gy - blockRadius; vy <= gy+blockRadius; vy++ {
			for vx := gx - blockRadius; vx <= gx+blockRadius; vx++ {
				if abs(vx) <= blockRadius && abs(vy) <= blockRadius {
					continue
				}
				try(vx, vy)
			}
		}
	}
	if best == math.MaxInt {
		return 0, 0, 0
	}
	fx, fy := float64(bx), float64(by)
	if l, ok1 := refBlockSAD(prev, cur, w, h, px, py, bx-1, by); ok1 {
		if r, ok2 := refBlockSAD(prev, cur, w, h, px, py, bx+1, by); ok2 {
			fx += parabola(l, best, r)
		}
	}
	if u, ok1 := refBlockSAD(prev, cur, w, h, px, py, bx, by-1); ok1 {
		if d, ok2 := refBlockSAD(prev, cur, w, h, px, py, bx, by+1); ok2 {
			fy += parabola(u, best, d)
		}
	}
	return fx, fy, best
}
