package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

type vlmSettings struct {
	Frames  int           `flag:"vlm_frames" help:"frames sent"`
	Timeout time.Duration `flag:"vlm_timeout" help:"deadline"`
}

type review struct {
	Captioner string `flag:"captioner" help:"who writes captions"`
	VLM       vlmSettings
	internal  int // unexported: never bound
}

type stageConfig struct {
	Input   string  `json:"input" flag:"input" help:"where footage is"`
	Steps   int     `flag:"steps" help:"how many"`
	Seed    uint64  `flag:"seed" help:"seed"`
	Bytes   int64   `flag:"max_bytes" help:"limit"`
	LR      float64 `flag:"lr" help:"rate"`
	Off     bool    `flag:"no_dedup" help:"skip"`
	Review  review
	Derived []string // no tag, not a struct: not bound
	When    time.Time
}

func newFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// TestBindSetsFieldsWithTheirDefaults: every tagged field, nested ones
// included, becomes a flag whose default is the field's starting value and
// whose usage is its help tag; parsing sets the fields.
func TestBindSetsFieldsWithTheirDefaults(t *testing.T) {
	cfg := stageConfig{Steps: 100, LR: 1e-4, Review: review{Captioner: "template", VLM: vlmSettings{Frames: 8, Timeout: time.Minute}}}
	fs := newFlags()
	Bind(fs, &cfg)
	want := map[string][2]string{
		"input": {"", "where footage is"}, "steps": {"100", "how many"}, "seed": {"0", "seed"},
		"max_bytes": {"0", "limit"}, "lr": {"0.0001", "rate"}, "no_dedup": {"false", "skip"},
		"captioner": {"template", "who writes captions"}, "vlm_frames": {"8", "frames sent"}, "vlm_timeout": {"1m0s", "deadline"},
	}
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		w, ok := want[f.Name]
		if !ok {
			t.Errorf("unexpected flag --%s", f.Name)
		} else if f.DefValue != w[0] || f.Usage != w[1] {
			t.Errorf("--%s: default %q usage %q, want %q %q", f.Name, f.DefValue, f.Usage, w[0], w[1])
		}
	})
	if n != len(want) {
		t.Errorf("%d flags, want %d", n, len(want))
	}
	err := fs.Parse([]string{"--input=/raw", "--steps=7", "--seed=9", "--max_bytes=12", "--lr=0.5", "--no_dedup", "--captioner=vlm", "--vlm_frames=3", "--vlm_timeout=2s"})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %d %d %d %g %v %s %d %s", cfg.Input, cfg.Steps, cfg.Seed, cfg.Bytes, cfg.LR, cfg.Off, cfg.Review.Captioner, cfg.Review.VLM.Frames, cfg.Review.VLM.Timeout)
	if want := "/raw 7 9 12 0.5 true vlm 3 2s"; got != want {
		t.Errorf("parsed %q, want %q", got, want)
	}
}

// TestBindRefusesUnboundableFields: a tag on a field no flag can hold is a
// programming error caught when the command starts.
func TestBindRefusesUnboundableFields(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Names (--names)") {
			t.Errorf("recovered %v", r)
		}
	}()
	var bad struct {
		Names []string `flag:"names"`
	}
	Bind(newFlags(), &bad)
}

// TestCopySetKeepsUnsetFields: only flags given on the command line
// override a Config whose defaults came from elsewhere.
func TestCopySetKeepsUnsetFields(t *testing.T) {
	var scratch stageConfig
	fs := newFlags()
	b := Bind(fs, &scratch)
	if err := fs.Parse([]string{"--steps=3", "--vlm_frames=2"}); err != nil {
		t.Fatal(err)
	}
	dst := stageConfig{Input: "/kept", Steps: 50, LR: 0.1, Review: review{VLM: vlmSettings{Frames: 8, Timeout: time.Second}}}
	b.CopySet(&dst)
	if dst.Input != "/kept" || dst.Steps != 3 || dst.LR != 0.1 || dst.Review.VLM.Frames != 2 || dst.Review.VLM.Timeout != time.Second {
		t.Errorf("after CopySet: %+v", dst)
	}
}

var errNotFound = errors.New("not found")

