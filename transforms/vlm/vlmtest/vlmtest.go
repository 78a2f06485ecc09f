// Package vlmtest is an in-process OpenAI chat-completions server for
// tests of code that talks to a vision-language model (transforms/vlm and
// the pipelines that caption or judge with it). It checks every request as
// a strict server would (path, method, JSON body, bearer key, model,
// max_tokens, temperature, one user message of a text part and base64 JPEG
// image_url parts that decode) and answers in the real response schema, or
// with the fault a script picks: 429 with Retry-After, 500, 400, 401, an
// answer slower than the client's deadline, a truncated body, no choices,
// an answer cut off at max_tokens.
//
// Scripts see each request's content (a hash of its images) and how many
// times that prompt and those images have been asked before, so faults can
// be scheduled per clip, deterministically, however a runner orders,
// batches or retries the work.
package vlmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is how the server answers one request.
type Fault string

// Faults.
const (
	OK           Fault = "ok"           // 200 with the answer
	RateLimit    Fault = "429"          // 429 rate_limit_exceeded with Retry-After-Ms and Retry-After
	ServerError  Fault = "500"          // 500 server_error
	BadRequest   Fault = "400"          // 400 invalid_request_error
	Unauthorized Fault = "401"          // 401 invalid_api_key, echoing the Authorization header as some servers do
	Slow         Fault = "slow"         // the answer, after Config.Slow (past a client's deadline)
	Malformed    Fault = "malformed"    // 200 with a body cut off mid-JSON
	NoChoices    Fault = "no_choices"   // 200 with an empty choices list
	EmptyContent Fault = "empty"        // 200 with an empty message
	Length       Fault = "length"       // 200, finish_reason "length"
	Invalid      Fault = "invalid"      // the request itself was malformed (400, listed by Bad)
	Unauth       Fault = "unauthorized" // the request lacked the key (401, not scripted)
)

// Request is a validated request as a script sees it.
type Request struct {
	N           int64 // arrival order, from 1
	Model       string
	MaxTokens   int
	Temperature float64
	Prompt      string
	Images      [][]byte // the decoded JPEG bytes
	// Content is a hex SHA-256 of the images alone: the same keyframes
	// give the same value whatever the prompt.
	Content string
	// Attempt counts requests with this prompt and these images, from 1.
	Attempt int
}

// Reply is a script's answer to one request.
type Reply struct {
	Fault Fault // "" is OK
	// Text is the message for OK, Slow and Length ("Answer N: ..." when empty).
	Text string
	// Message is the error message of an error fault (a stock one when empty).
	Message string
	// RetryAfter is sent with a 429 (20 ms when zero).
	RetryAfter time.Duration
}

// Config is what the server expects and how it answers.
type Config struct {
	// Key is the API key every request must carry as "Authorization:
	// Bearer KEY"; "" wants no Authorization header.
	Key string
	// Model, when set, is the only model served.
	Model string
	// MaxTokens, when positive, is the max_tokens every request must ask for.
	MaxTokens int
	// Prompts, when set, are the only prompts accepted.
	Prompts []string
	// Frames, when positive, is the number of image parts every request
	// must carry; otherwise at least one.
	Frames int
	// Slow is how long a Slow answer takes (5 s when zero).
	Slow time.Duration
	// Script picks each answer; nil answers every request OK.
	Script func(Request) Reply
}

// Record is one request as the server handled it.
type Record struct {
	N       int64
	Content string
	Prompt  string
	Attempt int
	Fault   Fault
	Status  int
	Text    string // the answer sent, for 200s with a message
}

// Server is a running fake endpoint.
type Server struct {
	// URL is the base URL a client is configured with (ends in /v1).
	URL string

	cfg         Config
	srv         *httptest.Server
	n           atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64

	mu       sync.Mutex
	attempts map[string]int
	bad      []string
	log      []Record
}

// New starts a server; Close it when done.
func New(cfg Config) *Server {
	if cfg.Slow <= 0 {
		cfg.Slow = 5 * time.Second
	}
	s := &Server{cfg: cfg, attempts: map[string]int{}}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close stops the server, ending any answer still being delayed.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Requests is the number of requests received on the endpoint.
func (s *Server) Requests() int64 { return s.n.Load() }

// MaxInFlight is the most requests the server was handling at once.
func (s *Server) MaxInFlight() int64 { return s.maxInFlight.Load() }

// Bad lists the requests that broke the protocol, and why.
func (s *Server) Bad() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bad...)
}

