package evaluate

import (
	"math"
	"sort"
	"strings"

	"realdpo/schemas"
	"realdpo/transforms/config"
)

// Statistics of the report. Every figure is a statistic of the held-out
// clips (the DPO rows: of the held-out pairs), so its interval is a
// percentile bootstrap over clips: the clips are resampled with
// replacement, a model's samples travel with their clip, and every model
// is measured on the same resamples, so the difference between two
// models is paired (same clips, same sampling seeds). Groups (a
// fine-tune trained from several seeds) average their members on each
// resample.

// unitKind says what a metric's units are.
type unitKind int

const (
	unitClips unitKind = iota
	unitPairs
	unitNone // not resampled (timings)
)

// statData is everything the statistics are computed from.
type statData struct {
	clips  []clipData
	pairs  []map[string]schemas.EvalDPO // per pair: model -> terms
	motion []float64                    // real clips' standard deviation of each motion feature
	hists  map[string][][]float64       // model ("real" too) -> per clip speed histogram
}

// clipData is one held-out clip: the real clip's stats and every model's
// samples of it.
type clipData struct {
	id      string
	real    schemas.EvalStats
	samples map[string][]schemas.EvalStats
}

// metricImpl is one row of the table: its documentation and how to
// compute it for a model ("real" for the real clips) on a list of units.
type metricImpl struct {
	def   schemas.EvalMetric
	units unitKind
	value func(d *statData, idx []int, m string) (float64, bool)
}

// statsOf is the model's stats of a clip: the real clip for "real".
func (c *clipData) statsOf(m string) []schemas.EvalStats {
	if m == RealModel {
		return []schemas.EvalStats{c.real}
	}
	return c.samples[m]
}

// perClip is a metric that is the mean over clips of the mean over the
// clip's samples of f.
func perClip(f func(s schemas.EvalStats) float64) func(d *statData, idx []int, m string) (float64, bool) {
	return func(d *statData, idx []int, m string) (float64, bool) {
		var sum float64
		n := 0
		for _, i := range idx {
			ss := d.clips[i].statsOf(m)
			if len(ss) == 0 {
				continue
			}
			var c float64
			for _, s := range ss {
				c += f(s)
			}
			sum += c / float64(len(ss))
			n++
		}
		if n == 0 {
			return 0, false
		}
		return sum / float64(n), true
	}
}

// perClipPaired is the mean over clips of the mean over the clip's
// samples of f(sample, real clip): a per-clip paired figure.
func perClipPaired(f func(d *statData, s, real schemas.EvalStats) float64) func(d *statData, idx []int, m string) (float64, bool) {
	return func(d *statData, idx []int, m string) (float64, bool) {
		if m == RealModel {
			return 0, false
		}
		var sum float64
		n := 0
		for _, i := range idx {
			ss := d.clips[i].samples[m]
			if len(ss) == 0 {
				continue
			}
			var c float64
			for _, s := range ss {
				c += f(d, s, d.clips[i].real)
			}
			sum += c / float64(len(ss))
			n++
		}
		if n == 0 {
			return 0, false
		}
		return sum / float64(n), true
	}
}

// frechetOf is a set-level Frechet distance between the real clips of idx
// and the model's samples of the same clips, on the features pick takes.
func frechetOf(pick func(s schemas.EvalStats) []float64) func(d *statData, idx []int, m string) (float64, bool) {
	return func(d *statData, idx []int, m string) (float64, bool) {
		f, ok := frechetDetail(d, idx, m, pick)
		return f.Distance, ok
	}
}

func frechetDetail(d *statData, idx []int, m string, pick func(s schemas.EvalStats) []float64) (Frechet, bool) {
	if m == RealModel {
		return Frechet{}, false
	}
	var ref, gen [][]float64
	for _, i := range idx {
		ss := d.clips[i].samples[m]
		if len(ss) == 0 {
			continue
		}
		ref = append(ref, pick(d.clips[i].real))
		for _, s := range ss {
			gen = append(gen, pick(s))
		}
	}
	if len(ref) == 0 {
		return Frechet{}, false
	}
	f, err := FrechetShrunk(ref, gen)
	if err != nil {
		return f, false
	}
	return f, true
}

