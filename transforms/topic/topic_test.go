package topic

import (
	"strings"
	"testing"

	"realdpo/schemas"
)

func TestDefaultTopicsParse(t *testing.T) {
	tl := Default()
	want := []string{schemas.CategoryCooking, schemas.CategoryInstrument, schemas.CategoryBicycle, schemas.CategoryEating,
		schemas.CategoryFitness, schemas.CategoryYoga, schemas.CategoryHug, schemas.CategoryRunning, schemas.CategoryPet,
		schemas.CategoryWalking, schemas.CategoryDrinking, schemas.CategoryCleaning, schemas.CategoryParentChild, schemas.CategoryOthers}
	have := map[string]bool{}
	for _, tp := range tl.Topics {
		have[tp.Category] = true
	}
	for _, c := range want {
		if !have[c] {
			t.Errorf("embedded topics lack %q", c)
		}
	}
	if len(tl.Exclude) == 0 {
		t.Error("no exclude phrases")
	}
}

func TestClassify(t *testing.T) {
	tl := Default()
	cases := []struct {
		name string
		text Text
		want string // "" = off-topic
	}{
		{"synth cooking", Text{Title: "A woman stirring a pot in a kitchen", Tags: []string{"cooking", "cooking", "people", "kitchen"}}, schemas.CategoryCooking},
		{"running beats exercise", Text{Title: "A man running on a park path", Tags: []string{"running", "running", "people", "park", "outdoor", "exercise"}}, schemas.CategoryRunning},
		{"pizza caption only", Text{Caption: "The individual is holding a slice of pizza, which they appear to be eating."}, schemas.CategoryEating},
		{"arm wrestling", Text{Title: "Two friends arm wrestling at a cafeteria table", Tags: []string{"arm wrestling", "friends"}}, schemas.CategoryFitness},
		{"person only", Text{Title: "Woman applying eye makeup in her room", Tags: []string{"makeup", "beauty"}}, schemas.CategoryOthers},
		{"household cleaning tag", Text{Tags: []string{"cleaning", "household cleaning", "housework"}}, schemas.CategoryCleaning},
		{"skyline timelapse", Text{Title: "City skyline timelapse at dusk", Tags: []string{"city", "skyline", "timelapse"}}, ""},
		{"no people caption", Text{Title: "Downtown towers at sunset", Caption: "Tall buildings. No people are visible."}, ""},
		{"nothing known", Text{Title: "IMG_2041", Tags: []string{"clip"}}, ""},
		{"no text", Text{}, ""},
		{"plural", Text{Title: "Dogs in the yard"}, schemas.CategoryPet},
	}
	for _, c := range cases {
		m := Classify(tl, c.text, false)
		if got := m.Category; got != c.want || m.OnTopic != (c.want != "") {
			t.Errorf("%s: category %q on-topic %v (%s), want %q", c.name, got, m.OnTopic, m.Detail, c.want)
		}
		if m.Detail == "" {
			t.Errorf("%s: no detail", c.name)
		}
	}
	if m := Classify(tl, Text{}, true); !m.OnTopic || m.Category != schemas.CategoryOthers {
		t.Errorf("keep untagged: %+v", m)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"cooking\n", "[cooking]\n", "[a]\nx\n[a]\ny\n", "[a\nx\n", "# only comments\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	tl, err := Parse([]byte("# mine\n[Skating]\nskateboard, Roller_Skates\n[exclude]\nvlog\n"))
	if err != nil || len(tl.Topics) != 1 || tl.Topics[0].Category != "skating" || tl.Topics[0].Keywords[1] != "roller skates" || tl.Exclude[0] != "vlog" {
		t.Fatalf("Parse: %+v %v", tl, err)
	}
	if m := Classify(tl, Text{Title: "Kid on a skateboard"}, false); m.Category != "skating" {
		t.Errorf("user topics: %+v", m)
	}
	if !strings.Contains(DefaultText(), "[exclude]") {
		t.Error("DefaultText")
	}
}

func TestParseYesNo(t *testing.T) {
	for in, want := range map[string]string{"Yes. A man is cooking.": "yes", "no, it is a slideshow": "no", "**Yes**": "yes", "It depends": "unclear", "": "unclear"} {
		if got := ParseYesNo(in); got != want {
			t.Errorf("ParseYesNo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExcludedScreensTitleAndTags: exclusion phrases in the title or tags
// are found (the early screen relies on them being final), and Classify
// agrees with the screen whenever it fires, whatever the caption says.
func TestExcludedScreensTitleAndTags(t *testing.T) {
	tl := Default()
	cases := []struct {
		title string
		tags  []string
		want  []string
	}{
		{"City skyline timelapse at dusk", []string{"city", "time-lapse"}, []string{"tags:time-lapse", "title:timelapse"}},
		{"A woman cooking pasta", []string{"cooking", "kitchen"}, nil},
		{"", []string{"Drone shot", "beach"}, []string{"tags:drone shot"}},
		{"", nil, nil},
	}
	for _, c := range cases {
		got := Excluded(tl, c.title, c.tags)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("Excluded(%q, %q) = %q, want %q", c.title, c.tags, got, c.want)
		}
		m := Classify(tl, Text{Title: c.title, Tags: c.tags, Caption: "A man is cooking dinner in a kitchen."}, true)
		if len(got) > 0 && (m.OnTopic || !strings.HasPrefix(m.Detail, "excluded")) {
			t.Errorf("%q: screen excluded it but Classify says %+v", c.title, m)
		}
	}
}
