package synth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"math"
	"sort"

	"realdpo/schemas"
	"realdpo/transforms/media"
)

// Camera motions.
const (
	camStatic   = "static"
	camPan      = "pan"
	camZoom     = "zoom"
	camHandheld = "handheld"
	camShaky    = "shaky" // a defect: shake dominates the picture
)

// videoSpec is everything needed to render one file, decided up front from
// the seed so rendering is a pure function of it.
type videoSpec struct {
	Index     int
	Name      string
	Seed      uint64
	Width     int
	Height    int
	FPS       float64
	Frames    int
	Container string // file extension without the dot
	Codec     string // ffmpeg encoder
	CRF       int
	FastStart bool
	Shots     []shotSpec
	Defects   []string
	// Render-time effects.
	Static, Blur, Overlay, Dark, Washed bool
	Gain                                float64 // extra brightness factor (near duplicates)
	// Skip drops the first Skip frames of the footage (a re-encoded copy that
	// starts later): file frame i shows footage frame Skip+i.
	Skip int
}

type shotSpec struct {
	Start, End int
	Action     string // "" for off-topic footage
	People     int
	Scene      string
	Camera     string
	Seed       uint64
}

func (v *videoSpec) has(defect string) bool {
	for _, d := range v.Defects {
		if d == defect {
			return true
		}
	}
	return false
}

// shot is a shot ready to render: its people, camera path and backdrop.
type shot struct {
	spec     shotSpec
	actors   []actor
	bodies   []*body
	backdrop *raster
	sky      *skyline
	cam      func(t float64) camera
	gain     [3]float64
	vignette []uint8
	lut      [][256][256]byte // per channel: vignette level x value -> lit value
	noiseAmp float64
	cars     []car
}

// car is a light moving along the skyline's street: motion with no people.
type car struct{ x0, speed, y float64 }

func (v *videoSpec) duration() float64 { return float64(v.Frames) / v.FPS }

