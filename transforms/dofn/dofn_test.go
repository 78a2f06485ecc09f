package dofn

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
)

type item struct {
	Name string
	N    int
}

// lifecycleFn has every lifecycle method Beam calls, so the test sees
// that they are found without the wrappers register.DoFnNxM generates.
type lifecycleFn struct {
	Prefix string
	setups int
}

func (fn *lifecycleFn) Setup(context.Context) error { fn.setups++; return nil }
func (fn *lifecycleFn) StartBundle(context.Context, func(string)) error {
	return nil
}

func (fn *lifecycleFn) ProcessElement(ctx context.Context, it item, emit func(string)) error {
	emit(fmt.Sprintf("%s%s=%d", fn.Prefix, it.Name, it.N))
	return nil
}

func (fn *lifecycleFn) FinishBundle(context.Context, func(string)) error { return nil }
func (fn *lifecycleFn) Teardown() error                                  { return nil }

func init() {
	DoFn3x1[context.Context, item, func(string), error](&lifecycleFn{})
}

// TestRegistered checks what a worker needs: the DoFn's type and its
// element types are registered, ProcessElement is called through
// register's generic caller (no reflection per element), and Beam builds
// the DoFn with all its lifecycle methods.
func TestRegistered(t *testing.T) {
	for _, ty := range []reflect.Type{reflect.TypeOf(lifecycleFn{}), reflect.TypeOf(item{})} {
		if _, ok := runtime.LookupType(runtime.RegisterType(ty)); !ok {
			t.Errorf("%v not registered", ty)
		}
	}
	fn := &lifecycleFn{Prefix: "x:"}
	caller := reflectx.MakeFunc(fn.ProcessElement)
	if name := fmt.Sprintf("%T", caller); name == "*reflectx.reflectFunc" {
		t.Fatalf("ProcessElement is called by reflection (%s)", name)
	}
	var got []string
	emit := func(s string) { got = append(got, s) }
	out := caller.Call([]any{context.Background(), item{"a", 1}, emit})
	if len(out) != 1 || out[0] != nil || len(got) != 1 || got[0] != "x:a=1" {
		t.Fatalf("call returned %v, emitted %v", out, got)
	}
	d, err := graph.NewDoFn(fn)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]bool{"Setup": d.SetupFn() != nil, "StartBundle": d.StartBundleFn() != nil,
		"ProcessElement": d.ProcessElementFn() != nil, "FinishBundle": d.FinishBundleFn() != nil, "Teardown": d.TeardownFn() != nil} {
		if !m {
			t.Errorf("Beam did not find %s", name)
		}
	}
	if out := d.SetupFn().Fn.Call([]any{context.Background()}); out[0] != nil || fn.setups != 1 {
		t.Errorf("Setup ran %d times through Beam's method value", fn.setups)
	}
}
