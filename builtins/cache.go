package builtins

import (
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
)

// valueCache remembers what a built-in compiled from a Rego value (a
// provider object, a statement list, a mapping configuration), so that a
// policy passing the same value on every query compiles it once. Entries
// are found by hash and confirmed by identity (a store returning AST
// values hands out the same object every time) or, failing that, by
// equality. Errors are cached too: a broken value is not recompiled on
// every query.
type valueCache[T any] struct {
	entries *lru.Cache[int, []valueEntry[T]]
	compile func(ast.Value) (T, error)
}

type valueEntry[T any] struct {
	value    ast.Value
	compiled T
	err      error
}

// maxBucket bounds the values kept per hash (collisions are rare).
const maxBucket = 4

func newValueCache[T any](size int, compile func(ast.Value) (T, error)) *valueCache[T] {
	c, _ := lru.New[int, []valueEntry[T]](size)
	return &valueCache[T]{entries: c, compile: compile}
}

func (c *valueCache[T]) get(v ast.Value) (T, error) {
	h := v.Hash()
	bucket, _ := c.entries.Get(h)
	for _, e := range bucket {
		if same(e.value, v) || e.value.Compare(v) == 0 {
			return e.compiled, e.err
		}
	}
	compiled, err := c.compile(v)
	// Copy on write: readers may hold the old bucket.
	next := append(append(make([]valueEntry[T], 0, len(bucket)+1), bucket...), valueEntry[T]{value: v, compiled: compiled, err: err})
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
