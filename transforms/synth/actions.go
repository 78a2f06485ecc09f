package synth

import (
	"math"

	"realdpo/schemas"
)

// gravity in m/s^2: flight phases are true parabolas in world units, so jumps
// last and rise as they would for a real body at the video's frame rate.
const gravity = 9.81

// propKind names a drawable object held by or standing near a figure.
type propKind int

const (
	propCup propKind = iota
	propFood
	propPlate
	propCloth
	propSpoon
	propPot
	propTable
	propChair
	propCounter
)

type prop struct {
	Kind   propKind
	Pos    vec     // anchor in world metres
	Size   vec     // width, height in metres
	Angle  float64 // tilt, radians
	Colour rgb
	Front  bool // drawn over the figures (a table hides the legs behind it)
}

// actor is one person performing an action over a shot.
type actor interface {
	at(t float64) (pose, []prop)
	look() *body
}

// actionInfo maps each action to its RealAction category and how it is filmed.
type actionInfo struct {
	Name      string
	Category  string
	View      view
	Verb      string // for titles: "walking", "doing squats"
	MaxPeople int
}

var actions = []actionInfo{
	// At most two people in shot (one for most actions): at the model's
	// resolution a third figure leaves each of them a few pixels.
	{"walking", schemas.CategoryWalking, sideView, "walking", 2},
	{"running", schemas.CategoryRunning, sideView, "running", 1},
	{"squats", schemas.CategoryFitness, sideView, "doing squats", 2},
	{"jumping_jacks", schemas.CategoryFitness, frontView, "doing jumping jacks", 2},
	{"waving", schemas.CategoryOthers, frontView, "waving", 1},
	{"drinking", schemas.CategoryDrinking, sideView, "drinking from a cup", 1},
	{"eating", schemas.CategoryEating, sideView, "eating at a table", 1},
	{"cleaning", schemas.CategoryCleaning, sideView, "wiping a table", 1},
	{"yoga", schemas.CategoryYoga, frontView, "practising yoga", 2},
	{"hugging", schemas.CategoryHug, sideView, "hugging", 2},
	{"cooking", schemas.CategoryCooking, sideView, "stirring a pot", 1},
}

func actionByName(name string) actionInfo {
	for _, a := range actions {
		if a.Name == name {
			return a
		}
	}
	return actionInfo{}
}

// ---------------------------------------------------------------------------
// Gait: walking and running with planted feet.

// gait moves a profile figure along hipX(t). Each foot alternates stance
// (fixed on the ground: no sliding by construction) and swing (a
// minimum-jerk arc to the next plant). Plants are taken from the hip path
// itself, so speeding up, slowing down and stopping all stay consistent.
type gait struct {
	b       *body
	facing  float64
	hipX    func(t float64) float64
	period  float64 // one stride: two steps
	duty    float64 // share of the stride a foot is on the ground
	lift    float64 // swing height, metres
	phase0  float64
	run     bool
	armAmp  float64
	elbow   float64
	lean    float64
	sway    smoothNoise
	nominal float64 // nominal stride length, for scaling the swing lift
}

func (g *gait) look() *body { return g.b }

// plant is where foot side's k-th stance puts the ankle (x only): under the
// hip a little before mid-stance, so the leading leg stays within reach.
func (g *gait) plant(side, k int) float64 {
	tk := (float64(k) + 0.5*float64(side) + g.phase0) * g.period
	return g.hipX(tk+g.duty*g.period*0.42) - g.facing*g.b.Foot*0.2
}

// footState returns the ankle target and whether the foot bears weight.
func (g *gait) footState(t float64, side int) (vec, bool, float64) {
	u := t/g.period - 0.5*float64(side) - g.phase0
	k := int(math.Floor(u))
	s := u - float64(k) // 0..1 through this foot's stride
	if s < g.duty {
		return vec{g.plant(side, k), g.b.AnkleH}, true, s / g.duty
	}
	sw := (s - g.duty) / (1 - g.duty)
	x0, x1 := g.plant(side, k), g.plant(side, k+1)
	// Lift scales with the step taken: a figure that has stopped does not march.
	step := clamp01(math.Abs(x1-x0) / (0.5 * g.nominal))
	shape := sw
	if g.run {
		shape = math.Pow(sw, 1.4) // the heel trails, then whips forward
	}
	x := x0 + (x1-x0)*minJerk(shape)
	y := g.b.AnkleH + g.lift*step*math.Sin(math.Pi*sw)
	return vec{x, y}, false, sw
}

