package stage

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"realdpo/schemas"
)

// SortRecords puts records in a fixed order so every run writes the same bytes.
func SortRecords(sources []schemas.SourceFile, man []schemas.ManifestRecord, rej []schemas.RejectRecord) {
	sort.Slice(sources, func(i, j int) bool { return sources[i].Rel < sources[j].Rel })
	slices.SortFunc(man, func(a, b schemas.ManifestRecord) int {
		return cmp.Or(
			cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.StartS, b.StartS),
			cmp.Compare(a.ID, b.ID),
		)
	})
	slices.SortFunc(rej, func(a, b schemas.RejectRecord) int {
		return cmp.Or(
			cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.Candidate, b.Candidate),
			cmp.Compare(a.Stage, b.Stage),
			cmp.Compare(a.Reason, b.Reason),
			// Ties on the above (two clips of one candidate window, a
			// source rejected twice) still get one order: every run
			// writes the same bytes whatever order the records came in.
			cmp.Compare(a.ClipID, b.ClipID),
			cmp.Compare(a.Detail, b.Detail),
		)
	})
}

// ComputeStats does the accounting: every input is accepted (at least one
// clip) or rejected, with the deciding reason of a rejected input being its
// input-level reject, else its candidates' most common reason (earliest in
// filter order on ties).
func ComputeStats(p schemas.Profile, th schemas.Thresholds, sources []schemas.SourceFile, man []schemas.ManifestRecord, rej []schemas.RejectRecord) schemas.CurateStats {
	st := schemas.CurateStats{
		Profile: p, Thresholds: th,
		RejectsByStage: map[string]int{}, RejectsByReason: map[string]int{},
		InputsRejectedByReason: map[string]int{}, FailedChecks: map[string]int{}, ClipsByCategory: map[string]int{},
		ClipsByCaptioner: map[string]int{},
	}
	clips := map[string]int{}
	for _, m := range man {
		clips[m.Source]++
		cat := m.Category
		if cat == "" {
			cat = "unknown"
		}
		st.ClipsByCategory[cat]++
		if m.Captioner != "" {
			st.ClipsByCaptioner[m.Captioner]++
		}
		st.ClipSeconds += float64(m.Frames) / m.FPS
	}
	order := map[string]int{}
	for i, r := range FilterOrder() {
		order[r] = i
	}
	type srcRejects struct {
		input         *schemas.RejectRecord
		reasons       map[string]int
		stageOfReason map[string]string
		checkOfReason map[string]string
		seconds       float64
	}
	per := map[string]*srcRejects{}
	get := func(s string) *srcRejects {
		if per[s] == nil {
			per[s] = &srcRejects{reasons: map[string]int{}, stageOfReason: map[string]string{}, checkOfReason: map[string]string{}}
		}
		return per[s]
	}
	for i := range rej {
		r := &rej[i]
		st.RejectsByStage[r.Stage]++
		st.RejectsByReason[r.Reason]++
		for _, f := range r.Failed {
			st.FailedChecks[f]++
		}
		sr := get(r.Source)
		if r.Candidate < 0 {
			sr.input = r
		} else {
			sr.reasons[r.Reason]++
			sr.stageOfReason[r.Reason] = r.Stage
			if c := decidingCheck(*r); c != "" && (sr.checkOfReason[r.Reason] == "" || c < sr.checkOfReason[r.Reason]) {
				sr.checkOfReason[r.Reason] = c // the same whatever order the records came in
			}
		}
		if r.SourceInfo.DurationS > 0 {
			sr.seconds = r.SourceInfo.DurationS
		}
	}
	srcSeconds := map[string]float64{}
	for _, m := range man {
		srcSeconds[m.Source] = m.SourceInfo.DurationS
	}
	for s, sr := range per {
		if _, ok := srcSeconds[s]; !ok && sr.seconds > 0 {
			srcSeconds[s] = sr.seconds
		}
	}
	for _, v := range srcSeconds {
		st.SourceSeconds += v
	}
	st.Inputs = len(sources)
	st.Clips = len(man)
	st.Rejects = len(rej)
	for _, s := range sources {
		d := schemas.InputDecision{Source: s.Rel, Clips: clips[s.Rel], SidecarError: s.SidecarError}
		if d.Clips > 0 {
			d.Accept = true
			st.InputsAccepted++
		} else {
			st.InputsRejected++
			d.Reason, d.Stage = "unknown", ""
			if sr := per[s.Rel]; sr != nil {
				if sr.input != nil {
					d.Reason, d.Stage, d.Check = sr.input.Reason, sr.input.Stage, decidingCheck(*sr.input)
				} else {
					best, bestN := "", -1
					for r, n := range sr.reasons {
						if n > bestN || (n == bestN && rank(order, r) < rank(order, best)) {
							best, bestN = r, n
						}
					}
					d.Reason, d.Stage, d.Check = best, sr.stageOfReason[best], sr.checkOfReason[best]
				}
			}
			st.InputsRejectedByReason[d.Reason]++
		}
		st.Decisions = append(st.Decisions, d)
	}
	st.Candidates = st.Clips
	for _, r := range rej {
		if r.Candidate >= 0 {
			st.Candidates++
		}
	}
	st.ClipSeconds = math.Round(st.ClipSeconds*1000) / 1000
	st.SourceSeconds = math.Round(st.SourceSeconds*1000) / 1000
	return st
}

