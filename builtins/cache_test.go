package builtins

import (
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// compileCount is a valueCache whose compiled value is the value's text,
// counting compilations.
func compileCount(epoch *atomic.Uint64, n *int) *valueCache[string] {
	return newValueCache(16, epoch, func(v ast.Value) (string, error) {
		*n++
		return v.String(), nil
	})
}

func TestValueCacheCompilesOncePerValue(t *testing.T) {
	var epoch atomic.Uint64
	var n int
	c := compileCount(&epoch, &n)
	a := ast.MustParseTerm(`{"roles": ["x", "y"], "n": 1}`).Value
	for range 3 {
		if got, _ := c.get(a); got != a.String() {
			t.Fatalf("got %q", got)
		}
	}
	// An equal value in another object: found by equality, not compiled.
	b := ast.MustParseTerm(`{"n": 1, "roles": ["x", "y"]}`).Value
	if got, _ := c.get(b); got != a.String() || n != 1 {
		t.Fatalf("equal value: got %q after %d compilations", got, n)
	}
	if got, _ := c.get(ast.MustParseTerm(`{"roles": ["x"], "n": 1}`).Value); got == a.String() || n != 2 {
		t.Fatalf("different value: got %q after %d compilations", got, n)
	}
}

// OPA's in-memory store changes objects in place. Swapping two values
// keeps the object's hash (a sum over its members), so only the data
// epoch tells the cache that the same object may now hold another value.
func TestValueCacheSeesInPlaceChangesAfterACommit(t *testing.T) {
	var epoch atomic.Uint64
	var n int
	c := compileCount(&epoch, &n)
	obj := ast.MustParseTerm(`{"groups": ["/admins"], "clients": ["ci"]}`).Value.(ast.Object)
	before, _ := c.get(obj)
	h := obj.Hash()
	obj.Insert(ast.StringTerm("groups"), ast.ArrayTerm(ast.StringTerm("ci")))
	obj.Insert(ast.StringTerm("clients"), ast.ArrayTerm(ast.StringTerm("/admins")))
	if obj.Hash() != h {
		t.Fatal("the test needs a change that keeps the hash")
	}
	epoch.Add(1) // what the store trigger does on a commit
	after, _ := c.get(obj)
	if after == before || after != obj.String() || n != 2 {
		t.Fatalf("after an in-place change: got %q (before %q), %d compilations", after, before, n)
	}
	// Back to identity hits within the new epoch.
	if again, _ := c.get(obj); again != after || n != 2 {
		t.Fatalf("second lookup recompiled: %d", n)
	}
}
