package quality

import "encoding/binary"

// SWAR ("SIMD within a register") helpers: eight luma bytes handled at once
// in a uint64, in pure Go. They are exact integer arithmetic, so sums built
// from them equal the byte-by-byte sums they replace.

const (
	lanesHi   = 0x8080808080808080 // the top bit of every byte
	lanesEven = 0x00ff00ff00ff00ff // the even bytes, as 16-bit lanes
)

// absDiff8 is |a-b| for each of the eight bytes of a and b.
func absDiff8(a, b uint64) uint64 {
	// Bytewise a-b mod 256, with no borrow crossing bytes.
	d := ((a | lanesHi) - (b &^ lanesHi)) ^ ((a ^ ^b) & lanesHi)
	// A byte's borrow out (a < b) at its top bit, from its top bits and
	// the difference's.
	lt := ((^a & b) | (^(a ^ b) & d)) & lanesHi >> 7
	// Negate the bytes that borrowed: ^d+1. No byte overflows (|a-b| <=
	// 255), so the adds stay in their bytes.
	return (d ^ (lt * 0xff)) + lt
}

// pairSum16 adds the bytes of x in pairs into four 16-bit lanes (each at
// most 510), ready to accumulate several words before sum16.
func pairSum16(x uint64) uint64 {
	return x&lanesEven + x>>8&lanesEven
}

// sum16 totals the four 16-bit lanes of x; their sum must fit 16 bits.
func sum16(x uint64) int {
	return int(x * 0x0001000100010001 >> 48)
}

// sad is the sum of |a[i]-b[i]| over a and b (same length).
func sad(a, b []uint8) int {
	b = b[:len(a)]
	total := 0
	if len(a) < 8 {
		for i, x := range a {
			total += absDiffInt(x, b[i])
		}
		return total
	}
	i := 0
	for len(a)-i >= 8 {
		// Up to 128 words in 16-bit lanes (each at most 128*510 < 65536),
		// then folded into the total.
		n := min((len(a)-i)/8, 128)
		var acc uint64
		for end := i + 8*n; i < end; i += 8 {
			acc += pairSum16(absDiff8(binary.LittleEndian.Uint64(a[i:]), binary.LittleEndian.Uint64(b[i:])))
		}
		acc = acc&0x0000ffff0000ffff + acc>>16&0x0000ffff0000ffff
		total += int(acc&0xffffffff + acc>>32)
	}
	if rem := len(a) - i; rem > 0 {
		// The last eight bytes, less the lanes already counted.
		d := absDiff8(binary.LittleEndian.Uint64(a[len(a)-8:]), binary.LittleEndian.Uint64(b[len(a)-8:]))
		total += sum16(pairSum16(d >> (8 * (8 - rem))))
	}
	return total
}

func absDiffInt(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}
