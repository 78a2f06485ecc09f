package synth

import (
	"math"
)

// Scene kinds.
const (
	scenePark    = "park"
	sceneRoom    = "room"
	sceneKitchen = "kitchen"
	sceneGym     = "gym"
	sceneStudio  = "studio"
	sceneSkyline = "skyline" // off-topic: a city at dusk, nobody in shot
)

// scenesFor lists backgrounds where an action plausibly happens.
func scenesFor(action string) []string {
	switch action {
	case "walking", "running":
		return []string{scenePark, scenePark, sceneStudio}
	case "squats", "jumping_jacks", "yoga":
		return []string{sceneGym, sceneRoom, scenePark, sceneStudio}
	case "drinking", "eating", "cooking":
		return []string{sceneKitchen, sceneRoom}
	case "cleaning":
		return []string{sceneKitchen, sceneRoom}
	default:
		return []string{scenePark, sceneRoom, sceneStudio, sceneGym}
	}
}

// valueNoise is smooth lattice noise in [0, 1], seeded: the texture of
// grass, plaster, wood and cloud.
type valueNoise struct{ seed uint64 }

func (n valueNoise) hash(ix, iy int64) float64 {
	h := uint64(ix)*0x9E3779B97F4A7C15 ^ uint64(iy)*0xC2B2AE3D27D4EB4F ^ n.seed
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 29
	return float64(h>>11) / float64(1<<53)
}

func (n valueNoise) at(x, y float64) float64 {
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	fx, fy = fx*fx*(3-2*fx), fy*fy*(3-2*fy)
	ix, iy := int64(x0), int64(y0)
	a, b := n.hash(ix, iy), n.hash(ix+1, iy)
	c, d := n.hash(ix, iy+1), n.hash(ix+1, iy+1)
	return a + (b-a)*fx + (c-a)*fy + (a-b-c+d)*fx*fy
}

// fbm sums octaves of noise.
func (n valueNoise) fbm(x, y float64, oct int) float64 {
	s, amp, tot := 0.0, 1.0, 0.0
	for i := 0; i < oct; i++ {
		s += amp * n.at(x, y)
		tot += amp
		x, y, amp = x*2.03, y*2.03, amp*0.5
	}
	return s / tot
}

type tree struct{ x, y, h, r float64 }
type rect struct {
	x0, y0, x1, y1 float64
	col            rgb
}

// backdrop is a scene's static background, a function of world position.
type backdrop struct {
	kind    string
	noise   valueNoise
	horizon float64 // park: where the far ground meets the sky; rooms: floor/wall line
	sky0    rgb
	sky1    rgb
	ground  rgb
	wall    rgb
	floor   rgb
	plank   float64 // floor plank or tile size
	stripe  float64 // wallpaper stripe width (0 = none)
	hills   [3]float64
	trees   []tree
	rects   []rect // windows, frames, doors, cabinets, mirrors, posters
}

