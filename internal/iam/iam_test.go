package iam

import (
	"encoding/json"
	"strings"
	"testing"
)

func mustCompile(t *testing.T, doc string) *Policy {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	p, err := CompileDocument(v)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func req(action, resource string, ctx map[string][]string) *Request {
	return &Request{Action: action, Resource: resource, Context: ctx, Vars: map[string]string{"jwt:sub": "alice", "aws:username": "alice"}}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "a", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*b*", "aaabaaa", true}, {"", "", true}, {"", "a", false},
		{"a*b*c*d", "aXbXcXd", true}, {"a*b*c*d", "aXbXcX", false}, {strings.Repeat("*a", 50), strings.Repeat("a", 60) + "b", false},
	} {
		if got := pattern(nil).appendText(c.pat, false).match(c.s, false); got != c.want {
			t.Errorf("%q ~ %q: got %v", c.pat, c.s, got)
		}
	}
}

const homePolicy = `{"Version": "2012-10-17", "Statement": [
	{"Sid": "list-home", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data",
	 "Condition": {"StringLike": {"s3:prefix": ["home/${jwt:sub}/*", "home/${jwt:sub}"]}}},
	{"Sid": "rw-home", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:Delete*"],
	 "Resource": "arn:aws:s3:::data/home/${jwt:sub}/*"},
	{"Sid": "read-shared", "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::data/shared/*"},
	{"Sid": "no-secrets", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::data/*/secret/*"}
]}`

func TestEvaluate(t *testing.T) {
	p := mustCompile(t, homePolicy)
	for _, c := range []struct {
		name     string
		r        *Request
		want     Decision
		wantStmt string
	}{
		{"own object", req("s3:GetObject", "arn:aws:s3:::data/home/alice/a.txt", nil), Allow, "rw-home"},
		{"action case-insensitive", req("S3:getobject", "arn:aws:s3:::data/home/alice/a.txt", nil), Allow, "rw-home"},
		{"resource case-sensitive", req("s3:GetObject", "arn:aws:s3:::data/HOME/alice/a.txt", nil), NoMatch, ""},
		{"someone else's object", req("s3:GetObject", "arn:aws:s3:::data/home/bob/a.txt", nil), NoMatch, ""},
		{"wildcard action", req("s3:DeleteObjectVersion", "arn:aws:s3:::data/home/alice/a", nil), Allow, "rw-home"},
		{"shared read", req("s3:GetObjectTagging", "arn:aws:s3:::data/shared/x", nil), Allow, "read-shared"},
		{"shared write", req("s3:PutObject", "arn:aws:s3:::data/shared/x", nil), NoMatch, ""},
		{"explicit deny wins", req("s3:GetObject", "arn:aws:s3:::data/home/secret/x", nil), Deny, "no-secrets"},
		{"deny over own allow", req("s3:GetObject", "arn:aws:s3:::data/home/alice/secret/x", nil), Deny, "no-secrets"},
		{"list own prefix", req("s3:ListBucket", "arn:aws:s3:::data", map[string][]string{"s3:prefix": {"home/alice/"}}), Allow, "list-home"},
		{"list other prefix", req("s3:ListBucket", "arn:aws:s3:::data", map[string][]string{"s3:prefix": {"home/bob/"}}), NoMatch, ""},
		{"list without prefix", req("s3:ListBucket", "arn:aws:s3:::data", nil), NoMatch, ""},
	} {
		got, i := p.Evaluate(c.r)
		if got != c.want || p.Sid(i) != c.wantStmt {
			t.Errorf("%s: got %v (%q), want %v (%q)", c.name, got, p.Sid(i), c.want, c.wantStmt)
		}
	}
}

func TestVariablesAreLiteralAndMustExist(t *testing.T) {
	p := mustCompile(t, homePolicy)
	r := req("s3:GetObject", "arn:aws:s3:::data/home/bob/a.txt", nil)
	r.Vars = map[string]string{"jwt:sub": "*"} // a hostile subject claim
	if d, _ := p.Evaluate(r); d != NoMatch {
		t.Fatalf("a * in a claim widened the grant: %v", d)
	}
	r = req("s3:GetObject", "arn:aws:s3:::data/home/*/a.txt", nil)
	r.Vars = map[string]string{"jwt:sub": "*"}
	if d, _ := p.Evaluate(r); d != Allow {
		t.Fatalf("literal * resource: %v", d)
	}
	r = req("s3:GetObject", "arn:aws:s3:::data/home//a.txt", nil)
	r.Vars = map[string]string{}
	if d, _ := p.Evaluate(r); d != NoMatch {
		t.Fatalf("undefined variable matched: %v", d)
	}
	lit := mustCompile(t, `[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${*}${?}${$}"}]`)
	if d, _ := lit.Evaluate(req("s3:GetObject", "arn:aws:s3:::b/*?$", nil)); d != Allow {
		t.Fatal("${*}${?}${$} escapes")
	}
	if d, _ := lit.Evaluate(req("s3:GetObject", "arn:aws:s3:::b/xy$", nil)); d != NoMatch {
		t.Fatal("escaped wildcards acted as wildcards")
	}
}

