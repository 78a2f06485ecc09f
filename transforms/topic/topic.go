// Package topic is the human-activity topic filter: it assigns a RealAction
// category from keyword lists kept in an editable data file and rejects
// footage that is off-topic; an optional vlm judge asks a vision-language
// model whether the clip shows a person doing an everyday action.
package topic

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"realdpo/schemas"
	"realdpo/transforms/vlm"
)

//go:embed topics.txt
var defaultTopics []byte

// DefaultFile names the embedded topics in records.
const DefaultFile = "(embedded topics.txt)"

// Default is the embedded topic list.
func Default() schemas.TopicList {
	tl, err := Parse(defaultTopics)
	if err != nil {
		panic(fmt.Sprintf("topic: embedded topics.txt: %v", err)) // a build-time invariant, checked by a test
	}
	return tl
}

// DefaultText is the embedded topics file, for users to copy and edit.
func DefaultText() string { return string(defaultTopics) }

// MaxFileBytes bounds a topics file read whole.
const MaxFileBytes = 1 << 20

// Parse reads a topics file (see topics.txt for the format).
func Parse(data []byte) (schemas.TopicList, error) {
	var tl schemas.TopicList
	cur := -1 // index into tl.Topics, -2 for [exclude]
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return tl, fmt.Errorf("topics line %d: %q: a section is [name]", n, line)
			}
			name := strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))
			if name == "" || seen[name] {
				return tl, fmt.Errorf("topics line %d: empty or repeated section %q", n, name)
			}
			seen[name] = true
			if name == "exclude" {
				cur = -2
				continue
			}
			tl.Topics = append(tl.Topics, schemas.Topic{Category: name})
			cur = len(tl.Topics) - 1
			continue
		}
		if cur == -1 {
			return tl, fmt.Errorf("topics line %d: keywords before any [category]", n)
		}
		for _, k := range strings.Split(line, ",") {
			k = Normalize(k)
			if k == "" {
				continue
			}
			if cur == -2 {
				tl.Exclude = append(tl.Exclude, k)
			} else {
				tl.Topics[cur].Keywords = append(tl.Topics[cur].Keywords, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return tl, err
	}
	if len(tl.Topics) == 0 {
		return tl, fmt.Errorf("topics: no categories")
	}
	for _, t := range tl.Topics {
		if len(t.Keywords) == 0 {
			return tl, fmt.Errorf("topics: category %q has no keywords", t.Category)
		}
	}
	return tl, nil
}

// Normalize lowercases and keeps letters, digits and inner hyphens, one
// space between words: the form both keywords and text are matched in.
func Normalize(s string) string {
	s = strings.ToLower(strings.ReplaceAll(s, "_", " "))
	var b strings.Builder
	space := true
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '\'' {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}

// Text is what the filter matches: the title, the tags and the caption
// (empty when the caption carries no evidence of its own, e.g. a template).
type Text struct {
	Title   string
	Tags    []string
	Caption string
}

// Match is the filter's verdict.
type Match struct {
	Category string
	OnTopic  bool
	// Hits are the keywords that decided, as "field:keyword".
	Hits   []string
	Detail string
}

var weights = []struct {
	field string
	w     int
}{{"tags", 3}, {"title", 2}, {"caption", 1}}

// HasText reports whether the filter has anything to match in t: footage
// without it is off-topic unless kept untagged.
func HasText(t Text) bool {
	return Normalize(strings.Join(t.Tags, " , "))+Normalize(t.Title)+Normalize(t.Caption) != ""
}

// Classify assigns a category, or says why the footage is off-topic.
// keepUntagged makes footage with no text at all "others" instead.
func Classify(tl schemas.TopicList, t Text, keepUntagged bool) Match {
	fields := map[string]string{
		"tags":    " " + Normalize(strings.Join(t.Tags, " , ")) + " ",
		"title":   " " + Normalize(t.Title) + " ",
		"caption": " " + Normalize(t.Caption) + " ",
	}
	if !HasText(t) {
		if keepUntagged {
			return Match{Category: schemas.CategoryOthers, OnTopic: true, Detail: "no text to match; kept as others (--keep_untagged)"}
		}
		return Match{Detail: "no title, tags or caption to match (caption with --captioner=vlm, judge with --judge=vlm, or --keep_untagged)"}
	}
	if excl := excluded(tl, fields); len(excl) > 0 {
		return Match{Hits: excl, Detail: "excluded: " + strings.Join(excl, ", ")}
	}
	bestScore, best := 0, -1
	var bestHits []string
	others := -1
	for i, tp := range tl.Topics {
		if tp.Category == schemas.CategoryOthers {
			others = i
			continue
		}
		score, hits := scoreTopic(tp, fields)
		if score > bestScore {
			bestScore, best, bestHits = score, i, hits
		}
	}
	if best < 0 && others >= 0 {
		if score, hits := scoreTopic(tl.Topics[others], fields); score > 0 {
			best, bestHits = others, hits
		}
	}
	if best < 0 {
		return Match{Detail: "no category keyword, and no person, in title, tags or caption"}
	}
	return Match{Category: tl.Topics[best].Category, OnTopic: true, Hits: bestHits,
		Detail: fmt.Sprintf("%s: %s", tl.Topics[best].Category, strings.Join(bestHits, ", "))}
}

// Excluded lists the exclusion phrases in the title and tags, as
// "field:phrase". Any hit makes footage off-topic whatever its caption says,
// so curation can screen sources on their sidecars before decoding them.
func Excluded(tl schemas.TopicList, title string, tags []string) []string {
	return excluded(tl, map[string]string{
		"tags":  " " + Normalize(strings.Join(tags, " , ")) + " ",
		"title": " " + Normalize(title) + " ",
	})
}

func excluded(tl schemas.TopicList, fields map[string]string) []string {
	var excl []string
	for _, f := range weights {
		for _, k := range tl.Exclude {
			if contains(fields[f.field], k) {
				excl = append(excl, f.field+":"+k)
			}
		}
	}
	return excl
}

func scoreTopic(tp schemas.Topic, fields map[string]string) (int, []string) {
	score := 0
	var hits []string
	for _, f := range weights {
		for _, k := range tp.Keywords {
			if contains(fields[f.field], k) {
				score += f.w
				hits = append(hits, f.field+":"+k)
			}
		}
	}
	sort.Strings(hits)
	return score, hits
}

// contains matches a normalised keyword as whole words, also with a
// plural s or es.
func contains(padded, k string) bool {
	return strings.Contains(padded, " "+k+" ") || strings.Contains(padded, " "+k+"s ") || strings.Contains(padded, " "+k+"es ")
}

// JudgePrompt is the vlm judge's yes/no question.
const JudgePrompt = "Answer with yes or no first, then one short sentence explaining why. " +
	"Does this video show real footage of at least one person doing an everyday action " +
	"(for example cooking, eating, drinking, exercising, walking, cleaning, playing an instrument or with a pet), " +
	"with the action clearly visible? Answer no for slideshows, still images, screen recordings, animations, " +
	"or footage in which no person is doing anything."

// Judge asks the model the yes/no question about the keyframes.
func Judge(ctx context.Context, c *vlm.Client, model string, frames [][]byte) (schemas.JudgeVerdict, error) {
	if len(frames) == 0 {
		return schemas.JudgeVerdict{}, fmt.Errorf("topic: judge: the clip has no keyframes")
	}
	ans, err := c.Ask(ctx, JudgePrompt, frames)
	if err != nil {
		return schemas.JudgeVerdict{}, err
	}
	if ans.Model != "" {
		model = ans.Model
	}
	return schemas.JudgeVerdict{Model: model, Answer: ParseYesNo(ans.Text), Text: strings.TrimSpace(ans.Text)}, nil
}

// ParseYesNo reads the leading yes or no of an answer; anything else is
// "unclear".
func ParseYesNo(s string) string {
	w := strings.Fields(Normalize(s))
	if len(w) == 0 {
		return "unclear"
	}
	switch w[0] {
	case "yes":
		return "yes"
	case "no":
		return "no"
	}
	return "unclear"
}
