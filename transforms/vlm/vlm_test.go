package vlm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"realdpo/schemas"
)

const testKey = "sk-test-5ecret"

// fakeVLM speaks the OpenAI chat-completions protocol: it checks every
// request as a real server would (path, auth, model, a text part and
// base64 JPEG image_url parts) and answers with what script says for the
// n-th request (1-based).
type fakeVLM struct {
	t        *testing.T
	frames   int
	script   func(n int64) string // ok, 429, 500, slow, malformed, empty, 400, 401, length
	n        atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
	slow     time.Duration
	mu       sync.Mutex
	bad      []string
}

func (f *fakeVLM) reject(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

func (f *fakeVLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cur := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxIn.Load()
		if cur <= m || f.maxIn.CompareAndSwap(m, cur) {
			break
		}
	}
	fail := func(format string, a ...any) {
		f.mu.Lock()
		f.bad = append(f.bad, fmt.Sprintf(format, a...))
		f.mu.Unlock()
		f.reject(w, 400, "invalid_request_error", fmt.Sprintf(format, a...))
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		fail("unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		fail("content type %q", r.Header.Get("Content-Type"))
		return
	}
	var req struct {
		Model       string   `json:"model"`
		MaxTokens   *int     `json:"max_tokens"`
		Temperature *float64 `json:"temperature"`
		Messages    []struct {
			Role    string `json:"role"`
			Content []struct {
				Type     string `json:"type"`
				Text     string `json:"text"`
				ImageURL *struct {
					URL string `json:"url"`
				} `json:"image_url"`
			} `json:"content"`
		} `json:"messages"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		fail("body: %v", err)
		return
	}
	n := f.n.Add(1)
	action := f.script(n)
	if action == "401" || r.Header.Get("Authorization") != "Bearer "+testKey {
		// Real servers often echo what they were sent; the client must not pass it on.
		f.reject(w, 401, "invalid_api_key", "Incorrect API key provided: "+r.Header.Get("Authorization"))
		return
	}
	if req.Model != "test-vl" || req.MaxTokens == nil || *req.MaxTokens != 300 || req.Temperature == nil {
		fail("model %q max_tokens %v temperature %v", req.Model, req.MaxTokens, req.Temperature)
		return
	}
	if len(req.Messages) != 1 || req.Messages[0].Role != "user" {
		fail("want one user message, got %d", len(req.Messages))
		return
	}
	texts, images := 0, 0
	for _, p := range req.Messages[0].Content {
		switch p.Type {
		case "text":
			texts++
			if p.Text != schemas.DefaultCaptionPrompt {
				fail("prompt %q", p.Text)
				return
			}
		case "image_url":
			const pre = "data:image/jpeg;base64,"
			if p.ImageURL == nil || !strings.HasPrefix(p.ImageURL.URL, pre) {
				fail("image part without a base64 JPEG data URL")
				return
			}
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(p.ImageURL.URL, pre))
			if err != nil {
				fail("image base64: %v", err)
				return
			}
			if _, err := jpeg.Decode(bytes.NewReader(raw)); err != nil {
				fail("image is not a JPEG: %v", err)
				return
			}
			images++
		default:
			fail("part type %q", p.Type)
			return
		}
	}
	if texts != 1 || images != f.frames {
		fail("%d text and %d image parts, want 1 and %d", texts, images, f.frames)
		return
	}
	switch action {
	case "429":
		w.Header().Set("Retry-After-Ms", "20")
		f.reject(w, 429, "rate_limit_exceeded", "Rate limit reached")
		return
	case "500":
		f.reject(w, 500, "server_error", "The server had an error")
		return
	case "400":
		f.reject(w, 400, "invalid_request_error", "Invalid image")
		return
	case "slow":
		select {
		case <-time.After(f.slow):
		case <-r.Context().Done():
			return
		}
	case "malformed":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assis`)
		return
	case "empty":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-x","object":"chat.completion","created":1,"model":"test-vl","choices":[]}`)
		return
	}
	finish := "stop"
	if action == "length" {
		finish = "length"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": "test-vl",
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish,
			"message": map[string]any{"role": "assistant", "content": fmt.Sprintf("Answer %d: a person walks across a park.", n)}}},
		"usage": map[string]any{"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
	})
}

