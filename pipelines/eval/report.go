package eval

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"sort"
	"strings"

	"realdpo/model"
	"realdpo/schemas"
	"realdpo/transforms/evaluate"
	"realdpo/transforms/stage"
)

// metricDefs are the report's rows, in order.
var metricDefs = []schemas.EvalMetric{
	{Key: "fd", Label: "Frechet distance (video features)", Better: "lower",
		Help: "squared Frechet distance between Gaussians fitted to the fixed per-clip features of the real clips and of the samples, standardised by the real clips, correlations shrunk toward zero (an FVD stand-in)"},
	{Key: "speed_w1", Label: "Motion: W1 of block speeds", Unit: "px/frame", Better: "lower",
		Help: "1-Wasserstein distance between the distributions of block-flow speeds in the samples and in the real clips"},
	{Key: "speed_mean", Label: "Motion: mean block speed", Unit: "px/frame", Better: "closer",
		Help: "mean speed of the dense block flow between consecutive frames"},
	{Key: "dynamic_degree", Label: "Dynamic degree", Unit: "share", Better: "closer",
		Help: "share of clips whose fastest 5% of blocks move at least 2% of the frame width a frame"},
	{Key: "jerk", Label: "Jerk (smoothness)", Unit: "px/frame^3", Better: "closer",
		Help: "mean |v(t+2) - 2v(t+1) + v(t)| of the flow at each block: jitter raises it"},
	{Key: "first_frame_mae", Label: "First-frame error", Unit: "0..255", Better: "lower",
		Help: "mean absolute error between frame 0 and the conditioning frame"},
	{Key: "early_mae", Label: "Early drift (frames 1-2)", Unit: "0..255", Better: "closer",
		Help: "mean absolute difference of frames 1 and 2 from the conditioning frame: how fast the clip leaves it"},
	{Key: "sharpness", Label: "Sharpness (Laplacian variance)", Unit: "luma^2", Better: "closer",
		Help: "variance of the Laplacian of the luma, mean over frames (noise raises it too, so closer to real is better)"},
}

var dpoDefs = []schemas.EvalMetric{
	{Key: "dpo_accuracy", Label: "DPO implicit accuracy", Unit: "share", Better: "higher",
		Help: "share of (pair, rejected clip) terms with inside > 0 against the reference at the pair's fixed t and noise; a weak signal (real and generated clips are easy to tell apart), read it with the winner error"},
	{Key: "dpo_winner_mse", Label: "DPO winner v-MSE (real clips)", Better: "lower",
		Help: "mean v-prediction error on the real (chosen) clips at the fixed t and noise"},
	{Key: "dpo_winner_margin", Label: "DPO winner margin Lw - Lw_ref", Better: "lower",
		Help: "winner error against the reference's: rising means the model drifts away from real data"},
	{Key: "dpo_loser_mse", Label: "DPO loser v-MSE (generated clips)", Better: "higher",
		Help: "mean v-prediction error on the rejected (generated) clips"},
}

var timingDef = schemas.EvalMetric{Key: "sample_s", Label: "Seconds per sample", Unit: "s", Better: "lower",
	Help: "wall time of one sample on the worker that drew it (machine-dependent)"}

// agg are the aggregates of one group of measured videos.
type agg struct {
	feats  [][]float64
	speeds []float64
	vals   map[string]float64
	n      int
}

func aggregate(ss []schemas.EvalSample) agg {
	a := agg{vals: map[string]float64{}, n: len(ss)}
	if len(ss) == 0 {
		return a
	}
	var dyn, wall float64
	for _, s := range ss {
		a.feats = append(a.feats, s.Stats.Features)
		a.speeds = append(a.speeds, s.Stats.Speeds...)
		a.vals["speed_mean"] += s.Stats.MeanSpeed
		a.vals["jerk"] += s.Stats.Jerk
		a.vals["first_frame_mae"] += s.Stats.FirstFrameMAE
		a.vals["early_mae"] += s.Stats.EarlyMAE
		a.vals["sharpness"] += s.Stats.Sharpness
		if s.Stats.Dynamic {
			dyn++
		}
		wall += s.WallS
	}
	n := float64(len(ss))
	for k := range a.vals {
		a.vals[k] /= n
	}
	a.vals["dynamic_degree"] = dyn / n
	if wall > 0 {
		a.vals["sample_s"] = wall / n
	}
	return a
}

