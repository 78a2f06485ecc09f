package evaluate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"slices"
	"strings"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/fsx"
	"realdpo/transforms/stage"
)

// agg are the plain aggregates of one model's measured videos.
type agg struct {
	n    int
	wall float64
}

func aggregate(ss []schemas.EvalSample) agg {
	a := agg{n: len(ss)}
	for _, s := range ss {
		a.wall += s.WallS
	}
	if a.n > 0 {
		a.wall /= float64(a.n)
	}
	return a
}

// reportImpls are the rows of a run: the clip metrics, the DPO ones with
// --pairs, the timing.
func reportImpls(cfg schemas.EvalConfig) []metricImpl {
	impls := append([]metricImpl{}, metricImpls...)
	if cfg.Pairs != "" {
		impls = append(impls, dpoImpls...)
	}
	return append(impls, timingImpl)
}

// buildReport computes every figure from the pipeline's results.
func buildReport(cfg schemas.EvalConfig, geo model.Config, samples []schemas.EvalSample, dpos []schemas.EvalDPO, rejects []schemas.EvalReject) (*schemas.EvalReport, map[string]map[string][]byte, error) {
	modelIdx := map[string]int{RealModel: -1}
	for i, m := range cfg.Models {
		modelIdx[m.Name] = i
	}
	slices.SortFunc(samples, func(a, b schemas.EvalSample) int {
		return cmp.Or(
			cmp.Compare(a.Order, b.Order),
			cmp.Compare(a.ClipID, b.ClipID),
			cmp.Compare(modelIdx[a.Model], modelIdx[b.Model]),
			cmp.Compare(a.Index, b.Index),
		)
	})
	slices.SortFunc(dpos, func(a, b schemas.EvalDPO) int {
		return cmp.Or(
			cmp.Compare(a.Key, b.Key),
			cmp.Compare(modelIdx[a.Model], modelIdx[b.Model]),
		)
	})
	slices.SortFunc(rejects, func(a, b schemas.EvalReject) int {
		return cmp.Compare(a.Stage+"\x00"+a.Item+"\x00"+a.Model+"\x00"+a.Detail, b.Stage+"\x00"+b.Item+"\x00"+b.Model+"\x00"+b.Detail)
	})

	byModel := map[string][]schemas.EvalSample{}
	strips := map[string]map[string][]byte{} // clip -> model -> frames
	rep := &schemas.EvalReport{Format: schemas.EvalFormat, Config: cfg, ModelConfig: geo.JSON(),
		Features: FeatureNames, Rejects: rejects, Counts: map[string]int{}}
	if rep.Rejects == nil {
		rep.Rejects = []schemas.EvalReject{}
	}
	var clip *schemas.EvalClipReport
	for _, s := range samples {
		byModel[s.Model] = append(byModel[s.Model], s)
		if s.Video != nil {
			if strips[s.ClipID] == nil {
				strips[s.ClipID] = map[string][]byte{}
			}
			strips[s.ClipID][s.Model] = s.Video
		}
		if clip == nil || clip.ID != s.ClipID {
			rep.Clips = append(rep.Clips, schemas.EvalClipReport{ID: s.ClipID})
			clip = &rep.Clips[len(rep.Clips)-1]
		}
		if s.Model == RealModel {
			clip.Caption = s.Caption
		}
		clip.Samples = append(clip.Samples, s)
	}
	real := aggregate(byModel[RealModel])
	rep.Counts["clips_evaluated"] = real.n
	rep.Counts["samples"] = len(samples) - real.n
	rep.Counts["rejects"] = len(rejects)
	if real.n == 0 {
		return rep, strips, fmt.Errorf("eval: no real clip could be decoded (%d rejects)", len(rejects))
	}

	impls := reportImpls(cfg)
	data := buildStatData(samples, dpos)
	rep.Counts["pairs"] = len(data.pairs)
	tab, err := computeTables(cfg, data, impls)
	if err != nil {
		return rep, strips, err
	}
	rep.RealIntervals = tab.real
	rep.Real = schemas.EvalModelReport{EvalModel: schemas.EvalModel{Name: RealModel, Group: RealModel}, Samples: real.n,
		Metrics: pointsOf(tab.real), Intervals: tab.real}
	pairsOf := map[string]int{}
	for _, x := range dpos {
		pairsOf[x.Model]++
	}
	for _, m := range cfg.Models {
		a := aggregate(byModel[m.Name])
		m.Group = groupName(m)
		mr := schemas.EvalModelReport{EvalModel: m, Samples: a.n, Pairs: pairsOf[m.Name], Metrics: pointsOf(tab.model[m.Name]),
			Intervals: tab.model[m.Name]}
		if a.wall > 0 {
			mr.Metrics[timingImpl.def.Key] = a.wall
		}
		rep.Models = append(rep.Models, mr)
	}
	rep.Groups, rep.Comparisons = tab.groups, tab.compare
	for i := range rep.Groups {
		g := &rep.Groups[i]
		var wall float64
		for _, name := range g.Members {
			wall += aggregate(byModel[name]).wall
		}
		if wall > 0 {
			w := wall / float64(len(g.Members))
			g.Metrics[timingImpl.def.Key] = schemas.EvalInterval{Value: w, Lo: math.NaN(), Hi: math.NaN()}
		}
	}
	defs := make([]schemas.EvalMetric, len(impls))
	for i, impl := range impls {
		defs[i] = impl.def
		defs[i].Best = best(defs[i], rep.Groups)
	}
	rep.Metrics = defs
	rep.Notes = trustNotes(cfg, rep, data)
	return rep, strips, nil
}

