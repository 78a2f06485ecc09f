package synth

import "math"

// vec is a 2-D point in metres (world: x right, y up; ground at y = 0).
type vec struct{ X, Y float64 }

func (a vec) add(b vec) vec           { return vec{a.X + b.X, a.Y + b.Y} }
func (a vec) sub(b vec) vec           { return vec{a.X - b.X, a.Y - b.Y} }
func (a vec) mul(k float64) vec       { return vec{a.X * k, a.Y * k} }
func (a vec) len() float64            { return math.Hypot(a.X, a.Y) }
func lerpVec(a, b vec, t float64) vec { return a.add(b.sub(a).mul(t)) }

// dir returns the unit vector at angle a from straight down, positive toward
// +x: the natural way to state limb angles (0 = hanging).
func dir(a float64) vec { return vec{math.Sin(a), -math.Cos(a)} }

// view is how a figure faces the camera.
type view int

const (
	sideView  view = iota // profile: gait and reaching read clearly
	frontView             // facing the camera: jumping jacks, waving, yoga
)

// body holds one person's proportions and look. Lengths are in metres.
type body struct {
	Height                    float64
	Head, Neck, Torso         float64 // head radius, neck and torso lengths
	ShoulderW, HipW           float64
	UpperArm, Forearm, Hand   float64
	Thigh, Shin, AnkleH, Foot float64
	ArmR, LegR, TorsoR        float64 // limb radii
	Skin, Hair, Shirt, Pants  rgb
	Shoes                     rgb
	LongSleeves, Shorts       bool
	ShirtName, PantsName      string // colour words for captions
	HairStyle                 int    // 0 short, 1 long, 2 bald-ish
}

// legLen is hip to ankle fully extended.
func (b *body) legLen() float64 { return b.Thigh + b.Shin }

// hipHeight is the pelvis height when standing straight.
func (b *body) hipHeight() float64 { return b.legLen()*0.985 + b.AnkleH }

type namedColour struct {
	name string
	c    rgb
}

var (
	skinTones = []rgb{{255, 219, 172}, {241, 194, 125}, {224, 172, 105}, {198, 134, 66}, {141, 85, 36}, {92, 58, 38}}
	hairCols  = []rgb{{30, 22, 18}, {70, 45, 25}, {120, 80, 40}, {200, 160, 90}, {150, 150, 150}, {110, 30, 20}}
	shirtCols = []namedColour{{"red", rgb{200, 40, 45}}, {"blue", rgb{40, 80, 190}}, {"green", rgb{40, 150, 70}},
		{"yellow", rgb{230, 200, 50}}, {"white", rgb{235, 235, 230}}, {"black", rgb{35, 35, 40}},
		{"orange", rgb{235, 120, 30}}, {"purple", rgb{120, 60, 160}}, {"teal", rgb{30, 140, 140}},
		{"pink", rgb{230, 120, 160}}, {"grey", rgb{128, 128, 132}}, {"navy", rgb{30, 40, 90}}}
	pantsCols = []namedColour{{"blue jeans", rgb{50, 70, 120}}, {"black trousers", rgb{30, 30, 35}},
		{"khaki trousers", rgb{180, 160, 110}}, {"grey trousers", rgb{100, 100, 105}},
		{"dark green trousers", rgb{50, 70, 45}}, {"brown trousers", rgb{100, 70, 45}}}
)