// buildReport computes every figure from the pipeline's results.
func buildReport(cfg schemas.EvalConfig, geo model.Config, samples []schemas.EvalSample, dpos []schemas.EvalDPO, rejects []schemas.EvalReject) (*schemas.EvalReport, map[string]map[string][]byte, error) {
	modelIdx := map[string]int{RealModel: -1}
	for i, m := range cfg.Models {
		modelIdx[m.Name] = i
	}
	sort.Slice(samples, func(i, j int) bool {
		a, b := samples[i], samples[j]
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		if a.ClipID != b.ClipID {
			return a.ClipID < b.ClipID
		}
		if modelIdx[a.Model] != modelIdx[b.Model] {
			return modelIdx[a.Model] < modelIdx[b.Model]
		}
		return a.Index < b.Index
	})
	sort.Slice(dpos, func(i, j int) bool {
		if dpos[i].Key != dpos[j].Key {
			return dpos[i].Key < dpos[j].Key
		}
		return modelIdx[dpos[i].Model] < modelIdx[dpos[j].Model]
	})
	sort.Slice(rejects, func(i, j int) bool {
		a, b := rejects[i], rejects[j]
		return a.Stage+"\x00"+a.Item+"\x00"+a.Model+"\x00"+a.Detail < b.Stage+"\x00"+b.Item+"\x00"+b.Model+"\x00"+b.Detail
	})

	byModel := map[string][]schemas.EvalSample{}
	strips := map[string]map[string][]byte{} // clip -> model -> frames
	rep := &schemas.EvalReport{Format: schemas.EvalFormat, Config: cfg, ModelConfig: geo.JSON(),
		Features: evaluate.FeatureNames, Rejects: rejects, Counts: map[string]int{}}
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
	rep.Real = schemas.EvalModelReport{EvalModel: schemas.EvalModel{Name: RealModel}, Samples: real.n, Metrics: real.vals}
	rep.Counts["clips_evaluated"] = real.n
	rep.Counts["samples"] = len(samples) - real.n
	rep.Counts["rejects"] = len(rejects)
	if real.n == 0 {
		return rep, strips, fmt.Errorf("eval: no real clip could be decoded (%d rejects)", len(rejects))
	}

	defs := append([]schemas.EvalMetric{}, metricDefs...)
	if cfg.Pairs != "" {
		defs = append(defs, dpoDefs...)
	}
	defs = append(defs, timingDef)

	dpoBy := map[string][]schemas.EvalDPO{}
	pairs := map[string]bool{}
	for _, d := range dpos {
		dpoBy[d.Model] = append(dpoBy[d.Model], d)
		pairs[d.Key] = true
	}
	rep.Counts["pairs"] = len(pairs)
	for _, m := range cfg.Models {
		a := aggregate(byModel[m.Name])
		mr := schemas.EvalModelReport{EvalModel: m, Samples: a.n, Metrics: a.vals}
		if a.n > 0 {
			fd, err := evaluate.FrechetShrunk(real.feats, a.feats)
			if err != nil {
				return rep, strips, fmt.Errorf("eval: model %s: %w", m.Name, err)
			}
			mr.Metrics["fd"] = fd.Distance
			mr.Metrics["speed_w1"] = evaluate.Wasserstein1(real.speeds, a.speeds)
		}
		if ds := dpoBy[m.Name]; len(ds) > 0 {
			var acc, lw, marg, ll float64
			nl := 0
			for _, d := range ds {
				for i := range d.Inside {
					if d.Inside[i] > 0 {
						acc++
					}
					ll += d.Ll[i]
					nl++
				}
				lw += d.Lw
				marg += d.Lw - d.LwRef
			}
			mr.Pairs = len(ds)
			mr.Metrics["dpo_accuracy"] = acc / float64(nl)
			mr.Metrics["dpo_winner_mse"] = lw / float64(len(ds))
			mr.Metrics["dpo_winner_margin"] = marg / float64(len(ds))
			mr.Metrics["dpo_loser_mse"] = ll / float64(nl)
		}
		for _, d := range defs {
			if v, ok := mr.Metrics[d.Key]; ok && d.Better == "closer" {
				mr.Metrics[d.Key+"_delta"] = math.Abs(v - real.vals[d.Key])
			}
		}
		rep.Models = append(rep.Models, mr)
	}
	for i := range defs {
		defs[i].Best = best(defs[i], rep.Models)
	}
	rep.Metrics = defs
	return rep, strips, nil
}

