package model

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The fused engine's Gorgonia ops. Each is one layer-sized step of the
// network (a linear layer, LayerNorm with adaLN modulation, the attention
// scores with their softmax, ...) with its forward pass in Do and its
// gradient given to Gorgonia's symbolic differentiation (SymDiff) as more
// ops of this file, so G.Grad still builds the backward graph.
//
// Why fused ops: in gorgonia v0.9.18 the network written from primitive
// ops is 1,885 nodes a tiny DPO step, each allocating its result, its
// gradient buffer and goroutines, and the TapeMachine that could reuse
// memory corrupts gradients of views (reshape, transpose). These ops
// return no views, keep their result in a buffer they own (allocated on
// first use, reused by every later run), and are pure functions of their
// inputs: no state passes between ops outside the graph's edges, so any
// machine, the TapeMachine included, schedules them safely.

var opSerial atomic.Int64

// opBase is what every fused op shares: a unique name (so Gorgonia never
// merges two ops), fixed types and output shape, and the output buffer.
type opBase struct {
	name  string
	arity int
	typ   hm.Type
	shape tensor.Shape
	dtype tensor.Dtype
	buf   *tensor.Dense
}

func newOpBase(name string, children []*G.Node, dt tensor.Dtype, shape ...int) opBase {
	name = fmt.Sprintf("%s#%d", name, opSerial.Add(1))
	ts := make([]hm.Type, 0, len(children)+1)
	for _, c := range children {
		ts = append(ts, c.Type())
	}
	var out hm.Type = dt
	if len(shape) > 0 {
		out = G.TensorType{Dims: len(shape), Of: dt}
	}
	ts = append(ts, out)
	return opBase{name: name, arity: len(children), typ: hm.NewFnType(ts...), shape: tensor.Shape(shape), dtype: dt}
}

func (o *opBase) Arity() int                                     { return o.arity }
func (o *opBase) Type() hm.Type                                  { return o.typ }
func (o *opBase) InferShape(...G.DimSizer) (tensor.Shape, error) { return o.shape.Clone(), nil }
func (o *opBase) ReturnsPtr() bool                               { return false }
func (o *opBase) CallsExtern() bool                              { return false }
func (o *opBase) OverwritesInput() int                           { return -1 }
func (o *opBase) WriteHash(h hash.Hash)                          { fmt.Fprint(h, o.name) }
func (o *opBase) String() string                                 { return o.name }
func (o *opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// out returns the op's output tensor, allocated on first use.
func (o *opBase) out() *tensor.Dense {
	if o.buf == nil {
		o.buf = tensor.New(tensor.Of(o.dtype), tensor.WithShape(o.shape.Clone()...))
	}
	return o.buf
}

func (o *opBase) f32() []float32 { return o.out().Data().([]float32) }
func (o *opBase) f64() []float64 { return o.out().Data().([]float64) }

// check verifies the arity and that every tensor input has the expected
// number of elements (nil sizes are not checked).
func (o *opBase) check(in []G.Value, sizes ...int) error {
	if len(in) != o.arity {
		return fmt.Errorf("%s: %d inputs, want %d", o.name, len(in), o.arity)
	}
	for i, n := range sizes {
		if n >= 0 && in[i].Shape().TotalSize() != n {
			return fmt.Errorf("%s: input %d has %d values, want %d", o.name, i, in[i].Shape().TotalSize(), n)
		}
	}
	return nil
}

func f32s(v G.Value) []float32 { return v.Data().([]float32) }
func f64s(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float64:
		return d
	case float64:
		return []float64{d}
	}
	return nil
}

// fop is what the graph builder needs of a fused op.
type fop interface {
	G.Op
	base() *opBase
}

func (o *opBase) base() *opBase { return o }

// apply adds op over children to the graph.
func (b *builder) apply(op fop, children ...*G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return G.ApplyOp(op, children...) }, op.String())
}

func shapeOf(n *G.Node) (int, int) {
	s := n.Shape()
	if len(s) == 1 {
		return 1, s[0]
	}
	return s[0], s[1]
}

// ---- linear: y = x @ W + b ----

type linearOp struct {
	opBase
	R, K, O int
	bias    bool
	needDX  bool // false when x is data, so no gradient is built for it
}

