package experiment

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"image/color"
	"log/slog"
	"math"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"realdpo/schemas"
	"realdpo/transforms/evaluate"
	"realdpo/transforms/fsx"
	"realdpo/transforms/training"
)

// curve is one training quantity plotted for every run.
type curve struct {
	file, title, ylabel string
	y                   func(m schemas.TrainMetric) float64
	objective           string // "" for both objectives
}

var curves = []curve{
	{"plots/winner_err.png", "v-MSE on the real clips (training batches)", "v-MSE", func(m schemas.TrainMetric) float64 { return m.WinnerErr }, ""},
	{"plots/dpo_loss.png", "RealDPO loss (mean -log sigmoid(inside))", "loss", func(m schemas.TrainMetric) float64 { return m.DPOLoss }, schemas.ObjectiveDPO},
	{"plots/winner_delta.png", "RealDPO winner margin Lw - Lw_ref (must stay <= 0)", "Lw - Lw_ref", func(m schemas.TrainMetric) float64 { return m.WinnerDelta }, schemas.ObjectiveDPO},
	{"plots/implicit_accuracy.png", "RealDPO implicit accuracy", "share", func(m schemas.TrainMetric) float64 { return m.Accuracy }, schemas.ObjectiveDPO},
}

var groupColours = map[string]color.Color{
	GroupRealDPO: color.RGBA{214, 39, 40, 255},
	GroupSFT:     color.RGBA{31, 119, 180, 255},
}

// smooth is a trailing moving mean over about a tenth of the run.
func smooth(ys []float64) []float64 {
	w := max(1, len(ys)/10)
	out := make([]float64, len(ys))
	var s float64
	for i, y := range ys {
		s += y
		if i >= w {
			s -= ys[i-w]
		}
		out[i] = s / float64(min(i+1, w))
	}
	return out
}

// plotCurve draws one quantity: a line a run (moving mean), coloured by
// group, dashed for every seed after the first.
func plotCurve(c curve, runs []schemas.ExperimentRun, metrics [][]schemas.TrainMetric) ([]byte, error) {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text = "step"
	p.Y.Label.Text = c.ylabel
	p.Add(plotter.NewGrid())
	seen := map[string]int{}
	lines := 0
	for i, run := range runs {
		if c.objective != "" && run.Objective != c.objective {
			continue
		}
		ms := metrics[i]
		if len(ms) == 0 {
			continue
		}
		ys := make([]float64, len(ms))
		for k, m := range ms {
			ys[k] = c.y(m)
		}
		sm := smooth(ys)
		xy := make(plotter.XYs, len(ms))
		for k, m := range ms {
			xy[k] = plotter.XY{X: float64(m.Step), Y: sm[k]}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = groupColours[run.Group]
		l.Width = vg.Points(1.5)
		if seen[run.Group] > 0 {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2 + 2*float64(seen[run.Group]))}
		}
		seen[run.Group]++
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s seed %d", run.Group, run.Seed), l)
		lines++
	}
	if lines == 0 {
		return nil, nil
	}
	p.Legend.Top = true
	return training.PNG(p, 6*vg.Inch, 3.2*vg.Inch)
}

type htmlImage struct {
	Title string
	Src   template.URL
}

type htmlRun struct {
	schemas.ExperimentRun
	StepsPerS string
}

type htmlStage struct {
	schemas.ExperimentStage
	Wall string
}

type htmlPage struct {
	Rep     *schemas.ExperimentReport
	CSS     template.CSS
	Tables  template.HTML
	Curves  []htmlImage
	Strips  []htmlImage
	Rows    string
	Stages  []htmlStage
	Runs    []htmlRun
	Wall    string
	Seeds   string
	Trust   []string
	Regen   bool
	EvalDir string
}

