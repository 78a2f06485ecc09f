// Package pipetest holds what the pipelines' tests share: a small corpus
// of demo footage, a proxy that breaks storage requests on the way to
// fake-gcs-server, and Beam flag and port helpers. It is imported by tests
// only.
package pipetest

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"realdpo/transforms/quality/testclips"
)

// GoodSpec is a short demo clip that every curate profile keeps: a static
// camera on a moving subject.
var GoodSpec = testclips.Spec{Camera: "static", Subject: "moving", Dur: 3}

// GoodFootage writes a GoodSpec clip as dir/name and returns its path; the
// test is skipped without ffmpeg.
func GoodFootage(t *testing.T, dir, name string) string {
	t.Helper()
	testclips.RequireFFmpeg(t)
	return testclips.Make(t, dir, name, GoodSpec)
}

// GoodClip is the bytes of a GoodSpec clip, to copy under names of the
// test's choosing.
func GoodClip(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(GoodFootage(t, t.TempDir(), "good.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Corpus writes n distinct good demo-profile sources and one bad one.
func Corpus(t *testing.T, dir string, n int) {
	t.Helper()
	hues := []string{"hue=h=0", "hflip,hue=h=90:s=1.3", "negate", "hue=h=200:s=1.6", "vflip", "hflip,negate"}
	for i := 0; i < n; i++ {
		testclips.Make(t, dir, fmt.Sprintf("src%02d.mp4", i), testclips.Spec{Camera: "static", Subject: "moving", Dur: 3, Post: hues[i%len(hues)]})
	}
	os.WriteFile(filepath.Join(dir, "notes.mp4"), []byte("not a video"), 0o644)
}

// FaultProxy sits between the storage client and fake-gcs-server and
// breaks a share of the requests, by a fixed rotation so a run is
// repeatable: a 503 before the server sees the request, a dropped
// connection, a stall, a 503 after the server did the work (the client must
// retry something that already happened), and a download cut short.
type FaultProxy struct {
	proxy *httputil.ReverseProxy
	every int
	stall time.Duration

	mu     sync.Mutex
	n      int
	counts map[string]int
	// cutPending: a cut_body fault is owed to the next download.
	cutPending bool
}

// NewFaultProxy serves a FaultProxy to backend that breaks every
// every-th request; it returns the host:port for STORAGE_EMULATOR_HOST.
func NewFaultProxy(t *testing.T, backend string, every int) (*FaultProxy, string) {
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	fp := &FaultProxy{proxy: httputil.NewSingleHostReverseProxy(u), every: every, stall: 1500 * time.Millisecond, counts: map[string]int{}}
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	return fp, strings.TrimPrefix(srv.URL, "http://")
}

func (fp *FaultProxy) pick(r *http.Request) string {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.n++
	download := r.Method == http.MethodGet && (r.URL.Query().Get("alt") == "media" || !strings.Contains(r.URL.Path, "/storage/v1/"))
	// A body can only be cut on a download; a cut that fell on another
	// request waits for the next download, so every run injects one
	// whatever order the workers' requests arrive in.
	if fp.cutPending && download {
		fp.cutPending = false
		fp.counts["cut_body"]++
		return "cut_body"
	}
	if fp.n%fp.every != 0 {
		return ""
	}
	modes := []string{"503", "drop", "stall", "503_after", "cut_body"}
	mode := modes[(fp.n/fp.every)%len(modes)]
	if mode == "cut_body" && !download {
		fp.cutPending = true
		mode = "503"
	}
	fp.counts[mode]++
	return mode
}

func (fp *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch fp.pick(r) {
	case "503":
		http.Error(w, "injected: backend unavailable", http.StatusServiceUnavailable)
	case "drop":
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.(*net.TCPConn).SetLinger(0) // a reset, not a clean close
				c.Close()
				return
			}
		}
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
	case "stall":
		time.Sleep(fp.stall)
		fp.proxy.ServeHTTP(w, r)
	case "503_after":
		rec := httptest.NewRecorder()
		fp.proxy.ServeHTTP(rec, r)
		http.Error(w, "injected: lost the response", http.StatusServiceUnavailable)
	case "cut_body":
		rec := httptest.NewRecorder()
		fp.proxy.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		if hj, ok := w.(http.Hijacker); ok {
			if c, buf, err := hj.Hijack(); err == nil {
				buf.Flush()
				c.Close()
			}
		}
	default:
		fp.proxy.ServeHTTP(w, r)
	}
}

// Counts returns the faults injected so far by kind, and the requests seen.
func (fp *FaultProxy) Counts() (map[string]int, int) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	out := make(map[string]int, len(fp.counts))
	for k, v := range fp.counts {
		out[k] = v
	}
	return out, fp.n
}

// FreePort asks the kernel for an unused localhost port.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SetFlags sets Beam's flags for one test and restores them after.
func SetFlags(t *testing.T, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		f := flag.Lookup(k)
		if f == nil {
			t.Fatalf("no flag --%s", k)
		}
		old := f.Value.String()
		if err := flag.Set(k, v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { flag.Set(k, old) })
	}
}
