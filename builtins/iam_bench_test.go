package builtins

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// BenchmarkRequestTimeDecision is the request-time authorization decision:
// "may this session do action A on resource R", with N roles of 10
// statements each in data, the session's role looked up by name and its
// statements evaluated by sts.iam_evaluate (compiled once, cached). The
// cost must stay flat in N.
//
// Run: go test ./builtins -run '^$' -bench RequestTimeDecision -benchmem
func BenchmarkRequestTimeDecision(b *testing.B) {
	const module = `package authz

default allow := false

allow if sts.iam_evaluate(data.roles[input.role].statements, input.request).decision == "allow"
`
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("roles=%d", n), func(b *testing.B) {
			roles := map[string]any{}
			for r := range n {
				var stmts []any
				for s := range 9 {
					stmts = append(stmts, map[string]any{
						"Sid": fmt.Sprintf("r%d-s%d", r, s), "Effect": "Allow",
						"Action":    []any{"s3:GetObject", "s3:PutObject", "s3:List*"},
						"Resource":  []any{fmt.Sprintf("arn:aws:s3:::bucket-%d/team-%d/${jwt:sub}/*", r, s)},
						"Condition": map[string]any{"IpAddress": map[string]any{"aws:SourceIp": []any{"10.0.0.0/8"}}},
					})
				}
				stmts = append(stmts, map[string]any{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"})
				roles[fmt.Sprintf("role-%d", r)] = map[string]any{"statements": stmts}
			}
			store := inmem.NewFromObjectWithOpts(map[string]any{"roles": roles}, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
			pq, err := rego.New(rego.Query("data.authz.allow"), rego.Module("authz.rego", module), rego.Store(store)).PrepareForEval(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			role := fmt.Sprintf("role-%d", n/2)
			input := ast.MustParseTerm(fmt.Sprintf(`{"role": %q, "request": {
				"action": "s3:GetObject", "resource": "arn:aws:s3:::bucket-%d/team-8/alice/report.csv",
				"context": {"aws:SourceIp": "10.1.2.3"}, "variables": {"jwt:sub": "alice"}}}`, role, n/2)).Value
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
