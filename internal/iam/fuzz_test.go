package iam

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzPatternMatch checks the wildcard matcher against regexp.
func FuzzPatternMatch(f *testing.F) {
	for _, s := range [][2]string{{"a*b?c", "axxbyc"}, {"*", ""}, {"**?", "ab"}, {"arn:aws:s3:::b/*", "arn:aws:s3:::b/k"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > 64 || len(s) > 128 {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for i := 0; i < len(pat); i++ {
			switch pat[i] {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			}
		}
		re.WriteString(`\z`)
		// The matcher works on bytes; compare on valid single-byte input.
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return
			}
		}
		for i := 0; i < len(pat); i++ {
			if pat[i] >= 0x80 {
				return
			}
		}
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := pattern(nil).appendText(pat, false).match(s, false); got != want {
			t.Fatalf("%q ~ %q: got %v, regexp says %v", pat, s, got, want)
		}
	})
}

// fuzzPolicy builds a small policy from fuzz bytes: each statement takes
// three bytes (effect, action, resource), drawn from vocabularies that
// overlap on purpose.
func fuzzPolicy(b []byte) *Policy {
	actions := []string{"s3:GetObject", "s3:PutObject", "s3:*", "s3:Get*", "s3:ListBucket", "*", "s3:Delete*"}
	resources := []string{"arn:aws:s3:::b/*", "arn:aws:s3:::b/home/${jwt:sub}/*", "arn:aws:s3:::*", "*",
		"arn:aws:s3:::b/secret/*", "arn:aws:s3:::b", "arn:aws:s3:::c/?"}
	var stmts []any
	for i := 0; i+2 < len(b) && len(stmts) < 6; i += 3 {
		effect := "Allow"
		if b[i]%3 == 0 {
			effect = "Deny"
		}
		st := map[string]any{"Effect": effect, "Action": actions[int(b[i+1])%len(actions)]}
		if b[i+2]&0x80 != 0 {
			st["NotResource"] = resources[int(b[i+2])%len(resources)]
		} else {
			st["Resource"] = resources[int(b[i+2])%len(resources)]
		}
		stmts = append(stmts, st)
	}
	p, err := Compile(stmts)
	if err != nil {
		panic(err)
	}
	return p
}

func denies(p *Policy, r *Request) bool {
	for i := range p.statements {
		if p.statements[i].deny && p.statements[i].applies(r) {
			return true
		}
	}
	return false
}

// FuzzSessionPolicyNeverWidens: whatever the identity policy, the session
// policy and the request, a session policy only narrows (allowed with it
// implies allowed without it, and allowed by it), and an explicit Deny in
// either always wins.
func FuzzSessionPolicyNeverWidens(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1, 1, 1}, []byte{1, 0, 0}, uint8(0), uint8(0))
	f.Add([]byte{1, 2, 2, 0, 0, 4}, []byte{1, 5, 3}, uint8(1), uint8(4))
	f.Add([]byte{1, 2, 0x82}, []byte{0, 2, 2}, uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, idBytes, sessBytes []byte, act, res uint8) {
		id, sess := fuzzPolicy(idBytes), fuzzPolicy(sessBytes)
		actions := []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject", "iam:CreateUser"}
		resources := []string{"arn:aws:s3:::b/x", "arn:aws:s3:::b/home/alice/x", "arn:aws:s3:::b/home/bob/x",
			"arn:aws:s3:::b/secret/k", "arn:aws:s3:::b", "arn:aws:s3:::c/1", "arn:aws:s3:::other/x"}
		r := &Request{Action: actions[int(act)%len(actions)], Resource: resources[int(res)%len(resources)],
			Vars: map[string]string{"jwt:sub": "alice"}}
		got := Intersect(id, sess, r)
		alone, _ := id.Evaluate(r)
		bySession, _ := sess.Evaluate(r)
		if got == Allow && (alone != Allow || bySession != Allow) {
			t.Fatalf("the session policy widened: identity %v, session %v, together %v for %+v", alone, bySession, got, r)
		}
		if (denies(id, r) || denies(sess, r)) && got != Deny {
			t.Fatalf("an explicit Deny did not win: %v for %+v", got, r)
		}
		if Intersect(id, nil, r) != alone {
			t.Fatal("no session policy must mean the identity's decision")
		}
	})
}

