// Package config owns how a stage's configuration meets the command line.
// Each pipeline package documents its Config once, in struct tags (`flag`
// names the flag, `help` says what it does; the flag's default is the value
// the Config starts with; `check` states a one-field rule that Check
// enforces), and validates it with errors that name Config fields
// (FieldError). The realdpo command binds each Config to flags with
// Bind and turns a FieldError back into the flag the user typed
// (Binding.Message), so neither side repeats the other's names.
//
// Flags live on the standard library's flag.FlagSet because Beam's own
// flags (--runner, --project, ...) are registered there and beam.Init reads
// them from it; struct-tag CLI libraries (kong, go-flags) parse their own
// command line instead.
package config

import (
	"errors"
	"flag"
	"fmt"
	"go/token"
	"math"
	"reflect"
	"strings"
	"time"
)

// FieldError is a validation failure of one Config field. Msg follows the
// field's name as it is written ("=-1 must not be negative", " is
// required"); another field it mentions is written {Path}.
type FieldError struct {
	Stage string // the stage whose Config it is ("pairs"); may be empty
	Field string // dotted path from the Config validated: "Review.VLM.Frames"
	Msg   string
	Err   error // what a %w in Errorf's format wrapped, if anything
}

// Errorf is the FieldError for field of stage's Config; format is
// fmt.Errorf's (a %w wraps).
func Errorf(stage, field, format string, args ...any) error {
	e := fmt.Errorf(format, args...)
	return &FieldError{Stage: stage, Field: field, Msg: e.Error(), Err: errors.Unwrap(e)}
}

// Unwrap is the error Errorf's %w wrapped.
func (e *FieldError) Unwrap() error { return e.Err }

// Required is the FieldError for a field that must be set.
func Required(stage, field string) error { return Errorf(stage, field, " is required") }

// Error names fields by their path in the Config.
func (e *FieldError) Error() string { return e.Render(func(path string) string { return path }) }

// Render writes the error with every field named by name(path).
func (e *FieldError) Render(name func(path string) string) string {
	var b strings.Builder
	if e.Stage != "" {
		b.WriteString(e.Stage + ": ")
	}
	b.WriteString(name(e.Field))
	b.WriteString(mapRefs(e.Msg, name))
	return b.String()
}

// mapRefs rewrites each {Path} in msg to name(Path); braces around
// anything else (a value's own) stay as they are.
func mapRefs(msg string, name func(path string) string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(msg, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(msg[open:], '}')
		if end < 0 {
			break
		}
		b.WriteString(msg[:open])
		if ref := msg[open+1 : open+end]; isPath(ref) {
			b.WriteString(name(ref))
		} else {
			b.WriteString(msg[open : open+end+1])
		}
		msg = msg[open+end+1:]
	}
	b.WriteString(msg)
	return b.String()
}

// isPath reports whether s is a dotted Go field path ("Review.VLM.Frames").
func isPath(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || !token.IsExported(part) || !token.IsIdentifier(part) {
			return false
		}
	}
	return true
}

// Nest prefixes the field paths of a FieldError returned by the
// validation of a nested part of a Config (Nest("Review", err)); other
// errors come back as they are.
func Nest(prefix string, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) || fe != err {
		return err
	}
	n := *fe
	n.Field = prefix + "." + fe.Field
	n.Msg = mapRefs(fe.Msg, func(path string) string { return "{" + prefix + "." + path + "}" })
	return &n
}

// Binding maps the fields of one bound Config to their flags.
type Binding struct {
	fs     *flag.FlagSet
	target reflect.Value     // the bound struct
	fields map[string]string // field path -> flag name
	paths  map[string][]int  // flag name -> field index path
}

// Bind defines a flag for every field of *cfg that has a `flag` tag,
// walking into struct fields without one (`flag:"-"` skips a field), with the field's current value
// as its default and its `help` tag as its usage. Parsing the flags sets
// the fields. A field of a type flag cannot hold, or a flag defined twice,
// is a programming error and panics, as flag.FlagSet itself does.
func Bind(fs *flag.FlagSet, cfg any) *Binding {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("config.Bind: want a pointer to a struct, got %T", cfg))
	}
	b := &Binding{fs: fs, target: v.Elem(), fields: map[string]string{}, paths: map[string][]int{}}
	tagged(v.Elem(), "flag", "", nil, func(f taggedField) error {
		b.define(f.value, f.tag, f.sf.Tag.Get("help"), f.path)
		b.fields[f.path] = f.tag
		b.paths[f.tag] = f.index
		return nil
	})
	return b
}

// taggedField is a field of a Config that carries a given tag.
type taggedField struct {
	path  string // dotted path from the Config: "Review.VLM.Frames"
	index []int  // for reflect.Value.FieldByIndex
	value reflect.Value
	tag   string // the tag's value
	sf    reflect.StructField
}

