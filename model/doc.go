// Package model is the Gorgonia image-to-video diffusion model: the network,
// the noise schedule, the DDIM sampler, the SFT and RealDPO losses, the
// optimiser and safetensors checkpoints.
package model