// best names the model with the best value of a metric ("" if none has it).
func best(d schemas.EvalMetric, ms []schemas.EvalModelReport) string {
	name, bv := "", 0.0
	for _, m := range ms {
		key := d.Key
		if d.Better == "closer" {
			key += "_delta"
		}
		v, ok := m.Metrics[key]
		if !ok || math.IsNaN(v) {
			continue
		}
		if d.Better == "higher" {
			v = -v
		}
		if name == "" || v < bv {
			name, bv = m.Name, v
		}
	}
	return name
}

// writeReport writes report.json and report.html (temp then rename).
func writeReport(ctx context.Context, cfg schemas.EvalConfig, geo model.Config, rep *schemas.EvalReport, strips map[string]map[string][]byte) error {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: encoding report: %w", err)
	}
	page, err := renderHTML(rep, geo, strips)
	if err != nil {
		return err
	}
	// The HTML first: report.json's presence means the run finished.
	if err := stage.WriteAtomic(ctx, stage.JoinPath(cfg.Output, ReportHTML), bytes.NewReader(page)); err != nil {
		return fmt.Errorf("eval: writing %s: %w", ReportHTML, err)
	}
	if err := stage.WriteAtomic(ctx, stage.JoinPath(cfg.Output, ReportJSON), bytes.NewReader(append(js, '\n'))); err != nil {
		return fmt.Errorf("eval: writing %s: %w", ReportJSON, err)
	}
	slog.Info("eval: report written", "dir", cfg.Output)
	return nil
}

// reportFn receives every result in one group and writes the report.
type reportFn struct {
	Cfg schemas.EvalConfig
	Geo model.Config
}

func (fn *reportFn) ProcessElement(ctx context.Context, _ string, samples func(*schemas.EvalSample) bool, dpos func(*schemas.EvalDPO) bool,
	rejects func(*schemas.EvalReject) bool, _ func(*string) bool) error {
	ss, ds, rs := stage.Collect(samples), stage.Collect(dpos), stage.Collect(rejects)
	rep, strips, err := buildReport(fn.Cfg, fn.Geo, ss, ds, rs)
	if err != nil {
		return err
	}
	return writeReport(ctx, fn.Cfg, fn.Geo, rep, strips)
}

// FormatTable renders the metric table as text (for the command's output).
func FormatTable(rep *schemas.EvalReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-34s %-7s %10s", "metric", "better", "real")
	for _, m := range rep.Models {
		fmt.Fprintf(&b, " %12s", m.Name)
	}
	b.WriteString("\n")
	for _, d := range rep.Metrics {
		fmt.Fprintf(&b, "%-34s %-7s %10s", d.Label, d.Better, realCell(rep, d))
		for _, m := range rep.Models {
			c := "-"
			if v, ok := m.Metrics[d.Key]; ok {
				c = num(v)
				if m.Name == d.Best {
					c = "*" + c
				}
			}
			fmt.Fprintf(&b, " %12s", c)
		}
		b.WriteString("\n")
	}
	b.WriteString("(* best; 'closer' means closest to the real clips' value)\n")
	return b.String()
}

