// Package astutil reads plain Go values out of Rego values, for built-ins
// whose arguments come from policy data.
package astutil

import (
	"errors"

	"github.com/open-policy-agent/opa/v1/ast"
)

// ErrNotStrings is returned by Strings for anything but a string or a
// list of strings.
var ErrNotStrings = errors.New("must be a string or a list of strings")

// Strings accepts a string, or an array or set of strings.
func Strings(v ast.Value) ([]string, error) {
	var out []string
	add := func(t *ast.Term) error {
		s, ok := t.Value.(ast.String)
		if !ok {
			return ErrNotStrings
		}
		out = append(out, string(s))
		return nil
	}
	switch v := v.(type) {
	case ast.String:
		return []string{string(v)}, nil
	case *ast.Array:
		for i := range v.Len() {
			if err := add(v.Elem(i)); err != nil {
				return nil, err
			}
		}
	case ast.Set:
		for _, t := range v.Slice() {
			if err := add(t); err != nil {
				return nil, err
			}
		}
	default:
		return nil, ErrNotStrings
	}
	return out, nil
}
