package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Param is one learned tensor. Data is row-major float32 and is shared with
// every Gorgonia graph built for the model, so updating it in place updates
// the network. Linear weights are stored [in, out] (the graph computes
// x @ W), which is the transpose of PyTorch's nn.Linear layout.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
}

// Size is the element count of a shape.
func shapeSize(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// decays reports whether AdamW's weight decay applies: to linear weights
// only, not to biases, embeddings or positions (the usual convention).
func (p *Param) decays() bool {
	return strings.HasSuffix(p.Name, ".weight") && !strings.HasPrefix(p.Name, "caption_embed")
}

// modNames are the adaLN modulation outputs of one block: shift, scale and
// gate for each of its three sub-layers.
var modNames = []string{
	"spatial_shift", "spatial_scale", "spatial_gate",
	"temporal_shift", "temporal_scale", "temporal_gate",
	"mlp_shift", "mlp_scale", "mlp_gate",
}

// paramSpecs lists every tensor of the network, in a fixed order, with its
// initialisation. The names are the safetensors keys (see doc.go).
type paramSpec struct {
	name  string
	shape []int
	init  func(rng *rand.Rand, data []float32, shape []int)
}

func normalInit(std float64) func(*rand.Rand, []float32, []int) {
	return func(rng *rand.Rand, d []float32, _ []int) {
		for i := range d {
			d[i] = float32(rng.NormFloat64() * std)
		}
	}
}

// xavier is uniform Glorot initialisation for an [in, out] weight.
func xavier(rng *rand.Rand, d []float32, s []int) {
	a := math.Sqrt(6 / float64(s[0]+s[1]))
	for i := range d {
		d[i] = float32((rng.Float64()*2 - 1) * a)
	}
}

func zeroInit(*rand.Rand, []float32, []int) {}

func paramSpecs(c Config) []paramSpec {
	D, pd, hid, N := c.Dim, c.PatchDim(), c.Dim*c.MLPRatio, c.TokensPerVideo()
	var s []paramSpec
	add := func(name string, init func(*rand.Rand, []float32, []int), shape ...int) {
		s = append(s, paramSpec{name, shape, init})
	}
	add("patch_embed.weight", xavier, 2*pd, D)
	add("patch_embed.bias", zeroInit, D)
	add("pos_embed", posInit(c), N, D)
	add("time_mlp.0.weight", normalInit(0.02), D, D)
	add("time_mlp.0.bias", zeroInit, D)
	add("time_mlp.2.weight", normalInit(0.02), D, D)
	add("time_mlp.2.bias", zeroInit, D)
	add("caption_embed.weight", normalInit(0.02), c.Vocab, D)
	for i := 0; i < c.Depth; i++ {
		p := fmt.Sprintf("blocks.%d.", i)
		for _, m := range modNames {
			// adaLN-Zero: every block starts as the identity.
			add(p+"mod."+m+".weight", zeroInit, D, D)
			add(p+"mod."+m+".bias", zeroInit, D)
		}
		for _, a := range []string{"spatial", "temporal"} {
			for _, k := range []string{"q", "k", "v", "o"} {
				add(p+a+"."+k+".weight", xavier, D, D)
			}
			add(p+a+".o.bias", zeroInit, D)
		}
		add(p+"mlp.fc1.weight", xavier, D, hid)
		add(p+"mlp.fc1.bias", zeroInit, hid)
		add(p+"mlp.fc2.weight", xavier, hid, D)
		add(p+"mlp.fc2.bias", zeroInit, D)
	}
	add("final.mod.shift.weight", zeroInit, D, D)
	add("final.mod.shift.bias", zeroInit, D)
	add("final.mod.scale.weight", zeroInit, D, D)
	add("final.mod.scale.bias", zeroInit, D)
	add("final.linear.weight", zeroInit, D, pd)
	add("final.linear.bias", zeroInit, pd)
	return s
}

// posInit fills the [tokens, Dim] position table with fixed sinusoids of
// (frame, row, column), a third of the features each, scaled small; the
// table is then learned.
func posInit(c Config) func(*rand.Rand, []float32, []int) {
	return func(_ *rand.Rand, d []float32, _ []int) {
		gw := c.Width / c.Patch
		P := c.PatchesPerFrame()
		D := c.Dim
		third := D / 3 &^ 1
		for tok := 0; tok < c.TokensPerVideo(); tok++ {
			f, p := tok/P, tok%P
			coords := [3]float64{float64(f), float64(p / gw), float64(p % gw)}
			row := d[tok*D : (tok+1)*D]
			for part := 0; part < 3; part++ {
				for k := 0; k < third/2; k++ {
					freq := math.Pow(100, -float64(k)/float64(third/2))
					row[part*third+2*k] = float32(0.1 * math.Sin(coords[part]*freq))
					row[part*third+2*k+1] = float32(0.1 * math.Cos(coords[part]*freq))
				}
			}
		}
	}
}
