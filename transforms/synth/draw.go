package synth

import "math"

// camera maps world metres to image pixels for one frame.
type camera struct {
	CX, CY float64 // world point at the image centre
	Scale  float64 // pixels per metre
	W, H   int
}

func (c camera) px(v vec) (float64, float64) {
	return (v.X-c.CX)*c.Scale + float64(c.W)/2, float64(c.H)/2 - (v.Y-c.CY)*c.Scale
}

// limb draws a tapered segment between two joints.
func (cv *canvas) limb(c camera, a, b vec, ra, rb float64, col rgb) {
	ax, ay := c.px(a)
	bx, by := c.px(b)
	cv.capsule(ax, ay, bx, by, ra*c.Scale, rb*c.Scale, col)
}

// polygon fills a convex or concave polygon (pixel coordinates), used for the
// front-view torso.
func (cv *canvas) polygon(pts [][2]float64, col rgb) {
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range pts {
		minX, maxX = math.Min(minX, p[0]), math.Max(maxX, p[0])
		minY, maxY = math.Min(minY, p[1]), math.Max(maxY, p[1])
	}
	cv.sdfShape(minX, minY, maxX, maxY, col, 1, func(x, y float64) (float64, float64) {
		d := (x-pts[0][0])*(x-pts[0][0]) + (y-pts[0][1])*(y-pts[0][1])
		s := 1.0
		for i, j := 0, len(pts)-1; i < len(pts); j, i = i, i+1 {
			ex, ey := pts[j][0]-pts[i][0], pts[j][1]-pts[i][1]
			wx, wy := x-pts[i][0], y-pts[i][1]
			t := clamp01((wx*ex + wy*ey) / (ex*ex + ey*ey))
			bx, by := wx-ex*t, wy-ey*t
			d = math.Min(d, bx*bx+by*by)
			c1, c2, c3 := y >= pts[i][1], y < pts[j][1], ex*wy > ey*wx
			if (c1 && c2 && c3) || (!c1 && !c2 && !c3) {
				s = -s
			}
		}
		dist := s * math.Sqrt(d)
		return dist, 0.85 + 0.15*math.Sqrt(clamp01(-dist/12))
	})
}

// drawFigure paints one person: far limbs first and darker, then the torso,
// the near limbs and the head, so a profile reads with depth.
func (cv *canvas) drawFigure(c camera, b *body, p pose) {
	far := 0.78
	sleeve := func(base rgb) rgb {
		if b.LongSleeves {
			return base
		}
		return b.Skin
	}
	leg := func(hip, knee, ankle, toe vec, k float64) {
		cv.limb(c, hip, knee, b.LegR*1.05, b.LegR*0.85, b.Pants.scale(k))
		shin := b.Pants
		if b.Shorts {
			shin = b.Skin
		}
		cv.limb(c, knee, ankle, b.LegR*0.82, b.LegR*0.6, shin.scale(k))
		cv.limb(c, ankle, toe, b.LegR*0.62, b.LegR*0.45, b.Shoes.scale(k))
	}
	arm := func(sh, el, hand vec, k float64) {
		cv.limb(c, sh, el, b.ArmR*1.1, b.ArmR*0.9, b.Shirt.scale(k))
		cv.limb(c, el, hand, b.ArmR*0.88, b.ArmR*0.7, sleeve(b.Shirt).scale(k))
		hx, hy := c.px(hand)
		cv.disc(hx, hy, b.Hand*c.Scale, b.Skin.scale(k))
	}
	if p.View == sideView {
		leg(p.HipL, p.KneeL, p.AnkleL, p.ToeL, far)
		arm(p.ShoulderL, p.ElbowL, p.HandL, far)
		cv.limb(c, p.Neck, p.Head, b.ArmR*0.9, b.ArmR*0.9, b.Skin)
		chest := lerpVec(p.Pelvis, p.Neck, 0.82)
		cv.limb(c, p.Pelvis, chest, b.TorsoR*0.95, b.TorsoR*1.08, b.Shirt)
		cv.limb(c, p.Pelvis, lerpVec(p.Pelvis, p.Neck, 0.12), b.TorsoR*0.98, b.TorsoR*0.95, b.Pants)
		leg(p.HipR, p.KneeR, p.AnkleR, p.ToeR, 1)
		cv.drawHead(c, b, p)
		arm(p.ShoulderR, p.ElbowR, p.HandR, 1)
		return
	}
	leg(p.HipL, p.KneeL, p.AnkleL, p.ToeL, 0.95)
	leg(p.HipR, p.KneeR, p.AnkleR, p.ToeR, 0.95)
	cv.limb(c, p.HipL, p.HipR, b.LegR*1.15, b.LegR*1.15, b.Pants)
	cv.limb(c, p.Neck, p.Head, b.ArmR*0.9, b.ArmR*0.9, b.Skin)
	var quad [][2]float64
	for _, v := range []vec{p.ShoulderL, p.ShoulderR, p.HipR.add(vec{b.LegR * 0.4, 0.05}), p.HipL.add(vec{-b.LegR * 0.4, 0.05})} {
		x, y := c.px(v)
		quad = append(quad, [2]float64{x, y})
	}
	cv.polygon(quad, b.Shirt)
	cv.limb(c, p.ShoulderL, p.ShoulderR, b.ArmR*1.2, b.ArmR*1.2, b.Shirt)
	arm(p.ShoulderL, p.ElbowL, p.HandL, 0.97)
	arm(p.ShoulderR, p.ElbowR, p.HandR, 0.97)
	cv.drawHead(c, b, p)
}

