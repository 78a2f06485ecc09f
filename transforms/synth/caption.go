package synth

import (
	"fmt"
	"strings"

	"realdpo/schemas"
)

var sceneWords = map[string][]string{
	scenePark:    {"in a sunny park", "on a park path lined with trees", "outdoors on a green lawn"},
	sceneRoom:    {"in a bright living room", "in a room with wooden floors", "at home"},
	sceneKitchen: {"in a kitchen", "in a tiled kitchen", "at home in the kitchen"},
	sceneGym:     {"in a gym", "in a fitness studio", "in a workout room"},
	sceneStudio:  {"against a plain studio backdrop", "in a photo studio", "on a seamless backdrop"},
}

var actionSentences = map[string][]string{
	"walking":       {"walks steadily across the frame, arms swinging naturally opposite the legs", "strolls at an easy pace, each heel striking the ground before the toes push off"},
	"running":       {"runs past at a brisk pace, knees driving forward and both feet leaving the ground between strides", "jogs across the scene with bent elbows pumping in rhythm with the stride"},
	"squats":        {"performs bodyweight squats, lowering the hips back and down and rising again with the arms held forward for balance", "does slow, controlled squats, knees tracking over the feet"},
	"jumping_jacks": {"does jumping jacks, hopping the feet apart while the arms sweep overhead, then back together", "performs a set of jumping jacks at a steady rhythm, landing softly each time"},
	"waving":        {"raises one arm and waves, the forearm swinging side to side, then lowers it again", "waves at the camera with a friendly gesture before letting the arm drop"},
	"drinking":      {"lifts a cup to the lips, tilts the head back slightly to take a sip, and lowers the cup again", "takes slow sips from a mug held in one hand"},
	"eating":        {"sits at a table and brings food from the plate to the mouth, chews, and reaches for more", "eats a meal at a small table, lifting bites from the plate"},
	"cleaning":      {"leans over a table and wipes its surface back and forth with a cloth", "cleans a tabletop with a cloth using long, even strokes"},
	"yoga":          {"moves through a yoga sequence: standing tall, raising the arms, balancing in tree pose and stepping wide into warrior two", "practises yoga poses with slow, controlled transitions and steady balance"},
	"hugging":       {"walk toward each other, slow down, and wrap their arms around one another in a warm hug", "meet in the middle of the frame and embrace, swaying gently"},
	"cooking":       {"stands at a kitchen counter stirring a pot with a wooden spoon in slow circles", "cooks at the counter, steadying the pot with one hand while stirring with the other"},
}

var cameraWords = map[string]string{
	camStatic:   "The camera is fixed on a tripod.",
	camPan:      "The camera pans slowly to one side.",
	camZoom:     "The camera slowly zooms.",
	camHandheld: "The camera is hand-held with a slight natural sway.",
	camShaky:    "The hand-held camera shakes strongly.",
}

var offTopic = []struct{ title, desc string }{
	{"City skyline timelapse at dusk", "A timelapse of a city skyline as the sky darkens and office windows light up one by one."},
	{"Downtown towers at sunset", "Tall buildings against an orange sky; lights come on across the skyline."},
}

func personNoun(b *body, r *rng) string {
	return pick(r, []string{"a person", "a young adult", "a man", "a woman", "an adult"})
}

// describe writes a file's title, tags and a caption in the style of
// RealAction's (a paragraph of 45-185 words, usually 60-120).
func describe(it *item, r *rng) {
	v := &it.spec
	s := v.Shots[0]
	if s.Action == "" {
		o := pick(r, offTopic)
		it.title = o.title
		it.tags = []string{"city", "skyline", "timelapse", "architecture", "dusk", "buildings"}
		it.caption = o.desc + " The camera is fixed. No people are visible; small car lights move along a street at the bottom of the frame while the colours of the sky shift from blue and orange to deep purple over the course of the clip."
		return
	}
	act := actionByName(s.Action)
	sr := newRNG(s.Seed, "shot")
	_ = sr
	who := personNoun(nil, r)
	if s.People == 2 {
		who = pick(r, []string{"two friends", "two people", "a couple"})
	} else if s.People >= 3 {
		who = pick(r, []string{"a small group of people", "three people", "friends"})
	}
	place := pick(r, sceneWords[s.Scene])
	it.title = fmt.Sprintf("%s %s %s", strings.ToUpper(who[:1])+who[1:], act.Verb, place)
	it.tags = []string{s.Action, act.Category, "people", s.Scene, "lifestyle"}
	switch s.Action {
	case "squats", "jumping_jacks":
		it.tags = append(it.tags, "workout", "exercise", "fitness")
	case "walking", "running":
		it.tags = append(it.tags, "outdoor", "exercise")
	case "hugging":
		it.tags = append(it.tags, "hug", "friendship", "embrace")
	case "cleaning":
		it.tags = append(it.tags, "housework", "cleaning", "household")
	case "cooking":
		it.tags = append(it.tags, "kitchen", "food", "cooking")
	}
	// Describe the people as rendered: the bodies come from the shot's seed.
	bodies := bodiesOf(s)
	var look []string
	for _, b := range bodies {
		sleeve := "short-sleeved"
		if b.LongSleeves {
			sleeve = "long-sleeved"
		}
		look = append(look, fmt.Sprintf("a %s %s shirt and %s", sleeve, b.ShirtName, b.PantsName))
	}
	var sb strings.Builder
	subject := who
	if s.People == 1 {
		fmt.Fprintf(&sb, "The video shows %s %s, wearing %s. ", who, place, look[0])
		subject = "The " + strings.TrimPrefix(strings.TrimPrefix(who, "a "), "an ")
	} else {
		fmt.Fprintf(&sb, "The video shows %s %s. One wears %s; another wears %s. ", who, place, look[0], look[1])
		subject = "They"
	}
	verb := pick(r, actionSentences[s.Action])
	fmt.Fprintf(&sb, "%s %s. ", subject, verb)
	fmt.Fprintf(&sb, "%s ", cameraWords[s.Camera])
	fmt.Fprintf(&sb, "The lighting is %s and the background stays %s, so the movement of the %s is easy to follow from the first frame to the last. ",
		pick(r, []string{"soft and even", "natural", "warm", "bright"}),
		pick(r, []string{"simple", "uncluttered", "calm"}),
		pick(r, []string{"body", "arms and legs", "figure"}))
	fmt.Fprintf(&sb, "The motion is smooth and continuous, and the %s keeps a natural rhythm throughout the clip.", pick(r, []string{"action", "movement", "activity"}))
	it.caption = sb.String()
	if it.defect == schemas.DefectOverlay {
		it.tags = append(it.tags, "news", "viral")
	}
}

// bodiesOf recreates a shot's people exactly as newShot draws them.
func bodiesOf(s shotSpec) []*body {
	r := newRNG(s.Seed, "bodies")
	out := make([]*body, max(s.People, 1))
	for i := range out {
		out[i] = newBody(r)
	}
	return out
}