// tagged visits the exported fields of the struct v that carry tag,
// walking into struct fields that do not (the nested parts of a Config);
// a field whose tag is "-" is skipped with what it holds.
func tagged(v reflect.Value, tag, prefix string, index []int, visit func(taggedField) error) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		f := taggedField{path: prefix + sf.Name, index: append(append([]int(nil), index...), i), value: v.Field(i), sf: sf}
		val, ok := sf.Tag.Lookup(tag)
		switch {
		case val == "-":
		case ok:
			f.tag = val
			if err := visit(f); err != nil {
				return err
			}
		case sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeFor[time.Time]():
			if err := tagged(f.value, tag, f.path+".", f.index, visit); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Binding) define(f reflect.Value, name, help, path string) {
	switch p := f.Addr().Interface().(type) {
	case *string:
		b.fs.StringVar(p, name, *p, help)
	case *bool:
		b.fs.BoolVar(p, name, *p, help)
	case *int:
		b.fs.IntVar(p, name, *p, help)
	case *int64:
		b.fs.Int64Var(p, name, *p, help)
	case *uint64:
		b.fs.Uint64Var(p, name, *p, help)
	case *float64:
		b.fs.Float64Var(p, name, *p, help)
	case *time.Duration:
		b.fs.DurationVar(p, name, *p, help)
	default:
		panic(fmt.Sprintf("config.Bind: field %s (--%s) has type %s, which no flag holds", path, name, f.Type()))
	}
}

// Check refuses a value that makes no sense for its field, as the field's
// `check` tag says: "required" (a string not blank, a slice not empty),
// "positive" (> 0) or "nonnegative" (>= 0, and never NaN or infinite; a
// duration is judged in seconds). The rule sits beside the field's flag so
// that no Validate names every field again. It walks nested structs as
// Bind does; the first field that fails is the error.
func Check(stage string, cfg any) error {
	return tagged(reflect.ValueOf(cfg), "check", "", nil, func(f taggedField) error {
		v := f.value
		if f.tag == "required" {
			switch {
			case v.Kind() == reflect.String && strings.TrimSpace(v.String()) == "",
				v.Kind() == reflect.Slice && v.Len() == 0:
				return Required(stage, f.path)
			case v.Kind() != reflect.String && v.Kind() != reflect.Slice:
				panic(fmt.Sprintf("config.Check: field %s of type %s cannot be required", f.path, v.Type()))
			}
			return nil
		}
		var x float64
		switch {
		case v.Type() == reflect.TypeFor[time.Duration]():
			x = time.Duration(v.Int()).Seconds()
		case v.CanInt():
			x = float64(v.Int())
		case v.CanUint():
			x = float64(v.Uint())
		case v.CanFloat():
			x = v.Float()
		default:
			panic(fmt.Sprintf("config.Check: field %s of type %s has a bound", f.path, v.Type()))
		}
		switch {
		case f.tag != "positive" && f.tag != "nonnegative":
			panic(fmt.Sprintf("config.Check: field %s: unknown check %q", f.path, f.tag))
		case math.IsNaN(x) || math.IsInf(x, 0):
			return Errorf(stage, f.path, "=%v is not a number", x)
		case f.tag == "positive" && x <= 0:
			return Errorf(stage, f.path, "=%v must be positive", x)
		case x < 0:
			return Errorf(stage, f.path, "=%v must not be negative", x)
		}
		return nil
	})
}

// Alias names the flag behind a field that the command fills from a flag
// of its own (a list parsed from one string, say), so that errors about
// the field name that flag.
func (b *Binding) Alias(field, flagName string) { b.fields[field] = flagName }

// Flag is the flag bound to field: the field's own, else the one bound to
// the same field seen from a larger or smaller Config (a refresh validates
// "Curate.Input", which curate's flags bind as "Input"). Found only when
// one flag fits.
func (b *Binding) Flag(field string) (string, bool) {
	if f, ok := b.fields[field]; ok {
		return f, true
	}
	found, n := "", 0
	for path, f := range b.fields {
		if strings.HasSuffix(path, "."+field) || strings.HasSuffix(field, "."+path) {
			found, n = f, n+1
		}
	}
	return found, n == 1
}

// CopySet copies into dst (a pointer to the bound type) the fields whose
// flags were set on the command line, leaving the others as dst has them:
// for defaults that depend on another flag (curate's thresholds follow
// --profile).
func (b *Binding) CopySet(dst any) {
	d := reflect.ValueOf(dst)
	if d.Kind() != reflect.Pointer || d.Elem().Type() != b.target.Type() {
		panic(fmt.Sprintf("config.CopySet: want *%s, got %T", b.target.Type(), dst))
	}
	b.fs.Visit(func(f *flag.Flag) {
		if idx, ok := b.paths[f.Name]; ok {
			d.Elem().FieldByIndex(idx).Set(b.target.FieldByIndex(idx))
		}
	})
}

// Message is err's text with every Config field of a FieldError in it
// named by its flag ("--negatives_per_pair" for NegativesPerPair), as the
// first of bindings that knows it; fields no binding knows keep their
// names.
func Message(err error, bindings ...*Binding) string {
	msg := err.Error()
	var fe *FieldError
	if !errors.As(err, &fe) {
		return msg
	}
	flagged := fe.Render(func(path string) string {
		for _, b := range bindings {
			if f, ok := b.Flag(path); ok {
				return "--" + f
			}
		}
		return path
	})
	return strings.Replace(msg, fe.Error(), flagged, 1)
}
