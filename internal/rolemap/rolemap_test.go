package rolemap

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func cfg(t *testing.T, s string) *Config {
	t.Helper()
	c, err := Compile(ast.MustParseTerm(s).Value.(ast.Object))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestResolve(t *testing.T) {
	c := cfg(t, `{"providers": [{"issuer": "i", "subject_claim": "preferred_username", "groups_claim": "grp"}],
		"bindings": [
			{"role": "a", "issuer": "i", "groups": ["/g"]},
			{"role": "b", "issuer": "i", "clients": ["app"], "scopes": ["s3"]},
			{"role": "c", "issuer": "i"},
			{"role": "d", "issuer": "j", "clients": ["app"]},
			{"role": "a", "issuer": "i", "clients": ["app"]}
		]}`)
	id := c.Resolve(ast.MustParseTerm(`{"iss": "i", "preferred_username": "alice", "azp": "app", "grp": ["/g"], "scope": "openid s3"}`).Value.(ast.Object))
	if id.Subject != "alice" || id.ClientID != "app" || len(id.Roles) != 2 || id.Roles[0] != "a" || id.Roles[1] != "b" {
		t.Fatalf("%+v", id)
	}
	id = c.Resolve(ast.MustParseTerm(`{"iss": "x", "client_id": "app"}`).Value.(ast.Object))
	if id.Subject != "client:app" || len(id.Roles) != 0 {
		t.Fatalf("unknown issuer: %+v", id)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, s := range []string{
		`{"bindings": {}}`,
		`{"bindings": [{"issuer": "i", "clients": ["a"]}]}`,
		`{"bindings": [{"role": "r", "clients": ["a"]}]}`,
		`{"bindings": [{"role": "r", "issuer": "i", "client": ["a"]}]}`,
		`{"bindings": [{"role": "r", "issuer": "i", "clients": [1]}]}`,
		`{"bindings": [{"role": "r", "issuer": "i", "claims": ["x"]}]}`,
		`{"providers": {}}`,
	} {
		if _, err := Compile(ast.MustParseTerm(s).Value.(ast.Object)); err == nil {
			t.Errorf("%s: compiled", s)
		}
	}
}

// The index finds exactly the roles a check of every binding finds.
func TestIndexAgreesWithAScanOfEveryBinding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(pool ...string) []any {
		out := []any{}
		for _, v := range pool {
			if rng.IntN(3) == 0 {
				out = append(out, v)
			}
		}
		return out
	}
	for round := range 300 {
		var bindings []any
		for r := range 12 {
			b := map[string]any{"role": fmt.Sprintf("r%d", r%7), "issuer": "i"}
			for _, k := range []string{"clients", "subjects", "groups", "scopes", "realm_roles"} {
				if rng.IntN(3) == 0 {
					b[k] = pick("a", "b", "c", "")
				}
			}
			if rng.IntN(4) == 0 {
				b["claims"] = map[string]any{"dept": pick("x", "y")}
			}
			if rng.IntN(4) == 0 {
				b["client_roles"] = map[string]any{"app": pick("x", "y")}
			}
			bindings = append(bindings, b)
		}
		raw, _ := json.Marshal(map[string]any{"bindings": bindings})
		c := cfg(t, string(raw))
		claimsRaw, _ := json.Marshal(map[string]any{
			"iss": "i", "azp": []string{"a", "b", "c", ""}[rng.IntN(4)], "sub": []string{"a", "b", ""}[rng.IntN(3)],
			"groups": pick("a", "b", "c"), "scope": "a c", "realm_access": map[string]any{"roles": pick("a", "b", "c")},
			"dept": "x", "resource_access": map[string]any{"app": map[string]any{"roles": pick("x", "y")}},
		})
		claims := ast.MustParseTerm(string(claimsRaw)).Value.(ast.Object)
		got := c.Resolve(claims)

		want := Identity{ClientID: got.ClientID, Subject: got.Subject}
		claimed, _ := str(claims, "sub")
		f := facts{subject: claimed, scopes: scopes(claims), groups: values(claims.Get(ast.StringTerm("groups"))), realmRoles: values(path(claims, "realm_access", "roles"))}
		if ib := c.bindings["i"]; ib != nil {
			for i := range ib.all {
				if b := &ib.all[i]; !slices.Contains(want.Roles, b.role) && b.applies(claims, &want, &f) {
					want.Roles = append(want.Roles, b.role)
				}
			}
		}
		sort.Strings(want.Roles)
		if !slices.Equal(got.Roles, want.Roles) {
			t.Fatalf("round %d: index %v, scan %v\nbindings %s\nclaims %s", round, got.Roles, want.Roles, raw, claimsRaw)
		}
	}
}

// A token without a subject is named after its client, but a "subjects"
// criterion matches only a subject the token claims: a client registered
// under a user's name does not get that user's roles.
func TestSubjectsMatchOnlyAClaimedSubject(t *testing.T) {
	c := cfg(t, `{"bindings": [{"role": "alice-home", "issuer": "i", "subjects": ["alice"]}]}`)
	id := c.Resolve(ast.MustParseTerm(`{"iss": "i", "azp": "alice"}`).Value.(ast.Object))
	if id.Subject != "client:alice" || len(id.Roles) != 0 {
		t.Fatalf("a client named alice without a subject: %+v", id)
	}
	id = c.Resolve(ast.MustParseTerm(`{"iss": "i", "azp": "app", "sub": "alice"}`).Value.(ast.Object))
	if len(id.Roles) != 1 || id.Roles[0] != "alice-home" {
		t.Fatalf("the subject alice: %+v", id)
	}
}

// Policy variables resolve without case: claims whose names differ only
// in case name no variable, instead of one of them winning silently.
func TestVariablesDropClaimsThatDifferOnlyInCase(t *testing.T) {
	claims := ast.MustParseTerm(`{"sub": "alice", "Sub": "admin", "team": "a", "aws:UserName": "root"}`).Value.(ast.Object)
	v := Variables(claims, "alice")
	for _, absent := range []string{"jwt:sub", "jwt:Sub", "jwt:aws:UserName"} {
		if v.Get(ast.StringTerm(absent)) != nil {
			t.Errorf("%s is defined: %v", absent, v)
		}
	}
	if v.Get(ast.StringTerm("jwt:team")) == nil || v.Get(ast.StringTerm("aws:username")).Value.(ast.String) != "alice" {
		t.Fatalf("%v", v)
	}
}

// Arrays of strings are multi-valued variables; arrays holding anything
// else, empty ones and oversized ones name no variable.
func TestVariablesMultiValued(t *testing.T) {
	many := make([]string, MaxVariableValues+1)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprint("g", i))
	}
	claims := ast.MustParseTerm(`{"groups": ["a", "b"], "mixed": ["a", 1], "none": [], "roles": ["x"], "many": [` +
		strings.Join(many, ",") + `], "long": ["` + strings.Repeat("x", MaxVariableBytes+1) + `"]}`).Value.(ast.Object)
	v := Variables(claims, "alice")
	if got := v.Get(ast.StringTerm("jwt:groups")); got == nil || got.String() != `["a", "b"]` {
		t.Errorf("jwt:groups = %v", got)
	}
	if got := v.Get(ast.StringTerm("jwt:roles")); got == nil || got.String() != `["x"]` {
		t.Errorf("jwt:roles = %v", got)
	}
	for _, absent := range []string{"jwt:mixed", "jwt:none", "jwt:many", "jwt:long"} {
		if v.Get(ast.StringTerm(absent)) != nil {
			t.Errorf("%s is defined", absent)
		}
	}
}

