package builtins

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func TestFindMembers(t *testing.T) {
	doc := ast.MustParseTerm(`{
		"token": {"nested_token": "x"},
		"a": [{"Password": 1}, {"ok": {"x-amz-security-token": "y"}}],
		"b/c": {"token": 2},
		"X-Proxy-Authorization": "z",
		"X-Amz-Server-Side-Encryption-Customer-Key-MD5": "w",
		"plain": "tokenish",
		"n": 3
	}`)
	got, err := findMembers(rego.BuiltinContext{}, doc,
		ast.MustParseTerm(`{"token", "password", "x-amz-security-token"}`),
		ast.MustParseTerm(`["authorization"]`), ast.MustParseTerm(`["customer-key"]`))
	if err != nil {
		t.Fatal(err)
	}
	want := ast.MustParseTerm(`["/X-Amz-Server-Side-Encryption-Customer-Key-MD5", "/X-Proxy-Authorization", "/a/0/Password", "/a/1/ok/x-amz-security-token", "/b~1c/token", "/token"]`)
	if !got.Equal(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Scalars and empty documents have no members; bad operands are errors.
	for _, v := range []string{`"s"`, `1`, `null`, `[]`, `{}`} {
		got, err := findMembers(rego.BuiltinContext{}, ast.MustParseTerm(v), ast.MustParseTerm(`{"token"}`), ast.MustParseTerm(`[]`), ast.MustParseTerm(`[]`))
		if err != nil || got.Value.(*ast.Array).Len() != 0 {
			t.Errorf("%s: %v %v", v, got, err)
		}
	}
	if _, err := findMembers(rego.BuiltinContext{}, doc, ast.MustParseTerm(`{1}`), ast.MustParseTerm(`[]`), ast.MustParseTerm(`[]`)); err == nil {
		t.Error("a non-string name accepted")
	}
	if _, err := findMembers(rego.BuiltinContext{}, doc, ast.MustParseTerm(`{"a"}`), ast.MustParseTerm(`[1]`), ast.MustParseTerm(`[]`)); err == nil {
		t.Error("a non-string suffix accepted")
	}
}
