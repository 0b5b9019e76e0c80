package policies_test

import (
	"context"
	"fmt"
	"io/fs"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	_ "github.com/opa-sts/opa-sts/builtins" // sts.* built-ins

	"github.com/opa-sts/opa-sts/policies"
)

// BenchmarkMinIOContract is one decision of MinIO's access-management
// plugin contract (data.httpapi.authz.allow) with N roles of 10 statements
// bound by group, as `opa-sts run` evaluates it (prepared query, a store
// that returns AST values), with a MinIO-shaped input.
//
//	go test ./policies -run '^$' -bench MinIOContract -benchmem
func BenchmarkMinIOContract(b *testing.B) {
	const iss = "https://kc.example/realms/demo"
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("roles=%d", n), func(b *testing.B) {
			roles, bindings := map[string]any{}, []any{}
			for r := range n {
				var stmts []any
				for s := range 9 {
					stmts = append(stmts, map[string]any{
						"Effect": "Allow", "Action": []any{"s3:GetObject", "s3:PutObject", "s3:List*"},
						"Resource":  []any{fmt.Sprintf("arn:aws:s3:::bucket-%d/team-%d/${jwt:preferred_username}/*", r, s)},
						"Condition": map[string]any{"IpAddress": map[string]any{"aws:SourceIp": []any{"10.0.0.0/8"}}},
					})
				}
				stmts = append(stmts, map[string]any{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"})
				roles[fmt.Sprintf("role-%d", r)] = map[string]any{"statements": stmts}
				bindings = append(bindings, map[string]any{"role": fmt.Sprintf("role-%d", r), "issuer": iss, "groups": []any{fmt.Sprintf("/team-%d", r)}})
			}
			data := map[string]any{"opa_sts": map[string]any{
				"providers": []any{map[string]any{"issuer": iss, "audiences": []any{"sts"}, "jwks": map[string]any{"keys": []any{}}}},
				"roles":     roles, "bindings": bindings,
			}}
			store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
			opts := []func(*rego.Rego){rego.Query("data.httpapi.authz.allow"), rego.Store(store)}
			for _, f := range []string{"sts/mapping.rego", "httpapi/authz/authz.rego"} {
				src, err := fs.ReadFile(policies.Default, f)
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, rego.Module(f, string(src)))
			}
			pq, err := rego.New(opts...).PrepareForEval(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			input := ast.MustParseTerm(fmt.Sprintf(`{"account": "ABCDEFGHIJKLMNOPQRST", "groups": null,
				"action": "s3:GetObject", "originalAction": "s3:GetObject", "bucket": "bucket-%d",
				"object": "team-8/alice/report.csv", "owner": false, "denyOnly": false,
				"claims": {"iss": %q, "sub": "0f3c", "azp": "minio", "preferred_username": "alice",
					"groups": ["/team-%d", "/team-7"], "exp": 4102444800, "accessKey": "ABCDEFGHIJKLMNOPQRST"},
				"conditions": {"CurrentTime": ["2026-11-28T20:26:12Z"], "SourceIp": ["10.1.2.3"],
					"principaltype": ["User"], "username": ["ABCDEFGHIJKLMNOPQRST"]}}`, n/2, iss, n/2)).Value
			eval := func() {
				rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(input))
				if err != nil || len(rs) != 1 || rs[0].Expressions[0].Value != true {
					b.Fatalf("not allowed: %v %v", rs, err)
				}
			}
			eval()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				eval()
			}
		})
	}
}
