// Package caption captions clips: from a vision-language model over an
// OpenAI-compatible endpoint (vlm), from the source's sidecars (sidecar),
// or from the category and measured facts (template); and gates captions
// that are empty, too short or long, refusals, truncated or repetitive.
package caption

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"realdpo/schemas"
	"realdpo/transforms/vlm"
)

// Clip is what a captioner may look at.
type Clip struct {
	Title          string
	Tags           []string
	SidecarCaption string
	SidecarSource  string // txt, description or title (stage.ApplySidecars)
	Category       string // from tags, may be ""
	DurationS, FPS float64
	Width, Height  int
	SubjectMotion  float64 // percent of frame width per second
	CameraMotion   float64
	LumaMean       float64
	Frames         [][]byte // JPEG keyframes, for vlm
}

// Caption is a captioner's output and how it was made.
type Caption struct {
	Text      string
	Source    string // txt, description, title+tags, template, vlm
	Captioner string
	Model     string
	Prompt    string
	// Finish is the model's finish reason ("length" means cut off).
	Finish string
}

// ErrNothing says a captioner has nothing to caption from (no sidecar
// text); a fallback captioner may take over.
var ErrNothing = errors.New("caption: nothing to caption from")

// Captioner captions one clip.
type Captioner interface {
	Name() string
	Caption(ctx context.Context, c Clip) (Caption, error)
}

// Sidecar takes NAME.txt (or the JSON description), else builds a caption
// from the sidecar title and tags.
type Sidecar struct{}

// Name implements Captioner.
func (Sidecar) Name() string { return schemas.CaptionerSidecar }

// Caption implements Captioner.
func (Sidecar) Caption(_ context.Context, c Clip) (Caption, error) {
	out := Caption{Captioner: schemas.CaptionerSidecar}
	switch {
	case c.SidecarCaption != "" && c.SidecarSource != "title":
		out.Text, out.Source = c.SidecarCaption, c.SidecarSource
	case c.Title != "" || len(c.Tags) > 0:
		var b strings.Builder
		if c.Title != "" {
			b.WriteString(strings.TrimRight(c.Title, ".!? "))
			b.WriteString(".")
		}
		if len(c.Tags) > 0 {
			if b.Len() > 0 {
				b.WriteString(" ")
			}
			b.WriteString("Tags: " + strings.Join(c.Tags, ", ") + ".")
		}
		out.Text, out.Source = b.String(), "title+tags"
	default:
		return out, ErrNothing
	}
	return out, nil
}

// Template writes a plain caption from the category and measured facts,
// for the demo and for footage without text.
type Template struct{}

// Name implements Captioner.
func (Template) Name() string { return schemas.CaptionerTemplate }

var categoryPhrase = map[string]string{
	schemas.CategoryCooking: "cooking", schemas.CategoryInstrument: "playing a musical instrument",
	schemas.CategoryBicycle: "riding a bicycle", schemas.CategoryEating: "eating a meal",
	schemas.CategoryFitness: "exercising", schemas.CategoryYoga: "practising yoga",
	schemas.CategoryHug: "hugging", schemas.CategoryRunning: "running",
	schemas.CategoryPet: "playing with a pet", schemas.CategoryWalking: "walking",
	schemas.CategoryDrinking: "drinking", schemas.CategoryCleaning: "cleaning at home",
	schemas.CategoryParentChild: "spending time with a child",
}

// Caption implements Captioner.
func (Template) Caption(_ context.Context, c Clip) (Caption, error) {
	act := categoryPhrase[c.Category]
	if act == "" {
		act = "doing an everyday activity"
	}
	motion := level(c.SubjectMotion, 2, 8, "moves a little", "moves steadily", "moves quickly")
	camera := level(c.CameraMotion, 2, 8, "The camera is steady.", "The camera moves slowly.", "The camera moves noticeably.")
	light := "evenly lit"
	switch {
	case c.LumaMean < 70:
		light = "dimly lit"
	case c.LumaMean > 170:
		light = "brightly lit"
	}
	text := fmt.Sprintf("A video of a person %s. The subject %s through the %.1f-second clip, filmed at %g frames per second. %s The scene is %s.",
		act, motion, c.DurationS, c.FPS, camera, light)
	if c.Title != "" {
		text += " Title: " + strings.TrimRight(c.Title, ".!? ") + "."
	}
	return Caption{Text: text, Source: "template", Captioner: schemas.CaptionerTemplate}, nil
}

// level words x: low up to lo, mid up to hi, high above.
func level(x, lo, hi float64, low, mid, high string) string {
	switch {
	case x > hi:
		return high
	case x > lo:
		return mid
	}
	return low
}

// VLM asks a vision-language model to describe the keyframes.
type VLM struct {
	Client *vlm.Client
	Model  string
	Prompt string
}

// Name implements Captioner.
func (VLM) Name() string { return schemas.CaptionerVLM }

