// Package openblas hands OpenBLAS (through gonum's netlib cgo binding) to
// Gorgonia with G.Use when the binary is built with -tags openblas: every
// matrix product of the model, Gorgonia's own and the fused ops', then runs
// at 75-119 GFLOP/s on this model's shapes where gonum's pure Go reaches
// 7-25. It is a package of its own because a package that uses cgo may not
// also hold Go assembly (the model's AVX2 exp).
package openblas
