package builtins

import (
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/types"
)

// FindMembersName is the name of the built-in that finds members by name
// at any depth, for decision-log masking.
const FindMembersName = "sts.find_members"

var findMembersDecl = &rego.Function{
	Name: FindMembersName,
	Description: "Finds the object members of value, at any depth (objects and arrays), whose name, lowercased, is " +
		"one of names, or ends with one of suffixes, or contains one of substrings. Returns their JSON pointers " +
		"(RFC 6901, relative to value: \"/a/0/b\"), sorted. It is the walk of the decision-log mask policy, " +
		"done once in Go instead of once per node in Rego. A matching member's own members are not searched " +
		"(the member is erased whole).",
	Decl: types.NewFunction(
		types.Args(
			types.Named("value", types.A).Description("the document to search"),
			types.Named("names", types.NewSet(types.S)).Description("lowercase member names"),
			types.Named("suffixes", types.NewArray(nil, types.S)).Description("lowercase name suffixes"),
			types.Named("substrings", types.NewArray(nil, types.S)).Description("lowercase name substrings"),
		),
		types.Named("pointers", types.NewArray(nil, types.S)).Description("JSON pointers of the matching members"),
	),
	Nondeterministic: false,
}

func init() {
	rego.RegisterBuiltin4(findMembersDecl, findMembers)
}

type memberMatcher struct {
	names                map[string]bool
	suffixes, substrings []string
}

func (m *memberMatcher) match(name string) bool {
	l := strings.ToLower(name)
	if m.names[l] {
		return true
	}
	for _, s := range m.suffixes {
		if strings.HasSuffix(l, s) {
			return true
		}
	}
	for _, s := range m.substrings {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func findMembers(_ rego.BuiltinContext, valueTerm, namesTerm, suffixesTerm, substringsTerm *ast.Term) (*ast.Term, error) {
	names, err := builtins.SetOperand(namesTerm.Value, 2)
	if err != nil {
		return nil, err
	}
	m := &memberMatcher{names: make(map[string]bool, names.Len())}
	var bad error
	names.Foreach(func(t *ast.Term) {
		if s, ok := t.Value.(ast.String); ok {
			m.names[string(s)] = true
		} else if bad == nil {
			bad = builtins.NewOperandTypeErr(2, t.Value, "string")
		}
	})
	if bad != nil {
		return nil, bad
	}
	if m.suffixes, err = stringOperands(suffixesTerm, 3); err != nil {
		return nil, err
	}
	if m.substrings, err = stringOperands(substringsTerm, 4); err != nil {
		return nil, err
	}
	var out []*ast.Term
	var walk func(v ast.Value, prefix string)
	walk = func(v ast.Value, prefix string) {
		switch x := v.(type) {
		case ast.Object:
			x.Foreach(func(k, val *ast.Term) {
				name, ok := k.Value.(ast.String)
				if !ok {
					return
				}
				p := prefix + "/" + escapePointer(string(name))
				if m.match(string(name)) {
					out = append(out, ast.StringTerm(p))
					return
				}
				walk(val.Value, p)
			})
		case *ast.Array:
			for i := range x.Len() {
				walk(x.Elem(i).Value, prefix+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(valueTerm.Value, "")
	arr := ast.NewArray(out...)
	return ast.NewTerm(arr.Sorted()), nil
}

func stringOperands(t *ast.Term, pos int) ([]string, error) {
	a, err := builtins.ArrayOperand(t.Value, pos)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, a.Len())
	for i := range a.Len() {
		s, ok := a.Elem(i).Value.(ast.String)
		if !ok {
			return nil, builtins.NewOperandTypeErr(pos, a.Elem(i).Value, "string")
		}
		out = append(out, string(s))
	}
	return out, nil
}

// escapePointer escapes a member name as a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