func newBackdrop(r *rng, kind string, x0, x1 float64) *backdrop {
	bd := &backdrop{kind: kind, noise: valueNoise{r.Uint64()}}
	switch kind {
	case scenePark:
		bd.horizon = r.uniform(1.4, 2.2)
		bd.sky0 = rgb{r.uniform(60, 110), r.uniform(120, 160), r.uniform(200, 245)}
		bd.sky1 = rgb{r.uniform(190, 225), r.uniform(210, 235), r.uniform(230, 250)}
		bd.ground = pick(r, []rgb{{90, 140, 60}, {110, 150, 70}, {130, 140, 80}, {80, 120, 55}})
		for i := range bd.hills {
			bd.hills[i] = r.uniform(0, 2*math.Pi)
		}
		for x := x0 - 2; x < x1+2; x += r.uniform(1.5, 4) {
			bd.trees = append(bd.trees, tree{x, bd.horizon - r.uniform(0.1, 0.6), r.uniform(1.2, 2.6), r.uniform(0.5, 1.1)})
		}
	case sceneStudio:
		bd.sky0 = pick(r, []rgb{{200, 200, 205}, {60, 60, 70}, {170, 190, 210}, {220, 210, 190}})
		bd.sky1 = bd.sky0.scale(r.uniform(0.6, 0.85))
		bd.horizon = r.uniform(0.3, 0.6)
	default: // indoor
		bd.horizon = r.uniform(0.25, 0.55)
		bd.wall = pick(r, []rgb{{225, 215, 195}, {200, 210, 220}, {190, 205, 180}, {235, 230, 225}, {210, 180, 160}, {150, 160, 175}})
		bd.floor = pick(r, []rgb{{150, 110, 70}, {180, 140, 95}, {120, 90, 60}, {160, 160, 160}, {90, 90, 95}})
		bd.plank = r.uniform(0.15, 0.3)
		if r.chance(0.4) {
			bd.stripe = r.uniform(0.08, 0.2)
		}
		bd.sky0 = rgb{150, 190, 235}
		bd.sky1 = rgb{220, 235, 250}
		if kind == sceneGym {
			bd.floor = rgb{55, 55, 60}
			bd.wall = pick(r, []rgb{{90, 110, 140}, {170, 170, 175}, {200, 80, 60}})
		}
		for x := x0 - 1; x < x1+1; {
			w := r.uniform(0.6, 1.4)
			y0 := bd.horizon + r.uniform(0.9, 1.3)
			switch r.IntN(4) {
			case 0: // window with sky
				bd.rects = append(bd.rects, rect{x, y0, x + w, y0 + r.uniform(0.8, 1.2), rgb{-1, 0, 0}})
			case 1: // picture or poster
				bd.rects = append(bd.rects, rect{x, y0 + 0.2, x + w*0.6, y0 + 0.2 + w*0.45, pick(r, shirtCols).c})
			case 2:
				if kind == sceneKitchen {
					bd.rects = append(bd.rects, rect{x, bd.horizon, x + w, bd.horizon + 0.85, rgb{235, 235, 230}}) // cabinet
				} else if kind == sceneGym {
					bd.rects = append(bd.rects, rect{x, bd.horizon + 0.2, x + w*1.5, bd.horizon + 2.0, rgb{200, 215, 225}}) // mirror
				}
			}
			x += w + r.uniform(0.4, 1.5)
		}
	}
	return bd
}