func (b *builder) flinear(x, w, bias *G.Node, needDX bool) *G.Node {
	if b.err != nil {
		return nil
	}
	R, K := shapeOf(x)
	_, O := shapeOf(w)
	ch := []*G.Node{x, w}
	if bias != nil {
		ch = append(ch, bias)
	}
	op := &linearOp{R: R, K: K, O: O, bias: bias != nil, needDX: needDX}
	op.opBase = newOpBase("linear", ch, tensor.Float32, R, O)
	return b.apply(op, ch...)
}

func (o *linearOp) Do(in ...G.Value) (G.Value, error) {
	sizes := []int{o.R * o.K, o.K * o.O, o.O}
	if err := o.check(in, sizes[:o.arity]...); err != nil {
		return nil, err
	}
	y := o.f32()
	if o.bias {
		bias := f32s(in[2])
		x, w := f32s(in[0]), f32s(in[1])
		parallelFor(o.R, 64, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				copy(y[r*o.O:(r+1)*o.O], bias)
			}
			sgemm(false, false, hi-lo, o.O, o.K, 1, x[lo*o.K:], o.K, w, o.O, 1, y[lo*o.O:], o.O)
		})
	} else {
		matmulRows(y, f32s(in[0]), f32s(in[1]), o.R, o.K, o.O, false)
	}
	return o.out(), nil
}

func (o *linearOp) DiffWRT(n int) []bool {
	d := []bool{o.needDX, true, true}
	return d[:n]
}

func (o *linearOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	b := &builder{g: grad.Graph()}
	out := make(G.Nodes, len(in))
	if o.needDX {
		op := &linDXOp{R: o.R, K: o.K, O: o.O}
		op.opBase = newOpBase("linear_dx", []*G.Node{grad, in[1]}, tensor.Float32, o.R, o.K)
		out[0] = b.apply(op, grad, in[1])
	}
	dw := &linDWOp{R: o.R, K: o.K, O: o.O}
	dw.opBase = newOpBase("linear_dw", []*G.Node{in[0], grad}, tensor.Float32, o.K, o.O)
	out[1] = b.apply(dw, in[0], grad)
	if o.bias {
		db := &colSumOp{R: o.R, O: o.O}
		db.opBase = newOpBase("linear_db", []*G.Node{grad}, tensor.Float32, o.O)
		out[2] = b.apply(db, grad)
	}
	return out, b.err
}

// linDXOp is dX = dY @ W^T.
type linDXOp struct {
	opBase
	R, K, O int
}

func (o *linDXOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.R*o.O, o.K*o.O); err != nil {
		return nil, err
	}
	matmulRows(o.f32(), f32s(in[0]), f32s(in[1]), o.R, o.O, o.K, true)
	return o.out(), nil
}

// linDWOp is dW = X^T @ dY.
type linDWOp struct {
	opBase
	R, K, O int
}

func (o *linDWOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.R*o.K, o.R*o.O); err != nil {
		return nil, err
	}
	matmulTN(o.f32(), f32s(in[0]), f32s(in[1]), o.R, o.K, o.O)
	return o.out(), nil
}

// colSumOp sums the rows of dY [R, O] (a bias gradient), split over columns.
type colSumOp struct {
	opBase
	R, O int
}

func (o *colSumOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.R*o.O); err != nil {
		return nil, err
	}
	dy, s := f32s(in[0]), o.f32()
	parallelFor(o.O, 32, func(lo, hi int) {
		acc := s[lo:hi]
		for i := range acc {
			acc[i] = 0
		}
		for r := 0; r < o.R; r++ {
			row := dy[r*o.O+lo : r*o.O+hi]
			for i, v := range row {
				acc[i] += v
			}
		}
	})
	return o.out(), nil
}

// ---- element-wise: add, SiLU ----

type addOp struct {
	opBase
	n int
}

func (b *builder) fadd(x, y *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	op := &addOp{n: x.Shape().TotalSize()}
	op.opBase = newOpBase("add", []*G.Node{x, y}, tensor.Float32, x.Shape()...)
	return b.apply(op, x, y)
}

func (o *addOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.n, o.n); err != nil {
		return nil, err
	}
	x, y, z := f32s(in[0]), f32s(in[1]), o.f32()
	for i := range z {
		z[i] = x[i] + y[i]
	}
	return o.out(), nil
}

func (o *addOp) DiffWRT(int) []bool { return []bool{true, true} }
func (o *addOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{grad, grad}, nil
}

type siluOp struct {
	opBase
	n int
}

