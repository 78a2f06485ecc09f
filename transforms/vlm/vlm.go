// Package vlm is a client for OpenAI-compatible chat-completions endpoints
// that accept images (vLLM serving Qwen2-VL/Qwen2.5-VL, hosted GPT-4o-class
// APIs): frames go as base64 JPEG image_url parts beside a text prompt.
//
// The client speaks the one call it needs, POST /chat/completions, with
// its own small request and response types (chat.go): the OpenAI Go SDK
// would bring several hundred files of API surface into every worker
// binary for it, and its retry loop would have to be turned off anyway: it
// gives up without retrying when the per-attempt timeout fires and never
// retries a malformed 200 body, and long clips on a busy vLLM hit both.
// This package retries those too, with exponential backoff and full
// jitter, honouring Retry-After, with a bound on requests in flight per
// worker process.
package vlm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/image/draw"

	"realdpo/schemas"
	"realdpo/transforms/fsx"
	"realdpo/transforms/secret"
)

// Error kinds.
const (
	KindClient    = "http_4xx"     // the request was refused; retrying cannot help
	KindExhausted = "retries"      // every attempt failed with a retryable error
	KindConfig    = "config"       // no base URL or model
	KindCancelled = "cancelled"    // the caller's context ended
	KindNoAnswer  = "bad_response" // the last attempts returned no usable answer
	KindKeyEcho   = "key_echo"     // the answer holds the API key: never recorded
)

// Error is a failed request, with what a reject record needs: the kind,
// the HTTP status when there was one and the attempts made. Its text never
// holds the API key.
type Error struct {
	Kind     string
	Status   int
	Attempts int
	Msg      string
}

func (e *Error) Error() string {
	s := "vlm: " + e.Kind
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	return fmt.Sprintf("%s after %d attempt(s): %s", s, e.Attempts, e.Msg)
}

// Answer is a model's reply.
type Answer struct {
	Text         string
	FinishReason string // stop, length, ...
	Model        string
	Attempts     int
}

// Client asks one endpoint and model.
type Client struct {
	cfg  schemas.VLMConfig
	key  string
	url  string // the chat-completions endpoint
	sem  chan struct{}
	http *http.Client
	// inFlight and peak count attempts holding a slot, for PeakInFlight.
	inFlight, peak atomic.Int64
	// BaseDelay and MaxDelay shape the backoff (1 s doubling to 30 s by
	// default); a Retry-After answer is honoured up to 2 x MaxDelay.
	BaseDelay, MaxDelay time.Duration
}

// New makes a client; key may be empty for endpoints without auth.
func New(cfg schemas.VLMConfig, key string) (*Client, error) {
	if strings.TrimSpace(cfg.BaseURL) == "" || strings.TrimSpace(cfg.Model) == "" {
		return nil, &Error{Kind: KindConfig, Msg: "--vlm_base_url and --vlm_model are required"}
	}
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = 1
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	hc := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: cfg.Concurrency,
		DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext, TLSHandshakeTimeout: 30 * time.Second,
	}}
	c := &Client{cfg: cfg, key: key, url: strings.TrimSuffix(cfg.BaseURL, "/") + "/chat/completions",
		sem: make(chan struct{}, cfg.Concurrency), http: hc, BaseDelay: time.Second, MaxDelay: 30 * time.Second}
	return c, nil
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*Client{}
)

// Shared returns one client per configuration per process, so the bound
// on requests in flight holds across all the DoFn instances of a worker.
// The key is read from cfg.APIKeyFile (local or gs://) or the environment
// variable cfg.APIKeyEnv.
func Shared(ctx context.Context, cfg schemas.VLMConfig) (*Client, error) {
	id := fmt.Sprintf("%+v", cfg)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if c := shared[id]; c != nil {
		return c, nil
	}
	key, err := ResolveKey(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c, err := New(cfg, key)
	if err != nil {
		return nil, err
	}
	shared[id] = c
	return c, nil
}

// ResolveKey reads the API key: from APIKeyFile when set (a local path or
// any Beam filesystem URL), else from the environment variable APIKeyEnv;
// "" when neither is set.
func ResolveKey(ctx context.Context, cfg schemas.VLMConfig) (string, error) {
	if cfg.APIKeyFile != "" {
		data, err := fsx.ReadFile(ctx, cfg.APIKeyFile, 64<<10)
		if err != nil {
			return "", fmt.Errorf("vlm: read API key file %s: %w", cfg.APIKeyFile, err)
		}
		return strings.TrimSpace(string(data)), nil
	}
	if cfg.APIKeyEnv != "" {
		return strings.TrimSpace(os.Getenv(cfg.APIKeyEnv)), nil
	}
	return "", nil
}

// Ask sends the prompt and the JPEG frames and returns the first choice's
// text. Retryable failures (429, 408, 409, 5xx, timeouts, connection
// errors, malformed or empty bodies) are retried up to MaxAttempts; a 4xx
// fails at once.
func (c *Client) Ask(ctx context.Context, prompt string, jpegs [][]byte) (Answer, error) {
	parts := []contentPart{{Type: "text", Text: prompt}}
	for _, j := range jpegs {
		parts = append(parts, contentPart{Type: "image_url",
			ImageURL: &imageURL{URL: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(j)}})
	}
	req := chatRequest{Model: c.cfg.Model, Messages: []message{{Role: "user", Content: parts}}, Temperature: c.cfg.Temperature}
	if c.cfg.MaxTokens > 0 {
		req.MaxTokens = c.cfg.MaxTokens
	}
	body, jerr := json.Marshal(req)
	if jerr != nil {
		return Answer{}, &Error{Kind: KindClient, Msg: "encode request: " + jerr.Error()}
	}
	var last *Error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		ans, retryAfter, err := c.once(ctx, body)
		if err == nil {
			ans.Attempts = attempt
			return ans, nil
		}
		err.Attempts = attempt
		if err.Kind == KindClient || err.Kind == KindCancelled || err.Kind == KindKeyEcho {
			return Answer{}, err
		}
		last = err
		if attempt == c.cfg.MaxAttempts {
			break
		}
		d := c.backoff(attempt, retryAfter)
		slog.Warn("vlm: retrying", "attempt", attempt, "in", d, "err", err.Msg)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return Answer{}, &Error{Kind: KindCancelled, Attempts: attempt, Msg: ctx.Err().Error()}
		case <-t.C:
		}
	}
	if last.Kind != KindNoAnswer {
		last.Kind = KindExhausted
	}
	return Answer{}, last
}

