package generate

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"realdpo/schemas"
	"realdpo/transforms/config"
	"realdpo/transforms/dataset"
	"realdpo/transforms/dofn"
	"realdpo/transforms/fsx"
	"realdpo/transforms/secret"
	"realdpo/transforms/stage"
)

func init() {
	beam.RegisterType(reflect.TypeOf(NegativesConfig{}))
	dofn.Element[schemas.ManifestRecord]()
	dofn.Element[schemas.NegativeRecord]()
	dofn.Element[schemas.NegativeFailure]()
	dofn.Element[string]()
	dofn.DoFn4x1[context.Context, string, func(schemas.ManifestRecord), func(schemas.NegativeFailure), error](&readManifestFn{})
	dofn.DoFn4x1[context.Context, schemas.ManifestRecord, func(schemas.NegativeRecord), func(schemas.NegativeFailure), error](&generateFn{})
	register.Function1x1[schemas.ManifestRecord, string](clipIDOf)
	dofn.DoFn5x1[context.Context, []byte, func(*string) bool, func(*schemas.NegativeRecord) bool, func(*schemas.NegativeFailure) bool, error](&writeNegativesFn{})
}

const negNS = "negatives"

func negCount(ctx context.Context, name string) { beam.NewCounter(negNS, name).Inc(ctx, 1) }

// Output names of the negatives stage under its output root.
const (
	NegativesDir        = "negatives"
	NegativesFile       = "negatives.jsonl"
	NegativesFailedFile = "negatives_failed.jsonl"
	NegativesStatsFile  = "negatives_stats.json"
)

// Bounds on what negatives and pairs read whole: a records file, a first
// frame, a video, a sidecar or stats file.
const (
	MaxRecordsBytes    = 1 << 30
	MaxFirstFrameBytes = 64 << 20
	MaxVideoBytes      = 1 << 30
	MaxSidecarBytes    = 1 << 20
)

// NegativesConfig is one negatives run.
type NegativesConfig struct {
	Dataset  string  `json:"dataset" flag:"dataset" help:"curated dataset root (manifest.jsonl, first_frames/): a local directory or gs://BUCKET/PREFIX" check:"required"`
	Output   string  `json:"output" flag:"output" help:"negatives root (negatives/CLIP_ID/K.mp4, negatives.jsonl, negatives_failed.jsonl, negatives_stats.json): local or gs://" check:"required"`
	PerClip  int     `json:"per_clip" flag:"per_clip" help:"negatives generated per clip (RealDPO: 3)"`
	Steps    int     `json:"steps" flag:"steps" help:"DDIM sampling steps (RealDPO: 50)"`
	Guidance float64 `json:"guidance" flag:"guidance" help:"classifier-free guidance scale (RealDPO: 6.0)"`
	// Model is a checkpoint for the local generator ("" = built-in base).
	Model string `json:"model,omitempty" flag:"model" help:"local generator checkpoint (.safetensors); empty: the built-in base model"`
	// GeneratorURL selects the HTTP generator. Its API key comes from
	// REALDPO_GENERATOR_API_KEY or GeneratorKeyFile (a path, read on the
	// worker), never from the config itself.
	GeneratorURL     string `json:"generator_url,omitempty" flag:"generator_url" help:"use a remote generation service (realdpo-generate/1 JSON API, see transforms/generate) instead of the local model"`
	GeneratorKeyFile string `json:"generator_api_key_file,omitempty" flag:"generator_api_key_file" help:"file holding the --generator_url API key (sent as a bearer token); default: the REALDPO_GENERATOR_API_KEY environment variable. Read on each worker, never logged or recorded"`
	// HTTP client settings (defaults: HTTPOptions').
	HTTPConcurrency int           `json:"http_concurrency,omitempty" flag:"generator_concurrency" help:"requests in flight per worker to --generator_url"`
	HTTPTimeout     time.Duration `json:"http_timeout,omitempty" flag:"generator_timeout" help:"deadline of one request to --generator_url"`
	HTTPRetries     int           `json:"http_retries,omitempty" flag:"generator_retries" help:"retries of a failed request to --generator_url (exponential backoff)"`
	// Accelerator is the Beam accelerator resource hint for the job
	// (Dataflow syntax "type:nvidia-l4;count:1;install-nvidia-driver"); "" = none.
	Accelerator string `json:"accelerator,omitempty"`
}