func (b *builder) fsilu(x *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	op := &siluOp{n: x.Shape().TotalSize()}
	op.opBase = newOpBase("silu", []*G.Node{x}, tensor.Float32, x.Shape()...)
	return b.apply(op, x)
}

func (o *siluOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.n); err != nil {
		return nil, err
	}
	x, y := f32s(in[0]), o.f32()
	parallelFor(o.n, 4096, func(lo, hi int) {
		expAffine(y[lo:hi], x[lo:hi], -1, 0) // e^-x
		for i := lo; i < hi; i++ {
			y[i] = x[i] / (1 + y[i])
		}
	})
	return o.out(), nil
}

func (o *siluOp) DiffWRT(int) []bool { return []bool{true} }
func (o *siluOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	b := &builder{g: grad.Graph()}
	op := &siluBwdOp{n: o.n}
	op.opBase = newOpBase("silu_dx", []*G.Node{in[0], grad}, tensor.Float32, o.shape...)
	return G.Nodes{b.apply(op, in[0], grad)}, b.err
}

// siluBwdOp is dx = dy * s * (1 + x (1 - s)), s = sigmoid(x).
type siluBwdOp struct {
	opBase
	n int
}

func (o *siluBwdOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.n, o.n); err != nil {
		return nil, err
	}
	x, dy, dx := f32s(in[0]), f32s(in[1]), o.f32()
	parallelFor(o.n, 4096, func(lo, hi int) {
		expAffine(dx[lo:hi], x[lo:hi], -1, 0) // e^-x
		for i := lo; i < hi; i++ {
			s := 1 / (1 + dx[i])
			dx[i] = dy[i] * s * (1 + x[i]*(1-s))
		}
	})
	return o.out(), nil
}

// ---- position table: h[b*N+n] + pos[n] ----

type addPosOp struct {
	opBase
	M, N, D int
}

func (b *builder) faddPos(h, pos *G.Node) *G.Node {
	if b.err != nil {
		return nil
	}
	M, D := shapeOf(h)
	N, _ := shapeOf(pos)
	op := &addPosOp{M: M, N: N, D: D}
	op.opBase = newOpBase("add_pos", []*G.Node{h, pos}, tensor.Float32, M, D)
	return b.apply(op, h, pos)
}

func (o *addPosOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.M*o.D, o.N*o.D); err != nil {
		return nil, err
	}
	h, pos, y := f32s(in[0]), f32s(in[1]), o.f32()
	nd := o.N * o.D
	for i := range y {
		y[i] = h[i] + pos[i%nd]
	}
	return o.out(), nil
}

func (o *addPosOp) DiffWRT(int) []bool { return []bool{true, true} }
func (o *addPosOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	b := &builder{g: grad.Graph()}
	op := &foldOp{M: o.M, N: o.N, D: o.D}
	op.opBase = newOpBase("add_pos_dpos", []*G.Node{grad}, tensor.Float32, o.N, o.D)
	return G.Nodes{grad, b.apply(op, grad)}, b.err
}

// foldOp sums dY [B*N, D] over the batch into [N, D].
type foldOp struct {
	opBase
	M, N, D int
}

func (o *foldOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.M*o.D); err != nil {
		return nil, err
	}
	dy, s := f32s(in[0]), o.f32()
	nd := o.N * o.D
	copy(s, dy[:nd])
	for off := nd; off < len(dy); off += nd {
		for i, v := range dy[off : off+nd] {
			s[i] += v
		}
	}
	return o.out(), nil
}

// ---- LayerNorm (no affine, eps 1e-6) with adaLN modulation ----
//
// y = xhat * (1 + scale[b]) + shift[b], xhat = (x - mean) / sqrt(var + eps)
// per row, b the row's video. Mean and variance are recomputed in the
// backward ops rather than passed along, which keeps every op pure.

const lnEps = 1e-6

type lnModOp struct {
	opBase
	M, D, n int // rows, width, rows per video
}

func (b *builder) flnMod(x, shift, scale *G.Node, n int) *G.Node {
	if b.err != nil {
		return nil
	}
	M, D := shapeOf(x)
	op := &lnModOp{M: M, D: D, n: n}
	op.opBase = newOpBase("ln_mod", []*G.Node{x, shift, scale}, tensor.Float32, M, D)
	return b.apply(op, x, shift, scale)
}

