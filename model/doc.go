// Package model is the Gorgonia image-to-video diffusion model: the network,
// the noise schedule, the DDIM sampler, the SFT and RealDPO losses, the
// optimiser and safetensors checkpoints.
//
// # Network
//
// A small video diffusion transformer in pixel space (no VAE; values in
// [-1, 1], layout frames x height x width x RGB). Each frame is cut into
// Patch x Patch patches; a token is a noisy patch concatenated on the channel
// axis with the same patch of the clean first frame (zeros for every later
// frame, as CogVideoX-I2V concatenates its image latent), embedded linearly,
// plus a learned position table. Each of Depth blocks applies, with
// adaLN-Zero modulation (shift, scale, gate from SiLU of the conditioning):
// spatial self-attention within each frame, temporal self-attention across
// frames at each patch position, and an MLP. The conditioning vector is a
// timestep MLP of sinusoidal features plus the caption embedding: the mean
// of learned word vectors, words hashed into Vocab buckets (Tokenize); token
// 0 is the null caption used for classifier-free guidance. A final adaLN
// layer and linear head predict v per patch. Layer normalisation is written
// from primitive ops (Gorgonia has none; its GroupNorm is wrong).
//
// # Diffusion
//
// 1000 DDPM steps, scaled-linear betas 0.00085..0.012, v-prediction
// (Schedule). Sampling is deterministic DDIM with classifier-free guidance
// over the caption (Model.Sample). SFT drops captions with probability 0.1.
//
// # Losses
//
// SFTLoss: per-sample mean over elements of (v_pred - v)^2 at given t.
// DPOLoss: exactly REALDPO.md: one t from {0..T/2-1} and one noise tensor
// shared by the winner and all N losers (DrawDPONoise), per-sample v-MSE for
// policy and frozen reference, inside_i = -(beta/2)((Lw-Lw_ref)-(Ll_i-Ll_ref_i)),
// loss_i = softplus(-inside_i), summed over losers by default (the reference
// code's gradient; ReduceMean available), plus lambda*Lw when Lambda > 0.
// The whole objective is one Gorgonia graph, differentiated by Gorgonia.
//
// # Training
//
// Trainer takes SFT or DPO steps with AdamW (decoupled weight decay on
// linear weights, global-norm clipping, linear warm-up); for DPO the
// reference moves toward the policy by EMA every EMAEvery steps in float32.
// All step randomness derives from (Seed, step), so ResumeTrainer continues
// bit-exactly.
//
// # Checkpoints
//
// Safetensors, F32, linear weights stored [in, out]. Tensor names:
//
//	patch_embed.weight [2*p*p*3, D]   patch_embed.bias [D]
//	pos_embed [tokens, D]             caption_embed.weight [Vocab, D]
//	time_mlp.{0,2}.{weight,bias}
//	blocks.N.mod.{spatial,temporal,mlp}_{shift,scale,gate}.{weight,bias}
//	blocks.N.{spatial,temporal}.{q,k,v,o}.weight, blocks.N.{spatial,temporal}.o.bias
//	blocks.N.mlp.{fc1,fc2}.{weight,bias}
//	final.mod.{shift,scale}.{weight,bias}   final.linear.{weight,bias}
//	reference.<name>, optimizer.exp_avg.<name>, optimizer.exp_avg_sq.<name> (optional)
//
// Metadata: format, config (JSON), step, optimizer, train_options, and the
// producing command. In Python: safetensors.torch.load_file(path) and
// safe_open(path, "pt").metadata().
//
// # Engines
//
// Both engines build the network as a Gorgonia graph and differentiate it
// with G.Grad; they compute the same function (TestFusedMatchesPrimitive,
// and TestFusedMatchesFloat64 against a float64 evaluation).
//
// EngineFused (the default) writes each layer as one Gorgonia op of
// fused_ops.go (linear, LayerNorm with adaLN modulation, attention
// probabilities and products, SiLU, gated residual, v-MSE, objective), each
// with its gradient as more such ops: the tiny preset's DPO graph is 639
// nodes instead of 1,885 (each of which allocated its result, a gradient
// buffer and goroutines on every run). Every graph is compiled once into a TapeMachine
// and rerun; each op keeps its result buffer between runs, so a step
// allocates about 5 MB instead of 1 GB. The ops return no views and pass
// nothing outside the graph's edges: what broke the TapeMachine in v0.9.18
// was register reuse writing over tensors that Reshape and Transpose had
// returned as views of them. Matrix products go to the BLAS handed to
// Gorgonia with G.Use: OpenBLAS with -tags openblas (model/internal/openblas),
// gonum's pure Go otherwise. exp (softmax, SiLU) and temporal attention's
// small products have AVX2 kernels (exp_amd64.s). Kernels split their
// output between goroutines, never a sum, so results do not depend on the
// core count. Losses and the DPO logit are summed in float64: beta/2 = 2500
// would multiply the rounding of a 41,000-term float32 mean into inside_i
// (TestDPOLogitFloat64).
//
// EnginePrimitive is the network from Gorgonia's primitive ops on a fresh
// LispMachine per run (G.InverseSqrt's gradient is wrong in v0.9.18, so its
// LayerNorm divides by Sqrt), the path before the fused engine: kept as a
// reference for tests and, with REALDPO_MODEL_ENGINE=primitive, for timing
// whole stages against.
//
// The default model is LoadBase: the committed tiny checkpoint (see
// base/README.md for how it was made).
package model
