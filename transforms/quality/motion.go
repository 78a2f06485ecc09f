package quality

import (
	"encoding/binary"
	"math"
	"sort"
)

const (
	blockSize   = 8
	blockRadius = 3 // search radius around each prediction, pixels at motion resolution
	coarseR     = 6 // global search radius at quarter resolution (so ±12 px at motion resolution)
	minTexture  = 4 // mean absolute gradient below which a block's vector is meaningless
)

// motion is the result of comparing two luma frames (pixels at motion
// resolution, per compared pair).
type motion struct {
	meanAbsDiff float64
	tx, ty      float64 // camera translation at the frame centre
	zoom        float64 // relative scale change
	subject     float64 // mean residual displacement over all blocks
	movingFrac  float64
	// After warping prev by the camera model: mean absolute luma
	// difference, and the share of pixels that changed by more than
	// changeLevel. These see flat-shaded moving limbs that block matching
	// cannot lock onto.
	residualDiff float64
	changedFrac  float64
}

// changeLevel is the luma step (0..255) that counts a pixel as changed:
// above compression noise, below any real movement of an edge.
const changeLevel = 14

type blockVec struct {
	cx, cy   float64 // block centre, relative to the frame centre
	vx, vy   float64 // sub-pixel motion
	bestSAD  int
	px, py   int // block top-left
	textured bool
}

// motionFrame is what motion estimation uses of a frame: its luma at motion
// resolution, that downsampled again for the global search, and the sums of
// its 8x4 windows (windowSums) for pruning the block search.
type motionFrame struct {
	luma, quarter []uint8
	sums          []uint16
}

// motionScratch holds the analyser's working slices between frames, so
// that a frame's analysis allocates (and leaves the collector) nothing.
type motionScratch struct {
	blocks  []blockVec
	tex, in []int
	xs, ys  []float64
	colSums []uint16
}

// windowSums stores at sums[y*w+x] the sum of src (w x h) over the 8x4
// window with top-left (x,y), for every window inside the frame; col is
// scratch of w*h.
func windowSums(src []uint8, w, h int, sums, col []uint16) {
	if w < blockSize || h < blockSize/2 {
		return
	}
	// Columns of four rows, sliding down.
	c0 := col[:w]
	for x := range c0 {
		c0[x] = uint16(src[x]) + uint16(src[w+x]) + uint16(src[2*w+x]) + uint16(src[3*w+x])
	}
	for y := 1; y+4 <= h; y++ {
		prevCol, c := col[(y-1)*w:y*w], col[y*w:(y+1)*w]
		out, in := src[(y-1)*w:y*w], src[(y+3)*w:(y+4)*w]
		for x := range c {
			c[x] = prevCol[x] - uint16(out[x]) + uint16(in[x])
		}
	}
	// Eight columns, sliding right.
	for y := 0; y+4 <= h; y++ {
		c, s := col[y*w:(y+1)*w], sums[y*w:(y+1)*w]
		var v uint16
		for x := 0; x < blockSize; x++ {
			v += c[x]
		}
		s[0] = v
		for x := 1; x+blockSize <= w; x++ {
			v += c[x+blockSize-1] - c[x-1]
			s[x] = v
		}
	}
}

