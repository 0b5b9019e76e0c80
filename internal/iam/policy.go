// Package iam evaluates IAM-style permission statements (Effect, Action,
// Resource, Condition, with ${...} policy variables) against a request, the
// way AWS and MinIO do: an explicit Deny wins, then any Allow, else no
// match. Statements are compiled once and evaluated without allocation on
// the common path, for request-time authorization.
package iam

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Decision is the outcome of an evaluation.
type Decision int

// The decisions. NoMatch means no statement applied (an implicit deny).
const (
	NoMatch Decision = iota
	Allow
	Deny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "no_match"
}

// Request is what is being authorized.
type Request struct {
	Action   string // e.g. "s3:GetObject"
	Resource string // e.g. "arn:aws:s3:::bucket/key"
	// Context holds condition keys (lower-case) and their values, e.g.
	// "aws:sourceip": ["10.0.0.1"], "s3:prefix": ["home/alice/"].
	Context map[string][]string
	// Ambiguous marks the keys of Context that the caller was given more
	// than once, spelt differently and with different values ("SourceIp"
	// and "Sourceip"): one of them may come from the client (MinIO copies
	// request headers and query parameters into its conditions). A
	// condition on such a key never lets an Allow apply and always lets a
	// Deny apply (see condition.holds).
	Ambiguous map[string]bool
	// Vars are the values of policy variables, by name without ${}:
	// "jwt:sub", "aws:username", ... A statement that uses an undefined
	// variable does not match.
	Vars map[string]string
	// Multi are the variables with several values (a multi-valued claim
	// such as "groups"). A template that uses one stands for the list of
	// its expansions, one per value, in the list it is in: Resource
	// ["arn:aws:s3:::${jwt:groups}/*"] with groups ["a","b"] is Resource
	// ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"], and the same holds for
	// Action and condition values (so a negated operator is negated over
	// all the values). A template that would expand to more than
	// MaxExpansions patterns matches nothing. A name in Vars wins over the
	// same name here.
	Multi map[string][]string
	// MinIOBucket matches a request on a bucket (Resource is the bucket's
	// ARN) the way MinIO's policy engine does: as the bucket's ARN followed
	// by "/", or as a pattern without wildcards equal to it. So
	// "arn:aws:s3:::b/*" covers bucket b itself. For documents written
	// against MinIO (its session and service-account policies).
	MinIOBucket bool
}

// MaxExpansions bounds the patterns one template expands to with
// multi-valued variables (the product of their numbers of values): past
// it, the template matches nothing, whatever the order of the values.
const MaxExpansions = 64

// Policy is a compiled list of statements. It is immutable and safe for
// concurrent use.
type Policy struct {
	statements []statement
}

// Len is the number of statements.
func (p *Policy) Len() int { return len(p.statements) }

type statement struct {
	sid         string
	deny        bool
	notAction   bool
	actions     []template
	notResource bool
	resources   []template
	conditions  []condition
	// vars are the policy variables the statement refers to anywhere.
	vars []string
}

// template is a pattern that may contain ${var} references, resolved per
// request.
type template struct {
	static pattern // set when there are no variables
	parts  []tpart // otherwise
	fold   bool
	any    bool // "*": matches everything, fast path
}

type tpart struct {
	text  string // policy text (wildcards active)
	varID string // variable name, when this part is a reference
}

