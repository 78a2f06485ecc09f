package generate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// demoSpec is the demo profile's clip spec.
var demoSpec = Spec{Frames: 17, Width: 96, Height: 64, FPS: 8}

func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSeed(t *testing.T) {
	a := Seed("clip", 0, "local/base@x")
	if a != Seed("clip", 0, "local/base@x") || a >= 1<<53 {
		t.Fatalf("seed %d not stable or too large", a)
	}
	seen := map[uint64]bool{a: true}
	for _, s := range []uint64{Seed("clip", 1, "local/base@x"), Seed("clip", 0, "local/base@y"), Seed("clip2", 0, "local/base@x"), Seed("cli", 0, "plocal/base@x")} {
		if seen[s] {
			t.Fatal("two samples share a seed")
		}
		seen[s] = true
	}
}

func TestResampleTime(t *testing.T) {
	var in [][]byte
	for i := 0; i < 9; i++ {
		in = append(in, []byte{byte(10 * i), byte(20 * i)})
	}
	out := ResampleTime(in, 17)
	if len(out) != 17 {
		t.Fatalf("%d frames", len(out))
	}
	for j, f := range out {
		want := []byte{byte(5 * j), byte(10 * j)}
		if !bytes.Equal(f, want) {
			t.Fatalf("frame %d = %v, want %v", j, f, want)
		}
	}
	if got := ResampleTime(in, 1); len(got) != 1 || !bytes.Equal(got[0], in[0]) {
		t.Fatal("one frame")
	}
	// Squeezing keeps the ends.
	if got := ResampleTime(in, 3); !bytes.Equal(got[0], in[0]) || !bytes.Equal(got[1], in[4]) || !bytes.Equal(got[2], in[8]) {
		t.Fatalf("squeeze %v", got)
	}
	// Resize a flat frame stays flat.
	flat := bytes.Repeat([]byte{7, 8, 9}, 48*32)
	if r := ResizeRGB24(flat, 48, 32, 96, 64); !bytes.Equal(r, bytes.Repeat([]byte{7, 8, 9}, 96*64)) {
		t.Fatal("resize changed a flat frame")
	}
}

func TestLocalTinyModel(t *testing.T) {
	ctx := context.Background()
	g, err := NewLocal(LocalOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := NewLocal(LocalOptions{})
	if g.s != g2.s {
		t.Fatal("the model was loaded twice in one process")
	}
	if !strings.HasPrefix(g.Info().ID, "local/base@") || !strings.HasPrefix(g.Info().Checkpoint, "base@sha256:") {
		t.Fatalf("info %+v", g.Info())
	}
	req := Request{ClipID: "c1", Index: 0, Image: testPNG(t, 96, 64), Prompt: "a person waves", Spec: demoSpec, Steps: 2, Guidance: 6}
	req.Seed = Seed(req.ClipID, req.Index, g.Info().ID)
	a, err := g.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different videos")
	}
	req.Seed++
	c, err := g.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same video")
	}
	p := filepath.Join(t.TempDir(), "v.mp4")
	os.WriteFile(p, a, 0o644)
	info, err := CheckVideo(ctx, p, demoSpec)
	if err != nil {
		t.Fatal(err)
	}
	if info.Codec != "h264" || info.PixFmt != "yuv420p" {
		t.Fatalf("probe %+v", info)
	}
	if _, err := CheckVideo(ctx, p, Spec{Frames: 9, Width: 96, Height: 64, FPS: 8}); !errors.Is(err, ErrSpec) {
		t.Fatalf("spec mismatch not caught: %v", err)
	}
	bad := req
	bad.Image = []byte("not a png")
	if _, err := g.Generate(ctx, bad); err == nil {
		t.Fatal("bad image accepted")
	}

	// The same model behind the HTTP API gives the same bytes.
	srv := httptest.NewServer(Handler(g))
	defer srv.Close()
	hc, err := NewHTTP(ctx, HTTPOptions{URL: srv.URL, GeneratorID: g.Info().ID})
	if err != nil {
		t.Fatal(err)
	}
	req.Seed--
	v, err := hc.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v, a) {
		t.Fatal("the HTTP service and the local generator disagree")
	}
}

// fakeGen encodes a short flat video whose colour comes from the seed.
type fakeGen struct{ calls atomic.Int64 }

func (f *fakeGen) Info() Info   { return Info{Kind: "local", ID: "fake/1", Checkpoint: "fake@0"} }
func (f *fakeGen) Close() error { return nil }
func (f *fakeGen) Generate(ctx context.Context, r Request) ([]byte, error) {
	f.calls.Add(1)
	frame := bytes.Repeat([]byte{byte(r.Seed), byte(r.Seed >> 8), 128}, r.Width*r.Height)
	frames := make([][]byte, r.Frames)
	for i := range frames {
		frames[i] = frame
	}
	return EncodeMP4(ctx, os.TempDir(), frames, r.Spec)
}