// Log is every request handled, in arrival order.
func (s *Server) Log() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]Record(nil), s.log...)
	// Records are appended when a request ends; order them by arrival.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].N < out[j-1].N; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Counts is the number of requests answered with each fault.
func (s *Server) Counts() map[Fault]int {
	out := map[Fault]int{}
	for _, r := range s.Log() {
		out[r.Fault]++
	}
	return out
}

type chatRequest struct {
	Model       string   `json:"model"`
	MaxTokens   *int     `json:"max_tokens"`
	Temperature *float64 `json:"temperature"`
	Messages    []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

type contentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cur := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxInFlight.Load(); cur > m && !s.maxInFlight.CompareAndSwap(m, cur); m = s.maxInFlight.Load() {
	}
	if r.URL.Path != "/v1/chat/completions" {
		s.invalid(w, 0, http.StatusNotFound, fmt.Sprintf("unknown path %s %s", r.Method, r.URL.Path))
		return
	}
	n := s.n.Add(1)
	if r.Method != http.MethodPost {
		s.invalid(w, n, http.StatusMethodNotAllowed, "method "+r.Method)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.invalid(w, n, http.StatusBadRequest, fmt.Sprintf("content type %q", ct))
		return
	}
	want := ""
	if s.cfg.Key != "" {
		want = "Bearer " + s.cfg.Key
	}
	if got := r.Header.Get("Authorization"); got != want {
		s.record(Record{N: n, Fault: Unauth, Status: http.StatusUnauthorized})
		writeError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided: "+got)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.invalid(w, n, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	req, msg := s.parse(body)
	if msg != "" {
		s.invalid(w, n, http.StatusBadRequest, msg)
		return
	}
	req.N = n
	s.mu.Lock()
	k := req.Content + "\x00" + req.Prompt
	s.attempts[k]++
	req.Attempt = s.attempts[k]
	s.mu.Unlock()
	rep := Reply{Fault: OK}
	if s.cfg.Script != nil {
		rep = s.cfg.Script(req)
	}
	if rep.Fault == "" {
		rep.Fault = OK
	}
	rec := Record{N: n, Content: req.Content, Prompt: req.Prompt, Attempt: req.Attempt, Fault: rep.Fault}
	defer func() { s.record(rec) }()
	text := rep.Text
	if text == "" {
		text = fmt.Sprintf("Answer %d: a person walks across a park.", n)
	}
	switch rep.Fault {
	case RateLimit:
		d := rep.RetryAfter
		if d <= 0 {
			d = 20 * time.Millisecond
		}
		w.Header().Set("Retry-After-Ms", strconv.FormatInt(d.Milliseconds(), 10))
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
		rec.Status = http.StatusTooManyRequests
		writeError(w, rec.Status, "rate_limit_exceeded", or(rep.Message, "Rate limit reached for requests"))
		return
	case ServerError:
		rec.Status = http.StatusInternalServerError
		writeError(w, rec.Status, "server_error", or(rep.Message, "The server had an error while processing your request"))
		return
	case BadRequest:
		rec.Status = http.StatusBadRequest
		writeError(w, rec.Status, "invalid_request_error", or(rep.Message, "Invalid image"))
		return
	case Unauthorized:
		rec.Status = http.StatusUnauthorized
		writeError(w, rec.Status, "invalid_api_key", "Incorrect API key provided: "+r.Header.Get("Authorization"))
		return
	case Malformed:
		rec.Status = http.StatusOK
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-`+strconv.FormatInt(n, 10)+`","object":"chat.completion","choices":[{"index":0,"message":{"role":"assis`)
		return
	case NoChoices:
		rec.Status = http.StatusOK
		writeJSON(w, completion(n, req.Model, nil))
		return
	case Slow:
		select {
		case <-time.After(s.cfg.Slow):
		case <-r.Context().Done():
			rec.Status = 499 // the client gave up first (nginx's code for it)
			return
		}
	case EmptyContent:
		text = ""
	case OK, Length:
	default:
		rec.Status = http.StatusInternalServerError
		writeError(w, rec.Status, "server_error", fmt.Sprintf("vlmtest: script returned unknown fault %q", rep.Fault))
		return
	}
	finish := "stop"
	if rep.Fault == Length {
		finish = "length"
	}
	rec.Status, rec.Text = http.StatusOK, text
	writeJSON(w, completion(n, req.Model, []any{map[string]any{
		"index": 0, "finish_reason": finish, "logprobs": nil,
		"message": map[string]any{"role": "assistant", "content": text, "refusal": nil},
	}}))
}

// parse validates a request body; msg says what is wrong with it.
func (s *Server) parse(body []byte) (req Request, msg string) {
	var cr chatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return req, "body is not JSON: " + err.Error()
	}
	switch {
	case cr.Model == "":
		return req, "no model"
	case s.cfg.Model != "" && cr.Model != s.cfg.Model:
		return req, fmt.Sprintf("model %q is not served (want %q)", cr.Model, s.cfg.Model)
	case cr.Temperature == nil || *cr.Temperature < 0 || *cr.Temperature > 2:
		return req, fmt.Sprintf("temperature %v: want 0..2", cr.Temperature)
	case cr.MaxTokens != nil && *cr.MaxTokens < 1:
		return req, fmt.Sprintf("max_tokens %d", *cr.MaxTokens)
	case s.cfg.MaxTokens > 0 && (cr.MaxTokens == nil || *cr.MaxTokens != s.cfg.MaxTokens):
		return req, fmt.Sprintf("max_tokens %v, want %d", cr.MaxTokens, s.cfg.MaxTokens)
	case len(cr.Messages) != 1 || cr.Messages[0].Role != "user":
		return req, fmt.Sprintf("want one user message, got %d", len(cr.Messages))
	}
	req.Model, req.Temperature = cr.Model, *cr.Temperature
	if cr.MaxTokens != nil {
		req.MaxTokens = *cr.MaxTokens
	}
	var parts []contentPart
	if err := json.Unmarshal(cr.Messages[0].Content, &parts); err != nil {
		return req, "message content is not a list of parts: " + err.Error()
	}
	texts := 0
	h := sha256.New()
	for i, p := range parts {
		switch p.Type {
		case "text":
			texts++
			req.Prompt = p.Text
		case "image_url":
			const pre = "data:image/jpeg;base64,"
			if p.ImageURL == nil || !strings.HasPrefix(p.ImageURL.URL, pre) {
				return req, fmt.Sprintf("part %d: image_url is not a base64 JPEG data URL", i)
			}
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(p.ImageURL.URL, pre))
			if err != nil {
				return req, fmt.Sprintf("part %d: base64: %v", i, err)
			}
			if _, err := jpeg.Decode(bytes.NewReader(raw)); err != nil {
				return req, fmt.Sprintf("part %d: not a JPEG: %v", i, err)
			}
			binary.Write(h, binary.LittleEndian, int64(len(raw)))
			h.Write(raw)
			req.Images = append(req.Images, raw)
		default:
			return req, fmt.Sprintf("part %d: type %q", i, p.Type)
		}
	}
	switch {
	case texts != 1 || strings.TrimSpace(req.Prompt) == "":
		return req, fmt.Sprintf("%d text parts, want one non-empty prompt", texts)
	case len(req.Images) == 0:
		return req, "no image parts"
	case s.cfg.Frames > 0 && len(req.Images) != s.cfg.Frames:
		return req, fmt.Sprintf("%d image parts, want %d", len(req.Images), s.cfg.Frames)
	}
	if len(s.cfg.Prompts) > 0 {
		ok := false
		for _, p := range s.cfg.Prompts {
			ok = ok || p == req.Prompt
		}
		if !ok {
			return req, fmt.Sprintf("unexpected prompt %q", req.Prompt)
		}
	}
	req.Content = hex.EncodeToString(h.Sum(nil))
	return req, ""
}

func (s *Server) invalid(w http.ResponseWriter, n int64, code int, msg string) {
	s.mu.Lock()
	s.bad = append(s.bad, msg)
	s.mu.Unlock()
	if n > 0 {
		s.record(Record{N: n, Fault: Invalid, Status: code})
	}
	writeError(w, code, "invalid_request_error", msg)
}

func (s *Server) record(r Record) {
	s.mu.Lock()
	s.log = append(s.log, r)
	s.mu.Unlock()
}

func completion(n int64, model string, choices []any) map[string]any {
	if choices == nil {
		choices = []any{}
	}
	return map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(),
		"model": model, "system_fingerprint": "fp_vlmtest", "choices": choices,
		"usage": map[string]any{"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// writeError sends the OpenAI error envelope.
func writeError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
