//go:build openblas && cgo

package model

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
import "C"

import (
	G "gorgonia.org/gorgonia"
	"gonum.org/v1/netlib/blas/netlib"
)

// With -tags openblas, every matrix product (the fused ops' and Gorgonia's
// own) runs on OpenBLAS through gonum's netlib binding: 75-119 GFLOP/s on
// this model's shapes where gonum's pure Go reaches 7-25. OpenBLAS runs
// single-threaded: the fused kernels split each product between goroutines
// themselves, and OpenBLAS's spinning threads would compete with them.
func init() {
	C.openblas_set_num_threads(1)
	G.Use(netlib.Implementation{})
}

// BLASName names the matrix-product library in use.
const BLASName = "openblas"