// decidingCheck is the failed check a reject names for its own reason:
// its only one, or the one a semantic stage records (topic_no_text,
// caption_empty, ...). Filter rejects list every failing check, so the
// reason says it better.
func decidingCheck(r schemas.RejectRecord) string {
	if len(r.Failed) == 1 && r.Failed[0] != r.Reason {
		return r.Failed[0]
	}
	return ""
}

func rank(order map[string]int, r string) int {
	if v, ok := order[r]; ok {
		return v
	}
	return len(order) + 1
}

// JSONLines encodes records one a line.
func JSONLines[T any](recs []T) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// DatasetCard renders README.md for the dataset: counts, category shares,
// reject reasons and text histograms of durations and scores.
func DatasetCard(st schemas.CurateStats, man []schemas.ManifestRecord) string {
	var b strings.Builder
	p := st.Profile
	fmt.Fprintf(&b, "# RealAction dataset (profile %s)\n\n", p.Name)
	fmt.Fprintf(&b, "Clips of people doing everyday things, curated from raw footage by `realdpo curate`, "+
		"as the RealDPO paper built RealAction-5K. Every clip is %d frames at %g fps, %dx%d, H.264 yuv420p with +faststart; "+
		"`first_frames/` holds each clip's first frame as PNG.\n\n", p.Frames, p.FPS, p.Width, p.Height)
	b.WriteString("## Counts\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n| inputs | %d |\n| inputs accepted | %d |\n| inputs rejected | %d |\n| candidate windows | %d |\n| clips kept | %d |\n| clip hours | %.3f |\n| source hours probed | %.3f |\n\n",
		st.Inputs, st.InputsAccepted, st.InputsRejected, st.Candidates, st.Clips, st.ClipSeconds/3600, st.SourceSeconds/3600)
	fmt.Fprintf(&b, "Accounting: `%s`\n\n", st.AccountingLine())
	if st.LowYield {
		b.WriteString("## Why so few inputs gave clips\n\n")
		b.WriteString(AdviceText(st) + "\n")
	}

	b.WriteString("## Categories (topic filter)\n\n")
	writeShares(&b, st.ClipsByCategory, st.Clips)
	writeBars(&b, "Category histogram", st.ClipsByCategory)
	if len(st.ClipsByCaptioner) > 0 {
		b.WriteString("## Captioners\n\n")
		writeShares(&b, st.ClipsByCaptioner, st.Clips)
	}
	b.WriteString("## Rejected inputs by reason\n\n")
	writeShares(&b, st.InputsRejectedByReason, st.InputsRejected)
	b.WriteString("## Reject records by stage\n\n")
	writeShares(&b, st.RejectsByStage, st.Rejects)

	durs := make([]float64, 0, len(man))
	seen := map[string]bool{}
	for _, m := range man {
		if !seen[m.Source] {
			seen[m.Source] = true
			durs = append(durs, m.SourceInfo.DurationS)
		}
	}
	hist := func(title, unit string, get func(schemas.ManifestRecord) float64) {
		v := make([]float64, len(man))
		for i, m := range man {
			v[i] = get(m)
		}
		writeHist(&b, title, unit, v)
	}
	hist("Caption length", "words", func(m schemas.ManifestRecord) float64 { return float64(len(strings.Fields(m.Caption))) })
	writeHist(&b, "Source duration of accepted inputs", "s", durs)
	hist("Subject motion", "%W/s", func(m schemas.ManifestRecord) float64 { return m.Scores.SubjectMotion })
	hist("Camera motion", "%W/s", func(m schemas.ManifestRecord) float64 { return m.Scores.CameraMotion })
	hist("Sharpness (variance of the Laplacian)", "", func(m schemas.ManifestRecord) float64 { return m.Scores.Sharpness })
	hist("Mean luma", "0..255", func(m schemas.ManifestRecord) float64 { return m.Scores.LumaMean })
	hist("Overlay (text-like area)", "share", func(m schemas.ManifestRecord) float64 { return m.Scores.Overlay })

	b.WriteString("## Files\n\n- `manifest.jsonl`: one record per clip (id, source, clip, first_frame, caption, category, start_s, end_s, frames, fps, width, height, scores).\n" +
		"- `rejected.jsonl`: one record per rejected input or candidate window, with stage, reason and the scores that decided it.\n" +
		"- `stats.json`: counts per stage, reason and category, the thresholds used, and the decision on every input.\n\n")
	b.WriteString("Each clip's caption, captioner, model and prompt are in its manifest record. Clips are kept only when a RealAction " +
		"category matches their title, tags or caption (off-topic ones are in `rejected.jsonl` with stage `topic`), and only the best " +
		"copy of any footage is kept: near-duplicates by perceptual fingerprint are rejected with `duplicate_of`.\n")
	return b.String()
}

