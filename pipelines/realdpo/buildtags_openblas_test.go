//go:build openblas && cgo

package main

// buildTags are the tags this test binary was built with that change what
// realdpo links, so the build tests inspect and time the same binary.
var buildTags = []string{"-tags=openblas"}