// isServiceURL reports whether s can name a generation service.
func isServiceURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Validate checks a configuration.
func (c NegativesConfig) Validate() error {
	if err := config.Check("negatives", c); err != nil {
		return err
	}
	switch {
	case c.PerClip < 1 || c.PerClip > 100:
		return config.Errorf("negatives", "PerClip", " %d outside [1, 100]", c.PerClip)
	case c.Steps < 1 || c.Steps > 1000:
		return config.Errorf("negatives", "Steps", " %d outside [1, 1000]", c.Steps)
	case math.IsNaN(c.Guidance) || c.Guidance < 0 || c.Guidance > 100:
		return config.Errorf("negatives", "Guidance", " %g outside [0, 100]", c.Guidance)
	case c.Model != "" && c.GeneratorURL != "":
		return config.Errorf("negatives", "Model", " and {GeneratorURL} exclude each other")
	case c.GeneratorURL != "" && !isServiceURL(c.GeneratorURL):
		return config.Errorf("negatives", "GeneratorURL", " %q: want http(s)://HOST/...", c.GeneratorURL)
	case strings.ContainsAny(c.Accelerator, "\n\x00"):
		return errors.New("negatives: bad accelerator hint")
	}
	return fsx.CheckOutput("negatives", c.Output, map[string]string{"Dataset": c.Dataset})
}

func newGenerator(ctx context.Context, c NegativesConfig) (Generator, error) {
	if c.GeneratorURL != "" {
		// The key is read here, on the worker: it never enters the config
		// (a DoFn field, so the job graph).
		key, err := secret.Load(APIKeyEnv, c.GeneratorKeyFile)
		if err != nil {
			return nil, fmt.Errorf("generator API key: %w", err)
		}
		return NewHTTP(ctx, HTTPOptions{URL: c.GeneratorURL, MaxConcurrent: c.HTTPConcurrency,
			Timeout: c.HTTPTimeout, Retries: c.HTTPRetries, APIKey: key})
	}
	return NewLocal(LocalOptions{Checkpoint: c.Model})
}

func clipIDOf(r schemas.ManifestRecord) string { return r.ID }

// readManifestFn reads manifest.jsonl: each good line becomes a clip, each
// bad one a recorded failure.
type readManifestFn struct{}

func (fn *readManifestFn) ProcessElement(ctx context.Context, root string, emit func(schemas.ManifestRecord), bad func(schemas.NegativeFailure)) error {
	recs, probs, err := dataset.ReadManifest(ctx, root, CheckClipRecord)
	if err != nil {
		return fmt.Errorf("negatives: manifest: %w", err)
	}
	for _, p := range probs {
		negCount(ctx, "bad_manifest_lines")
		bad(schemas.NegativeFailure{ClipID: p.ID, Index: -1, Reason: schemas.NegReasonBadManifest,
			Detail: dataset.ManifestFile + " " + p.String()})
	}
	for _, r := range recs {
		negCount(ctx, "clips")
		emit(r)
	}
	return nil
}

// CheckClipRecord is what negatives and pairs need of a clip's record:
// dataset.CheckRecord's safe id and paths, a first frame and a caption to
// generate from, and a spec to generate to.
func CheckClipRecord(r schemas.ManifestRecord) error {
	switch {
	case r.FirstFrame == "":
		return errors.New("no first_frame")
	case strings.TrimSpace(r.Caption) == "":
		return errors.New("no caption")
	}
	if err := dataset.CheckRecord(r); err != nil {
		return err
	}
	return Spec{Frames: r.Frames, Width: r.Width, Height: r.Height, FPS: r.FPS}.Validate()
}

// generateFn is the GPU stage: the generator is made once per DoFn
// instance in Setup (the local model once per process, shared).
type generateFn struct {
	Cfg NegativesConfig
	gen Generator
}

func (fn *generateFn) Setup(ctx context.Context) error {
	g, err := newGenerator(ctx, fn.Cfg)
	if err != nil {
		return fmt.Errorf("negatives: generator: %w", err)
	}
	fn.gen = g
	slog.Info("negatives: generator ready", "kind", g.Info().Kind, "id", g.Info().ID)
	return nil
}

func (fn *generateFn) Teardown() error {
	if fn.gen != nil {
		return fn.gen.Close()
	}
	return nil
}

// NegativePath is a negative's path relative to the output root.
func NegativePath(clipID string, k int) string {
	return fmt.Sprintf("%s/%s/%d.mp4", NegativesDir, clipID, k)
}

func sidecarPath(clipID string, k int) string {
	return fmt.Sprintf("%s/%s/%d.json", NegativesDir, clipID, k)
}

