package vlm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The chat-completions wire format, as much of it as captioning and judging
// use (https://platform.openai.com/docs/api-reference/chat/create; vLLM
// and other OpenAI-compatible servers accept the same).

type chatRequest struct {
	Model       string    `json:"model"`
	Messages    []message `json:"messages"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Temperature float64   `json:"temperature"`
}

type message struct {
	Role    string        `json:"role"`
	Content []contentPart `json:"content"`
}

// contentPart is a text part or an image_url part of a user message.
type contentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

type chatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// maxResponseBytes bounds what is read of an answer: a caption is a few
// kilobytes, and a misbehaving server must not fill a worker's memory.
const maxResponseBytes = 8 << 20

// post sends one request body and returns the response body, status and
// headers. A body cut off in transit is an error, as is a larger one than
// maxResponseBytes.
func (c *Client) post(ctx context.Context, body []byte) ([]byte, int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, res.StatusCode, res.Header, fmt.Errorf("read response: %w", err)
	}
	if len(data) > maxResponseBytes {
		return nil, res.StatusCode, res.Header, fmt.Errorf("response over %d bytes", maxResponseBytes)
	}
	return data, res.StatusCode, res.Header, nil
}

// errorMessage is the message of an OpenAI-style error body
// ({"error": {"message": ...}}), else the body's first line.
func errorMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &obj) == nil && obj.Message != "" {
			return firstLine(obj.Message, "")
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return firstLine(s, "")
		}
	}
	return firstLine(strings.TrimSpace(string(body)), "")
}