func pointsOf(ivs map[string]schemas.EvalInterval) map[string]float64 {
	out := make(map[string]float64, len(ivs))
	for k, v := range ivs {
		out[k] = v.Value
	}
	return out
}

// best names the group with the best value of a metric ("" if none has it).
func best(d schemas.EvalMetric, gs []schemas.EvalGroupReport) string {
	name, bv := "", 0.0
	for _, g := range gs {
		key := d.Key
		if d.Better == "closer" {
			key += "_delta"
		}
		iv, ok := g.Metrics[key]
		v := iv.Value
		if !ok || math.IsNaN(v) {
			continue
		}
		if d.Better == "higher" {
			v = -v
		}
		if name == "" || v < bv {
			name, bv = g.Name, v
		}
	}
	return name
}

// headline metrics are the ones the notes single out.
var headline = []string{"motion_fd", "motion_error"}

// trustNotes says, from the run itself, how far its figures can be trusted.
func trustNotes(cfg schemas.EvalConfig, rep *schemas.EvalReport, d *statData) []string {
	n := len(d.clips)
	var notes []string
	notes = append(notes, fmt.Sprintf("Intervals: %.0f%% percentile bootstrap over the %d held-out clips (%d resamples), %d sample(s) per clip and model with the same seeds for every model; Comparisons are paired on those clips and seeds.",
		100*Level, n, cfg.Bootstrap, cfg.Samples))
	if n < 30 {
		notes = append(notes, fmt.Sprintf("Only %d clips: a bootstrap over so few clips understates the uncertainty; read the intervals as optimistic and the differences as indications, not results (the experiment's target is at least 48 clips).", n))
	}
	for _, g := range rep.Groups {
		if len(g.Members) == 1 && g.Name != BaseName && len(rep.Groups) > 1 {
			notes = append(notes, fmt.Sprintf("%s was trained from one seed: how much a fine-tune varies from seed to seed is not measured, so a difference to another fine-tune can be seed luck.", g.Name))
		} else if len(g.Members) > 1 {
			notes = append(notes, fmt.Sprintf("%s: mean of %d training seeds (%s); the spread column shows how much the seeds disagree.", g.Name, len(g.Members), strings.Join(g.Members, ", ")))
		}
	}
	for _, key := range []string{"motion_fd", "fd"} {
		dim := len(FeatureNames)
		pick := allFeatures
		if key == "motion_fd" {
			dim, pick = len(MotionFeatureNames), MotionFeatures
		}
		var lams []string
		for _, m := range cfg.Models {
			if f, ok := frechetDetail(d, Identity(n), m.Name, pick); ok {
				lams = append(lams, fmt.Sprintf("%s %.2f", m.Name, f.LambdaGen))
				if len(lams) == 1 {
					lams = append([]string{fmt.Sprintf("real %.2f", f.LambdaRef)}, lams...)
				}
			}
		}
		verdict := "enough clips to estimate its covariance only with shrinkage"
		if n >= 5*dim {
			verdict = "enough clips for its covariance"
		}
		notes = append(notes, fmt.Sprintf("%s: %d features on %d clips (%s); correlations shrunk toward zero by Schafer-Strimmer intensity %s (0 keeps the sample correlations, 1 treats features as independent). A Frechet distance on a finite set of clips is biased upward (two samples of one distribution do not give 0); compare models through the paired differences.",
			key, dim, n, verdict, strings.Join(lams, ", ")))
	}
	resolved, total := 0, 0
	for _, c := range rep.Comparisons {
		if !slices.Contains(headline, c.Metric) {
			continue
		}
		total++
		if c.Better != "" {
			resolved++
		}
	}
	if total > 0 {
		notes = append(notes, fmt.Sprintf("On the motion distances (%s), %d of %d paired Comparisons have intervals that exclude zero; the others cannot tell the models apart at this size.",
			strings.Join(headline, ", "), resolved, total))
	}
	return notes
}