// rowStats returns the mean and 1/sqrt(var+eps) of a row (two passes, so
// the variance is of centred values; four sums in flight).
func rowStats(row []float32) (mean, rstd float32) {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(row); i += 4 {
		r := row[i : i+4 : i+4]
		s0, s1, s2, s3 = s0+r[0], s1+r[1], s2+r[2], s3+r[3]
	}
	for ; i < len(row); i++ {
		s0 += row[i]
	}
	mu := ((s0 + s1) + (s2 + s3)) / float32(len(row))
	s0, s1, s2, s3 = 0, 0, 0, 0
	i = 0
	for ; i+4 <= len(row); i += 4 {
		r := row[i : i+4 : i+4]
		d0, d1, d2, d3 := r[0]-mu, r[1]-mu, r[2]-mu, r[3]-mu
		s0, s1, s2, s3 = s0+d0*d0, s1+d1*d1, s2+d2*d2, s3+d3*d3
	}
	for ; i < len(row); i++ {
		d := row[i] - mu
		s0 += d * d
	}
	q := (s0 + s1) + (s2 + s3)
	return mu, float32(1 / math.Sqrt(float64(q/float32(len(row)))+lnEps))
}

func (o *lnModOp) Do(in ...G.Value) (G.Value, error) {
	B := o.M / o.n
	if err := o.check(in, o.M*o.D, B*o.D, B*o.D); err != nil {
		return nil, err
	}
	x, shift, scale, y := f32s(in[0]), f32s(in[1]), f32s(in[2]), o.f32()
	D := o.D
	parallelFor(o.M, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b := r / o.n
			row, yr := x[r*D:(r+1)*D], y[r*D:(r+1)*D]
			sh, sc := shift[b*D:(b+1)*D], scale[b*D:(b+1)*D]
			mu, rs := rowStats(row)
			for i, v := range row {
				yr[i] = (v-mu)*rs*(1+sc[i]) + sh[i]
			}
		}
	})
	return o.out(), nil
}

func (o *lnModOp) DiffWRT(int) []bool { return []bool{true, true, true} }
func (o *lnModOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	b := &builder{g: grad.Graph()}
	B := o.M / o.n
	dx := &lnModDXOp{M: o.M, D: o.D, n: o.n}
	dx.opBase = newOpBase("ln_mod_dx", []*G.Node{in[0], in[2], grad}, tensor.Float32, o.M, o.D)
	dsh := &groupSumOp{M: o.M, D: o.D, n: o.n}
	dsh.opBase = newOpBase("ln_mod_dshift", []*G.Node{grad}, tensor.Float32, B, o.D)
	dsc := &groupSumOp{M: o.M, D: o.D, n: o.n, normalise: true}
	dsc.opBase = newOpBase("ln_mod_dscale", []*G.Node{grad, in[0]}, tensor.Float32, B, o.D)
	return G.Nodes{b.apply(dx, in[0], in[2], grad), b.apply(dsh, grad), b.apply(dsc, grad, in[0])}, b.err
}

// lnModDXOp is dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with
// g = dy * (1 + scale[b]).
type lnModDXOp struct {
	opBase
	M, D, n int
}

func (o *lnModDXOp) Do(in ...G.Value) (G.Value, error) {
	B := o.M / o.n
	if err := o.check(in, o.M*o.D, B*o.D, o.M*o.D); err != nil {
		return nil, err
	}
	x, scale, dy, dx := f32s(in[0]), f32s(in[1]), f32s(in[2]), o.f32()
	D := o.D
	parallelFor(o.M, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b := r / o.n
			row, dyr, dxr := x[r*D:(r+1)*D], dy[r*D:(r+1)*D], dx[r*D:(r+1)*D]
			sc := scale[b*D : (b+1)*D]
			mu, rs := rowStats(row)
			var sg, sgx float64
			for i, v := range row {
				g := dyr[i] * (1 + sc[i])
				sg += float64(g)
				sgx += float64(g * (v - mu) * rs)
			}
			mg, mgx := float32(sg/float64(D)), float32(sgx/float64(D))
			for i, v := range row {
				g := dyr[i] * (1 + sc[i])
				dxr[i] = rs * (g - mg - (v-mu)*rs*mgx)
			}
		}
	})
	return o.out(), nil
}

// groupSumOp sums dy over each video's rows into [B, D]; with normalise it
// sums dy * xhat (the LayerNorm output before modulation: a dscale), and
// with a second [M, D] input and not normalise it sums dy * a (a dgate).
type groupSumOp struct {
	opBase
	M, D, n   int
	normalise bool
}

