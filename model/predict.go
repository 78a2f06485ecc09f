package model

import "fmt"

// predictV runs the network on noisy videos and returns v per video
// (unpatchified to Frames x Height x Width x Channels).
func (m *Model) predictV(xt, first [][]float32, captions []string, ts []int) ([][]float32, error) {
	B := len(xt)
	if B == 0 || len(first) != B || len(captions) != B || len(ts) != B {
		return nil, fmt.Errorf("model: predict: inconsistent batch (%d, %d, %d, %d)", B, len(first), len(captions), len(ts))
	}
	for b := 0; b < B; b++ {
		if err := m.sched.check(ts[b]); err != nil {
			return nil, err
		}
	}
	ng, err := m.graph(graphKey{kind: kindPredict, batch: B})
	if err != nil {
		return nil, err
	}
	m.fill(ng, xt, first, captions, ts, nil)
	if err := ng.run(); err != nil {
		return nil, err
	}
	d, err := ng.predOut.data()
	if err != nil {
		return nil, err
	}
	c := m.cfg
	tok := c.TokensPerVideo() * c.PatchDim()
	out := make([][]float32, B)
	for b := range out {
		out[b] = make([]float32, c.VideoSize())
		c.unpatchify(out[b], d[b*tok:(b+1)*tok])
	}
	return out, nil
}