// FuzzMultiValuedVariable checks the meaning of a multi-valued variable
// against its definition: a policy using ${jwt:groups} with values V
// decides like the policy written out with each list holding one
// expansion per value (values with a "/" left out of lists that grant).
func FuzzMultiValuedVariable(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, "a,b", "arn:aws:s3:::b/x", "b/")
	f.Add([]byte{0, 0x81, 5}, "a/c,c", "arn:aws:s3:::c/d", "c/")
	f.Fuzz(func(t *testing.T, shape []byte, groups, resource, prefix string) {
		if len(shape) > 12 || len(groups) > 40 || len(resource) > 64 || len(prefix) > 16 {
			return
		}
		vals := strings.Split(groups, ",")
		for _, v := range vals {
			// literal values only: wildcards and "$" would need escaping in
			// the written-out policy
			if v == "" || strings.ContainsAny(v, "*?${}") {
				return
			}
		}
		resources := []string{"arn:aws:s3:::${jwt:groups}/*", "arn:aws:s3:::${jwt:groups}", "arn:aws:s3:::x/${jwt:groups}-*", "arn:aws:s3:::*"}
		ops := []string{"StringLike", "StringNotLike", "StringEquals"}
		var stmts, expanded []any
		for i := 0; i+2 < len(shape) && len(stmts) < 4; i += 3 {
			deny := shape[i]%3 == 0
			effect := map[bool]string{false: "Allow", true: "Deny"}[deny]
			key := "Resource"
			if shape[i+1]&0x80 != 0 {
				key = "NotResource"
			}
			res := resources[int(shape[i+1])%len(resources)]
			st := map[string]any{"Effect": effect, "Action": "s3:*", key: res}
			op := ops[int(shape[i+2])%len(ops)]
			withCond := shape[i+2]&0x80 != 0
			if withCond {
				st["Condition"] = map[string]any{op: map[string]any{"s3:prefix": "${jwt:groups}/*"}}
			}
			stmts = append(stmts, st)
			// written out: a list that grants leaves out the values with a
			// "/" (Allow, not negated); other lists keep them all
			expand := func(tmpl string, grants bool) []any {
				if !strings.Contains(tmpl, "${jwt:groups}") {
					return []any{tmpl}
				}
				var out []any
				for _, v := range vals {
					if grants && strings.Contains(v, "/") {
						continue
					}
					out = append(out, strings.ReplaceAll(tmpl, "${jwt:groups}", v))
				}
				return out
			}
			grantsList := !deny && key == "Resource"
			ex := map[string]any{"Effect": effect, "Action": "s3:*", key: expand(res, grantsList)}
			if withCond {
				ex["Condition"] = map[string]any{op: map[string]any{"s3:prefix": expand("${jwt:groups}/*", !deny && op != "StringNotLike")}}
			}
			usesVar := strings.Contains(res, "${") || withCond
			if usesVar && !deny && !slices.ContainsFunc(vals, func(v string) bool { return !strings.Contains(v, "/") }) {
				continue // an Allow whose variable has no usable value never applies
			}
			if l, _ := ex[key].([]any); len(l) == 0 && strings.Contains(res, "${") {
				continue
			}
			if c, ok := ex["Condition"].(map[string]any); ok {
				if l, _ := c[op].(map[string]any)["s3:prefix"].([]any); len(l) == 0 {
					continue
				}
			}
			expanded = append(expanded, ex)
		}
		if len(stmts) == 0 {
			return
		}
		p, err := Compile(stmts)
		if err != nil {
			t.Fatal(err)
		}
		r := &Request{Action: "s3:GetObject", Resource: resource, Context: map[string][]string{"s3:prefix": {prefix}}}
		if len(vals) == 1 {
			r.Vars = map[string]string{"jwt:groups": vals[0]}
		} else {
			r.Multi = map[string][]string{"jwt:groups": vals}
		}
		got, _ := p.Evaluate(r)
		want := NoMatch
		if len(expanded) > 0 {
			q, err := Compile(expanded)
			if err != nil {
				t.Fatal(err)
			}
			want, _ = q.Evaluate(&Request{Action: r.Action, Resource: r.Resource, Context: r.Context})
		}
		if got != want {
			t.Fatalf("groups %q, %s, prefix %q: got %v, written out %v\npolicy %v\nwritten out %v", vals, resource, prefix, got, want, stmts, expanded)
		}
	})
}
