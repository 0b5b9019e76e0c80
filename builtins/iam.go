package builtins

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/opa-sts/opa-sts/internal/iam"
)

// IAMEvaluateName is the name of the statement evaluation built-in.
const IAMEvaluateName = "sts.iam_evaluate"

var iamEvaluateDecl = &rego.Function{
	Name: IAMEvaluateName,
	Description: "Evaluates IAM-style permission statements (a policy document {Statement: [...]} or a list of " +
		"statements: Effect, Action/NotAction, Resource/NotResource, Condition, ${...} variables) against a request " +
		"{action, resource, context: {condition key: value or [values]}, variables: {\"jwt:sub\": ...}, minio_bucket_match: " +
		"bool (a bucket's ARN also matches as \"<arn>/\", as MinIO matches bucket requests)}. An explicit " +
		"Deny wins, then any Allow. Returns {\"decision\": \"allow\"|\"deny\"|\"no_match\", \"statement\": index, " +
		"\"sid\": Sid}. Variable values are literal (a claim holding * widens nothing); a variable given a list of " +
		"strings stands for each value (a pattern using it is the list of its expansions, at most 64); an undefined variable never " +
		"matches, and an Allow whose variables are undefined or hold a \"/\" never applies. Statements are compiled " +
		"once and cached. Malformed statements are an error (fail closed).",
	Decl: types.NewFunction(
		types.Args(
			types.Named("statements", types.A).Description("a policy document or a list of statements"),
			types.Named("request", anyObject).Description("action, resource, context, variables"),
		),
		types.Named("result", anyObject).Description("decision, statement, sid"),
	),
}

// IAMEvaluateRolesName is the name of the built-in that evaluates the
// statements of several roles as one set.
const IAMEvaluateRolesName = "sts.iam_evaluate_roles"

var iamEvaluateRolesDecl = &rego.Function{
	Name: IAMEvaluateRolesName,
	Description: "Evaluates the statements of the named roles as one set, as sts.iam_evaluate does for one list: an " +
		"explicit Deny in any role wins, then any Allow. roles maps a role name to {\"statements\": [...], ...} (as " +
		"data.opa_sts.roles); names lists the roles to evaluate (a name with no role or no statements contributes " +
		"nothing). Returns {\"decision\": \"allow\"|\"deny\"|\"no_match\", \"role\": the deciding role, " +
		"\"statement\": index, \"sid\": Sid}. The request is read once and each role's statements are compiled " +
		"once and cached; malformed statements of a named role are an error (fail closed).",
	Decl: types.NewFunction(
		types.Args(
			types.Named("roles", anyObject).Description("role name to {statements}"),
			types.Named("names", types.NewAny(types.NewArray(nil, types.S), types.NewSet(types.S))).Description("the roles to evaluate"),
			types.Named("request", anyObject).Description("action, resource, context, variables"),
		),
		types.Named("result", anyObject).Description("decision, role, statement, sid"),
	),
}

// IAMVariablesName is the name of the built-in that keeps the policy
// variables some statements use.
const IAMVariablesName = "sts.iam_variables"

var iamVariablesDecl = &rego.Function{
	Name: IAMVariablesName,
	Description: "Returns the members of variables ({\"jwt:sub\": ..., \"aws:username\": ...}) whose names (compared " +
		"without case, as sts.iam_evaluate resolves them) the policies use as ${...} variables. policies is a list of " +
		"policy documents or statement lists; null members are skipped. A grant carries only these, so a token with " +
		"a thousand claims does not make a thousand-variable session. Statements are compiled once and cached; " +
		"malformed statements are an error.",
	Decl: types.NewFunction(
		types.Args(
			types.Named("variables", anyObject).Description("variable name to value"),
			types.Named("policies", types.NewArray(nil, types.A)).Description("policy documents or statement lists"),
		),
		types.Named("used", anyObject).Description("the variables the policies use"),
	),
}

func init() {
	rego.RegisterBuiltin2(iamVariablesDecl, shared.iamVariables)
	rego.RegisterBuiltin2(iamEvaluateDecl, shared.iamEvaluate)
	rego.RegisterBuiltin3(iamEvaluateRolesDecl, shared.iamEvaluateRoles)
}

func compilePolicy(v ast.Value) (*iam.Policy, error) {
	native, err := ast.JSON(v)
	if err != nil {
		return nil, err
	}
	// Round-trip through JSON so numbers are json.Number, as iam expects.
	raw, err := json.Marshal(native)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return iam.CompileDocument(doc)
}

