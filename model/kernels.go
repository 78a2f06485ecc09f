package model

import (
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
)

// The numeric kernels of the fused engine (fused_ops.go). Every kernel
// partitions its *output* between workers (rows, columns or attention
// groups), never a sum, so results do not depend on how many cores run them
// and a resumed run repeats a step bit for bit.

// sgemm is C = alpha op(A) op(B) + beta C, row-major, through the BLAS
// handed to Gorgonia with G.Use (OpenBLAS with -tags openblas, gonum's pure
// Go otherwise), so the fused ops and Gorgonia's own products share one
// implementation.
func sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	G.WhichBLAS().Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// workers is how many goroutines a kernel splits into.
func workers() int { return runtime.GOMAXPROCS(0) }

// parallelFor runs f over [0, n) in contiguous chunks of at least grain
// items, one chunk per worker; the calling goroutine takes the first chunk.
func parallelFor(n, grain int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	w := workers()
	if most := (n + grain - 1) / grain; w > most {
		w = most
	}
	if w <= 1 {
		f(0, n)
		return
	}
	chunk := (n + w - 1) / w
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, min(chunk, n))
	wg.Wait()
}

// matmulRows is C[R,O] = A[R,K] @ B[K,O] (B transposed when tB: B is
// [O,K]), split over rows of C.
func matmulRows(c, a, b []float32, R, K, O int, tB bool) {
	ldb := O
	if tB {
		ldb = K
	}
	parallelFor(R, 64, func(lo, hi int) {
		sgemm(false, tB, hi-lo, O, K, 1, a[lo*K:], K, b, ldb, 0, c[lo*O:], O)
	})
}

// matmulTN is C[K,O] = A[R,K]^T @ B[R,O] (a weight gradient), split over
// the rows of C so no partial sums are combined.
func matmulTN(c, a, b []float32, R, K, O int) {
	parallelFor(K, 16, func(lo, hi int) {
		sgemm(true, false, hi-lo, O, R, 1, a[lo:], K, b, O, 0, c[lo*O:], O)
	})
}

// Cephes expf: x = n ln2 + r with n = round(x log2e), |r| <= ln2/2, and a
// degree-6 polynomial for e^r; within 2 ulp over [-87.3, 88.7]
// (TestExp32 checks it against math.Exp). Written without branches (the
// rounding by the 1.5*2^23 trick, the range by min/max) so that the loops
// below, which inline it, keep their pipelines full.
const (
	expHi    = 88.3762626647949
	expLo    = -87.3365478515625
	log2e    = 1.44269504088896341
	ln2Hi    = 0.693359375
	ln2Lo    = -2.12194440e-4
	expP0    = 1.9875691500e-4
	expP1    = 1.3981999507e-3
	expP2    = 8.3334519073e-3
	expP3    = 4.1665795894e-2
	expP4    = 1.6666665459e-1
	expP5    = 5.0000001201e-1
	roundMag = 12582912 // 1.5 * 2^23: adding it rounds a float32 to an integer
)

// exp32 is e^x in float32; below -87.3 it returns about 1e-38, above 88.4
// about 2.6e38 (never zero, infinity or NaN).
func exp32(x float32) float32 {
	x = min(max(x, expLo), expHi)
	t := x*log2e + roundMag
	n := t - roundMag
	r := x - n*ln2Hi - n*ln2Lo
	p := ((((expP0*r+expP1)*r+expP2)*r+expP3)*r+expP4)*r + expP5
	y := p*r*r + r + 1
	e := int32(math.Float32bits(t)) - int32(math.Float32bits(roundMag))
	return y * math.Float32frombits(uint32(e+127)<<23)
}

// sigmoid32 is 1 / (1 + e^-x).
func sigmoid32(x float32) float32 { return 1 / (1 + exp32(-x)) }

// softmaxRow replaces row by its softmax (max subtracted first).
func softmaxRow(row []float32) {
	if softmaxAsm(row) {
		return
	}
	mx := row[0]
	for _, v := range row[1:] {
		mx = max(mx, v)
	}
	inv := 1 / expAffine(row, row, 1, -mx)
	for i := range row {
		row[i] *= inv
	}
}

