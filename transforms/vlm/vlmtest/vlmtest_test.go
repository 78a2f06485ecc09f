package vlmtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"testing"
)

func encode(t *testing.T, asPNG bool) string {
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	var b bytes.Buffer
	var err error
	if asPNG {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func post(t *testing.T, url, auth string, body any) (int, map[string]any) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func request(prompt string, images ...string) map[string]any {
	parts := []any{map[string]any{"type": "text", "text": prompt}}
	for _, im := range images {
		parts = append(parts, map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/jpeg;base64," + im}})
	}
	return map[string]any{"model": "m", "max_tokens": 10, "temperature": 0.2,
		"messages": []any{map[string]any{"role": "user", "content": parts}}}
}

// TestServerChecksRequests: requests that break the protocol are refused
// and listed; good ones are answered in the real schema, and attempts are
// counted per prompt and images.
func TestServerChecksRequests(t *testing.T) {
	s := New(Config{Key: "k", Model: "m", MaxTokens: 10, Frames: 1, Script: func(r Request) Reply {
		if r.Attempt == 1 {
			return Reply{Fault: ServerError}
		}
		return Reply{Text: "fine " + r.Content[:8]}
	}})
	defer s.Close()
	url := s.URL + "/chat/completions"
	jp, pn := encode(t, false), encode(t, true)
	bad := []struct {
		name, auth string
		body       map[string]any
		code       int
	}{
		{"no key", "", request("p", jp), 401},
		{"wrong key", "Bearer x", request("p", jp), 401},
		{"png as jpeg", "Bearer k", request("p", pn), 400},
		{"two frames", "Bearer k", request("p", jp, jp), 400},
		{"no prompt", "Bearer k", request("", jp), 400},
		{"other model", "Bearer k", func() map[string]any { r := request("p", jp); r["model"] = "x"; return r }(), 400},
		{"no temperature", "Bearer k", func() map[string]any { r := request("p", jp); delete(r, "temperature"); return r }(), 400},
	}
	for _, c := range bad {
		if code, _ := post(t, url, c.auth, c.body); code != c.code {
			t.Errorf("%s: HTTP %d, want %d", c.name, code, c.code)
		}
	}
	if n := len(s.Bad()); n != 5 {
		t.Errorf("%d requests listed as bad, want the 5 malformed ones: %v", n, s.Bad())
	}
	if code, _ := post(t, url, "Bearer k", request("p", jp)); code != 500 {
		t.Errorf("first attempt: HTTP %d, want the scripted 500", code)
	}
	code, out := post(t, url, "Bearer k", request("p", jp))
	choices, _ := out["choices"].([]any)
	if code != 200 || len(choices) != 1 || out["object"] != "chat.completion" {
		t.Fatalf("second attempt: HTTP %d %v", code, out)
	}
	msg := choices[0].(map[string]any)["message"].(map[string]any)
	if !strings.HasPrefix(msg["content"].(string), "fine ") || msg["role"] != "assistant" {
		t.Errorf("answer %v", msg)
	}
	if c := s.Counts(); c[ServerError] != 1 || c[OK] != 1 || c[Unauth] != 2 || c[Invalid] != 5 || s.Requests() != 9 {
		t.Errorf("counts %v, %d requests", c, s.Requests())
	}
}