// colour at a world point.
func (bd *backdrop) at(x, y float64) rgb {
	n := bd.noise
	switch bd.kind {
	case scenePark:
		hill := bd.horizon + 0.35 + 0.25*math.Sin(x*0.35+bd.hills[0]) + 0.15*math.Sin(x*0.9+bd.hills[1])
		for _, t := range bd.trees {
			if math.Abs(x-t.x) < 0.08 && y > t.y && y < t.y+t.h {
				return rgb{90, 65, 40}.scale(0.85 + 0.3*n.at(x*20, y*3))
			}
			dx, dy := x-t.x, y-(t.y+t.h)
			if dx*dx+dy*dy*1.3 < t.r*t.r {
				return rgb{50, 100, 45}.scale(0.7 + 0.6*n.fbm(x*6, y*6, 3))
			}
		}
		if y > hill {
			t := clamp01((y - hill) / 3)
			c := bd.sky1.mix(bd.sky0, t)
			cl := n.fbm(x*0.6+100, y*1.5, 4)
			if cl > 0.58 {
				c = c.mix(rgb{250, 250, 252}, clamp01((cl-0.58)*4))
			}
			return c
		}
		if y > bd.horizon {
			return rgb{95, 125, 95}.scale(0.85 + 0.2*n.at(x*2, y*2))
		}
		g := bd.ground.scale(0.75 + 0.45*n.fbm(x*3, y*9, 3))
		if y < 0.12 && y > -0.5 { // a path where people walk
			g = rgb{170, 155, 125}.scale(0.85 + 0.25*n.fbm(x*5, y*5, 3))
		}
		return g.scale(0.85 + 0.15*clamp01((y+1)/(bd.horizon+1)))
	case sceneStudio:
		// A mottled painted backdrop, as studios hang: a flat one would
		// leave a close-framed figure the only texture in shot, and its
		// motion would read as the camera's.
		t := clamp01((y + 0.5) / 3)
		c := bd.sky1.mix(bd.sky0, t).scale(0.85 + 0.2*n.fbm(x*1.5, y*1.5, 3))
		g := 48 * (n.fbm(x*16+50, y*16, 2) - 0.5) // the same grain on light and dark backdrops
		return rgb{c.R + g, c.G + g, c.B + g}
	case sceneSkyline:
		return rgb{}
	}
	// Indoor: floor, skirting, wall, fixtures.
	if y < bd.horizon {
		var c rgb
		if bd.kind == sceneKitchen {
			ix, iy := int(math.Floor(x/0.3)), int(math.Floor(y/0.15))
			c = bd.floor
			if (ix+iy)%2 == 0 {
				c = c.scale(1.25)
			}
		} else {
			row := math.Floor(y / (bd.plank * 0.4))
			c = bd.floor.scale(0.85 + 0.25*n.at(row*7.3, 1) + 0.08*n.fbm(x*8, y*40, 2))
			if math.Mod(x+row*0.37, bd.plank*4) < 0.015 {
				c = c.scale(0.7)
			}
		}
		return c.scale(0.8 + 0.2*clamp01((y+1)/(bd.horizon+1)))
	}
	if y < bd.horizon+0.08 {
		return bd.wall.scale(0.75)
	}
	for _, rc := range bd.rects {
		if x >= rc.x0 && x <= rc.x1 && y >= rc.y0 && y <= rc.y1 {
			frame := 0.05
			if x < rc.x0+frame || x > rc.x1-frame || y < rc.y0+frame || y > rc.y1-frame {
				return rgb{240, 240, 235}.scale(0.8)
			}
			if rc.col.R < 0 { // window: sky and a hint of trees
				t := clamp01((y - rc.y0) / (rc.y1 - rc.y0))
				c := bd.sky1.mix(bd.sky0, t)
				if n.fbm(x*4, y*4, 2) > 0.62 && t < 0.5 {
					c = rgb{70, 120, 60}
				}
				return c
			}
			return rc.col.scale(0.8 + 0.3*n.fbm(x*5, y*5, 2))
		}
	}
	c := bd.wall.scale(0.93 + 0.07*n.fbm(x*10, y*10, 2))
	if bd.kind == sceneKitchen && y < bd.horizon+1.6 && y > bd.horizon+0.9 {
		if math.Mod(x, 0.15) < 0.008 || math.Mod(y, 0.15) < 0.008 {
			c = c.scale(0.8)
		}
	}
	if bd.stripe > 0 && math.Mod(x, bd.stripe*2) < bd.stripe {
		c = c.scale(0.94)
	}
	return c
}

// raster is the backdrop pre-rendered over the area the camera will see, so
// each frame only resamples it (bilinear) instead of re-evaluating textures.
type raster struct {
	X0, Y1 float64 // world coords of the top-left pixel
	Scale  float64 // pixels per metre
	W, H   int
	Pix    []byte
	// Per-frame column tables, kept to avoid reallocating them every frame.
	colIdx, colW []int32
}

func renderRaster(bd *backdrop, x0, y0, x1, y1, scale float64) *raster {
	w := int(math.Ceil((x1-x0)*scale)) + 2
	h := int(math.Ceil((y1-y0)*scale)) + 2
	rs := &raster{X0: x0, Y1: y1, Scale: scale, W: w, H: h, Pix: make([]byte, w*h*3)}
	for j := 0; j < h; j++ {
		wy := y1 - float64(j)/scale
		for i := 0; i < w; i++ {
			c := bd.at(x0+float64(i)/scale, wy)
			o := (j*w + i) * 3
			rs.Pix[o], rs.Pix[o+1], rs.Pix[o+2] = clamp8(c.R), clamp8(c.G), clamp8(c.B)
		}
	}
	return rs
}

