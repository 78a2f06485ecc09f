// Package dofn registers structural DoFns with Beam, the way
// register.DoFnNxM does for the call that matters (ProcessElement runs
// through register's generic caller, with no reflection per element, and
// the DoFn's and its elements' types are registered for the workers) but
// without the rest: register.DoFnNxM also instantiates a wrapper for every
// Setup, StartBundle, FinishBundle and Teardown signature a DoFn of that
// shape could have, thousands of generic functions a DoFn whether it has
// those methods or not (about 3 MB of worker binary and several seconds of
// compile each, most of realdpo's 390 MB). Beam calls the lifecycle
// methods our DoFns do have through reflection instead: once per instance
// or bundle, never per element.
package dofn

import (
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// Element registers T as an element passed between DoFns: its type (a
// struct's fields travel to the workers), the emitter func(T) and the
// iterator func(*T) bool, so that neither goes through reflection per
// element.
func Element[T any]() {
	registerElementType[T]()
	register.Emitter1[T]()
	register.Iter1[T]()
}

// Keyed registers the pair (K, V) as emitted before a GroupByKey and V as
// iterated after it.
func Keyed[K, V any]() {
	registerElementType[V]()
	register.Emitter2[K, V]()
	register.Iter1[V]()
}

func registerElementType[T any]() {
	if t := reflect.TypeFor[T](); t.Kind() == reflect.Struct {
		beam.RegisterType(t)
	}
}

// registerType registers the DoFn's own type (its fields travel to the
// workers inside the pipeline).
func registerType(doFn any) {
	beam.RegisterType(reflect.TypeOf(doFn).Elem())
}

// DoFn2x0 registers a structural DoFn whose ProcessElement takes 2 argument(s) and returns 0 value(s).
func DoFn2x0[I0, I1 any](doFn interface{ ProcessElement(I0, I1) }) {
	registerType(doFn)
	register.Function2x0[I0, I1](doFn.ProcessElement)
}

// DoFn3x0 registers a structural DoFn whose ProcessElement takes 3 argument(s) and returns 0 value(s).
func DoFn3x0[I0, I1, I2 any](doFn interface{ ProcessElement(I0, I1, I2) }) {
	registerType(doFn)
	register.Function3x0[I0, I1, I2](doFn.ProcessElement)
}

// DoFn3x1 registers a structural DoFn whose ProcessElement takes 3 argument(s) and returns 1 value(s).
func DoFn3x1[I0, I1, I2, R0 any](doFn interface{ ProcessElement(I0, I1, I2) R0 }) {
	registerType(doFn)
	register.Function3x1[I0, I1, I2, R0](doFn.ProcessElement)
}

// DoFn4x0 registers a structural DoFn whose ProcessElement takes 4 argument(s) and returns 0 value(s).
func DoFn4x0[I0, I1, I2, I3 any](doFn interface{ ProcessElement(I0, I1, I2, I3) }) {
	registerType(doFn)
	register.Function4x0[I0, I1, I2, I3](doFn.ProcessElement)
}

// DoFn4x1 registers a structural DoFn whose ProcessElement takes 4 argument(s) and returns 1 value(s).
func DoFn4x1[I0, I1, I2, I3, R0 any](doFn interface{ ProcessElement(I0, I1, I2, I3) R0 }) {
	registerType(doFn)
	register.Function4x1[I0, I1, I2, I3, R0](doFn.ProcessElement)
}

// DoFn5x0 registers a structural DoFn whose ProcessElement takes 5 argument(s) and returns 0 value(s).
func DoFn5x0[I0, I1, I2, I3, I4 any](doFn interface{ ProcessElement(I0, I1, I2, I3, I4) }) {
	registerType(doFn)
	register.Function5x0[I0, I1, I2, I3, I4](doFn.ProcessElement)
}

// DoFn5x1 registers a structural DoFn whose ProcessElement takes 5 argument(s) and returns 1 value(s).
func DoFn5x1[I0, I1, I2, I3, I4, R0 any](doFn interface{ ProcessElement(I0, I1, I2, I3, I4) R0 }) {
	registerType(doFn)
	register.Function5x1[I0, I1, I2, I3, I4, R0](doFn.ProcessElement)
}

// DoFn6x0 registers a structural DoFn whose ProcessElement takes 6 argument(s) and returns 0 value(s).
func DoFn6x0[I0, I1, I2, I3, I4, I5 any](doFn interface{ ProcessElement(I0, I1, I2, I3, I4, I5) }) {
	registerType(doFn)
	register.Function6x0[I0, I1, I2, I3, I4, I5](doFn.ProcessElement)
}

// DoFn6x1 registers a structural DoFn whose ProcessElement takes 6 argument(s) and returns 1 value(s).
func DoFn6x1[I0, I1, I2, I3, I4, I5, R0 any](doFn interface {
	ProcessElement(I0, I1, I2, I3, I4, I5) R0
}) {
	registerType(doFn)
	register.Function6x1[I0, I1, I2, I3, I4, I5, R0](doFn.ProcessElement)
}

// DoFn7x0 registers a structural DoFn whose ProcessElement takes 7 argument(s) and returns 0 value(s).
func DoFn7x0[I0, I1, I2, I3, I4, I5, I6 any](doFn interface {
	ProcessElement(I0, I1, I2, I3, I4, I5, I6)
}) {
	registerType(doFn)
	register.Function7x0[I0, I1, I2, I3, I4, I5, I6](doFn.ProcessElement)
}
