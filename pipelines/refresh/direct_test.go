package refresh

import (
	"context"
	"path/filepath"
	"testing"

	// The deprecated direct runner, for users who ask for "DirectRunner".
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"

	"realdpo/pipelines/curate"
	"realdpo/pipelines/pipetest"
	"realdpo/schemas"
	"realdpo/transforms/quality/testclips"
)

// TestRefreshDirectRunner runs refresh's pipeline (curate behind a
// selection) on --runner=direct, the Go SDK's old in-process runner
// (deprecated; prism replaced it), and compares its accounting with curate
// on the default runner. It uses no state, timers or splittable DoFns,
// which direct does not support. (curate's own TestCurateDirectRunner lives
// with curate.)
func TestRefreshDirectRunner(t *testing.T) {
	testclips.RequireFFmpeg(t)
	in := t.TempDir()
	pipetest.Corpus(t, in, 2)
	cfg, err := untaggedConfig(in, filepath.Join(t.TempDir(), "out"), schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := curate.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Inputs != 3 || st.InputsAccepted != 2 || st.InputsRejected != 1 || st.Clips != 2 {
		t.Fatalf("curate: %s", st.AccountingLine())
	}
	pipetest.SetFlags(t, map[string]string{"runner": "direct"})
	cfg.Output = ""
	res, err := Run(context.Background(), Config{Curate: cfg, DatasetRoot: filepath.Join(t.TempDir(), "ds")})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Stats.AccountingLine())
	if res.Stats.AccountingLine() != st.AccountingLine() {
		t.Errorf("refresh on direct: %s, curate: %s", res.Stats.AccountingLine(), st.AccountingLine())
	}
}
