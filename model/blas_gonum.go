//go:build !openblas || !cgo

package model

// Without -tags openblas, matrix products run on gonum's pure-Go BLAS
// (Gorgonia's default): slower, but with no C library, so the launcher
// cross-compiles (macOS, the Beam worker binary) and builds anywhere.

// BLASName names the matrix-product library in use.
const BLASName = "gonum"
