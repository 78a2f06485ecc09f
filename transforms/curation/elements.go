package curation

import "realdpo/schemas"

// Element types that flow between this package's DoFns only: not an
// on-disk or wire format, so they live here rather than in schemas.

// ProbedSource is a source that passed probing.
type ProbedSource struct {
	Source schemas.SourceFile `json:"source"`
	Info   schemas.SourceInfo `json:"info"`
}

// Candidate is one window of a source proposed as a clip, with its scores
// and the filter decision.
type Candidate struct {
	Source schemas.SourceFile `json:"source"`
	Info   schemas.SourceInfo `json:"info"`
	Index  int                `json:"index"` // candidate number within the source
	StartS float64            `json:"start_s"`
	EndS   float64            `json:"end_s"`
	Scores schemas.ClipScores `json:"scores"`
	// Reason is empty when the candidate passes every filter, else the first
	// failing check in filter order; Failed lists every failing check.
	Reason   string   `json:"reason,omitempty"`
	Detail   string   `json:"detail,omitempty"`
	Failed   []string `json:"failed,omitempty"`
	Upscaled bool     `json:"upscaled"`
	// SourcePrint fingerprints the whole source (dedup.EncodeSourcePrint of
	// a difference hash every SourcePrintStepS seconds of its analysis
	// frames), so copies are found whichever windows were kept.
	SourcePrint      string  `json:"source_print,omitempty"`
	SourcePrintStepS float64 `json:"source_print_step_s,omitempty"`
}
