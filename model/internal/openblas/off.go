//go:build !openblas || !cgo

package openblas

// Enabled reports whether OpenBLAS is linked in.
const Enabled = false

// CoreName is empty: no OpenBLAS kernels are in use.
func CoreName() string { return "" }