func TestNotActionNotResource(t *testing.T) {
	p := mustCompile(t, `[{"Effect": "Deny", "NotAction": ["s3:Get*", "s3:List*"], "Resource": "*"},
		{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::private/*"}]`)
	cases := map[string]Decision{
		"s3:GetObject arn:aws:s3:::public/x":  Allow,
		"s3:PutObject arn:aws:s3:::public/x":  Deny,
		"s3:GetObject arn:aws:s3:::private/x": NoMatch,
	}
	for k, want := range cases {
		f := strings.Fields(k)
		if got, _ := p.Evaluate(req(f[0], f[1], nil)); got != want {
			t.Errorf("%s: got %v want %v", k, got, want)
		}
	}
}

func TestConditions(t *testing.T) {
	for _, c := range []struct {
		name string
		cond string
		ctx  map[string][]string
		want bool
	}{
		{"StringEquals", `{"StringEquals": {"s3:x-amz-acl": "private"}}`, map[string][]string{"s3:x-amz-acl": {"private"}}, true},
		{"StringEquals no wildcard", `{"StringEquals": {"s3:prefix": "a*"}}`, map[string][]string{"s3:prefix": {"abc"}}, false},
		{"StringEquals key case", `{"StringEquals": {"S3:Prefix": "a"}}`, map[string][]string{"s3:prefix": {"a"}}, true},
		{"StringEquals missing", `{"StringEquals": {"s3:prefix": "a"}}`, nil, false},
		{"StringNotEquals missing", `{"StringNotEquals": {"s3:prefix": "a"}}`, nil, true},
		{"StringNotEquals other", `{"StringNotEquals": {"s3:prefix": "a"}}`, map[string][]string{"s3:prefix": {"b"}}, true},
		{"StringNotEquals same", `{"StringNotEquals": {"s3:prefix": "a"}}`, map[string][]string{"s3:prefix": {"a"}}, false},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase": {"k": "ABC"}}`, map[string][]string{"k": {"abc"}}, true},
		{"StringLike", `{"StringLike": {"k": ["x*", "y?"]}}`, map[string][]string{"k": {"yz"}}, true},
		{"StringNotLike", `{"StringNotLike": {"k": "x*"}}`, map[string][]string{"k": {"xyz"}}, false},
		{"IfExists absent", `{"StringEqualsIfExists": {"k": "a"}}`, nil, true},
		{"IfExists present", `{"StringEqualsIfExists": {"k": "a"}}`, map[string][]string{"k": {"b"}}, false},
		{"Numeric", `{"NumericLessThanEquals": {"s3:max-keys": 100}}`, map[string][]string{"s3:max-keys": {"50"}}, true},
		{"Numeric too many", `{"NumericLessThanEquals": {"s3:max-keys": "100"}}`, map[string][]string{"s3:max-keys": {"500"}}, false},
		{"Numeric garbage", `{"NumericEquals": {"k": 1}}`, map[string][]string{"k": {"one"}}, false},
		{"Date", `{"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}`, map[string][]string{"aws:currenttime": {"2026-11-28T00:00:00Z"}}, true},
		{"Date after", `{"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}`, map[string][]string{"aws:currenttime": {"2026-11-28T00:00:00Z"}}, false},
		{"Bool", `{"Bool": {"aws:SecureTransport": true}}`, map[string][]string{"aws:securetransport": {"TRUE"}}, true},
		{"Bool false", `{"Bool": {"aws:SecureTransport": "true"}}`, map[string][]string{"aws:securetransport": {"false"}}, false},
		{"IpAddress v4", `{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.1.7"]}}`, map[string][]string{"aws:sourceip": {"10.1.2.3"}}, true},
		{"IpAddress single", `{"IpAddress": {"aws:SourceIp": "192.168.1.7"}}`, map[string][]string{"aws:sourceip": {"192.168.1.8"}}, false},
		{"IpAddress v6", `{"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}`, map[string][]string{"aws:sourceip": {"2001:db8::1"}}, true},
		{"IpAddress mapped v4", `{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}`, map[string][]string{"aws:sourceip": {"::ffff:10.0.0.1"}}, true},
		{"NotIpAddress", `{"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}`, map[string][]string{"aws:sourceip": {"10.0.0.1"}}, false},
		{"IpAddress garbage", `{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}`, map[string][]string{"aws:sourceip": {"not-an-ip"}}, false},
		{"Null true", `{"Null": {"k": "true"}}`, nil, true},
		{"Null false", `{"Null": {"k": false}}`, map[string][]string{"k": {"v"}}, true},
		{"ForAllValues", `{"ForAllValues:StringEquals": {"k": ["a", "b"]}}`, map[string][]string{"k": {"a", "b"}}, true},
		{"ForAllValues one outside", `{"ForAllValues:StringEquals": {"k": ["a", "b"]}}`, map[string][]string{"k": {"a", "c"}}, false},
		{"ForAllValues empty", `{"ForAllValues:StringEquals": {"k": ["a"]}}`, nil, true},
		{"ForAnyValue", `{"ForAnyValue:StringEquals": {"k": ["a"]}}`, map[string][]string{"k": {"c", "a"}}, true},
		{"variable in condition", `{"StringEquals": {"k": "${jwt:sub}"}}`, map[string][]string{"k": {"alice"}}, true},
		{"variable undefined in condition", `{"StringEquals": {"k": "${jwt:nope}"}}`, map[string][]string{"k": {""}}, false},
		{"two keys AND", `{"StringEquals": {"a": "1", "b": "2"}}`, map[string][]string{"a": {"1"}, "b": {"3"}}, false},
		{"unprefixed key (MinIO)", `{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringLike": {"s3:prefix": "home/*"}}`, map[string][]string{"sourceip": {"10.1.1.1"}, "prefix": {"home/a"}}, true},
		{"prefixed and bare keys disagree: ambiguous, no Allow", `{"StringEquals": {"s3:prefix": "a"}}`, map[string][]string{"s3:prefix": {"a"}, "prefix": {"b"}}, false},
		{"prefixed and bare keys agree", `{"StringEquals": {"s3:prefix": "a"}}`, map[string][]string{"s3:prefix": {"a"}, "prefix": {"a"}}, true},
		{"two operators AND", `{"StringEquals": {"a": "1"}, "StringLike": {"b": "2*"}}`, map[string][]string{"a": {"1"}, "b": {"20"}}, true},
	} {
		p := mustCompile(t, `[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": `+c.cond+`}]`)
		got, _ := p.Evaluate(req("s3:GetObject", "arn:aws:s3:::b/k", c.ctx))
		if (got == Allow) != c.want {
			t.Errorf("%s: got %v want allow=%v", c.name, got, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not a list":         `"s3:*"`,
		"no statement":       `{"Version": "2012-10-17"}`,
		"unknown member":     `[{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Actions": "x"}]`,
		"bad effect":         `[{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]`,
		"no action":          `[{"Effect": "Allow", "Resource": "*"}]`,
		"both":               `[{"Effect": "Allow", "Action": "a", "NotAction": "b", "Resource": "*"}]`,
		"empty actions":      `[{"Effect": "Allow", "Action": [], "Resource": "*"}]`,
		"action number":      `[{"Effect": "Allow", "Action": [1], "Resource": "*"}]`,
		"unknown operator":   `[{"Effect": "Allow", "Action": "a", "Resource": "*", "Condition": {"StringSorta": {"k": "v"}}}]`,
		"bad number":         `[{"Effect": "Allow", "Action": "a", "Resource": "*", "Condition": {"NumericEquals": {"k": "x"}}}]`,
		"bad ip":             `[{"Effect": "Allow", "Action": "a", "Resource": "*", "Condition": {"IpAddress": {"k": "x"}}}]`,
		"bad date":           `[{"Effect": "Allow", "Action": "a", "Resource": "*", "Condition": {"DateEquals": {"k": "x"}}}]`,
		"unterminated var":   `[{"Effect": "Allow", "Action": "a", "Resource": "arn:${jwt:sub"}]`,
		"empty var":          `[{"Effect": "Allow", "Action": "a", "Resource": "arn:${}"}]`,
		"condition not obj":  `[{"Effect": "Allow", "Action": "a", "Resource": "*", "Condition": []}]`,
		"statement not obj":  `["x"]`,
		"extra doc member":   `{"Statement": [], "Foo": 1}`,
		"condition no value": `[{"Effect": "Allow", "Action": "a", "Resource": "*", "Condition": {"StringEquals": {"k": []}}}]`,
	} {
		var v any
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		_ = dec.Decode(&v)
		if _, err := CompileDocument(v); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

func TestSessionPolicyOnlyNarrows(t *testing.T) {
	identity := mustCompile(t, homePolicy)
	session := mustCompile(t, `{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}`)
	own := req("s3:GetObject", "arn:aws:s3:::data/home/alice/a", nil)
	put := req("s3:PutObject", "arn:aws:s3:::data/home/alice/a", nil)
	other := req("s3:GetObject", "arn:aws:s3:::data/home/bob/a", nil)
	if Intersect(identity, session, own) != Allow {
		t.Error("allowed by both")
	}
	if Intersect(identity, session, put) != NoMatch {
		t.Error("session policy did not narrow PutObject")
	}
	if Intersect(identity, session, other) != NoMatch {
		t.Error("session policy widened the identity's permissions")
	}
	if Intersect(identity, nil, put) != Allow {
		t.Error("no session policy")
	}
	deny := mustCompile(t, `[{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]`)
	if Intersect(identity, deny, own) != Deny {
		t.Error("session deny")
	}
}

// A client that can add condition keys (MinIO copies request headers and
// query parameters into its conditions) must not be able to choose the
// value of a key the server sets: when the request carries a key twice
// with different values, an Allow conditioned on it never applies and a
// Deny conditioned on it always does.
func TestAmbiguousConditionKeysFailClosed(t *testing.T) {
	allow := mustCompile(t, `[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]`)
	denyOutside := mustCompile(t, `[
		{"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
		{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]`)
	req := func(ctx map[string][]string, ambiguous ...string) *Request {
		r := &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx}
		for _, k := range ambiguous {
			if r.Ambiguous == nil {
				r.Ambiguous = map[string]bool{}
			}
			r.Ambiguous[k] = true
		}
		return r
	}
	for name, r := range map[string]*Request{
		"a second spelling of the key (header SourceIp)":         req(map[string][]string{"sourceip": {"203.0.113.5"}}, "sourceip"),
		"the prefixed key next to the bare one (?aws:SourceIp=)": req(map[string][]string{"sourceip": {"203.0.113.5"}, "aws:sourceip": {"10.1.2.3"}}),
	} {
		if d, _ := allow.Evaluate(r); d != NoMatch {
			t.Errorf("%s: the Allow gave %v", name, d)
		}
		if d, _ := denyOutside.Evaluate(r); d != Deny {
			t.Errorf("%s: the Deny gave %v", name, d)
		}
	}
	// Unambiguous: decided by the value.
	inside := req(map[string][]string{"sourceip": {"10.1.2.3"}})
	if d, _ := allow.Evaluate(inside); d != Allow {
		t.Errorf("inside: %v", d)
	}
	if d, _ := denyOutside.Evaluate(inside); d != Allow {
		t.Errorf("inside, deny policy: %v", d)
	}
	// An ambiguous key no statement looks at changes nothing.
	other := req(map[string][]string{"sourceip": {"10.1.2.3"}, "useragent": {"x"}}, "useragent")
	if d, _ := allow.Evaluate(other); d != Allow {
		t.Errorf("an unrelated ambiguous key: %v", d)
	}
}

// An Allow statement whose variables are undefined, or hold a "/", never
// applies: a NotResource would otherwise grant everything, and a subject
// such as "PRIMARY" (WSO2 subjects may be "PRIMARY/alice") would otherwise
// be granted every PRIMARY user's home. Denies still apply as written.
func TestAllowNeedsSegmentSafeDefinedVariables(t *testing.T) {
	home := mustCompile(t, `[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/home/${jwt:sub}/*"}]`)
	allButHome := mustCompile(t, `[{"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::data/home/${jwt:other}/*"}]`)
	get := func(res string, vars map[string]string) *Request {
		return &Request{Action: "s3:GetObject", Resource: res, Vars: vars}
	}
	if d, _ := home.Evaluate(get("arn:aws:s3:::data/home/alice/x", map[string]string{"jwt:sub": "alice"})); d != Allow {
		t.Fatalf("own home: %v", d)
	}
	if d, _ := home.Evaluate(get("arn:aws:s3:::data/home/PRIMARY/alice/x", map[string]string{"jwt:sub": "PRIMARY"})); d != Allow {
		t.Fatalf("the user PRIMARY's own home: %v", d) // by design: its own prefix
	}
	if d, _ := home.Evaluate(get("arn:aws:s3:::data/home/PRIMARY/alice/x", map[string]string{"jwt:sub": "PRIMARY/alice"})); d != NoMatch {
		t.Fatalf("a subject with a slash: %v", d)
	}
	if d, _ := allButHome.Evaluate(get("arn:aws:s3:::data/anything", map[string]string{})); d != NoMatch {
		t.Fatalf("NotResource with an undefined variable granted: %v", d)
	}
	deny := mustCompile(t, `[{"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::data/home/${jwt:sub}/*"},
		{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]`)
	if d, _ := deny.Evaluate(get("arn:aws:s3:::data/home/a/b/x", map[string]string{"jwt:sub": "a/b"})); d != Deny {
		t.Fatalf("a Deny with a slash in its variable: %v", d)
	}
}

func TestPrincipalIsRefused(t *testing.T) {
	for _, doc := range []string{
		`[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/bob"}, "Action": "s3:*", "Resource": "*"}]`,
		`[{"Effect": "Deny", "NotPrincipal": "*", "Action": "s3:*", "Resource": "*"}]`,
	} {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if _, err := CompileDocument(v); err == nil || !strings.Contains(err.Error(), "Principal") {
			t.Errorf("%s: compiled (%v)", doc, err)
		}
	}
}

// A multi-valued variable stands for each of its values, in the list the
// template is in: OR for Action, Resource and positive conditions; for
// negated forms the negation covers all the values.
func TestMultiValuedVariables(t *testing.T) {
	p := mustCompile(t, `{"Version": "2012-10-17", "Statement": [
		{"Sid": "group-buckets", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::${jwt:groups}/*"},
		{"Sid": "group-prefixes", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::shared",
		 "Condition": {"StringLike": {"s3:prefix": "${jwt:groups}/*"}}},
		{"Sid": "not-group-locks", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::locks/*",
		 "Condition": {"StringNotEquals": {"s3:ExistingObjectTag/team": "${jwt:groups}"}}},
		{"Sid": "outside-groups", "Effect": "Deny", "Action": "s3:DeleteObject", "NotResource": "arn:aws:s3:::${jwt:groups}/*"},
		{"Sid": "delete", "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"}
	]}`)
	multi := func(groups ...string) *Request {
		return &Request{Vars: map[string]string{"jwt:sub": "alice"}, Multi: map[string][]string{"jwt:groups": groups}}
	}
	for _, c := range []struct {
		name             string
		groups           []string
		action, resource string
		ctx              map[string][]string
		want             Decision
	}{
		{"first group's bucket", []string{"a", "b"}, "s3:GetObject", "arn:aws:s3:::a/x", nil, Allow},
		{"second group's bucket (MinIO substitutes only the first)", []string{"a", "b"}, "s3:GetObject", "arn:aws:s3:::b/x", nil, Allow},
		{"no group's bucket", []string{"a", "b"}, "s3:GetObject", "arn:aws:s3:::c/x", nil, NoMatch},
		{"no values: undefined", nil, "s3:GetObject", "arn:aws:s3:::a/x", nil, NoMatch},
		{"a value with a slash grants nothing", []string{"a/b"}, "s3:GetObject", "arn:aws:s3:::a/b/x", nil, NoMatch},
		{"the other values still grant", []string{"a/b", "c"}, "s3:GetObject", "arn:aws:s3:::c/x", nil, Allow},
		{"prefix of the second group", []string{"a", "b"}, "s3:ListBucket", "arn:aws:s3:::shared", map[string][]string{"s3:prefix": {"b/"}}, Allow},
		{"prefix of no group", []string{"a", "b"}, "s3:ListBucket", "arn:aws:s3:::shared", map[string][]string{"s3:prefix": {"c/"}}, NoMatch},
		{"negated over all values: tag of the second group", []string{"a", "b"}, "s3:PutObject", "arn:aws:s3:::locks/x", map[string][]string{"s3:existingobjecttag/team": {"b"}}, NoMatch},
		{"negated over all values: tag of no group", []string{"a", "b"}, "s3:PutObject", "arn:aws:s3:::locks/x", map[string][]string{"s3:existingobjecttag/team": {"c"}}, Deny},
		{"NotResource over all values: inside the second group", []string{"a", "b"}, "s3:DeleteObject", "arn:aws:s3:::b/x", nil, Allow},
		{"NotResource over all values: outside every group", []string{"a", "b"}, "s3:DeleteObject", "arn:aws:s3:::c/x", nil, Deny},
		{"NotResource keeps values with a slash", []string{"a", "c/d"}, "s3:DeleteObject", "arn:aws:s3:::c/d/x", nil, Allow},
	} {
		r := multi(c.groups...)
		r.Action, r.Resource, r.Context = c.action, c.resource, c.ctx
		if got, _ := p.Evaluate(r); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// A template expands to at most MaxExpansions patterns; past that it
// matches nothing, so an Allow stops applying and a Deny's NotResource
// covers everything.
func TestMultiValuedVariablesBounded(t *testing.T) {
	p := mustCompile(t, `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::${jwt:groups}/${jwt:teams}/*"}]}`)
	vals := func(n int, prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = prefix + strings.Repeat("x", i)
		}
		return out
	}
	within := &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::gxxx/txxxx/o",
		Multi: map[string][]string{"jwt:groups": vals(8, "g"), "jwt:teams": vals(8, "t")}}
	if got, _ := p.Evaluate(within); got != Allow {
		t.Errorf("8x8 expansions: got %v, want allow", got)
	}
	past := &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::gxxx/txxxx/o",
		Multi: map[string][]string{"jwt:groups": vals(8, "g"), "jwt:teams": vals(9, "t")}}
	if got, _ := p.Evaluate(past); got != NoMatch {
		t.Errorf("8x9 expansions: got %v, want no_match", got)
	}
}

// Two multi-valued variables in one template stand for every pair of their
// values, whatever the values' lengths (the expansions are built one over
// the other in one array).
func TestMultiValuedVariablesPairs(t *testing.T) {
	p := mustCompile(t, `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::${jwt:groups}/${jwt:teams}-${jwt:sub}/*"}]}`)
	groups, teams := []string{"a-long-group-name", "b", "cc"}, []string{"t", "a-long-team-name", "uu"}
	for _, g := range groups {
		for _, tm := range teams {
			r := &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::" + g + "/" + tm + "-alice/o",
				Vars: map[string]string{"jwt:sub": "alice"}, Multi: map[string][]string{"jwt:groups": groups, "jwt:teams": teams}}
			if got, _ := p.Evaluate(r); got != Allow {
				t.Errorf("%s/%s: got %v, want allow", g, tm, got)
			}
		}
	}
	for _, res := range []string{"b/a-long-team-name-bob/o", "b/u-alice/o", "a-long-group-nam/t-alice/o", "bb/t-alice/o", "b/t/o"} {
		r := &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::" + res,
			Vars: map[string]string{"jwt:sub": "alice"}, Multi: map[string][]string{"jwt:groups": groups, "jwt:teams": teams}}
		if got, _ := p.Evaluate(r); got != NoMatch {
			t.Errorf("%s: got %v, want no_match", res, got)
		}
	}
}

