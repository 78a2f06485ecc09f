package curate

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"realdpo/schemas"
	"realdpo/transforms/dataset"
	"realdpo/transforms/quality/testclips"
	"realdpo/transforms/synth"
	"realdpo/transforms/topic"
	"realdpo/transforms/vlm/vlmtest"
)

// vlmPlan is how the fake endpoint treats one clip's keyframes: the fault
// of each attempt of the caption request and of the judge request (the
// last entry repeats), the answers, and where the clip must end.
type vlmPlan struct {
	name                 string
	caption, judge       []vlmtest.Fault
	captionText          func(ref string) string
	judgeText            func(ref string) string
	captionReqs, judgeRq int // requests the clip must cost
	// stage, reason and check of the reject the clip must end as; "" for kept.
	stage, reason, check string
}

const vlmTestAttempts = 4

func goodCaption(ref string) string {
	return "A person is cooking in a bright kitchen, standing at the counter and stirring a pot on the stove with a wooden spoon " +
		"(ref " + ref + "). They lift the spoon, taste the sauce, add a pinch of salt from a small bowl and keep stirring while steam " +
		"rises. The camera stays still and the light from the window is soft and even throughout the shot."
}

func yes(ref string) string {
	return "Yes. A person is cooking, an everyday action, clearly visible (ref " + ref + ")."
}

// vlmPlans cover every fault the client must survive or record. Each
// permanent failure is a fault the server always returns for that clip.
var vlmPlans = []vlmPlan{
	{name: "ok", caption: []vlmtest.Fault{vlmtest.OK}, judge: []vlmtest.Fault{vlmtest.OK}, captionReqs: 1, judgeRq: 1},
	{name: "429 then ok", caption: []vlmtest.Fault{vlmtest.RateLimit, vlmtest.OK}, judge: []vlmtest.Fault{vlmtest.RateLimit, vlmtest.OK},
		captionReqs: 2, judgeRq: 2},
	{name: "500 twice then ok", caption: []vlmtest.Fault{vlmtest.ServerError, vlmtest.ServerError, vlmtest.OK},
		judge: []vlmtest.Fault{vlmtest.ServerError, vlmtest.OK}, captionReqs: 3, judgeRq: 2},
	{name: "slow then ok", caption: []vlmtest.Fault{vlmtest.Slow, vlmtest.OK}, judge: []vlmtest.Fault{vlmtest.Slow, vlmtest.OK},
		captionReqs: 2, judgeRq: 2},
	{name: "malformed, no choices, then ok", caption: []vlmtest.Fault{vlmtest.Malformed, vlmtest.NoChoices, vlmtest.OK},
		judge: []vlmtest.Fault{vlmtest.Malformed, vlmtest.OK}, captionReqs: 3, judgeRq: 2},
	{name: "always 500", caption: []vlmtest.Fault{vlmtest.ServerError}, captionReqs: vlmTestAttempts,
		stage: schemas.StageCaption, reason: schemas.ReasonVLM, check: "vlm_retries"},
	{name: "always malformed", caption: []vlmtest.Fault{vlmtest.Malformed}, captionReqs: vlmTestAttempts,
		stage: schemas.StageCaption, reason: schemas.ReasonVLM, check: "vlm_bad_response"},
	{name: "401 echoing the key", caption: []vlmtest.Fault{vlmtest.Unauthorized}, captionReqs: 1,
		stage: schemas.StageCaption, reason: schemas.ReasonVLM, check: "vlm_http_4xx"},
	{name: "refusal", caption: []vlmtest.Fault{vlmtest.OK}, captionReqs: 1,
		captionText: func(ref string) string { return "I'm sorry, but I can't describe this video (ref " + ref + ")." },
		stage:       schemas.StageCaption, reason: schemas.ReasonCaption, check: "caption_refusal"},
	{name: "too short", caption: []vlmtest.Fault{vlmtest.OK}, captionReqs: 1,
		captionText: func(ref string) string { return "A person cooking (ref " + ref + ")." },
		stage:       schemas.StageCaption, reason: schemas.ReasonCaption, check: "caption_too_short"},
	{name: "cut off at max_tokens", caption: []vlmtest.Fault{vlmtest.Length}, captionReqs: 1,
		stage: schemas.StageCaption, reason: schemas.ReasonCaption, check: "caption_truncated"},
	{name: "empty answer", caption: []vlmtest.Fault{vlmtest.EmptyContent}, captionReqs: 1,
		stage: schemas.StageCaption, reason: schemas.ReasonCaption, check: "caption_empty"},
	{name: "judge says no", caption: []vlmtest.Fault{vlmtest.OK}, judge: []vlmtest.Fault{vlmtest.OK}, captionReqs: 1, judgeRq: 1,
		judgeText: func(ref string) string { return "No, this looks like a slideshow of still images (ref " + ref + ")." },
		stage:     schemas.StageTopic, reason: schemas.ReasonOffTopic, check: "judge_no"},
	{name: "judge always 500", caption: []vlmtest.Fault{vlmtest.OK}, judge: []vlmtest.Fault{vlmtest.ServerError},
		captionReqs: 1, judgeRq: vlmTestAttempts, stage: schemas.StageTopic, reason: schemas.ReasonVLM, check: "vlm_retries"},
}