func (s *state) iamVariables(_ rego.BuiltinContext, varsTerm, policiesTerm *ast.Term) (*ast.Term, error) {
	vars, err := builtins.ObjectOperand(varsTerm.Value, 1)
	if err != nil {
		return nil, err
	}
	policies, err := builtins.ArrayOperand(policiesTerm.Value, 2)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for i := range policies.Len() {
		v := policies.Elem(i).Value
		if _, isNull := v.(ast.Null); isNull {
			continue
		}
		p, err := s.policies.get(v)
		if err != nil {
			return nil, fmt.Errorf("%s: policy %d: %w", IAMVariablesName, i, err)
		}
		for _, name := range p.Variables() {
			used[name] = true
		}
	}
	out := ast.NewObject()
	vars.Foreach(func(k, val *ast.Term) {
		if ks, ok := k.Value.(ast.String); ok && used[strings.ToLower(string(ks))] {
			out.Insert(k, val)
		}
	})
	return ast.NewTerm(out), nil
}

var (
	keyAction     = ast.InternedTerm("action")
	keyResource   = ast.InternedTerm("resource")
	keyContext    = ast.InternedTerm("context")
	keyVariables  = ast.InternedTerm("variables")
	keyMinIO      = ast.InternedTerm("minio_bucket_match")
	keyDecision   = ast.InternedTerm("decision")
	keyStatement  = ast.InternedTerm("statement")
	keySid        = ast.InternedTerm("sid")
	keyRole       = ast.InternedTerm("role")
	keyStatements = ast.InternedTerm("statements")
)

func (s *state) iamEvaluate(_ rego.BuiltinContext, stmts, reqTerm *ast.Term) (*ast.Term, error) {
	reqObj, err := builtins.ObjectOperand(reqTerm.Value, 2)
	if err != nil {
		return nil, err
	}
	p, err := s.policies.get(stmts.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid statements: %w", IAMEvaluateName, err)
	}
	r, err := iamRequest(reqObj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IAMEvaluateName, err)
	}
	d, i := p.Evaluate(r)
	return evaluation(d, i, p.Sid(i), ""), nil
}

// evaluation is the result of the IAM built-ins: decision, statement, sid,
// and the deciding role when there is one.
func evaluation(d iam.Decision, stmt int, sid, role string) *ast.Term {
	items := [][2]*ast.Term{
		{keyDecision, ast.StringTerm(d.String())},
		{keyStatement, ast.IntNumberTerm(stmt)},
		{keySid, ast.StringTerm(sid)},
	}
	if role != "" {
		items = append(items, [2]*ast.Term{keyRole, ast.StringTerm(role)})
	}
	return ast.ObjectTerm(items...)
}

func (s *state) iamEvaluateRoles(_ rego.BuiltinContext, rolesTerm, namesTerm, reqTerm *ast.Term) (*ast.Term, error) {
	roles, err := builtins.ObjectOperand(rolesTerm.Value, 1)
	if err != nil {
		return nil, err
	}
	var names []*ast.Term
	switch n := namesTerm.Value.(type) {
	case *ast.Array:
		n.Foreach(func(t *ast.Term) { names = append(names, t) })
	case ast.Set:
		names = n.Slice()
	default:
		return nil, builtins.NewOperandTypeErr(2, namesTerm.Value, "array", "set")
	}
	reqObj, err := builtins.ObjectOperand(reqTerm.Value, 3)
	if err != nil {
		return nil, err
	}
	r, err := iamRequest(reqObj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IAMEvaluateRolesName, err)
	}
	decision, role, stmt, sid := iam.NoMatch, "", -1, ""
	for _, name := range names {
		if _, ok := name.Value.(ast.String); !ok {
			return nil, fmt.Errorf("%s: role names must be strings", IAMEvaluateRolesName)
		}
		rt := roles.Get(name)
		if rt == nil {
			continue
		}
		ro, ok := rt.Value.(ast.Object)
		if !ok {
			return nil, fmt.Errorf("%s: role %v is not an object", IAMEvaluateRolesName, name)
		}
		st := ro.Get(keyStatements)
		if st == nil {
			continue
		}
		p, err := s.policies.get(st.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: role %v: invalid statements: %w", IAMEvaluateRolesName, name, err)
		}
		d, i := p.Evaluate(r)
		switch {
		case d == iam.Deny:
			// Nothing outranks a Deny, but every named role is still
			// checked for malformed statements.
			if decision != iam.Deny {
				decision, role, stmt, sid = d, string(name.Value.(ast.String)), i, p.Sid(i)
			}
		case d == iam.Allow && decision == iam.NoMatch:
			decision, role, stmt, sid = d, string(name.Value.(ast.String)), i, p.Sid(i)
		}
	}
	return evaluation(decision, stmt, sid, role), nil
}