// MinIO matches a request on a bucket as "<bucket>/", or as a pattern
// without wildcards equal to the bucket.
func TestMinIOBucketMatch(t *testing.T) {
	p := mustCompile(t, `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": ["arn:aws:s3:::reports/*", "arn:aws:s3:::logs", "arn:aws:s3:::*b", "arn:aws:s3:::home/${jwt:sub}/*"]}]}`)
	for _, c := range []struct {
		resource string
		minio    bool
		want     Decision
	}{
		{"arn:aws:s3:::reports", false, NoMatch},
		{"arn:aws:s3:::reports", true, Allow},
		{"arn:aws:s3:::logs", true, Allow},
		{"arn:aws:s3:::logs", false, Allow},
		{"arn:aws:s3:::ab", false, Allow},
		{"arn:aws:s3:::ab", true, NoMatch}, // "*b" matches neither "ab/" nor equals "ab"
		{"arn:aws:s3:::other", true, NoMatch},
		{"arn:aws:s3:::home", true, NoMatch},
	} {
		r := &Request{Action: "s3:ListBucket", Resource: c.resource, MinIOBucket: c.minio, Vars: map[string]string{"jwt:sub": "alice"}}
		if got, _ := p.Evaluate(r); got != c.want {
			t.Errorf("%s (minio %v): got %v, want %v", c.resource, c.minio, got, c.want)
		}
	}
}
