package synth

import (
	"fmt"
	"image"
	"strings"
)

// overlay is burned-in graphics: a caption bar, a channel logo, a running
// timestamp and, sometimes, detection boxes around people, as found in news
// re-uploads, vlogs and annotated CCTV: footage a curated set must not keep.
type overlay struct {
	caption    *image.Alpha
	logo       *image.Alpha
	capX, capY int
	barH       int
	logoX      int
	scale      int
	stamp      bool
	boxes      bool
	stampBase  int
	capColour  rgb
	logoColour rgb
}

var overlayCaptions = []string{"BREAKING NEWS", "SUBSCRIBE FOR MORE", "WATCH TILL THE END", "LIVE", "DAY 12 CHALLENGE", "FOLLOW @DAILYMOVES"}

func newOverlay(r *rng, w, h int) *overlay {
	scale := max(1, h/120)
	o := &overlay{scale: scale, stamp: r.chance(0.6), boxes: r.chance(0.4), stampBase: r.IntN(86400)}
	o.caption = textMask(pick(r, overlayCaptions), scale+1)
	o.logo = textMask(pick(r, []string{"TV4", "HDNEWS", "VLOG", "CAM 3", "FITLIFE"}), scale)
	o.barH = o.caption.Rect.Dy() + 6*scale
	o.capX = max(4, (w-o.caption.Rect.Dx())/2)
	o.capY = h - o.barH - 4*scale
	o.logoX = w - o.logo.Rect.Dx() - 8*scale
	o.capColour = pick(r, []rgb{{255, 255, 255}, {255, 230, 0}})
	o.logoColour = rgb{255, 255, 255}
	return o
}

func (o *overlay) draw(cv *canvas, frame int, fps float64, people [][4]float64) {
	s := float64(o.scale)
	cv.box(0, float64(o.capY-3*o.scale), float64(cv.W), float64(o.capY+o.barH-3*o.scale), 0, rgb{180, 20, 30}, 0.85)
	cv.stamp(o.caption, o.capX, o.capY, o.capColour, 1)
	cv.box(float64(o.logoX)-4*s, 4*s, float64(cv.W)-4*s, float64(o.logo.Rect.Dy())+10*s, 3*s, rgb{20, 60, 160}, 0.8)
	cv.stamp(o.logo, o.logoX, int(7*s), o.logoColour, 1)
	if o.stamp {
		sec := o.stampBase + int(float64(frame)/fps)
		ts := fmt.Sprintf("2021-06-14 %02d:%02d:%02d", sec/3600%24, sec/60%60, sec%60)
		cv.stamp(textMask(ts, o.scale), int(6*s), int(6*s), rgb{255, 255, 255}, 1)
	}
	if o.boxes {
		for i, b := range people {
			cv.rectOutline(b[0], b[1], b[2], b[3], 2*s, rgb{40, 230, 60})
			lbl := textMask(strings.ToLower(fmt.Sprintf("person %d", i+1)), o.scale)
			cv.stamp(lbl, int(b[0]), int(b[1])-lbl.Rect.Dy()-2, rgb{40, 230, 60}, 1)
		}
	}
}