func (o *groupSumOp) Do(in ...G.Value) (G.Value, error) {
	sizes := []int{o.M * o.D, o.M * o.D}
	if err := o.check(in, sizes[:o.arity]...); err != nil {
		return nil, err
	}
	dy, s := f32s(in[0]), o.f32()
	var a []float32
	if o.arity > 1 {
		a = f32s(in[1])
	}
	D, B := o.D, o.M/o.n
	parallelFor(B, 1, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			acc := s[b*D : (b+1)*D]
			for i := range acc {
				acc[i] = 0
			}
			for r := b * o.n; r < (b+1)*o.n; r++ {
				dyr := dy[r*D : (r+1)*D]
				switch {
				case a == nil:
					for i, v := range dyr {
						acc[i] += v
					}
				case o.normalise:
					row := a[r*D : (r+1)*D]
					mu, rs := rowStats(row)
					for i, v := range dyr {
						acc[i] += v * (row[i] - mu) * rs
					}
				default:
					ar := a[r*D : (r+1)*D]
					for i, v := range dyr {
						acc[i] += v * ar[i]
					}
				}
			}
		}
	})
	return o.out(), nil
}

// ---- gated residual: y = h + gate[b] * a ----

type gateResOp struct {
	opBase
	M, D, n int
}

func (b *builder) fgateRes(h, a, gate *G.Node, n int) *G.Node {
	if b.err != nil {
		return nil
	}
	M, D := shapeOf(h)
	op := &gateResOp{M: M, D: D, n: n}
	op.opBase = newOpBase("gate_res", []*G.Node{h, a, gate}, tensor.Float32, M, D)
	return b.apply(op, h, a, gate)
}

func (o *gateResOp) Do(in ...G.Value) (G.Value, error) {
	B := o.M / o.n
	if err := o.check(in, o.M*o.D, o.M*o.D, B*o.D); err != nil {
		return nil, err
	}
	h, a, gate, y := f32s(in[0]), f32s(in[1]), f32s(in[2]), o.f32()
	D := o.D
	parallelFor(o.M, 256, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gr := gate[(r/o.n)*D : (r/o.n+1)*D]
			yr := y[r*D : (r+1)*D]
			hr, ar, gr := h[r*D : (r+1)*D : (r+1)*D][:len(yr)], a[r*D : (r+1)*D : (r+1)*D][:len(yr)], gr[:len(yr)]
			for i := range yr {
				yr[i] = hr[i] + gr[i]*ar[i]
			}
		}
	})
	return o.out(), nil
}

func (o *gateResOp) DiffWRT(int) []bool { return []bool{true, true, true} }
func (o *gateResOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	b := &builder{g: grad.Graph()}
	B := o.M / o.n
	da := &gateMulOp{M: o.M, D: o.D, n: o.n}
	da.opBase = newOpBase("gate_res_da", []*G.Node{grad, in[2]}, tensor.Float32, o.M, o.D)
	dg := &groupSumOp{M: o.M, D: o.D, n: o.n}
	dg.opBase = newOpBase("gate_res_dgate", []*G.Node{grad, in[1]}, tensor.Float32, B, o.D)
	return G.Nodes{grad, b.apply(da, grad, in[2]), b.apply(dg, grad, in[1])}, b.err
}

// gateMulOp is dy * gate[b].
type gateMulOp struct {
	opBase
	M, D, n int
}

func (o *gateMulOp) Do(in ...G.Value) (G.Value, error) {
	B := o.M / o.n
	if err := o.check(in, o.M*o.D, B*o.D); err != nil {
		return nil, err
	}
	dy, gate, y := f32s(in[0]), f32s(in[1]), o.f32()
	D := o.D
	parallelFor(o.M, 256, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gr := gate[(r/o.n)*D : (r/o.n+1)*D]
			dr, yr := dy[r*D:(r+1)*D], y[r*D:(r+1)*D]
			for i := range yr {
				yr[i] = dr[i] * gr[i]
			}
		}
	})
	return o.out(), nil
}

// ---- attention ----

// attnLayout says which rows of an [M, D] activation form each attention
// group: position s of group g is row base(g) + s*stride, with
// base(g) = (g / inner) * outer + g % inner. Spatial attention groups the
// P consecutive rows of a frame; temporal attention groups the F rows of
// one patch position, P rows apart.
type attnLayout struct {
	groups, seq, stride, inner, outer int
	heads, dh, D                      int
	scale                             float32 // 1/sqrt(dh)
}

