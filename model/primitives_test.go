package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// checkOp differentiates sum(f(x) * R) for a fixed random R.
func checkOp(t *testing.T, name string, shape []int, f func(b *builder, x *G.Node) *G.Node) {
	rng := rand.New(rand.NewPCG(3, 3))
	data := make([]float32, shapeSize(shape))
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	eval := func(withGrad bool) (float64, []float32) {
		g := G.NewGraph()
		b := &builder{g: g}
		xt := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), data...)))
		x := G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithValue(xt), G.WithName("x"))
		y := f(b, x)
		if b.err != nil {
			t.Fatal(b.err)
		}
		r := make([]float32, y.Shape().TotalSize())
		rr := rand.New(rand.NewPCG(7, 7))
		for i := range r {
			r[i] = float32(rr.NormFloat64())
		}
		rt := G.NewTensor(g, tensor.Float32, y.Shape().Dims(), G.WithShape(y.Shape()...), G.WithValue(tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(r))))
		obj := G.Must(G.Sum(G.Must(G.HadamardProd(y, rt))))
		var ov, gv G.Value
		G.Read(obj, &ov)
		if withGrad {
			gr, err := G.Grad(obj, x)
			if err != nil {
				t.Fatal(err)
			}
			G.Read(gr[0], &gv)
		}
		vm := G.NewTapeMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		var gd []float32
		if gv != nil {
			gd = gv.Data().([]float32)
		}
		return float64(ov.Data().(float32)), gd
	}
	_, g := eval(true)
	maxErr, maxG := 0.0, 0.0
	for j := 0; j < len(data); j += 1 + len(data)/40 {
		old := data[j]
		data[j] = old + 1e-2
		fp, _ := eval(false)
		data[j] = old - 1e-2
		fm, _ := eval(false)
		data[j] = old
		num := (fp - fm) / 2e-2
		maxErr = math.Max(maxErr, math.Abs(num-float64(g[j])))
		maxG = math.Max(maxG, math.Abs(float64(g[j])))
	}
	if maxErr > 2e-3*maxG+1e-4 {
		t.Errorf("%s: gradient off by %g (largest gradient %g)", name, maxErr, maxG)
	}
}