// drawInto resamples the raster through camera c into the canvas with
// bilinear filtering in 8-bit fixed point. The horizontal source index and
// weight depend only on the column, so they are tabulated once per frame:
// this loop is the renderer's hot path.
func (rs *raster) drawInto(cv *canvas, c camera) {
	k := rs.Scale / c.Scale // raster pixels per image pixel
	fx0 := ((c.CX-float64(c.W)/2/c.Scale)-rs.X0)*rs.Scale + 0.5*k - 0.5
	fy0 := (rs.Y1-(c.CY+float64(c.H)/2/c.Scale))*rs.Scale + 0.5*k - 0.5
	maxX, maxY := float64(rs.W-2), float64(rs.H-2)
	if len(rs.colIdx) < cv.W {
		rs.colIdx, rs.colW = make([]int32, cv.W), make([]int32, cv.W)
	}
	for x := 0; x < cv.W; x++ {
		fx := math.Max(0, math.Min(maxX, fx0+float64(x)*k))
		ix := int(fx)
		rs.colIdx[x], rs.colW[x] = int32(ix*3), int32((fx-float64(ix))*256)
	}
	src := rs.Pix
	for y := 0; y < cv.H; y++ {
		fy := math.Max(0, math.Min(maxY, fy0+float64(y)*k))
		iy := int(fy)
		wy := int32((fy - float64(iy)) * 256)
		row0 := src[iy*rs.W*3 : (iy+1)*rs.W*3]
		row1 := src[(iy+1)*rs.W*3 : (iy+2)*rs.W*3]
		out := cv.Pix[y*cv.W*3 : (y+1)*cv.W*3]
		for x := 0; x < cv.W; x++ {
			a, wx := rs.colIdx[x], rs.colW[x]
			for ch := int32(0); ch < 3; ch++ {
				t0, t1 := int32(row0[a+ch]), int32(row0[a+3+ch])
				b0, b1 := int32(row1[a+ch]), int32(row1[a+3+ch])
				top := t0<<8 + (t1-t0)*wx
				bot := b0<<8 + (b1-b0)*wx
				out[x*3+int(ch)] = byte((top<<8 + (bot-top)*wy + 1<<15) >> 16)
			}
		}
	}
}

// skyline draws the off-topic city-at-dusk timelapse directly: the sky
// changes colour and windows switch on over time, with nobody in shot.
type skyline struct {
	buildings []rect
	noise     valueNoise
	dur       float64
}

func newSkyline(r *rng, x0, x1, dur float64) *skyline {
	s := &skyline{noise: valueNoise{r.Uint64()}, dur: dur}
	for x := x0 - 3; x < x1+3; {
		w := r.uniform(0.8, 2.5)
		s.buildings = append(s.buildings, rect{x, -1, x + w, r.uniform(1.5, 6), rgb{r.uniform(30, 60), r.uniform(30, 60), r.uniform(40, 80)}})
		x += w + r.uniform(0, 0.4)
	}
	return s
}

func (s *skyline) draw(cv *canvas, c camera, t float64) {
	p := clamp01(t / math.Max(s.dur, 1))
	top := rgb{70, 100, 170}.mix(rgb{15, 20, 50}, p)
	bottom := rgb{250, 170, 100}.mix(rgb{90, 50, 80}, p)
	for y := 0; y < cv.H; y++ {
		col := top.mix(bottom, float64(y)/float64(cv.H))
		for x := 0; x < cv.W; x++ {
			o := (y*cv.W + x) * 3
			cv.Pix[o], cv.Pix[o+1], cv.Pix[o+2] = clamp8(col.R), clamp8(col.G), clamp8(col.B)
		}
	}
	for bi, b := range s.buildings {
		x0, y0 := c.px(vec{b.x0, b.y1})
		x1, y1 := c.px(vec{b.x1, b.y0})
		cv.box(x0, y0, x1, y1, 0, b.col, 1)
		// Windows light up progressively as dusk falls.
		ww := 0.12 * c.Scale
		for wy := y0 + ww; wy < y1-ww; wy += ww * 2 {
			for wx := x0 + ww*0.6; wx < x1-ww; wx += ww * 1.6 {
				on := s.noise.hash(int64(bi*1000+int(wx)), int64(wy)) < p*0.8+0.1*math.Sin(t*0.7+wx)
				if on {
					cv.box(wx, wy, wx+ww*0.7, wy+ww, 0, rgb{255, 220, 140}, 1)
				}
			}
		}
	}
}
