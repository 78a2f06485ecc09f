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