// The small strided products of attention over few positions (temporal
// attention: one row per frame), where a BLAS call would cost more than
// the arithmetic. Matrices are given by a base offset and a row stride;
// the head's dh columns are contiguous.

// dot is a·b over len(a), four sums in flight.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		a4, b4 := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += a4[0] * b4[0]
		s1 += a4[1] * b4[1]
		s2 += a4[2] * b4[2]
		s3 += a4[3] * b4[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy is dst += w * x over len(dst).
func axpy(dst []float32, w float32, x []float32) {
	x = x[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d4, x4 := dst[i:i+4:i+4], x[i:i+4:i+4]
		d4[0] += w * x4[0]
		d4[1] += w * x4[1]
		d4[2] += w * x4[2]
		d4[3] += w * x4[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += w * x[i]
	}
}

// smallABt is C[m,n] = alpha * A[m,dh] @ B[n,dh]^T, C dense (ldc n).
func smallABt(c []float32, a []float32, ao, as int, b []float32, bo, bs int, m, n, dh int, alpha float32) {
	if smallAsm(dh) {
		_, _, _ = c[m*n-1], a[ao+(m-1)*as+dh-1], b[bo+(n-1)*bs+dh-1] // bounds, checked here
		dotsAVX2(&c[0], &a[ao], as, &b[bo], bs, m, n, dh, alpha)
		return
	}
	for i := 0; i < m; i++ {
		ar := a[ao+i*as : ao+i*as+dh]
		cr := c[i*n : (i+1)*n]
		for j := range cr {
			cr[j] = alpha * dot(ar, b[bo+j*bs:bo+j*bs+dh])
		}
	}
}

// smallAB is C[m,dh] = alpha * A[m,n] @ B[n,dh], A dense (lda n), B and C
// strided.
func smallAB(c []float32, co, cs int, a []float32, b []float32, bo, bs int, m, n, dh int, alpha float32) {
	if smallAsm(dh) {
		_, _, _ = c[co+(m-1)*cs+dh-1], a[m*n-1], b[bo+(n-1)*bs+dh-1]
		axpysAVX2(&c[co], cs, &a[0], n, 1, &b[bo], bs, m, n, dh, alpha)
		return
	}
	for i := 0; i < m; i++ {
		cr := c[co+i*cs : co+i*cs+dh]
		clear(cr)
		for j, w := range a[i*n : (i+1)*n] {
			axpy(cr, alpha*w, b[bo+j*bs:bo+j*bs+dh])
		}
	}
}

// smallAtB is C[n,dh] = alpha * A[m,n]^T @ B[m,dh], A dense (lda n), B and
// C strided.
func smallAtB(c []float32, co, cs int, a []float32, b []float32, bo, bs int, m, n, dh int, alpha float32) {
	if smallAsm(dh) {
		_, _, _ = c[co+(n-1)*cs+dh-1], a[m*n-1], b[bo+(m-1)*bs+dh-1]
		axpysAVX2(&c[co], cs, &a[0], 1, n, &b[bo], bs, n, m, dh, alpha)
		return
	}
	for j := 0; j < n; j++ {
		cr := c[co+j*cs : co+j*cs+dh]
		clear(cr)
		for i := 0; i < m; i++ {
			axpy(cr, alpha*a[i*n+j], b[bo+i*bs:bo+i*bs+dh])
		}
	}
}

// expAffine writes e^(a*src[i] + b) into dst (which may be src) and
// returns their sum: eight lanes at a time with AVX2, exp32 for the rest.
func expAffine(dst, src []float32, a, b float32) float32 {
	dst = dst[:len(src)]
	i, s := expAffineAsm(dst, src, a, b)
	for ; i < len(src); i++ {
		e := exp32(a*src[i] + b)
		dst[i] = e
		s += e
	}
	return s
}