func allFeatures(s schemas.EvalStats) []float64 { return s.Features }

// speedW1 is the 1-Wasserstein distance between the pooled block speeds
// of the real clips of idx and of the model's samples of them, from
// per-clip histograms (SpeedHistogram) so a resample costs a sum
// of histograms, not a sort of every block speed.
func speedW1(d *statData, idx []int, m string) (float64, bool) {
	if m == RealModel {
		return 0, false
	}
	var a, b []float64
	for _, i := range idx {
		hm := d.hists[m][i]
		if hm == nil {
			continue
		}
		a = addHist(a, d.hists[RealModel][i])
		b = addHist(b, hm)
	}
	if a == nil {
		return 0, false
	}
	return HistogramW1(a, b), true
}

func addHist(acc, h []float64) []float64 {
	if acc == nil {
		acc = make([]float64, len(h))
	}
	for i, v := range h {
		acc[i] += v
	}
	return acc
}

// perPair is the mean over pairs of f of the model's DPO terms.
func perPair(f func(x schemas.EvalDPO) float64) func(d *statData, idx []int, m string) (float64, bool) {
	return func(d *statData, idx []int, m string) (float64, bool) {
		var sum float64
		n := 0
		for _, i := range idx {
			x, ok := d.pairs[i][m]
			if !ok {
				continue
			}
			sum += f(x)
			n++
		}
		if n == 0 {
			return 0, false
		}
		return sum / float64(n), true
	}
}