// pelvisY: walking vaults over the stance leg (inverted pendulum, highest
// at mid-stance); running adds a ballistic flight between steps whose take-off
// speed matches the stance compression, so vertical velocity is continuous.
func (g *gait) pelvisY(t float64, hip float64, ankles [2]vec, stance [2]bool) float64 {
	L := g.b.legLen()
	stand := g.b.hipHeight()
	if !g.run {
		y := stand
		for i := 0; i < 2; i++ {
			if stance[i] {
				dx := hip - ankles[i].X
				if dx*g.facing < 0 {
					continue // trailing leg: heel rises, toe pivots
				}
				y = math.Min(y, ankles[i].Y+math.Sqrt(math.Max(L*L-dx*dx, 0.25*L*L)))
			}
		}
		return y
	}
	base := g.b.AnkleH + L*0.93
	stepT := g.period / 2
	tau := math.Mod(t/g.period-g.phase0, 0.5) * g.period
	if tau < 0 {
		tau += stepT
	}
	contact := g.duty * g.period
	flight := stepT - contact
	v0 := gravity * flight / 2
	if tau < contact {
		comp := v0 * contact / math.Pi
		return base - comp*math.Sin(math.Pi*tau/contact)
	}
	f := tau - contact
	return base + v0*f - 0.5*gravity*f*f
}

func (g *gait) at(t float64) (pose, []prop) {
	b := g.b
	hip := g.hipX(t) + 0.01*g.sway.at(t)
	var ankles [2]vec
	var stance [2]bool
	for side := 0; side < 2; side++ {
		ankles[side], stance[side], _ = g.footState(t, side)
	}
	y := g.pelvisY(t, hip, ankles, stance)
	pelvis := vec{hip, y}
	p := b.sidePose(g.facing, pelvis, ankles[0], ankles[1], g.lean)
	// Trailing stance feet pivot about the planted toe when the leg cannot
	// reach the ankle's flat-foot spot: heel-off, not a sliding foot.
	for side := 0; side < 2; side++ {
		if !stance[side] {
			continue
		}
		toe := vec{ankles[side].X + g.facing*b.Foot*0.85, 0}
		if pelvis.sub(ankles[side]).len() > b.legLen()*0.999 {
			ankle := toePivot(pelvis, toe, b.legLen()*0.999, vec{b.Foot * 0.85, b.AnkleH * 0.8}.len(), g.facing)
			knee, a := twoBoneIK(pelvis, ankle, b.Thigh, b.Shin, g.facing)
			if side == 0 {
				p.KneeL, p.AnkleL, p.ToeL = knee, a, toe
			} else {
				p.KneeR, p.AnkleR, p.ToeR = knee, a, toe
			}
		}
	}
	// Arms swing against the same-side leg: read the leg's actual position so
	// the phase can never drift from the feet.
	half := math.Max(g.nominal/2, 0.05)
	relL := clampRange((p.AnkleL.X-hip)*g.facing/half, -1.2, 1.2)
	relR := clampRange((p.AnkleR.X-hip)*g.facing/half, -1.2, 1.2)
	aL, aR := -g.armAmp*relL, -g.armAmp*relR
	p.setArmsFK(b, aL, g.elbow+math.Max(aL, 0)*0.6, aR, g.elbow+math.Max(aR, 0)*0.6)
	return p, nil
}