// newBody draws a plausible adult: proportions vary a few percent around
// anthropometric averages, limb thickness and clothing vary freely.
func newBody(r *rng) *body {
	h := r.uniform(1.55, 1.92)
	v := func(k float64) float64 { return h * k * r.uniform(0.94, 1.06) }
	thick := r.uniform(0.85, 1.3)
	b := &body{
		Height: h,
		Head:   v(0.066), Neck: v(0.05), Torso: v(0.29),
		ShoulderW: v(0.23), HipW: v(0.17),
		UpperArm: v(0.172), Forearm: v(0.155), Hand: v(0.035),
		Thigh: v(0.245), Shin: v(0.235), AnkleH: h * 0.04, Foot: v(0.13),
		ArmR: h * 0.026 * thick, LegR: h * 0.037 * thick, TorsoR: h * 0.072 * thick,
		Skin: pick(r, skinTones), Hair: pick(r, hairCols),
		LongSleeves: r.chance(0.5), Shorts: r.chance(0.25), HairStyle: r.IntN(3),
	}
	shirt, pants := pick(r, shirtCols), pick(r, pantsCols)
	b.Shirt, b.ShirtName = shirt.c, shirt.name
	b.Pants, b.PantsName = pants.c, pants.name
	if b.Shorts {
		b.PantsName = "shorts"
	}
	b.Shoes = pick(r, []rgb{{30, 30, 30}, {240, 240, 240}, {120, 60, 30}, {200, 40, 40}})
	return b
}

// pose is every joint of one figure at one instant, in world metres. "L" is
// the far side in profile and the figure's right (image left) from the front.
type pose struct {
	View                 view
	Facing               float64 // +1 faces +x, -1 faces -x (profile only)
	Head, Neck, Pelvis   vec
	ShoulderL, ShoulderR vec
	ElbowL, ElbowR       vec
	HandL, HandR         vec
	HipL, HipR           vec
	KneeL, KneeR         vec
	AnkleL, AnkleR       vec
	ToeL, ToeR           vec
	HeadTilt             float64 // radians, nodding back for drinking
}

// twoBoneIK places the middle joint (knee, elbow) of a chain root->end with
// segment lengths a and b so that the end reaches target, bending toward
// side bend (+1 or -1, relative to the root->target direction). Out-of-reach
// targets straighten the chain toward them.
func twoBoneIK(root, target vec, a, b, bend float64) (mid, end vec) {
	d := target.sub(root)
	dist := d.len()
	reach := (a + b) * 0.9999
	if dist > reach {
		d = d.mul(reach / dist)
		dist = reach
		target = root.add(d)
	}
	if dist < 1e-6 {
		return root.add(vec{0, -a}), root
	}
	// Law of cosines for the angle at the root.
	cosA := (a*a + dist*dist - b*b) / (2 * a * dist)
	cosA = math.Max(-1, math.Min(1, cosA))
	ang := math.Acos(cosA) * bend
	ux, uy := d.X/dist, d.Y/dist
	ca, sa := math.Cos(ang), math.Sin(ang)
	m := vec{ux*ca - uy*sa, ux*sa + uy*ca}
	return root.add(m.mul(a)), target
}

// minJerk is the minimum-jerk profile 10t^3-15t^4+6t^5: zero velocity and
// acceleration at both ends, how people move between rest positions.
func minJerk(t float64) float64 {
	t = clamp01(t)
	return t * t * t * (10 + t*(-15+6*t))
}

// segment returns the progress of t through [t0, t1] shaped by minJerk.
func segment(t, t0, t1 float64) float64 {
	if t1 <= t0 {
		if t >= t1 {
			return 1
		}
		return 0
	}
	return minJerk((t - t0) / (t1 - t0))
}

// armFK places an arm from shoulder angles (0 = hanging, + toward facing)
// for profile views, or outward from the body for front views.
func armFK(shoulder vec, upper, fore, aShoulder, aElbow float64) (elbow, hand vec) {
	elbow = shoulder.add(dir(aShoulder).mul(upper))
	hand = elbow.add(dir(aShoulder + aElbow).mul(fore))
	return
}

