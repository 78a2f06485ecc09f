package model

import (
	"fmt"
	"log/slog"
	"math"
	"os"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphKind says what a cached graph computes.
type graphKind int

const (
	kindPredict graphKind = iota // v prediction only (sampling)
	kindLoss                     // + per-sample v-MSE (reference model, evaluation)
	kindTrain                    // + objective and its gradient w.r.t. every parameter
)

type graphKey struct {
	engine Engine
	kind   graphKind
	batch  int // videos in the batch
	neg    int // DPO losers (kindTrain only): batch = 1 + neg, winner first
}

// Engine says how a Model runs its network. Both compute the same
// function with Gorgonia graphs and Gorgonia's symbolic gradients.
type Engine int

const (
	// EngineFused, the default, builds the network from layer-sized
	// Gorgonia ops (fused_ops.go) and runs each graph on one TapeMachine
	// compiled once and reused.
	EngineFused Engine = iota
	// EnginePrimitive writes the network from Gorgonia's primitive ops
	// and runs it on a fresh LispMachine every time: the engine before
	// the fused one, 6-13x slower, kept as an independent reference that
	// tests check the fused engine against and benchmarks compare with.
	EnginePrimitive
)

func (e Engine) String() string {
	if e == EnginePrimitive {
		return "primitive"
	}
	return "fused"
}

// EngineEnv names the environment variable that picks the engine of every
// model the process creates: "fused" (the default) or "primitive". The
// primitive engine also hands Gorgonia gonum's pure-Go BLAS, which
// reproduces the code path before the fused engine exactly, so a whole
// stage (negatives, train, eval) can be timed against it with one binary.
const EngineEnv = "REALDPO_MODEL_ENGINE"

// defaultEngine is the engine of new models: EngineEnv, else fused.
var defaultEngine = func() Engine {
	switch os.Getenv(EngineEnv) {
	case "primitive":
		G.Use(gonum.Implementation{})
		return EnginePrimitive
	case "", "fused":
		return EngineFused
	default:
		slog.Warn("model: unknown engine, using fused", "env", EngineEnv, "value", os.Getenv(EngineEnv))
		return EngineFused
	}
}()

// SetEngine switches how m runs; graphs already built for the other
// engine stay cached.
func (m *Model) SetEngine(e Engine) { m.engine = e }

// Engine reports how m runs.
func (m *Model) Engine() Engine { return m.engine }

// netGraph is one compiled Gorgonia graph over the model's parameters. The
// parameter nodes wrap the model's own float32 slices, so all graphs of a
// model see the same weights without copying.
type netGraph struct {
	key    graphKey
	g      *G.ExprGraph
	engine Engine
	vm     G.VM // the fused engine's TapeMachine, compiled on first run

	// Inputs: filled in place before each run.
	x      *tensor.Dense // [B*N, 2*PatchDim] noisy patch | first-frame patch
	temb   *tensor.Dense // [B, Dim] sinusoidal timestep features
	capt   *tensor.Dense // [B, Vocab] pooled bag of caption words
	target *tensor.Dense // [B*N, PatchDim] v target (loss and train)
	// The objective's inputs. Primitive engine, float32:
	w    *tensor.Dense // [B] weight of each per-sample loss in the objective
	refL *tensor.Dense // [B] reference per-sample losses (DPO)
	sel  *tensor.Dense // [neg, B] winner-minus-loser selector (DPO)
	nhb  *tensor.Dense // [1] -beta/2 (DPO)
	red  *tensor.Dense // [1] reduction scale over losers (DPO)
	// Fused engine, float64: weights, reference losses, (-beta/2, reduction).
	wd, refd, hp *tensor.Dense

	inputs map[*G.Node]*tensor.Dense

	pred, perSample, inside, lossI, obj *G.Node
	grads                               G.Nodes

	// Outputs, copied by Gorgonia read statements during the run: the tape
	// machine recycles registers, so a node's Value after RunAll may hold
	// another node's data.
	predOut, perSampleOut, objOut *readout
	gradOut                       []*readout
}

// readout receives a copy of a node's value while the graph runs.
type readout struct{ v G.Value }

// read adds a read statement for n. A preallocated destination makes the
// copy reuse memory; scalars are cloned.
func (b *builder) read(n *G.Node) *readout {
	if b.err != nil {
		return nil
	}
	r := &readout{}
	if !n.Shape().IsScalar() {
		r.v = tensor.New(tensor.Of(n.Dtype()), tensor.WithShape(n.Shape().Clone()...))
	}
	G.Read(n, &r.v)
	return r
}

// data returns the float32 slice of a readout (shared, not copied).
func (r *readout) data() ([]float32, error) {
	if r == nil || r.v == nil {
		return nil, fmt.Errorf("model: graph output was not produced")
	}
	switch d := r.v.Data().(type) {
	case []float32:
		return d, nil
	case float32:
		return []float32{d}, nil
	}
	return nil, fmt.Errorf("model: graph output holds %T, want float32", r.v.Data())
}

// float64s returns a copy of a readout's values as float64 (the fused
// engine's losses are float64, the primitive engine's float32).
func (r *readout) float64s() ([]float64, error) {
	if r == nil || r.v == nil {
		return nil, fmt.Errorf("model: graph output was not produced")
	}
	switch d := r.v.Data().(type) {
	case []float64:
		return append([]float64(nil), d...), nil
	case float64:
		return []float64{d}, nil
	case []float32:
		return toF64(d), nil
	case float32:
		return []float64{float64(d)}, nil
	}
	return nil, fmt.Errorf("model: graph output holds %T, want floats", r.v.Data())
}

// builder threads the first error through graph construction, so the
// network code reads as straight-line math.
type builder struct {
	g   *G.ExprGraph
	err error
}

func (b *builder) do(f func() (*G.Node, error), what string) *G.Node {
	if b.err != nil {
		return nil
	}
	n, err := f()
	if err != nil {
		b.err = fmt.Errorf("model: building %s: %w", what, err)
		return nil
	}
	return n
}

func (b *builder) mm(x, w *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Mul(x, w) }, "matmul")
}
func (b *builder) add(x, y *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Add(x, y) }, "add")
}
func (b *builder) sub(x, y *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Sub(x, y) }, "sub")
}
func (b *builder) mul(x, y *G.Node) *G.Node {
	return b.do(func() (*G.Node, error) { return G.HadamardProd(x, y) }, "mul")
}
func (b *builder) scale(x *G.Node, s float64) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Mul(x, G.NewConstant(float32(s))) }, "scale")
}
func (b *builder) reshape(x *G.Node, s ...int) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Reshape(x, tensor.Shape(s)) }, "reshape")
}
func (b *builder) transpose(x *G.Node, axes ...int) *G.Node {
	return b.do(func() (*G.Node, error) { return G.Transpose(x, axes...) }, "transpose")
}
func (b *builder) silu(x *G.Node) *G.Node {
	s := b.do(func() (*G.Node, error) { return G.Sigmoid(x) }, "sigmoid")
	return b.mul(x, s)
}

