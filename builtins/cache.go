package builtins

import (
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
)

// valueCache remembers what a built-in compiled from a Rego value (a
// provider object, a statement list, a mapping configuration), so that a
// policy passing the same value on every query compiles it once.
//
// Entries are found by hash and confirmed by equality with a private copy
// of the value they were compiled from. Equality of large values (a
// mapping configuration with a thousand bindings) costs as much as the
// value is large, so an entry also remembers the object it last matched:
// a store that returns AST values hands out the same object on every
// query, and while no data has been committed since (the epoch), that
// object is still the value compiled (OPA's in-memory store changes
// objects in place on a write, which is why the identity shortcut is only
// trusted within one epoch and the copy is kept). Errors are cached too: a
// broken value is not recompiled on every query.
type valueCache[T any] struct {
	entries *lru.Cache[int, []*valueEntry[T]]
	compile func(ast.Value) (T, error)
	epoch   *atomic.Uint64
}

type valueEntry[T any] struct {
	snapshot ast.Value // a copy of the value compiled, never shared
	compiled T
	err      error
	// last is the value object that last matched, and seen the data
	// epoch at which it did.
	last atomic.Pointer[lastSeen]
}

type lastSeen struct {
	value ast.Value
	epoch uint64
}

// maxBucket bounds the values kept per hash (collisions are rare).
const maxBucket = 4

// newValueCache returns a cache of size hashes; epoch is the counter of
// data commits (see DataChanged).
func newValueCache[T any](size int, epoch *atomic.Uint64, compile func(ast.Value) (T, error)) *valueCache[T] {
	c, _ := lru.New[int, []*valueEntry[T]](size)
	return &valueCache[T]{entries: c, compile: compile, epoch: epoch}
}

func (c *valueCache[T]) get(v ast.Value) (T, error) {
	epoch := c.epoch.Load()
	h := v.Hash()
	bucket, _ := c.entries.Get(h)
	for _, e := range bucket {
		if l := e.last.Load(); l != nil && l.epoch == epoch && same(l.value, v) {
			return e.compiled, e.err
		}
	}
	for _, e := range bucket {
		if e.snapshot.Compare(v) == 0 {
			e.last.Store(&lastSeen{value: v, epoch: epoch})
			return e.compiled, e.err
		}
	}
	compiled, err := c.compile(v)
	e := &valueEntry[T]{snapshot: ast.CopyValue(v), compiled: compiled, err: err}
	e.last.Store(&lastSeen{value: v, epoch: epoch})
	// Copy on write: readers may hold the old bucket.
	next := append(append(make([]*valueEntry[T], 0, len(bucket)+1), bucket...), e)
	if len(next) > maxBucket {
		next = next[len(next)-maxBucket:]
	}
	c.entries.Add(h, next)
	return compiled, err
}

// same reports whether a and b are the same object or array (identity).
func same(a, b ast.Value) bool {
	switch a := a.(type) {
	case ast.Object:
		b, ok := b.(ast.Object)
		return ok && a == b
	case *ast.Array:
		b, ok := b.(*ast.Array)
		return ok && a == b
	}
	return false
}