// standingFront builds the front-view skeleton above the given pelvis, with
// feet placed by the caller and knees solved by IK bending outward.
func (b *body) frontPose(pelvis vec, footL, footR vec, lean float64) pose {
	p := pose{View: frontView, Facing: 1, Pelvis: pelvis}
	up := vec{math.Sin(lean), math.Cos(lean)}
	p.Neck = pelvis.add(up.mul(b.Torso))
	p.Head = p.Neck.add(up.mul(b.Neck + b.Head*0.9))
	side := vec{up.Y, -up.X}
	p.ShoulderL = p.Neck.add(side.mul(-b.ShoulderW / 2)).add(up.mul(-b.Neck * 0.4))
	p.ShoulderR = p.Neck.add(side.mul(b.ShoulderW / 2)).add(up.mul(-b.Neck * 0.4))
	p.HipL = pelvis.add(side.mul(-b.HipW / 2))
	p.HipR = pelvis.add(side.mul(b.HipW / 2))
	// Knees bend outward (image-left knee toward -x), as a squatting or
	// landing body does seen from the front.
	p.KneeL, p.AnkleL = twoBoneIK(p.HipL, footL.add(vec{0, b.AnkleH}), b.Thigh, b.Shin, -1)
	p.KneeR, p.AnkleR = twoBoneIK(p.HipR, footR.add(vec{0, b.AnkleH}), b.Thigh, b.Shin, 1)
	p.ToeL = p.AnkleL.add(vec{-b.Foot * 0.35, -b.AnkleH * 0.6})
	p.ToeR = p.AnkleR.add(vec{b.Foot * 0.35, -b.AnkleH * 0.6})
	return p
}

// sidePose builds a profile skeleton: torso from the pelvis leaning forward
// by lean (radians), legs solved by IK to the given ankle targets with knees
// bending forward.
func (b *body) sidePose(facing float64, pelvis, ankleL, ankleR vec, lean float64) pose {
	p := pose{View: sideView, Facing: facing, Pelvis: pelvis}
	up := vec{math.Sin(lean) * facing, math.Cos(lean)}
	p.Neck = pelvis.add(up.mul(b.Torso))
	p.Head = p.Neck.add(up.mul(b.Neck + b.Head*0.9))
	shoulder := p.Neck.add(up.mul(-b.Neck * 0.5))
	p.ShoulderL = shoulder.add(vec{-0.02 * facing, 0})
	p.ShoulderR = shoulder
	p.HipL, p.HipR = pelvis, pelvis
	// The knee bends toward the facing direction: IK's bend sign is relative
	// to the hip->ankle direction (pointing down), so facing +x needs +1.
	p.KneeL, p.AnkleL = twoBoneIK(pelvis, ankleL, b.Thigh, b.Shin, facing)
	p.KneeR, p.AnkleR = twoBoneIK(pelvis, ankleR, b.Thigh, b.Shin, facing)
	p.ToeL = p.AnkleL.add(vec{b.Foot * facing * 0.85, -b.AnkleH * 0.8})
	p.ToeR = p.AnkleR.add(vec{b.Foot * facing * 0.85, -b.AnkleH * 0.8})
	return p
}

// setArmsFK sets both arms from angles given relative to the facing direction.
func (p *pose) setArmsFK(b *body, aL, eL, aR, eR float64) {
	p.ElbowL, p.HandL = armFK(p.ShoulderL, b.UpperArm, b.Forearm, aL*p.Facing, eL*p.Facing)
	p.ElbowR, p.HandR = armFK(p.ShoulderR, b.UpperArm, b.Forearm, aR*p.Facing, eR*p.Facing)
}

// reach solves an arm to a hand target with the elbow bending down/back.
func (p *pose) reach(b *body, right bool, target vec) {
	sh := p.ShoulderL
	if right {
		sh = p.ShoulderR
	}
	bend := -p.Facing
	if p.View == frontView {
		// Elbows point away from the body: for the image-left arm that is a
		// clockwise turn off a downward reach and counter-clockwise off a raised one.
		bend = -1
		if right {
			bend = 1
		}
		if target.Y > sh.Y {
			bend = -bend
		}
	}
	e, h := twoBoneIK(sh, target, b.UpperArm, b.Forearm, bend)
	if right {
		p.ElbowR, p.HandR = e, h
	} else {
		p.ElbowL, p.HandL = e, h
	}
}