// newShot builds the people, camera and backdrop for one shot.
func newShot(v *videoSpec, s shotSpec) *shot {
	r := newRNG(s.Seed, "shot")
	sh := &shot{spec: s}
	W, H := float64(v.Width), float64(v.Height)
	dur := float64(s.End-s.Start) / v.FPS
	info := actionByName(s.Action)

	// Scale: people are framed close, as footage of an action is: the
	// model sees the clip at 48x32 or 96x64 pixels, where a figure filling
	// half the frame has limbs a pixel wide and its motion is lost in the
	// grain. Groups still fit across the frame.
	heightFrac := r.uniform(0.74, 0.9)
	switch s.Action {
	case "walking", "running", "hugging":
		heightFrac = r.uniform(0.66, 0.8)
	case "drinking", "eating", "cooking", "cleaning", "waving":
		// Close activities are filmed close, from the hips or the chest
		// up: the hands carry the motion.
		heightFrac = r.uniform(1.0, 1.3)
	case "":
		heightFrac = 0.3
	}
	span := 1.3*float64(max(s.People, 1)) + 0.6
	if s.Action == "eating" || s.Action == "cleaning" || s.Action == "cooking" {
		span = 2.4
	}
	scale := math.Min(heightFrac*H/1.75, W/span)
	cx0 := 0.0
	// The ground line sits low in the frame, lower still (out of shot) for
	// close framing, so the top of the head stays 8% below the top edge.
	groundFrac := math.Max(0.9, scale*1.75/H+0.08)
	cy := func(sc float64) float64 { return (groundFrac - 0.5) * H / sc }

	// Camera path.
	var pan, zoom float64
	jx, jy := newSmoothNoise(r, 0.5), newSmoothNoise(r, 0.45)
	jitterPx := 0.0
	switch s.Camera {
	case camPan:
		pan = r.sign() * r.uniform(0.08, 0.2)
	case camZoom:
		zoom = r.sign() * r.uniform(0.15, 0.3)
	case camHandheld:
		jitterPx = r.uniform(1.5, 3.5) * W / 640
	case camShaky:
		jitterPx = r.uniform(22, 34) * W / 640
		jx, jy = newSmoothNoise(r, 2.2), newSmoothNoise(r, 2.0)
	}
	sh.cam = func(t float64) camera {
		sc := scale * (1 + zoom*(t/math.Max(dur, 1e-3)-0.5))
		c := camera{CX: cx0 + pan*(t-dur/2), CY: cy(sc), Scale: sc, W: v.Width, H: v.Height}
		if jitterPx > 0 {
			c.CX += jitterPx * jx.at(t) / sc
			c.CY += jitterPx * 0.7 * jy.at(t) / sc
		}
		return c
	}
	// The area the camera sweeps, for the backdrop raster and walker loops.
	minX, maxX, minY, maxY, maxScale := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1), 0.0
	for i := 0; i <= 20; i++ {
		c := sh.cam(dur * float64(i) / 20)
		hw, hh := W/2/c.Scale, H/2/c.Scale
		minX, maxX = math.Min(minX, c.CX-hw), math.Max(maxX, c.CX+hw)
		minY, maxY = math.Min(minY, c.CY-hh), math.Max(maxY, c.CY+hh)
		maxScale = math.Max(maxScale, c.Scale)
	}
	margin := (jitterPx*1.5 + 4) / scale
	minX, maxX, minY, maxY = minX-margin, maxX+margin, minY-margin, maxY+margin

	if s.Action == "" {
		sh.sky = newSkyline(r, minX, maxX, dur)
		for i := 0; i < 6; i++ {
			sh.cars = append(sh.cars, car{x0: r.uniform(minX, maxX), speed: r.sign() * r.uniform(2, 6), y: r.uniform(-0.6, -0.2)})
		}
	} else {
		sh.backdrop = renderRaster(newBackdrop(r, s.Scene, minX, maxX), minX, minY, maxX, maxY, maxScale)
	}

	// Lighting: exposure, colour temperature, vignette, sensor noise.
	g := r.uniform(0.85, 1.12)
	temp := r.uniform(-0.06, 0.06)
	sh.gain = [3]float64{g * (1 + temp), g, g * (1 - temp)}
	vig := r.uniform(0, 0.35)
	// Vignette as a level 0..255 mapping to a gain of 0.6..1 (see light).
	sh.vignette = make([]uint8, v.Width*v.Height)
	for y := 0; y < v.Height; y++ {
		for x := 0; x < v.Width; x++ {
			dx, dy := (float64(x)/W-0.5)*2, (float64(y)/H-0.5)*2
			g := 1 - vig*0.5*(dx*dx+dy*dy)
			sh.vignette[y*v.Width+x] = clamp8((g - 0.6) / 0.4 * 255)
		}
	}
	sh.noiseAmp = r.uniform(1, 4)

	// People.
	place := func(i, n int) float64 { return (float64(i) - float64(n-1)/2) * r.uniform(1.1, 1.4) }
	facing := r.sign()
	if s.People > 0 {
		sh.bodies = bodiesOf(s) // the same people the caption describes
	}
	switch s.Action {
	case "walking", "running":
		running := s.Action == "running"
		for i, b := range sh.bodies {
			speed := r.uniform(1.0, 1.5)
			if running {
				speed = r.uniform(2.6, 3.8)
			}
			dirn := 1.0
			if i%2 == 1 {
				dirn = -1
			}
			if i == 0 {
				dirn = facing
			}
			loop := (maxX - minX + 2.4) / speed
			// Stagger entries so somebody is always in shot; walkers
			// leave one side and come back on the other, off-screen.
			offset := loop * (r.uniform(0.35, 0.6) + float64(i)/float64(len(sh.bodies)))
			x0, x1 := minX-1.2, maxX+1.2
			hipX := func(t float64) float64 {
				u := math.Mod(t+offset, loop)
				if dirn > 0 {
					return x0 + speed*u
				}
				return x1 - speed*u
			}
			sh.actors = append(sh.actors, newWalker(r, b, dirn, hipX, speed, running))
		}
	case "hugging":
		a, b := newHug(r, sh.bodies[0], sh.bodies[1], cx0)
		sh.actors = append(sh.actors, a, b)
	default:
		for i, b := range sh.bodies {
			x := place(i, s.People)
			f := facing
			if r.chance(0.3) {
				f = -f
			}
			var a actor
			switch s.Action {
			case "squats":
				a = newSquats(r, b, x, f)
			case "jumping_jacks":
				a = newJumpingJacks(r, b, x)
			case "waving":
				a = newWaving(r, b, x)
			case "drinking":
				a = newDrinking(r, b, x, f, pick(r, shirtCols).c)
			case "eating":
				a = newEating(r, b, x-0.4*f, f, pick(r, []rgb{{200, 150, 60}, {220, 60, 40}, {120, 170, 60}}))
			case "cleaning":
				a = newCleaning(r, b, x-0.5*f, f, pick(r, []rgb{{240, 200, 40}, {60, 140, 220}, {230, 90, 150}}))
			case "yoga":
				a = newYoga(r, b, x)
			case "cooking":
				a = newCooking(r, b, x-0.5*f, f, pick(r, []rgb{{90, 90, 95}, {180, 50, 40}, {40, 60, 120}}))
			}
			sh.actors = append(sh.actors, a)
		}
	}
	_ = info
	return sh
}