func boolTo(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricImpls are the report's rows, in order.
var metricImpls = []metricImpl{
	{def: schemas.EvalMetric{Key: "motion_fd", Label: "Motion Frechet distance", Better: "lower",
		Help: "squared Frechet distance between Gaussians fitted to the motion features (" + strings.Join(MotionFeatureNames, ", ") +
			") of the real clips and of the samples, standardised by the real clips, correlations shrunk (Schafer-Strimmer): the motion distance to real"},
		value: frechetOf(MotionFeatures)},
	{def: schemas.EvalMetric{Key: "motion_error", Label: "Motion error against its own clip", Better: "lower",
		Help: "per clip, root mean square over the motion features of the sample's difference from its real clip, in units of the real clips' spread; mean over clips"},
		value: perClipPaired(func(d *statData, s, real schemas.EvalStats) float64 { return MotionError(s, real, d.motion) })},
	{def: schemas.EvalMetric{Key: "fd", Label: "Frechet distance (all video features)", Better: "lower",
		Help: "squared Frechet distance on every fixed per-clip feature (appearance, change, motion, random projections of frame differences), standardised by the real clips, correlations shrunk (an FVD stand-in)"},
		value: frechetOf(allFeatures)},
	{def: schemas.EvalMetric{Key: "speed_w1", Label: "Motion: W1 of block speeds", Unit: "px/frame", Better: "lower",
		Help: "1-Wasserstein distance between the distributions of significant block-flow speeds in the samples and in the real clips"},
		value: speedW1},
	{def: schemas.EvalMetric{Key: "speed_mean", Label: "Motion: mean block speed", Unit: "px/frame", Better: "closer",
		Help: "mean speed of the block flow between consecutive filtered frames (3x3 median, then smoothed: specks of up to 2x2 pixels are gone), displacements kept only where they beat no motion by more than the clip's noise"},
		value: perClip(func(s schemas.EvalStats) float64 { return s.MeanSpeed })},
	{def: schemas.EvalMetric{Key: "moving_area", Label: "Motion: moving area", Unit: "share", Better: "closer",
		Help: "share of pixels whose filtered luma (3x3 median, then smoothed) left the first frame's by more than 4 noise levels in that frame and a neighbouring one, mean over frames"},
		value: perClip(func(s schemas.EvalStats) float64 { return s.Area })},
	{def: schemas.EvalMetric{Key: "dynamic_degree", Label: "Dynamic degree", Unit: "share", Better: "closer",
		Help: "share of clips whose fastest 5% of blocks move at least 2% of the frame width a frame"},
		value: perClip(func(s schemas.EvalStats) float64 { return boolTo(s.Dynamic) })},
	{def: schemas.EvalMetric{Key: "jerk", Label: "Jerk (smoothness)", Unit: "px/frame^3", Better: "closer",
		Help: "mean third difference of position along tracks carried by the flow from every block of the first frame: stutter and shuffled frames raise it"},
		value: perClip(func(s schemas.EvalStats) float64 { return s.Jerk })},
	{def: schemas.EvalMetric{Key: "flicker", Label: "Flicker (artefacts)", Unit: "share", Better: "closer",
		Help: "share of pixels whose smoothed luma leaves the first frame's in one frame alone, changed in neither neighbour, mean over frames: specks that appear and vanish, which the motion metrics pass over (real footage has some, at the edges of fast limbs)"},
		value: perClip(func(s schemas.EvalStats) float64 { return s.Flicker })},
	{def: schemas.EvalMetric{Key: "noise", Label: "Grain (noise level)", Unit: "luma", Better: "closer",
		Help: "the clip's noise level: median residual of the best block matches, smoothed luma 0..255"},
		value: perClip(func(s schemas.EvalStats) float64 { return s.Noise })},
	{def: schemas.EvalMetric{Key: "first_frame_mae", Label: "First-frame error", Unit: "0..255", Better: "lower",
		Help: "mean absolute error between frame 0 and the conditioning frame: the sampler holds frame 0 at it (unless --free_first_frame), so samples score 0 and real clips their codec's error; early drift measures the frames that follow"},
		value: perClip(func(s schemas.EvalStats) float64 { return s.FirstFrameMAE })},
	{def: schemas.EvalMetric{Key: "early_mae", Label: "Early drift (frames 1-2)", Unit: "0..255", Better: "closer",
		Help: "mean absolute difference of frames 1 and 2 from the conditioning frame: how fast the clip leaves it"},
		value: perClip(func(s schemas.EvalStats) float64 { return s.EarlyMAE })},
	{def: schemas.EvalMetric{Key: "sharpness", Label: "Sharpness (Laplacian variance)", Unit: "luma^2", Better: "closer",
		Help: "variance of the Laplacian of the luma, mean over frames (noise raises it too, so closer to real is better)"},
		value: perClip(func(s schemas.EvalStats) float64 { return s.Sharpness })},
}

var dpoImpls = []metricImpl{
	{def: schemas.EvalMetric{Key: "dpo_accuracy", Label: "DPO implicit accuracy", Unit: "share", Better: "higher",
		Help: "share of (pair, rejected clip) terms with inside > 0 against the reference at the pair's fixed t and noise; a weak signal (real and generated clips are easy to tell apart), read it with the winner error"},
		units: unitPairs, value: perPair(func(x schemas.EvalDPO) float64 {
			var a float64
			for _, v := range x.Inside {
				a += boolTo(v > 0)
			}
			return a / float64(max(1, len(x.Inside)))
		})},
	{def: schemas.EvalMetric{Key: "dpo_winner_mse", Label: "DPO winner v-MSE (real clips)", Better: "lower",
		Help: "mean v-prediction error on the real (chosen) clips at the fixed t and noise"},
		units: unitPairs, value: perPair(func(x schemas.EvalDPO) float64 { return x.Lw })},
	{def: schemas.EvalMetric{Key: "dpo_winner_margin", Label: "DPO winner margin Lw - Lw_ref", Better: "lower",
		Help: "winner error against the reference's: rising means the model drifts away from real data"},
		units: unitPairs, value: perPair(func(x schemas.EvalDPO) float64 { return x.Lw - x.LwRef })},
	{def: schemas.EvalMetric{Key: "dpo_loser_mse", Label: "DPO loser v-MSE (generated clips)", Better: "higher",
		Help: "mean v-prediction error on the rejected (generated) clips",
	}, units: unitPairs, value: perPair(func(x schemas.EvalDPO) float64 {
		var a float64
		for _, v := range x.Ll {
			a += v
		}
		return a / float64(max(1, len(x.Ll)))
	})},
}

var timingImpl = metricImpl{def: schemas.EvalMetric{Key: "sample_s", Label: "Seconds per sample", Unit: "s", Better: "lower",
	Help: "wall time of one sample on the worker that drew it (machine-dependent; no interval)"}, units: unitNone}

// ParseCompare reads --compare: "A:B" entries separated by commas.
func ParseCompare(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, b, ok := strings.Cut(part, ":")
		if !ok || strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" || strings.TrimSpace(a) == strings.TrimSpace(b) {
			return nil, config.Errorf("eval", "Compare", " entry %q: want GROUP_A:GROUP_B", part)
		}
		out = append(out, strings.TrimSpace(a)+":"+strings.TrimSpace(b))
	}
	return out, nil
}