// TestPrimitiveGradients checks Gorgonia's gradient of every op and
// composite the network uses against central differences, one op at a time
// (float32, step 1e-2). G.InverseSqrt is absent: its gradient is wrong in
// v0.9.18, so layerNorm divides by Sqrt instead.
func TestPrimitiveGradients(t *testing.T) {
	checkOp(t, "ln", []int{6, 5}, func(b *builder, x *G.Node) *G.Node { return b.layerNorm(x) })
	checkOp(t, "mean1", []int{6, 5}, func(b *builder, x *G.Node) *G.Node {
		return b.do(func() (*G.Node, error) { return G.Mean(x, 1) }, "")
	})
	checkOp(t, "bsub", []int{6, 5}, func(b *builder, x *G.Node) *G.Node {
		mu := b.do(func() (*G.Node, error) { return G.Mean(x, 1) }, "")
		return b.do(func() (*G.Node, error) { return G.BroadcastSub(x, mu, nil, []byte{1}) }, "")
	})
	checkOp(t, "bmul", []int{6, 5}, func(b *builder, x *G.Node) *G.Node {
		mu := b.do(func() (*G.Node, error) { return G.Mean(x, 1) }, "")
		return b.do(func() (*G.Node, error) { return G.BroadcastHadamardProd(x, mu, nil, []byte{1}) }, "")
	})
	checkOp(t, "transpose4", []int{2, 3, 4, 2}, func(b *builder, x *G.Node) *G.Node {
		y := b.transpose(x, 0, 2, 1, 3)
		return b.do(func() (*G.Node, error) { return G.Square(y) }, "")
	})
	checkOp(t, "bmmT", []int{2, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		y := b.do(func() (*G.Node, error) { return G.Square(x) }, "")
		return b.do(func() (*G.Node, error) { return G.BatchedMatMul(x, y, false, true) }, "")
	})
	checkOp(t, "bmm", []int{2, 3, 3}, func(b *builder, x *G.Node) *G.Node {
		y := b.do(func() (*G.Node, error) { return G.Square(x) }, "")
		return b.do(func() (*G.Node, error) { return G.BatchedMatMul(x, y) }, "")
	})
	checkOp(t, "softmax", []int{2, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		return b.do(func() (*G.Node, error) { return G.SoftMax(x, 2) }, "")
	})
	checkOp(t, "silu", []int{6, 5}, func(b *builder, x *G.Node) *G.Node { return b.silu(x) })
	checkOp(t, "softplus", []int{6}, func(b *builder, x *G.Node) *G.Node {
		return b.do(func() (*G.Node, error) { return G.Softplus(x) }, "")
	})
	checkOp(t, "scale", []int{6}, func(b *builder, x *G.Node) *G.Node { return b.scale(x, 0.3) })
	checkOp(t, "matvec", []int{3, 4}, func(b *builder, x *G.Node) *G.Node {
		v := b.do(func() (*G.Node, error) { return G.Sum(x, 0) }, "")
		return b.mm(x, v)
	})
	checkOp(t, "pos", []int{2, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		s := b.do(func() (*G.Node, error) { return G.Sum(x, 0) }, "")
		return b.do(func() (*G.Node, error) { return G.BroadcastAdd(x, b.mul(s, s), nil, []byte{0}) }, "")
	})
	checkOp(t, "modulate", []int{2, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		s := b.do(func() (*G.Node, error) { return G.Sum(x, 1) }, "")
		sh := b.mul(s, s)
		return b.modulate(b.reshape(x, 6, 4), sh, s, 2, 3, 4)
	})
	w := func(b *builder, n int, seed uint64) *G.Node {
		rr := rand.New(rand.NewPCG(seed, 1))
		d := make([]float32, n*n)
		for i := range d {
			d[i] = float32(rr.NormFloat64() * 0.5)
		}
		return G.NewTensor(b.g, tensor.Float32, 2, G.WithShape(n, n), G.WithValue(tensor.New(tensor.WithShape(n, n), tensor.WithBacking(d))))
	}
	checkOp(t, "multiuse", []int{6, 4}, func(b *builder, x *G.Node) *G.Node {
		return b.add(x, b.mm(x, w(b, 4, 1)))
	})
	checkOp(t, "attn1", []int{6, 4}, func(b *builder, x *G.Node) *G.Node {
		ps := map[string]*G.Node{}
		p := func(n string) *G.Node {
			if ps[n] == nil {
				if n[len(n)-4:] == "bias" {
					ps[n] = G.NewTensor(b.g, tensor.Float32, 1, G.WithShape(4), G.WithInit(G.Zeroes()))
				} else {
					ps[n] = w(b, 4, uint64(len(ps)+3))
				}
			}
			return ps[n]
		}
		return b.attention(x, p, "a", 2, 3, 4, 1)
	})
	checkOp(t, "attn2", []int{6, 4}, func(b *builder, x *G.Node) *G.Node {
		ps := map[string]*G.Node{}
		p := func(n string) *G.Node {
			if ps[n] == nil {
				if n[len(n)-4:] == "bias" {
					ps[n] = G.NewTensor(b.g, tensor.Float32, 1, G.WithShape(4), G.WithInit(G.Zeroes()))
				} else {
					ps[n] = w(b, 4, uint64(len(ps)+3))
				}
			}
			return ps[n]
		}
		return b.attention(x, p, "a", 2, 3, 4, 2)
	})
	checkOp(t, "lnres", []int{6, 4}, func(b *builder, x *G.Node) *G.Node {
		return b.add(x, b.mm(b.layerNorm(x), w(b, 4, 1)))
	})
	checkOp(t, "modulateB1", []int{1, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		s := b.do(func() (*G.Node, error) { return G.Sum(x, 1) }, "")
		sh := b.mul(s, s)
		return b.modulate(b.reshape(x, 3, 4), sh, s, 1, 3, 4)
	})
	checkOp(t, "gatedB1", []int{1, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		s := b.do(func() (*G.Node, error) { return G.Sum(x, 1) }, "")
		x2 := b.reshape(x, 3, 4)
		return b.gated(x2, b.mul(x2, x2), s, 1, 3, 4)
	})
	checkOp(t, "gatedB2", []int{2, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		s := b.do(func() (*G.Node, error) { return G.Sum(x, 1) }, "")
		x2 := b.reshape(x, 6, 4)
		return b.gated(x2, b.mul(x2, x2), s, 2, 3, 4)
	})
	for _, k := range []int{2, 3, 4, 5, 8, 12} {
		k := k
		checkOp(t, fmt.Sprintf("fanout%d", k), []int{2, 4}, func(b *builder, x *G.Node) *G.Node {
			var acc *G.Node
			for i := 0; i < k; i++ {
				y := b.mm(x, w(b, 4, uint64(i+10)))
				if acc == nil {
					acc = y
				} else {
					acc = b.add(acc, b.mul(y, y))
				}
			}
			return acc
		})
	}
	checkOp(t, "posB1", []int{1, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		s := b.do(func() (*G.Node, error) { return G.Sum(x, 0) }, "")
		return b.do(func() (*G.Node, error) { return G.BroadcastAdd(x, b.mul(s, s), nil, []byte{0}) }, "")
	})
	checkOp(t, "mseB1", []int{1, 12}, func(b *builder, x *G.Node) *G.Node {
		sq := b.do(func() (*G.Node, error) { return G.Square(x) }, "")
		return b.do(func() (*G.Node, error) { return G.Mean(sq, 1) }, "")
	})
	checkOp(t, "mseB2", []int{2, 12}, func(b *builder, x *G.Node) *G.Node {
		sq := b.do(func() (*G.Node, error) { return G.Square(x) }, "")
		return b.do(func() (*G.Node, error) { return G.Mean(sq, 1) }, "")
	})
	checkOp(t, "linB1", []int{1, 4}, func(b *builder, x *G.Node) *G.Node {
		return b.linear(b.reshape(x, 1, 4), w(b, 4, 3), G.NewTensor(b.g, tensor.Float32, 1, G.WithShape(4), G.WithInit(G.Zeroes())))
	})
	checkOp(t, "biasgrad", []int{4}, func(b *builder, x *G.Node) *G.Node {
		y := b.mm(b.reshape(b.mul(b.silu(w(b, 4, 3)), w(b, 4, 4)), 4, 4), w(b, 4, 3))
		return b.do(func() (*G.Node, error) { return G.BroadcastAdd(y, x, nil, []byte{0}) }, "bias")
	})
	checkOp(t, "softmax-1", []int{2, 3, 4}, func(b *builder, x *G.Node) *G.Node {
		return b.do(func() (*G.Node, error) { return G.SoftMax(x) }, "")
	})
}