func (p vlmPlan) outcome() string {
	if p.stage == "" {
		return "kept"
	}
	return p.stage + "/" + p.reason + "/" + p.check
}

func faultAt(fs []vlmtest.Fault, attempt int) vlmtest.Fault {
	return fs[min(attempt, len(fs))-1]
}

// syncBuffer collects log output written from the runner's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var refRE = regexp.MustCompile(`\(ref ([0-9a-f]{12})\)`)

// TestCurateVLM curates `realdpo synth` footage on prism with
// --captioner=vlm and --judge=vlm against a strict in-process
// chat-completions server that deals every clip one of vlmPlans by the
// order its keyframes first arrive: transient 429s, 500s, slow and
// malformed answers are retried into captions; permanent faults, gated
// captions and a judge's no end as rejects with their reason; nothing is
// lost, and the API key never reaches a log or an output file.
func TestCurateVLM(t *testing.T) {
	testclips.RequireFFmpeg(t)
	const key, model = "sk-vlmtest-0123456789abcdef", "Qwen/Qwen2.5-VL-7B-Instruct"
	in, out := t.TempDir(), t.TempDir()
	gts, err := synth.Generate(context.Background(), synth.Config{
		Output: in, Count: 18, Seed: 31, DefectShare: 0,
		Sizes: []synth.Size{{W: 320, H: 180}, {W: 384, H: 216}}, MinSeconds: 3, MaxSeconds: 4, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := NewConfig(in, out, schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Review.Captioner, cfg.Review.Judge = schemas.CaptionerVLM, schemas.CaptionerVLM
	v := &cfg.Review.VLM
	v.Model, v.Timeout, v.MaxAttempts = model, 2*time.Second, vlmTestAttempts

	var mu sync.Mutex
	planOf := map[string]int{} // keyframes content -> index into vlmPlans
	var order []string
	var scriptErrs []string
	srv := vlmtest.New(vlmtest.Config{
		Key: key, Model: model, MaxTokens: v.MaxTokens, Frames: v.Frames, Slow: 4 * time.Second,
		Prompts: []string{v.Prompt, topic.JudgePrompt},
		Script: func(r vlmtest.Request) vlmtest.Reply {
			for i, im := range r.Images {
				if c, err := jpeg.DecodeConfig(bytes.NewReader(im)); err != nil || c.Width != cfg.Profile.Width || c.Height != cfg.Profile.Height {
					mu.Lock()
					scriptErrs = append(scriptErrs, fmt.Sprintf("request %d frame %d: %v %+v, want a %dx%d keyframe", r.N, i, err, c, cfg.Profile.Width, cfg.Profile.Height))
					mu.Unlock()
				}
			}
			ref := r.Content[:12]
			mu.Lock()
			pi, ok := planOf[r.Content]
			if !ok && r.Prompt == v.Prompt {
				pi = len(order) % len(vlmPlans)
				planOf[r.Content] = pi
				order = append(order, r.Content)
				ok = true
			}
			if !ok {
				scriptErrs = append(scriptErrs, fmt.Sprintf("request %d: judge asked about keyframes the captioner never saw", r.N))
			}
			mu.Unlock()
			if !ok {
				return vlmtest.Reply{Fault: vlmtest.BadRequest, Message: "unknown keyframes"}
			}
			p := vlmPlans[pi]
			faults, text, msg := p.caption, goodCaption(ref), "The server had an error (ref "+ref+")"
			if p.captionText != nil {
				text = p.captionText(ref)
			}
			if r.Prompt == topic.JudgePrompt {
				faults, text = p.judge, yes(ref)
				if p.judgeText != nil {
					text = p.judgeText(ref)
				}
				if len(faults) == 0 {
					mu.Lock()
					scriptErrs = append(scriptErrs, fmt.Sprintf("request %d: plan %q reached the judge", r.N, p.name))
					mu.Unlock()
					faults = []vlmtest.Fault{vlmtest.BadRequest}
				}
			}
			rep := vlmtest.Reply{Fault: faultAt(faults, r.Attempt), Text: text, RetryAfter: 50 * time.Millisecond}
			if rep.Fault == vlmtest.ServerError {
				rep.Message = msg
			}
			return rep
		},
	})
	defer srv.Close()
	v.BaseURL = srv.URL
	t.Setenv(v.APIKeyEnv, key)

	// Everything the run logs, to look for the key in.
	logs := &syncBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.MultiWriter(logs, os.Stderr), nil)))
	st, err := Run(context.Background(), cfg)
	slog.SetDefault(prev)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st.AccountingLine())

	mu.Lock()
	defer mu.Unlock()
	for _, e := range append(scriptErrs, srv.Bad()...) {
		t.Error(e)
	}
	if st.Inputs != len(gts) || st.Inputs != st.InputsAccepted+st.InputsRejected {
		t.Errorf("accounting %s, want %d inputs", st.AccountingLine(), len(gts))
	}
	man := readJSONL[schemas.ManifestRecord](t, filepath.Join(out, dataset.ManifestFile))
	rej := readJSONL[schemas.RejectRecord](t, filepath.Join(out, dataset.RejectedFile))
	if len(man) != st.Clips || len(rej) != st.Rejects {
		t.Errorf("files hold %d clips and %d rejects, stats say %d and %d", len(man), len(rej), st.Clips, st.Rejects)
	}
	// Every clip that reached captioning was asked about once per prompt
	// and ended kept or as a caption, topic or dedup reject.
	semantic := 0
	for _, r := range rej {
		if r.Stage == schemas.StageCaption || r.Stage == schemas.StageTopic || r.Stage == schemas.StageDedup {
			semantic++
		}
	}
	if len(order) != len(man)+semantic {
		t.Errorf("the server saw %d clips' keyframes; %d were kept and %d rejected after normalising", len(order), len(man), semantic)
	}
	if len(order) < len(vlmPlans) {
		t.Fatalf("only %d clips reached captioning: too few to deal each of the %d plans", len(order), len(vlmPlans))
	}
	want, got := map[string]int{}, map[string]int{}
	for _, c := range order {
		want[vlmPlans[planOf[c]].outcome()]++
	}

	// Requests per clip and prompt, as the server counted them.
	reqs := map[string]int{}
	answered := map[string]string{}
	for _, rec := range srv.Log() {
		reqs[rec.Content+"|"+rec.Prompt]++
		if rec.Status == 200 {
			answered[rec.Content+"|"+rec.Prompt] = rec.Text
		}
	}
	byRef := map[string]string{}
	for _, c := range order {
		byRef[c[:12]] = c
		p := vlmPlans[planOf[c]]
		if n := reqs[c+"|"+v.Prompt]; n != p.captionReqs {
			t.Errorf("plan %q: %d caption requests, want %d", p.name, n, p.captionReqs)
		}
		if n := reqs[c+"|"+topic.JudgePrompt]; n != p.judgeRq {
			t.Errorf("plan %q: %d judge requests, want %d", p.name, n, p.judgeRq)
		}
	}
	planOfRef := func(s string) (vlmPlan, string, bool) {
		m := refRE.FindStringSubmatch(s)
		if m == nil || byRef[m[1]] == "" {
			return vlmPlan{}, "", false
		}
		c := byRef[m[1]]
		return vlmPlans[planOf[c]], c, true
	}

	for _, m := range man {
		got["kept"]++
		p, c, ok := planOfRef(m.Caption)
		switch {
		case !ok:
			t.Errorf("%s: caption %q is not one of the server's answers", m.Source, m.Caption)
			continue
		case p.stage != "":
			t.Errorf("%s: kept, but its keyframes got plan %q (want %s)", m.Source, p.name, p.outcome())
		}
		if m.Caption != answered[c+"|"+v.Prompt] || m.Captioner != schemas.CaptionerVLM || m.CaptionModel != model ||
			m.CaptionPrompt != v.Prompt || m.CaptionSource != "vlm" || m.CaptionWords < 45 {
			t.Errorf("%s: caption %q by %q (%s, %q, source %s, %d words), want the server's answer by vlm %s",
				m.Source, m.Caption, m.Captioner, m.CaptionModel, m.CaptionPrompt, m.CaptionSource, m.CaptionWords, model)
		}
		// The judge saw the same keyframes as the captioner, two stages later.
		if m.Judge == nil || m.Judge.Answer != "yes" || m.Judge.Model != model || m.Judge.Text != answered[c+"|"+topic.JudgePrompt] {
			t.Errorf("%s: judge %+v, want the server's yes for ref %s", m.Source, m.Judge, c[:12])
		}
		if m.Category == "" || len(m.KeyFrames) != 0 {
			t.Errorf("%s: category %q, %d keyframes in the record", m.Source, m.Category, len(m.KeyFrames))
		}
	}
	for _, r := range rej {
		if r.Stage != schemas.StageCaption && r.Stage != schemas.StageTopic && r.Stage != schemas.StageDedup {
			continue
		}
		check := ""
		if len(r.Failed) > 0 {
			check = r.Failed[0]
		}
		o := r.Stage + "/" + r.Reason + "/" + check
		got[o]++
		if r.Detail == "" || r.ClipID == "" {
			t.Errorf("%s: reject without its detail or clip id: %+v", r.Source, r)
		}
		// Where the record quotes the server, it names the clip's plan.
		if p, _, ok := planOfRef(r.Detail + " " + r.Caption); ok && p.outcome() != o {
			t.Errorf("%s: %s (%s), but its keyframes got plan %q (want %s)", r.Source, o, r.Detail, p.name, p.outcome())
		}
		switch check {
		case "vlm_retries":
			if !strings.Contains(r.Detail, "HTTP 500") || !strings.Contains(r.Detail, fmt.Sprintf("after %d attempt(s)", vlmTestAttempts)) {
				t.Errorf("%s: detail %q, want HTTP 500 after %d attempts", r.Source, r.Detail, vlmTestAttempts)
			}
		case "vlm_http_4xx":
			if !strings.Contains(r.Detail, "HTTP 401") || !strings.Contains(r.Detail, "[REDACTED]") {
				t.Errorf("%s: detail %q, want the 401 with the echoed key redacted", r.Source, r.Detail)
			}
		case "judge_no":
			if r.Judge == nil || r.Judge.Answer != "no" || !strings.HasPrefix(r.Judge.Text, "No,") {
				t.Errorf("%s: judge %+v, want the server's no", r.Source, r.Judge)
			}
		}
	}
	if got["kept"]+got["dedup/duplicate/duplicate"] != want["kept"] {
		t.Errorf("kept %d (+%d duplicates), want %d", got["kept"], got["dedup/duplicate/duplicate"], want["kept"])
	}
	for o, n := range want {
		if o != "kept" && got[o] != n {
			t.Errorf("%s: %d rejects, want %d", o, got[o], n)
		}
	}
	for o, n := range got {
		if _, ok := want[o]; !ok && o != "dedup/duplicate/duplicate" {
			t.Errorf("%s: %d unexpected rejects", o, n)
		}
	}

	// The key never leaves the worker's memory.
	files, _ := filepath.Glob(filepath.Join(out, "*.*"))
	for _, f := range files {
		if data, err := os.ReadFile(f); err != nil || bytes.Contains(data, []byte(key)) {
			t.Errorf("%s holds the API key (%v)", f, err)
		}
	}
	l := logs.String()
	if strings.Contains(l, key) {
		t.Error("the API key appears in the logs")
	}
	if !strings.Contains(l, "vlm: retrying") {
		t.Error("no retry was logged: the log capture did not see the run")
	}

	counts := srv.Counts()
	faults := make([]string, 0, len(counts))
	for f, n := range counts {
		faults = append(faults, fmt.Sprintf("%s=%d", f, n))
	}
	sort.Strings(faults)
	outcomes := make([]string, 0, len(got))
	for o, n := range got {
		outcomes = append(outcomes, fmt.Sprintf("%s=%d", o, n))
	}
	sort.Strings(outcomes)
	t.Logf("%d clips captioned/judged: %d requests (%s), at most %d in flight; outcomes: %s",
		len(order), srv.Requests(), strings.Join(faults, " "), srv.MaxInFlight(), strings.Join(outcomes, " "))
}