// GroupsOf lists the groups in the order their first member appears.
func GroupsOf(ms []schemas.EvalModel) (names []string, members map[string][]string) {
	members = map[string][]string{}
	for _, m := range ms {
		g := groupName(m)
		if _, ok := members[g]; !ok {
			names = append(names, g)
		}
		members[g] = append(members[g], m.Name)
	}
	return names, members
}

func groupName(m schemas.EvalModel) string {
	if m.Group != "" {
		return m.Group
	}
	return m.Name
}

// Comparisons resolves the configured (or default) group Comparisons.
func Comparisons(cfg schemas.EvalConfig, groups []string) ([][2]string, error) {
	known := map[string]bool{}
	for _, g := range groups {
		known[g] = true
	}
	var out [][2]string
	if len(cfg.Compare) == 0 {
		for j := 1; j < len(groups); j++ {
			for i := 0; i < j; i++ {
				out = append(out, [2]string{groups[j], groups[i]})
			}
		}
		return out, nil
	}
	for _, c := range cfg.Compare {
		a, b, _ := strings.Cut(c, ":")
		if !known[a] || !known[b] {
			return nil, config.Errorf("eval", "Compare", " %s names a group not in {Models} (have %s)", c, strings.Join(groups, ", "))
		}
		out = append(out, [2]string{a, b})
	}
	return out, nil
}

// score is what Comparisons and "best" use: the value, or for "closer"
// metrics the distance to the real clips' value on the same units.
func score(impl metricImpl, d *statData, idx []int, m string) (float64, bool) {
	v, ok := impl.value(d, idx, m)
	if !ok || impl.def.Better != "closer" {
		return v, ok
	}
	r, ok := impl.value(d, idx, RealModel)
	if !ok {
		return 0, false
	}
	return math.Abs(v - r), true
}

// lowerIsBetter orients a metric's score.
func lowerIsBetter(def schemas.EvalMetric) bool { return def.Better != "higher" }

// replicate holds one statistic's point value and its value on every resample.
type replicate struct {
	point float64
	reps  []float64
}

func (r replicate) interval() schemas.EvalInterval {
	iv := PercentileInterval(r.point, r.reps)
	return schemas.EvalInterval{Value: iv.Value, Lo: iv.Lo, Hi: iv.Hi}
}

func replicateOf(n int, resamples [][]int, f func(idx []int) (float64, bool)) replicate {
	r := replicate{point: math.NaN(), reps: make([]float64, len(resamples))}
	if v, ok := f(Identity(n)); ok && !math.IsInf(v, 0) {
		r.point = v
	}
	for b, idx := range resamples {
		v, ok := f(idx)
		if !ok || math.IsInf(v, 0) {
			v = math.NaN()
		}
		r.reps[b] = v
	}
	return r
}

