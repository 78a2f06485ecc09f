package curate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"realdpo/schemas"
	"realdpo/transforms/caption"
	"realdpo/transforms/curation"
	"realdpo/transforms/stage"
	"realdpo/transforms/topic"
)

// laterDecision is what the caption and topic stages decide for a clip of
// src under r, run as the pipeline runs them (captioners without a model
// only): "accept", or stage/reason/check of the reject.
func laterDecision(t *testing.T, r schemas.ReviewConfig, src schemas.SourceFile) string {
	t.Helper()
	if r.Fallback == schemas.CaptionerVLM {
		r.Fallback = "none" // only reached here when it is never used (a template captioner)
	}
	cp, err := caption.New(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cp.Caption(context.Background(), caption.Clip{Title: src.Title, Tags: src.Tags, SidecarCaption: src.Caption,
		SidecarSource: src.CaptionSource, Category: stage.CategoryFromTags(src.Tags, src.Title), DurationS: 2.125, FPS: 8,
		Width: 96, Height: 64, SubjectMotion: 3, LumaMean: 120})
	if errors.Is(err, caption.ErrNothing) {
		return "caption/caption/caption_" + caption.GateEmpty
	} else if err != nil {
		t.Fatal(err)
	}
	if kind, _ := caption.Check(c, caption.GatesFrom(r)); kind != "" {
		return "caption/caption/caption_" + kind
	}
	text := topic.Text{Title: src.Title, Tags: src.Tags, Caption: c.Text}
	if c.Source == "template" {
		text.Caption = ""
	}
	m := topic.Classify(r.Topics, text, r.KeepUntagged)
	switch {
	case m.OnTopic:
		return "accept"
	case strings.HasPrefix(m.Detail, "no title"):
		return "topic/off_topic/topic_no_text"
	}
	return "topic/off_topic/other"
}

// TestScreenUntaggedAgreesWithTheStages checks the screen before probing
// against the caption and topic stages it stands in for, over captioner,
// fallback, judge and --keep_untagged settings and sources with and
// without each kind of text: whenever it rejects, the stages reject the
// same way, and whenever the stages would reject for want of any text, it
// rejects (only a model's caption or verdict could still keep the source).
func TestScreenUntaggedAgreesWithTheStages(t *testing.T) {
	sources := map[string]schemas.SourceFile{
		"nothing":      {},
		"title":        {Title: "A woman jogging in a park", Caption: "A woman jogging in a park", CaptionSource: "title"},
		"tags":         {Tags: []string{"running", "park"}},
		"txt":          {Caption: "A man is cooking dinner in a bright kitchen at home.", CaptionSource: "txt"},
		"punctuation":  {Title: "!!!", Caption: "!!!", CaptionSource: "title"},
		"description":  {Caption: "Two friends hug at a station.", CaptionSource: "description"},
		"offtopic_tag": {Tags: []string{"sunset", "beach"}},
	}
	screened := 0
	for _, captioner := range []string{schemas.CaptionerSidecar, schemas.CaptionerTemplate, schemas.CaptionerVLM} {
		for _, fallback := range []string{schemas.CaptionerTemplate, "none", "", schemas.CaptionerSidecar, schemas.CaptionerVLM} {
			for _, judge := range []string{"", schemas.CaptionerVLM} {
				for _, keep := range []bool{false, true} {
					r := stage.DefaultReviewConfig()
					r.Topics = topic.Default()
					r.Captioner, r.Fallback, r.Judge, r.KeepUntagged = captioner, fallback, judge, keep
					// A model's caption is text to match (a template captioner
					// never falls back); a judge decides on clips with none,
					// after the caption stage.
					captionModel := captioner == schemas.CaptionerVLM || (captioner == schemas.CaptionerSidecar && fallback == schemas.CaptionerVLM)
					for name, src := range sources {
						cfgName := fmt.Sprintf("captioner=%s fallback=%q judge=%q keep=%v source=%s", captioner, fallback, judge, keep, name)
						rej, check := curation.ScreenUntagged(r, src)
						if captionModel {
							if rej != nil {
								t.Errorf("%s: screened (%v) although a model could still caption it", cfgName, rej)
							}
							continue
						}
						later := laterDecision(t, r, src)
						if judge == schemas.CaptionerVLM && later == "topic/off_topic/topic_no_text" {
							later = "judge decides"
						}
						if rej != nil {
							screened++
							if got := rej.Stage + "/" + rej.Reason + "/" + check; got != later {
								t.Errorf("%s: screen says %s, the stages %s", cfgName, got, later)
							}
						} else if later == "topic/off_topic/topic_no_text" || later == "caption/caption/caption_empty" {
							t.Errorf("%s: not screened, but the stages end in %s", cfgName, later)
						}
					}
				}
			}
		}
	}
	if screened == 0 {
		t.Fatal("the screen never fired")
	}
}
