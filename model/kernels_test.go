package model

import (
	"math"
	"syscall"
	"testing"
)

// exp32 is within 2 ulp of e^x over the float32 range it is used on, and
// saturates instead of returning 0, +Inf or NaN outside it.
func TestExp32(t *testing.T) {
	worst := 0.0
	for x := float32(-87.3); x < 88.3; x += 0.000731 {
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		if e := math.Abs(got-want) / want; e > worst {
			worst = e
		}
	}
	if worst > 2.5e-7 {
		t.Fatalf("worst relative error %g", worst)
	}
	t.Logf("worst relative error %.3g", worst)
	for _, x := range []float32{-1e30, -200, -88, 89, 1000, 1e30} {
		v := exp32(x)
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < 0 {
			t.Errorf("exp32(%g) = %g", x, v)
		}
	}
	if s := sigmoid32(-200); s < 0 || s > 1e-30 {
		t.Errorf("sigmoid32(-200) = %g", s)
	}
	if s := sigmoid32(200); s != 1 {
		t.Errorf("sigmoid32(200) = %g", s)
	}
}

func BenchmarkExp32(b *testing.B) {
	row := make([]float32, 4096)
	for i := range row {
		row[i] = float32(i%200)/10 - 15
	}
	out := make([]float32, len(row))
	b.ResetTimer()
	c0 := cpuNow()
	for i := 0; i < b.N; i++ {
		for j, v := range row {
			out[j] = exp32(v)
		}
	}
	b.ReportMetric(float64(cpuNow()-c0)/float64(b.N*len(row)), "cpu-ns/exp")
}

// cpuNow is this process's user+system CPU time in nanoseconds: steadier
// than wall time when other work shares the two cores.
func cpuNow() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// expAffine (AVX2 where the CPU has it) agrees with exp32 lane by lane,
// tails included, and returns the sum of what it wrote.
func TestExpAffine(t *testing.T) {
	if !useAVX2 {
		t.Log("no AVX2/FMA here: expAffine is exp32 alone")
	}
	for _, n := range []int{1, 7, 8, 9, 16, 23, 96, 1000} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i%97)*1.7 - 80
		}
		for _, ab := range [][2]float32{{1, 0}, {-1, 0}, {1, -3.5}, {0.25, 2}} {
			dst := make([]float32, n)
			sum := expAffine(dst, src, ab[0], ab[1])
			var want float64
			for i, x := range src {
				w := float64(exp32(ab[0]*x + ab[1]))
				want += w
				if d := math.Abs(float64(dst[i])-w) / w; d > 2e-7 {
					t.Fatalf("n=%d a,b=%v: element %d = %g, exp32 %g", n, ab, i, dst[i], w)
				}
			}
			if math.Abs(float64(sum)-want) > 1e-5*want {
				t.Fatalf("n=%d a,b=%v: sum %g, want %g", n, ab, sum, want)
			}
		}
	}
}

func BenchmarkExpAffine(b *testing.B) {
	row := make([]float32, 4096)
	for i := range row {
		row[i] = float32(i%200)/10 - 15
	}
	out := make([]float32, len(row))
	b.ResetTimer()
	c0 := cpuNow()
	for i := 0; i < b.N; i++ {
		expAffine(out, row, 1, 0)
	}
	b.ReportMetric(float64(cpuNow()-c0)/float64(b.N*len(row)), "cpu-ns/exp")
}

// softmaxRow (AVX2 on rows a multiple of eight long) sums to one and
// agrees with a float64 softmax.
func TestSoftmaxRow(t *testing.T) {
	for _, n := range []int{1, 8, 9, 16, 17, 96} {
		row := make([]float32, n)
		for i := range row {
			row[i] = float32((i*37)%23)*0.9 - 7
		}
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		want := make([]float64, n)
		tot := 0.0
		for i, v := range row {
			want[i] = math.Exp(float64(v) - mx)
			tot += want[i]
		}
		softmaxRow(row)
		sum := 0.0
		for i, v := range row {
			sum += float64(v)
			if d := math.Abs(float64(v) - want[i]/tot); d > 1e-6 {
				t.Fatalf("n=%d: element %d = %g, want %g", n, i, v, want[i]/tot)
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("n=%d: sums to %g", n, sum)
		}
	}
}

// The AVX2 attention kernels agree with the plain loops, with strides,
// head offsets and the sequence lengths of the presets.
func TestSmallProductsAVX2(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2/FMA on this CPU: only the plain loops run")
	}
	rng := newRNG(71)
	for _, sz := range [][3]int{{9, 9, 16}, {17, 17, 32}, {3, 5, 8}, {9, 9, 64}} {
		m, n, dh := sz[0], sz[1], sz[2]
		stride := 4 * dh // rows of a wider activation, as in temporal attention
		a := randNoise(rng, 64*stride)
		b := randNoise(rng, 64*stride)
		p := randNoise(rng, m*n)
		run := func(avx bool) (abt, ab, atb []float32) {
			useAVX2 = avx
			defer func() { useAVX2 = true }()
			abt = make([]float32, m*n)
			smallABt(abt, a, dh, stride, b, 2*dh, stride, m, n, dh, 0.25)
			ab = make([]float32, 64*stride)
			smallAB(ab, dh, stride, p, b, 3*dh, stride, m, n, dh, 0.5)
			atb = make([]float32, 64*stride)
			smallAtB(atb, 2*dh, stride, p, a, dh, stride, m, n, dh, 0.5)
			return
		}
		g1, g2, g3 := run(false)
		a1, a2, a3 := run(true)
		for name, pair := range map[string][2][]float32{"ABt": {g1, a1}, "AB": {g2, a2}, "AtB": {g3, a3}} {
			if e := relErr(toF64(pair[1]), toF64(pair[0])); e > 1e-6 {
				t.Errorf("%v %s: relative error %g", sz, name, e)
			}
		}
	}
}