// renderer draws a video's frames into one reused canvas.
type renderer struct {
	v        *videoSpec
	cv       *canvas
	tmp      []byte
	noise    []int8
	shot     *shot
	shotIdx  int
	overlay  *overlay
	blurR    int
	frameSHA []byte
}

func newRenderer(v *videoSpec) *renderer {
	rd := &renderer{v: v, cv: newCanvas(v.Width, v.Height), shotIdx: -1}
	r := newRNG(v.Seed, "noise")
	// A noise table a little longer than a frame; each frame reads it at a
	// different offset: sensor noise that changes every frame at no cost.
	rd.noise = make([]int8, v.Width*v.Height*3+8192*3)
	for i := range rd.noise {
		rd.noise[i] = int8(math.Max(-127, math.Min(127, r.NormFloat64()*32)))
	}
	if v.Blur {
		rd.tmp = make([]byte, len(rd.cv.Pix))
		rd.blurR = max(3, v.Width/80)
	}
	if v.Overlay {
		rd.overlay = newOverlay(newRNG(v.Seed, "overlay"), v.Width, v.Height)
	}
	return rd
}

// frame renders frame i into the canvas and returns its bytes.
func (rd *renderer) frame(i int) []byte {
	v := rd.v
	si := 0
	for si < len(v.Shots)-1 && i >= v.Shots[si].End {
		si++
	}
	if si != rd.shotIdx {
		rd.shot = newShot(v, v.Shots[si])
		rd.shotIdx = si
	}
	sh := rd.shot
	t := float64(i-sh.spec.Start) / v.FPS
	if v.Static {
		t = 0
	}
	c := sh.cam(t)
	if sh.sky != nil {
		sh.sky.draw(rd.cv, c, t)
		for _, k := range sh.cars {
			x := k.x0 + k.speed*t
			px, py := c.px(vec{x, k.y})
			rd.cv.box(px-0.25*c.Scale, py-0.06*c.Scale, px+0.25*c.Scale, py+0.06*c.Scale, 2, rgb{255, 240, 200}, 1)
		}
	} else {
		sh.backdrop.drawInto(rd.cv, c)
	}
	var front []prop
	var boxes [][4]float64
	for _, a := range sh.actors {
		p, props := a.at(t)
		for _, pr := range props {
			if !pr.Front {
				rd.cv.drawProp(c, pr)
			}
		}
		rd.cv.drawFigure(c, a.look(), p)
		for _, pr := range props {
			if pr.Front {
				front = append(front, pr)
			}
		}
		boxes = append(boxes, poseBox(c, a.look(), p))
	}
	for _, pr := range front {
		rd.cv.drawProp(c, pr)
	}
	rd.light(sh)
	if v.Blur {
		rd.cv.boxBlur(rd.blurR, rd.tmp)
	}
	if rd.overlay != nil {
		rd.overlay.draw(rd.cv, i, v.FPS, boxes)
	}
	off := 0
	if !v.Static {
		off = int((uint64(i)*2654435761)%8192) * 3
	}
	rd.addNoise(sh.noiseAmp, off)
	return rd.cv.Pix
}