// linear is x @ W + bias (bias broadcast over rows); bias may be nil.
func (b *builder) linear(x, w, bias *G.Node) *G.Node {
	y := b.mm(x, w)
	if bias == nil {
		return y
	}
	return b.do(func() (*G.Node, error) { return G.BroadcastAdd(y, bias, nil, []byte{0}) }, "bias")
}

// layerNorm normalises each row of x [M, D] to zero mean and unit variance
// (eps 1e-6, no affine: adaLN supplies scale and shift). Written from
// primitive ops because Gorgonia has no LayerNorm and its GroupNorm is
// wrong for large groups.
func (b *builder) layerNorm(x *G.Node) *G.Node {
	mu := b.do(func() (*G.Node, error) { return G.Mean(x, 1) }, "ln mean")
	xc := b.do(func() (*G.Node, error) { return G.BroadcastSub(x, mu, nil, []byte{1}) }, "ln center")
	sq := b.do(func() (*G.Node, error) { return G.Square(xc) }, "ln square")
	va := b.do(func() (*G.Node, error) { return G.Mean(sq, 1) }, "ln var")
	ve := b.do(func() (*G.Node, error) { return G.Add(va, G.NewConstant(float32(1e-6))) }, "ln eps")
	// Not G.InverseSqrt: its gradient is wrong in v0.9.18 (it divides by
	// 2y^3 instead of multiplying), which TestPrimitiveGradients guards.
	sd := b.do(func() (*G.Node, error) { return G.Sqrt(ve) }, "ln sqrt")
	return b.do(func() (*G.Node, error) { return G.BroadcastHadamardDiv(xc, sd, nil, []byte{1}) }, "ln scale")
}

