//go:build !openblas || !cgo

package openblas

// Enabled reports whether OpenBLAS is linked in.
const Enabled = false
