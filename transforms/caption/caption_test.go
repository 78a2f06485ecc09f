package caption

import (
	"context"
	"errors"
	"strings"
	"testing"

	"realdpo/schemas"
)

func TestSidecarAndTemplate(t *testing.T) {
	ctx := context.Background()
	c, err := Sidecar{}.Caption(ctx, Clip{SidecarCaption: "A person stirs a pot.", SidecarSource: "txt", Title: "Cook"})
	if err != nil || c.Text != "A person stirs a pot." || c.Source != "txt" {
		t.Errorf("txt: %+v %v", c, err)
	}
	c, err = Sidecar{}.Caption(ctx, Clip{SidecarCaption: "Cook at work", SidecarSource: "title", Title: "Cook at work", Tags: []string{"cooking", "kitchen"}})
	if err != nil || c.Text != "Cook at work. Tags: cooking, kitchen." || c.Source != "title+tags" {
		t.Errorf("title+tags: %+v %v", c, err)
	}
	if _, err := (Sidecar{}).Caption(ctx, Clip{}); !errors.Is(err, ErrNothing) {
		t.Errorf("no sidecar: %v, want ErrNothing", err)
	}
	ch := Chain{Sidecar{}, Template{}}
	c, err = ch.Caption(ctx, Clip{Category: schemas.CategoryYoga, DurationS: 2.125, FPS: 8, SubjectMotion: 3, LumaMean: 120})
	if err != nil || c.Captioner != schemas.CaptionerTemplate || !strings.Contains(c.Text, "practising yoga") || !strings.Contains(c.Text, "2.1-second") {
		t.Errorf("fallback to template: %+v %v", c, err)
	}
	if k, d := Check(c, Gates{MinWords: 5, MaxWords: 185, MaxRepeatShare: 0.3}); k != "" {
		t.Errorf("template caption gated: %s %s", k, d)
	}
	if _, err := (Chain{Sidecar{}}).Caption(ctx, Clip{}); !errors.Is(err, ErrNothing) {
		t.Errorf("chain without fallback: %v", err)
	}
}

func TestGates(t *testing.T) {
	g := Gates{MinWords: 45, MaxWords: 185, MaxRepeatShare: 0.3}
	long := strings.Repeat("The woman lifts the cup slowly and sips while sunlight moves across the table behind her. ", 1)
	prose := long + "She sets it down, smiles at someone outside the frame, then picks up a spoon and stirs in a little sugar. " +
		"The kitchen is bright, with white cabinets, a window over the sink and a plant on the sill; the camera does not move."
	cases := []struct {
		c    Caption
		want string
	}{
		{Caption{Text: "   "}, GateEmpty},
		{Caption{Text: "A cup."}, GateTooShort},
		{Caption{Text: strings.Repeat("word ", 200)}, GateTooLong},
		{Caption{Text: "I'm sorry, but I cannot describe this video. " + prose}, GateRefusal},
		{Caption{Text: "I cannot view videos."}, GateRefusal},
		{Caption{Text: prose, Finish: "length"}, GateTruncated},
		{Caption{Text: strings.Repeat("the man is walking and ", 12)}, GateRepetitive},
		{Caption{Text: prose, Finish: "stop"}, ""},
	}
	for _, c := range cases {
		if k, d := Check(c.c, g); k != c.want {
			t.Errorf("%q: gate %q (%s), want %q", c.c.Text[:min(40, len(c.c.Text))], k, d, c.want)
		}
	}
	if lo, hi := (schemas.ReviewConfig{Captioner: schemas.CaptionerVLM}).CaptionBounds(); lo != 45 || hi != 185 {
		t.Errorf("vlm bounds %d..%d, want the paper's 45..185", lo, hi)
	}
}
