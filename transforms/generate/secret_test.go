package generate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"realdpo/transforms/secret"
)

// TestAPIKeyNeverLeaks sets a recognisable key in the environment, runs the
// HTTP generation client against a service that demands it and then echoes
// the request headers back in its error bodies (as some proxies and
// frameworks do), and greps every error and log line for the key.
func TestAPIKeyNeverLeaks(t *testing.T) {
	const canary = "sk-realdpo-CANARY-51d2e8b7"
	t.Setenv(APIKeyEnv, canary)
	key, err := secret.Load(APIKeyEnv, "")
	if err != nil {
		t.Fatal(err)
	}
	var authorized, echoed atomic.Int32
	g := Handler(&fakeGen{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+canary {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		if r.URL.Path == "/v1/info" {
			g.ServeHTTP(w, r)
			return
		}
		// Every generate call fails, echoing the headers: twice retryable, then not.
		var dump strings.Builder
		r.Header.Write(&dump)
		status := http.StatusServiceUnavailable
		if echoed.Add(1) > 2 {
			status = http.StatusForbidden
		}
		http.Error(w, fmt.Sprintf("upstream said no; your request was:\n%s?key=%s", dump.String(), canary), status)
	}))
	defer srv.Close()

	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(prev)

	o := quick(srv.URL)
	o.APIKey = key
	c, err := NewHTTP(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	_, genErr := c.Generate(context.Background(), fakeRequest(t))
	if genErr == nil {
		t.Fatal("generation succeeded against a failing service")
	}
	if authorized.Load() < 4 || echoed.Load() != 3 {
		t.Fatalf("key sent on %d requests, %d echoed (want >= 4, 3)", authorized.Load(), echoed.Load())
	}
	// Without the key the service refuses: the key really is what authorises.
	if _, err := NewHTTP(context.Background(), quick(srv.URL)); err == nil {
		t.Error("service accepted a client without the key")
	}
	everything := strings.Join([]string{genErr.Error(), logs.String(), fmt.Sprintf("%+v %#v", o, o)}, "\n")
	if strings.Contains(everything, canary) {
		t.Fatalf("the API key leaked:\n%s", everything)
	}
	if !strings.Contains(genErr.Error(), "[REDACTED]") || !strings.Contains(logs.String(), "generate: retrying") {
		t.Errorf("expected the echoed key redacted in the error and retries logged; err %q", genErr)
	}
}
