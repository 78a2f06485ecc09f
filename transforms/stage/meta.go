package stage

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"realdpo/schemas"
)

// MaxSidecarBytes caps what is read of a NAME.json or NAME.txt sidecar.
const MaxSidecarBytes = 1 << 20

// SidecarKind says whether a file name is a sidecar (json or txt) and
// returns the stem it belongs to (the path without its extension).
func SidecarKind(p string) (kind, stem string) {
	ext := strings.ToLower(path.Ext(p))
	switch ext {
	case ".json", ".txt":
		return ext[1:], strings.TrimSuffix(p, path.Ext(p))
	}
	return "", ""
}

// IsMetadata reports files that sit beside footage but are never inputs:
// ground truth, notes, subtitles. They are neither videos nor rejects.
func IsMetadata(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".jsonl", ".md", ".csv", ".tsv", ".yaml", ".yml", ".srt", ".vtt":
		return true
	}
	return false
}

// Stem is a video's path without its extension: NAME.mp4 pairs with NAME.json.
func Stem(p string) string {
	base := path.Base(p)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		return strings.TrimSuffix(p, base[i:])
	}
	return p
}

// ApplySidecars fills a source's title, tags, caption and category from the
// contents of its sidecars (nil when absent). A malformed sidecar is noted,
// never fatal.
func ApplySidecars(src *schemas.SourceFile, jsonData, txtData []byte) {
	var errs []string
	var sc schemas.Sidecar
	if jsonData != nil {
		if err := json.Unmarshal(jsonData, &sc); err != nil {
			errs = append(errs, fmt.Sprintf("json sidecar: %v", err))
		} else {
			src.Title = cleanText(sc.Title)
			for _, t := range sc.Tags {
				if t = cleanText(t); t != "" {
					src.Tags = append(src.Tags, t)
				}
			}
		}
	}
	if txtData != nil {
		if !utf8.Valid(txtData) {
			errs = append(errs, "txt sidecar is not UTF-8")
		} else if c := cleanText(string(txtData)); c != "" {
			src.Caption, src.CaptionSource = c, "txt"
		}
	}
	if src.Caption == "" {
		if d := cleanText(sc.Description); d != "" {
			src.Caption, src.CaptionSource = d, "description"
		} else if src.Title != "" {
			src.Caption, src.CaptionSource = src.Title, "title"
		}
	}
	src.Category = CategoryFromTags(src.Tags, src.Title)
	src.SidecarError = strings.Join(errs, "; ")
}

var spaces = regexp.MustCompile(`\s+`)

// cleanText makes sidecar text safe to record: valid UTF-8, no control
// characters (NUL, ESC, BEL, DEL, C1) or invisible and direction-changing
// format characters (U+200B-U+200F, U+202A-U+202E, U+2066-U+2069, U+FEFF),
// whitespace folded to single spaces.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
			return ' '
		case unicode.IsControl(r), r == 0xFEFF, r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	return strings.TrimSpace(spaces.ReplaceAllString(s, " "))
}

// categoryWords maps words found in tags (then the title) to RealAction
// categories, most specific first.
var categoryWords = []struct {
	category string
	words    []string
}{
	{schemas.CategoryParentChild, []string{"parent-child", "parent", "child", "children", "kid", "kids", "baby", "toddler", "father", "mother", "dad", "mom", "family"}},
	{schemas.CategoryCleaning, []string{"household cleaning", "cleaning", "vacuum", "vacuuming", "mop", "mopping", "sweep", "sweeping", "dusting", "wiping", "laundry", "dishes"}},
	{schemas.CategoryCooking, []string{"cooking", "cook", "chef", "kitchen", "chopping", "baking", "frying", "recipe"}},
	{schemas.CategoryInstrument, []string{"instrument", "guitar", "piano", "violin", "drums", "drum", "cello", "flute", "saxophone", "ukulele", "music", "musician"}},
	{schemas.CategoryBicycle, []string{"bicycle", "bike", "cycling", "cyclist", "biking"}},
	{schemas.CategoryYoga, []string{"yoga", "meditation", "stretching"}},
	{schemas.CategoryFitness, []string{"fitness", "workout", "exercise", "gym", "push-ups", "pushups", "squats", "jumping jacks", "jumping_jacks", "lifting", "arm wrestling", "aerobics", "training"}},
	{schemas.CategoryRunning, []string{"running", "run", "jogging", "jog", "runner", "sprint"}},
	{schemas.CategoryWalking, []string{"walking", "walk", "stroll", "hiking"}},
	{schemas.CategoryHug, []string{"hug", "hugging", "embrace"}},
	{schemas.CategoryPet, []string{"pet", "dog", "cat", "puppy", "kitten"}},
	{schemas.CategoryDrinking, []string{"drinking", "drink", "coffee", "tea", "sipping"}},
	{schemas.CategoryEating, []string{"eating", "eat", "meal", "lunch", "dinner", "breakfast", "pizza", "food"}},
}

// CategoryFromTags picks a RealAction category from sidecar tags, falling
// back to the title; "others" when there are tags but none match, "" when
// nothing is known (the topic stage decides then).
func CategoryFromTags(tags []string, title string) string {
	tagText := " " + strings.ToLower(strings.Join(tags, " | ")) + " "
	for _, texts := range []string{tagText, " " + strings.ToLower(title) + " "} {
		norm := strings.NewReplacer(",", " ", ".", " ", "|", " ", "_", " ").Replace(texts)
		for _, c := range categoryWords {
			if strings.Contains(norm, " "+c.category+" ") {
				return c.category
			}
		}
		for _, c := range categoryWords {
			for _, w := range c.words {
				if strings.Contains(norm, " "+strings.ReplaceAll(w, "_", " ")+" ") {
					return c.category
				}
			}
		}
	}
	if len(tags) > 0 {
		return schemas.CategoryOthers
	}
	return ""
}