func (fn *generateFn) ProcessElement(ctx context.Context, r schemas.ManifestRecord, emit func(schemas.NegativeRecord), fail func(schemas.NegativeFailure)) error {
	c := fn.Cfg
	info := fn.gen.Info()
	spec := Spec{Frames: r.Frames, Width: r.Width, Height: r.Height, FPS: r.FPS}
	var image []byte
	for k := 0; k < c.PerClip; k++ {
		want := schemas.NegativeRecord{ClipID: r.ID, Index: k, Path: NegativePath(r.ID, k), Seed: Seed(r.ID, k, info.ID),
			Generator: info.Kind, GeneratorID: info.ID, Checkpoint: info.Checkpoint, Steps: c.Steps, Guidance: c.Guidance,
			Frames: spec.Frames, FPS: spec.FPS, Width: spec.Width, Height: spec.Height}
		if have, ok := fn.existing(ctx, want); ok {
			negCount(ctx, "resumed")
			emit(have)
			continue
		}
		if image == nil {
			var err error
			if image, err = fsx.ReadFile(ctx, fsx.JoinPath(c.Dataset, r.FirstFrame), MaxFirstFrameBytes); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				negCount(ctx, "fail_"+schemas.NegReasonFirstFrame)
				fail(schemas.NegativeFailure{ClipID: r.ID, Index: -1, Reason: schemas.NegReasonFirstFrame, Detail: stage.ShortErr(err)})
				return nil
			}
		}
		t0 := time.Now()
		video, err := fn.gen.Generate(ctx, Request{ClipID: r.ID, Index: k, Image: image, Prompt: r.Caption,
			Seed: want.Seed, Spec: spec, Steps: c.Steps, Guidance: c.Guidance})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			negCount(ctx, "fail_"+schemas.NegReasonGenerate)
			fail(schemas.NegativeFailure{ClipID: r.ID, Index: k, Reason: schemas.NegReasonGenerate, Detail: stage.ShortErr(err)})
			continue
		}
		if err := checkVideoBytes(ctx, video, spec); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			negCount(ctx, "fail_"+schemas.NegReasonSpec)
			fail(schemas.NegativeFailure{ClipID: r.ID, Index: k, Reason: schemas.NegReasonSpec, Detail: stage.ShortErr(err)})
			continue
		}
		rec := want
		rec.WallS = math.Round(time.Since(t0).Seconds()*1000) / 1000
		rec.Bytes, rec.SHA256 = int64(len(video)), sha256Hex(video)
		side, _ := json.Marshal(rec)
		// The video first, its sidecar after: a sidecar means a complete video.
		err = fsx.WriteFile(ctx, fsx.JoinPath(c.Output, rec.Path), video)
		if err == nil {
			err = fsx.WriteFile(ctx, fsx.JoinPath(c.Output, sidecarPath(r.ID, k)), append(side, '\n'))
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			negCount(ctx, "fail_"+schemas.NegReasonWrite)
			fail(schemas.NegativeFailure{ClipID: r.ID, Index: k, Reason: schemas.NegReasonWrite, Detail: stage.ShortErr(err)})
			continue
		}
		negCount(ctx, "generated")
		emit(rec)
	}
	return nil
}

// existing returns the stored record of a sample when its sidecar exists,
// was made with the same settings and its video still matches it.
func (fn *generateFn) existing(ctx context.Context, want schemas.NegativeRecord) (schemas.NegativeRecord, bool) {
	out := fn.Cfg.Output
	data, err := fsx.ReadFile(ctx, fsx.JoinPath(out, sidecarPath(want.ClipID, want.Index)), MaxSidecarBytes)
	if err != nil {
		return want, false
	}
	var have schemas.NegativeRecord
	if json.Unmarshal(data, &have) != nil {
		return want, false
	}
	same := have.ClipID == want.ClipID && have.Index == want.Index && have.Path == want.Path && have.Seed == want.Seed &&
		have.GeneratorID == want.GeneratorID && have.Checkpoint == want.Checkpoint && have.Steps == want.Steps &&
		have.Guidance == want.Guidance && have.Frames == want.Frames && have.Width == want.Width &&
		have.Height == want.Height && have.FPS == want.FPS
	if !same {
		negCount(ctx, "stale_regenerated")
		return want, false
	}
	video, err := fsx.ReadFile(ctx, fsx.JoinPath(out, have.Path), MaxVideoBytes)
	if err != nil || int64(len(video)) != have.Bytes || sha256Hex(video) != have.SHA256 {
		negCount(ctx, "damaged_regenerated")
		return want, false
	}
	return have, true
}

