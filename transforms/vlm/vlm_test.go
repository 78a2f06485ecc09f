package vlm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"realdpo/schemas"
	"realdpo/transforms/vlm/vlmtest"
)

const testKey = "sk-test-5ecret"

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

// newTest starts a strict fake endpoint answering the n-th request with
// script(n), and a client for it with short delays.
func newTest(t *testing.T, slow time.Duration, script func(n int64) vlmtest.Fault) (*vlmtest.Server, *Client) {
	f := vlmtest.New(vlmtest.Config{Key: testKey, Model: "test-vl", MaxTokens: 300, Frames: 3, Slow: slow,
		Prompts: []string{schemas.DefaultCaptionPrompt},
		Script:  func(r vlmtest.Request) vlmtest.Reply { return vlmtest.Reply{Fault: script(r.N)} }})
	t.Cleanup(f.Close)
	c, err := New(schemas.VLMConfig{BaseURL: f.URL, Model: "test-vl", MaxTokens: 300, Temperature: 0.2,
		Timeout: 300 * time.Millisecond, MaxAttempts: 4, Concurrency: 3}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	c.BaseDelay, c.MaxDelay = 5*time.Millisecond, 40*time.Millisecond
	return f, c
}

func TestAskRetriesEachFault(t *testing.T) {
	for _, fault := range []vlmtest.Fault{vlmtest.RateLimit, vlmtest.ServerError, vlmtest.Slow, vlmtest.Malformed, vlmtest.NoChoices} {
		t.Run(string(fault), func(t *testing.T) {
			f, c := newTest(t, 2*time.Second, func(n int64) vlmtest.Fault {
				if n <= 2 {
					return fault
				}
				return vlmtest.OK
			})
			ans, err := c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
			if err != nil || ans.Attempts != 3 || !strings.HasPrefix(ans.Text, "Answer 3:") || ans.FinishReason != "stop" || ans.Model != "test-vl" {
				t.Errorf("answer %+v, err %v: want the third attempt's answer", ans, err)
			}
			if bad := f.Bad(); len(bad) > 0 {
				t.Errorf("malformed requests: %v", bad)
			}
		})
	}
}

func TestAskGivesUpClearly(t *testing.T) {
	_, c := newTest(t, time.Second, func(int64) vlmtest.Fault { return vlmtest.ServerError })
	_, err := c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
	var ve *Error
	if !errors.As(err, &ve) || ve.Kind != KindExhausted || ve.Status != 500 || ve.Attempts != 4 {
		t.Errorf("always 500: %v, want retries exhausted after 4 attempts", err)
	}
	_, c = newTest(t, time.Second, func(int64) vlmtest.Fault { return vlmtest.BadRequest })
	_, err = c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
	if !errors.As(err, &ve) || ve.Kind != KindClient || ve.Status != 400 || ve.Attempts != 1 || !strings.Contains(err.Error(), "Invalid image") {
		t.Errorf("400: %v, want a client error after one attempt with the server's message", err)
	}
	_, c = newTest(t, time.Second, func(int64) vlmtest.Fault { return vlmtest.Unauthorized })
	_, err = c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
	if !errors.As(err, &ve) || ve.Status != 401 || strings.Contains(err.Error(), testKey) {
		t.Errorf("401: %v, want a client error that does not repeat the key", err)
	}
	_, c = newTest(t, time.Second, func(int64) vlmtest.Fault { return vlmtest.Malformed })
	_, err = c.Ask(context.Background(), schemas.DefaultCaptionPrompt, frames(t, 3))
	if !errors.As(err, &ve) || ve.Kind != KindNoAnswer || ve.Attempts != 4 {
		t.Errorf("always malformed: %v, want bad_response after 4 attempts", err)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	_, c := newTest(t, time.Second, func(n int64) vlmtest.Fault {
		if n == 1 {
			return vlmtest.RateLimit
		}
		return vlmtest.OK
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
	kinds := []vlmtest.Fault{vlmtest.OK, vlmtest.RateLimit, vlmtest.OK, vlmtest.ServerError, vlmtest.Slow, vlmtest.OK,
		vlmtest.Malformed, vlmtest.OK, vlmtest.NoChoices, vlmtest.OK, vlmtest.BadRequest}
	f, c := newTest(t, 500*time.Millisecond, func(n int64) vlmtest.Fault { return kinds[n%int64(len(kinds))] })
	c.cfg.Timeout = 100 * time.Millisecond
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
	t.Logf("%d clips: %d answers, %d typed failures, %d requests, at most %d in flight (server saw %d)", clips, answers.Load(), failures.Load(), f.Requests(), c.PeakInFlight(), f.MaxInFlight())
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
	if bad := f.Bad(); len(bad) > 0 {
		t.Errorf("malformed requests: %v", bad[:min(3, len(bad))])
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

// TestKeyNeverRecorded: a server that echoes most of the key (41 of its 44
// characters) and control characters in a 400, or the whole key in its
// answer: the error keeps the status and a bounded, sanitised excerpt with
// no run of 8 or more of the key's characters, and an answer holding the
// key is refused (never a caption), without retrying.
func TestKeyNeverRecorded(t *testing.T) {
	const key = "sk-proj-0123456789ABCDEFGHIJabcdefghij012345" // 44 characters
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.URL.Query().Get("echo") == "" && strings.Contains(r.URL.Path, "answer") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"A person says %s out loud."}}]}`, got)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"bad request for key %s\u001b[2J\u0007 %s","type":"invalid_request_error"}}`, got[:41], strings.Repeat("x", 5000))
	}))
	defer srv.Close()
	for _, path := range []string{"/echo/v1", "/answer/v1"} {
		c, err := New(schemas.VLMConfig{BaseURL: srv.URL + path, Model: "m", MaxTokens: 10, Timeout: 5 * time.Second, MaxAttempts: 3, Concurrency: 1}, key)
		if err != nil {
			t.Fatal(err)
		}
		calls.Store(0)
		_, err = c.Ask(context.Background(), "describe", frames(t, 1))
		var ve *Error
		if !errors.As(err, &ve) {
			t.Fatalf("%s: err %v", path, err)
		}
		msg := err.Error()
		for i := 0; i+8 <= len(key); i++ {
			if strings.Contains(msg, key[i:i+8]) {
				t.Fatalf("%s: %q of the key in %q", path, key[i:i+8], msg)
			}
		}
		if strings.ContainsAny(msg, "\x1b\x07") || len(msg) > 400 {
			t.Errorf("%s: error not sanitised or bounded (%d bytes): %q", path, len(msg), msg)
		}
		if path == "/answer/v1" && (ve.Kind != KindKeyEcho || calls.Load() != 1) {
			t.Errorf("answer holding the key: kind %s after %d calls", ve.Kind, calls.Load())
		}
		if path == "/echo/v1" && (ve.Kind != KindClient || ve.Status != http.StatusBadRequest) {
			t.Errorf("400: kind %s status %d", ve.Kind, ve.Status)
		}
		t.Logf("%s: %s", path, msg)
	}
}