// Compile checks and compiles statements given as decoded JSON
// (map[string]any / []any / string / json.Number / bool). Unknown members,
// effects, condition operators or malformed values are errors: a policy
// that cannot be understood must not be half-applied.
func Compile(statements []any) (*Policy, error) {
	p := &Policy{statements: make([]statement, 0, len(statements))}
	for i, raw := range statements {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("statement %d is not an object", i)
		}
		st, err := compileStatement(m)
		if err != nil {
			if sid, _ := m["Sid"].(string); sid != "" {
				return nil, fmt.Errorf("statement %q: %w", sid, err)
			}
			return nil, fmt.Errorf("statement %d: %w", i, err)
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

// CompileDocument accepts a policy document ({"Version", "Statement"}) or
// a bare list of statements; "Statement" may be one object or a list.
func CompileDocument(doc any) (*Policy, error) {
	switch d := doc.(type) {
	case []any:
		return Compile(d)
	case map[string]any:
		for k, v := range d {
			switch k {
			case "Version":
				if v != "2012-10-17" && v != "2008-10-17" {
					return nil, errors.New(`Version must be "2012-10-17" (or "2008-10-17")`)
				}
			case "Id":
				if _, ok := v.(string); !ok {
					return nil, errors.New("Id must be a string")
				}
			case "Statement":
			default:
				return nil, fmt.Errorf("unknown policy member %q", k)
			}
		}
		switch s := d["Statement"].(type) {
		case []any:
			return Compile(s)
		case map[string]any:
			return Compile([]any{s})
		}
		return nil, errors.New("policy has no Statement")
	}
	return nil, errors.New("policy must be an object or a list of statements")
}

func compileStatement(m map[string]any) (statement, error) {
	var st statement
	for k := range m {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			// An identity or session policy applies to the session it is
			// attached to; a Principal would be silently ignored, so a
			// statement meant for one principal would apply to everyone
			// with the role. AWS refuses it too.
			return st, fmt.Errorf("%s has no place in an identity or session policy", k)
		default:
			return st, fmt.Errorf("unknown member %q", k)
		}
	}
	if sid, ok := m["Sid"]; ok {
		s, isString := sid.(string)
		if !isString {
			return st, errors.New("Sid must be a string")
		}
		st.sid = s
	}
	switch m["Effect"] {
	case "Allow":
	case "Deny":
		st.deny = true
	default:
		return st, errors.New(`Effect must be "Allow" or "Deny"`)
	}
	var err error
	if st.actions, st.notAction, err = compileList(m, "Action", "NotAction", true); err != nil {
		return st, err
	}
	if st.resources, st.notResource, err = compileList(m, "Resource", "NotResource", false); err != nil {
		return st, err
	}
	if c, ok := m["Condition"]; ok {
		if st.conditions, err = compileConditions(c); err != nil {
			return st, err
		}
	}
	seen := map[string]bool{}
	collect := func(ts []template) {
		for _, t := range ts {
			for _, part := range t.parts {
				if part.varID != "" && part.varID[0] != 0 && !seen[part.varID] {
					seen[part.varID] = true
					st.vars = append(st.vars, part.varID)
				}
			}
		}
	}
	collect(st.actions)
	collect(st.resources)
	for i := range st.conditions {
		collect(st.conditions[i].values)
	}
	return st, nil
}

// grantsWith reports whether an Allow statement may apply with vars: every
// variable it refers to must be defined and must not contain "/". An
// undefined variable would otherwise turn a NotResource or NotAction into
// "everything", and a value with a "/" (a WSO2 subject such as
// "PRIMARY/alice") crosses into other users' path segments: a user named
// "PRIMARY" would be granted home/PRIMARY/*, every PRIMARY user's home.
// AWS user names cannot contain "/" for the same reason.
//
// A multi-valued variable's values that contain "/" are left out of an
// Allow's expansions (see template.matchFrom); it must keep at least one.
func (st *statement) grantsWith(r *Request) bool {
	for _, id := range st.vars {
		if v, ok := r.Vars[id]; ok {
			if strings.Contains(v, "/") {
				return false
			}
			continue
		}
		if !slices.ContainsFunc(r.Multi[id], func(v string) bool { return !strings.Contains(v, "/") }) {
			return false
		}
	}
	return true
}

func compileList(m map[string]any, name, notName string, fold bool) ([]template, bool, error) {
	v, has := m[name]
	nv, hasNot := m[notName]
	switch {
	case has && hasNot:
		return nil, false, fmt.Errorf("%s and %s are exclusive", name, notName)
	case !has && !hasNot:
		return nil, false, fmt.Errorf("%s is required", name)
	case hasNot:
		v = nv
	}
	strs, err := stringList(v)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", name, err)
	}
	if len(strs) == 0 {
		return nil, false, fmt.Errorf("%s is empty", name)
	}
	out := make([]template, len(strs))
	for i, s := range strs {
		if out[i], err = compileTemplate(s, fold); err != nil {
			return nil, false, fmt.Errorf("%s %q: %w", name, clip(s), err)
		}
	}
	return out, hasNot, nil
}

func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("must hold strings only")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("must be a string or a list of strings")
}