func frames(t *testing.T, n int) [][]byte {
	rgb := make([]byte, 64*48*3)
	for i := range rgb {
		rgb[i] = byte(i * 7)
	}
	var out [][]byte
	for i := 0; i < n; i++ {
		j, err := EncodeJPEG(rgb, 64, 48, 32)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

func newTest(t *testing.T, script func(int64) string) (*fakeVLM, *Client) {
	f := &fakeVLM{t: t, frames: 3, script: script, slow: 2 * time.Second}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(schemas.VLMConfig{BaseURL: srv.URL + "/v1", Model: "test-vl", MaxTokens: 300, Temperature: 0.2,
		Timeout: 300 * time.Millisecond, MaxAttempts: 4, Concurrency: 3}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	c.BaseDelay, c.MaxDelay = 5*time.Millisecond, 40*time.Millisecond
	return f, c
}

func TestAskRetriesEachFault(t *testing.T) {
	for _, fault := range []string{"429", "500", "slow", "malformed", "empty"} {
		t.Run(fault, func(t *testing.T) {
			f, c := newTest(t, func(n int64) string {
				if n <= 2 {
					return fault
				}
				return "ok"
			})
			ans, err := c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
			if err != nil || ans.Attempts != 3 || !strings.HasPrefix(ans.Text, "Answer 3:") || ans.FinishReason != "stop" || ans.Model != "test-vl" {
				t.Errorf("answer %+v, err %v: want the third attempt's answer", ans, err)
			}
			if len(f.bad) > 0 {
				t.Errorf("malformed requests: %v", f.bad)
			}
		})
	}
}

func TestAskGivesUpClearly(t *testing.T) {
	_, c := newTest(t, func(int64) string { return "500" })
	_, err := c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
	var ve *Error
	if !errors.As(err, &ve) || ve.Kind != KindExhausted || ve.Status != 500 || ve.Attempts != 4 {
		t.Errorf("always 500: %v, want retries exhausted after 4 attempts", err)
	}
	_, c = newTest(t, func(int64) string { return "400" })
	_, err = c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
	if !errors.As(err, &ve) || ve.Kind != KindClient || ve.Status != 400 || ve.Attempts != 1 || !strings.Contains(err.Error(), "Invalid image") {
		t.Errorf("400: %v, want a client error after one attempt with the server's message", err)
	}
	_, c = newTest(t, func(int64) string { return "401" })
	_, err = c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
	if !errors.As(err, &ve) || ve.Status != 401 || strings.Contains(err.Error(), testKey) {
		t.Errorf("401: %v, want a client error that does not repeat the key", err)
	}
	_, c = newTest(t, func(int64) string { return "malformed" })
	_, err = c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
	if !errors.As(err, &ve) || ve.Kind != KindNoAnswer || ve.Attempts != 4 {
		t.Errorf("always malformed: %v, want bad_response after 4 attempts", err)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	_, c := newTest(t, func(n int64) string {
		if n == 1 {
			return "429"
		}
		return "ok"
	})
	c.MaxDelay = time.Second
	start := time.Now()
	if _, err := c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3)); err != nil {
		t.Fatal(err)
	}
	// Retry-After-Ms: 20 beats the 5 ms backoff.
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("retried after %v, before the server's Retry-After-Ms of 20", el)
	}
	h := http.Header{}
	h.Set("Retry-After", "2")
	if d := retryAfter(&http.Response{Header: h}); d != 2*time.Second {
		t.Errorf("Retry-After: 2 -> %v", d)
	}
	h.Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
	if d := retryAfter(&http.Response{Header: h}); d < time.Second || d > 3*time.Second {
		t.Errorf("Retry-After date -> %v", d)
	}
}

// TestNoElementLost sends many clips through a server that fails a share
// of requests in every way; each ends with an answer or a typed error,
// and the in-flight bound holds.
func TestNoElementLost(t *testing.T) {
	kinds := []string{"ok", "429", "ok", "500", "slow", "ok", "malformed", "ok", "empty", "ok", "400"}
	f, c := newTest(t, func(n int64) string { return kinds[n%int64(len(kinds))] })
	c.cfg.Timeout = 100 * time.Millisecond
	f.slow = 500 * time.Millisecond
	const clips = 40
	var wg sync.WaitGroup
	answers, failures := atomic.Int64{}, atomic.Int64{}
	var mu sync.Mutex
	other := []error{}
	for i := 0; i < clips; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
			var ve *Error
			switch {
			case err == nil && strings.HasPrefix(ans.Text, "Answer "):
				answers.Add(1)
			case errors.As(err, &ve) && ve.Kind != KindCancelled:
				failures.Add(1)
			default:
				mu.Lock()
				other = append(other, fmt.Errorf("answer %+v err %v", ans, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d clips: %d answers, %d typed failures, %d requests, at most %d in flight (server saw %d)", clips, answers.Load(), failures.Load(), f.n.Load(), c.PeakInFlight(), f.maxIn.Load())
	if answers.Load()+failures.Load() != clips || len(other) > 0 {
		t.Errorf("lost or untyped outcomes: %v", other)
	}
	if answers.Load() < clips/2 {
		t.Errorf("only %d of %d answered despite retries", answers.Load(), clips)
	}
	// The server may still be draining a request the client gave up on,
	// so the bound is checked where it is enforced.
	if p := c.PeakInFlight(); p > 3 || p < 2 {
		t.Errorf("%d requests in flight at most, bound is 3", p)
	}
	if len(f.bad) > 0 {
		t.Errorf("malformed requests: %v", f.bad[:min(3, len(f.bad))])
	}
}

func TestResolveKey(t *testing.T) {
	t.Setenv("MY_VLM_KEY", " k1 \n")
	if k, err := ResolveKey(context.Background(), schemas.VLMConfig{APIKeyEnv: "MY_VLM_KEY"}); err != nil || k != "k1" {
		t.Errorf("env key %q %v", k, err)
	}
	p := t.TempDir() + "/key"
	if err := writeFile(p, "k2\n"); err != nil {
		t.Fatal(err)
	}
	if k, err := ResolveKey(context.Background(), schemas.VLMConfig{APIKeyEnv: "MY_VLM_KEY", APIKeyFile: p}); err != nil || k != "k2" {
		t.Errorf("file key %q %v", k, err)
	}
	if _, err := ResolveKey(context.Background(), schemas.VLMConfig{APIKeyFile: p + ".missing"}); err == nil {
		t.Error("missing key file accepted")
	}
	if _, err := New(schemas.VLMConfig{}, ""); err == nil {
		t.Error("no base URL accepted")
	}
}