func (l attnLayout) base(g int) int { return (g/l.inner)*l.outer + g%l.inner }

// probSize is the size of the probabilities: [groups, heads, seq, seq].
func (l attnLayout) probSize() int { return l.groups * l.heads * l.seq * l.seq }

// blas reports whether products over this sequence length go to BLAS;
// shorter ones (temporal attention) are cheaper as plain loops.
func (l attnLayout) blas() bool { return l.seq >= 32 }

// each runs f for every (group, head) pair, split between workers; f gets
// the pair's offset in the probabilities, the element offset of its first
// row and the row stride in elements.
func (l attnLayout) each(f func(po, ro, rs int)) {
	ss := l.seq * l.seq
	parallelFor(l.groups*l.heads, 4, func(lo, hi int) {
		for gh := lo; gh < hi; gh++ {
			g, h := gh/l.heads, gh%l.heads
			f(gh*ss, l.base(g)*l.D+h*l.dh, l.stride*l.D)
		}
	})
}

// attnProbsOp is P = softmax(q k^T / sqrt(dh)) per group and head.
type attnProbsOp struct {
	opBase
	l attnLayout
	M int
}

func (b *builder) fattnProbs(q, k *G.Node, l attnLayout) *G.Node {
	if b.err != nil {
		return nil
	}
	M, _ := shapeOf(q)
	op := &attnProbsOp{l: l, M: M}
	op.opBase = newOpBase("attn_probs", []*G.Node{q, k}, tensor.Float32, l.groups, l.heads, l.seq, l.seq)
	return b.apply(op, q, k)
}

func (o *attnProbsOp) Do(in ...G.Value) (G.Value, error) {
	l := o.l
	if err := o.check(in, o.M*l.D, o.M*l.D); err != nil {
		return nil, err
	}
	q, k, p := f32s(in[0]), f32s(in[1]), o.f32()
	s := l.seq
	l.each(func(po, ro, rs int) {
		pm := p[po : po+s*s]
		if l.blas() {
			sgemm(false, true, s, s, l.dh, l.scale, q[ro:], rs, k[ro:], rs, 0, pm, s)
		} else {
			smallABt(pm, q, ro, rs, k, ro, rs, s, s, l.dh, l.scale)
		}
		for i := 0; i < s; i++ {
			softmaxRow(pm[i*s : (i+1)*s])
		}
	})
	return o.out(), nil
}

func (o *attnProbsOp) DiffWRT(int) []bool { return []bool{true, true} }
func (o *attnProbsOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	b := &builder{g: grad.Graph()}
	l := o.l
	ds := &softmaxBwdOp{n: l.probSize(), seq: l.seq}
	ds.opBase = newOpBase("attn_dscores", []*G.Node{out, grad}, tensor.Float32, l.groups, l.heads, l.seq, l.seq)
	dS := b.apply(ds, out, grad)
	// dq = dS k * scale; dk = dS^T q * scale.
	dq := &attnMulOp{l: l, M: o.M, transP: false, alpha: l.scale}
	dq.opBase = newOpBase("attn_dq", []*G.Node{dS, in[1]}, tensor.Float32, o.M, l.D)
	dk := &attnMulOp{l: l, M: o.M, transP: true, alpha: l.scale}
	dk.opBase = newOpBase("attn_dk", []*G.Node{dS, in[0]}, tensor.Float32, o.M, l.D)
	return G.Nodes{b.apply(dq, dS, in[1]), b.apply(dk, dS, in[0])}, b.err
}

// softmaxBwdOp is dS = P * (dP - rowsum(dP * P)).
type softmaxBwdOp struct {
	opBase
	n, seq int
}

func (o *softmaxBwdOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.n, o.n); err != nil {
		return nil, err
	}
	p, dp, ds := f32s(in[0]), f32s(in[1]), o.f32()
	s := o.seq
	parallelFor(o.n/s, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			pr, dr, or := p[r*s:(r+1)*s], dp[r*s:(r+1)*s], ds[r*s:(r+1)*s]
			var dot float32
			for i, v := range pr {
				dot += v * dr[i]
			}
			for i, v := range pr {
				or[i] = v * (dr[i] - dot)
			}
		}
	})
	return o.out(), nil
}