// modulate applies y = x*(1+scale) + shift, with scale and shift [B, D]
// broadcast over each sample's tokens; x is [B*n, D].
func (b *builder) modulate(x, shift, scale *G.Node, B, n, D int) *G.Node {
	x3 := b.reshape(x, B, n, D)
	s1 := b.add(scale, G.NewConstant(float32(1)))
	y := b.do(func() (*G.Node, error) { return G.BroadcastHadamardProd(x3, s1, nil, []byte{1}) }, "modulate scale")
	y = b.do(func() (*G.Node, error) { return G.BroadcastAdd(y, shift, nil, []byte{1}) }, "modulate shift")
	return b.reshape(y, B*n, D)
}

// gated returns x + gate*h, gate [B, D] broadcast over tokens.
func (b *builder) gated(x, h, gate *G.Node, B, n, D int) *G.Node {
	h3 := b.reshape(h, B, n, D)
	g := b.do(func() (*G.Node, error) { return G.BroadcastHadamardProd(h3, gate, nil, []byte{1}) }, "gate")
	return b.add(x, b.reshape(g, B*n, D))
}

// attention is multi-head self-attention over xn [groups*seq, D], rows
// ordered (group, position): each group attends only within itself.
func (b *builder) attention(xn *G.Node, p func(string) *G.Node, pre string, groups, seq, D, H int) *G.Node {
	dh := D / H
	q := b.scale(b.mm(xn, p(pre+".q.weight")), 1/math.Sqrt(float64(dh)))
	k := b.mm(xn, p(pre+".k.weight"))
	v := b.mm(xn, p(pre+".v.weight"))
	split := func(t *G.Node) *G.Node {
		if H == 1 {
			return b.reshape(t, groups, seq, dh)
		}
		t = b.reshape(t, groups, seq, H, dh)
		t = b.transpose(t, 0, 2, 1, 3)
		return b.reshape(t, groups*H, seq, dh)
	}
	q, k, v = split(q), split(k), split(v)
	s := b.do(func() (*G.Node, error) { return G.BatchedMatMul(q, k, false, true) }, "attn scores")
	a := b.do(func() (*G.Node, error) { return G.SoftMax(s, 2) }, "attn softmax")
	o := b.do(func() (*G.Node, error) { return G.BatchedMatMul(a, v) }, "attn values")
	if H > 1 {
		o = b.reshape(o, groups, H, seq, dh)
		o = b.transpose(o, 0, 2, 1, 3)
	}
	o = b.reshape(o, groups*seq, D)
	return b.linear(o, p(pre+".o.weight"), p(pre+".o.bias"))
}

// input adds a graph input of the given type and shape, backed by a tensor
// the caller fills before each run.
func (ng *netGraph) input(name string, dt tensor.Dtype, shape ...int) (*G.Node, *tensor.Dense) {
	t := tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	n := G.NewTensor(ng.g, dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(t))
	ng.inputs[n] = t
	return n, t
}

// paramNodes adds the model's parameters to b's graph, backed by their data
// (no copy): p looks one up by name (a missing name is b's error) and
// plist holds them in the model's order, for the gradients.
func (m *Model) paramNodes(b *builder) (p func(string) *G.Node, plist G.Nodes) {
	pnodes := map[string]*G.Node{}
	for _, pr := range m.params {
		t := tensor.New(tensor.WithShape(pr.Shape...), tensor.WithBacking(pr.Data))
		n := G.NewTensor(b.g, tensor.Float32, len(pr.Shape), G.WithShape(pr.Shape...), G.WithName(pr.Name), G.WithValue(t))
		pnodes[pr.Name] = n
		plist = append(plist, n)
	}
	p = func(name string) *G.Node {
		n, ok := pnodes[name]
		if !ok && b.err == nil {
			b.err = fmt.Errorf("model: no parameter %q", name)
		}
		return n
	}
	return p, plist
}