// TestMessageNamesFlags: a validation error names Config fields; the
// command's message names the flags, through wrapping, nesting and the
// other fields it mentions, and leaves values with braces alone.
func TestMessageNamesFlags(t *testing.T) {
	var cfg stageConfig
	b := Bind(newFlags(), &cfg)
	b.Alias("Models", "models")
	b.Alias("Init", "init")
	cases := []struct {
		err        error
		plain, cli string
	}{
		{Errorf("curate", "Steps", "=%d must be positive", -1), "curate: Steps=-1 must be positive", "curate: --steps=-1 must be positive"},
		{Required("curate", "Input"), "curate: Input is required", "curate: --input is required"},
		{fmt.Errorf("refresh: %w", Nest("Curate", Nest("Review", Errorf("curate", "VLM.Frames", "=0: want 1..64")))),
			"refresh: curate: Curate.Review.VLM.Frames=0: want 1..64", "refresh: curate: --vlm_frames=0: want 1..64"},
		{Errorf("", "LR", " %g must be below {Review.VLM.Timeout} and {Seed}", 2.0), "LR 2 must be below Review.VLM.Timeout and Seed", "--lr 2 must be below --vlm_timeout and --seed"},
		{Errorf("eval", "Models", " names no model in {a b} {x}"), "eval: Models names no model in {a b} {x}", "eval: --models names no model in {a b} {x}"},
		{Errorf("eval", "Unbound", " is odd"), "eval: Unbound is odd", "eval: Unbound is odd"},
		{errors.New("plain failure"), "plain failure", "plain failure"},
		{fmt.Errorf("train: %w", Errorf("train", "Init", ": %w", errNotFound)), "train: train: Init: not found", "train: train: --init: not found"},
	}
	if !errors.Is(cases[len(cases)-1].err, errNotFound) {
		t.Error("the error Errorf wrapped is lost")
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.plain {
			t.Errorf("Error() = %q, want %q", got, c.plain)
		}
		if got := Message(c.err, b); got != c.cli {
			t.Errorf("Message = %q, want %q", got, c.cli)
		}
	}
}

// TestFlagNeedsOneFit: a path seen from a larger or smaller Config maps to
// a flag only when exactly one bound field fits it.
func TestFlagNeedsOneFit(t *testing.T) {
	var two struct {
		A struct {
			Output string `flag:"a_output"`
		}
		B struct {
			Output string `flag:"b_output"`
		}
	}
	b := Bind(newFlags(), &two)
	if f, ok := b.Flag("Output"); ok {
		t.Errorf("Output mapped to --%s, though two fields fit", f)
	}
	if f, ok := b.Flag("Run.A.Output"); !ok || f != "a_output" {
		t.Errorf("Run.A.Output -> %q %v", f, ok)
	}
}

// TestCheck: each field's check tag is enforced, nested fields included,
// durations in seconds, NaN and infinities never pass, a blank string or
// an empty list is missing; a field without a check is free.
func TestCheck(t *testing.T) {
	type inner struct {
		Timeout time.Duration `check:"positive"`
	}
	type limits struct {
		MaxBytes int64   `check:"positive"`
		Threads  int     `check:"nonnegative"`
		Share    float64 `check:"nonnegative"`
		Free     float64
		Calls    inner
		Output   string   `check:"required"`
		Models   []string `check:"required"`
	}
	good := limits{MaxBytes: 1, Threads: 0, Share: 0.5, Free: -3, Calls: inner{Timeout: time.Second}, Output: "o", Models: []string{"m"}}
	if err := Check("s", good); err != nil {
		t.Fatalf("good limits: %v", err)
	}
	for _, tc := range []struct {
		edit func(*limits)
		want string
	}{
		{func(l *limits) { l.MaxBytes = 0 }, "s: MaxBytes=0 must be positive"},
		{func(l *limits) { l.Threads = -1 }, "s: Threads=-1 must not be negative"},
		{func(l *limits) { l.Share = math.NaN() }, "s: Share=NaN is not a number"},
		{func(l *limits) { l.Share = math.Inf(1) }, "s: Share=+Inf is not a number"},
		{func(l *limits) { l.Calls.Timeout = 0 }, "s: Calls.Timeout=0 must be positive"},
		{func(l *limits) { l.Output = " " }, "s: Output is required"},
		{func(l *limits) { l.Models = nil }, "s: Models is required"},
	} {
		l := good
		tc.edit(&l)
		if err := Check("s", l); err == nil || err.Error() != tc.want {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
}