func writeShares(b *strings.Builder, m map[string]int, total int) {
	if len(m) == 0 {
		b.WriteString("(none)\n\n")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	b.WriteString("| | count | share |\n|---|---:|---:|\n")
	for _, k := range keys {
		fmt.Fprintf(b, "| %s | %d | %.1f%% |\n", k, m[k], 100*float64(m[k])/math.Max(1, float64(total)))
	}
	b.WriteString("\n")
}

// writeBars draws one bar per key, largest first.
func writeBars(b *strings.Builder, title string, m map[string]int) {
	fmt.Fprintf(b, "## %s\n\n", title)
	if len(m) == 0 {
		b.WriteString("(no clips)\n\n")
		return
	}
	keys := make([]string, 0, len(m))
	most := 0
	for k, v := range m {
		keys = append(keys, k)
		most = max(most, v)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	b.WriteString("```\n")
	for _, k := range keys {
		fmt.Fprintf(b, "%-20s | %-40s %d\n", k, strings.Repeat("#", int(math.Round(40*float64(m[k])/float64(max(most, 1))))), m[k])
	}
	b.WriteString("```\n\n")
}

// writeHist draws a 10-bin text histogram.
func writeHist(b *strings.Builder, title, unit string, v []float64) {
	fmt.Fprintf(b, "## %s", title)
	if unit != "" {
		fmt.Fprintf(b, " (%s)", unit)
	}
	b.WriteString("\n\n")
	if len(v) == 0 {
		b.WriteString("(no clips)\n\n")
		return
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	const bins = 10
	width := (hi - lo) / bins
	if width <= 0 {
		width = 1
	}
	counts := make([]int, bins)
	for _, x := range v {
		i := min(bins-1, int((x-lo)/width))
		counts[i]++
	}
	most := 0
	for _, c := range counts {
		most = max(most, c)
	}
	b.WriteString("```\n")
	for i, c := range counts {
		bar := strings.Repeat("#", int(math.Round(40*float64(c)/float64(max(most, 1)))))
		fmt.Fprintf(b, "%10.3f - %10.3f | %-40s %d\n", lo+float64(i)*width, lo+float64(i+1)*width, bar, c)
	}
	b.WriteString("```\n\n")
}