func (cv *canvas) drawHead(c camera, b *body, p pose) {
	hx, hy := c.px(p.Head)
	r := b.Head * c.Scale
	if p.View == sideView {
		back := -p.Facing
		tilt := p.HeadTilt
		if b.HairStyle == 1 {
			cv.capsule(hx+back*r*0.55, hy, hx+back*r*0.75, hy+r*1.3, r*0.55, r*0.4, b.Hair)
		}
		if b.HairStyle != 2 {
			cv.disc(hx+back*r*0.18, hy-r*0.14, r*1.04, b.Hair)
		}
		fx := hx - back*r*(0.12+0.1*tilt)
		fy := hy + r*(0.1-0.3*tilt)
		cv.disc(fx, fy, r*0.9, b.Skin)
		cv.disc(hx-back*r*0.88, fy+r*0.1, r*0.16, b.Skin.scale(0.93)) // nose
		cv.disc(hx-back*r*0.45, fy-r*0.15, r*0.09, rgb{30, 25, 25})
		return
	}
	if b.HairStyle == 1 {
		cv.box(hx-r*1.05, hy-r*0.4, hx+r*1.05, hy+r*1.3, r*0.5, b.Hair, 1)
	}
	if b.HairStyle != 2 {
		cv.disc(hx, hy-r*0.16, r*1.04, b.Hair)
	}
	cv.disc(hx, hy+r*0.1, r*0.9, b.Skin)
	cv.disc(hx-r*0.33, hy+r*0.02, r*0.09, rgb{30, 25, 25})
	cv.disc(hx+r*0.33, hy+r*0.02, r*0.09, rgb{30, 25, 25})
	cv.box(hx-r*0.25, hy+r*0.45, hx+r*0.25, hy+r*0.52, r*0.03, rgb{150, 70, 70}, 1)
}

// drawProp paints a held or placed object.
func (cv *canvas) drawProp(c camera, pr prop) {
	x, y := c.px(pr.Pos)
	w, h := pr.Size.X*c.Scale, pr.Size.Y*c.Scale
	switch pr.Kind {
	case propCup:
		dx, dy := math.Sin(pr.Angle)*h/2, math.Cos(pr.Angle)*h/2
		cv.capsule(x-dx, y+dy, x+dx, y-dy, w*0.45, w*0.55, pr.Colour)
	case propFood:
		cv.disc(x, y, w/2, pr.Colour)
	case propPlate:
		cv.ellipse(x, y, w/2, math.Max(h/2, 1.5), pr.Colour, 1)
	case propCloth:
		cv.box(x-w/2, y-h/2, x+w/2, y+h/2, h/3, pr.Colour, 1)
	case propSpoon:
		dx, dy := math.Sin(pr.Angle)*h, math.Cos(pr.Angle)*h
		cv.capsule(x, y, x+dx, y+dy*0.1-h*0.0, w/2, w/2, pr.Colour)
		cv.capsule(x, y, x-dx*0.1, y+h*0.5, w/2, w/2, pr.Colour)
	case propPot:
		cv.box(x-w/2, y-h, x+w/2, y, h*0.15, pr.Colour, 1)
		cv.ellipse(x, y-h, w/2, h*0.12, pr.Colour.scale(0.6), 1)
	case propTable, propCounter:
		top := math.Max(0.04*c.Scale, 2)
		cv.box(x-w/2, y, x+w/2, y+top, top/3, pr.Colour, 1)
		if pr.Kind == propCounter {
			cv.box(x-w/2, y+top, x+w/2, y+h, 2, pr.Colour.scale(0.75), 1)
			return
		}
		leg := math.Max(0.045*c.Scale, 2)
		cv.box(x-w/2+leg, y+top, x-w/2+2*leg, y+h, 1, pr.Colour.scale(0.8), 1)
		cv.box(x+w/2-2*leg, y+top, x+w/2-leg, y+h, 1, pr.Colour.scale(0.8), 1)
	case propChair:
		seat := math.Max(0.04*c.Scale, 2)
		cv.box(x-w/2, y, x+w/2, y+seat, 2, pr.Colour, 1)
		cv.box(x-w/2, y+seat, x-w/2+seat, y+h, 1, pr.Colour.scale(0.8), 1)
		cv.box(x+w/2-seat, y+seat, x+w/2, y+h, 1, pr.Colour.scale(0.8), 1)
		// The backrest stands behind the sitter: Angle carries their facing.
		if pr.Angle >= 0 {
			cv.box(x-w/2-seat*0.2, y-h*1.1, x-w/2+seat*0.8, y, 2, pr.Colour.scale(0.9), 1)
		} else {
			cv.box(x+w/2-seat*0.8, y-h*1.1, x+w/2+seat*0.2, y, 2, pr.Colour.scale(0.9), 1)
		}
	}
}