// claim_lists reads a claim the way MinIO reads its policy claim: a
// comma-separated string, or an array of such strings, items trimmed.
func TestClaimLists(t *testing.T) {
	c := cfg(t, `{"bindings": [
		{"role": "readonly", "issuer": "i", "claim_lists": {"policy": ["readonly"]}},
		{"role": "diagnostics", "issuer": "i", "claim_lists": {"policy": ["diagnostics"]}},
		{"role": "both", "issuer": "i", "claim_lists": {"policy": ["readonly"], "tier": ["gold"]}},
		{"role": "other-issuer", "issuer": "j", "claim_lists": {"policy": ["readonly"]}}
	]}`)
	for _, tc := range []struct {
		claims string
		want   []string
	}{
		{`{"iss": "i", "policy": "readonly"}`, []string{"readonly"}},
		{`{"iss": "i", "policy": "readonly, diagnostics"}`, []string{"diagnostics", "readonly"}},
		{`{"iss": "i", "policy": " ,readonly,,"}`, []string{"readonly"}},
		{`{"iss": "i", "policy": ["diagnostics", "x,readonly"]}`, []string{"diagnostics", "readonly"}},
		{`{"iss": "i", "policy": "readonlyx"}`, nil},
		{`{"iss": "i", "policy": "read only"}`, nil},
		{`{"iss": "i", "policy": 1}`, nil},
		{`{"iss": "i", "policy": "readonly", "tier": "silver,gold"}`, []string{"both", "readonly"}},
		{`{"iss": "i", "tier": "gold"}`, nil},
		{`{"iss": "k", "policy": "readonly"}`, nil},
	} {
		id := c.Resolve(ast.MustParseTerm(tc.claims).Value.(ast.Object))
		if !slices.Equal(id.Roles, tc.want) {
			t.Errorf("%s: roles %v, want %v", tc.claims, id.Roles, tc.want)
		}
	}
}
