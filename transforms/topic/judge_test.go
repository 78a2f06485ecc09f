package topic

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"realdpo/schemas"
	"realdpo/transforms/vlm"
)

// TestJudge asks a chat-completions server that answers by what the
// question says, and checks the verdict and its text are kept.
func TestJudge(t *testing.T) {
	answer := "Yes. A man is stirring a pot at a stove."
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/chat/completions" || !strings.Contains(string(body), "slideshows") || !strings.Contains(string(body), "data:image/jpeg;base64,") {
			http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "c1", "object": "chat.completion", "created": 1, "model": "judge-vl",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": answer}}}})
	}))
	defer srv.Close()
	c, err := vlm.New(schemas.VLMConfig{BaseURL: srv.URL + "/v1", Model: "judge-vl", MaxTokens: 50, Timeout: 5 * time.Second, MaxAttempts: 2, Concurrency: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	rgb := make([]byte, 32*24*3)
	jpg, err := vlm.EncodeJPEG(rgb, 32, 24, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Judge(context.Background(), c, "judge-vl", [][]byte{jpg})
	if err != nil || v.Answer != "yes" || v.Text != answer || v.Model != "judge-vl" {
		t.Errorf("verdict %+v, err %v", v, err)
	}
	answer = "No - this is a slideshow of still photos."
	if v, err = Judge(context.Background(), c, "judge-vl", [][]byte{jpg}); err != nil || v.Answer != "no" {
		t.Errorf("verdict %+v, err %v", v, err)
	}
	if _, err := Judge(context.Background(), c, "judge-vl", nil); err == nil {
		t.Error("judged a clip without frames")
	}
}