func iamRequest(o ast.Object) (*iam.Request, error) {
	r := &iam.Request{}
	str := func(k *ast.Term) (string, error) {
		t := o.Get(k)
		if t == nil {
			return "", fmt.Errorf("request.%v is required", k)
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			return "", fmt.Errorf("request.%v must be a string", k)
		}
		return string(s), nil
	}
	var err error
	if r.Action, err = str(keyAction); err != nil {
		return nil, err
	}
	if r.Resource, err = str(keyResource); err != nil {
		return nil, err
	}
	if t := o.Get(keyMinIO); t != nil {
		b, ok := t.Value.(ast.Boolean)
		if !ok {
			return nil, fmt.Errorf("request.minio_bucket_match must be a boolean")
		}
		r.MinIOBucket = bool(b)
	}
	if t := o.Get(keyContext); t != nil {
		ctx, ok := t.Value.(ast.Object)
		if !ok {
			return nil, fmt.Errorf("request.context must be an object")
		}
		r.Context = make(map[string][]string, ctx.Len())
		err := ctx.Iter(func(k, v *ast.Term) error {
			ks, ok := k.Value.(ast.String)
			if !ok {
				return fmt.Errorf("request.context keys must be strings")
			}
			vals, err := contextValues(v.Value)
			if err != nil {
				return fmt.Errorf("request.context[%q]: %w", string(ks), err)
			}
			// Condition keys are case-insensitive: two spellings of one
			// key with different values are ambiguous, and evaluation
			// fails closed on them (iam.Request.Ambiguous).
			lk := strings.ToLower(string(ks))
			if prev, dup := r.Context[lk]; dup {
				if !slices.Equal(prev, vals) {
					if r.Ambiguous == nil {
						r.Ambiguous = map[string]bool{}
					}
					r.Ambiguous[lk] = true
				}
				return nil
			}
			r.Context[lk] = vals
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if t := o.Get(keyVariables); t != nil {
		vars, ok := t.Value.(ast.Object)
		if !ok {
			return nil, fmt.Errorf("request.variables must be an object")
		}
		r.Vars = make(map[string]string, vars.Len())
		vars.Foreach(func(k, v *ast.Term) {
			ks, ok := k.Value.(ast.String)
			if !ok {
				return
			}
			name := strings.ToLower(string(ks))
			switch vs := v.Value.(type) {
			case ast.String:
				r.Vars[name] = string(vs)
			case *ast.Array:
				// A multi-valued variable (a claim such as "groups"): only
				// when every value is a string, else it is undefined.
				vals := make([]string, 0, vs.Len())
				for i := range vs.Len() {
					s, ok := vs.Elem(i).Value.(ast.String)
					if !ok {
						return
					}
					vals = append(vals, string(s))
				}
				if len(vals) == 1 {
					r.Vars[name] = vals[0]
				} else if len(vals) > 1 {
					if r.Multi == nil {
						r.Multi = map[string][]string{}
					}
					r.Multi[name] = vals
				}
			}
		})
	}
	return r, nil
}

// contextValues accepts a scalar or an array/set of scalars.
func contextValues(v ast.Value) ([]string, error) {
	scalar := func(v ast.Value) (string, bool) {
		switch v := v.(type) {
		case ast.String:
			return string(v), true
		case ast.Number:
			return string(v), true
		case ast.Boolean:
			if v {
				return "true", true
			}
			return "false", true
		}
		return "", false
	}
	if s, ok := scalar(v); ok {
		return []string{s}, nil
	}
	var out []string
	var bad bool
	each := func(t *ast.Term) {
		s, ok := scalar(t.Value)
		if !ok {
			bad = true
			return
		}
		out = append(out, s)
	}
	switch v := v.(type) {
	case *ast.Array:
		v.Foreach(each)
	case ast.Set:
		v.Foreach(each)
	default:
		return nil, fmt.Errorf("must be a string, number, boolean or a list of them")
	}
	if bad {
		return nil, fmt.Errorf("values must be strings, numbers or booleans")
	}
	return out, nil
}
