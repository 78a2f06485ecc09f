package stage

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"realdpo/schemas"
)

// maxAdvice is how many reject reasons a low-yield run explains.
const maxAdvice = 3

// Advise marks a run in which fewer than LowYieldShare of the
// inputs gave a clip and lists its main reject reasons (by deciding reason
// and, where the reject names one, its check), most inputs first, each
// with what to do about it under cfg.
func Advise(st *schemas.CurateStats, cfg schemas.CurateConfig) {
	st.LowYield, st.Advice = false, nil
	if st.Inputs == 0 || float64(st.InputsAccepted) >= LowYieldShare*float64(st.Inputs) {
		return
	}
	st.LowYield = true
	type key struct{ reason, check string }
	counts := map[key]int{}
	for _, d := range st.Decisions {
		if !d.Accept {
			counts[key{d.Reason, d.Check}]++
		}
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		if keys[i].reason != keys[j].reason {
			return keys[i].reason < keys[j].reason
		}
		return keys[i].check < keys[j].check
	})
	for _, k := range keys[:min(len(keys), maxAdvice)] {
		n := counts[k]
		st.Advice = append(st.Advice, schemas.Advice{Reason: k.reason, Check: k.check, Inputs: n,
			Share: math.Round(1000*float64(n)/float64(st.Inputs)) / 1000, Hint: hint(k.reason, k.check, cfg)})
	}
}

// AdviceText is the advice of a low-yield run as lines for a terminal or
// the dataset card; empty when the yield is fine.
func AdviceText(st schemas.CurateStats) string {
	if !st.LowYield {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Only %d of %d inputs gave clips. The main reasons (every reject and its detail is in rejected.jsonl):\n",
		st.InputsAccepted, st.Inputs)
	for _, a := range st.Advice {
		what := a.Reason
		if a.Check != "" {
			what += " (" + a.Check + ")"
		}
		fmt.Fprintf(&b, "- %s: %d inputs (%.0f%%). %s\n", what, a.Inputs, 100*a.Share, a.Hint)
	}
	return b.String()
}

// hint says what to do about inputs rejected for reason (and check).
func hint(reason, check string, cfg schemas.CurateConfig) string {
	p, th := cfg.Profile, cfg.Thresholds
	loosen := func(flags string) string {
		return "If the footage is fine, the scores that decided are in each reject record; loosen " + flags + " to keep it."
	}
	switch reason {
	case schemas.ReasonOffTopic:
		switch {
		case check == "topic_no_text":
			return "The footage has no title, tags or caption to match a RealAction category. Caption it with a " +
				"vision-language model (--captioner=vlm --vlm_base_url=URL --vlm_model=NAME), or let one judge it " +
				"(--judge=vlm), or keep it as category others (--keep_untagged), or add a NAME.json sidecar " +
				"({\"title\": ..., \"tags\": [...]}) or a NAME.txt caption beside each video."
		case check == "topic_excluded":
			return "An exclusion phrase (timelapse, screen recording, ...) is in the title, tags or caption. If that " +
				"footage is wanted, edit the [exclude] list: realdpo curate --print_topics > topics.txt, then --topics=topics.txt."
		case strings.HasPrefix(check, "judge_"):
			return "The --judge=vlm model did not see a person doing an everyday action; its answer is in each reject record."
		}
		return "No RealAction category keyword, and no person word, in the title, tags or caption. Add keywords to a " +
			"topics file (realdpo curate --print_topics > topics.txt, then --topics=topics.txt) or caption with --captioner=vlm."
	case schemas.ReasonCaption:
		if check == "caption_empty" {
			return "No sidecar caption, title or tags, and no caption fallback: use --caption_fallback=template, " +
				"--captioner=vlm, or add NAME.txt captions."
		}
		return "Captions failed the caption gates (" + check + "): see --min_caption_words, --max_caption_words and --max_caption_repeat."
	case schemas.ReasonVLM:
		return "Requests to the model failed (" + check + "): check --vlm_base_url, --vlm_model, the API key " +
			"(--vlm_api_key_env or --vlm_api_key_file), --vlm_timeout and --vlm_concurrency."
	case schemas.ReasonDuplicate:
		return "Copies of footage already kept; nothing is lost. --dedup_max_distance sets how close counts as the same footage."
	case schemas.ReasonTooShort:
		return fmt.Sprintf("No cut-free stretch is as long as one clip (%.2f s plus %.2f s trimmed at each cut). "+
			"Use longer footage, or a shorter profile (--profile=demo).", p.DurationS(), th.TrimS)
	case schemas.ReasonResolution:
		return fmt.Sprintf("The short side is below --min_short_side=%d; lower it to keep smaller footage "+
			"(clips are then upscaled to %dx%d and flagged).", th.MinShortSide, p.Width, p.Height)
	case schemas.ReasonOrientation:
		return "Portrait or square footage; the profile makes landscape clips."
	case schemas.ReasonFrameRate:
		return fmt.Sprintf("The frame rate is below --min_fps=%g.", th.MinFPS)
	case schemas.ReasonStatic:
		return loosen("--min_subject_motion and --min_changed_frac")
	case schemas.ReasonChaotic:
		return loosen("--max_subject_motion")
	case schemas.ReasonCameraMotion:
		return loosen("--max_camera_motion, --max_camera_ratio and --max_camera_shake")
	case schemas.ReasonBlur:
		return loosen("--min_sharpness and --min_sharpness_rel")
	case schemas.ReasonExposure:
		return loosen("--min_luma, --max_luma, --min_contrast and --max_clipped")
	case schemas.ReasonOverlay:
		return loosen("--max_overlay")
	case schemas.ReasonTooLarge:
		return "Over --max_bytes, --max_duration or --max_dimension; raise them to take such files."
	case schemas.ReasonTimeout:
		return "ffmpeg or ffprobe ran past its deadline: raise --probe_timeout or --decode_timeout, or give workers more CPU."
	case schemas.ReasonNotVideo, schemas.ReasonTruncated, schemas.ReasonEmptyFile:
		return "The files are not whole, readable videos; the detail of each is in its reject record."
	case schemas.ReasonUnreadable:
		return "The files could not be listed or read: check permissions (or the bucket's) and the input path."
	case schemas.ReasonEncode:
		return "Normalising the kept window failed; the ffmpeg error is in each reject record."
	}
	return "See the reject records for the detail."
}