// writeStrips writes one PNG a strip clip (rows: real, then the strip
// models) under strips/ and records them in the report.
func writeStrips(ctx context.Context, cfg schemas.EvalConfig, geo model.Config, rep *schemas.EvalReport, strips map[string]map[string][]byte) error {
	rows := stripRows(cfg, rep)
	rep.StripRows = rows
	for i, c := range rep.Clips {
		vs := strips[c.ID]
		if vs == nil {
			continue
		}
		var videos [][]float32
		for _, n := range rows {
			v, ok := vs[n]
			if !ok {
				v = make([]byte, geo.Frames*geo.FrameSize()) // a sample that failed: a white row keeps rows aligned
				for k := range v {
					v[k] = 255
				}
			}
			frames, err := geo.SplitRGB24(v)
			if err != nil {
				return fmt.Errorf("eval: strip %s/%s: %w", c.ID, n, err)
			}
			fv, err := geo.VideoFromRGB24(frames)
			if err != nil {
				return fmt.Errorf("eval: strip %s/%s: %w", c.ID, n, err)
			}
			videos = append(videos, fv)
		}
		png, err := geo.StripPNG(videos, stripScale)
		if err != nil {
			return fmt.Errorf("eval: strip %s: %w", c.ID, err)
		}
		file := fmt.Sprintf("strips/%03d.png", i)
		if err := fsx.WriteAtomic(ctx, fsx.JoinPath(cfg.Output, file), bytes.NewReader(png)); err != nil {
			return fmt.Errorf("eval: writing %s: %w", file, err)
		}
		rep.Strips = append(rep.Strips, schemas.EvalStrip{Clip: c.ID, Caption: c.Caption, File: file})
	}
	return nil
}

// stripRows are the rows every strip shows: the real clip, then the
// configured strip models (all models by default) in report order.
func stripRows(cfg schemas.EvalConfig, rep *schemas.EvalReport) []string {
	rows := []string{RealModel}
	for _, m := range rep.Models {
		if len(cfg.StripModels) == 0 || slices.Contains(cfg.StripModels, m.Name) {
			rows = append(rows, m.Name)
		}
	}
	return rows
}

