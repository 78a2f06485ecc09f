package refresh

import (
	"context"
	"path/filepath"
	"testing"

	// The deprecated direct runner, for users who ask for "DirectRunner".
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"

	"realdpo/pipelines/curate"
	"realdpo/schemas"
	"realdpo/transforms/quality/testclips"
)

// TestCurateDirectRunner runs the curate and refresh pipelines on
// --runner=direct, the Go SDK's old in-process runner (deprecated; prism
// replaced it). They use no state, timers or splittable DoFns, which direct
// does not support.
func TestCurateDirectRunner(t *testing.T) {
	testclips.RequireFFmpeg(t)
	setFlags(t, map[string]string{"runner": "direct"})
	in := t.TempDir()
	corpus(t, in, 2)
	cfg, err := untaggedConfig(in, filepath.Join(t.TempDir(), "out"), schemas.ProfileDemo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := curate.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(st.AccountingLine())
	if st.Inputs != 3 || st.InputsAccepted != 2 || st.InputsRejected != 1 || st.Clips != 2 {
		t.Fatalf("direct run: %s", st.AccountingLine())
	}
	// refresh's pipeline (curate behind a selection) runs there too.
	cfg.Output = ""
	res, err := Run(context.Background(), Config{Curate: cfg, DatasetRoot: filepath.Join(t.TempDir(), "ds")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.AccountingLine() != st.AccountingLine() {
		t.Errorf("refresh on direct: %s, curate: %s", res.Stats.AccountingLine(), st.AccountingLine())
	}
}
