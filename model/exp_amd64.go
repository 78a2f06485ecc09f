//go:build !purego

package model

import "golang.org/x/sys/cpu"

// useAVX2 routes expAffine through eight-lane AVX2/FMA code: exp is most of
// the element-wise work (softmax of every attention row, SiLU).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func expAffineAVX2(dst, src *float32, n int, a, b float32) float32

//go:noescape
func softmaxAVX2(row *float32, n int)

// softmaxAsm does softmaxRow with AVX2 when the row is a multiple of
// eight long; it reports whether it did.
func softmaxAsm(row []float32) bool {
	if !useAVX2 || len(row)%8 != 0 || len(row) == 0 {
		return false
	}
	softmaxAVX2(&row[0], len(row))
	return true
}

func expAffineAsm(dst, src []float32, a, b float32) (done int, sum float32) {
	if !useAVX2 {
		return 0, 0
	}
	n := min(len(dst), len(src)) &^ 7
	if n == 0 {
		return 0, 0
	}
	return n, expAffineAVX2(&dst[0], &src[0], n, a, b)
}

//go:noescape
func dotsAVX2(c, a *float32, as int, b *float32, bs, m, n, dh int, alpha float32)

//go:noescape
func axpysAVX2(c *float32, cs int, a *float32, ars, aks int, b *float32, bs, rows, k, dh int, alpha float32)

// smallAsm reports whether the AVX2 attention kernels handle head width dh.
func smallAsm(dh int) bool { return useAVX2 && dh > 0 && dh%8 == 0 }
