// Package pipelines holds the Beam pipeline graphs (one subpackage per
// stage) and, in pipelines/realdpo, the realdpo command that launches them.
package pipelines