// buildPrimitive compiles the network from Gorgonia's primitive ops for one
// batch size and use (EnginePrimitive).
//
// Data flow (B videos, F frames, P patches a frame, N = F*P, D = Dim):
//
//	x [B*N, 2*pd] -> patch_embed -> + pos_embed -> h [B*N, D]
//	c = time_mlp(sinusoid(t)) + caption_embed^T bag(caption)    [B, D]
//	Depth x { h += gate * SpatialAttn(mod(LN(h)))   (within each frame)
//	          h += gate * TemporalAttn(mod(LN(h)))  (across frames, per patch)
//	          h += gate * MLP(mod(LN(h))) }          (shift/scale/gate from SiLU(c))
//	v = final.linear(mod(LN(h)))                    [B*N, pd]
func (m *Model) buildPrimitive(key graphKey) (*netGraph, error) {
	c := m.cfg
	B, F, P, N, D, pd := key.batch, c.Frames, c.PatchesPerFrame(), c.TokensPerVideo(), c.Dim, c.PatchDim()
	M := B * N
	g := G.NewGraph()
	b := &builder{g: g}
	ng := &netGraph{key: key, g: g, engine: EnginePrimitive, inputs: map[*G.Node]*tensor.Dense{}}
	input := func(name string, shape ...int) (*G.Node, *tensor.Dense) {
		return ng.input(name, tensor.Float32, shape...)
	}
	p, plist := m.paramNodes(b)

	var xN, tN, cN *G.Node
	xN, ng.x = input("x", M, 2*pd)
	tN, ng.temb = input("temb", B, D)
	cN, ng.capt = input("caption", B, c.Vocab)

	h := b.linear(xN, p("patch_embed.weight"), p("patch_embed.bias"))
	h3 := b.reshape(h, B, N, D)
	h3 = b.do(func() (*G.Node, error) { return G.BroadcastAdd(h3, p("pos_embed"), nil, []byte{0}) }, "pos")
	h = b.reshape(h3, M, D)

	ce := b.silu(b.linear(tN, p("time_mlp.0.weight"), p("time_mlp.0.bias")))
	ce = b.linear(ce, p("time_mlp.2.weight"), p("time_mlp.2.bias"))
	ce = b.add(ce, b.mm(cN, p("caption_embed.weight")))
	sc := b.silu(ce)

	for i := 0; i < c.Depth; i++ {
		pre := fmt.Sprintf("blocks.%d.", i)
		mod := map[string]*G.Node{}
		for _, name := range modNames {
			mod[name] = b.linear(sc, p(pre+"mod."+name+".weight"), p(pre+"mod."+name+".bias"))
		}
		// Spatial attention: rows are already (video, frame, patch).
		xn := b.modulate(b.layerNorm(h), mod["spatial_shift"], mod["spatial_scale"], B, N, D)
		a := b.attention(xn, p, pre+"spatial", B*F, P, D, c.Heads)
		h = b.gated(h, a, mod["spatial_gate"], B, N, D)

		// Temporal attention: reorder rows to (video, patch, frame) and back.
		xn = b.modulate(b.layerNorm(h), mod["temporal_shift"], mod["temporal_scale"], B, N, D)
		if F > 1 {
			xt := b.reshape(b.transpose(b.reshape(xn, B, F, P, D), 0, 2, 1, 3), M, D)
			a = b.attention(xt, p, pre+"temporal", B*P, F, D, c.Heads)
			a = b.reshape(b.transpose(b.reshape(a, B, P, F, D), 0, 2, 1, 3), M, D)
			h = b.gated(h, a, mod["temporal_gate"], B, N, D)
		}

		xn = b.modulate(b.layerNorm(h), mod["mlp_shift"], mod["mlp_scale"], B, N, D)
		f := b.silu(b.linear(xn, p(pre+"mlp.fc1.weight"), p(pre+"mlp.fc1.bias")))
		f = b.linear(f, p(pre+"mlp.fc2.weight"), p(pre+"mlp.fc2.bias"))
		h = b.gated(h, f, mod["mlp_gate"], B, N, D)
	}
	shift := b.linear(sc, p("final.mod.shift.weight"), p("final.mod.shift.bias"))
	scl := b.linear(sc, p("final.mod.scale.weight"), p("final.mod.scale.bias"))
	hn := b.modulate(b.layerNorm(h), shift, scl, B, N, D)
	ng.pred = b.linear(hn, p("final.linear.weight"), p("final.linear.bias"))
	if key.kind == kindPredict {
		ng.predOut = b.read(ng.pred)
	}

	if key.kind >= kindLoss {
		var tgN *G.Node
		tgN, ng.target = input("target", M, pd)
		d := b.sub(ng.pred, tgN)
		sq := b.do(func() (*G.Node, error) { return G.Square(d) }, "mse square")
		ng.perSample = b.do(func() (*G.Node, error) { return G.Mean(b.reshape(sq, B, N*pd), 1) }, "mse mean")
		ng.perSampleOut = b.read(ng.perSample)
	}
	if key.kind == kindTrain {
		var wN *G.Node
		wN, ng.w = input("w", B)
		obj := b.do(func() (*G.Node, error) { return G.Sum(b.mul(ng.perSample, wN)) }, "weighted loss")
		if key.neg > 0 {
			var rN, sN, hN, redN *G.Node
			rN, ng.refL = input("ref_losses", B)
			sN, ng.sel = input("selector", key.neg, B)
			hN, ng.nhb = input("neg_half_beta", 1)
			redN, ng.red = input("reduction", 1)
			// inside_i = -(beta/2) * ((Lw - Lw_ref) - (Ll_i - Ll_ref_i)):
			// the selector rows are e_0 - e_(i+1).
			diff := b.mm(sN, b.sub(ng.perSample, rN))
			ng.inside = b.do(func() (*G.Node, error) { return G.BroadcastHadamardProd(diff, hN, nil, []byte{0}) }, "inside")
			neg := b.do(func() (*G.Node, error) { return G.Neg(ng.inside) }, "neg inside")
			ng.lossI = b.do(func() (*G.Node, error) { return G.Softplus(neg) }, "softplus")
			sum := b.do(func() (*G.Node, error) { return G.Sum(ng.lossI) }, "sum losses")
			red := b.do(func() (*G.Node, error) { return G.Sum(b.mul(b.reshape(sum, 1), redN)) }, "reduce")
			obj = b.add(obj, red)
		}
		ng.obj = obj
		ng.objOut = b.read(obj)
		if b.err == nil {
			gr, err := G.Grad(ng.obj, plist...)
			if err != nil {
				return nil, fmt.Errorf("model: differentiating: %w", err)
			}
			ng.grads = gr
			for _, n := range gr {
				ng.gradOut = append(ng.gradOut, b.read(n))
			}
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	return ng, nil
}

// graph returns the cached graph for key on m's engine, building it on
// first use.
func (m *Model) graph(key graphKey) (*netGraph, error) {
	key.engine = m.engine
	if ng, ok := m.graphs[key]; ok {
		return ng, nil
	}
	build := m.buildFused
	if m.engine == EnginePrimitive {
		build = m.buildPrimitive
	}
	ng, err := build(key)
	if err != nil {
		return nil, err
	}
	m.graphs[key] = ng
	return ng, nil
}

// setObjective writes the objective's inputs: per-sample weights, and for
// DPO graphs the reference losses, beta and the reduction scale.
func (ng *netGraph) setObjective(weights, refL []float64, beta, red float64) {
	if ng.engine == EngineFused {
		copy(ng.wd.Data().([]float64), weights)
		rd := ng.refd.Data().([]float64)
		for i := range rd {
			rd[i] = 0
		}
		copy(rd, refL)
		hp := ng.hp.Data().([]float64)
		hp[0], hp[1] = -beta/2, red
		return
	}
	w := ng.w.Data().([]float32)
	for i, v := range weights {
		w[i] = float32(v)
	}
	if ng.key.neg == 0 {
		return
	}
	nNeg := ng.key.neg
	sel := ng.sel.Data().([]float32)
	for i := range sel {
		sel[i] = 0
	}
	for i := 0; i < nNeg; i++ {
		sel[i*(1+nNeg)] = 1
		sel[i*(1+nNeg)+1+i] = -1
	}
	rl := ng.refL.Data().([]float32)
	for i, v := range refL {
		rl[i] = float32(v)
	}
	ng.nhb.Data().([]float32)[0] = float32(-beta / 2)
	ng.red.Data().([]float32)[0] = float32(red)
}

// run executes the graph once on its (already filled) inputs.
func (ng *netGraph) run() error {
	if ng.engine == EngineFused {
		return ng.runFused()
	}
	for n, t := range ng.inputs {
		if err := G.Let(n, t); err != nil {
			return fmt.Errorf("model: binding %s: %w", n.Name(), err)
		}
	}
	// A fresh forward-only LispMachine each run (the gradient is part of
	// the graph, from G.Grad). Not the TapeMachine: in v0.9.18 its register
	// reuse writes into tensors that earlier ops returned as views, which
	// corrupts gradients in a graph this size (TestFiniteDifferences
	// catches it); a LispMachine gives every node its own value.
	vm := G.NewLispMachine(ng.g, G.ExecuteFwdOnly())
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return fmt.Errorf("model: running graph: %w", err)
	}
	return nil
}

// out copies a readout's float32 data.
func out(r *readout) ([]float32, error) {
	d, err := r.data()
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), d...), nil
}