// toePivot finds the ankle on the circle of radius foot around the planted
// toe that lies at distance reach from the hip (behind the toe, above ground).
func toePivot(hip, toe vec, reach, foot, facing float64) vec {
	d := toe.sub(hip)
	dist := d.len()
	if dist > reach+foot || dist < 1e-6 {
		return toe.add(vec{-facing * foot, 0})
	}
	a := (reach*reach - foot*foot + dist*dist) / (2 * dist)
	h := math.Sqrt(math.Max(reach*reach-a*a, 0))
	m := hip.add(d.mul(a / dist))
	n := vec{-d.Y / dist, d.X / dist}
	c1, c2 := m.add(n.mul(h)), m.sub(n.mul(h))
	if c1.Y > c2.Y {
		return c1
	}
	return c2
}

func clampRange(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func newWalker(r *rng, b *body, facing float64, hipX func(float64) float64, speed float64, running bool) *gait {
	g := &gait{b: b, facing: facing, hipX: hipX, phase0: r.Float64(), run: running, sway: newSmoothNoise(r, 0.4)}
	if running {
		cadence := r.uniform(2.7, 3.1) // steps per second
		g.period, g.duty = 2/cadence, r.uniform(0.3, 0.36)
		g.lift, g.armAmp, g.elbow, g.lean = b.legLen()*0.42, r.uniform(0.55, 0.75), r.uniform(1.4, 1.7), r.uniform(0.12, 0.2)
	} else {
		cadence := r.uniform(1.7, 2.0)
		g.period, g.duty = 2/cadence, r.uniform(0.58, 0.63)
		g.lift, g.armAmp, g.elbow, g.lean = b.legLen()*0.12, r.uniform(0.3, 0.45), r.uniform(0.15, 0.3), r.uniform(0.02, 0.06)
	}
	g.nominal = speed * g.period
	return g
}

// ---------------------------------------------------------------------------
// Fixed-feet actions.

// routine is an actor whose motion is a closed-form function of time.
type routine struct {
	b  *body
	fn func(t float64) (pose, []prop)
}

func (r *routine) at(t float64) (pose, []prop) { return r.fn(t) }
func (r *routine) look() *body                 { return r.b }

// squats: hips sink and hinge back, knees track forward over planted feet,
// arms rise for balance; a raised cosine gives smooth acceleration.
func newSquats(r *rng, b *body, x0, facing float64) actor {
	period, depth := r.uniform(2.4, 3.6), r.uniform(0.32, 0.45)*b.legLen()
	phase := r.Float64()
	sway := newSmoothNoise(r, 0.3)
	return &routine{b, func(t float64) (pose, []prop) {
		q := (1 - math.Cos(2*math.Pi*(t/period+phase))) / 2
		pelvis := vec{x0 - facing*0.45*depth*q + 0.005*sway.at(t), b.hipHeight() - depth*q}
		ankle := vec{x0 + facing*0.02, b.AnkleH}
		p := b.sidePose(facing, pelvis, ankle.add(vec{-0.03 * facing, 0}), ankle, 0.05+0.6*q)
		p.setArmsFK(b, 0.15+1.35*q, 0.1, 0.15+1.35*q, 0.05)
		return p, nil
	}}
}

// jumpingJacks: two hops a cycle; the feet move only while airborne, the
// body follows a parabola under gravity in flight and compresses on landing.
func newJumpingJacks(r *rng, b *body, x0 float64) actor {
	period := r.uniform(0.95, 1.25)
	contact := r.uniform(0.4, 0.5) // share of each hop on the ground
	phase := r.Float64()
	wide := b.legLen() * r.uniform(0.38, 0.48)
	narrow := b.HipW * 0.45
	hop := period / 2
	tc := contact * hop
	tf := hop - tc
	v0 := gravity * tf / 2
	return &routine{b, func(t float64) (pose, []prop) {
		u := t/period + phase
		cyc := u - math.Floor(u) // 0..1
		second := cyc >= 0.5     // closing hop
		tau := math.Mod(cyc, 0.5) * period
		var lift, spread float64
		if tau < tc {
			// Ground contact: knees absorb, velocity matched to the flight.
			comp := v0 * tc / math.Pi
			lift = -comp * math.Sin(math.Pi*tau/tc)
			spread = 0
		} else {
			f := tau - tc
			lift = v0*f - 0.5*gravity*f*f
			spread = minJerk(f / tf)
		}
		open := spread
		if second {
			open = 1 - spread
		}
		w := narrow + (wide-narrow)*open
		feetY := math.Max(lift, 0)
		pelvis := vec{x0, b.hipHeight() - 0.02 - (wide-narrow)*open*0.25 + lift}
		p := b.frontPose(pelvis, vec{x0 - w, feetY}, vec{x0 + w, feetY}, 0)
		arm := 0.2 + 2.6*open
		p.ElbowL, p.HandL = armFK(p.ShoulderL, b.UpperArm, b.Forearm, -arm, -0.15*open)
		p.ElbowR, p.HandR = armFK(p.ShoulderR, b.UpperArm, b.Forearm, arm, 0.15*open)
		return p, nil
	}}
}

// waving: raise the arm (minimum jerk), wave the forearm about the elbow,
// lower it, rest; the body sways a little.
func newWaving(r *rng, b *body, x0 float64) actor {
	raise, wave, rest := r.uniform(0.6, 0.9), r.uniform(2.5, 4.5), r.uniform(1, 2)
	hz := r.uniform(1.6, 2.6)
	cycle := 2*raise + wave + rest
	off := r.uniform(0, cycle)
	sway := newSmoothNoise(r, 0.25)
	return &routine{b, func(t float64) (pose, []prop) {
		c := math.Mod(t+off, cycle)
		up := segment(c, 0, raise) - segment(c, raise+wave, 2*raise+wave)
		p := b.frontPose(vec{x0 + 0.015*sway.at(t), b.hipHeight()}, vec{x0 - 0.1, 0}, vec{x0 + 0.1, 0}, 0.01*sway.at(t+3))
		p.ElbowL, p.HandL = armFK(p.ShoulderL, b.UpperArm, b.Forearm, -0.12, -0.05)
		w := 0.0
		if c > raise && c < raise+wave {
			w = 0.45 * math.Sin(2*math.Pi*hz*(c-raise)) * segment(c, raise, raise+0.3)
		}
		p.ElbowR, p.HandR = armFK(p.ShoulderR, b.UpperArm, b.Forearm, 0.15+up*2.1, -up*2.0+w)
		return p, nil
	}}
}

// drinking: lift the cup to the mouth, tip the head back to sip, lower it.
func newDrinking(r *rng, b *body, x0, facing float64, cupCol rgb) actor {
	lift, sip, rest := r.uniform(0.8, 1.2), r.uniform(0.8, 1.4), r.uniform(0.4, 1.0)
	cycle := 2*lift + sip + rest
	off := r.uniform(0, cycle)
	sway := newSmoothNoise(r, 0.25)
	return &routine{b, func(t float64) (pose, []prop) {
		c := math.Mod(t+off, cycle)
		k := segment(c, 0, lift) - segment(c, lift+sip, 2*lift+sip)
		pelvis := vec{x0 + 0.03*sway.at(t), b.hipHeight()}
		p := b.sidePose(facing, pelvis, vec{x0 - 0.04*facing, b.AnkleH}, vec{x0 + 0.04*facing, b.AnkleH}, 0.02+0.03*sway.at(t+5))
		tilt := 0.25 * k * segment(c, lift*0.6, lift)
		p.HeadTilt = tilt
		rest := p.Pelvis.add(vec{facing * 0.28, 0.22})
		mouth := p.Head.add(vec{facing * b.Head * 1.25, -b.Head * 0.55})
		p.reach(b, true, lerpVec(rest, mouth, k))
		p.setArmsFKFar(b, 0.05, 0.2)
		cup := prop{Kind: propCup, Pos: p.HandR.add(vec{facing * 0.02, 0.03}), Size: vec{0.07, 0.1},
			Angle: -facing * k * 0.9, Colour: cupCol}
		return p, []prop{cup}
	}}
}

// setArmsFKFar poses only the far arm (the near one is placed by reach).
func (p *pose) setArmsFKFar(b *body, a, e float64) {
	p.ElbowL, p.HandL = armFK(p.ShoulderL, b.UpperArm, b.Forearm, a*p.Facing, e*p.Facing)
}

// eating: seated at a table, bring food from the plate to the mouth, chew,
// return; the table is drawn in front of the legs.
func newEating(r *rng, b *body, x0, facing float64, food rgb) actor {
	move, chew, pause := r.uniform(0.8, 1.1), r.uniform(0.8, 1.4), r.uniform(0.8, 1.6)
	cycle := 2*move + chew + pause
	off := r.uniform(0, cycle)
	seat := b.Shin + b.AnkleH + 0.03
	tableTop := seat + b.Torso*0.62
	tableX := x0 + facing*(b.Thigh*0.55)
	return &routine{b, func(t float64) (pose, []prop) {
		c := math.Mod(t+off, cycle)
		k := segment(c, 0, move) - segment(c, move+chew, 2*move+chew)
		pelvis := vec{x0, seat + b.LegR}
		ankle := vec{x0 + facing*b.Thigh*0.95, b.AnkleH}
		p := b.sidePose(facing, pelvis, ankle.add(vec{-0.04 * facing, 0}), ankle, 0.12+0.06*k)
		if c > move && c < move+chew {
			p.HeadTilt = 0.05 * math.Sin(2*math.Pi*3*(c-move))
		}
		plate := vec{tableX + facing*0.25, tableTop + 0.015}
		mouth := p.Head.add(vec{facing * b.Head * 1.2, -b.Head * 0.5})
		p.reach(b, true, lerpVec(plate.add(vec{0, 0.05}), mouth, k))
		p.ElbowL, p.HandL = twoBoneIK(p.ShoulderL, vec{tableX + facing*0.12, tableTop + 0.02}, b.UpperArm, b.Forearm, -facing)
		props := []prop{
			{Kind: propChair, Pos: vec{x0 - facing*0.05, seat}, Size: vec{0.42, seat}, Angle: facing, Colour: rgb{120, 80, 50}},
			{Kind: propTable, Pos: vec{tableX + facing*0.45, tableTop}, Size: vec{0.95, tableTop}, Colour: rgb{150, 105, 65}, Front: true},
			{Kind: propPlate, Pos: plate, Size: vec{0.24, 0.03}, Colour: rgb{240, 240, 235}, Front: true},
		}
		goingUp := c < move+chew
		if k > 0.02 && goingUp {
			props = append(props, prop{Kind: propFood, Pos: p.HandR.add(vec{facing * 0.03, 0.02}), Size: vec{0.045, 0.045}, Colour: food})
		}
		return p, props
	}}
}

// cleaning: lean over a table and wipe it back and forth with a cloth, the
// hips shifting with the reach.
func newCleaning(r *rng, b *body, x0, facing float64, cloth rgb) actor {
	hz, amp := r.uniform(0.8, 1.3), r.uniform(0.14, 0.22)
	tableTop := b.hipHeight() * 0.95
	tableX := x0 + facing*0.38
	phase := r.Float64()
	return &routine{b, func(t float64) (pose, []prop) {
		s := math.Sin(2 * math.Pi * (hz*t + phase))
		pelvis := vec{x0 + facing*0.03*s, b.hipHeight() - 0.02}
		p := b.sidePose(facing, pelvis, vec{x0 - 0.05*facing, b.AnkleH}, vec{x0 + 0.08*facing, b.AnkleH}, 0.45+0.08*s)
		hand := vec{tableX + facing*(0.2+amp*s), tableTop + 0.03}
		p.reach(b, true, hand)
		p.ElbowL, p.HandL = twoBoneIK(p.ShoulderL, vec{tableX + facing*0.02, tableTop + 0.02}, b.UpperArm, b.Forearm, -facing)
		return p, []prop{
			{Kind: propTable, Pos: vec{tableX + facing*0.45, tableTop}, Size: vec{0.95, tableTop}, Colour: rgb{170, 130, 90}, Front: true},
			{Kind: propCloth, Pos: hand.add(vec{0, -0.01}), Size: vec{0.16, 0.025}, Colour: cloth, Front: true},
		}
	}}
}

// cooking: stand at a counter and stir a pot, the spoon tracing circles.
func newCooking(r *rng, b *body, x0, facing float64, pot rgb) actor {
	hz := r.uniform(0.7, 1.2)
	top := b.hipHeight() * 1.02
	counterX := x0 + facing*0.32
	potX := counterX + facing*0.3
	return &routine{b, func(t float64) (pose, []prop) {
		a := 2 * math.Pi * hz * t
		pelvis := vec{x0, b.hipHeight()}
		p := b.sidePose(facing, pelvis, vec{x0 - 0.05*facing, b.AnkleH}, vec{x0 + 0.05*facing, b.AnkleH}, 0.18)
		hand := vec{potX + facing*0.07*math.Cos(a), top + 0.26 + 0.025*math.Sin(a)}
		p.reach(b, true, hand)
		p.ElbowL, p.HandL = twoBoneIK(p.ShoulderL, vec{potX - facing*0.16, top + 0.12}, b.UpperArm, b.Forearm, -facing)
		return p, []prop{
			{Kind: propCounter, Pos: vec{counterX + facing*0.5, top}, Size: vec{1.1, top}, Colour: rgb{200, 200, 195}, Front: true},
			{Kind: propPot, Pos: vec{potX, top}, Size: vec{0.3, 0.2}, Colour: pot, Front: true},
			{Kind: propSpoon, Pos: hand, Size: vec{0.02, 0.3}, Angle: facing * 0.25 * math.Cos(a), Colour: rgb{90, 60, 30}},
		}
	}}
}

// yogaKey is one yoga posture as the parameters the body interpolates.
type yogaKey struct {
	footL, footR vec // ground targets; y > 0 lifts a foot
	pelvisDX     float64
	pelvisDrop   float64
	armL, armR   float64 // angle from hanging, outward
	elbow        float64
	hold         float64
	treeR        bool // right foot rests on the left knee
}

// yoga: mountain, arms raised, tree, warrior II; minimum-jerk transitions,
// the pelvis shifts over the standing leg before a foot leaves the floor.
func newYoga(r *rng, b *body, x0 float64) actor {
	L := b.legLen()
	mountain := yogaKey{footL: vec{-0.09, 0}, footR: vec{0.09, 0}, armL: 0.12, armR: 0.12, hold: r.uniform(1.2, 2)}
	raised := mountain
	raised.armL, raised.armR, raised.elbow, raised.hold = 2.9, 2.9, 0.1, r.uniform(1.5, 2.5)
	shift := mountain
	shift.pelvisDX, shift.armL, shift.armR, shift.hold = -0.08, 0.5, 0.5, 0.3
	tree := shift
	tree.treeR, tree.armL, tree.armR, tree.elbow, tree.hold = true, 2.95, 2.95, 0.35, r.uniform(2, 3.5)
	warrior := yogaKey{footL: vec{-0.52 * L, 0}, footR: vec{0.52 * L, 0}, pelvisDX: 0.18 * L, pelvisDrop: 0.16 * L,
		armL: math.Pi / 2, armR: math.Pi / 2, hold: r.uniform(2, 3.5)}
	seq := []yogaKey{mountain, raised, mountain, shift, tree, shift, mountain, warrior, mountain}
	trans := r.uniform(1.3, 2.0)
	var total float64
	for _, k := range seq {
		total += k.hold + trans
	}
	off := r.uniform(0, total)
	sway := newSmoothNoise(r, 0.2)
	return &routine{b, func(t float64) (pose, []prop) {
		c := math.Mod(t+off, total)
		i := 0
		for c > seq[i].hold+trans {
			c -= seq[i].hold + trans
			i++
		}
		a, z := seq[i], seq[(i+1)%len(seq)]
		s := segment(c, a.hold, a.hold+trans)
		lerp := func(p, q float64) float64 { return p + (q-p)*s }
		pelvis := vec{x0 + lerp(a.pelvisDX, z.pelvisDX) + 0.006*sway.at(t), b.hipHeight() - lerp(a.pelvisDrop, z.pelvisDrop)}
		// Feet step: a foot that moves is lifted along an arc.
		stepArc := func(p, q vec) vec {
			v := lerpVec(p, q, s)
			if math.Abs(p.X-q.X) > 0.01 {
				v.Y += 0.08 * math.Sin(math.Pi*s)
			}
			return v.add(vec{x0, 0})
		}
		fl, fr := stepArc(a.footL, z.footL), stepArc(a.footR, z.footR)
		p := b.frontPose(pelvis, fl, fr, 0)
		if a.treeR || z.treeR {
			w := 1.0
			if !z.treeR {
				w = 1 - s
			} else if !a.treeR {
				w = s
			}
			knee := p.KneeL.add(vec{0.05, 0})
			foot := lerpVec(fr.add(vec{0, b.AnkleH}), knee, w)
			p.KneeR, p.AnkleR = twoBoneIK(p.HipR, foot, b.Thigh, b.Shin, 1)
			p.ToeR = p.AnkleR.add(vec{-b.Foot * 0.3 * w, -b.AnkleH * 0.6})
		}
		armL, armR, el := lerp(a.armL, z.armL), lerp(a.armR, z.armR), lerp(a.elbow, z.elbow)
		p.ElbowL, p.HandL = armFK(p.ShoulderL, b.UpperArm, b.Forearm, -armL, el)
		p.ElbowR, p.HandR = armFK(p.ShoulderR, b.UpperArm, b.Forearm, armR, -el)
		return p, nil
	}}
}

// hugger: walk toward the partner (minimum-jerk approach: smooth start and
// stop), then wrap the arms around them and sway together.
type hugger struct {
	walk    *gait
	partner *hugger
	b       *body
	facing  float64
	arrive  float64
	sway    smoothNoise
	leanMax float64
}

func (h *hugger) look() *body { return h.b }

func (h *hugger) at(t float64) (pose, []prop) {
	p, _ := h.walk.at(t)
	k := segment(t, h.arrive-0.4, h.arrive+0.9)
	if k <= 0 {
		return p, nil
	}
	lean := h.walk.lean + h.leanMax*k
	sw := 0.02 * h.sway.at(t) * k
	p2 := h.b.sidePose(h.facing, p.Pelvis.add(vec{sw, 0}), p.AnkleL, p.AnkleR, lean)
	p2.KneeL, p2.KneeR, p2.ToeL, p2.ToeR = p.KneeL, p.KneeR, p.ToeL, p.ToeR
	other, _ := h.partner.walk.at(t)
	back := other.Neck.add(vec{h.facing * (h.partner.b.TorsoR + 0.1), -0.12})
	lower := other.Neck.add(vec{h.facing * (h.partner.b.TorsoR + 0.05), -0.3})
	restL := p2.ShoulderL.add(dir(h.facing * 0.15).mul(h.b.UpperArm + h.b.Forearm*0.95))
	restR := p2.ShoulderR.add(dir(h.facing * 0.1).mul(h.b.UpperArm + h.b.Forearm*0.95))
	p2.reach(h.b, false, lerpVec(restL, back, k))
	p2.reach(h.b, true, lerpVec(restR, lower, k))
	return p2, nil
}

func newHug(r *rng, a, b *body, centre float64) (actor, actor) {
	gap := (a.TorsoR + b.TorsoR) * 0.9
	startGap := r.uniform(2.2, 3.4)
	arrive := r.uniform(2.5, 3.5)
	path := func(from, to float64) func(float64) float64 {
		return func(t float64) float64 { return from + (to-from)*segment(t, 0, arrive) }
	}
	speed := 1.875 * (startGap - gap) / 2 / arrive // peak speed of the minimum-jerk path
	ha := &hugger{b: a, facing: 1, arrive: arrive, sway: newSmoothNoise(r, 0.3), leanMax: 0.12}
	hb := &hugger{b: b, facing: -1, arrive: arrive, sway: ha.sway, leanMax: 0.12}
	ha.walk = newWalker(r, a, 1, path(centre-startGap/2, centre-gap/2), speed, false)
	hb.walk = newWalker(r, b, -1, path(centre+startGap/2, centre+gap/2), speed, false)
	ha.partner, hb.partner = hb, ha
	return ha, hb
}