func dataURI(png []byte) template.URL {
	// PNGs this package or the eval stage encoded: safe as a URL.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

func duration(s float64) string { return (time.Duration(s) * time.Second).Round(time.Second).String() }

// TrustNotes adds what the experiment's own settings say about its
// figures to the evaluation's notes.
func TrustNotes(rep *schemas.ExperimentReport) []string {
	c := rep.Config
	var notes []string
	if len(c.Seeds) < 3 {
		notes = append(notes, fmt.Sprintf("%d training seed(s) per fine-tune: the issue's bar is at least 3 before a difference between fine-tunes counts.", len(c.Seeds)))
	}
	if n := rep.Eval.Counts["clips_evaluated"]; n < 48 {
		notes = append(notes, fmt.Sprintf("%d held-out clips: the issue's bar is at least 48.", n))
	}
	notes = append(notes, fmt.Sprintf("Training: %d steps a run, %d negatives a clip at %d DDIM steps; evaluation: %d sample(s) a clip at %d DDIM steps.",
		c.TrainSteps, c.NegativesPerClip, c.NegativeSteps, c.EvalSamples, c.EvalSteps))
	return append(notes, rep.Eval.Notes...)
}

// write renders the plots and experiment.html, then experiment.json
// (whose presence means the experiment finished).
func write(ctx context.Context, rep *schemas.ExperimentReport, full *schemas.EvalReport, metrics [][]schemas.TrainMetric) error {
	out := rep.Config.Output
	tables, err := evaluate.TablesHTML(&rep.Eval)
	if err != nil {
		return err
	}
	seeds := make([]string, len(rep.Config.Seeds))
	for i, s := range rep.Config.Seeds {
		seeds[i] = fmt.Sprint(s)
	}
	pg := htmlPage{Rep: rep, CSS: template.CSS(evaluate.TableCSS), Tables: tables, Wall: duration(rep.WallS),
		Seeds: strings.Join(seeds, ", "), Trust: TrustNotes(rep), Regen: rep.Config.RegenerateEvery > 0, EvalDir: EvalDir,
		Rows: strings.Join(full.StripRows, " | ")}
	for _, c := range curves {
		png, err := plotCurve(c, rep.Runs, metrics)
		if err != nil {
			return fmt.Errorf("experiment: plot %s: %w", c.file, err)
		}
		if png == nil {
			continue
		}
		if err := fsx.WriteAtomic(ctx, fsx.JoinPath(out, c.file), bytes.NewReader(png)); err != nil {
			return fmt.Errorf("experiment: writing %s: %w", c.file, err)
		}
		pg.Curves = append(pg.Curves, htmlImage{Title: c.title, Src: dataURI(png)})
	}
	for _, s := range full.Strips {
		png, err := fsx.ReadFile(ctx, fsx.JoinPath(fsx.JoinPath(out, EvalDir), s.File), maxReadBack)
		if err != nil {
			return fmt.Errorf("experiment: strip %s: %w", s.File, err)
		}
		pg.Strips = append(pg.Strips, htmlImage{Title: s.Clip + ": " + s.Caption, Src: dataURI(png)})
	}
	for _, st := range rep.Stages {
		pg.Stages = append(pg.Stages, htmlStage{ExperimentStage: st, Wall: duration(st.WallS)})
	}
	for _, r := range rep.Runs {
		sps := "-"
		if r.Summary.StepsPerS > 0 && !math.IsInf(r.Summary.StepsPerS, 0) {
			sps = fmt.Sprintf("%.3f", r.Summary.StepsPerS)
		}
		pg.Runs = append(pg.Runs, htmlRun{ExperimentRun: r, StepsPerS: sps})
	}
	var page bytes.Buffer
	if err := pageTmpl.Execute(&page, pg); err != nil {
		return fmt.Errorf("experiment: rendering %s: %w", ReportHTML, err)
	}
	if err := fsx.WriteAtomic(ctx, fsx.JoinPath(out, ReportHTML), &page); err != nil {
		return fmt.Errorf("experiment: writing %s: %w", ReportHTML, err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("experiment: encoding %s: %w", ReportJSON, err)
	}
	if err := fsx.WriteAtomic(ctx, fsx.JoinPath(out, ReportJSON), bytes.NewReader(append(js, '\n'))); err != nil {
		return fmt.Errorf("experiment: writing %s: %w", ReportJSON, err)
	}
	slog.Info("experiment: report written", "dir", out)
	return nil
}

// Summary is the text the command prints: the table, the comparisons and
// the notes.
func Summary(rep *schemas.ExperimentReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "experiment: %d held-out clips, seeds %v, %s wall on %d CPUs\n\n", rep.Eval.Counts["clips_evaluated"], rep.Config.Seeds,
		duration(rep.WallS), rep.CPUs)
	b.WriteString(evaluate.FormatTable(&rep.Eval))
	notes := TrustNotes(rep)
	for _, n := range notes[:len(notes)-len(rep.Eval.Notes)] {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

var pageTmpl = template.Must(template.New("experiment").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>realdpo experiment</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:28px} h3{font-size:15px;margin-top:18px}
.sub{color:#666;font-size:13px}
{{.CSS}}
img.strip{image-rendering:pixelated;display:block;margin:4px 0 14px}
.cap{color:#444;font-size:13px;max-width:1100px;margin:8px 0 2px}
.curves img{margin:4px 8px 8px 0}
</style></head><body>
<h1>realdpo experiment: does RealDPO move generated motion toward real motion?</h1>
<div class="sub">training dataset <code>{{.Rep.Config.Dataset}}</code> · held-out <code>{{.Rep.Config.Heldout}}</code> ·
base {{if .Rep.Config.Init}}<code>{{.Rep.Config.Init}}</code>{{else}}built-in{{end}} · seeds {{.Seeds}} ·
{{.Rep.Config.TrainSteps}} training steps, lr {{.Rep.Config.LR}}, beta {{.Rep.Config.Beta}}, lambda {{.Rep.Config.SFTWeight}}{{if .Rep.Config.DPOTShare}}, DPO timesteps from the lowest {{.Rep.Config.DPOTShare}} of the schedule{{end}}{{if .Regen}}, negatives regenerated every {{.Rep.Config.RegenerateEvery}} steps{{end}} ·
{{.Wall}} wall on {{.Rep.CPUs}} CPUs</div>

<h2>How far these numbers can be trusted</h2>
<ul class="notes">{{range .Trust}}<li>{{.}}</li>{{end}}</ul>

<h2>Results on held-out clips</h2>
{{.Tables}}
<p class="help">Full evaluation, per clip and per sample: <code>{{.EvalDir}}/report.html</code>, <code>{{.EvalDir}}/report.json</code>.</p>

<h2>Training curves</h2>
<p class="help">Moving mean over a tenth of each run; RealDPO red, SFT blue, one line per seed (dashed after the first).</p>
<div class="curves">{{range .Curves}}<img src="{{.Src}}" alt="{{.Title}}" width="576">{{end}}</div>
<table><tr><th class="l">run</th><th class="l">objective</th><th>seed</th><th>steps</th><th>pairs</th><th>final loss</th><th>steps/s</th><th class="l">directory</th></tr>
{{range .Runs}}<tr><td class="l">{{.Group}}</td><td class="l">{{.Objective}}</td><td>{{.Seed}}</td><td>{{.Summary.Steps}}</td><td>{{.Summary.Pairs}}</td><td>{{printf "%.5f" .Summary.FinalLoss}}</td><td>{{.StepsPerS}}</td><td class="l"><code>{{.Dir}}</code></td></tr>
{{end}}</table>

<h2>Frame strips</h2>
<p class="help">Rows: {{.Rows}}. Each sample from the real clip's first frame and caption, the same seed for every model; frames left to right.</p>
{{range .Strips}}<div class="cap">{{.Title}}</div><img class="strip" src="{{.Src}}" alt="{{.Title}}">
{{end}}

<h2>Stages</h2>
<table><tr><th class="l">stage</th><th>wall</th><th class="l"></th></tr>
{{range .Stages}}<tr><td class="l">{{.Name}}</td><td>{{.Wall}}</td><td class="l">{{if .Skipped}}done by an earlier run{{end}}</td></tr>
{{end}}</table>
</body></html>
`))
