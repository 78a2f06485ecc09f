package model

import "realdpo/model/internal/openblas"

// BLASName names the matrix-product library the model runs on: OpenBLAS
// when built with -tags openblas (and cgo), else gonum's pure Go, which
// needs no C library, so the launcher cross-compiles (macOS, the Beam
// worker binary) and builds anywhere.
func BLASName() string {
	if openblas.Enabled {
		return "openblas"
	}
	return "gonum"
}
