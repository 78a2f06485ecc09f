//go:build openblas && cgo

package openblas

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// Enabled reports whether OpenBLAS is linked in.
const Enabled = true

// OpenBLAS runs single-threaded: the model's kernels split each product
// between goroutines themselves, and OpenBLAS's spinning threads would
// compete with them for the same cores.
func init() {
	C.openblas_set_num_threads(1)
	G.Use(netlib.Implementation{})
}
