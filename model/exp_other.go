//go:build !amd64 || purego

package model

var useAVX2 = false

func expAffineAsm(dst, src []float32, a, b float32) (int, float32) { return 0, 0 }

func softmaxAsm([]float32) bool { return false }

func smallAsm(int) bool { return false }

func dotsAVX2(c, a *float32, as int, b *float32, bs, m, n, dh int, alpha float32) {
	panic("unreachable")
}

func axpysAVX2(c *float32, cs int, a *float32, ars, aks int, b *float32, bs, rows, k, dh int, alpha float32) {
	panic("unreachable")
}
