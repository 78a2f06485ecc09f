package training

import (
	"bytes"
	"context"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"realdpo/schemas"
)

// series is one line of a plot.
type series struct {
	name string
	y    func(m schemas.TrainMetric) float64
	c    color.Color
}

var (
	blue   = color.RGBA{31, 119, 180, 255}
	orange = color.RGBA{255, 127, 14, 255}
	green  = color.RGBA{44, 160, 44, 255}
	grey   = color.RGBA{170, 170, 170, 255}
)

// smoothWindow is the moving-average width drawn over noisy per-step values:
// about a twentieth of the run.
func smoothWindow(n int) int { return max(1, n/20) }

// linePlot draws each series raw (thin, light) and smoothed (bold).
func linePlot(title, ylabel string, ms []schemas.TrainMetric, ss []series, zero bool) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	if zero {
		z, err := plotter.NewLine(plotter.XYs{{X: float64(ms[0].Step), Y: 0}, {X: float64(ms[len(ms)-1].Step), Y: 0}})
		if err != nil {
			return nil, err
		}
		z.Color, z.Dashes = grey, []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(z)
	}
	w := smoothWindow(len(ms))
	for _, s := range ss {
		raw := make(plotter.XYs, len(ms))
		for i, m := range ms {
			raw[i] = plotter.XY{X: float64(m.Step), Y: s.y(m)}
		}
		if w > 1 {
			l, err := plotter.NewLine(raw)
			if err != nil {
				return nil, err
			}
			r, g, b, _ := s.c.RGBA()
			l.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 80} // non-premultiplied: a light tint
			p.Add(l)
		}
		sm := make(plotter.XYs, len(raw))
		sum := 0.0
		for i := range raw {
			sum += raw[i].Y
			if i >= w {
				sum -= raw[i-w].Y
			}
			sm[i] = plotter.XY{X: raw[i].X, Y: sum / float64(min(i+1, w))}
		}
		l, err := plotter.NewLine(sm)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = s.c, vg.Points(1.5)
		p.Add(l)
		name := s.name
		if w > 1 {
			name = fmt.Sprintf("%s (mean of %d)", s.name, w)
		}
		p.Legend.Add(name, l)
	}
	p.Legend.Top = true
	return PNG(p, 7*vg.Inch, 4*vg.Inch)
}

// PNG renders p as a w x h PNG.
func PNG(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writePlots draws the run's curves: the loss, and for DPO the implicit
// accuracy and the winner and loser error deltas against the reference.
func writePlots(ctx context.Context, st *store, objective string, ms []schemas.TrainMetric) ([]string, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	type out struct {
		rel  string
		data func() ([]byte, error)
	}
	outs := []out{{PlotLoss, func() ([]byte, error) {
		ss := []series{{"objective", func(m schemas.TrainMetric) float64 { return m.Loss }, blue}}
		if objective == schemas.ObjectiveDPO {
			ss = append(ss, series{"mean -log sigmoid(inside)", func(m schemas.TrainMetric) float64 { return m.DPOLoss }, orange})
		}
		return linePlot(objective+" training loss", "loss", ms, ss, false)
	}}}
	if objective == schemas.ObjectiveDPO {
		outs = append(outs,
			out{PlotAccuracy, func() ([]byte, error) {
				return linePlot("implicit accuracy (inside > 0); weak for real-vs-generated pairs", "accuracy", ms,
					[]series{{"implicit accuracy", func(m schemas.TrainMetric) float64 { return m.Accuracy }, green}}, false)
			}},
			out{PlotErrorDelta, func() ([]byte, error) {
				return linePlot("v-MSE policy minus reference (below 0: policy fits better)", "delta v-MSE", ms, []series{
					{"winner (real) Lw - Lw_ref", func(m schemas.TrainMetric) float64 { return m.WinnerDelta }, blue},
					{"losers (generated) Ll - Ll_ref", func(m schemas.TrainMetric) float64 { return m.LoserDelta }, orange},
				}, true)
			}})
	}
	var written []string
	for _, o := range outs {
		b, err := o.data()
		if err != nil {
			return written, fmt.Errorf("plot %s: %w", o.rel, err)
		}
		if err := st.write(ctx, o.rel, b); err != nil {
			return written, err
		}
		written = append(written, o.rel)
	}
	return written, nil
}
