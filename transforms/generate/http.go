package generate

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"realdpo/transforms/secret"
)

// WireRequest is the JSON body of POST /v1/generate.
type WireRequest struct {
	Image    string  `json:"image"` // base64 (standard, padded) PNG
	Prompt   string  `json:"prompt"`
	Seed     uint64  `json:"seed"`
	Frames   int     `json:"frames"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	FPS      float64 `json:"fps"`
	Steps    int     `json:"steps"`
	Guidance float64 `json:"guidance"`
	ClipID   string  `json:"clip_id,omitempty"`
	Index    int     `json:"index,omitempty"`
}

// WireInfo is the JSON body of GET /v1/info.
type WireInfo struct {
	API         string `json:"api"`
	GeneratorID string `json:"generator_id"`
	Checkpoint  string `json:"checkpoint"`
}

// MaxRequestBytes bounds a request body the handler reads.
const MaxRequestBytes = 64 << 20

// HTTPOptions configure the client.
type HTTPOptions struct {
	URL string // service root, e.g. http://gen:8080
	// MaxConcurrent bounds requests in flight from this process to this URL
	// (shared by every client for the URL); default 4.
	MaxConcurrent int
	// Timeout bounds one attempt (default 10 minutes: 50 steps of a large
	// model).
	Timeout time.Duration
	// Retries after the first attempt (default 5).
	Retries int
	// Backoff is the first retry delay, doubled each time up to MaxBackoff
	// (defaults 1 s and 1 min), with up to 50% random jitter; a Retry-After
	// header takes precedence.
	Backoff, MaxBackoff time.Duration
	// MaxResponseBytes bounds a video (default 1 GiB).
	MaxResponseBytes int64
	// GeneratorID overrides the id reported by /v1/info.
	GeneratorID string
	Client      *http.Client
	// APIKey, when set, is sent as "Authorization: Bearer KEY". Load it with
	// secret.Load from REALDPO_GENERATOR_API_KEY or a secret file on the
	// worker (in DoFn Setup): a Secret refuses to be serialised into a DoFn.
	APIKey secret.Secret
}

// APIKeyEnv is the environment variable the generator API key is read from
// when no key file is given.
const APIKeyEnv = "REALDPO_GENERATOR_API_KEY"

// HTTP is a client of a remote generation service.
type HTTP struct {
	o    HTTPOptions
	sem  chan struct{}
	info Info
}

var (
	semMu sync.Mutex
	sems  = map[string]chan struct{}{}
)

// semaphore returns the process-wide limiter for a URL, so that every DoFn
// instance in a worker shares one bound.
func semaphore(u string, n int) chan struct{} {
	semMu.Lock()
	defer semMu.Unlock()
	if s, ok := sems[u]; ok {
		return s
	}
	s := make(chan struct{}, n)
	sems[u] = s
	return s
}

// NewHTTP checks the URL and asks the service who it is.
func NewHTTP(ctx context.Context, o HTTPOptions) (*HTTP, error) {
	u, err := url.Parse(o.URL)
	if err != nil || !isServiceURL(o.URL) {
		return nil, fmt.Errorf("generate: bad service URL %q: want http(s)://HOST/...", o.URL)
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 1 << 30
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	c := &HTTP{o: o, sem: semaphore(o.URL, o.MaxConcurrent)}
	var wi WireInfo
	err = c.retry(ctx, "info", func(ctx context.Context) (bool, time.Duration, error) {
		return c.getInfo(ctx, &wi)
	})
	if err != nil {
		return nil, err
	}
	c.info = Info{Kind: "http", ID: wi.GeneratorID, Checkpoint: wi.Checkpoint}
	if o.GeneratorID != "" {
		c.info.ID = o.GeneratorID
	}
	if c.info.ID == "" {
		c.info.ID = "http/" + u.Host
	}
	return c, nil
}

// Info identifies the remote model.
func (c *HTTP) Info() Info { return c.info }

// Close releases idle connections.
func (c *HTTP) Close() error {
	c.o.Client.CloseIdleConnections()
	return nil
}

// attemptErr is one failed attempt: retryable or not, with the server's
// requested delay.
func (c *HTTP) retry(ctx context.Context, what string, attempt func(context.Context) (retryable bool, after time.Duration, err error)) error {
	delay := c.o.Backoff
	var last error
	for i := 0; i <= c.o.Retries; i++ {
		if i > 0 {
			d := delay
			if d > c.o.MaxBackoff {
				d = c.o.MaxBackoff
			}
			d += time.Duration(rand.Int64N(int64(d)/2 + 1))
			slog.Warn("generate: retrying", "what", what, "attempt", i+1, "after", d, "err", last)
			select {
			case <-ctx.Done():
				return fmt.Errorf("generate %s: %w (last error: %v)", what, ctx.Err(), last)
			case <-time.After(d):
			}
			delay *= 2
		}
		actx, cancel := context.WithTimeout(ctx, c.o.Timeout)
		retryable, after, err := attempt(actx)
		cancel()
		if err == nil {
			return nil
		}
		// A server or proxy may echo the request (its Authorization header
		// included) into an error body: no key in errors or logs.
		err = c.o.APIKey.RedactErr(err)
		last = err
		if ctx.Err() != nil {
			return fmt.Errorf("generate %s: %w (last error: %v)", what, ctx.Err(), err)
		}
		if !retryable {
			return fmt.Errorf("generate %s: %w", what, err)
		}
		if after > 0 {
			delay = after
		}
	}
	return fmt.Errorf("generate %s: gave up after %d attempts: %w", what, c.o.Retries+1, last)
}

func (c *HTTP) getInfo(ctx context.Context, wi *WireInfo) (bool, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.o.URL+"/v1/info", nil)
	if err != nil {
		return false, 0, err
	}
	c.authorize(req)
	resp, err := c.o.Client.Do(req)
	if err != nil {
		return true, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return true, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return retryableStatus(resp.StatusCode), retryAfter(resp), fmt.Errorf("info: HTTP %d: %s", resp.StatusCode, c.excerpt(body))
	}
	if err := json.Unmarshal(body, wi); err != nil || wi.API != API {
		return true, 0, fmt.Errorf("info: not a %s service: %s", API, c.excerpt(body))
	}
	return false, 0, nil
}

// Generate sends one request, retrying overload, server errors, timeouts
// and malformed answers.
func (c *HTTP) Generate(ctx context.Context, r Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	body, err := json.Marshal(WireRequest{Image: base64.StdEncoding.EncodeToString(r.Image), Prompt: r.Prompt, Seed: r.Seed,
		Frames: r.Frames, Width: r.Width, Height: r.Height, FPS: r.FPS, Steps: r.Steps, Guidance: r.Guidance,
		ClipID: r.ClipID, Index: r.Index})
	if err != nil {
		return nil, err
	}
	var video []byte
	err = c.retry(ctx, fmt.Sprintf("%s/%d", r.ClipID, r.Index), func(ctx context.Context) (bool, time.Duration, error) {
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return true, 0, ctx.Err()
		}
		defer func() { <-c.sem }()
		v, retryable, after, err := c.post(ctx, body)
		video = v
		return retryable, after, err
	})
	if err != nil {
		return nil, err
	}
	return video, nil
}

func (c *HTTP) post(ctx context.Context, body []byte) ([]byte, bool, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.o.URL+"/v1/generate", bytes.NewReader(body))
	if err != nil {
		return nil, false, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req)
	resp, err := c.o.Client.Do(req)
	if err != nil {
		return nil, true, 0, err // connection trouble or the attempt's timeout
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.o.MaxResponseBytes+1))
	if err != nil {
		return nil, true, 0, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, retryableStatus(resp.StatusCode), retryAfter(resp), fmt.Errorf("HTTP %d: %s", resp.StatusCode, c.excerpt(data))
	}
	if int64(len(data)) > c.o.MaxResponseBytes {
		return nil, false, 0, fmt.Errorf("video over %d bytes", c.o.MaxResponseBytes)
	}
	if !IsMP4(data) {
		return nil, true, 0, fmt.Errorf("malformed answer: %d bytes of %q, not an mp4", len(data), resp.Header.Get("Content-Type"))
	}
	return data, false, 0, nil
}

func (c *HTTP) authorize(req *http.Request) {
	if c.o.APIKey.IsSet() {
		req.Header.Set("Authorization", "Bearer "+c.o.APIKey.Reveal())
	}
}

// IsMP4 checks for an ISO base media file: an ftyp box first.
func IsMP4(b []byte) bool { return len(b) >= 12 && string(b[4:8]) == "ftyp" }

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

func retryAfter(resp *http.Response) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s >= 0 && s < 3600 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// excerpt is what an error keeps of an answer's body: bounded, sanitised,
// the key and any long run of it redacted (errors reach records and logs).
func (c *HTTP) excerpt(b []byte) string { return c.o.APIKey.Excerpt(string(b), 0) }

// Handler serves a Generator with the HTTP API: the reference for service
// implementers and the base of the tests' double.
func Handler(g Generator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		i := g.Info()
		writeJSON(w, http.StatusOK, WireInfo{API: API, GeneratorID: i.ID, Checkpoint: i.Checkpoint})
	})
	mux.HandleFunc("POST /v1/generate", func(w http.ResponseWriter, r *http.Request) {
		req, status, err := ParseWireRequest(r)
		if err != nil {
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		video, err := g.Generate(r.Context(), req)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		i := g.Info()
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("X-Generator-Id", i.ID)
		w.Header().Set("X-Checkpoint", i.Checkpoint)
		w.Header().Set("Content-Length", strconv.Itoa(len(video)))
		w.Write(video)
	})
	return mux
}

// ParseWireRequest decodes and validates a POST /v1/generate body,
// returning the HTTP status to answer with on error.
func ParseWireRequest(r *http.Request) (Request, int, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return Request{}, http.StatusBadRequest, fmt.Errorf("content type %q, want application/json", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return Request{}, http.StatusBadRequest, err
	}
	if len(body) > MaxRequestBytes {
		return Request{}, http.StatusRequestEntityTooLarge, fmt.Errorf("request over %d bytes", MaxRequestBytes)
	}
	var wr WireRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wr); err != nil {
		return Request{}, http.StatusBadRequest, fmt.Errorf("bad JSON: %w", err)
	}
	img, err := base64.StdEncoding.DecodeString(wr.Image)
	if err != nil {
		return Request{}, http.StatusBadRequest, errors.New("image is not base64")
	}
	req := Request{ClipID: wr.ClipID, Index: wr.Index, Image: img, Prompt: wr.Prompt, Seed: wr.Seed,
		Spec: Spec{Frames: wr.Frames, Width: wr.Width, Height: wr.Height, FPS: wr.FPS}, Steps: wr.Steps, Guidance: wr.Guidance}
	if err := req.Validate(); err != nil {
		return Request{}, http.StatusBadRequest, err
	}
	return req, 0, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