// checkVideoBytes probes a generated video against its spec.
func checkVideoBytes(ctx context.Context, video []byte, spec Spec) error {
	if !IsMP4(video) {
		return errors.New("not an mp4")
	}
	dir := filepath.Join(os.TempDir(), "realdpo-negatives")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "check-*.mp4")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(video)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	_, err = CheckVideo(ctx, f.Name(), spec)
	return err
}

// writeNegativesFn writes negatives.jsonl, negatives_failed.jsonl (both
// sorted) and negatives_stats.json last.
type writeNegativesFn struct {
	Cfg NegativesConfig
}

func (fn *writeNegativesFn) ProcessElement(ctx context.Context, _ []byte, ids func(*string) bool,
	recIt func(*schemas.NegativeRecord) bool, failIt func(*schemas.NegativeFailure) bool) error {
	c := fn.Cfg
	clips := 0
	var id string
	for ids(&id) {
		clips++
	}
	var recs []schemas.NegativeRecord
	var r schemas.NegativeRecord
	for recIt(&r) {
		recs = append(recs, r)
	}
	var fails []schemas.NegativeFailure
	var f schemas.NegativeFailure
	for failIt(&f) {
		fails = append(fails, f)
	}
	slices.SortFunc(recs, func(a, b schemas.NegativeRecord) int {
		return cmp.Or(
			cmp.Compare(a.ClipID, b.ClipID),
			cmp.Compare(a.Index, b.Index),
		)
	})
	slices.SortFunc(fails, func(a, b schemas.NegativeFailure) int {
		return cmp.Or(
			cmp.Compare(a.ClipID, b.ClipID),
			cmp.Compare(a.Index, b.Index),
			cmp.Compare(a.Detail, b.Detail),
		)
	})
	st := schemas.NegativesStats{Clips: clips, PerClip: c.PerClip, Negatives: len(recs), Failures: len(fails),
		ByReason: map[string]int{}, Steps: c.Steps, Guidance: c.Guidance}
	for _, r := range recs {
		st.WallS += r.WallS
		st.Generator, st.GeneratorID, st.Checkpoint = r.Generator, r.GeneratorID, r.Checkpoint
	}
	st.WallS = math.Round(st.WallS*1000) / 1000
	for _, f := range fails {
		st.ByReason[f.Reason]++
	}
	recData, err := stage.JSONLines(recs)
	if err != nil {
		return err
	}
	failData, err := stage.JSONLines(fails)
	if err != nil {
		return err
	}
	stData, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{NegativesFile, recData}, {NegativesFailedFile, failData}, {NegativesStatsFile, append(stData, '\n')}} {
		if err := fsx.WriteFile(ctx, fsx.JoinPath(c.Output, f.name), f.data); err != nil {
			return fmt.Errorf("negatives: write %s: %w", f.name, err)
		}
	}
	slog.Info("negatives: done", "clips", clips, "negatives", len(recs), "failures", len(fails))
	return nil
}

// ReadClips reads a curated dataset's manifest (dataset.ReadManifest with
// CheckClipRecord): good lines become clips, bad ones failures.
func ReadClips(s beam.Scope, root string) (clips, bad beam.PCollection) {
	return beam.ParDo2(s.Scope("ReadManifest"), &readManifestFn{}, beam.Create(s, root))
}

// GenerateNegatives is the GPU stage: c.PerClip rejected clips per clip,
// resumed from what an earlier run left under c.Output.
func GenerateNegatives(s beam.Scope, c NegativesConfig, clips beam.PCollection) (recs, fails beam.PCollection) {
	return beam.ParDo2(s.Scope("Generate"), &generateFn{Cfg: c}, clips)
}

// WriteNegatives writes negatives.jsonl, negatives_failed.jsonl and
// negatives_stats.json once, an empty manifest included: an impulse with
// everything it writes as side inputs.
func WriteNegatives(s beam.Scope, c NegativesConfig, clips, recs, fails beam.PCollection) {
	beam.ParDo0(s.Scope("Write"), &writeNegativesFn{Cfg: c}, beam.Impulse(s),
		beam.SideInput{Input: beam.ParDo(s, clipIDOf, clips)},
		beam.SideInput{Input: recs},
		beam.SideInput{Input: fails})
}

// ReadNegativesStats reads negatives_stats.json back from an output root.
func ReadNegativesStats(ctx context.Context, out string) (schemas.NegativesStats, error) {
	var st schemas.NegativesStats
	data, err := fsx.ReadFile(ctx, fsx.JoinPath(out, NegativesStatsFile), MaxSidecarBytes)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("parse %s: %w", NegativesStatsFile, err)
	}
	return st, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