// estimateMotion matches 8x8 blocks of cur against prev (content moved by v
// means cur(p) = prev(p - v)), fits a similarity camera model robustly to the
// textured blocks and measures what moves against it.
// sc holds buffers reused from frame to frame.
func estimateMotion(prevF, curF *motionFrame, w, h int, sc *motionScratch) motion {
	prev, cur := prevF.luma, curF.luma
	var m motion
	m.meanAbsDiff = float64(sad(cur, prev)) / float64(len(cur))

	gx, gy := globalShift(prevF.quarter, curF.quarter, w/2, h/2)

	bw, bh := w/blockSize, h/blockSize
	blocks := sc.blocks[:0]
	hx, hy := gx, gy // the last block's vector, a likely one for the next
	for by := 0; by < bh; by++ {
		for bx := 0; bx < bw; bx++ {
			px, py := bx*blockSize, by*blockSize
			b := blockVec{px: px, py: py,
				cx: float64(px) + blockSize/2 - float64(w)/2,
				cy: float64(py) + blockSize/2 - float64(h)/2}
			c := loadBlock(cur, w, px, py)
			b.textured = blockTexture(c) >= minTexture
			if b.textured {
				top, bot := int(curF.sums[py*w+px]), int(curF.sums[(py+4)*w+px])
				b.vx, b.vy, b.bestSAD, hx, hy = matchBlock(prev, prevF.sums, c, top, bot, w, h, px, py, gx, gy, hx, hy)
			}
			blocks = append(blocks, b)
		}
	}
	sc.blocks = blocks
	tex := sc.tex[:0]
	for i, b := range blocks {
		if b.textured {
			tex = append(tex, i)
		}
	}
	sc.tex = tex
	if len(tex) < 4 {
		m.residualDiff, m.changedFrac = residual(prev, cur, w, h, 0, 0, 0, 0)
		return m
	}
	// Robust start: the median vector, then a least-squares similarity fit
	// to the blocks that agree with it (the background, usually).
	xs, ys := sc.xs[:0], sc.ys[:0]
	for _, i := range tex {
		xs, ys = append(xs, blocks[i].vx), append(ys, blocks[i].vy)
	}
	sc.xs, sc.ys = xs, ys
	mx, my := median(xs), median(ys)
	a, bb, tx, ty := 0.0, 0.0, mx, my
	in := sc.in[:0]
	for _, i := range tex {
		if math.Hypot(blocks[i].vx-mx, blocks[i].vy-my) <= 1.0 {
			in = append(in, i)
		}
	}
	sc.in = in
	if len(in) >= 6 {
		a, bb, tx, ty = fitSimilarity(blocks, in)
		// Zoom and rotation are only believable when small; otherwise the fit
		// chased a moving subject.
		if math.Abs(a) > 0.1 || math.Abs(bb) > 0.1 {
			a, bb, tx, ty = 0, 0, mx, my
		}
	}
	m.tx, m.ty, m.zoom = tx, ty, a

	var resid float64
	moving := 0
	for _, i := range tex {
		b := blocks[i]
		px := tx + a*b.cx - bb*b.cy
		py := ty + bb*b.cx + a*b.cy
		r := math.Hypot(b.vx-px, b.vy-py)
		if r < 0.75 {
			continue
		}
		// Accept the camera's prediction when it matches nearly as well as
		// the best vector: noise and flat texture make spurious vectors.
		ix, iy := int(math.Round(px)), int(math.Round(py))
		if s, ok := blockSAD(prev, loadBlock(cur, w, b.px, b.py), w, h, b.px, b.py, ix, iy); ok && s <= b.bestSAD+b.bestSAD/8+2*blockSize*blockSize {
			continue
		}
		resid += r
		moving++
	}
	m.subject = resid / float64(len(blocks))
	m.movingFrac = float64(moving) / float64(len(blocks))
	m.residualDiff, m.changedFrac = residual(prev, cur, w, h, a, bb, tx, ty)
	return m
}

