//go:build !openblas || !cgo

package main

// buildTags: built without OpenBLAS, as `make TAGS= build` does.
var buildTags []string
