//go:build openblas && cgo

package openblas

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
// char* openblas_get_corename(void);
import "C"

import (
	"log/slog"
	"strings"

	"golang.org/x/sys/cpu"
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
	if core := coreName(); cpu.X86.HasAVX2 && preAVX2Cores[strings.ToLower(core)] {
		// OpenBLAS picks kernels by CPU model number; a virtual CPU that
		// hides it gets the generic SSE3 ones, slower and rounding
		// differently from row to row of one product. Only the environment
		// can choose, before the library loads (make sets it).
		slog.Warn("OpenBLAS did not recognise this CPU and runs its generic kernels; set OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2)",
			"core", core, "avx512", cpu.X86.HasAVX512F)
	}
}

// coreName is the kernel set OpenBLAS chose (for example Haswell or SkylakeX).
func coreName() string { return C.GoString(C.openblas_get_corename()) }

// preAVX2Cores are OpenBLAS kernel sets that cannot use AVX2: chosen on a
// CPU that has it, they mean the detection fell back.
var preAVX2Cores = map[string]bool{
	"unknown": true, "katmai": true, "coppermine": true, "northwood": true, "prescott": true,
	"banias": true, "atom": true, "core2": true, "penryn": true, "dunnington": true,
	"nehalem": true, "sandybridge": true,
}