// attnMulOp is, per group and head, out = alpha * P @ X (or P^T @ X with
// transP), P [seq, seq] from a probabilities-shaped tensor and X, out in
// the [M, D] row layout: the attention output (P v), and dq (dS k), dk
// (dS^T q) and dv (P^T do) in the backward pass.
type attnMulOp struct {
	opBase
	l      attnLayout
	M      int
	transP bool
	alpha  float32
}

func (b *builder) fattnApply(p, v *G.Node, l attnLayout) *G.Node {
	if b.err != nil {
		return nil
	}
	M, _ := shapeOf(v)
	op := &attnMulOp{l: l, M: M, alpha: 1}
	op.opBase = newOpBase("attn_apply", []*G.Node{p, v}, tensor.Float32, M, l.D)
	return b.apply(op, p, v)
}

func (o *attnMulOp) Do(in ...G.Value) (G.Value, error) {
	l := o.l
	if err := o.check(in, l.probSize(), o.M*l.D); err != nil {
		return nil, err
	}
	p, x, y := f32s(in[0]), f32s(in[1]), o.f32()
	s := l.seq
	l.each(func(po, ro, rs int) {
		pm := p[po : po+s*s]
		switch {
		case l.blas():
			sgemm(o.transP, false, s, l.dh, s, o.alpha, pm, s, x[ro:], rs, 0, y[ro:], rs)
		case o.transP:
			smallAtB(y, ro, rs, pm, x, ro, rs, s, s, l.dh, o.alpha)
		default:
			smallAB(y, ro, rs, pm, x, ro, rs, s, s, l.dh, o.alpha)
		}
	})
	return o.out(), nil
}

// Only the forward attention output (P v) is differentiated; the backward
// products are never differentiated again.
func (o *attnMulOp) DiffWRT(int) []bool { return []bool{true, true} }
func (o *attnMulOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if o.transP || o.alpha != 1 {
		return nil, fmt.Errorf("%s: second derivatives are not supported", o.name)
	}
	b := &builder{g: grad.Graph()}
	l := o.l
	dp := &attnDPOp{l: l, M: o.M}
	dp.opBase = newOpBase("attn_dprobs", []*G.Node{grad, in[1]}, tensor.Float32, l.groups, l.heads, l.seq, l.seq)
	dv := &attnMulOp{l: l, M: o.M, transP: true, alpha: 1}
	dv.opBase = newOpBase("attn_dv", []*G.Node{in[0], grad}, tensor.Float32, o.M, l.D)
	return G.Nodes{b.apply(dp, grad, in[1]), b.apply(dv, in[0], grad)}, b.err
}

// attnDPOp is dP = dO v^T per group and head.
type attnDPOp struct {
	opBase
	l attnLayout
	M int
}

func (o *attnDPOp) Do(in ...G.Value) (G.Value, error) {
	l := o.l
	if err := o.check(in, o.M*l.D, o.M*l.D); err != nil {
		return nil, err
	}
	do, v, dp := f32s(in[0]), f32s(in[1]), o.f32()
	s := l.seq
	l.each(func(po, ro, rs int) {
		pm := dp[po : po+s*s]
		if l.blas() {
			sgemm(false, true, s, s, l.dh, 1, do[ro:], rs, v[ro:], rs, 0, pm, s)
		} else {
			smallABt(pm, do, ro, rs, v, ro, rs, s, s, l.dh, 1)
		}
	})
	return o.out(), nil
}

// ---- per-sample v-MSE, accumulated in float64 ----

type mseOp struct {
	opBase
	B, per int // videos, values a video
}

func (b *builder) fmse(pred, target *G.Node, B int) *G.Node {
	if b.err != nil {
		return nil
	}
	n := pred.Shape().TotalSize()
	op := &mseOp{B: B, per: n / B}
	op.opBase = newOpBase("mse", []*G.Node{pred, target}, tensor.Float64, B)
	return b.apply(op, pred, target)
}

func (o *mseOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.B*o.per, o.B*o.per); err != nil {
		return nil, err
	}
	p, t, l := f32s(in[0]), f32s(in[1]), o.f64()
	parallelFor(o.B, 1, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			var s float64
			for i := b * o.per; i < (b+1)*o.per; i++ {
				d := float64(p[i]) - float64(t[i])
				s += d * d
			}
			l[b] = s / float64(o.per)
		}
	})
	return o.out(), nil
}

func (o *mseOp) DiffWRT(int) []bool { return []bool{true, false} }
func (o *mseOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	b := &builder{g: grad.Graph()}
	op := &mseBwdOp{B: o.B, per: o.per}
	op.opBase = newOpBase("mse_dpred", []*G.Node{in[0], in[1], grad}, tensor.Float32, in[0].Shape()...)
	return G.Nodes{b.apply(op, in[0], in[1], grad), nil}, b.err
}