// PeakInFlight is the most requests this client had in flight at once.
func (c *Client) PeakInFlight() int64 { return c.peak.Load() }

// backoff is full jitter over an exponential step, or the server's
// Retry-After when it gave one.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, 2*c.MaxDelay)
	}
	step := c.BaseDelay << min(attempt-1, 20)
	if step <= 0 || step > c.MaxDelay {
		step = c.MaxDelay
	}
	return step/2 + time.Duration(rand.Int64N(int64(step/2)+1))
}

// once makes one attempt, holding a slot of the concurrency bound.
func (c *Client) once(ctx context.Context, body []byte) (Answer, time.Duration, *Error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return Answer{}, 0, &Error{Kind: KindCancelled, Msg: ctx.Err().Error()}
	}
	defer func() { <-c.sem }()
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, st, hdr, err := c.post(actx, body)
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, 0, &Error{Kind: KindCancelled, Msg: ctx.Err().Error()}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return Answer{}, 0, &Error{Kind: KindExhausted, Msg: fmt.Sprintf("no answer within %s", c.cfg.Timeout)}
		}
		// Transport errors, and bodies that arrive but do not decode.
		kind := KindExhausted
		if !isNetErr(err) {
			kind = KindNoAnswer
		}
		return Answer{}, 0, &Error{Kind: kind, Status: st, Msg: c.excerpt(shortErr(err))}
	}
	if st < 200 || st > 299 {
		// The status and a bounded, sanitised excerpt of the body: servers
		// echo what they were sent, the key included.
		msg := http.StatusText(st)
		if ex := c.excerpt(errorMessage(resp)); ex != "" {
			msg += ": " + ex
		}
		if st == http.StatusTooManyRequests || st == http.StatusRequestTimeout || st == http.StatusConflict || st >= 500 {
			return Answer{}, retryAfter(&http.Response{Header: hdr}), &Error{Kind: KindExhausted, Status: st, Msg: msg}
		}
		return Answer{}, 0, &Error{Kind: KindClient, Status: st, Msg: msg}
	}
	var cr chatResponse
	if err := json.Unmarshal(resp, &cr); err != nil {
		return Answer{}, 0, &Error{Kind: KindNoAnswer, Msg: c.excerpt("response does not decode: " + shortErr(err))}
	}
	if len(cr.Choices) == 0 {
		return Answer{}, 0, &Error{Kind: KindNoAnswer, Msg: "response has no choices"}
	}
	ch := cr.Choices[0]
	if secret.New(c.key).Leaks(ch.Message.Content) {
		// An answer holding the key would be written to the manifest as a
		// caption: refused, and not retried (the server echoes its input).
		return Answer{}, 0, &Error{Kind: KindKeyEcho, Status: http.StatusOK, Msg: "the answer holds the API key (or a long run of it)"}
	}
	return Answer{Text: strings.TrimSpace(ch.Message.Content), FinishReason: ch.FinishReason, Model: cr.Model}, 0, nil
}

// isNetErr tells transport failures (http.Client.Do wraps them all in a
// *url.Error) from bodies that arrived but do not decode.
func isNetErr(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// retryAfter reads Retry-After-Ms, then Retry-After (seconds or an HTTP date).
func retryAfter(res *http.Response) time.Duration {
	if res == nil {
		return 0
	}
	if v := res.Header.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := res.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// excerpt is what an error may keep of an upstream message: bounded,
// control characters dropped, and the key or any long run of it redacted.
func (c *Client) excerpt(s string) string { return secret.New(c.key).Excerpt(s, secret.MaxExcerpt) }

func firstLine(msg, raw string) string {
	if msg == "" {
		msg = raw
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return msg
}

func shortErr(err error) string { return firstLine(err.Error(), "") }

// EncodeJPEG scales a packed RGB24 frame to at most maxWidth wide and
// encodes it as JPEG (quality 85) for an image part.
func EncodeJPEG(rgb []byte, w, h, maxWidth int) ([]byte, error) {
	if w <= 0 || h <= 0 || len(rgb) < w*h*3 {
		return nil, fmt.Errorf("vlm: frame %dx%d needs %d bytes, have %d", w, h, w*h*3, len(rgb))
	}
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, j := 0, 0; i < w*h*3; i, j = i+3, j+4 {
		src.Pix[j], src.Pix[j+1], src.Pix[j+2], src.Pix[j+3] = rgb[i], rgb[i+1], rgb[i+2], 255
	}
	var img image.Image = src
	if maxWidth > 0 && w > maxWidth {
		nh := max(1, h*maxWidth/w)
		dst := image.NewRGBA(image.Rect(0, 0, maxWidth, nh))
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		img = dst
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, fmt.Errorf("vlm: jpeg: %w", err)
	}
	return b.Bytes(), nil
}