// Caption implements Captioner.
func (v VLM) Caption(ctx context.Context, c Clip) (Caption, error) {
	if len(c.Frames) == 0 {
		return Caption{}, fmt.Errorf("caption: vlm: the clip has no keyframes")
	}
	ans, err := v.Client.Ask(ctx, v.Prompt, c.Frames)
	out := Caption{Captioner: schemas.CaptionerVLM, Model: v.Model, Prompt: v.Prompt, Source: "vlm"}
	if err != nil {
		return out, err
	}
	if ans.Model != "" {
		out.Model = ans.Model
	}
	out.Text, out.Finish = cleanText(ans.Text), ans.FinishReason
	return out, nil
}

func cleanText(s string) string { return strings.Join(strings.Fields(s), " ") }

// Chain tries its captioners in order while they have nothing.
type Chain []Captioner

// Name implements Captioner.
func (ch Chain) Name() string { return ch[0].Name() }

// Caption implements Captioner.
func (ch Chain) Caption(ctx context.Context, c Clip) (Caption, error) {
	var err error
	for _, cp := range ch {
		var out Caption
		if out, err = cp.Caption(ctx, c); !errors.Is(err, ErrNothing) {
			return out, err
		}
	}
	return Caption{Captioner: ch[0].Name()}, err
}

// New builds the configured captioner (with its fallback). A vlm client
// is made only when the captioner needs one.
func New(ctx context.Context, r schemas.ReviewConfig) (Captioner, error) {
	pick := func(name string) (Captioner, error) {
		switch name {
		case schemas.CaptionerSidecar:
			return Sidecar{}, nil
		case schemas.CaptionerTemplate:
			return Template{}, nil
		case schemas.CaptionerVLM:
			c, err := vlm.Shared(ctx, r.VLM)
			if err != nil {
				return nil, err
			}
			return VLM{Client: c, Model: r.VLM.Model, Prompt: r.VLM.Prompt}, nil
		}
		return nil, fmt.Errorf("caption: unknown captioner %q (vlm, sidecar or template)", name)
	}
	first, err := pick(r.Captioner)
	if err != nil {
		return nil, err
	}
	if r.Fallback == "" || r.Fallback == "none" || r.Fallback == r.Captioner {
		return Chain{first}, nil
	}
	second, err := pick(r.Fallback)
	if err != nil {
		return nil, err
	}
	return Chain{first, second}, nil
}

// Gates are the caption quality checks.
type Gates struct {
	MinWords, MaxWords int
	MaxRepeatShare     float64
}

// GatesFrom takes the gates of a review configuration.
func GatesFrom(r schemas.ReviewConfig) Gates {
	lo, hi := r.CaptionBounds()
	return Gates{MinWords: lo, MaxWords: hi, MaxRepeatShare: r.MaxRepeatShare}
}

// Gate kinds, recorded as "caption_KIND" in a reject's failed checks.
const (
	GateEmpty      = "empty"
	GateTooShort   = "too_short"
	GateTooLong    = "too_long"
	GateRefusal    = "refusal"
	GateRepetitive = "repetitive"
	GateTruncated  = "truncated"
)

var refusals = []string{
	"i cannot", "i can't", "i can not", "i'm sorry", "i am sorry", "sorry, i", "i'm unable", "i am unable",
	"i'm not able", "i am not able", "as an ai", "i apologize", "i don't see any video", "unable to view",
	"i'm not sure what", "cannot assist", "can't assist", "can't help with",
}

// Check returns the first failing gate and why, or "" when the caption passes.
func Check(c Caption, g Gates) (kind, detail string) {
	words := strings.Fields(c.Text)
	n := len(words)
	lower := strings.ToLower(c.Text)
	head := lower[:min(len(lower), 120)]
	switch {
	case n == 0:
		return GateEmpty, "empty caption"
	case hasAny(head, refusals):
		return GateRefusal, fmt.Sprintf("reads as a refusal: %q", trunc(c.Text, 80))
	case c.Finish == "length":
		return GateTruncated, fmt.Sprintf("the model hit its token limit after %d words", n)
	case n < g.MinWords:
		return GateTooShort, fmt.Sprintf("%d words < %d", n, g.MinWords)
	case g.MaxWords > 0 && n > g.MaxWords:
		return GateTooLong, fmt.Sprintf("%d words > %d", n, g.MaxWords)
	}
	if share := RepeatShare(words); g.MaxRepeatShare > 0 && share > g.MaxRepeatShare {
		return GateRepetitive, fmt.Sprintf("%.0f%% of its word 3-grams repeat (max %.0f%%)", 100*share, 100*g.MaxRepeatShare)
	}
	return "", ""
}

// RepeatShare is the share of word 3-grams that repeat an earlier one: 0
// for ordinary prose, near 1 for a model stuck in a loop. Captions under
// 12 words are too short to judge and score 0.
func RepeatShare(words []string) float64 {
	if len(words) < 12 {
		return 0
	}
	seen := map[string]bool{}
	rep := 0
	for i := 0; i+3 <= len(words); i++ {
		k := strings.ToLower(strings.Trim(words[i]+" "+words[i+1]+" "+words[i+2], ".,;:!?\"'"))
		if seen[k] {
			rep++
		}
		seen[k] = true
	}
	return float64(rep) / float64(len(words)-2)
}

func hasAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Words counts a caption's words.
func Words(s string) int { return len(strings.Fields(s)) }
