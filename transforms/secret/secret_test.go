package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const canary = "sk-realdpo-CANARY-7f3a9c1e"

func TestLoad(t *testing.T) {
	t.Setenv("REALDPO_TEST_KEY", "  "+canary+"\n")
	s, err := Load("REALDPO_TEST_KEY", "")
	if err != nil || s.Reveal() != canary {
		t.Fatalf("env: %q %v", s.Reveal(), err)
	}
	f := filepath.Join(t.TempDir(), "key")
	os.WriteFile(f, []byte(canary+"\n"), 0o600)
	os.Setenv("REALDPO_TEST_KEY", "other")
	if s, err := Load("REALDPO_TEST_KEY", f); err != nil || s.Reveal() != canary {
		t.Fatalf("file wins over env: %q %v", s.Reveal(), err)
	}
	os.WriteFile(f, []byte(" \n"), 0o600)
	if _, err := Load("", f); err == nil {
		t.Error("empty secret file accepted")
	}
	if _, err := Load("", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing secret file accepted")
	}
	if s, err := Load("REALDPO_UNSET_KEY_X", ""); err != nil || s.IsSet() {
		t.Errorf("unset env: %v %v", s.IsSet(), err)
	}
}

// TestNeverPrinted: every way a key could reach a log line, an error, a
// JSON record or a Beam DoFn's serialised fields either redacts it or fails.
func TestNeverPrinted(t *testing.T) {
	s := New(canary)
	type dofn struct {
		URL string
		Key Secret
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("calling", "key", s, "fn", dofn{"http://x", s})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("calling", "key", s)
	out := strings.Join([]string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, dofn{"u", s}, dofn{"u", s}, s, s), logs.String()}, "\n")
	if strings.Contains(out, canary) {
		t.Fatalf("key printed:\n%s", out)
	}
	if _, err := json.Marshal(dofn{"u", s}); !errors.Is(err, ErrSerialise) {
		t.Errorf("a DoFn holding a key serialised: %v", err)
	}
	if b, err := json.Marshal(dofn{"u", Secret{}}); err != nil || strings.Contains(string(b), canary) {
		t.Errorf("empty secret: %s %v", b, err)
	}
	base := errors.New("boom")
	err := s.RedactErr(fmt.Errorf("HTTP 401: bad token Bearer %s: %w", canary, base))
	if strings.Contains(err.Error(), canary) || !errors.Is(err, base) {
		t.Errorf("redacted error %q (Is base: %v)", err, errors.Is(err, base))
	}
}

// TestRedactRuns: every run of MinLeak or more of the key's characters is
// redacted, wherever it starts and however it is cut; shorter runs and
// ordinary text are left alone.
func TestRedactRuns(t *testing.T) {
	s := New(canary)
	for _, text := range []string{
		"token " + canary + " rejected",
		"token " + canary[:len(canary)-3] + "... rejected",       // cut at the end
		"token ..." + canary[5:] + " rejected",                   // cut at the start
		"a " + canary[2:12] + " and " + canary[14:24] + " split", // two runs
	} {
		out := s.Redact(text)
		for i := 0; i+MinLeak <= len(canary); i++ {
			if strings.Contains(out, canary[i:i+MinLeak]) {
				t.Errorf("%q: %q left in %q", text, canary[i:i+MinLeak], out)
			}
		}
		if !strings.Contains(out, "[REDACTED]") || !s.Leaks(text) {
			t.Errorf("%q not redacted: %q", text, out)
		}
	}
	if plain := "a person walks in the realdpo park, CANARY"; s.Redact(plain) != plain || s.Leaks(plain) {
		t.Errorf("ordinary text changed: %q", s.Redact(plain))
	}
}

// TestExcerpt: what may be kept of an upstream error body is bounded,
// single-line, free of control and direction characters and of anything
// that looks like a credential.
func TestExcerpt(t *testing.T) {
	s := New(canary)
	body := "error:\x1b[31m bad\x00 key \u202e" + canary[:20] + "\n\tother token ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4\x07" + strings.Repeat(" filler", 200)
	out := s.Excerpt(body, 120)
	if len(out) > 124 || strings.ContainsAny(out, "\x1b\x00\x07\n\t\u202e") || strings.Contains(out, "ghp_A1b2") || s.Leaks(out) {
		t.Fatalf("excerpt %q", out)
	}
	if !strings.HasPrefix(out, "error:[31m bad key [REDACTED]") {
		t.Errorf("excerpt %q", out)
	}
}