// light applies exposure, colour temperature and vignette, and the exposure
// defects, through per-channel lookup tables indexed by value and a 0..255
// vignette level: two table reads a byte instead of float maths.
func (rd *renderer) light(sh *shot) {
	v := rd.v
	if sh.lut == nil {
		sh.lut = make([][256][256]byte, 3)
		for c := 0; c < 3; c++ {
			g := sh.gain[c] * v.Gain
			if v.Dark {
				g *= 0.07
			}
			for lvl := 0; lvl < 256; lvl++ {
				k := g * (0.6 + 0.4*float64(lvl)/255)
				for x := 0; x < 256; x++ {
					y := float64(x) * k
					if v.Washed {
						y = 200 + y*0.22
					}
					sh.lut[c][lvl][x] = clamp8(y)
				}
			}
		}
	}
	pix := rd.cv.Pix
	for p, lvl := range sh.vignette {
		o := p * 3
		pix[o] = sh.lut[0][lvl][pix[o]]
		pix[o+1] = sh.lut[1][lvl][pix[o+1]]
		pix[o+2] = sh.lut[2][lvl][pix[o+2]]
	}
}

func (rd *renderer) addNoise(amp float64, off int) {
	k := int32(amp / 32 * 256)
	pix := rd.cv.Pix
	nz := rd.noise[off : off+len(pix)]
	for i, p := range pix {
		x := int32(p) + (int32(nz[i])*k+128)>>8
		pix[i] = byte(min(max(x, 0), 255))
	}
}

// poseBox is a figure's bounding box in pixels (for overlay detection boxes).
func poseBox(c camera, b *body, p pose) [4]float64 {
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, j := range []vec{p.Head, p.HandL, p.HandR, p.ToeL, p.ToeR, p.AnkleL, p.AnkleR, p.ElbowL, p.ElbowR, p.KneeL, p.KneeR} {
		x, y := c.px(j)
		x0, x1, y0, y1 = math.Min(x0, x), math.Max(x1, x), math.Min(y0, y), math.Max(y1, y)
	}
	pad := b.Head * c.Scale * 1.2
	return [4]float64{x0 - pad, y0 - pad, x1 + pad, y1 + pad}
}

// renderResult is what rendering learned about a file.
type renderResult struct {
	FramesSHA256 string
	Thumbs       []image.Image
}

// thumbIndices picks evenly spaced frames for the contact sheet.
func thumbIndices(frames, n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = int(float64(i) * float64(frames-1) / float64(max(n-1, 1)))
	}
	return idx
}

// render streams every frame of v to ffmpeg at path.
func render(ctx context.Context, v *videoSpec, path string, thumbs int) (renderResult, error) {
	enc, err := media.NewEncoder(ctx, path, media.EncodeOptions{
		Width: v.Width, Height: v.Height, FPS: v.FPS, Codec: v.Codec, CRF: v.CRF,
		FastStart: v.FastStart, Threads: 1,
	})
	if err != nil {
		return renderResult{}, err
	}
	res, err := renderFrames(ctx, v, thumbs, enc.WriteFrame)
	if err != nil {
		enc.Abort()
		return res, err
	}
	if err := enc.Close(); err != nil {
		return res, err
	}
	return res, nil
}

// renderFrames renders all frames, hashing them and handing each to sink.
func renderFrames(ctx context.Context, v *videoSpec, thumbs int, sink func([]byte) error) (renderResult, error) {
	rd := newRenderer(v)
	h := sha256.New()
	want := map[int]bool{}
	for _, i := range thumbIndices(v.Frames, thumbs) {
		want[i] = true
	}
	var res renderResult
	for i := 0; i < v.Frames; i++ {
		if i%16 == 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
		pix := rd.frame(v.Skip + i)
		h.Write(pix)
		if want[i] {
			res.Thumbs = append(res.Thumbs, thumbnail(rd.cv.toImage(), 160, 90))
		}
		if err := sink(pix); err != nil {
			return res, fmt.Errorf("frame %d: %w", i, err)
		}
	}
	res.FramesSHA256 = hex.EncodeToString(h.Sum(nil))
	return res, nil
}

// shotsFromCuts turns cut frame indices into shot ranges.
func cutFrames(v *videoSpec) []int {
	var cuts []int
	for _, s := range v.Shots[1:] {
		cuts = append(cuts, s.Start)
	}
	sort.Ints(cuts)
	return cuts
}

func shotsToSchema(v *videoSpec) []schemas.Shot {
	out := make([]schemas.Shot, len(v.Shots))
	for i, s := range v.Shots {
		out[i] = schemas.Shot{Start: s.Start, End: s.End, Action: s.Action, People: s.People, Scene: s.Scene}
	}
	return out
}
