package refresh

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"realdpo/pipelines/curate"
	"realdpo/schemas"
	"realdpo/transforms/quality/testclips"
)

// faultProxy sits between the storage client and fake-gcs-server and
// breaks a share of the requests, by a fixed rotation so a run is
// repeatable: a 503 before the server sees the request, a dropped
// connection, a stall, a 503 after the server did the work (the client must
// retry something that already happened), and a download cut short.
type faultProxy struct {
	proxy *httputil.ReverseProxy
	every int
	stall time.Duration

	mu     sync.Mutex
	n      int
	counts map[string]int
	// cutPending: a cut_body fault is owed to the next download.
	cutPending bool
}

func newFaultProxy(t *testing.T, backend string, every int) (*faultProxy, string) {
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultProxy{proxy: httputil.NewSingleHostReverseProxy(u), every: every, stall: 1500 * time.Millisecond, counts: map[string]int{}}
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	return fp, strings.TrimPrefix(srv.URL, "http://")
}

func (fp *faultProxy) pick(r *http.Request) string {
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

func (fp *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		w.Header().Set("Content-Length", itoa(len(body)))
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

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestCurateGCSThroughFaults runs curate from and to gs:// with every
// fourth storage request broken: the run completes and the dataset is
// complete, with every clip once and no temporary objects left.
func TestCurateGCSThroughFaults(t *testing.T) {
	testclips.RequireFFmpeg(t)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "footage"})
	dir := t.TempDir()
	corpus(t, dir, 3)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "footage", Name: "raw/" + e.Name()}, Content: data})
	}
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "footage", Name: "raw/src00.json"},
		Content: []byte(`{"title":"Someone walking slowly along a quiet park path","tags":["walking"]}`)})
	fp, host := newFaultProxy(t, srv.URL(), 4)
	t.Setenv("STORAGE_EMULATOR_HOST", host)

	cfg, err := untaggedConfig("gs://footage/raw", "gs://footage/dataset", schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := curate.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; faults injected: %v of %d requests", st.AccountingLine(), fp.counts, fp.n)
	for _, m := range []string{"503", "drop", "stall", "503_after", "cut_body"} {
		if fp.counts[m] == 0 {
			t.Errorf("no %s fault was injected", m)
		}
	}
	if st.Inputs != 4 || st.InputsAccepted != 3 || st.InputsRejected != 1 || st.Clips != 3 {
		t.Fatalf("accounting: %s", st.AccountingLine())
	}
	objs, _, err := srv.ListObjects("footage", "dataset/", "", false)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, o := range objs {
		names[o.Name] = true
		if strings.Contains(o.Name, ".tmp-") {
			t.Errorf("temporary object left: %s", o.Name)
		}
	}
	man, err := srv.GetObject("footage", "dataset/manifest.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(man.Content)), "\n") {
		var m schemas.ManifestRecord
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if seen[m.ID] {
			t.Errorf("clip %s twice in the manifest", m.ID)
		}
		seen[m.ID] = true
		for _, f := range []string{m.Clip, m.FirstFrame} {
			o, err := srv.GetObject("footage", "dataset/"+f)
			if err != nil || len(o.Content) == 0 {
				t.Errorf("%s missing or empty: %v", f, err)
			}
		}
		if m.Source == "src00.mp4" && m.Category != schemas.CategoryWalking {
			t.Errorf("sidecar lost: %+v", m)
		}
	}
	if len(seen) != 3 {
		t.Errorf("manifest has %d clips", len(seen))
	}
}