// residual compares cur with prev warped by the camera model (bilinear),
// over the pixels whose source lies inside prev, leaving out a 2-pixel
// border where the warp is least certain.
func residual(prev, cur []uint8, w, h int, a, b, tx, ty float64) (meanDiff, changed float64) {
	var sum float64
	n, nc := 0, 0
	cx, cy := float64(w)/2, float64(h)/2
	for y := 2; y < h-2; y++ {
		fy := float64(y) + 0.5 - cy
		for x := 2; x < w-2; x++ {
			fx := float64(x) + 0.5 - cx
			// cur(p) = prev(p - v(p)).
			sx := float64(x) - (tx + a*fx - b*fy)
			sy := float64(y) - (ty + b*fx + a*fy)
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			if x0 < 0 || y0 < 0 || x0+1 >= w || y0+1 >= h {
				continue
			}
			ax, ay := sx-float64(x0), sy-float64(y0)
			i := y0*w + x0
			p := (1-ay)*((1-ax)*float64(prev[i])+ax*float64(prev[i+1])) + ay*((1-ax)*float64(prev[i+w])+ax*float64(prev[i+w+1]))
			d := math.Abs(float64(cur[y*w+x]) - p)
			sum += d
			n++
			if d > changeLevel {
				nc++
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), float64(nc) / float64(n)
}

// globalShift finds the dominant translation by exhaustive search at
// quarter resolution (qp and qc, qw x qh) over a fixed central region (so
// every shift compares the same number of pixels). It returns the shift at
// motion resolution.
func globalShift(qp, qc []uint8, qw, qh int) (int, int) {
	if qw <= 2*coarseR+4 || qh <= 2*coarseR+4 {
		return 0, 0
	}
	best, bx, by := math.MaxInt, 0, 0
	for dy := -coarseR; dy <= coarseR; dy++ {
		for dx := -coarseR; dx <= coarseR; dx++ {
			s := 0
			for y := coarseR; y < qh-coarseR; y++ {
				rc := qc[y*qw+coarseR : y*qw+qw-coarseR]
				rp := qp[(y-dy)*qw+coarseR-dx : (y-dy)*qw+qw-coarseR-dx]
				s += sad(rc, rp)
				// Stopping once a partial sum reaches best is part of the
				// result (a tie so reached may still take a shorter
				// shift), so it stays row by row.
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

// block8 is one 8x8 block of luma, a row to a word (byte i of a row is
// column i), so the block's sums run eight pixels at a time.
type block8 [blockSize]uint64

func loadBlock(y []uint8, w, px, py int) *block8 {
	var b block8
	rows := y[py*w+px : (py+blockSize-1)*w+px+blockSize]
	for r := range b {
		b[r] = binary.LittleEndian.Uint64(rows[r*w:])
	}
	return &b
}

// blockTexture is the block's mean absolute gradient: 7 horizontal steps
// in each of 8 rows and 8 vertical steps in each of 7 row pairs.
func blockTexture(c *block8) float64 {
	var acc uint64 // 16-bit lanes, each at most 15*510
	for r := range c {
		// Each byte against its right neighbour; the last byte has none
		// in the word, so its lane is dropped.
		acc += pairSum16(absDiff8(c[r], c[r]>>8) & 0x00ffffffffffffff)
	}
	for r := 0; r < blockSize-1; r++ {
		acc += pairSum16(absDiff8(c[r], c[r+1]))
	}
	return float64(sum16(acc)) / float64(2*blockSize*(blockSize-1))
}

// blockSAD compares cur's block c (top-left px,py) with prev displaced by
// -v, if that lies inside the frame.
func blockSAD(prev []uint8, c *block8, w, h, px, py, vx, vy int) (int, bool) {
	sx, sy := px-vx, py-vy
	if sx < 0 || sy < 0 || sx+blockSize > w || sy+blockSize > h {
		return 0, false
	}
	return sadBlock(prev, c, w, sx, sy), true
}

// sadBlock is the sum of absolute differences between c and prev's block
// at (sx,sy), which must lie inside prev.
func sadBlock(prev []uint8, c *block8, w, sx, sy int) int {
	rows := prev[sy*w+sx : (sy+blockSize-1)*w+sx+blockSize]
	var acc uint64 // 16-bit lanes, each at most 8*510: the total fits sum16
	for r := range c {
		acc += pairSum16(absDiff8(c[r], binary.LittleEndian.Uint64(rows[r*w:])))
	}
	return sum16(acc)
}

// sadBlockOver is sadBlock, except that once the first half of the block
// already costs more than limit it returns that partial cost (still more
// than limit): the search only needs to know such a candidate loses.
func sadBlockOver(prev []uint8, c *block8, w, sx, sy, limit int) int {
	rows := prev[sy*w+sx : (sy+blockSize-1)*w+sx+blockSize]
	var acc uint64
	for r := 0; r < blockSize/2; r++ {
		acc += pairSum16(absDiff8(c[r], binary.LittleEndian.Uint64(rows[r*w:])))
	}
	if s := sum16(acc); s > limit {
		return s
	}
	for r := blockSize / 2; r < blockSize; r++ {
		acc += pairSum16(absDiff8(c[r], binary.LittleEndian.Uint64(rows[r*w:])))
	}
	return sum16(acc)
}

// matchBlock searches around zero and around the global shift, then refines
// to sub-pixel with a parabola through the neighbouring costs. It also
// returns the whole-pixel vector found. (hx,hy) is a guess at it (the
// previous block's), used only to stop costing hopeless candidates early,
// as are ps, prev's window sums, and top and bot, the sums of c's upper and
// lower halves.
func matchBlock(prev []uint8, ps []uint16, c *block8, top, bot, w, h, px, py, gx, gy, hx, hy int) (float64, float64, int, int, int) {
	// The search keeps the least cost, then the shortest vector, then the
	// first tried. A candidate costing more than some candidate of the
	// search can never be that one, so once the guess, if it is one of the
	// candidates, has been costed, anything dearer is dropped: on a floor
	// under its cost, or half-costed. (Loops written out rather than a
	// closure per candidate: the calls cost as much as the work.)
	limit := math.MaxInt
	inZero := abs(hx) <= blockRadius && abs(hy) <= blockRadius
	inShift := (gx != 0 || gy != 0) && abs(hx-gx) <= blockRadius && abs(hy-gy) <= blockRadius
	if sx, sy := px-hx, py-hy; (inZero || inShift) && sx >= 0 && sy >= 0 && sx+blockSize <= w && sy+blockSize <= h {
		limit = sadBlock(prev, c, w, sx, sy)
	}
	best, bx, by := math.MaxInt, 0, 0
	windows := 1 // around zero, then around the global shift if there is one
	if gx != 0 || gy != 0 {
		windows = 2
	}
	for win := 0; win < windows; win++ {
		cx, cy := 0, 0
		if win == 1 {
			cx, cy = gx, gy
		}
		for vy := cy - blockRadius; vy <= cy+blockRadius; vy++ {
			sy := py - vy
			if sy < 0 || sy+blockSize > h {
				continue
			}
			for vx := cx - blockRadius; vx <= cx+blockRadius; vx++ {
				if win == 1 && abs(vx) <= blockRadius && abs(vy) <= blockRadius {
					continue // tried around zero
				}
				sx := px - vx
				if sx < 0 || sx+blockSize > w {
					continue
				}
				// The difference of the halves' sums is a floor under the
				// cost (|sum a - sum b| <= sum |a-b|): most candidates
				// already lose on it, without a pixel compared.
				if abs(top-int(ps[sy*w+sx]))+abs(bot-int(ps[(sy+blockSize/2)*w+sx])) > limit {
					continue
				}
				s := sadBlockOver(prev, c, w, sx, sy, limit)
				if s > limit {
					continue
				}
				if s < best || (s == best && vx*vx+vy*vy < bx*bx+by*by) {
					best, bx, by, limit = s, vx, vy, s
				}
			}
		}
	}
	if best == math.MaxInt {
		return 0, 0, 0, hx, hy
	}
	fx, fy := float64(bx), float64(by)
	if l, ok1 := blockSAD(prev, c, w, h, px, py, bx-1, by); ok1 {
		if r, ok2 := blockSAD(prev, c, w, h, px, py, bx+1, by); ok2 {
			fx += parabola(l, best, r)
		}
	}
	if u, ok1 := blockSAD(prev, c, w, h, px, py, bx, by-1); ok1 {
		if d, ok2 := blockSAD(prev, c, w, h, px, py, bx, by+1); ok2 {
			fy += parabola(u, best, d)
		}
	}
	return fx, fy, best, bx, by
}

func parabola(l, c, r int) float64 {
	den := float64(l - 2*c + r)
	if den <= 0 {
		return 0
	}
	return math.Max(-0.5, math.Min(0.5, float64(l-r)/(2*den)))
}

// fitSimilarity solves v = t + [a -b; b a] p by least squares over blocks in.
func fitSimilarity(blocks []blockVec, in []int) (a, b, tx, ty float64) {
	var mx, my, mvx, mvy float64
	for _, i := range in {
		mx += blocks[i].cx
		my += blocks[i].cy
		mvx += blocks[i].vx
		mvy += blocks[i].vy
	}
	n := float64(len(in))
	mx, my, mvx, mvy = mx/n, my/n, mvx/n, mvy/n
	var num1, num2, den float64
	for _, i := range in {
		x, y := blocks[i].cx-mx, blocks[i].cy-my
		vx, vy := blocks[i].vx-mvx, blocks[i].vy-mvy
		num1 += x*vx + y*vy
		num2 += x*vy - y*vx
		den += x*x + y*y
	}
	if den > 0 {
		a, b = num1/den, num2/den
	}
	tx = mvx - a*mx + b*my
	ty = mvy - b*mx - a*my
	return a, b, tx, ty
}

// median sorts v (in place) and returns its median.
func median(v []float64) float64 {
	s := v
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