// realCell is the real clips' own value where one exists (the reference
// for "closer" rows; for first-frame error, the floor set by compression).
func realCell(rep *schemas.EvalReport, d schemas.EvalMetric) string {
	if v, ok := rep.Real.Metrics[d.Key]; ok && d.Key != timingDef.Key {
		return num(v)
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
	frames, err := split(video, geo)
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
	Text  string
	Delta string
	Best  bool
}

type htmlRow struct {
	Metric schemas.EvalMetric
	Real   string
	Cells  []htmlCell
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
	Rep    *schemas.EvalReport
	Rows   []htmlRow
	Strips []htmlStrip
	Geo    model.Config
}

func renderHTML(rep *schemas.EvalReport, geo model.Config, strips map[string]map[string][]byte) ([]byte, error) {
	pg := htmlPage{Rep: rep, Geo: geo}
	for _, d := range rep.Metrics {
		row := htmlRow{Metric: d, Real: realCell(rep, d)}
		for _, m := range rep.Models {
			c := htmlCell{Text: "-", Best: m.Name == d.Best}
			if v, ok := m.Metrics[d.Key]; ok {
				c.Text = num(v)
			}
			if v, ok := m.Metrics[d.Key+"_delta"]; ok {
				c.Delta = "Δ " + num(v)
			}
			row.Cells = append(row.Cells, c)
		}
		pg.Rows = append(pg.Rows, row)
	}
	for _, c := range rep.Clips {
		vs := strips[c.ID]
		if vs == nil {
			continue
		}
		st := htmlStrip{ID: c.ID, Caption: c.Caption}
		names := []string{RealModel}
		for _, m := range rep.Models {
			names = append(names, m.Name)
		}
		for _, n := range names {
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

var pageTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>realdpo eval report</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:28px}
.sub{color:#666;font-size:13px}
table{border-collapse:collapse;font-size:14px}
th,td{border:1px solid #ddd;padding:5px 9px;text-align:right;vertical-align:top}
th{background:#f3f3f3} td.l,th.l{text-align:left}
td.best{background:#d9f2d9;font-weight:bold}
.d{display:block;color:#777;font-size:11px;font-weight:normal}
.dir{color:#555;font-size:12px;white-space:nowrap}
.strip td{border:none;padding:2px 6px;text-align:left}
.strip img{image-rendering:pixelated;display:block}
.cap{color:#444;font-size:13px;max-width:1100px;margin:4px 0 6px}
.help{color:#555;font-size:12px} code{font-size:12px}
</style></head><body>
<h1>realdpo eval</h1>
<div class="sub">dataset <code>{{.Rep.Config.Dataset}}</code>{{if .Rep.Config.Pairs}}, pairs <code>{{.Rep.Config.Pairs}}</code>{{end}} ·
{{.Rep.Counts.clips_evaluated}} real clips, {{.Rep.Counts.samples}} samples{{if .Rep.Config.Pairs}}, {{.Rep.Counts.pairs}} pairs{{end}} ·
{{.Rep.Config.Samples}} sample(s) per clip and model, {{.Rep.Config.Steps}} DDIM steps, guidance {{.Rep.Config.Guidance}}, seed {{.Rep.Config.Seed}} ·
model {{.Geo.Frames}} frames of {{.Geo.Width}}x{{.Geo.Height}}</div>

<h2>Metrics</h2>
<table>
<tr><th class="l">metric</th><th class="l">better</th><th>real</th>{{range .Rep.Models}}<th>{{.Name}}</th>{{end}}</tr>
{{range .Rows}}<tr><td class="l" title="{{.Metric.Help}}">{{.Metric.Label}}{{if .Metric.Unit}} <span class="dir">({{.Metric.Unit}})</span>{{end}}</td>
<td class="l dir">{{if eq .Metric.Better "closer"}}closer to real{{else}}{{.Metric.Better}}{{end}}</td><td>{{.Real}}</td>
{{range .Cells}}<td{{if .Best}} class="best"{{end}}>{{.Text}}{{if .Delta}}<span class="d">{{.Delta}}</span>{{end}}</td>{{end}}</tr>
{{end}}</table>
<p class="help">Green: best model on that row. "closer to real": the best value is the one nearest the real clips' (Δ is the distance).
Hover a metric for its definition.</p>
<table>
<tr><th class="l">model</th><th class="l">checkpoint</th><th class="l">weights (sha256)</th><th>samples</th>{{if .Rep.Config.Pairs}}<th>pairs</th>{{end}}</tr>
{{range .Rep.Models}}<tr><td class="l">{{.Name}}</td><td class="l"><code>{{if .Checkpoint}}{{.Checkpoint}}{{else}}built-in base{{end}}</code></td><td class="l"><code>{{printf "%.16s" .Weights}}</code></td><td>{{.Samples}}</td>{{if $.Rep.Config.Pairs}}<td>{{.Pairs}}</td>{{end}}</tr>
{{end}}</table>
{{if .Rep.Config.Pairs}}<p class="help">DPO figures: each model as the policy against <b>{{.Rep.Config.Reference.Name}}</b> as the reference, at one timestep and noise per pair shared by every model (beta {{.Rep.Config.Beta}}).</p>{{end}}

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
