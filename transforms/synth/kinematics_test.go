package synth

import (
	"math"
	"testing"
)

// Feet in stance must not slide: the ankle of a bearing foot stays put.
func TestGaitFeetDoNotSlide(t *testing.T) {
	for _, running := range []bool{false, true} {
		r := newRNG(1, "gait")
		b := newBody(r)
		speed := 1.3
		if running {
			speed = 3.2
		}
		g := newWalker(r, b, 1, func(t float64) float64 { return speed * t }, speed, running)
		const dt = 1.0 / 240
		for side := 0; side < 2; side++ {
			var prev vec
			prevStance := false
			stanceFrames := 0
			for i := 0; i < 240*4; i++ {
				p, stance, _ := g.footState(float64(i)*dt, side)
				if stance && prevStance {
					if d := p.sub(prev).len(); d > 1e-9 {
						t.Fatalf("running=%v side %d: stance foot slid %.3g m at t=%.3f", running, side, d, float64(i)*dt)
					}
					stanceFrames++
				}
				prev, prevStance = p, stance
			}
			if stanceFrames == 0 {
				t.Fatalf("no stance phase seen")
			}
		}
	}
}

// Walking swings each arm opposite its own leg (with the other leg).
func TestGaitArmLegPhase(t *testing.T) {
	r := newRNG(2, "gait")
	b := newBody(r)
	g := newWalker(r, b, 1, func(t float64) float64 { return 1.2 * t }, 1.2, false)
	var corrSame, corrOpp float64
	for i := 0; i < 400; i++ {
		p, _ := g.at(float64(i) / 100)
		armL, legL, legR := p.HandL.X-p.Pelvis.X, p.AnkleL.X-p.Pelvis.X, p.AnkleR.X-p.Pelvis.X
		corrSame += armL * legL
		corrOpp += armL * legR
	}
	if corrSame >= 0 || corrOpp <= 0 {
		t.Fatalf("left arm should swing with the right leg: same-side %.3f, opposite %.3f", corrSame, corrOpp)
	}
}

// Running has a flight phase: both feet off the ground, the pelvis on a
// parabola with the acceleration of gravity.
func TestRunningFlightIsBallistic(t *testing.T) {
	r := newRNG(3, "gait")
	b := newBody(r)
	g := newWalker(r, b, 1, func(t float64) float64 { return 3 * t }, 3, true)
	const dt = 1e-3
	flights := 0
	for i := 1; i < 3000; i++ {
		tt := float64(i) * dt
		_, s0, _ := g.footState(tt, 0)
		_, s1, _ := g.footState(tt, 1)
		_, s0a, _ := g.footState(tt-dt, 0)
		_, s1a, _ := g.footState(tt-dt, 1)
		_, s0b, _ := g.footState(tt+dt, 0)
		_, s1b, _ := g.footState(tt+dt, 1)
		if s0 || s1 || s0a || s1a || s0b || s1b {
			continue
		}
		flights++
		y := func(t float64) float64 { p, _ := g.at(t); return p.Pelvis.Y }
		acc := (y(tt+dt) - 2*y(tt) + y(tt-dt)) / (dt * dt)
		// The sway term is horizontal only, so the vertical path is exact.
		if math.Abs(acc+gravity) > 0.05 {
			t.Fatalf("flight acceleration %.3f m/s^2 at t=%.3f, want -%.2f", acc, tt, gravity)
		}
	}
	if flights == 0 {
		t.Fatal("running never left the ground")
	}
}

func TestJumpingJacksLandWithFeetStill(t *testing.T) {
	r := newRNG(4, "jj")
	b := newBody(r)
	a := newJumpingJacks(r, b, 0)
	const dt = 1e-3
	airborne := 0
	for i := 1; i < 3000; i++ {
		p0, _ := a.at(float64(i-1) * dt)
		p1, _ := a.at(float64(i) * dt)
		grounded := p0.ToeL.Y < -b.AnkleH*0.6+1e-9 && p1.ToeL.Y < -b.AnkleH*0.6+1e-9 &&
			p0.AnkleL.Y <= b.AnkleH+1e-9 && p1.AnkleL.Y <= b.AnkleH+1e-9
		if grounded {
			if d := math.Abs(p1.AnkleL.X - p0.AnkleL.X); d > 1e-6 {
				t.Fatalf("foot slid %.2g m on the ground at t=%.3f", d, float64(i)*dt)
			}
		} else {
			airborne++
		}
	}
	if airborne == 0 {
		t.Fatal("jumping jacks never left the ground")
	}
}

func TestMinimumJerkAndIK(t *testing.T) {
	if minJerk(0) != 0 || minJerk(1) != 1 || math.Abs(minJerk(0.5)-0.5) > 1e-12 {
		t.Fatal("minimum-jerk endpoints")
	}
	const h = 1e-5
	for _, x := range []float64{h, 1 - h} {
		if v := (minJerk(x+h) - minJerk(x-h)) / (2 * h); math.Abs(v) > 1e-3 {
			t.Errorf("velocity at %.0g is %.2g, want 0", x, v)
		}
	}
	root, target := vec{0, 1}, vec{0.3, 0.2}
	mid, end := twoBoneIK(root, target, 0.45, 0.45, 1)
	if end.sub(target).len() > 1e-9 {
		t.Errorf("IK missed its target: %v", end)
	}
	if math.Abs(mid.sub(root).len()-0.45) > 1e-9 || math.Abs(end.sub(mid).len()-0.45) > 1e-9 {
		t.Error("IK changed bone lengths")
	}
}

// Bodies vary, but stay human: proportions within a few percent of average.
func TestBodiesArePlausible(t *testing.T) {
	r := newRNG(9, "bodies")
	for i := 0; i < 200; i++ {
		b := newBody(r)
		if b.Height < 1.5 || b.Height > 1.95 {
			t.Fatalf("height %.2f", b.Height)
		}
		if ratio := b.legLen() / b.Height; ratio < 0.42 || ratio > 0.53 {
			t.Fatalf("leg/height %.2f", ratio)
		}
	}
}