// mseBwdOp is dpred = 2 (pred - target) dL[b] / per.
type mseBwdOp struct {
	opBase
	B, per int
}

func (o *mseBwdOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.B*o.per, o.B*o.per, o.B); err != nil {
		return nil, err
	}
	p, t, dl, dp := f32s(in[0]), f32s(in[1]), f64s(in[2]), o.f32()
	for b := 0; b < o.B; b++ {
		k := float32(2 * dl[b] / float64(o.per))
		lo, hi := b*o.per, (b+1)*o.per
		parallelFor(hi-lo, 8192, func(a, z int) {
			for i := lo + a; i < lo+z; i++ {
				dp[i] = k * (p[i] - t[i])
			}
		})
	}
	return o.out(), nil
}

// ---- the objective, in float64 ----
//
// obj = sum_b w[b] L[b]                                   (SFT: w = 1/B)
//     + red * sum_i softplus(-inside_i)                   (DPO, neg > 0)
// inside_i = nhb * ((L[0] - ref[0]) - (L[i+1] - ref[i+1])), nhb = -beta/2.
// hp holds (nhb, red). Differences of float64 losses: float32 rounding of
// the 41,000-term means no longer reaches the logit.

type objectiveOp struct {
	opBase
	B, neg int
}

func (b *builder) fobjective(L, w, ref, hp *G.Node, B, neg int) *G.Node {
	if b.err != nil {
		return nil
	}
	op := &objectiveOp{B: B, neg: neg}
	op.opBase = newOpBase("objective", []*G.Node{L, w, ref, hp}, tensor.Float64)
	return b.apply(op, L, w, ref, hp)
}

// inside returns inside_i for every loser.
func (o *objectiveOp) inside(L, ref, hp []float64) []float64 {
	in := make([]float64, o.neg)
	for i := range in {
		in[i] = hp[0] * ((L[0] - ref[0]) - (L[i+1] - ref[i+1]))
	}
	return in
}

func (o *objectiveOp) Do(in ...G.Value) (G.Value, error) {
	if err := o.check(in, o.B, o.B, o.B, 2); err != nil {
		return nil, err
	}
	L, w, ref, hp := f64s(in[0]), f64s(in[1]), f64s(in[2]), f64s(in[3])
	obj := 0.0
	for b, l := range L {
		obj += w[b] * l
	}
	if o.neg > 0 {
		s := 0.0
		for _, x := range o.inside(L, ref, hp) {
			s += softplus(-x)
		}
		obj += hp[1] * s
	}
	return G.NewF64(obj), nil
}

func (o *objectiveOp) DiffWRT(int) []bool { return []bool{true, false, false, false} }
func (o *objectiveOp) SymDiff(in G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	b := &builder{g: grad.Graph()}
	op := &objectiveBwdOp{fwd: o}
	ch := []*G.Node{in[0], in[1], in[2], in[3], grad}
	op.opBase = newOpBase("objective_dl", ch, tensor.Float64, o.B)
	return G.Nodes{b.apply(op, ch...), nil, nil, nil}, b.err
}

// objectiveBwdOp is dobj/dL: w[b], plus for DPO
// d softplus(-inside_i) = -sigmoid(-inside_i) d inside_i, with
// d inside_i / dL[0] = nhb and d inside_i / dL[i+1] = -nhb.
type objectiveBwdOp struct {
	opBase
	fwd *objectiveOp // for its sizes and inside(); no state is shared
}

func (o *objectiveBwdOp) Do(in ...G.Value) (G.Value, error) {
	f := o.fwd
	if err := o.check(in, f.B, f.B, f.B, 2, 1); err != nil {
		return nil, err
	}
	L, w, ref, hp, g := f64s(in[0]), f64s(in[1]), f64s(in[2]), f64s(in[3]), f64s(in[4])[0]
	dl := o.f64()
	copy(dl, w)
	if f.neg > 0 {
		for i, x := range f.inside(L, ref, hp) {
			d := -hp[1] / (1 + math.Exp(x)) // red * (-sigmoid(-x))
			dl[0] += d * hp[0]
			dl[i+1] -= d * hp[0]
		}
	}
	for i := range dl {
		dl[i] *= g
	}
	return o.out(), nil
}