// meanReplicate averages members' replicates resample by resample.
func meanReplicate(rs []replicate) replicate {
	out := replicate{reps: make([]float64, len(rs[0].reps))}
	for _, r := range rs {
		out.point += r.point
		for b, v := range r.reps {
			out.reps[b] += v
		}
	}
	k := float64(len(rs))
	out.point /= k
	for b := range out.reps {
		out.reps[b] /= k
	}
	return out
}

func diffReplicate(a, b replicate) replicate {
	out := replicate{point: a.point - b.point, reps: make([]float64, len(a.reps))}
	for i := range out.reps {
		out.reps[i] = a.reps[i] - b.reps[i]
	}
	return out
}

// tables are the computed intervals, group figures and Comparisons.
type tables struct {
	model   map[string]map[string]schemas.EvalInterval // model -> key -> interval
	real    map[string]schemas.EvalInterval
	groups  []schemas.EvalGroupReport
	compare []schemas.EvalComparison
}

// computeTables resamples the clips (and pairs) once and computes every
// metric of every model, group and comparison on those resamples.
func computeTables(cfg schemas.EvalConfig, d *statData, impls []metricImpl) (tables, error) {
	reps := max(cfg.Bootstrap, 1)
	clipRes := Resamples(len(d.clips), reps, hashSeed("realdpo-eval-bootstrap/1", cfg.Seed, "clips", 0))
	pairRes := Resamples(len(d.pairs), reps, hashSeed("realdpo-eval-bootstrap/1", cfg.Seed, "pairs", 0))
	groupNames, members := GroupsOf(cfg.Models)
	cmp, err := Comparisons(cfg, groupNames)
	if err != nil {
		return tables{}, err
	}
	t := tables{model: map[string]map[string]schemas.EvalInterval{}, real: map[string]schemas.EvalInterval{}}
	for _, m := range cfg.Models {
		t.model[m.Name] = map[string]schemas.EvalInterval{}
	}
	groupVals := map[string]map[string]replicate{} // group -> key -> replicate of the mean
	spreads := map[string]map[string]schemas.EvalSpread{}
	for _, g := range groupNames {
		groupVals[g] = map[string]replicate{}
		spreads[g] = map[string]schemas.EvalSpread{}
	}
	for _, impl := range impls {
		if impl.units == unitNone {
			continue
		}
		n, res := len(d.clips), clipRes
		if impl.units == unitPairs {
			n, res = len(d.pairs), pairRes
		}
		key := impl.def.Key
		if impl.units == unitClips {
			if r := replicateOf(n, res, func(idx []int) (float64, bool) { return impl.value(d, idx, RealModel) }); !math.IsNaN(r.point) {
				t.real[key] = r.interval()
			}
		}
		vals := map[string]replicate{}
		scores := map[string]replicate{}
		for _, m := range cfg.Models {
			name := m.Name
			vals[name] = replicateOf(n, res, func(idx []int) (float64, bool) { return impl.value(d, idx, name) })
			if math.IsNaN(vals[name].point) {
				continue
			}
			t.model[name][key] = vals[name].interval()
			if impl.def.Better == "closer" {
				scores[name] = replicateOf(n, res, func(idx []int) (float64, bool) { return score(impl, d, idx, name) })
				t.model[name][key+"_delta"] = scores[name].interval()
			} else {
				scores[name] = vals[name]
			}
		}
		for _, g := range groupNames {
			var vs, ss []replicate
			var pv, ps []float64
			for _, name := range members[g] {
				if _, ok := scores[name]; !ok {
					continue
				}
				vs, ss = append(vs, vals[name]), append(ss, scores[name])
				pv, ps = append(pv, vals[name].point), append(ps, scores[name].point)
			}
			if len(vs) == 0 || len(vs) < len(members[g]) {
				continue // a member without the figure: no group mean
			}
			groupVals[g][key] = meanReplicate(vs)
			groupVals[g]["score:"+key] = meanReplicate(ss)
			if len(members[g]) > 1 {
				spreads[g][key] = spreadOf(pv)
				if impl.def.Better == "closer" {
					spreads[g][key+"_delta"] = spreadOf(ps)
				}
			}
		}
		for _, c := range cmp {
			a, okA := groupVals[c[0]]["score:"+key]
			b, okB := groupVals[c[1]]["score:"+key]
			if !okA || !okB {
				continue
			}
			diff := diffReplicate(a, b).interval()
			comp := schemas.EvalComparison{A: c[0], B: c[1], Metric: key, Diff: diff}
			lower := lowerIsBetter(impl.def)
			switch {
			case diff.Hi < 0 && lower, diff.Lo > 0 && !lower:
				comp.Better = c[0]
			case diff.Lo > 0 && lower, diff.Hi < 0 && !lower:
				comp.Better = c[1]
			}
			t.compare = append(t.compare, comp)
		}
	}
	for _, g := range groupNames {
		gr := schemas.EvalGroupReport{Name: g, Members: members[g], Metrics: map[string]schemas.EvalInterval{}}
		for k, r := range groupVals[g] {
			if strings.HasPrefix(k, "score:") {
				continue
			}
			gr.Metrics[k] = r.interval()
		}
		for _, impl := range impls {
			if impl.def.Better == "closer" {
				if r, ok := groupVals[g]["score:"+impl.def.Key]; ok {
					gr.Metrics[impl.def.Key+"_delta"] = r.interval()
				}
			}
		}
		if len(spreads[g]) > 0 {
			gr.Spread = spreads[g]
		}
		t.groups = append(t.groups, gr)
	}
	return t, nil
}

