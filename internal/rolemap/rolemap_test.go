package rolemap

import (
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
	if id.Subject != "app" || len(id.Roles) != 0 {
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