// writeReport writes report.json and report.html (temp then rename).
func writeReport(ctx context.Context, cfg schemas.EvalConfig, geo model.Config, rep *schemas.EvalReport, strips map[string]map[string][]byte) error {
	if err := writeStrips(ctx, cfg, geo, rep, strips); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: encoding report: %w", err)
	}
	page, err := renderHTML(rep, geo, strips)
	if err != nil {
		return err
	}
	// The HTML first: report.json's presence means the run finished.
	if err := fsx.WriteAtomic(ctx, fsx.JoinPath(cfg.Output, ReportHTML), bytes.NewReader(page)); err != nil {
		return fmt.Errorf("eval: writing %s: %w", ReportHTML, err)
	}
	if err := fsx.WriteAtomic(ctx, fsx.JoinPath(cfg.Output, ReportJSON), bytes.NewReader(append(js, '\n'))); err != nil {
		return fmt.Errorf("eval: writing %s: %w", ReportJSON, err)
	}
	slog.Info("eval: report written", "dir", cfg.Output)
	return nil
}

// ReportFn receives every result (as side inputs) and writes the report.
type ReportFn struct {
	Cfg schemas.EvalConfig
	Geo model.Config
}

func (fn *ReportFn) ProcessElement(ctx context.Context, _ []byte, samples func(*schemas.EvalSample) bool, dpos func(*schemas.EvalDPO) bool,
	rejects func(*schemas.EvalReject) bool) error {
	ss, ds, rs := stage.Collect(samples), stage.Collect(dpos), stage.Collect(rejects)
	rep, strips, err := buildReport(fn.Cfg, fn.Geo, ss, ds, rs)
	if err != nil && rep != nil && rep.Counts["clips_evaluated"] == 0 {
		// Nothing to compare, and the run fails; the report still records
		// why each clip was left out.
		if werr := writeReport(ctx, fn.Cfg, fn.Geo, rep, strips); werr != nil {
			return errors.Join(err, werr)
		}
		return fmt.Errorf("%w: each clip's reason is in %s", err, fsx.JoinPath(fn.Cfg.Output, ReportJSON))
	}
	if err != nil {
		return err
	}
	return writeReport(ctx, fn.Cfg, fn.Geo, rep, strips)
}

