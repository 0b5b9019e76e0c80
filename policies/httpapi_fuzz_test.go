package policies_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/opa-sts/opa-sts/policies"
)

// FuzzMinIOContractInput: MinIO's access-management contract
// (data.httpapi.authz.allow) with any JSON input. Evaluation never fails
// and always answers one boolean; without owner credentials and without
// claims nothing is allowed except a deny-only check.
func FuzzMinIOContractInput(f *testing.F) {
	var modules []func(*rego.Rego)
	for _, p := range []string{"httpapi/authz/authz.rego", "sts/mapping.rego"} {
		src, err := fs.ReadFile(policies.Default, p)
		if err != nil {
			f.Fatal(err)
		}
		modules = append(modules, rego.Module(p, string(src)))
	}
	var data map[string]any
	_ = json.Unmarshal([]byte(`{"opa_sts": {
		"providers": [{"issuer": "https://kc", "audiences": ["sts"], "jwks": {"keys": []}}],
		"roles": {"home": {"statements": [
			{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/home/${jwt:preferred_username}/*"},
			{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}},
		"bindings": [{"role": "home", "issuer": "https://kc", "groups": ["/team"]}]}}`), &data)
	opts := append(modules, rego.Query("data.httpapi.authz.allow"), rego.Store(inmem.NewFromObject(data)))
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"account": "alice", "action": "s3:GetObject", "bucket": "b", "object": "home/alice/x", "conditions": {"SourceIp": ["10.1.2.3"]},
		  "owner": false, "claims": {"iss": "https://kc", "groups": ["/team"], "preferred_username": "alice"}, "denyOnly": false}`,
		`{"owner": true}`, `{"denyOnly": true, "action": "s3:DeleteBucket", "bucket": 7}`,
		`{"claims": "x", "conditions": {"SourceIp": [1, {"a": []}]}}`, `{"claims": {"iss": ["https://kc"]}, "object": null}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var input any
		if json.Unmarshal(raw, &input) != nil {
			return
		}
		rs, err := pq.Eval(context.Background(), rego.EvalInput(input))
		if err != nil {
			t.Fatalf("evaluation failed: %v", err)
		}
		if len(rs) != 1 {
			t.Fatalf("%d results", len(rs))
		}
		allow, ok := rs[0].Expressions[0].Value.(bool)
		if !ok {
			t.Fatalf("not a boolean: %v", rs[0].Expressions[0].Value)
		}
		obj, _ := input.(map[string]any)
		_, hasClaims := obj["claims"].(map[string]any)
		if allow && obj["owner"] != true && obj["denyOnly"] != true && !hasClaims {
			t.Fatalf("allowed without owner credentials or claims: %s", raw)
		}
	})
}
