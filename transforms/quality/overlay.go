package quality

import "encoding/binary"

const (
	cellSize = 8
	// strokeContrast is the luma step (0..255) at both sides of a stroke:
	// rendered text and boxes are drawn at full contrast, while camera
	// footage at analysis resolution rarely has such thin, hard lines.
	strokeContrast = 56
	maxStroke      = 3 // widest stroke, pixels at analysis width
	minCellStrokes = 6 // stroke pixels that make a cell text-like
)

// textCells marks cells crossed by many thin high-contrast strokes (a rise
// and a fall within maxStroke pixels, horizontally or vertically) and returns
// the share of cells marked. counts is scratch space of cx*cy counters.
func textCells(y []uint8, w, h, cx, cy int, bits []uint64, counts []uint16) float64 {
	if cx == 0 || cy == 0 {
		return 0
	}
	counts = counts[:cx*cy]
	clear(counts)
	cw := cx * cellSize
	for r := 0; r < cy*cellSize; r++ {
		row := y[r*w : (r+1)*w]
		crow := counts[(r/cellSize)*cx:]
		// Eight steps at a time: most of a frame has no step as steep as
		// a stroke's edge, and those words are passed over whole. A word
		// with one is gone through pixel by pixel as before.
		for x0 := 0; x0 < cw; x0 += 8 {
			a := binary.LittleEndian.Uint64(row[x0:])
			var b uint64
			if x0+9 <= w {
				b = binary.LittleEndian.Uint64(row[x0+1:])
			} else {
				// The row's last word: its last step (to a pixel past the
				// row) is not one the search takes (x+1 < cw), so that
				// lane is made flat.
				b = a>>8 | a&0xff00000000000000
			}
			if !anySteep(a, b) {
				continue
			}
			for x := x0; x < x0+8 && x+1 < cw; x++ {
				if strokeEdge(row, x, 1, w-x-2) {
					crow[x/cellSize]++
				}
			}
		}
	}
	for r := 0; r+1 < cy*cellSize; r++ {
		row := y[r*w : (r+1)*w]
		nxt := y[(r+1)*w : (r+2)*w]
		crow := counts[(r/cellSize)*cx:]
		for x0 := 0; x0 < cw; x0 += 8 {
			if !anySteep(binary.LittleEndian.Uint64(row[x0:]), binary.LittleEndian.Uint64(nxt[x0:])) {
				continue
			}
			for x := x0; x < x0+8; x++ {
				if strokeEdge(y, r*w+x, w, h-r-2) {
					crow[x/cellSize]++
				}
			}
		}
	}
	return markCells(counts, bits)
}

// strokeEdge reports whether the step from y[i] to y[i+step] is a stroke's
// edge: at least strokeContrast steep, and met within maxStroke further
// steps (room at the most: the frame's edge) by a steep step back.
func strokeEdge(y []uint8, i, step, room int) bool {
	d := int(y[i+step]) - int(y[i])
	if d < strokeContrast && d > -strokeContrast {
		return false
	}
	for k := 1; k <= min(maxStroke, room); k++ {
		d2 := int(y[i+(k+1)*step]) - int(y[i+k*step])
		if (d > 0 && d2 <= -strokeContrast) || (d < 0 && d2 >= strokeContrast) {
			return true
		}
	}
	return false
}

// markCells sets the bit of every cell with at least minCellStrokes stroke
// pixels and returns the share of cells set.
func markCells(counts []uint16, bits []uint64) float64 {
	n := 0
	for c, v := range counts {
		if v >= minCellStrokes {
			bits[c>>6] |= 1 << (c & 63)
			n++
		}
	}
	return float64(n) / float64(len(counts))
}

// anySteep reports whether any byte of a and b differ by strokeContrast or
// more.
func anySteep(a, b uint64) bool {
	const (
		low7 = 0x7f7f7f7f7f7f7f7f
		lift = (128 - strokeContrast) * 0x0101010101010101
	)
	d := absDiff8(a, b)
	// A byte's top bit is set when it is 128 or more, or its low seven bits
	// reach strokeContrast (the add cannot carry out of a byte).
	return (d|(d&low7+lift))&lanesHi != 0
}
