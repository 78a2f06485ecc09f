package model

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// buildFused compiles the network of buildPrimitive (same parameters, same
// function) from the fused ops: about 30 nodes a block instead of about
// 150, no views, and every op's result in a buffer it keeps between runs.
func (m *Model) buildFused(key graphKey) (*netGraph, error) {
	c := m.cfg
	B, F, P, N, D, pd := key.batch, c.Frames, c.PatchesPerFrame(), c.TokensPerVideo(), c.Dim, c.PatchDim()
	M := B * N
	g := G.NewGraph()
	b := &builder{g: g}
	ng := &netGraph{key: key, g: g, engine: EngineFused, inputs: map[*G.Node]*tensor.Dense{}}
	input := ng.input
	p, plist := m.paramNodes(b)

	var xN, tN, cN *G.Node
	xN, ng.x = input("x", tensor.Float32, M, 2*pd)
	tN, ng.temb = input("temb", tensor.Float32, B, D)
	cN, ng.capt = input("caption", tensor.Float32, B, c.Vocab)

	h := b.flinear(xN, p("patch_embed.weight"), p("patch_embed.bias"), false)
	h = b.faddPos(h, p("pos_embed"))

	ce := b.fsilu(b.flinear(tN, p("time_mlp.0.weight"), p("time_mlp.0.bias"), false))
	ce = b.flinear(ce, p("time_mlp.2.weight"), p("time_mlp.2.bias"), true)
	ce = b.fadd(ce, b.flinear(cN, p("caption_embed.weight"), nil, false))
	sc := b.fsilu(ce)

	dh := D / c.Heads
	scale := float32(1 / math.Sqrt(float64(dh)))
	spatial := attnLayout{groups: B * F, seq: P, stride: 1, inner: 1, outer: P, heads: c.Heads, dh: dh, D: D, scale: scale}
	temporal := attnLayout{groups: B * P, seq: F, stride: P, inner: P, outer: N, heads: c.Heads, dh: dh, D: D, scale: scale}
	attention := func(xn *G.Node, pre string, l attnLayout) *G.Node {
		q := b.flinear(xn, p(pre+".q.weight"), nil, true)
		k := b.flinear(xn, p(pre+".k.weight"), nil, true)
		v := b.flinear(xn, p(pre+".v.weight"), nil, true)
		o := b.fattnApply(b.fattnProbs(q, k, l), v, l)
		return b.flinear(o, p(pre+".o.weight"), p(pre+".o.bias"), true)
	}
	for i := 0; i < c.Depth; i++ {
		pre := fmt.Sprintf("blocks.%d.", i)
		mod := map[string]*G.Node{}
		for _, name := range modNames {
			mod[name] = b.flinear(sc, p(pre+"mod."+name+".weight"), p(pre+"mod."+name+".bias"), true)
		}
		xn := b.flnMod(h, mod["spatial_shift"], mod["spatial_scale"], N)
		h = b.fgateRes(h, attention(xn, pre+"spatial", spatial), mod["spatial_gate"], N)

		if F > 1 {
			xn = b.flnMod(h, mod["temporal_shift"], mod["temporal_scale"], N)
			h = b.fgateRes(h, attention(xn, pre+"temporal", temporal), mod["temporal_gate"], N)
		}

		xn = b.flnMod(h, mod["mlp_shift"], mod["mlp_scale"], N)
		f := b.fsilu(b.flinear(xn, p(pre+"mlp.fc1.weight"), p(pre+"mlp.fc1.bias"), true))
		f = b.flinear(f, p(pre+"mlp.fc2.weight"), p(pre+"mlp.fc2.bias"), true)
		h = b.fgateRes(h, f, mod["mlp_gate"], N)
	}
	shift := b.flinear(sc, p("final.mod.shift.weight"), p("final.mod.shift.bias"), true)
	scl := b.flinear(sc, p("final.mod.scale.weight"), p("final.mod.scale.bias"), true)
	ng.pred = b.flinear(b.flnMod(h, shift, scl, N), p("final.linear.weight"), p("final.linear.bias"), true)
	if key.kind == kindPredict {
		ng.predOut = b.read(ng.pred)
	}
	if key.kind >= kindLoss {
		var tgN *G.Node
		tgN, ng.target = input("target", tensor.Float32, M, pd)
		ng.perSample = b.fmse(ng.pred, tgN, B)
		ng.perSampleOut = b.read(ng.perSample)
	}
	if key.kind == kindTrain {
		var wN, rN, hN *G.Node
		wN, ng.wd = input("w", tensor.Float64, B)
		rN, ng.refd = input("ref_losses", tensor.Float64, B)
		hN, ng.hp = input("dpo", tensor.Float64, 2)
		ng.obj = b.fobjective(ng.perSample, wN, rN, hN, B, key.neg)
		ng.objOut = b.read(ng.obj)
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

// runFused executes a fused graph on its TapeMachine, compiled on the
// first run and reused: the machine's program and the ops' buffers stay,
// so a run allocates next to nothing.
func (ng *netGraph) runFused() (err error) {
	if ng.vm == nil {
		defer func() {
			// NewTapeMachine panics when compilation fails.
			if r := recover(); r != nil {
				err = fmt.Errorf("model: compiling graph: %v", r)
			}
		}()
		ng.vm = G.NewTapeMachine(ng.g)
	}
	ng.vm.Reset()
	if err := ng.vm.RunAll(); err != nil {
		return fmt.Errorf("model: running graph: %w", err)
	}
	return nil
}
