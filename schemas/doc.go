// Package schemas holds the record types that flow through the pipelines and
// the on-disk formats they are written as (JSON Lines manifests, rejects,
// ground truth, sidecars). Beam schema structs live here so every pipeline and
// transform agrees on one definition.
package schemas