// compileTemplate parses ${name} references; ${*}, ${?} and ${$} are the
// literal characters, as in AWS.
func compileTemplate(s string, fold bool) (template, error) {
	t := template{fold: fold}
	if s == "*" {
		t.any = true
		return t, nil
	}
	if !strings.Contains(s, "${") {
		t.static = pattern(nil).appendText(s, fold)
		return t, nil
	}
	rest := s
	for rest != "" {
		i := strings.Index(rest, "${")
		if i < 0 {
			t.parts = append(t.parts, tpart{text: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tpart{text: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, errors.New("unterminated ${")
		}
		name := rest[i+2 : i+j]
		switch name {
		case "*", "?", "$":
			t.parts = append(t.parts, tpart{varID: "\x00" + name})
		case "":
			return t, errors.New("empty ${}")
		default:
			t.parts = append(t.parts, tpart{varID: strings.ToLower(name)})
		}
		rest = rest[i+j+1:]
	}
	return t, nil
}

// matches reports whether s matches the template with r's variables: any
// of its expansions, when it uses multi-valued variables (grant drops the
// values with a "/" from them, the rule of an Allow). An undefined
// variable matches nothing.
func (t *template) matches(s string, r *Request, grant bool) bool {
	if t.any {
		return true
	}
	if t.parts == nil {
		return t.static.match(s, t.fold)
	}
	if len(r.Multi) > 0 && t.expansions(r, grant) > MaxExpansions {
		return false
	}
	// The pattern is built on the stack when it fits: most do.
	var buf [256]pchar
	return t.matchFrom(buf[:0], 0, s, r, grant)
}

// expansions is the number of patterns the template stands for.
func (t *template) expansions(r *Request, grant bool) int {
	n := 1
	for _, part := range t.parts {
		if part.varID == "" || part.varID[0] == 0 {
			continue
		}
		if _, single := r.Vars[part.varID]; single {
			continue
		}
		k := 0
		for _, v := range r.Multi[part.varID] {
			if !grant || !strings.Contains(v, "/") {
				k++
			}
		}
		if n *= k; n > MaxExpansions || n == 0 {
			return n
		}
	}
	return n
}

// matchFrom builds the patterns of the template from part i on, after p,
// and reports whether s matches one of them.
func (t *template) matchFrom(p pattern, i int, s string, r *Request, grant bool) bool {
	for ; i < len(t.parts); i++ {
		part := t.parts[i]
		switch {
		case part.varID == "":
			p = p.appendText(part.text, t.fold)
		case part.varID[0] == 0:
			p = p.appendLiteral(part.varID[1:], t.fold)
		default:
			if v, ok := r.Vars[part.varID]; ok {
				p = p.appendLiteral(v, t.fold)
				continue
			}
			// Each expansion appends to the prefix in the same array: the
			// expansions are matched one after the other, each written
			// over the last, and nothing below len(p) is ever written.
			for _, v := range r.Multi[part.varID] {
				if grant && strings.Contains(v, "/") {
					continue
				}
				if t.matchFrom(p.appendLiteral(v, t.fold), i+1, s, r, grant) {
					return true
				}
			}
			return false
		}
	}
	return p.match(s, t.fold)
}

func matchesAny(ts []template, s string, r *Request, grant bool) bool {
	for i := range ts {
		if ts[i].matches(s, r, grant) {
			return true
		}
	}
	return false
}

func (st *statement) applies(r *Request) bool {
	grant := !st.deny
	if grant && !st.grantsWith(r) {
		return false
	}
	// Values left out of a NotAction or NotResource would widen it: they
	// are only left out of the lists that grant.
	if matchesAny(st.actions, r.Action, r, grant && !st.notAction) == st.notAction {
		return false
	}
	if st.matchesResource(r, grant && !st.notResource) == st.notResource {
		return false
	}
	for i := range st.conditions {
		holds, ambiguous := st.conditions[i].holds(r, grant)
		if ambiguous {
			// Fail closed: the request's context cannot be trusted for
			// this key, so no Allow is granted on it and every Deny that
			// matches the action and resource applies.
			return st.deny
		}
		if !holds {
			return false
		}
	}
	return true
}

func (st *statement) matchesResource(r *Request, grant bool) bool {
	if !r.MinIOBucket {
		return matchesAny(st.resources, r.Resource, r, grant)
	}
	slashed := r.Resource + "/"
	for i := range st.resources {
		t := &st.resources[i]
		if t.matches(slashed, r, grant) || (!t.wildcards() && t.matches(r.Resource, r, grant)) {
			return true
		}
	}
	return false
}

// wildcards reports whether the template's policy text holds * or ?
// (substituted values are literal).
func (t *template) wildcards() bool {
	if t.any {
		return true
	}
	if t.parts == nil {
		return slices.ContainsFunc(t.static, func(c pchar) bool { return c.kind != pLit })
	}
	for _, part := range t.parts {
		if part.varID == "" && strings.ContainsAny(part.text, "*?") {
			return true
		}
	}
	return false
}

// Evaluate returns the decision for r and the index of the statement that
// decided it (-1 for NoMatch).
func (p *Policy) Evaluate(r *Request) (Decision, int) {
	allowed := -1
	for i := range p.statements {
		st := &p.statements[i]
		if !st.applies(r) {
			continue
		}
		if st.deny {
			return Deny, i
		}
		if allowed < 0 {
			allowed = i
		}
	}
	if allowed >= 0 {
		return Allow, allowed
	}
	return NoMatch, -1
}

// Variables returns the names (lower-case, without ${}) of the policy
// variables the statements use, each once.
func (p *Policy) Variables() []string {
	var out []string
	for i := range p.statements {
		for _, v := range p.statements[i].vars {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// Sid returns the Sid of statement i ("" if none or out of range).
func (p *Policy) Sid(i int) string {
	if i < 0 || i >= len(p.statements) {
		return ""
	}
	return p.statements[i].sid
}

// Intersect evaluates r against identity permissions and an optional
// session policy (the Policy parameter): a session policy only narrows.
// Deny from either is Deny; Allow needs both to allow; else NoMatch.
func Intersect(identity, session *Policy, r *Request) Decision {
	d, _ := identity.Evaluate(r)
	if session == nil || d == Deny {
		return d
	}
	s, _ := session.Evaluate(r)
	switch {
	case s == Deny:
		return Deny
	case d == Allow && s == Allow:
		return Allow
	}
	return NoMatch
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// sortedKeys is used for deterministic compilation order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