// faults answers the first requests to /v1/generate with a scripted fault,
// then passes through: the double of a loaded GPU service.
type faults struct {
	next     http.Handler
	mu       sync.Mutex
	script   []string
	attempts atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64
	delay    time.Duration
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/generate" {
		f.next.ServeHTTP(w, r)
		return
	}
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	f.attempts.Add(1)
	f.mu.Lock()
	var fault string
	if len(f.script) > 0 {
		fault, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	switch fault {
	case "429":
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error":"busy"}`, http.StatusTooManyRequests)
	case "503":
		http.Error(w, `{"error":"warming up"}`, http.StatusServiceUnavailable)
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	case "malformed":
		w.Header().Set("Content-Type", "video/mp4")
		w.Write([]byte("<html>proxy error</html>"))
	case "truncated":
		w.Header().Set("Content-Length", "100000")
		w.Write([]byte("\x00\x00\x00\x20ftypisom"))
	default:
		f.next.ServeHTTP(w, r)
	}
}

func newDouble(t *testing.T, script ...string) (*faults, *fakeGen, *httptest.Server) {
	g := &fakeGen{}
	f := &faults{next: Handler(g), script: script}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, g, srv
}

func quick(url string) HTTPOptions {
	// The timeout leaves room for a real encode on a loaded machine; the
	// "slow" fault outwaits it.
	return HTTPOptions{URL: url, Timeout: 3 * time.Second, Retries: 5, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
}

func fakeRequest(t *testing.T) Request {
	return Request{ClipID: "c", Index: 1, Image: testPNG(t, 16, 16), Prompt: "p", Seed: 7,
		Spec: Spec{Frames: 3, Width: 32, Height: 32, FPS: 8}, Steps: 2, Guidance: 6}
}

func TestHTTPRetries(t *testing.T) {
	ctx := context.Background()
	f, g, srv := newDouble(t, "429", "503", "slow", "malformed", "truncated")
	c, err := NewHTTP(ctx, quick(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if c.Info().ID != "fake/1" || c.Info().Kind != "http" {
		t.Fatalf("info %+v", c.Info())
	}
	v, err := c.Generate(ctx, fakeRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	if !IsMP4(v) || f.attempts.Load() != 6 || g.calls.Load() != 1 {
		t.Fatalf("mp4 %v, attempts %d, generator calls %d", IsMP4(v), f.attempts.Load(), g.calls.Load())
	}
}

func TestHTTPGivesUp(t *testing.T) {
	ctx := context.Background()
	f, _, srv := newDouble(t, "503", "503", "503", "503")
	o := quick(srv.URL)
	o.Retries = 2
	c, err := NewHTTP(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Generate(ctx, fakeRequest(t))
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || f.attempts.Load() != 3 {
		t.Fatalf("err %v after %d attempts", err, f.attempts.Load())
	}
}

func TestHTTPBadRequestNotRetried(t *testing.T) {
	ctx := context.Background()
	f, _, srv := newDouble(t)
	c, err := NewHTTP(ctx, quick(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	r := fakeRequest(t)
	r.Image = []byte("x")
	// The image is valid base64 but the fake accepts anything; make the
	// server reject the spec instead by bypassing the client's validation.
	body := `{"image":"eA==","prompt":"p","seed":1,"frames":3,"width":33,"height":32,"fps":8,"steps":2,"guidance":6}`
	resp, err := http.Post(srv.URL+"/v1/generate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("odd width answered %d", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+"/v1/generate", "application/json", strings.NewReader(`{"image":"eA==","bogus":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown field answered %d", resp.StatusCode)
	}
	before := f.attempts.Load()
	// A 400 from the service is final.
	f.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "prompt too long"})
	})
	_, err = c.Generate(ctx, r)
	if err == nil || !strings.Contains(err.Error(), "prompt too long") || f.attempts.Load() != before+1 {
		t.Fatalf("err %v, attempts %d", err, f.attempts.Load()-before)
	}
}

func TestHTTPConcurrencyBound(t *testing.T) {
	ctx := context.Background()
	f, _, srv := newDouble(t)
	f.delay = 50 * time.Millisecond
	o := quick(srv.URL)
	o.MaxConcurrent = 2
	// Long enough that no attempt is abandoned on a loaded machine: the
	// server still counts an abandoned attempt in flight while its retry
	// runs, which would read as a third request.
	o.Timeout = 5 * time.Minute
	c, err := NewHTTP(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := fakeRequest(t)
			r.Seed = uint64(i)
			if _, err := c.Generate(ctx, r); err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if m := f.maxIn.Load(); m > 2 || m < 1 {
		t.Fatalf("%d requests in flight at once, bound 2", m)
	}
}

func TestHTTPNotAService(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer srv.Close()
	o := quick(srv.URL)
	o.Retries = 1
	if _, err := NewHTTP(context.Background(), o); err == nil || !strings.Contains(err.Error(), "not a realdpo-generate/1 service") {
		t.Fatalf("err %v", err)
	}
	if _, err := NewHTTP(context.Background(), HTTPOptions{URL: "ftp://x"}); err == nil {
		t.Fatal("ftp accepted")
	}
}