func spreadOf(xs []float64) schemas.EvalSpread {
	s := SpreadOf(xs)
	return schemas.EvalSpread{N: s.N, Mean: s.Mean, SD: s.SD, Min: s.Min, Max: s.Max}
}

// buildStatData gathers the per-clip and per-pair records.
func buildStatData(samples []schemas.EvalSample, dpos []schemas.EvalDPO) *statData {
	d := &statData{hists: map[string][][]float64{}}
	byClip := map[string]int{}
	for _, s := range samples {
		if s.Model != RealModel {
			continue
		}
		byClip[s.ClipID] = len(d.clips)
		d.clips = append(d.clips, clipData{id: s.ClipID, real: s.Stats, samples: map[string][]schemas.EvalStats{}})
	}
	for _, s := range samples {
		if s.Model == RealModel {
			continue
		}
		if i, ok := byClip[s.ClipID]; ok {
			d.clips[i].samples[s.Model] = append(d.clips[i].samples[s.Model], s.Stats)
		}
	}
	for _, s := range samples {
		i, ok := byClip[s.ClipID]
		if !ok {
			continue
		}
		if d.hists[s.Model] == nil {
			d.hists[s.Model] = make([][]float64, len(d.clips))
		}
		d.hists[s.Model][i] = addHist(d.hists[s.Model][i], SpeedHistogram(s.Stats.Speeds))
	}
	// Motion features' scale: the real clips' spread, floored like the
	// Frechet distance's standardisation.
	var rows [][]float64
	for _, c := range d.clips {
		rows = append(rows, MotionFeatures(c.real))
	}
	d.motion = make([]float64, len(MotionFeatureNames))
	for j := range d.motion {
		d.motion[j] = MinScale
	}
	if sc, err := NewScaler(rows); err == nil {
		copy(d.motion, sc.Scale)
	}
	pairIdx := map[string]int{}
	var keys []string
	for _, x := range dpos {
		if _, ok := pairIdx[x.Key]; !ok {
			pairIdx[x.Key] = 0
			keys = append(keys, x.Key)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		pairIdx[k] = i
	}
	d.pairs = make([]map[string]schemas.EvalDPO, len(keys))
	for i := range d.pairs {
		d.pairs[i] = map[string]schemas.EvalDPO{}
	}
	for _, x := range dpos {
		d.pairs[pairIdx[x.Key]][x.Model] = x
	}
	return d
}
