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
				d := int(row[x+1]) - int(row[x])
				if d < strokeContrast && d > -strokeContrast {
					continue
				}
				for k := 1; k <= maxStroke && x+k+1 < w; k++ {
					d2 := int(row[x+k+1]) - int(row[x+k])
					if (d > 0 && d2 <= -strokeContrast) || (d < 0 && d2 >= strokeContrast) {
						crow[x/cellSize]++
						break
					}
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
				d := int(y[(r+1)*w+x]) - int(row[x])
				if d < strokeContrast && d > -strokeContrast {
					continue
				}
				for k := 1; k <= maxStroke && r+k+1 < h; k++ {
					d2 := int(y[(r+k+1)*w+x]) - int(y[(r+k)*w+x])
					if (d > 0 && d2 <= -strokeContrast) || (d < 0 && d2 >= strokeContrast) {
						crow[x/cellSize]++
						break
					}
				}
			}
		}
	}
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