// FormatTable renders the metric table as text (for the command's
// output): every group's value with its interval, then the paired
// Comparisons and the notes.
func FormatTable(rep *schemas.EvalReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-36s %-7s %24s", "metric", "better", "real")
	for _, g := range rep.Groups {
		fmt.Fprintf(&b, " %26s", g.Name)
	}
	b.WriteString("\n")
	for _, d := range rep.Metrics {
		fmt.Fprintf(&b, "%-36s %-7s %24s", d.Label, d.Better, realCell(rep, d))
		for _, g := range rep.Groups {
			c := "-"
			if iv, ok := g.Metrics[d.Key]; ok {
				c = ivText(iv)
				if g.Name == d.Best {
					c = "*" + c
				}
			}
			fmt.Fprintf(&b, " %26s", c)
		}
		b.WriteString("\n")
	}
	b.WriteString("(* best; 'closer' means closest to the real clips' value; [95% bootstrap interval over clips])\n")
	if len(rep.Comparisons) > 0 {
		b.WriteString("\npaired differences (A - B of the score: value, or distance to real for 'closer' rows):\n")
		for _, c := range rep.Comparisons {
			v := "no difference resolved"
			if c.Better != "" {
				v = c.Better + " better"
			}
			fmt.Fprintf(&b, "  %-20s %-18s %-28s %s\n", c.A+" - "+c.B, c.Metric, ivText(c.Diff), v)
		}
	}
	for _, n := range rep.Notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

// ivText is "value [lo, hi]", or the value alone without an interval.
func ivText(iv schemas.EvalInterval) string {
	if math.IsNaN(iv.Lo) || math.IsNaN(iv.Hi) {
		return num(iv.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", num(iv.Value), num(iv.Lo), num(iv.Hi))
}

// realCell is the real clips' own value where one exists (the reference
// for "closer" rows; for first-frame error, the floor set by compression).
func realCell(rep *schemas.EvalReport, d schemas.EvalMetric) string {
	if iv, ok := rep.RealIntervals[d.Key]; ok {
		return ivText(iv)
	}
	return "-"
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v != 0 && (math.Abs(v) < 0.01 || math.Abs(v) >= 1e5):
		return fmt.Sprintf("%.3g", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// stripScale enlarges the model's small frames in the report.
const stripScale = 3

func stripURI(geo model.Config, video []byte) (template.URL, error) {
	frames, err := geo.SplitRGB24(video)
	if err != nil {
		return "", err
	}
	v, err := geo.VideoFromRGB24(frames)
	if err != nil {
		return "", err
	}
	png, err := geo.StripPNG([][]float32{v}, stripScale)
	if err != nil {
		return "", err
	}
	// A PNG we encoded ourselves: safe to hand the template as a URL.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}

type htmlCell struct {
	Text     string
	Interval string
	Delta    string
	Spread   string
	Best     bool
}

type htmlRow struct {
	Metric schemas.EvalMetric
	Real   string
	Cells  []htmlCell
}

type htmlCompare struct {
	schemas.EvalComparison
	Label, Text, Verdict string
}

type htmlTables struct {
	Rep     *schemas.EvalReport
	Rows    []htmlRow
	Compare []htmlCompare
}

type htmlStripRow struct {
	Name string
	Src  template.URL
}

type htmlStrip struct {
	ID, Caption string
	Rows        []htmlStripRow
}

type htmlPage struct {
	CSS    template.CSS
	Rep    *schemas.EvalReport
	Tables template.HTML
	Strips []htmlStrip
	Geo    model.Config
}

func bracket(iv schemas.EvalInterval) string {
	if math.IsNaN(iv.Lo) || math.IsNaN(iv.Hi) {
		return ""
	}
	return "[" + num(iv.Lo) + ", " + num(iv.Hi) + "]"
}

// TablesHTML renders the report's metric table (groups as columns, each
// value with its interval, distance to real and seed spread), the paired
// Comparisons and the notes, for report.html and pages that embed a run
// (realdpo experiment).
func TablesHTML(rep *schemas.EvalReport) (template.HTML, error) {
	t := htmlTables{Rep: rep}
	labels := map[string]string{}
	for _, d := range rep.Metrics {
		labels[d.Key] = d.Label
		row := htmlRow{Metric: d, Real: "-"}
		if iv, ok := rep.RealIntervals[d.Key]; ok {
			row.Real = num(iv.Value) + " " + bracket(iv)
		}
		for _, g := range rep.Groups {
			c := htmlCell{Text: "-", Best: g.Name == d.Best}
			if iv, ok := g.Metrics[d.Key]; ok {
				c.Text, c.Interval = num(iv.Value), bracket(iv)
			}
			if iv, ok := g.Metrics[d.Key+"_delta"]; ok {
				c.Delta = "Δ " + num(iv.Value) + " " + bracket(iv)
			}
			if sp, ok := g.Spread[d.Key]; ok {
				c.Spread = fmt.Sprintf("seeds: sd %s, %s..%s (n=%d)", num(sp.SD), num(sp.Min), num(sp.Max), sp.N)
			}
			row.Cells = append(row.Cells, c)
		}
		t.Rows = append(t.Rows, row)
	}
	for _, c := range rep.Comparisons {
		h := htmlCompare{EvalComparison: c, Label: labels[c.Metric], Text: num(c.Diff.Value) + " " + bracket(c.Diff), Verdict: "not resolved"}
		if c.Better != "" {
			h.Verdict = c.Better + " better"
		}
		t.Compare = append(t.Compare, h)
	}
	var buf bytes.Buffer
	if err := tablesTmpl.Execute(&buf, t); err != nil {
		return "", fmt.Errorf("eval: rendering tables: %w", err)
	}
	// Our own template's output, every value escaped by html/template.
	return template.HTML(buf.String()), nil
}

func renderHTML(rep *schemas.EvalReport, geo model.Config, strips map[string]map[string][]byte) ([]byte, error) {
	tables, err := TablesHTML(rep)
	if err != nil {
		return nil, err
	}
	pg := htmlPage{Rep: rep, Geo: geo, Tables: tables, CSS: template.CSS(TableCSS)}
	for _, c := range rep.Clips {
		vs := strips[c.ID]
		if vs == nil {
			continue
		}
		st := htmlStrip{ID: c.ID, Caption: c.Caption}
		for _, n := range rep.StripRows {
			v, ok := vs[n]
			if !ok {
				continue
			}
			src, err := stripURI(geo, v)
			if err != nil {
				return nil, fmt.Errorf("eval: strip %s/%s: %w", c.ID, n, err)
			}
			st.Rows = append(st.Rows, htmlStripRow{Name: n, Src: src})
		}
		pg.Strips = append(pg.Strips, st)
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, pg); err != nil {
		return nil, fmt.Errorf("eval: rendering %s: %w", ReportHTML, err)
	}
	return buf.Bytes(), nil
}

// TableCSS styles TablesHTML's output.
const TableCSS = `table{border-collapse:collapse;font-size:14px}
th,td{border:1px solid #ddd;padding:5px 9px;text-align:right;vertical-align:top}
th{background:#f3f3f3} td.l,th.l{text-align:left}
td.best{background:#d9f2d9;font-weight:bold}
td.win{background:#d9f2d9} td.lose{background:#f6dede}
.d{display:block;color:#777;font-size:11px;font-weight:normal}
.dir{color:#555;font-size:12px;white-space:nowrap}
.help{color:#555;font-size:12px} code{font-size:12px}
ul.notes li{font-size:13px;margin:3px 0}`

var tablesTmpl = template.Must(template.New("tables").Parse(`<table>
<tr><th class="l">metric</th><th class="l">better</th><th>real</th>{{range .Rep.Groups}}<th>{{.Name}}{{if gt (len .Members) 1}} <span class="dir">({{len .Members}} seeds)</span>{{end}}</th>{{end}}</tr>
{{range .Rows}}<tr><td class="l" title="{{.Metric.Help}}">{{.Metric.Label}}{{if .Metric.Unit}} <span class="dir">({{.Metric.Unit}})</span>{{end}}</td>
<td class="l dir">{{if eq .Metric.Better "closer"}}closer to real{{else}}{{.Metric.Better}}{{end}}</td><td>{{.Real}}</td>
{{range .Cells}}<td{{if .Best}} class="best"{{end}}>{{.Text}}{{if .Interval}}<span class="d">{{.Interval}}</span>{{end}}{{if .Delta}}<span class="d">{{.Delta}}</span>{{end}}{{if .Spread}}<span class="d">{{.Spread}}</span>{{end}}</td>{{end}}</tr>
{{end}}</table>
<p class="help">Each value: the mean over the held-out clips (a group: over its training seeds too) and below it the 95% percentile bootstrap interval over clips.
Green: best group on that row. "closer to real": the best value is the one nearest the real clips' (Δ is the distance, with its interval). Hover a metric for its definition.</p>
{{if .Compare}}<h3>Paired differences</h3>
<table><tr><th class="l">A - B</th><th class="l">metric</th><th>difference [95% interval]</th><th class="l">verdict</th></tr>
{{range .Compare}}<tr><td class="l">{{.A}} - {{.B}}</td><td class="l">{{.Label}}</td><td>{{.Text}}</td><td class="l{{if .Better}} win{{end}}">{{.Verdict}}</td></tr>
{{end}}</table>
<p class="help">Same clips, same sampling seeds: the score of A minus the score of B (the value; for "closer" rows the distance to the real clips' value), resampled together. "Not resolved": the interval includes zero.</p>{{end}}
{{if .Rep.Notes}}<h3>How far these figures can be trusted</h3><ul class="notes">{{range .Rep.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
`))

var pageTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>realdpo eval report</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:28px} h3{font-size:15px;margin-top:18px}
.sub{color:#666;font-size:13px}
{{.CSS}}
.strip td{border:none;padding:2px 6px;text-align:left}
.strip img{image-rendering:pixelated;display:block}
.cap{color:#444;font-size:13px;max-width:1100px;margin:4px 0 6px}
</style></head><body>
<h1>realdpo eval</h1>
<div class="sub">dataset <code>{{.Rep.Config.Dataset}}</code>{{if .Rep.Config.Pairs}}, pairs <code>{{.Rep.Config.Pairs}}</code>{{end}} ·
{{.Rep.Counts.clips_evaluated}} real clips, {{.Rep.Counts.samples}} samples{{if .Rep.Config.Pairs}}, {{.Rep.Counts.pairs}} pairs{{end}} ·
{{.Rep.Config.Samples}} sample(s) per clip and model, {{.Rep.Config.Steps}} DDIM steps, guidance {{.Rep.Config.Guidance}}, seed {{.Rep.Config.Seed}} ·
model {{.Geo.Frames}} frames of {{.Geo.Width}}x{{.Geo.Height}}</div>

<h2>Metrics</h2>
{{.Tables}}
<table>
<tr><th class="l">model</th><th class="l">group</th><th class="l">checkpoint</th><th class="l">weights (sha256)</th><th>samples</th>{{if .Rep.Config.Pairs}}<th>pairs</th>{{end}}</tr>
{{range .Rep.Models}}<tr><td class="l">{{.Name}}</td><td class="l">{{.Group}}</td><td class="l"><code>{{if .Checkpoint}}{{.Checkpoint}}{{else}}built-in base{{end}}</code></td><td class="l"><code>{{printf "%.16s" .Weights}}</code></td><td>{{.Samples}}</td>{{if $.Rep.Config.Pairs}}<td>{{.Pairs}}</td>{{end}}</tr>
{{end}}</table>
{{if .Rep.Config.Pairs}}<p class="help">DPO figures: each model as the policy against <b>{{.Rep.Config.Reference.Name}}</b> as the reference, at one timestep and noise per pair shared by every model (beta {{.Rep.Config.Beta}}); their intervals resample the pairs.</p>{{end}}

<h2>Samples</h2>
<p class="help">Rows: the real clip, then each model's sample from the same first frame and caption (sample 0, same seed for every model). Frames left to right.</p>
{{range .Strips}}<div class="cap"><b>{{.ID}}</b>: {{.Caption}}</div>
<table class="strip">{{range .Rows}}<tr><td>{{.Name}}</td><td><img src="{{.Src}}" alt="{{.Name}}"></td></tr>{{end}}</table>
{{end}}

<h2>Not evaluated ({{len .Rep.Rejects}})</h2>
{{if .Rep.Rejects}}<table><tr><th class="l">stage</th><th class="l">item</th><th class="l">model</th><th class="l">reason</th><th class="l">detail</th></tr>
{{range .Rep.Rejects}}<tr><td class="l">{{.Stage}}</td><td class="l">{{.Item}}</td><td class="l">{{.Model}}</td><td class="l">{{.Reason}}</td><td class="l">{{.Detail}}</td></tr>
{{end}}</table>{{else}}<p class="help">Every clip{{if .Rep.Config.Pairs}} and pair{{end}} was evaluated.</p>{{end}}

<h2>Features</h2>
<p class="help">The Frechet distance uses these fixed per-clip features (transforms/evaluate documents them): {{range $i, $f := .Rep.Features}}{{if $i}}, {{end}}<code>{{$f}}</code>{{end}}.</p>
</body></html>
`))
